"""Cross-view affinities: per-frame detection similarities, tracklet-level votes.

For every camera pair and every synchronized frame, each detection of one
view is scored against each detection of the other (the paper's 'aggressive'
pairwise matching):

- geometry: the symmetric foot-point transfer error ``e`` (box heights) under
  the pair's homography, turned into a score ``1 / (1 + (e / gate)^4)`` that is
  0.5 at the pair's data-calibrated gate;
- appearance: the cosine similarity of the view-agnostic features, turned into
  the posterior of 'same person' under a two-component Gaussian mixture fitted
  to the scene's own cross-view similarities (:class:`AppearanceModel`);
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

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from mcmot.assignment import linear_sum_assignment
from mcmot.association.data import CameraObs, frame_pairs
from mcmot.association.geometry import PairGeometry
from mcmot.association.homography import Candidates, candidates, transfer

FloatArray = NDArray[np.float64]

#: An appearance model that calls this share of known-different pairs 'same' gets
#: weight 0 (the weight falls linearly from 1 at no such mistakes).
MAX_FALSE_MATCH_RATE = 0.2

#: Fewest tracklet pairs of each kind ('same', 'different') that geometry's
#: decisions must give before they calibrate the appearance weight.
MIN_PSEUDO_PAIRS = 3

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


# ---------------------------------------------------------------- appearance model
@dataclass(frozen=True)
class AppearanceModel:
    """Two Gaussians over cosine similarity: 'different' (0) and 'same' (1)
    (fitted with one shared variance, so the posterior is logistic).

    Attributes
    ----------
    mu : (2,) means; sigma : (2,) standard deviations; prior : (2,) weights
    separation : d' = (mu1 - mu0) / sqrt((s0^2 + s1^2) / 2)
    weight : appearance weight in fusion, ``min(1, separation / full_separation)
        * (1 - false_match_rate / MAX_FALSE_MATCH_RATE)`` (at least 0)
    false_match_rate : share of pairs known to be different people (two
        tracklets of one camera at one instant) that the model calls 'same';
        None when the scene has none
    agreement : d' of the similarities of tracklet pairs that geometry alone
        put in one identity against pairs it kept apart (and the known-different
        pairs); when given, it sets ``weight`` (see :func:`agreement_weight`)
    alone_weight : the weight of appearance where it decides alone (candidates
        to which geometry gives no weight): the mixture's own check, which
        :func:`agreement_weight` leaves in place; None = ``weight``
    """

    mu: tuple[float, float]
    sigma: tuple[float, float]
    prior: tuple[float, float]
    separation: float
    weight: float
    false_match_rate: float | None = None
    agreement: float | None = None
    alone_weight: float | None = None

    @property
    def weight_alone(self) -> float:
        """The weight appearance decides with where geometry gives no weight."""
        return self.weight if self.alone_weight is None else self.alone_weight

    def posterior(self, sim: FloatArray) -> FloatArray:
        """P(same person | cosine similarity), elementwise."""
        mu, sd, pr = (np.asarray(x) for x in (self.mu, self.sigma, self.prior))
        sim = np.asarray(sim, np.float64)
        logp = [np.log(pr[k]) - np.log(sd[k]) - 0.5 * ((sim - mu[k]) / sd[k]) ** 2 for k in (0, 1)]
        post = 1.0 / (1.0 + np.exp(np.clip(logp[0] - logp[1], -50, 50)))
        # beyond the 'same' mean a higher similarity never lowers the posterior
        return np.where(sim >= mu[1], np.maximum(post, 0.5), post)

    @property
    def threshold(self) -> float:
        """The similarity where the posterior crosses 0.5 (between the means)."""
        grid = np.linspace(self.mu[0], self.mu[1], 512)
        post = self.posterior(grid)
        return float(grid[np.argmax(post >= 0.5)]) if (post >= 0.5).any() else self.mu[1]


def fit_appearance_model(
    sims: FloatArray,
    full_separation: float,
    iters: int = 100,
    negatives: FloatArray | None = None,
) -> AppearanceModel:
    """EM for a two-Gaussian mixture with one shared variance on (M,) similarities.

    Starts from the 25th and 99th percentiles (most same-instant pairs of
    views are different people); the component with the higher mean is
    'same'. The shared standard deviation is floored at 1e-3.

    ``negatives`` are similarities of pairs known to be different people
    (label-free: two tracklets of one camera at one instant); the share of
    them the model would call 'same' lowers the appearance weight. Mixture
    modes alone cannot tell whether the features separate people or
    something else (pose, lighting, view).
    """
    x = np.asarray(sims, np.float64)
    if len(x) < 4 or np.ptp(x) < 1e-6:
        return AppearanceModel((0.0, 1.0), (0.1, 0.1), (0.5, 0.5), 0.0, 0.0)
    mu = np.percentile(x, [25, 99]).astype(np.float64)
    sd = np.full(2, max(np.std(x) / 2, 1e-3))
    pr = np.array([0.8, 0.2])
    for _ in range(iters):
        logp = np.log(pr) - np.log(sd) - 0.5 * ((x[:, None] - mu) / sd) ** 2
        logp -= logp.max(axis=1, keepdims=True)
        r = np.exp(logp)
        r /= r.sum(axis=1, keepdims=True)
        nk = r.sum(axis=0) + 1e-9
        new_mu = (r * x[:, None]).sum(axis=0) / nk
        # one shared variance: the posterior is then logistic in the similarity
        # (monotone, no collapse between a narrow and a wide mode)
        sd = np.full(2, np.sqrt((r * (x[:, None] - new_mu) ** 2).sum() / len(x)).clip(1e-3))
        pr = (nk / nk.sum()).clip(1e-6)
        if np.allclose(new_mu, mu, atol=1e-7):
            mu = new_mu
            break
        mu = new_mu
    if mu[0] > mu[1]:
        mu, sd, pr = mu[::-1], sd[::-1], pr[::-1]
    sep = float((mu[1] - mu[0]) / np.sqrt((sd[0] ** 2 + sd[1] ** 2) / 2))
    weight = float(np.clip(sep / full_separation, 0.0, 1.0))
    model = AppearanceModel(
        (float(mu[0]), float(mu[1])), (float(sd[0]), float(sd[1])), (float(pr[0]), float(pr[1])),
        sep, weight,
    )  # fmt: skip
    if negatives is None or len(negatives) == 0:
        return model
    fmr = float(np.mean(model.posterior(np.asarray(negatives)) > 0.5))
    weight *= float(np.clip(1.0 - fmr / MAX_FALSE_MATCH_RATE, 0.0, 1.0))
    return replace(model, weight=weight, false_match_rate=fmr)


def separation(pos: FloatArray, neg: FloatArray) -> float:
    """d' of two samples: difference of means over the root mean variance."""
    sd = np.sqrt((np.var(pos) + np.var(neg)) / 2)
    return float((np.mean(pos) - np.mean(neg)) / max(sd, 1e-6))


