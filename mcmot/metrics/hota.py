"""HOTA, DetA and AssA (Luiten et al., IJCV 2021), TrackEval's algorithm.

Our own implementation: the reference TrackEval is not on PyPI and fails
with NumPy 2 (it uses ``np.float``/``np.int``); PyPI's ``trackeval`` fork
works but pulls heavy dependencies and cannot share the overlaps computed
once per camera. The algorithm below follows TrackEval step by step and
reproduces its values on TUD-Campus (0.3913974) and the MvMHAT sample, and
the fork's on random sequences (see ``docs/metrics.md``).

For one sequence:

1. Global alignment: for every true id ``g`` and predicted id ``p``,
   ``A(g, p) = M / (n_g + n_p - M)`` where ``n_g``, ``n_p`` count their
   boxes and ``M`` sums, over frames, the pair's IoU divided by the frame's
   "IoU of IoUs" denominator (row sum + column sum - the value).
2. Per frame, one Hungarian assignment maximising ``A(g, p) * IoU``.
3. For each localisation threshold alpha in 0.05, 0.10, ..., 0.95 the
   assigned pairs with IoU >= alpha are true positives; the rest of the
   boxes are FN / FP. ``DetA = TP / (TP + FN + FP)``.
4. ``AssA = sum over TP pairs of TPA / (TPA + FNA + FPA)`` divided by TP,
   where TPA counts the frames matched to the same pair of ids.
5. ``HOTA(alpha) = sqrt(DetA * AssA)``; HOTA, DetA and AssA are the means
   over the 19 alphas.

Ground truth that gives one true identity several boxes in one frame is
scored as TrackEval's code scores it: every box counts in TP, FN and FP, but
the identity's box count (``n_g``, and the TPA / FNA denominators) counts it
once per frame, and ``M`` takes, per frame and predicted id, the "IoU of
IoUs" of its last box in file order (TrackEval adds these with NumPy's
buffered ``+=``, where the last repeated index wins).

Sequences (and cameras) are pooled as TrackEval does: TP, FN, FP add up and
AssA is the TP-weighted mean, which :class:`HotaCounts` keeps additive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mcmot.assignment import linear_sum_assignment
from mcmot.metrics.sequence import Sequence

#: The localisation thresholds (exactly TrackEval's float values).
ALPHAS: NDArray[np.float64] = np.arange(0.05, 0.99, 0.05)
_EPS = np.finfo("float").eps


@dataclass(frozen=True)
class HotaCounts:
    """Additive HOTA sums, one entry per alpha (19,).

    Attributes
    ----------
    tp, fn, fp : detection true positives, misses and false positives
    ass : sum over true positives of their association score (AssA * TP)
    loc : sum of the IoU of the true positives (LocA * TP)
    """

    tp: NDArray[np.float64]
    fn: NDArray[np.float64]
    fp: NDArray[np.float64]
    ass: NDArray[np.float64]
    loc: NDArray[np.float64]

    @classmethod
    def zero(cls) -> HotaCounts:
        z = np.zeros(len(ALPHAS))
        return cls(z, z, z, z, z)

    def __add__(self, other: HotaCounts) -> HotaCounts:
        return HotaCounts(
            self.tp + other.tp,
            self.fn + other.fn,
            self.fp + other.fp,
            self.ass + other.ass,
            self.loc + other.loc,
        )

    def per_alpha(self) -> dict[str, NDArray[np.float64]]:
        """HOTA, DetA, AssA, LocA at each alpha (19,)."""
        det_a = self.tp / np.maximum(1.0, self.tp + self.fn + self.fp)
        ass_a = self.ass / np.maximum(1.0, self.tp)
        loc_a = np.maximum(1e-10, self.loc) / np.maximum(1e-10, self.tp)
        return {"HOTA": np.sqrt(det_a * ass_a), "DetA": det_a, "AssA": ass_a, "LocA": loc_a}

    def rates(self) -> dict[str, float | None]:
        """HOTA, DetA, AssA, LocA averaged over the alphas (None with no boxes at all)."""
        if not (self.tp + self.fn + self.fp).any():
            return {"HOTA": None, "DetA": None, "AssA": None, "LocA": None}
        return {k: float(v.mean()) for k, v in self.per_alpha().items()}


def _alignment(seq: Sequence) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray]:
    """Global alignment score (G, P) and the box counts per id (G, 1), (1, P)."""
    n_g, n_p = len(seq.gt_ids), len(seq.pr_ids)
    gt_count = seq.gt_present
    pr_count = np.bincount(np.concatenate([*seq.pr, []]).astype(np.intp), minlength=n_p)
    gt_count = gt_count.astype(float)[:, None]
    pr_count = pr_count.astype(float)[None, :]
    iou = seq.pair_iou
    g_row, p_row = seq.pair_gt_row, seq.pair_pr_row
    row_sum = np.bincount(g_row, weights=iou, minlength=int(g_row.max(initial=-1)) + 1)[g_row]
    col_sum = np.bincount(p_row, weights=iou, minlength=int(p_row.max(initial=-1)) + 1)[p_row]
    denom = row_sum + col_sum - iou
    sim = np.zeros_like(iou)
    ok = denom > 0 + _EPS
    sim[ok] = iou[ok] / denom[ok]
    key = seq.pair_gt * n_p + seq.pair_pr
    if seq.repeats:
        keep = seq.gt_last[g_row]
        key, sim = key[keep], sim[keep]
    potential = np.bincount(key, weights=sim, minlength=n_g * n_p).reshape(n_g, n_p)
    with np.errstate(divide="ignore", invalid="ignore"):
        align = potential / (gt_count + pr_count - potential)
    return np.nan_to_num(align), gt_count, pr_count


def hota_counts(seq: Sequence) -> HotaCounts:
    """HOTA sums of one camera sequence (see the module docstring).

    Parameters
    ----------
    seq : the camera's frames (see :func:`mcmot.metrics.sequence.build_sequence`)
    """
    align, gt_count, pr_count = _alignment(seq)
    gs: list[NDArray[np.intp]] = []
    ps: list[NDArray[np.intp]] = []
    sims: list[NDArray[np.float64]] = []
    for gt, pr, iou in zip(seq.gt, seq.pr, seq.iou, strict=True):
        if not iou.size:
            continue
        r, c = linear_sum_assignment(-(align[gt[:, None], pr[None, :]] * iou))
        gs.append(gt[r])
        ps.append(pr[c])
        sims.append(iou[r, c])
    n_alpha = len(ALPHAS)
    num_gt, num_pr = seq.num_gt, seq.num_pr
    if not gs:
        z = np.zeros(n_alpha)
        return HotaCounts(z, np.full(n_alpha, num_gt, float), np.full(n_alpha, num_pr, float), z, z)
    g = np.concatenate(gs)
    p = np.concatenate(ps)
    s = np.concatenate(sims)
    n_p = len(seq.pr_ids)
    tp = np.zeros(n_alpha)
    ass = np.zeros(n_alpha)
    loc = np.zeros(n_alpha)
    for a, alpha in enumerate(ALPHAS):
        ok = s >= alpha - _EPS
        tp[a] = ok.sum()
        loc[a] = s[ok].sum()
        pair = np.bincount(g[ok] * n_p + p[ok], minlength=len(seq.gt_ids) * n_p)
        matches = pair.reshape(len(seq.gt_ids), n_p).astype(float)
        score = matches / np.maximum(1.0, gt_count + pr_count - matches)
        ass[a] = (matches * score).sum()
    return HotaCounts(tp, num_gt - tp, num_pr - tp, ass, loc)
