"""Detection accuracy: one-to-one matches of detections to ground truth per frame.

A detector's recall and precision against ground truth
(``benchmarks/bench_detect_pets.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mcmot.assignment import linear_sum_assignment
from mcmot.boxes import iou_matrix


@dataclass(frozen=True)
class MatchCounts:
    """Detection matches at one IoU threshold (summed over frames)."""

    tp: int
    fp: int
    fn: int

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    def __add__(self, other: MatchCounts) -> MatchCounts:
        return MatchCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)


def match_frame(
    gt: NDArray, det: NDArray, threshold: float = 0.5, ignore: NDArray | None = None
) -> MatchCounts:
    """One-to-one match of detections to ground truth (Hungarian on IoU).

    Parameters
    ----------
    gt : (G, 4) tlwh ground-truth boxes
    det : (D, 4) tlwh detections
    threshold : a pair matches when IoU >= threshold
    ignore : (G,) bool, ground truth that counts neither as a miss nor, when
        matched, its detection as a false positive (MOTChallenge's conf = 0 rows)

    Returns
    -------
    true positives, false positives and misses of this frame
    """
    gt = np.asarray(gt, np.float64).reshape(-1, 4)
    det = np.asarray(det, np.float64).reshape(-1, 4)
    ign = np.zeros(len(gt), bool) if ignore is None else np.asarray(ignore, bool)
    iou = iou_matrix(gt, det)
    iou = np.where(iou >= threshold, iou, 0.0)  # pairs below the threshold never match
    rows, cols = linear_sum_assignment(-iou) if iou.size else (np.zeros(0, int),) * 2
    ok = iou[rows, cols] >= threshold
    rows, cols = rows[ok], cols[ok]
    tp = int((~ign[rows]).sum())
    matched_ignored = int(ign[rows].sum())
    fn = int((~ign).sum()) - tp
    fp = len(det) - tp - matched_ignored
    return MatchCounts(tp, fp, fn)