def geometry_agreement(
    obs: list[CameraObs], geo_ids: list[NDArray[np.int64]]
) -> tuple[float, int, int] | None:
    """How well appearance agrees with the identities geometry alone gave.

    Co-training without labels: every co-occurring cross-camera tracklet pair
    is 'same' when most of its common frames carry one geometric identity,
    else 'different'; the tracklet pairs of one camera that share a frame are
    'different' by construction. The view-agnostic similarity should separate
    the two; the separation d' measures how far appearance can be trusted
    where geometry is unsure. Unlike the mixture's false-match rate, it does
    not depend on where the mixture puts its threshold: it looks at the
    ranking, which is what the per-frame one-to-one matching uses.

    Parameters
    ----------
    obs : per camera, observations with tracklet-smoothed features
        (:func:`mcmot.association.smoothing.smooth_features`)
    geo_ids : per camera, (N_c,) the identity geometry-only association gave each row

    Returns
    -------
    (d', same pairs, different pairs), or None when either kind has fewer
    than ``MIN_PSEUDO_PAIRS`` pairs
    """
    same, diff = [], [known_negative_similarities(obs)]
    for i, j, c in camera_pair_candidates(obs, with_features=True):
        agree = (geo_ids[i][c.ia] == geo_ids[j][c.ib]).astype(np.float64)
        _, first, inv = np.unique(
            np.stack([c.ta, c.tb], axis=1), axis=0, return_index=True, return_inverse=True
        )
        inv = inv.ravel()
        votes = np.bincount(inv, weights=agree, minlength=len(first))
        total = np.bincount(inv, minlength=len(first))
        sims = np.einsum("ij,ij->i", obs[i].feats[c.ia[first]], obs[j].feats[c.ib[first]])
        is_same = votes > total / 2
        same.append(sims[is_same])
        diff.append(sims[~is_same])
    pos, neg = np.concatenate(same) if same else np.zeros(0), np.concatenate(diff)
    if len(pos) < MIN_PSEUDO_PAIRS or len(neg) < MIN_PSEUDO_PAIRS:
        return None
    return separation(pos, neg), len(pos), len(neg)


