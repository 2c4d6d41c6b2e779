"""Cross-view affinities: per-frame detection similarities, tracklet-level votes.

For every camera pair and every synchronized frame, each detection of one
view is scored against each detection of the other (the paper's 'aggressive'
pairwise matching):

- geometry: the symmetric foot-point transfer error ``e`` (box heights) under
  the pair's homography, turned into a score ``1 / (1 + (e / gate)^4)`` that is
  0.5 at the pair's data-calibrated gate;
- appearance: the cosine similarity of the view-agnostic features, turned into
  the posterior of 'same person' under a two-component Gaussian mixture fitted
  to the scene's own cross-view similarities
  (:class:`mcmot.association.appearance.AppearanceModel`);
- both: the scores are fused as log-odds, ``logit(s) = w_g logit(g) +
  w_a logit(a)`` (naive Bayes, each cue's evidence scaled by its weight:
  the geometric pair's quality from its synchronization gap, and the
  appearance model's separation).

One Hungarian matching per frame and pair keeps the pairs scoring above 0.5.
Over the frames where two tracklets of different cameras co-occur, the matches
are counted (weighted by the cue weights): the tracklet-to-tracklet affinity is
``matched / (co-occurring + prior)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mcmot.assignment import linear_sum_assignment
from mcmot.association.appearance import AppearanceModel, camera_pair_candidates
from mcmot.association.data import CameraObs
from mcmot.association.geometry import PairGeometry
from mcmot.association.homography import transfer

FloatArray = NDArray[np.float64]

#: Cue scores are clipped to [SCORE_CLIP, 1 - SCORE_CLIP] before fusion, so that
#: no single cue is ever certain enough to veto the other alone.
SCORE_CLIP = 0.02

#: In fusion, the (tracklet-smoothed) appearance score is clipped harder: it is
#: the same in every frame of a tracklet pair, so its error does not average
#: out over the frames' votes the way independent per-frame geometric errors do.
APPEARANCE_CLIP = 0.1

#: Hard floor on the geometric gate in box heights, so a pair fitted on
#: near-perfect synthetic boxes does not reject one-pixel noise.
MIN_GATE = 0.02


# ---------------------------------------------------------------- per-pair scores
@dataclass(frozen=True)
class Cues:
    """Which cues are active and their models."""

    geometry: dict[tuple[str, str], PairGeometry] | None
    appearance: AppearanceModel | None
    gate_scale: float = 1.0


def geometry_scores(
    g: PairGeometry,
    a: CameraObs,
    b: CameraObs,
    ia: NDArray,
    ib: NDArray,
    gate_scale: float = 1.0,
) -> tuple[FloatArray, FloatArray]:
    """Geometric score and weight of candidate rows (ia of a, ib of b).

    Returns
    -------
    score : (M,) in [0, 1], 0.5 at the gate
    weight : (M,) the pair's (or the frame's window's) weight
    """
    score = np.zeros(len(ia))
    weight = np.zeros(len(ia))
    frames = a.frames[ia]
    for start, end, H, q in g.segments():
        m = (frames >= start) & (frames <= end)
        if not m.any() or q.weight <= 0:
            continue
        e = cut_aware_errors(H, a, b, ia[m], ib[m])
        gate = max(q.gate, MIN_GATE) * gate_scale
        score[m] = 1.0 / (1.0 + (e / gate) ** 4)
        weight[m] = q.weight
    return score, weight


def _one_way(H: FloatArray, src: CameraObs, dst: CameraObs, i: NDArray, j: NDArray) -> FloatArray:
    """Transfer error src -> dst in dst's box heights. Where dst's box is cut by
    a border, its foot lies beyond the visible one on that side (below it for
    the bottom border, left or right of the visible centre for a side border),
    so a prediction on that side has no error along that axis."""
    pred = transfer(H, src.feet[i])
    foot = dst.feet[j]
    dx = pred[:, 0] - foot[:, 0]
    dx = np.where(dst.left_cut[j], np.maximum(dx, 0.0), dx)
    dx = np.where(dst.right_cut[j], np.minimum(dx, 0.0), dx)
    dy = pred[:, 1] - foot[:, 1]
    dy = np.where(dst.bottom_cut[j], np.minimum(dy, 0.0), dy)
    e = np.hypot(dx, dy) / _full_heights(dst, j)
    return np.where(np.isfinite(e), e, np.inf)


def _full_heights(o: CameraObs, j: NDArray) -> FloatArray:
    """Heights of rows ``j``; a box cut by the bottom (not a side) border is taller than
    it looks: at least its width over the median width/height of ``o``'s uncut boxes."""
    h = o.heights[j]
    whole = ~o.truncated
    if not whole.any():
        return h
    ratio = float(np.median(o.boxes[whole, 2] / o.heights[whole]))
    full = o.boxes[j, 2] / max(ratio, 1e-6)
    side = o.left_cut[j] | o.right_cut[j]
    return np.where(o.bottom_cut[j] & ~side, np.maximum(h, full), h)


