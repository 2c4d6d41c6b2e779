"""What ``track --tracker learned`` needs beyond the det files: its network and crop features.

The checkpoint (kind ``cross-input``) is read once per process; every det row
of a camera is cropped from its video (mcmot.stages.cross_input_data) and
embedded by the checkpoint's CNN, in batches, so the tracker itself only
compares features.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray

from mcmot.errors import McmotError
from mcmot.models.checkpoint import CROSS_INPUT, build_cross_input, load_checkpoint
from mcmot.models.cross_input import CrossInputNet
from mcmot.models.cross_input_config import CrossInputConfig, cross_input_config_from_dict
from mcmot.motio import MotTable
from mcmot.progress import ProgressCallback
from mcmot.scene import Camera
from mcmot.stages.cross_input_data import detection_crops, frame_size
from mcmot.tracking.config import LearnedConfig
from mcmot.tracking.learned import LearnedTracker

#: Crops embedded per forward pass.
BATCH = 512


@functools.lru_cache(maxsize=4)
def _load(path: str, stamp: int) -> tuple[CrossInputNet, CrossInputConfig]:
    state = load_checkpoint(Path(path), CROSS_INPUT)
    cfg = cross_input_config_from_dict(state["config"])
    return build_cross_input(cfg, state["model"]).eval(), cfg


def load_learned(model: str) -> tuple[CrossInputNet, CrossInputConfig]:
    """The network and settings of a learned-tracker checkpoint, or a one-line error."""
    path = Path(model)
    if not path.is_file():
        raise McmotError(f"checkpoint not found: {path}")
    return _load(str(path.resolve()), path.stat().st_mtime_ns)


def learned_inputs(cfg: LearnedConfig, cams: list[Camera]) -> list[Path]:
    """The files the learned tracker reads besides det/: its checkpoint and the videos
    (a camera without pixels is a one-line error)."""
    load_learned(str(cfg.model))
    blind = [c.name for c in cams if c.source is None]
    if blind:
        raise McmotError(
            f"--tracker learned crops the detections from the video; no video or frames "
            f"for camera(s) {', '.join(blind)}"
        )
    return [Path(str(cfg.model))] + [Path(c.source) for c in cams if c.source is not None]


@torch.no_grad()
def embed(net: CrossInputNet, crops: NDArray[np.uint8]) -> NDArray[np.float32]:
    """(N, S, S, 3) crops -> (N, C) crop features, in batches."""
    out = [net.embed(torch.from_numpy(crops[i : i + BATCH])) for i in range(0, len(crops), BATCH)]
    return torch.cat(out).numpy() if out else np.zeros((0, net.cnn[-3].out_channels), np.float32)


def camera_crop_features(
    cfg: LearnedConfig, cam: Camera, det: MotTable, progress: ProgressCallback | None = None
) -> NDArray[np.float32]:
    """(N, C) crop features of every row of one camera's ``det``, in its row order."""
    net, train_cfg = load_learned(str(cfg.model))
    return embed(net, detection_crops(cam, det, train_cfg.crop, progress))


def crop_features(
    cfg: LearnedConfig,
    cams: list[Camera],
    loaded: list[tuple[MotTable, NDArray[np.float32] | None]],
    progress: ProgressCallback | None = None,
) -> list[tuple[MotTable, NDArray[np.float32] | None]]:
    """Every camera's det rows with their crop features (rows aligned)."""
    return [
        (det, camera_crop_features(cfg, cam, det, progress))
        for cam, (det, _) in zip(cams, loaded, strict=True)
    ]


def learned_tracker(cfg: LearnedConfig, camera: Camera | None) -> LearnedTracker:
    """A learned tracker for one camera."""
    if camera is None or camera.source is None:
        raise McmotError("--tracker learned needs the camera's video for its frame size")
    net, _ = load_learned(str(cfg.model))
    return LearnedTracker(cfg, net, frame_size(camera))
