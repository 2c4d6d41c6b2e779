"""Cross-view metrics AIDP, AIDR, AIDF1 and MHAA (the MvMHAT benchmark's algorithm).

A faithful re-implementation of the benchmark's official evaluation code,
quirks included, as specified in ``docs/metrics.md`` (from the project's
``crossview-metrics.md``). In short, for every frame of the range and every
pair of views ``v1 < v2``:

- if ``v2`` (else ``v1``) has no ground truth, its predicted boxes are added
  to the precision denominator and the pair is skipped;
- each ground-truth box gets the label of the prediction matched to it in
  its own view (best-IoU union rule, IoU with the +1 pixel convention), or 0;
- ``TP`` counts true ids seen in both views whose labels agree (non-zero),
  MME, MISSED, FP and BBX accumulate as in the official code.

Per frame ``P_f = TP / prec_den`` and ``R_f = TP / rec_den`` (0 when the
denominator is 0); per sequence the means over all frames of the range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mcmot.motio import MotTable

#: A prediction and a ground-truth box match when their IoU is above this.
CROSSVIEW_IOU = 0.5


@dataclass(frozen=True)
class CrossViewCounts:
    """Cross-view results of one sequence (one multi-camera scene).

    Attributes
    ----------
    precision : (F,) float64, per-frame precision ``P_f`` over the frame range
    recall : (F,) float64, per-frame recall ``R_f``
    missed, fp, mme, bbx : the sums of the official code (``missed`` may be negative)
    """

    precision: NDArray[np.float64]
    recall: NDArray[np.float64]
    missed: int
    fp: int
    mme: int
    bbx: int

    @property
    def P(self) -> float:  # noqa: N802 - the benchmark's name
        """Per-sequence precision: mean of the per-frame values."""
        return float(self.precision.mean()) if len(self.precision) else 0.0

    @property
    def R(self) -> float:  # noqa: N802
        """Per-sequence recall: mean of the per-frame values."""
        return float(self.recall.mean()) if len(self.recall) else 0.0

    def summary(self) -> dict[str, float | int]:
        """P, R and the sums, as plain numbers."""
        return {
            "P": self.P,
            "R": self.R,
            "missed": self.missed,
            "fp": self.fp,
            "mme": self.mme,
            "bbx": self.bbx,
        }


def combine_crossview(seqs: list[CrossViewCounts]) -> dict[str, float | None]:
    """AIDP, AIDR, AIDF1, MHAA over several sequences, as the benchmark aggregates.

    AIDP / AIDR are means over sequences of the per-sequence P / R; AIDF1 is
    their harmonic mean; MHAA = 1 - (2 MME + FP + MISSED) / BBX from sums.
    An empty list gives None everywhere.
    """
    if not seqs:
        return {"AIDP": None, "AIDR": None, "AIDF1": None, "MHAA": None}
    p = float(np.mean([s.P for s in seqs]))
    r = float(np.mean([s.R for s in seqs]))
    bbx = sum(s.bbx for s in seqs)
    err = sum(2 * s.mme + s.fp + s.missed for s in seqs)
    return {
        "AIDP": p,
        "AIDR": r,
        "AIDF1": 2 * p * r / (p + r) if p + r > 0 else 0.0,
        "MHAA": 1.0 - err / bbx if bbx else None,
    }


# ---------------------------------------------------------------- one view, one frame
@dataclass(frozen=True)
class _ViewFrame:
    """One view in one frame: truth ids, prediction ids and the truth labels."""

    gt: NDArray[np.int64]
    pr: NDArray[np.int64]
    labels: NDArray[np.int64]


def iou_plus_one(gt_tlwh: NDArray[np.float64], pr_tlwh: NDArray[np.float64]) -> NDArray:
    """IoU with the +1 pixel convention of the official code.

    Intersection width ``min(x2) - max(x1) + 1`` with ``x2 = x + w`` (same
    for heights), areas ``(w + 1)(h + 1)``; a non-positive intersection width
    or height gives 0.

    Parameters
    ----------
    gt_tlwh : (N, 4), pr_tlwh : (M, 4)

    Returns
    -------
    (N, M) float64
    """
    a = np.asarray(gt_tlwh, float)
    b = np.asarray(pr_tlwh, float)
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0]) + 1
    ih = np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1]) + 1
    inter = np.where((iw > 0) & (ih > 0), iw * ih, 0.0)
    area_a = (a[:, 2] + 1) * (a[:, 3] + 1)
    area_b = (b[:, 2] + 1) * (b[:, 3] + 1)
    union = area_a[:, None] + area_b[None] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def truth_labels(
    gt_boxes: NDArray[np.float64], pr_boxes: NDArray[np.float64], pr_ids: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Label of each ground-truth box: the id of the prediction matched to it, or 0.

    A pair matches when the prediction is the truth's best (first on ties)
    with IoU > 0.5, or the truth is the prediction's best; where several
    predictions match one truth box the last in row order wins.
    """
    labels = np.zeros(len(gt_boxes), np.int64)
    if not len(gt_boxes) or not len(pr_boxes):
        return labels
    iou = iou_plus_one(gt_boxes, pr_boxes)
    match = np.zeros(iou.shape, bool)
    rows = np.arange(iou.shape[0])
    best_p = iou.argmax(axis=1)
    ok = iou[rows, best_p] > CROSSVIEW_IOU
    match[rows[ok], best_p[ok]] = True
    cols = np.arange(iou.shape[1])
    best_g = iou.argmax(axis=0)
    ok = iou[best_g, cols] > CROSSVIEW_IOU
    match[best_g[ok], cols[ok]] = True
    has = match.any(axis=1)
    last = iou.shape[1] - 1 - np.argmax(match[:, ::-1], axis=1)
    labels[has] = pr_ids[last[has]]
    return labels


