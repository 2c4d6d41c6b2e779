"""Tracklet-smoothed appearance: each detection's feature replaced by its tracklet's mean.

Offline (:func:`smooth_features`) the mean is over the whole tracklet; online
(:func:`causal_smooth_features`) over the tracklet's detections so far.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mcmot.association.data import CameraObs


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


def causal_smooth_features(obs: list[CameraObs]) -> list[CameraObs]:
    """Copies of ``obs`` whose feature rows are the mean of their tracklet's
    features so far (this frame and earlier ones): the online counterpart of
    :func:`smooth_features`, computable frame by frame with one running sum per
    live tracklet."""
    out = []
    for o in obs:
        if o.feats is None or len(o) == 0:
            out.append(o)
            continue
        order = np.lexsort((o.frames, o.tids))
        f = o.feats[order].astype(np.float64)
        csum = np.cumsum(f, axis=0)
        tids = o.tids[order]
        starts = np.flatnonzero(np.r_[True, tids[1:] != tids[:-1]])
        group = np.repeat(starts, np.diff(np.r_[starts, len(tids)]))
        before = np.where((group > 0)[:, None], csum[np.maximum(group - 1, 0)], 0.0)
        run = csum - before
        run /= np.maximum(np.linalg.norm(run, axis=1, keepdims=True), 1e-12)
        smoothed = np.empty_like(run)
        smoothed[order] = run
        out.append(replace(o, feats=smoothed.astype(np.float32)))
    return out
