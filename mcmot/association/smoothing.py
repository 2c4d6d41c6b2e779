"""Features as association compares them: centred per camera, smoothed per tracklet.

First each camera's mean feature (:func:`camera_centres`) is removed from its
rows (:func:`centre_features`); then each detection's feature is replaced by
its tracklet's mean. Offline (:func:`smooth_features`) the mean is over the
whole tracklet; online (:func:`causal_smooth_features`) over the tracklet's
detections so far. Online, the centre comes from the warm-up window; a camera
without a feature there is compared as extracted.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from mcmot.association.data import CameraObs


def camera_centres(obs: list[CameraObs]) -> list[NDArray[np.float64] | None]:
    """Per camera, the mean of its feature rows (rows without a feature left out):
    what every detection of that camera shares (its colour cast, background,
    viewpoint), None for a camera without features."""
    out: list[NDArray[np.float64] | None] = []
    for o in obs:
        if o.feats is None:
            out.append(None)
            continue
        has = np.any(o.feats != 0, axis=1)
        out.append(o.feats[has].astype(np.float64).mean(axis=0) if has.any() else None)
    return out


def centre_features(
    obs: list[CameraObs], centres: list[NDArray[np.float64] | None]
) -> list[CameraObs]:
    """Copies of ``obs`` whose feature rows have their camera's centre removed and are
    L2-normalised again (rows without a feature stay zero)."""
    out = []
    for o, c in zip(obs, centres, strict=True):
        if o.feats is None or c is None or len(o) == 0:
            out.append(o)
            continue
        out.append(replace(o, feats=centred_rows(o.feats, c)))
    return out


def centred_rows(feats: NDArray[np.float32], centre: NDArray[np.float64]) -> NDArray[np.float32]:
    """(N, D) rows minus ``centre``, L2-normalised; zero rows (no feature) stay zero."""
    has = np.any(feats != 0, axis=1, keepdims=True)
    x = feats.astype(np.float64) - centre
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return np.where(has, x, 0.0).astype(np.float32)


def smooth_features(obs: list[CameraObs]) -> list[CameraObs]:
    """Copies of ``obs`` whose feature rows are their tracklet's mean feature.

    Offline, a tracklet's mean feature is a far less noisy description of the
    person than any single detection's; the per-frame matcher then weighs
    that against the instantaneous geometry. Rows without a feature (zero
    rows) do not count towards the mean.
    """
    out = []
    for o in obs:
        if o.feats is None or len(o) == 0:
            out.append(o)
            continue
        uniq, inv = np.unique(o.tids, return_inverse=True)
        sums = np.zeros((len(uniq), o.feats.shape[1]))
        np.add.at(sums, inv, o.feats)
        sums /= np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
        out.append(replace(o, feats=sums[inv].astype(np.float32)))
    return out


class RunningMeans:
    """Each tracklet's mean feature so far, fed one frame at a time: one running sum
    (float64) per live tracklet; :meth:`forget` drops tracklets that ended."""

    def __init__(self) -> None:
        self.sums: dict[int, NDArray[np.float64]] = {}

    def smooth(self, tids: NDArray[np.int64], feats: NDArray[np.float32]) -> NDArray[np.float32]:
        """The rows of one frame (one row per tracklet): each tracklet's normalised sum
        of its features up to and including this frame."""
        out = np.empty(feats.shape, np.float32)
        for k, (t, f) in enumerate(zip(tids.tolist(), feats, strict=True)):
            s = self.sums.get(t)
            s = f.astype(np.float64) if s is None else s + f
            self.sums[t] = s
            out[k] = s / max(float(np.linalg.norm(s)), 1e-12)
        return out

    def forget(self, tids: set[int]) -> None:
        """Drop the sums of ``tids`` (tracklets that will not be seen again)."""
        for t in tids:
            self.sums.pop(t, None)


def causal_smooth_features(obs: list[CameraObs]) -> list[CameraObs]:
    """Copies of ``obs`` whose feature rows are the mean of their tracklet's
    features so far (this frame and earlier ones): the online counterpart of
    :func:`smooth_features`, computed frame by frame by :class:`RunningMeans`
    (the streaming run feeds the same class as the frames arrive)."""
    out = []
    for o in obs:
        if o.feats is None or len(o) == 0:
            out.append(o)
            continue
        means = RunningMeans()
        cuts = np.flatnonzero(np.diff(o.frames)) + 1
        parts = [means.smooth(o.tids[r], o.feats[r]) for r in np.split(np.arange(len(o)), cuts)]
        out.append(replace(o, feats=np.concatenate(parts)))
    return out