# ---------------------------------------------------------------- one pair of views
def _first_common(a: NDArray[np.int64], b: NDArray[np.int64]) -> tuple[NDArray, NDArray, int]:
    """The official ``transform_top_hor``: keep common values at their first position.

    Returns the two arrays with every entry zeroed except the first occurrence
    of each value common to both, and the number of common values.
    """
    common = np.intersect1d(a, b)
    ta = np.zeros_like(a)
    tb = np.zeros_like(b)
    if len(common):
        _, ia = np.unique(a, return_index=True)
        _, ib = np.unique(b, return_index=True)
        ia = ia[np.isin(np.unique(a), common)]
        ib = ib[np.isin(np.unique(b), common)]
        ta[ia] = a[ia]
        tb[ib] = b[ib]
    return ta, tb, len(common)


def _right(gt1: NDArray, lab1: NDArray, gt2: NDArray, lab2: NDArray) -> int:
    """True ids at their kept positions in both views whose kept labels agree."""
    k1 = (gt1 != 0) & (lab1 != 0)
    k2 = (gt2 != 0) & (lab2 != 0)
    m1 = dict(zip(gt1[k1].tolist(), lab1[k1].tolist(), strict=True))
    m2 = dict(zip(gt2[k2].tolist(), lab2[k2].tolist(), strict=True))
    return sum(1 for g, lab in m1.items() if m2.get(g, None) == lab)


def _cross_fp(v1: _ViewFrame, v2: _ViewFrame) -> int:
    """Predicted ids of one view that label no truth there but occur in the other view."""
    fp = 0
    for a, b in ((v1, v2), (v2, v1)):
        unlabeled = np.setdiff1d(a.pr, a.labels)
        fp += int(np.isin(unlabeled, b.pr).sum())
    return fp


def _pair(v1: _ViewFrame, v2: _ViewFrame) -> tuple[int, int, int, int, int, int, int]:
    """One pair of views with truth in both: (TP, rec_den, prec_den, missed, fp, mme, bbx)."""
    g1, g2, n_gt_common = _first_common(v1.gt, v2.gt)
    if len(v1.gt) == 1 and len(v2.gt) == 1:
        # MATLAB quirk: intersect() of two scalars returns a 1x0 row, whose
        # size along the first dimension (the official count) is 1.
        n_gt_common = 1
    l1, l2, n_lab_common = _first_common(v1.labels, v2.labels)
    right = _right(g1, l1, g2, l2)
    return (
        right,
        int((g1 > 0).sum()),
        int((l1 > 0).sum()),
        2 * (n_gt_common - n_lab_common),
        _cross_fp(v1, v2),
        n_lab_common - right,
        len(v1.gt) + len(v2.gt),
    )


# ---------------------------------------------------------------- one sequence
def _view_frames(
    gt: MotTable, pred: MotTable, frames: NDArray[np.int64]
) -> list[_ViewFrame | None]:
    """Per frame of ``frames``: the view's ids and labels (None when it has no box at all)."""
    gt = gt.select(np.argsort(gt.frames, kind="stable"))
    pred = pred.select(np.argsort(pred.frames, kind="stable"))
    g_lo = np.searchsorted(gt.frames, frames, "left")
    g_hi = np.searchsorted(gt.frames, frames, "right")
    p_lo = np.searchsorted(pred.frames, frames, "left")
    p_hi = np.searchsorted(pred.frames, frames, "right")
    out: list[_ViewFrame | None] = []
    for a, b, c, d in zip(g_lo, g_hi, p_lo, p_hi, strict=True):
        if a == b and c == d:
            out.append(None)
            continue
        labels = truth_labels(gt.boxes[a:b], pred.boxes[c:d], pred.ids[c:d])
        out.append(_ViewFrame(gt.ids[a:b], pred.ids[c:d], labels))
    return out


_EMPTY = _ViewFrame(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))


def crossview_counts(views: list[tuple[MotTable, MotTable]], start: int, end: int) -> CrossViewCounts:
    """Cross-view counts of one sequence.

    Parameters
    ----------
    views : per view, in the benchmark's view order: (ground truth, predictions)
    start, end : the inclusive frame range; every frame counts, even an empty one

    Returns
    -------
    CrossViewCounts
    """
    frames = np.arange(start, end + 1, dtype=np.int64)
    per_view = [_view_frames(g, p, frames) for g, p in views]
    n = len(frames)
    prec = np.zeros(n)
    rec = np.zeros(n)
    totals = np.zeros(4, np.int64)  # missed, fp, mme, bbx
    for f in range(n):
        vf = [v[f] or _EMPTY for v in per_view]
        tp = rec_den = prec_den = 0
        for i in range(len(vf)):
            for j in range(i + 1, len(vf)):
                a, b = vf[i], vf[j]
                if not len(b.gt):
                    prec_den += len(b.pr)
                    continue
                if not len(a.gt):
                    prec_den += len(a.pr)
                    continue
                t, rd, pd_, missed, fp, mme, bbx = _pair(a, b)
                tp, rec_den, prec_den = tp + t, rec_den + rd, prec_den + pd_
                totals += (missed, fp, mme, bbx)
        prec[f] = tp / prec_den if prec_den else 0.0
        rec[f] = tp / rec_den if rec_den else 0.0
    missed, fp, mme, bbx = (int(x) for x in totals)
    return CrossViewCounts(prec, rec, missed, fp, mme, bbx)