def cut_aware_errors(
    H: FloatArray, a: CameraObs, b: CameraObs, ia: NDArray, ib: NDArray
) -> FloatArray:
    """Symmetric foot transfer error (box heights) of candidates (ia, ib), with
    boxes cut by the bottom, left or right border treated as feet somewhere
    beyond it."""
    try:
        Hi = np.linalg.inv(H)
    except np.linalg.LinAlgError:
        return np.full(len(ia), np.inf)
    e_ab, e_ba = _one_way(H, a, b, ia, ib), _one_way(Hi, b, a, ib, ia)
    # a cut source foot is not where the person stands: trust the other direction
    cut_a, cut_b = a.truncated[ia], b.truncated[ib]
    e = np.maximum(np.where(cut_a, 0.0, e_ab), np.where(cut_b, 0.0, e_ba))
    return np.where(cut_a & cut_b, np.minimum(e_ab, e_ba), e)


def appearance_scores(
    model: AppearanceModel, a: CameraObs, b: CameraObs, ia: NDArray, ib: NDArray
) -> tuple[FloatArray, FloatArray]:
    """Appearance posterior and weight of candidate rows (ia of a, ib of b)."""
    if a.feats is None or b.feats is None:
        return np.zeros(len(ia)), np.zeros(len(ia))
    sims = np.einsum("ij,ij->i", a.feats[ia], b.feats[ib])
    return model.posterior(sims), np.full(len(ia), model.weight)


def pair_scores(
    cues: Cues, a: CameraObs, b: CameraObs, ia: NDArray, ib: NDArray
) -> tuple[FloatArray, FloatArray]:
    """Fused score and evidence weight of candidates (ia, ib) of cameras (a, b).

    Where geometry gives a candidate weight, appearance joins it with its
    fusion weight and the harder clip; where it gives none (a pair or window
    switched off), appearance decides alone, as with ``--cues appearance``,
    with the weight its own check gives it (``AppearanceModel.alone_weight``):
    the weight calibrated on geometry's decisions says nothing about
    appearance where geometry decides nothing.

    Returns
    -------
    score : (M,) the active cues' scores fused as weighted log-odds
    weight : (M,) the largest active cue weight (0 = no evidence)
    """
    num = np.zeros(len(ia))
    wsum = np.zeros(len(ia))
    wmax = np.zeros(len(ia))
    parts: list[tuple[FloatArray, FloatArray, float | FloatArray]] = []
    if cues.geometry is not None and (a.name, b.name) in cues.geometry:
        g = cues.geometry[(a.name, b.name)]
        parts.append((*geometry_scores(g, a, b, ia, ib, cues.gate_scale), SCORE_CLIP))
    if cues.appearance is not None:
        s, w = appearance_scores(cues.appearance, a, b, ia, ib)
        if parts:
            alone = parts[0][1] <= 0
            w = np.where(alone, cues.appearance.weight_alone * (w > 0), w)
            parts.append((s, w, np.where(alone, SCORE_CLIP, APPEARANCE_CLIP)))
        else:
            parts.append((s, w, SCORE_CLIP))
    for s, w, clip in parts:
        p = np.clip(s, clip, 1.0 - clip)
        num += w * np.log(p / (1.0 - p))
        wsum += w
        wmax = np.maximum(wmax, w)
    fused = np.where(wsum > 0, 1.0 / (1.0 + np.exp(-num)), 0.0)
    return fused, wmax


