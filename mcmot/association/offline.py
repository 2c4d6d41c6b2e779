"""Offline association: whole tracklets, all cameras at once."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from mcmot.association.affinity import Cues, PairMatches, aggregate_votes, pair_matches
from mcmot.association.clustering import (
    average_linkage,
    cannot_link,
    merge_reentries,
    number_identities,
    tracklet_index,
)
from mcmot.association.config import AssociateConfig, FrameTimes
from mcmot.association.data import CameraObs

#: Rounds of identity-switch splitting and regrouping (each splits a tracklet once).
SPLIT_ROUNDS = 3


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


def _partner_labels(
    matches: list[PairMatches],
    tix: list[NDArray[np.int64]],
    labels: NDArray[np.int64],
    n_cams: int,
) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """Per camera: (rows, group label of the partner each row was matched to)."""
    rows: list[list[NDArray[np.int64]]] = [[] for _ in range(n_cams)]
    labs: list[list[NDArray[np.int64]]] = [[] for _ in range(n_cams)]
    for m in matches:
        ra, rb = m.ia[m.hit], m.ib[m.hit]
        rows[m.i].append(ra)
        labs[m.i].append(labels[tix[m.j][rb]])
        rows[m.j].append(rb)
        labs[m.j].append(labels[tix[m.i][ra]])
    return [
        (np.concatenate(r) if r else np.zeros(0, np.int64),
         np.concatenate(lb) if lb else np.zeros(0, np.int64))
        for r, lb in zip(rows, labs, strict=True)
    ]  # fmt: skip


def change_point(seq: NDArray[np.int64], min_votes: int) -> int | None:
    """Index where a label sequence switches from one dominant label to another.

    Returns the first index of the second part when splitting there explains
    at least ``min_votes`` more votes than any single label does and both
    parts keep ``min_votes`` votes for their label; else None.
    """
    n = len(seq)
    if n < 2 * min_votes:
        return None
    vals, counts = np.unique(seq, return_counts=True)
    top = vals[np.argsort(-counts)[:3]]
    best, where = int(counts.max()) + min_votes - 1, None
    for x in top:
        cx = np.r_[0, np.cumsum(seq == x)]
        for y in top:
            if x == y:
                continue
            cy = np.r_[0, np.cumsum(seq == y)]
            before, after = cx[:-1], cy[-1] - cy[:-1]
            agree = np.where((before >= min_votes) & (after >= min_votes), before + after, -1)
            s = int(np.argmax(agree))
            if agree[s] > best:
                best, where = int(agree[s]), s
    return where


def split_switches(
    obs: list[CameraObs],
    matches: list[PairMatches],
    tix: list[NDArray[np.int64]],
    labels: NDArray[np.int64],
    min_votes: int,
) -> list[CameraObs] | None:
    """Split tracklets whose cross-view partners change identity part-way
    (a tracker's identity switch); None when nothing is split."""
    partners = _partner_labels(matches, tix, labels, len(obs))
    out, changed = [], False
    for o, (rows, labs) in zip(obs, partners, strict=True):
        tids = o.tids.copy()
        nxt = int(o.tids.max()) + 1 if len(o) else 1
        for t in np.unique(o.tids[rows]) if len(rows) else []:
            sel = o.tids[rows] == t
            order = np.argsort(o.frames[rows[sel]], kind="stable")
            s = change_point(labs[sel][order], min_votes)
            if s is None:
                continue
            cut = o.frames[rows[sel][order][s]]
            tids[(o.tids == t) & (o.frames >= cut)] = nxt
            nxt += 1
            changed = True
        out.append(replace(o, tids=tids))
    return out if changed else None


def _cluster(
    obs: list[CameraObs], matches: list[PairMatches], cfg: AssociateConfig, times: FrameTimes
) -> tuple[list[NDArray[np.int64]], list[tuple[int, int]], NDArray, NDArray[np.float64], NDArray]:
    tix, keys = tracklet_index(obs)
    n = len(keys)
    matched, common = aggregate_votes(matches, tix, n)
    conflict = cannot_link(obs, tix, n)
    labels = average_linkage(
        matched, common, conflict, threshold=cfg.link_threshold, prior=times.evidence_prior
    )
    return tix, keys, labels, common, conflict


def associate_offline(
    obs: list[CameraObs], cues: Cues, cfg: AssociateConfig, times: FrameTimes
) -> Assignment:
    """Group the tracklets of all cameras into identities (see clustering.py);
    ``times`` holds ``cfg``'s durations in frames."""
    tix, keys = tracklet_index(obs)
    if len(keys) == 0:
        return Assignment([np.zeros(0, np.int64) for _ in obs], 0, 0)
    matches = pair_matches(obs, cues)
    tix, keys, labels, common, conflict = _cluster(obs, matches, cfg, times)
    for _ in range(SPLIT_ROUNDS if cfg.split_switches else 0):
        split = split_switches(obs, matches, tix, labels, times.split_min_votes)
        if split is None:
            break
        obs = split
        tix, keys, labels, common, conflict = _cluster(obs, matches, cfg, times)
    n = len(keys)
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
    return Assignment(ids, n, int(gid.max()), threshold)
