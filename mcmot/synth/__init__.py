"""Synthetic multi-camera scenes with exact ground truth (``mcmot synth``).

People walk on a ground plane (:mod:`~mcmot.synth.world`), each a 3D body
of simple primitives whose look depends on the side seen
(:mod:`~mcmot.synth.bodies`), filmed by pinhole cameras with their own colour
response, noise and blur (:mod:`~mcmot.synth.cameras`) over a textured ground
and backdrop (:mod:`~mcmot.synth.background`). Rendering is depth-ordered and
the ground-truth boxes are the visible extents of each person's pixels
(:mod:`~mcmot.synth.render`). :func:`generate_scene` writes a scene folder;
:func:`make_mosaic` tiles one instant of all cameras. See ``docs/synth.md``.
"""

from mcmot.synth.config import DIFFICULTIES, Difficulty, SynthConfig, parse_size
from mcmot.synth.generate import SynthWorld, build_world, generate_scene
from mcmot.synth.mosaic import make_mosaic, write_mosaic

__all__ = [
    "DIFFICULTIES",
    "Difficulty",
    "SynthConfig",
    "SynthWorld",
    "build_world",
    "generate_scene",
    "make_mosaic",
    "parse_size",
    "write_mosaic",
]