def frame_matches(
    frames: NDArray[np.int64], ia: NDArray[np.int64], ib: NDArray[np.int64], score: FloatArray
) -> NDArray[np.bool_]:
    """(M,) which candidates one Hungarian matching per frame keeps (score > 0.5).

    Candidates must be grouped by frame (as :func:`candidates` returns them).
    """
    matched = np.zeros(len(ia), bool)
    if len(ia) == 0:
        return matched
    starts = np.flatnonzero(np.r_[True, frames[1:] != frames[:-1]])
    ends = np.r_[starts[1:], len(ia)]
    gain = score - 0.5
    for s, e in zip(starts, ends, strict=True):
        ua, ra = np.unique(ia[s:e], return_inverse=True)
        ub, rb = np.unique(ib[s:e], return_inverse=True)
        if len(ua) == 1 or len(ub) == 1:
            k = s + int(np.argmax(gain[s:e]))
            matched[k] = gain[k] > 0
            continue
        m = np.zeros((len(ua), len(ub)))
        m[ra, rb] = np.maximum(gain[s:e], 0.0)
        r, c = linear_sum_assignment(-m)
        lookup = np.full((len(ua), len(ub)), -1, np.int64)
        lookup[ra, rb] = np.arange(s, e)
        k = lookup[r, c]
        k = k[(k >= 0)]
        matched[k[gain[k] > 0]] = True
    return matched


@dataclass(frozen=True)
class PairMatches:
    """The per-frame matching of cameras (i, j): M same-frame candidate rows.

    Attributes
    ----------
    i, j : camera indices
    ia, ib : (M,) rows of camera i and camera j
    weight : (M,) evidence weight (0 = no cue for this pair at that frame)
    hit : (M,) kept by that frame's Hungarian matching
    """

    i: int
    j: int
    ia: NDArray[np.int64]
    ib: NDArray[np.int64]
    weight: FloatArray
    hit: NDArray[np.bool_]


def pair_matches(obs: list[CameraObs], cues: Cues) -> list[PairMatches]:
    """Per-frame Hungarian matching of every camera pair over all frames."""
    out = []
    for i, j, c in camera_pair_candidates(obs):
        score, weight = pair_scores(cues, obs[i], obs[j], c.ia, c.ib)
        hit = frame_matches(c.frames, c.ia, c.ib, np.where(weight > 0, score, 0.0))
        out.append(PairMatches(i, j, c.ia, c.ib, weight, hit))
    return out


def aggregate_votes(
    matches: list[PairMatches], tix: list[NDArray[np.int64]], n_tracklets: int
) -> tuple[FloatArray, FloatArray]:
    """Per-frame matches summed per tracklet pair.

    Parameters
    ----------
    matches : from :func:`pair_matches`
    tix : per camera, (N_c,) the global tracklet index of each row
    n_tracklets : T

    Returns
    -------
    matched : (T, T) symmetric, weighted count of frames two tracklets were matched
    common : (T, T) symmetric, weighted count of frames they co-occurred
    """
    matched = np.zeros((n_tracklets, n_tracklets))
    common = np.zeros((n_tracklets, n_tracklets))
    for m in matches:
        ta, tb = tix[m.i][m.ia], tix[m.j][m.ib]
        np.add.at(common, (ta, tb), m.weight)
        np.add.at(matched, (ta, tb), m.weight * m.hit)
    return matched + matched.T, common + common.T


def tracklet_votes(
    obs: list[CameraObs], tix: list[NDArray[np.int64]], n_tracklets: int, cues: Cues
) -> tuple[FloatArray, FloatArray]:
    """:func:`pair_matches` aggregated by :func:`aggregate_votes`."""
    return aggregate_votes(pair_matches(obs, cues), tix, n_tracklets)
