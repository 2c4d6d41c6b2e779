"""Global assignment: tracklets of all cameras grouped into identities.

Constrained agglomerative clustering with average linkage:

- every tracklet starts as its own group (a tracklet matching nothing keeps an
  identity of its own);
- the linkage of two groups is the vote share over all their cross-camera
  tracklet pairs: ``sum(matched) / (sum(co-occurring) + prior)``;
- the two groups of highest linkage join while it exceeds the threshold
  (``AssociateConfig.link_threshold``), unless they conflict: a cannot-link
  holds between two tracklets of one camera that share a frame (a person is
  at most once per camera at a time), and between groups holding such
  tracklets;
- because groups are sets, identities are transitive by construction: three
  views of one person end in one group, whichever pair of views saw them
  together; the decision is joint over all views, not a chain through one
  reference view.

Re-entry (:func:`merge_reentries`): groups that never co-occur in any pair of
views (a person who left every view and came back) join by appearance alone,
when their mean features are closer than a threshold calibrated on the scene:
above the similarities of groups known to be different people (they
co-occurred and did not match) and within the similarities of tracklets known
to be one person (they joined above).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from mcmot.association.data import CameraObs

FloatArray = NDArray[np.float64]

#: Rounding slack when a similarity is compared with a calibrated threshold.
SIM_TOLERANCE = 1e-6


def tracklet_index(obs: list[CameraObs]) -> tuple[list[NDArray[np.int64]], list[tuple[int, int]]]:
    """Number the tracklets of all cameras 0..T-1.

    Returns
    -------
    tix : per camera, (N_c,) tracklet index of each row
    keys : (camera index, local id) of each tracklet
    """
    tix: list[NDArray[np.int64]] = []
    keys: list[tuple[int, int]] = []
    for ci, o in enumerate(obs):
        uniq, inv = np.unique(o.tids, return_inverse=True)
        tix.append((inv + len(keys)).astype(np.int64))
        keys.extend((ci, int(u)) for u in uniq)
    return tix, keys


def cannot_link(obs: list[CameraObs], tix: list[NDArray[np.int64]], n: int) -> NDArray[np.bool_]:
    """(T, T) True for tracklets of one camera that share at least one frame."""
    conflict = np.zeros((n, n), bool)
    for o, t in zip(obs, tix, strict=True):
        if len(o) == 0:
            continue
        uniq = np.unique(t)
        local = np.searchsorted(uniq, t)
        fr = np.unique(o.frames, return_inverse=True)[1].reshape(-1)  # frames with rows only
        pres = np.zeros((len(uniq), int(fr.max()) + 1), np.float32)
        pres[local, fr] = 1.0
        share = (pres @ pres.T) > 0
        np.fill_diagonal(share, False)
        conflict[np.ix_(uniq, uniq)] = share
    return conflict


def average_linkage(
    matched: FloatArray,
    common: FloatArray,
    conflict: NDArray[np.bool_],
    *,
    threshold: float,
    prior: float,
) -> NDArray[np.int64]:
    """Constrained average-linkage clustering of T items.

    Parameters
    ----------
    matched, common : (T, T) symmetric vote counts (see ``affinity.tracklet_votes``)
    conflict : (T, T) symmetric cannot-link
    threshold : join while ``matched / (common + prior)`` exceeds this
    prior : votes of 'no match' added to every linkage

    Returns
    -------
    (T,) group label of each item (the index of its group's first item)
    """
    n = len(matched)
    M, C, X = matched.copy(), common.copy(), conflict.copy()
    alive = np.ones(n, bool)
    labels = np.arange(n)
    L = np.where((C > 0) & ~X, M / (C + prior), -1.0)
    np.fill_diagonal(L, -1.0)
    rarg = L.argmax(axis=1) if n else np.zeros(0, np.int64)
    rmax = L[np.arange(n), rarg] if n else np.zeros(0)
    while n:
        i = int(np.argmax(rmax))
        if rmax[i] <= threshold:
            break
        i, j = min(i, int(rarg[i])), max(i, int(rarg[i]))
        M[i] += M[j]
        M[:, i] += M[:, j]
        C[i] += C[j]
        C[:, i] += C[:, j]
        X[i] |= X[j]
        X[:, i] |= X[:, j]
        alive[j] = False
        labels[labels == j] = i
        # only row and column i change; j disappears
        L[j, :] = -1.0
        L[:, j] = -1.0
        rmax[j] = -1.0
        row = np.where((C[i] > 0) & ~X[i] & alive, M[i] / (C[i] + prior), -1.0)
        row[i] = -1.0
        L[i, :] = row
        L[:, i] = row
        rarg[i], rmax[i] = int(np.argmax(row)), row.max()
        stale = np.flatnonzero(alive & ((rarg == i) | (rarg == j)))
        for r in stale[stale != i]:
            rarg[r] = int(np.argmax(L[r]))
            rmax[r] = L[r, rarg[r]]
        better = alive & (row > rmax)
        rmax[better] = row[better]
        rarg[better] = i
    return labels


def merge_reentries(
    labels: NDArray[np.int64],
    mean_feats: FloatArray,
    rows: NDArray[np.int64],
    common: FloatArray,
    conflict: NDArray[np.bool_],
    *,
    min_rows: int,
) -> tuple[NDArray[np.int64], float | None]:
    """Join groups that never co-occur when their appearance says so strongly.

    Parameters
    ----------
    labels : (T,) group labels from :func:`average_linkage`
    mean_feats : (T, D) mean feature of each tracklet (rows without features
        excluded), L2-normalised; zero rows = no feature
    rows : (T,) number of feature rows of each tracklet
    common : (T, T) co-occurrence votes (evidence that two tracklets were
        compared at the same instants)
    conflict : (T, T) cannot-link
    min_rows : a group with fewer feature rows is not joined

    Returns
    -------
    labels : (T,) new labels
    threshold : the calibrated similarity threshold, or None when the scene
        offers no known-different pairs to calibrate it (then nothing joins)
    """
    groups, g = np.unique(labels, return_inverse=True)
    G = len(groups)
    if G < 2:
        return labels, None
    feats = np.zeros((G, mean_feats.shape[1]))
    np.add.at(feats, g, mean_feats * rows[:, None])
    grows = np.bincount(g, weights=rows, minlength=G)
    feats /= np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
    sim = feats @ feats.T
    gcommon = np.zeros((G, G))
    np.add.at(gcommon, (g[:, None], g[None, :]), common)
    gconf = np.zeros((G, G), bool)
    np.logical_or.at(gconf, (g[:, None], g[None, :]), conflict)
    threshold = reentry_threshold(sim, gcommon, mean_feats, rows, g)
    if threshold is None:
        return labels, None
    ok = (gcommon == 0) & ~gconf & (grows[:, None] >= min_rows) & (grows[None, :] >= min_rows)
    np.fill_diagonal(ok, False)
    cand = np.argwhere(np.triu(ok & (sim >= threshold - SIM_TOLERANCE), 1))
    cand = cand[np.argsort(-sim[cand[:, 0], cand[:, 1]], kind="stable")]
    return groups[_join_in_order(cand, gconf, gcommon)][g], threshold


def _join_in_order(
    cand: NDArray[np.int64], conflict: NDArray[np.bool_], common: FloatArray
) -> NDArray[np.int64]:
    """Join group pairs one by one, in the given order, unless joining would put
    two groups that conflict or co-occur into one.

    Parameters
    ----------
    cand : (K, 2) group pairs, most similar first
    conflict : (G, G) cannot-link between groups (updated in place as groups join)
    common : (G, G) co-occurrence votes between groups (updated in place)

    Returns
    -------
    (G,) the group each group ends in (the lowest index of its joined set).
    """
    parent = np.arange(len(conflict))
    for i, j in cand:
        ri, rj = _root(parent, i), _root(parent, j)
        if ri == rj or conflict[ri, rj] or common[ri, rj] > 0:
            continue
        lo, hi = min(ri, rj), max(ri, rj)
        parent[hi] = lo
        conflict[lo] |= conflict[hi]
        conflict[:, lo] |= conflict[:, hi]
        common[lo] += common[hi]
        common[:, lo] += common[:, hi]
    return np.array([_root(parent, k) for k in range(len(parent))])


def _root(parent: NDArray[np.int64], k: int) -> int:
    while parent[k] != k:
        k = parent[k]
    return int(k)


def reentry_threshold(
    gsim: FloatArray,
    gcommon: FloatArray,
    mean_feats: FloatArray,
    rows: NDArray[np.int64],
    g: NDArray[np.int64],
) -> float | None:
    """The similarity above which two groups are one person, from the scene itself.

    Negatives: group pairs that co-occurred (were compared) and stayed apart;
    the threshold lies above their 99th percentile. Positives: pairs of
    tracklets with features inside one group; the threshold is at least
    their 5th percentile. The larger of the two is used (strong evidence).
    """
    iu = np.triu_indices(len(gsim), 1)
    neg = gsim[iu][gcommon[iu] > 0]
    if len(neg) == 0:
        return None
    thr = float(np.percentile(neg, 99))
    has = rows > 0
    if has.sum() >= 2:
        tsim = mean_feats[has] @ mean_feats[has].T
        same = g[has][:, None] == g[has][None, :]
        pos = tsim[np.triu(same, 1)]
        if len(pos):
            thr = max(thr, float(np.percentile(pos, 5)))
    return thr


def number_identities(
    labels: NDArray[np.int64], first_frame: NDArray[np.int64], keys: list[tuple[int, int]]
) -> NDArray[np.int64]:
    """Global ids 1..K numbered by each group's first frame (then camera, local id)."""
    groups, g = np.unique(labels, return_inverse=True)
    start = np.full(len(groups), np.iinfo(np.int64).max)
    np.minimum.at(start, g, first_frame)
    tie = np.full(len(groups), np.iinfo(np.int64).max)
    order_key = np.array([k[0] * 10**9 + k[1] for k in keys], np.int64)
    np.minimum.at(tie, g, order_key)
    order = np.lexsort((tie, start))
    rank = np.empty(len(groups), np.int64)
    rank[order] = np.arange(1, len(groups) + 1)
    return rank[g]
