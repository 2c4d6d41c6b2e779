"""Online mode: moving camera pairs followed past the warm-up.

The warm-up fit (:func:`mcmot.association.pipeline.fit_geometry`) finds which
pairs move, each with the window length that suits it, and leaves the last
window open-ended. :class:`GeometryFollower` keeps such pairs' homographies
up to date: every window length after the warm-up, it refits the pair on the
window just ended (:func:`~mcmot.association.windows.follow_window`: the
previous homography refined, or a fresh RANSAC fit, whichever explains more
moving feet beyond chance), and the new homography, with the weight its
quality earns on that window, is used from the next frame on (when the
window is switched off, the warm-up's whole fit stands in if it is trusted:
:meth:`~mcmot.association.geometry.PairGeometry.with_fallbacks`). A refit only
sees frames already observed, so the homography lags the cameras by up to
one window.

Memory: the rows of the cameras of moving pairs over the last window length
and the largest shift of the synchronization test (the shifts the warm-up
chose: shifted instants reach back that far).
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace

import numpy as np

from mcmot.association.config import GeometryConfig
from mcmot.association.data import CameraObs, concat_obs
from mcmot.association.geometry import Geometry, fall_back
from mcmot.association.windows import FOREVER, follow_window


def followed_pairs(geometry: Geometry | None) -> dict[tuple[str, str], int]:
    """The pairs to follow (moving, their last window open-ended) and their window
    lengths in frames."""
    out = {}
    for k, g in (geometry or {}).items():
        first = g.windows[0] if g.windows else None
        if first is not None and g.windows[-1].end == FOREVER and first.end != FOREVER:
            out[k] = first.end - first.start + 1
    return out


class GeometryFollower:
    """Refits of moving pairs after the warm-up (see the module docstring).

    Parameters
    ----------
    geometry : the pairs' geometry; :attr:`geometry` is a copy kept up to date
    cfg, fps : the geometry settings and the frame rate
    warm_end : the last frame of the warm-up (covered by its own windows)
    """

    def __init__(self, geometry: Geometry, cfg: GeometryConfig, fps: float, warm_end: int) -> None:
        self.geometry = dict(geometry)
        self.cfg, self.fps = cfg, fps
        self.sizes = followed_pairs(geometry)
        self.shifts = {k: geometry[k].quality.shifts for k in self.sizes}
        #: each pair's last window fit (the seed of the next), before any fallback
        self.fits = {k: geometry[k].windows[-1].H for k in self.sizes}
        self.next_fit = {k: warm_end + n for k, n in self.sizes.items()}
        self.rngs = {k: np.random.default_rng([cfg.seed, i]) for i, k in enumerate(self.sizes)}
        #: frames buffered: a window and the largest shift of the synchronization test
        self.keep = max(
            (n + max(self.shifts[k], default=0) for k, n in self.sizes.items()), default=0
        )
        self.cameras = {c for k in self.sizes for c in k}
        self.buffer: deque[tuple[int, dict[str, CameraObs]]] = deque()

    def observe(self, f: int, obs: list[CameraObs]) -> bool:
        """Buffer frame ``f`` (every camera's rows of it); refit the pairs whose
        window ends here. Returns whether :attr:`geometry` changed."""
        if not self.sizes:
            return False
        self.buffer.append((f, {o.name: o for o in obs if o.name in self.cameras}))
        while self.buffer[0][0] <= f - self.keep:
            self.buffer.popleft()
        due = [k for k, t in self.next_fit.items() if f >= t]
        for k in due:
            a, b = (self._rows(c) for c in k)
            g, n = self.geometry[k], self.sizes[k]
            span = (f - n + 1, f)
            w = follow_window(
                a, b, self.fits[k], span, self.shifts[k], self.cfg, self.fps, self.rngs[k]
            )
            self.fits[k] = w.H
            self.geometry[k] = replace(g, windows=(fall_back(w, g),))
            self.next_fit[k] = f + n
        return bool(due)

    def _rows(self, cam: str) -> CameraObs:
        return concat_obs([frame[cam] for _, frame in self.buffer if cam in frame])
