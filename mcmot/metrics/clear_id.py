"""CLEAR MOT and identity metrics, with motmetrics' (MOTChallenge devkit) conventions.

CLEAR, frame by frame (as ``motmetrics.MOTAccumulator.update``):

1. A true object keeps the prediction it was last matched to, if that
   prediction is in the frame and overlaps it with IoU >= 0.5 (distance
   ``1 - IoU <= 0.5``), in the file's row order.
2. The remaining objects and predictions are assigned by the Hungarian
   algorithm on the distance ``1 - IoU`` (pairs above 0.5 not allowed).
   A match whose object was last matched to another prediction is an
   identity switch (IDSW).
3. Unmatched objects are misses (FN), unmatched predictions false positives.

MOTA = 1 - (FN + FP + IDSW) / GT; MOTP = mean IoU of the matched pairs (the
MOTChallenge convention; motmetrics reports the mean distance, 1 - this).
MT / ML: true identities matched in at least 80% / under 20% of their frames.

Identity (Ristani et al. 2016): one global one-to-one assignment of true to
predicted identities maximising the number of frames where the pair overlaps
with IoU >= 0.5 (IDTP); IDFN = GT - IDTP, IDFP = predictions - IDTP.

All counts add over cameras and sequences, which is how the devkit pools
sequences; rates are computed from the sums.

Ground truth that gives one true identity several boxes in one frame is
scored as TrackEval's CLEAR and Identity classes score it (motmetrics
crashes or counts such a box twice in IDTP): every box counts in GT, TP, FN,
FP and MOTP; an identity switch is judged against the prediction the
identity had before the frame, and after the frame the identity keeps the
prediction of its last matched box in file order; MT/ML and the identity
metrics count frames, so the identity is present (and overlaps a
prediction) at most once per frame. See ``docs/metrics.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import NDArray

from mcmot.assignment import linear_sum_assignment
from mcmot.metrics.sequence import Sequence

#: IoU at or above which a truth / prediction pair may be matched.
IOU_THRESHOLD = 0.5
#: Share of its frames in which a true identity must be matched to count as mostly tracked.
MT_RATIO = 0.8
#: Share of its frames below which a true identity counts as mostly lost.
ML_RATIO = 0.2


@dataclass(frozen=True)
class ClearIdCounts:
    """Additive counts of the CLEAR and identity metrics.

    Attributes
    ----------
    num_gt, num_pred : ground-truth / predicted boxes
    tp, fp, fn, idsw : CLEAR matches, false positives, misses, identity switches
    iou_sum : sum of the IoU of the CLEAR matches (for MOTP)
    mt, pt, ml, num_ids : mostly tracked / partly tracked / mostly lost / all true identities
    idtp, idfp, idfn : identity true positives, false positives, false negatives
    """

    num_gt: int = 0
    num_pred: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    idsw: int = 0
    iou_sum: float = 0.0
    mt: int = 0
    pt: int = 0
    ml: int = 0
    num_ids: int = 0
    idtp: int = 0
    idfp: int = 0
    idfn: int = 0

    def __add__(self, other: ClearIdCounts) -> ClearIdCounts:
        return ClearIdCounts(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def rates(self) -> dict[str, float | int | None]:
        """The metrics as fractions (None where a denominator is 0) plus the counts."""
        return {
            "IDP": _div(self.idtp, self.idtp + self.idfp),
            "IDR": _div(self.idtp, self.idtp + self.idfn),
            "IDF1": _div(2 * self.idtp, 2 * self.idtp + self.idfp + self.idfn),
            "MOTA": _div(self.num_gt - self.fn - self.fp - self.idsw, self.num_gt),
            "MOTP": _div(self.iou_sum, self.tp),
            "FP": self.fp,
            "FN": self.fn,
            "IDSW": self.idsw,
            "MT": self.mt,
            "ML": self.ml,
            "recall": _div(self.tp, self.num_gt),
            "precision": _div(self.tp, self.tp + self.fp),
        }


def _div(num: float, den: float) -> float | None:
    return float(num) / float(den) if den else None


def _expensive_edges(cost: NDArray[np.float64]) -> NDArray[np.float64]:
    """Replace NaN costs by a constant too large to be chosen (as motmetrics does)."""
    valid = np.isfinite(cost)
    c = np.abs(cost[valid]).max() + 1
    return np.where(valid, cost, 2 * min(cost.shape) * c + 1)


def _carry_forward(
    gt: NDArray[np.intp],
    pr: NDArray[np.intp],
    allowed: NDArray[np.bool_],
    last: NDArray[np.intp],
) -> tuple[list[int], list[int]]:
    """Step 1: keep each object's last matched prediction where still allowed."""
    col_of = {int(p): j for j, p in enumerate(pr)}
    rows: list[int] = []
    cols: list[int] = []
    taken: set[int] = set()
    for i, g in enumerate(gt):
        j = col_of.get(int(last[g]), -1)
        if j >= 0 and j not in taken and allowed[i, j]:
            rows.append(i)
            cols.append(j)
            taken.add(j)
    return rows, cols