def agreement_weight(
    model: AppearanceModel, agreement: float, full_separation: float
) -> AppearanceModel:
    """``model`` with its weight set by its agreement with geometry:
    ``min(1, max(0, d') / full_separation)``. The agreement is measured where
    geometry decides, so it sets appearance's weight there only; where
    appearance decides alone, the mixture's own check stays (``alone_weight``)."""
    weight = float(np.clip(agreement / full_separation, 0.0, 1.0))
    return replace(model, weight=weight, agreement=agreement, alone_weight=model.weight_alone)


def camera_pair_candidates(
    obs: list[CameraObs], *, with_features: bool = False
) -> Iterator[tuple[int, int, Candidates]]:
    """Same-frame candidate pairs of every camera pair ``i < j``, empty ones skipped.

    With ``with_features``, pairs where either camera has no features are skipped too.
    """
    for i in range(len(obs)):
        for j in range(i + 1, len(obs)):
            a, b = obs[i], obs[j]
            if with_features and (a.feats is None or b.feats is None):
                continue
            c = candidates(a, b, usable=False)
            if len(c):
                yield i, j, c


def cross_view_similarities(obs: list[CameraObs], limit: int, seed: int = 0) -> FloatArray:
    """Cosine similarities of same-frame detection pairs of different cameras
    (at most ``limit``, subsampled at random)."""
    rng = np.random.default_rng(seed)
    out = []
    for i, j, c in camera_pair_candidates(obs, with_features=True):
        if len(c) > limit:
            c = c.subset(np.sort(rng.choice(len(c), limit, replace=False)))
        out.append(np.einsum("ij,ij->i", obs[i].feats[c.ia], obs[j].feats[c.ib]))
    if not out:
        return np.zeros(0)
    x = np.concatenate(out)
    return x if len(x) <= limit else rng.choice(x, limit, replace=False)


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


# ---------------------------------------------------------------- tracklet similarity samples
def tracklet_similarities(obs: list[CameraObs]) -> FloatArray:
    """Similarities of every co-occurring cross-camera tracklet pair (one value per
    pair), from features already smoothed by :func:`mcmot.association.smoothing.smooth_features`."""
    out = []
    for i, j, c in camera_pair_candidates(obs, with_features=True):
        _, first = np.unique(np.stack([c.ta, c.tb], axis=1), axis=0, return_index=True)
        out.append(np.einsum("ij,ij->i", obs[i].feats[c.ia[first]], obs[j].feats[c.ib[first]]))
    return np.concatenate(out) if out else np.zeros(0)


def known_negative_similarities(obs: list[CameraObs]) -> FloatArray:
    """Similarities of tracklet pairs of one camera that share a frame (one value
    per pair): different people by construction, no labels needed. Features
    must be smoothed by :func:`mcmot.association.smoothing.smooth_features`."""
    out = []
    for o in obs:
        if o.feats is None or len(o) == 0:
            continue
        ia, ib = frame_pairs(o.frames, o.frames)
        keep = o.tids[ia] < o.tids[ib]
        ia, ib = ia[keep], ib[keep]
        if len(ia) == 0:
            continue
        pairs = np.stack([o.tids[ia], o.tids[ib]], axis=1)
        _, first = np.unique(pairs, axis=0, return_index=True)
        out.append(np.einsum("ij,ij->i", o.feats[ia[first]], o.feats[ib[first]]))
    return np.concatenate(out) if out else np.zeros(0)
