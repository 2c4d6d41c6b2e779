"""Label-free calibration of the appearance cue for features that are not re-ID features.

DeepSORT's ``max_cosine_distance = 0.2`` assumes a re-identification network
whose features put different people far apart. Self-supervised or generic
features (CalibFree ``f_s`` / ``f_a``, a DINOv2 teacher) can squeeze every
person of a video into a narrow cone, so 0.2 accepts almost any pair and the
appearance cascade decides nearly at random.

Two detections of the same frame are two different people (up to duplicate
boxes the detector's NMS left), so their cosine distances sample the
"different people" distribution of the video's own features, with no labels.
The calibrated gate is a low quantile of those distances: a track and a
detection are accepted as the same person only when they are closer than
all but ``quantile`` of the pairs known to be different people.

A gate says nothing about whether the same person's features stay close. Two
detections in consecutive frames that overlap a lot (IoU at least
``SURE_IOU``) while neither overlaps anything else in the other frame (IoU
``COMPETITOR_IOU`` or more) are almost surely one person; chaining such links
gives short label-free tracklets, and pairs along a tracklet up to the
tracker's ``max_age`` frames apart sample the "same person" distribution.
From the two samples, :func:`calibrate_appearance` measures how well the
features separate people (the AUC: the chance that a same-person pair is
closer than a different-person pair) and turns it into the weight of the
appearance cue in the tracker, zero (motion only) when they do not separate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mcmot.boxes import iou_matrix
from mcmot.errors import McmotError

#: Pairs drawn at most per frame, so a crowded frame does not dominate the sample.
MAX_PAIRS_PER_FRAME = 64
#: A consecutive-frame link is sure when its IoU is at least this ...
SURE_IOU = 0.5
#: ... and neither box overlaps another box of the other frame by this IoU or more.
COMPETITOR_IOU = 0.1
#: Frame gaps of the same-person pairs drawn along a sure tracklet (up to ``max_age``).
POSITIVE_LAGS = (1, 2, 4, 8, 16, 32, 64, 128)
#: Fewer same-person or different-person pairs than this: separation unknown, appearance off.
MIN_PAIRS = 20
#: AUC at or below which appearance is off; the weight then grows linearly to
#: ``WEIGHT_MAX`` at ``AUC_FULL``. Chosen on development scenes (docs/tracking.md): there,
#: weight 0.75 was at or near the best for every encoder while DeepSORT's appearance
#: cascade (weight 1) lost to motion alone, and below AUC 0.75 (features degraded with
#: noise) appearance carries little identity.
AUC_OFF = 0.75
AUC_FULL = 0.9
WEIGHT_MAX = 0.75


def same_frame_distances(
    frames: NDArray[np.int64], features: NDArray[np.floating], max_pairs: int = MAX_PAIRS_PER_FRAME
) -> NDArray[np.float64]:
    """Cosine distances between two detections of the same frame.

    Parameters
    ----------
    frames : (N,) frame number of each row, sorted
    features : (N, D) L2-normalised features aligned with ``frames``
    max_pairs : at most this many pairs per frame (the first in row order)

    Returns
    -------
    (P,) distances ``1 - f_i . f_j`` for pairs i < j of one frame
    """
    frames = np.asarray(frames)
    feats = np.asarray(features, np.float64)
    starts = np.flatnonzero(np.r_[True, frames[1:] != frames[:-1]])
    ends = np.r_[starts[1:], len(frames)]
    out: list[NDArray[np.float64]] = []
    for s, e in zip(starts, ends, strict=True):
        if e - s < 2:
            continue
        f = feats[s:e]
        i, j = np.triu_indices(e - s, k=1)
        out.append((1.0 - np.sum(f[i] * f[j], axis=1))[:max_pairs])
    return np.concatenate(out) if out else np.zeros(0)


def calibrated_cosine_gate(
    frames: NDArray[np.int64], features: NDArray[np.floating], quantile: float
) -> float:
    """The ``quantile`` of the same-frame cosine distances of one video.

    Raises
    ------
    McmotError
        when ``quantile`` is outside (0, 1) or no frame holds two detections
    """
    if not 0 < quantile < 1:
        raise McmotError(f"cosine gate quantile must be in (0, 1), got {quantile}")
    d = same_frame_distances(frames, features)
    if not len(d):
        raise McmotError("cannot calibrate the cosine gate: no frame has two detections")
    return float(np.quantile(d, quantile))


def sure_links(frames: NDArray[np.int64], boxes: NDArray[np.floating]) -> NDArray[np.int64]:
    """Links between consecutive frames that are almost surely the same person.

    Row ``i`` (frame t) links to row ``j`` (frame t + 1) when their IoU is at least
    ``SURE_IOU``, ``j`` is the only box of frame t + 1 overlapping ``i`` by
    ``COMPETITOR_IOU`` or more, and ``i`` the only such box of frame t for ``j``.

    Parameters
    ----------
    frames : (N,) frame of each row, sorted
    boxes : (N, 4) tlwh boxes aligned with ``frames``

    Returns
    -------
    (N,) the linked row in the next frame, or -1
    """
    frames = np.asarray(frames)
    nxt = np.full(len(frames), -1, np.int64)
    if not len(frames):
        return nxt
    uniq, starts = np.unique(frames, return_index=True)
    ends = np.r_[starts[1:], len(frames)]
    for k in np.flatnonzero(np.diff(uniq) == 1):
        a, b = slice(starts[k], ends[k]), slice(starts[k + 1], ends[k + 1])
        iou = iou_matrix(np.asarray(boxes[a], np.float64), np.asarray(boxes[b], np.float64))
        near = iou >= COMPETITOR_IOU
        sure = (iou >= SURE_IOU) & (near.sum(1, keepdims=True) == 1) & (near.sum(0) == 1)
        i, j = np.nonzero(sure)
        nxt[starts[k] + i] = starts[k + 1] + j
    return nxt


def linked_distances(
    frames: NDArray[np.int64],
    boxes: NDArray[np.floating],
    features: NDArray[np.floating],
    max_lag: int,
) -> NDArray[np.float64]:
    """Cosine distances of same-person pairs: rows along a chain of :func:`sure_links`,
    ``POSITIVE_LAGS`` frames apart (at most ``max_lag``, at least 1)."""
    nxt = sure_links(frames, boxes)
    has_prev = np.zeros(len(nxt), bool)
    has_prev[nxt[nxt >= 0]] = True
    feats = np.asarray(features, np.float64)
    lags = [lag for lag in POSITIVE_LAGS if lag <= max(max_lag, 1)]
    out: list[NDArray[np.float64]] = []
    for start in np.flatnonzero(~has_prev & (nxt >= 0)):
        chain = [int(start)]
        while nxt[chain[-1]] >= 0:
            chain.append(int(nxt[chain[-1]]))
        f = feats[chain]
        for lag in lags:
            if lag < len(chain):
                out.append(1.0 - np.sum(f[:-lag] * f[lag:], axis=1))
    return np.concatenate(out) if out else np.zeros(0)


@dataclass(frozen=True)
class AppearanceCalibration:
    """What the label-free calibration decided for one camera's appearance cue.

    Attributes
    ----------
    gate : the cosine gate (largest accepted cosine distance)
    weight : the appearance cue's share in the tracker's cascade cost, in [0, 1];
        0 = appearance off (motion only)
    auc : chance that a same-person pair is closer than a different-person pair
        (NaN when not measured)
    same_pairs, different_pairs : sizes of the two samples
    same_rejected : share of the same-person pairs above ``gate``
    different_accepted : share of the different-person pairs at or below ``gate``
    gate_source : how the gate was set ("q=0.05 of same-frame pairs", "fixed")
    weight_fixed : the weight was given, not measured
    """

    gate: float
    weight: float
    auc: float
    same_pairs: int
    different_pairs: int
    same_rejected: float
    different_accepted: float
    gate_source: str
    weight_fixed: bool = False

    @property
    def measured(self) -> bool:
        """Both samples are large enough to measure the separation."""
        return self.same_pairs >= MIN_PAIRS and self.different_pairs >= MIN_PAIRS

    def describe(self) -> str:
        """One line for the user: the decision and the numbers behind it."""
        if self.measured:
            numbers = (
                f"AUC {self.auc:.3f}, gate {self.gate:.3f} ({self.gate_source}) rejects "
                f"{100 * self.same_rejected:.0f}% of {self.same_pairs} same-person pairs, "
                f"accepts {100 * self.different_accepted:.0f}% of {self.different_pairs} "
                f"different-person pairs"
            )
        else:
            numbers = (
                f"too few pairs to measure separation ({self.same_pairs} same-person, "
                f"{self.different_pairs} different-person; {MIN_PAIRS} needed), gate "
                f"{self.gate:.3f} ({self.gate_source})"
            )
        if self.weight_fixed:
            state = "appearance off" if self.weight == 0 else f"appearance weight {self.weight:.2f}"
            return f"{state} (given): {numbers}"
        if self.weight == 0:
            why = f"; AUC <= {AUC_OFF}" if self.measured else ""
            return f"appearance off: {numbers}{why}"
        return f"appearance weight {self.weight:.2f}: {numbers}"


def separation_auc(same: NDArray[np.floating], different: NDArray[np.floating]) -> float:
    """P(same-person distance < different-person distance), ties counted half."""
    d = np.sort(np.asarray(different, np.float64))
    s = np.asarray(same, np.float64)
    if not len(s) or not len(d):
        return float("nan")
    above = len(d) - np.searchsorted(d, s, side="right")
    ties = np.searchsorted(d, s, side="right") - np.searchsorted(d, s, side="left")
    return float(np.mean((above + 0.5 * ties) / len(d)))


def auc_weight(auc: float) -> float:
    """The appearance weight for a separation ``auc``: 0 up to ``AUC_OFF``, ``WEIGHT_MAX``
    from ``AUC_FULL``, linear in between."""
    if not np.isfinite(auc):
        return 0.0
    return WEIGHT_MAX * float(np.clip((auc - AUC_OFF) / (AUC_FULL - AUC_OFF), 0.0, 1.0))


def calibrate_appearance(
    frames: NDArray[np.int64],
    boxes: NDArray[np.floating],
    features: NDArray[np.floating],
    max_lag: int,
    quantile: float | None,
    fixed_gate: float,
    weight: float | None = None,
) -> AppearanceCalibration:
    """The gate and weight of one camera's appearance cue, from its own detections.

    Parameters
    ----------
    frames, boxes, features : (N,), (N, 4) tlwh, (N, D) L2-normalised, sorted by frame
    max_lag : largest frame gap of the same-person pairs (the tracker's ``max_age``)
    quantile : the gate is this quantile of the same-frame distances; None = ``fixed_gate``
    fixed_gate : the gate without a quantile or without a frame of two detections
    weight : a fixed weight instead of the AUC's (None = from the AUC)

    Raises
    ------
    McmotError
        when ``quantile`` is outside (0, 1)
    """
    different = same_frame_distances(frames, features)
    same = linked_distances(frames, boxes, features, max_lag)
    gate, source = fixed_gate, "fixed"
    if quantile is not None:
        if not 0 < quantile < 1:
            raise McmotError(f"cosine gate quantile must be in (0, 1), got {quantile}")
        if len(different):
            gate = float(np.clip(np.quantile(different, quantile), 0.0, 2.0))
            source = f"q={quantile:g} of same-frame pairs"
    auc = separation_auc(same, different)
    fixed = weight is not None
    if weight is None:
        enough = len(same) >= MIN_PAIRS and len(different) >= MIN_PAIRS
        weight = auc_weight(auc) if enough else 0.0
    return AppearanceCalibration(
        gate=gate,
        weight=weight,
        weight_fixed=fixed,
        auc=auc,
        same_pairs=len(same),
        different_pairs=len(different),
        same_rejected=float(np.mean(same > gate)) if len(same) else float("nan"),
        different_accepted=float(np.mean(different <= gate)) if len(different) else float("nan"),
        gate_source=source,
    )
