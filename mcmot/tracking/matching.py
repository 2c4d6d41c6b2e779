"""Association costs, Mahalanobis gating, and the assignment steps of DeepSORT.

Conventions: a cost matrix has one row per track and one column per
detection; ``GATED`` marks an impossible pair. Every function returns
indices into the rows and columns it was given.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from mcmot.assignment import linear_sum_assignment
from mcmot.boxes import iou_matrix
from mcmot.tracking.kalman import chi2_gate

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Cost of a pair ruled out by gating (larger than any real cost).
GATED = 1e5
#: DeepSORT's gate: the chi-square 0.95 quantile for 4 degrees of freedom (about 9.4877).
GATING_THRESHOLD = chi2_gate(4)


def cosine_cost(
    galleries: Sequence[FloatArray | None],
    features: FloatArray,
    needed: NDArray[np.bool_] | None = None,
) -> FloatArray:
    """Smallest cosine distance between each track's gallery and each detection.

    Parameters
    ----------
    galleries : N arrays (K_i, D) of L2-normalised features (None = no gallery)
    features : (M, D) L2-normalised detection features
    needed : (N, M) pairs to compute (default all); the others get ``GATED``.
        The tracker passes the pairs inside the Mahalanobis gate, which keeps
        the cost linear in the number of tracks in a crowded scene.

    Returns
    -------
    (N, M) costs ``min_k (1 - g_k . f)`` in [0, 2]; ``GATED`` for a track without a
    gallery and for pairs not needed
    """
    n, m = len(galleries), len(features)
    cost = np.full((n, m), GATED)
    if m == 0:
        return cost
    feats = np.asarray(features)
    for i, gallery in enumerate(galleries):
        if gallery is None or not len(gallery):
            continue
        cols = np.arange(m) if needed is None else np.flatnonzero(needed[i])
        if len(cols):
            sim = gallery @ feats[cols].astype(gallery.dtype, copy=False).T  # (K_i, len(cols))
            cost[i, cols] = 1.0 - sim.max(axis=0)
    return cost


def iou_cost(track_tlwh: FloatArray, det_tlwh: FloatArray) -> FloatArray:
    """(N, 4) and (M, 4) tlwh boxes -> (N, M) costs ``1 - IoU``."""
    return 1.0 - iou_matrix(track_tlwh, det_tlwh)


def gate(
    cost: FloatArray, sq_mahalanobis: FloatArray, threshold: float = GATING_THRESHOLD
) -> FloatArray:
    """A copy of ``cost``, ``GATED`` where the squared Mahalanobis distance is above ``threshold``.

    Parameters
    ----------
    cost, sq_mahalanobis : (N, M)
    """
    out = np.array(cost, np.float64, copy=True)
    out[sq_mahalanobis > threshold] = GATED
    return out


def min_cost_matching(
    cost: FloatArray,
    max_distance: float,
    rows: IntArray | None = None,
    cols: IntArray | None = None,
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Optimal assignment (Hungarian, scipy) over ``cost[rows][:, cols]``; pairs above
    ``max_distance`` are rejected.

    Parameters
    ----------
    cost : (N, M) full cost matrix
    max_distance : largest accepted cost
    rows, cols : subsets of row and column indices (default: all)

    Returns
    -------
    matches : (row, col) pairs in full-matrix indices
    unmatched_rows, unmatched_cols : the rest of ``rows`` and ``cols``
    """
    rows = np.arange(cost.shape[0]) if rows is None else np.asarray(rows, np.int64)
    cols = np.arange(cost.shape[1]) if cols is None else np.asarray(cols, np.int64)
    if len(rows) == 0 or len(cols) == 0:
        return [], rows.tolist(), cols.tolist()
    sub = cost[np.ix_(rows, cols)]
    sub = np.where(sub > max_distance, max_distance + 1e-5, sub)
    r, c = linear_sum_assignment(sub)
    ok = sub[r, c] <= max_distance
    matches = [(int(rows[i]), int(cols[j])) for i, j in zip(r[ok], c[ok], strict=True)]
    matched_r, matched_c = set(r[ok].tolist()), set(c[ok].tolist())
    un_rows = [int(rows[i]) for i in range(len(rows)) if i not in matched_r]
    un_cols = [int(cols[j]) for j in range(len(cols)) if j not in matched_c]
    return matches, un_rows, un_cols


def matching_cascade(
    cost: FloatArray,
    time_since_update: IntArray,
    max_distance: float,
    cascade_depth: int,
    rows: IntArray | None = None,
    cols: IntArray | None = None,
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """DeepSORT's matching cascade: tracks seen more recently get first pick.

    Level ``k = 1 .. cascade_depth`` matches the tracks with
    ``time_since_update == k`` (after this frame's prediction, a track
    updated in the previous frame has 1) against the detections still free.

    Parameters
    ----------
    cost : (N, M) gated cost matrix
    time_since_update : (N,) frames since each track's last detection
    max_distance : largest accepted cost
    cascade_depth : deepest level (the tracker's ``max_age``)
    rows, cols : the candidate tracks and detections (default: all)

    Returns
    -------
    matches, unmatched_rows, unmatched_cols, as in :func:`min_cost_matching`
    """
    rows = np.arange(cost.shape[0]) if rows is None else np.asarray(rows, np.int64)
    free = np.arange(cost.shape[1]) if cols is None else np.asarray(cols, np.int64)
    tsu = np.asarray(time_since_update)[rows] if len(rows) else np.zeros(0, np.int64)
    matches: list[tuple[int, int]] = []
    for level in np.unique(tsu):
        if len(free) == 0 or level > cascade_depth:
            break
        if level < 1:
            continue
        found, _, left = min_cost_matching(cost, max_distance, rows[tsu == level], free)
        matches.extend(found)
        free = np.asarray(left, np.int64)
    matched = {r for r, _ in matches}
    return matches, [int(r) for r in rows if r not in matched], free.tolist()
