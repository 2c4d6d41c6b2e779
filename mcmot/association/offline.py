"""Offline association: whole tracklets, all cameras at once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mcmot.association.affinity import Cues, tracklet_votes
from mcmot.association.clustering import (
    average_linkage,
    cannot_link,
    merge_reentries,
    number_identities,
    tracklet_index,
)
from mcmot.association.config import AssociateConfig
from mcmot.association.data import CameraObs


@dataclass(frozen=True)
class Assignment:
    """Global identities of every row.

    Attributes
    ----------
    ids : per camera, (N_c,) global id of each row of the camera's obs (sorted order)
    tracklets : number of tracklets in all cameras
    identities : number of global identities
    reentry_threshold : the calibrated re-entry similarity, or None
    """

    ids: list[NDArray[np.int64]]
    tracklets: int
    identities: int
    reentry_threshold: float | None = None


def tracklet_mean_features(
    obs: list[CameraObs], tix: list[NDArray[np.int64]], n: int
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """(T, D) L2-normalised mean feature and (T,) feature row count per tracklet."""
    dims = [o.feats.shape[1] for o in obs if o.feats is not None and len(o)]
    if not dims:
        return np.zeros((n, 1)), np.zeros(n, np.int64)
    feats = np.zeros((n, dims[0]))
    rows = np.zeros(n, np.int64)
    for o, t in zip(obs, tix, strict=True):
        if o.feats is None or len(o) == 0:
            continue
        valid = np.linalg.norm(o.feats, axis=1) > 0
        np.add.at(feats, t[valid], o.feats[valid])
        rows += np.bincount(t[valid], minlength=n)
    feats /= np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
    return feats, rows


def associate_offline(obs: list[CameraObs], cues: Cues, cfg: AssociateConfig) -> Assignment:
    """Group the tracklets of all cameras into identities (see clustering.py)."""
    tix, keys = tracklet_index(obs)
    n = len(keys)
    if n == 0:
        return Assignment([np.zeros(0, np.int64) for _ in obs], 0, 0)
    matched, common = tracklet_votes(obs, tix, n, cues)
    conflict = cannot_link(obs, tix, n)
    labels = average_linkage(
        matched, common, conflict, threshold=cfg.link_threshold, prior=cfg.evidence_prior
    )
    threshold = None
    if cfg.reentry and cues.appearance is not None:
        feats, rows = tracklet_mean_features(obs, tix, n)
        labels, threshold = merge_reentries(
            labels, feats, rows, common, conflict, min_rows=cfg.reentry_min_rows
        )
    first = np.full(n, np.iinfo(np.int64).max)
    for o, t in zip(obs, tix, strict=True):
        np.minimum.at(first, t, o.frames)
    gid = number_identities(labels, first, keys)
    ids = [gid[t] for t in tix]
    return Assignment(ids, n, int(gid.max()) if n else 0, threshold)