def _frame_matches(
    gt: NDArray[np.intp],
    pr: NDArray[np.intp],
    iou: NDArray[np.float64],
    last: NDArray[np.intp],
    repeats: bool = False,
) -> tuple[NDArray[np.intp], NDArray[np.intp], int]:
    """CLEAR matches of one frame: (rows, cols, number of identity switches).

    Updates ``last`` (object index -> last matched prediction index, -1 none);
    with ``repeats`` (an object may have several rows), its last matched row
    in row order sets it.
    """
    dist = 1.0 - iou
    allowed = dist <= IOU_THRESHOLD
    rows, cols = _carry_forward(gt, pr, allowed, last)
    free = allowed.copy()
    free[rows, :] = False
    free[:, cols] = False
    switches = 0
    if free.any():
        if (free.sum(axis=0) <= 1).all() and (free.sum(axis=1) <= 1).all():
            # The allowed pairs are disjoint: the assignment takes all of them.
            r, c = np.nonzero(free)
        else:
            cost = np.where(free, dist, np.nan)
            r, c = linear_sum_assignment(_expensive_edges(cost))
        keep = free[r, c]
        for i, j in zip(r[keep], c[keep], strict=True):
            prev = last[gt[i]]
            switches += int(prev >= 0 and prev != pr[j])
            rows.append(int(i))
            cols.append(int(j))
    rows_a = np.asarray(rows, np.intp)
    cols_a = np.asarray(cols, np.intp)
    if repeats:
        for i in np.sort(rows_a).tolist():
            last[gt[i]] = pr[cols_a[rows_a == i][0]]
    else:
        last[gt[rows_a]] = pr[cols_a]
    return rows_a, cols_a, switches


def _identity(seq: Sequence) -> int:
    """IDTP: the best one-to-one assignment of true to predicted identities.

    A (true, predicted) pair scores the frames in which they overlap, once
    per frame however many boxes the true identity has there.
    """
    ok = 1.0 - seq.pair_iou <= IOU_THRESHOLD
    if not ok.any():
        return 0
    n_g, n_p = len(seq.gt_ids), len(seq.pr_ids)
    key = seq.pair_gt[ok] * n_p + seq.pair_pr[ok]
    if seq.repeats:
        per_frame = np.unique(seq.pair_frame[ok].astype(np.int64) * (n_g * n_p) + key)
        key = per_frame % (n_g * n_p)
    overlap = np.bincount(key, minlength=n_g * n_p).reshape(n_g, n_p)
    r, c = linear_sum_assignment(overlap, maximize=True)
    return int(overlap[r, c].sum())


def clear_id_counts(seq: Sequence) -> ClearIdCounts:
    """CLEAR and identity counts of one camera sequence.

    Parameters
    ----------
    seq : the camera's frames (see :func:`mcmot.metrics.sequence.build_sequence`)

    Returns
    -------
    ClearIdCounts
    """
    n_ids = len(seq.gt_ids)
    last = np.full(n_ids, -1, np.intp)
    present = seq.gt_present
    matched = np.zeros(n_ids, np.int64)
    repeats = seq.repeats
    tp = idsw = 0
    iou_sum = 0.0
    for gt, pr, iou in zip(seq.gt, seq.pr, seq.iou, strict=True):
        if not (len(gt) and len(pr)):
            continue
        rows, cols, switches = _frame_matches(gt, pr, iou, last, repeats)
        # An identity counts as matched in a frame once, whatever its number of boxes.
        np.add.at(matched, np.unique(gt[rows]) if repeats else gt[rows], 1)
        tp += len(rows)
        idsw += switches
        iou_sum += float(iou[rows, cols].sum())
    num_gt, num_pred = seq.num_gt, seq.num_pr
    ratio = matched / np.maximum(present, 1)
    idtp = _identity(seq)
    return ClearIdCounts(
        num_gt=num_gt,
        num_pred=num_pred,
        tp=tp,
        fp=num_pred - tp,
        fn=num_gt - tp,
        idsw=idsw,
        iou_sum=iou_sum,
        mt=int((ratio >= MT_RATIO).sum()),
        pt=int(((ratio >= ML_RATIO) & (ratio < MT_RATIO)).sum()),
        ml=int((ratio < ML_RATIO).sum()),
        num_ids=n_ids,
        idtp=idtp,
        idfp=num_pred - idtp,
        idfn=int(present.sum()) - idtp,
    )
