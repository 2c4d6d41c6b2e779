"""The appearance cue of cross-view association: how far the features can be trusted.

A two-component Gaussian mixture over the scene's own cross-view
similarities (:class:`AppearanceModel`) turns a cosine similarity into the
posterior of 'same person'. Its weight comes from the mixture's separation
and from the pairs it calls 'same' among pairs known to be different people
(two tracklets of one camera at one instant); offline with geometry, from
its agreement with geometry-only association (:func:`geometry_agreement`),
where geometry decides. The similarity samples these are fitted on are here
too; :mod:`mcmot.association.affinity` uses the model per candidate.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from mcmot.association.data import CameraObs, frame_pairs
from mcmot.association.homography import Candidates, candidates

FloatArray = NDArray[np.float64]

#: An appearance model that calls this share of known-different pairs 'same' gets
#: weight 0 (the weight falls linearly from 1 at no such mistakes).
MAX_FALSE_MATCH_RATE = 0.2

#: Fewest tracklet pairs of each kind ('same', 'different') that geometry's
#: decisions must give before they calibrate the appearance weight.
MIN_PSEUDO_PAIRS = 3


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
