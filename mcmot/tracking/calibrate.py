"""A label-free cosine gate for appearance features that are not re-ID features.

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
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from mcmot.errors import McmotError

#: Pairs drawn at most per frame, so a crowded frame does not dominate the sample.
MAX_PAIRS_PER_FRAME = 64


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
