"""Calibration-free cross-view geometry learned from synchronization.

For each camera pair (a, b) a ground-plane homography ``H`` maps a person's
foot point (the bottom centre of the box) in a to the same person's foot point
in b. Nothing but the scene's own synchronized boxes is used: no identities,
no camera parameters. People stand on one floor, so their feet at one instant
are images of ground-plane points seen by both cameras; among all same-instant
pairs of feet, the true correspondences are the ones that one homography
explains.

Fitting (:func:`fit_pair`)
    1. Candidates: every pair of feet of the same frame, boxes cut off by the
       image border left out.
    2. Vectorised RANSAC: thousands of 4-point hypotheses at once (batched
       DLT), half drawn uniformly, half guided by tracklets (two points from
       each of two co-occurring tracklet pairs, so a hypothesis is right when
       two tracklet pairs are). Hypotheses that flip orientation (impossible
       for two cameras above one floor) or are near-degenerate are dropped.
       Each is scored on a subsample (MSAC, each foot counted once), the best
       few on all candidates.
    3. Refinement: one-to-one inliers per frame, least-squares refit, repeated.
    Errors are measured in units of the box height in the target view
    (symmetric: the larger of both directions), so one threshold fits near
    and far people.

Quality (:class:`PairQuality`)
    inlier rate (matches found over matches possible), median transfer error,
    and the synchronization gap: the matching cost at the true instant against
    the cost when one view is shifted by 5 to 20 frames (Self-MVA's pretext
    signal). A right homography explains the true instant much better than a
    shifted one; a pair without overlap, or a moving camera, does not. The
    pair's weight in association grows with that gap.

Moving cameras
    Unless cameras are declared static, the gap is also measured per window of
    frames; when the whole-sequence homography fails in some windows, the pair
    is refitted per window and each window gets its own weight (a window
    that no homography explains is switched off).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from mcmot.association.data import CameraObs, frame_pairs
from mcmot.atomic import write_json
from mcmot.errors import McmotError
from mcmot.progress import ProgressCallback, ProgressEvent

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class GeometryConfig:
    """Parameters of geometry fitting (defaults in brackets).

    Attributes
    ----------
    inlier_threshold : RANSAC inlier threshold on the transfer error, in box
        heights of the target view [0.25]; people closer than a quarter of
        their height share a floor spot only when they touch
    hypotheses : number of RANSAC hypotheses [6000]
    guided_fraction : share of hypotheses sampled from tracklet pairs [0.5]
    prescore_candidates : candidates used to pre-score all hypotheses [1000]
    finalists : best pre-scored hypotheses that are refined; the one with
        the most one-to-one matches is refined on all candidates [32]. The
        budget (6000 / 1000 / 32 rather than 3000 / 4000 / 8) comes from
        benchmarks/bench_geometry_synth.py: fewer pairs land in a wrong
        basin for some random seed (6 of 78 development pairs rather than
        11) at about the same cost (docs/association.md)
    refine_iterations : rounds of inlier matching and least-squares refit [3]
    max_frames : frames used for fitting (evenly subsampled beyond) [1500]
    min_matches : fewer one-to-one inliers than this = no geometry [12]
    sync_shifts : time shifts (seconds) used for the synchronization gap; empty
        = chosen by motion [()]: the ``sync_shift_count`` shifts at which the
        most feet of the pair have moved at least ``sync_min_motion`` (so the
        test works whether people cross the frame in a second or take a
        minute, at 2 or 30 frames/s)
    sync_shift_count : shifts chosen by motion [4]
    sync_min_motion : only feet whose person moves at least this many box
        heights by the shifted instant count in the gap [0.5]; a pair with
        fewer than ``min_matches`` such feet cannot be tested and is left to
        appearance
    min_excess : support at the true instant minus at shifted ones below this
        switches the pair off [0.08]: a homography fitted to chance
        coincidences of unrelated views explains few moving feet (excess
        0.00-0.09 measured), the true PETS09 pairs 0.29-0.67; persistence
        catches the chance fits between 0.08 and 0.15, which used to switch
        off right pairs of small overlap
    full_trust_gap : a gap at or above this gives weight 1 [0.7]
    min_persistence, full_persistence : the weight is also 0 below a
        persistence of ``min_persistence`` and rises to full at
        ``full_persistence`` [0.5, 0.6]. Persistence is the share of the
        frames in which two tracklets the homography pairs are both seen
        that it pairs them in: a true correspondence lasts as long as both
        cameras see the person, a chance coincidence does not (development
        scenes, hard: most wrong fits 0.39-0.56, right ones 0.50-1.0). Not
        applied to the windows of moving cameras: within a few seconds a
        chance coincidence of a slow group lasts too
    min_gap : a gap below this switches the pair (or window) off [0.5]; the
        true pairs of PETS09 reach 0.96-0.99, a homography fitted to chance
        coincidences of unrelated toy views 0.04-0.77 (it was chosen to
        explain the true instant), hence also ``min_excess``
    windows : window lengths (seconds) tried for moving cameras [2, 5, 15];
        each window's homography is fitted on half its frames and scored on
        the other half, and the length whose windows explain the held-out
        frames best is kept (label-free; lengths giving more than
        ``max_windows`` windows or fewer than 2 are skipped)
    max_windows : most windows per pair [24]
    border_margin : pixels from the border within which a box is cut off [3.0]
    seed : random seed of the sampling [0]
    """

    inlier_threshold: float = 0.25
    hypotheses: int = 6000
    guided_fraction: float = 0.5
    prescore_candidates: int = 1000
    finalists: int = 32
    refine_iterations: int = 3
    max_frames: int = 1500
    min_matches: int = 12
    sync_shifts: tuple[float, ...] = ()
    sync_shift_count: int = 4
    sync_min_motion: float = 0.5
    min_excess: float = 0.08
    full_trust_gap: float = 0.7
    min_persistence: float = 0.5
    full_persistence: float = 0.6
    min_gap: float = 0.5
    windows: tuple[float, ...] = (2.0, 5.0, 15.0)
    max_windows: int = 24
    border_margin: float = 3.0
    seed: int = 0


#: GeometryConfig fields that must be positive integers.
_POSITIVE_INTS = (
    "hypotheses", "prescore_candidates", "finalists", "refine_iterations", "max_frames",
    "min_matches", "sync_shift_count", "max_windows",
)  # fmt: skip
#: GeometryConfig fields that must be positive numbers.
_POSITIVE_FLOATS = ("inlier_threshold", "full_trust_gap")


def check_geometry_config(cfg: GeometryConfig) -> None:
    """Raise :class:`McmotError` (one line) for a value fitting cannot use."""
    for name in _POSITIVE_INTS:
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise McmotError(f"geometry {name} must be a positive integer, got {v!r}")
    for name in _POSITIVE_FLOATS:
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int | float) or not v > 0:
            raise McmotError(f"geometry {name} must be a positive number, got {v!r}")
    g = cfg.guided_fraction
    if isinstance(g, bool) or not isinstance(g, int | float) or not 0.0 <= g <= 1.0:
        raise McmotError(f"geometry guided_fraction must be in [0, 1], got {g!r}")
    for name in ("seed", "min_excess", "min_gap", "sync_min_motion", "border_margin"):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise McmotError(f"geometry {name} must be a number, got {v!r}")
    for name, empty_ok in (("sync_shifts", True), ("windows", False)):
        v = getattr(cfg, name)
        if (
            not isinstance(v, tuple)
            or (not v and not empty_ok)
            or not all(_positive_number(x) for x in v)
        ):
            raise McmotError(
                f"geometry {name} must be a tuple of positive durations in seconds "
                f"(e.g. {name}=1,2.5), got {v!r}"
            )
    for name in ("min_persistence", "full_persistence"):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1:
            raise McmotError(f"geometry {name} must be in [0, 1], got {v!r}")
    if cfg.min_persistence > cfg.full_persistence:
        raise McmotError(
            f"geometry min_persistence ({cfg.min_persistence}) must not exceed "
            f"full_persistence ({cfg.full_persistence})"
        )
    if cfg.min_gap > cfg.full_trust_gap:
        raise McmotError(
            f"geometry min_gap ({cfg.min_gap}) must not exceed full_trust_gap "
            f"({cfg.full_trust_gap})"
        )


def _positive_number(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, int | float) and bool(np.isfinite(x)) and x > 0


@dataclass(frozen=True)
class PairQuality:
    """How well one homography explains a camera pair (or one window of it).

    Attributes
    ----------
    frames : frames in which both cameras have usable feet
    candidates : same-instant foot pairs
    matches : one-to-one inlier matches
    inlier_rate : matches / matches possible (sum over frames of the smaller count)
    median_error : median transfer error of the matches, in box heights
    gate : the error below which a pair of feet counts as one person
        (3 robust standard deviations of the matches' errors, at most the
        RANSAC threshold)
    support_sync : matching support at the true instant (1 = every foot has an
        exact partner, 0 = none has one within the threshold)
    support_shifted : the same with one view shifted, averaged over the shifts
    sync_gap : 1 - support_shifted / support_sync
    persistence : of the frames in which two tracklets the homography pairs
        are both seen, the share it pairs them in
    moving_feet : feet that moved enough by the shifted instants to test
        synchronization (summed over the shifts)
    shifts : the frame shifts the test used
    weight : the pair's weight for association in [0, 1]
    reason : why the pair is trusted, down-weighted or switched off
    """

    frames: int = 0
    candidates: int = 0
    matches: int = 0
    inlier_rate: float = 0.0
    median_error: float = float("nan")
    gate: float = 0.0
    support_sync: float = 0.0
    support_shifted: float = 0.0
    sync_gap: float = 0.0
    persistence: float = 0.0
    moving_feet: int = 0
    shifts: tuple[int, ...] = ()
    weight: float = 0.0
    reason: str = "off: no homography found"


@dataclass(frozen=True)
class WindowFit:
    """A homography valid for frames ``start..end`` of a pair."""

    start: int
    end: int
    H: FloatArray
    quality: PairQuality


@dataclass(frozen=True)
class PairGeometry:
    """The fitted geometry of cameras (a, b): ``H`` maps a's feet to b's.

    ``windows`` is empty for a static pair; otherwise it covers the frames and
    each window's own homography and weight replace the global ones.
    """

    a: str
    b: str
    H: FloatArray
    quality: PairQuality
    moving: bool = False
    windows: tuple[WindowFit, ...] = field(default_factory=tuple)

    def why(self) -> str:
        """One line: why association trusts the pair, or does not."""
        if not self.windows:
            return self.quality.reason
        trusted = sum(w.quality.weight > 0 for w in self.windows)
        size = self.windows[0].end - self.windows[0].start + 1
        return f"moving: {trusted}/{len(self.windows)} windows of {size} frames trusted"

    def segments(self) -> list[tuple[int, int, FloatArray, PairQuality]]:
        """(start, end, H, quality) pieces covering the pair's frames."""
        if not self.windows:
            return [(-(2**62), 2**62, self.H, self.quality)]
        return [(w.start, w.end, w.H, w.quality) for w in self.windows]


# ---------------------------------------------------------------- homography algebra
def transfer(H: FloatArray, pts: FloatArray) -> FloatArray:
    """Apply (3, 3) ``H`` to (N, 2) points; points sent behind the camera become inf
    (and so do points that were inf already, as a chain of transfers makes them)."""
    finite = np.isfinite(pts).all(axis=1)
    x, y = np.where(finite, pts[:, 0], 0.0), np.where(finite, pts[:, 1], 0.0)
    w = H[2, 0] * x + H[2, 1] * y + H[2, 2]
    ok = (w > 1e-12) & finite
    safe = np.where(ok, w, 1.0)
    u = np.where(ok, (H[0, 0] * x + H[0, 1] * y + H[0, 2]) / safe, np.inf)
    v = np.where(ok, (H[1, 0] * x + H[1, 1] * y + H[1, 2]) / safe, np.inf)
    return np.stack([u, v], axis=1)


def _norm_matrix(pts: FloatArray) -> FloatArray:
    """Hartley normalisation: centre on the mean, mean distance sqrt(2)."""
    c = pts.mean(axis=0)
    d = np.sqrt(((pts - c) ** 2).sum(axis=1)).mean()
    s = np.sqrt(2.0) / max(d, 1e-9)
    return np.array([[s, 0, -s * c[0]], [0, s, -s * c[1]], [0, 0, 1.0]])


def dlt_batch(pa: FloatArray, pb: FloatArray) -> FloatArray:
    """Homographies from K sets of 4 correspondences (batched DLT).

    Parameters
    ----------
    pa, pb : (K, 4, 2) points (already normalised for conditioning)

    Returns
    -------
    (K, 3, 3) homographies mapping pa to pb, signed so that the sample points get w > 0.
    """
    k = pa.shape[0]
    x, y = pa[..., 0], pa[..., 1]
    u, v = pb[..., 0], pb[..., 1]
    z, o = np.zeros_like(x), np.ones_like(x)
    r1 = np.stack([-x, -y, -o, z, z, z, u * x, u * y, u], axis=-1)
    r2 = np.stack([z, z, z, -x, -y, -o, v * x, v * y, v], axis=-1)
    A = np.concatenate([r1, r2], axis=1)  # (K, 8, 9)
    _, _, vt = np.linalg.svd(A)
    H = vt[:, -1, :].reshape(k, 3, 3)
    w = H[:, 2, 0, None] * x + H[:, 2, 1, None] * y + H[:, 2, 2, None]
    sign = np.where(w.sum(axis=1) < 0, -1.0, 1.0)
    return H * sign[:, None, None]


def front_ok(H: FloatArray, pa: FloatArray) -> NDArray[np.bool_]:
    """(K,) hypotheses that send all four sample points (K, 4, 2) in front (w > 0)."""
    w = H[:, 2, 0, None] * pa[..., 0] + H[:, 2, 1, None] * pa[..., 1] + H[:, 2, 2, None]
    return np.all(w > 0, axis=1)


def _signed_areas(p: FloatArray) -> FloatArray:
    """(K, 4) signed areas of the four triangles of (K, 4, 2) point quadruples."""
    tri = ((0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3))
    out = []
    for i, j, k in tri:
        a, b, c = p[:, i], p[:, j], p[:, k]
        ab, ac = b - a, c - a
        out.append(ab[:, 0] * ac[:, 1] - ab[:, 1] * ac[:, 0])
    return np.stack(out, axis=1)


def sample_ok(pa: FloatArray, pb: FloatArray, min_area: float = 1e-3) -> NDArray[np.bool_]:
    """(K,) samples that keep orientation and are not near-collinear.

    Two cameras above one floor see it from the same side, so the homography
    between their images preserves orientation: every triangle of the sample
    keeps the sign of its area. ``min_area`` is in normalised coordinates.
    """
    sa, sb = _signed_areas(pa), _signed_areas(pb)
    same = np.all(np.sign(sa) == np.sign(sb), axis=1)
    big = np.all(np.abs(sa) > min_area, axis=1) & np.all(np.abs(sb) > min_area, axis=1)
    return same & big


def refit(pa: FloatArray, pb: FloatArray) -> FloatArray | None:
    """Least-squares homography (DLT + Levenberg-Marquardt) from >= 4 matches."""
    if len(pa) < 4:
        return None
    H, _ = cv2.findHomography(pa.astype(np.float64), pb.astype(np.float64), 0)
    if H is None or not np.all(np.isfinite(H)):
        return None
    return orient(H, pa)


def orient(H: FloatArray, pts: FloatArray) -> FloatArray:
    """``H`` scaled so that most of ``pts`` get a positive homogeneous coordinate
    (the sign convention under which points with w <= 0 lie beyond the horizon)."""
    w = pts @ H[2, :2] + H[2, 2]
    H = H / np.abs(H).max()
    return -H if np.median(w) < 0 else H


# ---------------------------------------------------------------- errors
def pair_errors(
    H: FloatArray, pa: FloatArray, pb: FloatArray, ha: FloatArray, hb: FloatArray
) -> FloatArray:
    """Symmetric transfer error of (M,) foot pairs, in box heights.

    ``max(|H pa - pb| / hb, |H^-1 pb - pa| / ha)``; inf where a point maps
    behind a camera or ``H`` is singular.
    """
    try:
        Hi = np.linalg.inv(H)
    except np.linalg.LinAlgError:
        return np.full(len(pa), np.inf)
    e_ab = np.linalg.norm(transfer(H, pa) - pb, axis=1) / hb
    e_ba = np.linalg.norm(transfer(Hi, pb) - pa, axis=1) / ha
    e = np.maximum(e_ab, e_ba)
    return np.where(np.isfinite(e), e, np.inf)


def _batch_errors(
    Hs: FloatArray, pa: FloatArray, pb: FloatArray, ha: FloatArray, hb: FloatArray
) -> FloatArray:
    """(K, M) symmetric errors of M candidates under K homographies."""
    det = np.linalg.det(Hs)
    Hs = np.where(np.abs(det)[:, None, None] > 1e-15, Hs, np.eye(3) * 1e-30)
    His = np.linalg.inv(Hs)
    pa_h = np.concatenate([pa, np.ones((len(pa), 1))], axis=1)
    pb_h = np.concatenate([pb, np.ones((len(pb), 1))], axis=1)
    out = []
    for H, P, Q, hq in ((Hs, pa_h, pb, hb), (His, pb_h, pa, ha)):
        t = np.einsum("kij,mj->kmi", H, P)
        w = t[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.hypot(t[..., 0] / w - Q[:, 0], t[..., 1] / w - Q[:, 1]) / hq
        out.append(np.where(w > 1e-12, d, np.inf))
    e = np.maximum(out[0], out[1])
    return np.where(np.isfinite(e), e, np.inf)


def _msac_scores(err: FloatArray, group_starts: NDArray[np.int64], tau: float) -> FloatArray:
    """(K,) truncated-quadratic support: each group (one foot of a) counts once."""
    s = np.clip(1.0 - (err / tau) ** 2, 0.0, None)
    if err.shape[1] == 0:
        return np.zeros(err.shape[0])
    return np.maximum.reduceat(s, group_starts, axis=1).sum(axis=1)


# ---------------------------------------------------------------- candidates
@dataclass(frozen=True)
class Candidates:
    """Same-instant foot pairs of cameras (a, b) (M pairs, grouped by a's foot)."""

    ia: NDArray[np.int64]
    ib: NDArray[np.int64]
    pa: FloatArray
    pb: FloatArray
    ha: FloatArray
    hb: FloatArray
    frames: NDArray[np.int64]
    ta: NDArray[np.int64]
    tb: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.ia)

    def subset(self, mask: NDArray) -> Candidates:
        return Candidates(*(getattr(self, f)[mask] for f in self.__dataclass_fields__))


def candidates(a: CameraObs, b: CameraObs, shift: int = 0, *, usable: bool = True) -> Candidates:
    """All pairs of a's feet at frame f and b's feet at frame f + shift.

    ``usable`` leaves out boxes cut off by the border.
    """
    ka = ~a.truncated if usable else np.ones(len(a), bool)
    kb = ~b.truncated if usable else np.ones(len(b), bool)
    ra, rb = np.flatnonzero(ka), np.flatnonzero(kb)
    ia, ib = frame_pairs(a.frames[ra], b.frames[rb], shift)
    ia, ib = ra[ia], rb[ib]
    fa, fb = a.feet, b.feet
    return Candidates(
        ia, ib, fa[ia], fb[ib], a.heights[ia], b.heights[ib], a.frames[ia], a.tids[ia], b.tids[ib]
    )


def _group_starts(ia: NDArray[np.int64]) -> NDArray[np.int64]:
    if len(ia) == 0:
        return np.zeros(0, np.int64)
    return np.flatnonzero(np.r_[True, ia[1:] != ia[:-1]])


# ---------------------------------------------------------------- RANSAC
def _uniform_samples(c: Candidates, k: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """(k, 4) candidate indices: four different feet of a, one candidate each."""
    starts = _group_starts(c.ia)
    sizes = np.diff(np.r_[starts, len(c)])
    g = rng.integers(0, len(starts), size=(k, 4))
    off = np.floor(rng.random((k, 4)) * sizes[g]).astype(np.int64)
    return starts[g] + off


def _guided_samples(c: Candidates, k: int, rng: np.random.Generator) -> NDArray[np.int64] | None:
    """(k', 4) indices: two candidates from each of two tracklet pairs.

    If both tracklet pairs are the same person, the four points are right
    together, which happens far more often than for four independent draws.
    """
    key = c.ta.astype(np.int64) * (int(c.tb.max()) + 1) + c.tb
    order = np.argsort(key, kind="stable")
    uk, starts, sizes = np.unique(key[order], return_index=True, return_counts=True)
    good = sizes >= 2
    if good.sum() < 2:
        return None
    uk, starts, sizes = uk[good], starts[good], sizes[good]
    ta = uk // (int(c.tb.max()) + 1)
    tb = uk % (int(c.tb.max()) + 1)
    p = np.sqrt(sizes) / np.sqrt(sizes).sum()
    g1 = rng.choice(len(uk), k, p=p)
    g2 = rng.choice(len(uk), k, p=p)
    keep = (ta[g1] != ta[g2]) & (tb[g1] != tb[g2])
    g1, g2 = g1[keep], g2[keep]
    if len(g1) == 0:
        return None
    idx = []
    for g in (g1, g1, g2, g2):
        idx.append(starts[g] + np.floor(rng.random(len(g)) * sizes[g]).astype(np.int64))
    return order[np.stack(idx, axis=1)]


def _distinct(rows: NDArray[np.int64]) -> NDArray[np.bool_]:
    """(K,) rows of a (K, 4) array whose four values all differ."""
    s = np.sort(rows, axis=1)
    return np.all(np.diff(s, axis=1) != 0, axis=1)


def _hypotheses(c: Candidates, cfg: GeometryConfig, rng: np.random.Generator) -> FloatArray:
    """(K, 3, 3) pixel-space homographies from random minimal samples."""
    n_groups = len(_group_starts(c.ia))
    n_guided = int(cfg.hypotheses * cfg.guided_fraction)
    parts = []
    g = _guided_samples(c, n_guided, rng)
    if g is not None:
        parts.append(g)
    if n_groups >= 4:
        parts.append(_uniform_samples(c, cfg.hypotheses - sum(len(p) for p in parts), rng))
    if not parts:
        return np.zeros((0, 3, 3))
    idx = np.concatenate(parts)
    Ta, Tb = _norm_matrix(c.pa), _norm_matrix(c.pb)
    na = c.pa @ Ta[:2, :2].T + Ta[:2, 2]
    nb = c.pb @ Tb[:2, :2].T + Tb[:2, 2]
    sa, sb = na[idx], nb[idx]
    ok = sample_ok(sa, sb) & _distinct(c.ia[idx]) & _distinct(c.ib[idx])
    if not ok.any():
        return np.zeros((0, 3, 3))
    Hn = dlt_batch(sa[ok], sb[ok])
    Hn = Hn[front_ok(Hn, sa[ok])]
    return np.linalg.inv(Tb)[None] @ Hn @ Ta[None]


def one_to_one(
    err: FloatArray, ia: NDArray[np.int64], ib: NDArray[np.int64], gate: float
) -> NDArray[np.int64]:
    """Indices of candidates that are mutual nearest neighbours below ``gate``.

    A candidate (i, j) is kept when j is i's closest partner and i is j's
    (ties broken by the first candidate), which makes the kept set one-to-one.
    """
    if len(err) == 0:
        return np.zeros(0, np.int64)
    order = np.lexsort((np.arange(len(err)), err))
    _, first_a = np.unique(ia[order], return_index=True)
    best_a = np.zeros(len(err), bool)
    best_a[order[first_a]] = True
    _, first_b = np.unique(ib[order], return_index=True)
    best_b = np.zeros(len(err), bool)
    best_b[order[first_b]] = True
    return np.flatnonzero(best_a & best_b & (err < gate))


def refine(c: Candidates, H: FloatArray, cfg: GeometryConfig) -> tuple[FloatArray, NDArray]:
    """Alternate one-to-one inlier matching and least-squares refits."""
    keep = np.zeros(0, np.int64)
    for _ in range(cfg.refine_iterations):
        err = pair_errors(H, c.pa, c.pb, c.ha, c.hb)
        keep = one_to_one(err, c.ia, c.ib, cfg.inlier_threshold)
        H2 = refit(c.pa[keep], c.pb[keep]) if len(keep) >= 4 else None
        if H2 is None:
            break
        H = H2
    err = pair_errors(H, c.pa, c.pb, c.ha, c.hb)
    keep = one_to_one(err, c.ia, c.ib, cfg.inlier_threshold)
    return H, keep


def _subsample_frames(a: CameraObs, b: CameraObs, max_frames: int) -> tuple[CameraObs, CameraObs]:
    common = np.intersect1d(a.frames, b.frames)
    if len(common) <= max_frames:
        return a, b
    keep = common[np.linspace(0, len(common) - 1, max_frames).round().astype(int)]
    return _only_frames(a, keep), _only_frames(b, keep)


def _only_frames(o: CameraObs, frames: NDArray[np.int64]) -> CameraObs:
    m = np.isin(o.frames, frames)
    return CameraObs(
        o.name, o.frames[m], o.tids[m], o.boxes[m], o.size, o.truncated[m],
        None if o.feats is None else o.feats[m], o.order[m], o.border_margin,
    )  # fmt: skip


def ransac_homography(
    c: Candidates, cfg: GeometryConfig, rng: np.random.Generator
) -> tuple[FloatArray | None, NDArray[np.int64]]:
    """Best homography of candidates ``c`` and the indices of its matches."""
    if len(_group_starts(c.ia)) < 4:
        return None, np.zeros(0, np.int64)
    Hs = _hypotheses(c, cfg, rng)
    if len(Hs) == 0:
        return None, np.zeros(0, np.int64)
    pre = c
    if len(c) > cfg.prescore_candidates:
        sel = np.sort(rng.choice(len(c), cfg.prescore_candidates, replace=False))
        pre = c.subset(sel)
    starts = _group_starts(pre.ia)
    scores = np.concatenate(
        [
            _msac_scores(
                _batch_errors(Hs[i : i + 64], pre.pa, pre.pb, pre.ha, pre.hb),
                starts,
                cfg.inlier_threshold,
            )
            for i in range(0, len(Hs), 64)
        ]
    )
    best: tuple[float, FloatArray | None] = (-1.0, None)
    for k in np.argsort(-scores)[: cfg.finalists]:
        H, keep = refine(pre, Hs[k], cfg)
        if len(keep) > best[0]:
            best = (float(len(keep)), H)
    if best[1] is None:
        return None, np.zeros(0, np.int64)
    return refine(c, best[1], cfg)


# ---------------------------------------------------------------- quality
def matching_support(c: Candidates, H: FloatArray, tau: float) -> float:
    """Mean over a's feet of the best truncated-quadratic support ``(1 - (e/tau)^2)+``.

    1 when every foot of a has an exact partner in b, 0 when none is within ``tau``.
    """
    if len(c) == 0:
        return 0.0
    err = pair_errors(H, c.pa, c.pb, c.ha, c.hb)
    s = np.clip(1.0 - (err / tau) ** 2, 0.0, None)
    return float(np.maximum.reduceat(s, _group_starts(c.ia)).mean())


def moving_rows(o: CameraObs, shift: int, min_motion: float) -> NDArray[np.bool_]:
    """(N,) rows whose tracklet is seen ``shift`` frames later at least
    ``min_motion`` box heights away (a standing person carries no
    synchronization signal: they look the same at every instant)."""
    if len(o) == 0:
        return np.zeros(0, bool)
    span = int(o.frames.max()) + abs(shift) + 2
    key = o.tids.astype(np.int64) * span + o.frames
    order = np.argsort(key, kind="stable")
    sk = key[order]
    pos = np.clip(np.searchsorted(sk, key + shift), 0, len(sk) - 1)
    found = sk[pos] == key + shift
    other = order[pos]
    moved = np.linalg.norm(o.feet[other] - o.feet, axis=1) / o.heights
    return found & (moved >= min_motion)


def shift_ladder(span: int) -> list[int]:
    """Frame shifts 1, 2, 3, 5, 8, 11, ... (about x1.5 a step) up to half of ``span``."""
    top = max(1, span // 2)
    return sorted({int(round(1.5**k)) for k in range(64) if round(1.5**k) <= top})


def _testable(a: CameraObs, b: CameraObs, rows: NDArray[np.bool_], shift: int) -> NDArray:
    """(N,) rows of a (within ``rows``, not cut by the border) that can be
    compared at the true and the shifted instant: b has usable feet at both."""
    fb = np.unique(b.frames[~b.truncated])
    return rows & ~a.truncated & np.isin(a.frames, fb) & np.isin(a.frames + shift, fb)


def choose_shifts(
    a: CameraObs, b: CameraObs, cfg: GeometryConfig, fps: float, rows: NDArray | None = None
) -> tuple[int, ...]:
    """The frame shifts of the synchronization test.

    ``cfg.sync_shifts`` (seconds) when given; otherwise, among
    :func:`shift_ladder`, the ``sync_shift_count`` shifts at which the most
    feet of a (``rows``, default all) have moved at least ``sync_min_motion``
    box heights and can be compared with b at both instants (ties: the
    smaller shift). Motion, not the frame rate, decides: people who cross the
    view in a second and people who stroll are both tested at the instants
    where they have moved.
    """
    if cfg.sync_shifts:
        return tuple(sorted({max(1, int(round(t * fps))) for t in cfg.sync_shifts}))
    if len(a) == 0 or len(b) == 0:
        return ()
    rows = np.ones(len(a), bool) if rows is None else rows
    lo = max(int(a.frames.min()), int(b.frames.min()))
    hi = min(int(a.frames.max()), int(b.frames.max()))
    counts = []
    for s in shift_ladder(hi - lo):
        n = 0
        for shift in (s, -s):
            keep = moving_rows(a, shift, cfg.sync_min_motion)
            n += int(_testable(a, b, rows & keep, shift).sum())
        counts.append((-n, s))
    best = sorted(counts)[: cfg.sync_shift_count]
    return tuple(sorted(s for n, s in best if n < 0))


def sync_supports(
    a: CameraObs,
    b: CameraObs,
    H: FloatArray,
    cfg: GeometryConfig,
    shifts: tuple[int, ...],
    rows: NDArray[np.bool_] | None = None,
) -> tuple[float, float, int]:
    """Matching support at the true instant and at shifted instants, and the
    number of feet that carried the test.

    For each shift (both signs), only the feet of a (within ``rows``) whose
    person has moved by then (:func:`moving_rows`) are used, at the true
    instant and at the shifted one alike; the supports are averaged over
    shifts, weighted by those feet's number. b's shifted feet may lie outside
    ``rows``' frames (a window is tested against the whole recording).
    """
    rows = np.ones(len(a), bool) if rows is None else rows
    c0 = candidates(a, b, 0)
    num0 = nums = 0.0
    weight = 0
    for s in shifts:
        for shift in (s, -s):
            keep = moving_rows(a, shift, cfg.sync_min_motion) & rows
            if not keep.any():
                continue
            cz = c0.subset(keep[c0.ia])
            cs = candidates(a, b, shift)
            cs = cs.subset(keep[cs.ia])
            if len(cz) == 0 or len(cs) == 0:
                continue
            # only feet that have partners at both instants
            both = np.intersect1d(cz.ia, cs.ia)
            cz, cs = cz.subset(np.isin(cz.ia, both)), cs.subset(np.isin(cs.ia, both))
            n = len(both)
            if n == 0:
                continue
            num0 += n * matching_support(cz, H, cfg.inlier_threshold)
            nums += n * matching_support(cs, H, cfg.inlier_threshold)
            weight += n
    if weight == 0:
        return 0.0, 0.0, 0
    return num0 / weight, nums / weight, weight


def sync_gap(s0: float, shifted: float) -> float:
    """``1 - shifted / s0``: 0 when the true instant is explained no better than a
    shifted one, 1 when shifted instants find no partners at all."""
    return float(max(0.0, 1.0 - shifted / s0)) if s0 > 0 else 0.0


def persistence(c: Candidates, keep: NDArray[np.int64]) -> float:
    """Of the frames in which two tracklets paired by the matches ``keep`` are
    both seen (candidates ``c``), the share in which they are paired."""
    if len(keep) == 0:
        return 0.0
    span = int(max(c.tb.max(), 0)) + 1
    key = c.ta.astype(np.int64) * span + c.tb
    linked = np.unique(key[keep])
    both = np.isin(key, linked).sum()
    return float(len(keep) / both) if both else 0.0


def _ramp(x: float, lo: float, hi: float) -> float:
    """0 below ``lo``, rising linearly to 1 at ``hi``."""
    if x < lo:
        return 0.0
    return float(np.clip((x - lo) / max(hi - lo, 1e-9), 0.0, 1.0))


def trust(
    matches: int, s0: float, ss: float, moving_feet: int, pers: float | None, cfg: GeometryConfig
) -> tuple[float, str]:
    """The weight of a fit and the reason for it: enough matches, a
    synchronization test that moving people passed, and persistent pairs
    (``pers`` None: not judged, as for a window of a moving pair)."""
    gap = sync_gap(s0, ss)
    if matches < cfg.min_matches:
        return 0.0, f"off: too few matches ({matches} < {cfg.min_matches})"
    if moving_feet < cfg.min_matches:
        return 0.0, f"off: too few moving feet to test ({moving_feet}); left to appearance"
    if s0 - ss < cfg.min_excess:
        return 0.0, f"off: little beyond chance (excess {s0 - ss:.2f})"
    w = _ramp(gap, cfg.min_gap, cfg.full_trust_gap)
    if w == 0.0:
        return 0.0, f"off: shifted instants fit as well (gap {gap:.2f})"
    text = f"gap {gap:.2f}, excess {s0 - ss:.2f}"
    wp = 1.0
    if pers is not None:
        wp = _ramp(pers, cfg.min_persistence, cfg.full_persistence)
        if wp == 0.0:
            return 0.0, f"off: pairs do not last (persistence {pers:.2f})"
        text += f", persistence {pers:.2f}"
    return w * wp, ("trusted: " if w * wp == 1.0 else "partly: ") + text


def measure_quality(
    a: CameraObs,
    b: CameraObs,
    H: FloatArray | None,
    cfg: GeometryConfig,
    fps: float = 10.0,
    frames: tuple[int, int] | None = None,
) -> PairQuality:
    """The :class:`PairQuality` of ``H`` on the rows of ``a`` and ``b`` (within
    ``frames``, inclusive, when given; shifted instants may lie outside)."""
    rows = np.ones(len(a), bool)
    if frames is not None:
        rows = (a.frames >= frames[0]) & (a.frames <= frames[1])
    c = candidates(a, b)
    c = c.subset(rows[c.ia])
    nframes = len(np.unique(c.frames))
    if H is None or len(c) == 0:
        return PairQuality(frames=nframes, candidates=len(c))
    err = pair_errors(H, c.pa, c.pb, c.ha, c.hb)
    keep = one_to_one(err, c.ia, c.ib, cfg.inlier_threshold)
    possible = _possible_matches(c)
    med = float(np.median(err[keep])) if len(keep) else float("nan")
    # a Rayleigh-distributed error has median 1.1774 sigma; gate at 3 sigma
    gate = float(min(cfg.inlier_threshold, 3.0 * med / 1.1774)) if len(keep) else 0.0
    shifts = choose_shifts(a, b, cfg, fps, rows)
    s0, ss, n_moving = sync_supports(a, b, H, cfg, shifts, rows)
    pers = persistence(c, keep)
    # a window is too short for a chance coincidence to end: only a whole
    # recording's pairs are judged by persistence
    weight, reason = trust(len(keep), s0, ss, n_moving, pers if frames is None else None, cfg)
    return PairQuality(
        frames=nframes,
        candidates=len(c),
        matches=len(keep),
        inlier_rate=len(keep) / possible if possible else 0.0,
        median_error=med,
        gate=gate,
        support_sync=s0,
        support_shifted=ss,
        sync_gap=sync_gap(s0, ss),
        persistence=pers,
        moving_feet=n_moving,
        shifts=shifts,
        weight=weight,
        reason=reason,
    )


def _possible_matches(c: Candidates) -> int:
    """Sum over frames of min(#feet of a, #feet of b) among the candidates."""
    if len(c) == 0:
        return 0
    fa = np.unique(np.stack([c.frames, c.ia], axis=1), axis=0)[:, 0]
    fb = np.unique(np.stack([c.frames, c.ib], axis=1), axis=0)[:, 0]
    frames = np.unique(c.frames)
    na = np.searchsorted(fa, frames, "right") - np.searchsorted(fa, frames, "left")
    nb = np.searchsorted(fb, frames, "right") - np.searchsorted(fb, frames, "left")
    return int(np.minimum(na, nb).sum())


# ---------------------------------------------------------------- fitting
def fit_homography(
    a: CameraObs, b: CameraObs, cfg: GeometryConfig, rng: np.random.Generator
) -> FloatArray | None:
    """The ground-plane homography a -> b from the rows given (or None)."""
    sa, sb = _subsample_frames(a, b, cfg.max_frames)
    c = candidates(sa, sb)
    H, keep = ransac_homography(c, cfg, rng)
    if H is None or len(keep) < 4:
        return None
    return H


def fit_pair(
    a: CameraObs, b: CameraObs, cfg: GeometryConfig, *, static: bool = False, fps: float = 10.0
) -> PairGeometry:
    """Fit and assess the geometry of cameras (a, b); see the module docstring.

    ``fps`` (frames per second) turns the durations of ``cfg`` into frames.
    """
    rng = np.random.default_rng(cfg.seed)
    H = fit_homography(a, b, cfg, rng)
    q = measure_quality(a, b, H, cfg, fps)
    Hout = H if H is not None else np.eye(3)
    if static:
        return PairGeometry(a.name, b.name, Hout, q)
    windows = _window_fits(a, b, H, cfg, fps, rng)
    if windows is None:
        return PairGeometry(a.name, b.name, Hout, q)
    return PairGeometry(a.name, b.name, Hout, q, moving=True, windows=tuple(windows))


def _window_bounds(a: CameraObs, b: CameraObs, size: int) -> list[tuple[int, int]]:
    common = np.intersect1d(a.frames, b.frames)
    if len(common) == 0:
        return []
    lo, hi = int(common[0]), int(common[-1])
    return [(s, min(s + size - 1, hi)) for s in range(lo, hi + 1, size)]


def _halves(c: Candidates, start: int, size: int) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Candidates of the first and third quarter of a window, and of the second and
    fourth (fit on one, score on the other: neighbouring frames are nearly the
    same instant, so a held-out frame must lie a block away)."""
    quarter = ((c.frames - start) * 4) // max(size, 1)
    fit = quarter % 2 == 0
    return fit, ~fit


def _held_out_supports(
    a: CameraObs,
    b: CameraObs,
    H: FloatArray | None,
    bounds: list[tuple[int, int]],
    cfg: GeometryConfig,
    fps: float,
    rng: np.random.Generator,
) -> list[tuple[float, float, int, FloatArray | None]]:
    """Per window: (excess support of the window's own homography, excess
    support of ``H``, feet scored, the window's homography), both measured on
    the quarters of the window that the fit did not see (:func:`_halves`).
    Excess support is the support at the true instant minus that at shifted
    instants (:func:`sync_supports`): in a crowd a chance fit matches feet
    too, but no better at the true instant than at a shifted one, so a
    window of chance fits cannot outscore the whole-recording fit.

    The window's homography is chosen among its own RANSAC fit, the
    whole-recording ``H`` and the previous window's (each refined on the
    window): the one that explains the most moving feet beyond chance
    (support at the true instant minus at shifted ones). A window holds few
    instants and, in a group, a fit that pairs each person with a neighbour
    can match as many feet as the right one; it cannot explain the shifted
    instants' absence of partners as well.
    """
    out = []
    H_prev: FloatArray | None = None
    for s, e in bounds:
        c = candidates(a.window(s, e), b.window(s, e))
        fit_part, test_part = _halves(c, s, e - s + 1)
        cf, ct = c.subset(fit_part), c.subset(test_part)
        seeds = [h for h in (H_prev, H) if h is not None]
        if len(_group_starts(cf.ia)) >= 4:
            seeds.append(ransac_homography(cf, cfg, rng)[0])  # the full budget: few instants
        rows = (a.frames >= s) & (a.frames <= e)
        shifts = choose_shifts(a, b, cfg, fps, rows)
        best: tuple[float, FloatArray | None] = (-np.inf, None)
        for h in seeds:
            if h is None:
                continue
            h = _refine_from(cf, h, cfg)
            if h is None:
                continue
            s0, ss, _ = sync_supports(a, b, h, cfg, shifts, rows)
            if s0 - ss > best[0]:
                best = (s0 - ss, h)
        Hw = best[1]
        held = rows & ((((a.frames - s) * 4) // max(e - s + 1, 1)) % 2 == 1)
        own = _excess(a, b, Hw, cfg, shifts, held)
        glob = _excess(a, b, H, cfg, shifts, held)
        if Hw is not None:
            Hw, _ = refine(c, Hw, cfg)  # the kept window fit uses all its frames
            H_prev = Hw
        out.append((own, glob, len(_group_starts(ct.ia)), Hw))
    return out


def _excess(
    a: CameraObs,
    b: CameraObs,
    H: FloatArray | None,
    cfg: GeometryConfig,
    shifts: tuple[int, ...],
    rows: NDArray[np.bool_],
) -> float:
    """Support of ``H`` on ``rows`` beyond what it gets at shifted instants (0 without H)."""
    if H is None:
        return 0.0
    s0, ss, _ = sync_supports(a, b, H, cfg, shifts, rows)
    return s0 - ss


def _refine_from(c: Candidates, H: FloatArray, cfg: GeometryConfig) -> FloatArray | None:
    """``H`` refined on ``c``, also from twice the threshold (a neighbouring
    window's fit may have drifted past it); the refit with more one-to-one
    matches, or None when neither has four."""
    Hr, keep = refine(c, H, cfg)
    Hl, _ = refine(c, H, replace(cfg, inlier_threshold=2.0 * cfg.inlier_threshold))
    Hl, keep_l = refine(c, Hl, cfg)
    if len(keep_l) > len(keep):
        Hr, keep = Hl, keep_l
    return Hr if len(keep) >= 4 else None


def _window_fits(
    a: CameraObs,
    b: CameraObs,
    H: FloatArray | None,
    cfg: GeometryConfig,
    fps: float,
    rng: np.random.Generator,
) -> list[WindowFit] | None:
    """Per-window homographies when the cameras move (None: they do not).

    For every window length of ``cfg.windows``: each window's homography is
    fitted on half of its frames and scored on the other half, against the
    whole-recording homography on the same frames. The pair moves when the
    windows explain more of the held-out feet beyond chance, each homography
    beyond the first paying for itself with ``min_matches`` feet' worth of
    excess support (with W windows: by at least ``(W - 1) * min_matches``),
    and the windows together clear ``min_excess`` per foot, as any fit must;
    the length whose windows explain the held-out frames best is kept. In a
    crowd, short windows of static cameras find chance fits that explain a
    few held-out feet each; a moving pair's windows explain many.
    """
    best: tuple[float, list] | None = None
    for seconds in cfg.windows:
        size = max(2, int(round(seconds * fps)))
        bounds = _window_bounds(a, b, size)
        if not 2 <= len(bounds) <= cfg.max_windows:
            continue
        scored = _held_out_supports(a, b, H, bounds, cfg, fps, rng)
        own = sum(o * n for o, _, n, _ in scored)
        glob = sum(g * n for _, g, n, _ in scored)
        feet = max(sum(n for *_, n, _ in scored), 1)
        pays = own - glob >= cfg.min_matches * (len(bounds) - 1)
        if pays and own / feet >= cfg.min_excess and (best is None or own > best[0]):
            best = (own, [(s, e, Hw) for (s, e), (*_, Hw) in zip(bounds, scored, strict=True)])
    if best is None:
        return None
    return [
        WindowFit(
            s, e, Hw if Hw is not None else np.eye(3), measure_quality(a, b, Hw, cfg, fps, (s, e))
        )
        for s, e, Hw in best[1]
    ]


def fit_scene(
    obs: list[CameraObs],
    cfg: GeometryConfig,
    *,
    static: bool = False,
    fps: float = 10.0,
    progress: ProgressCallback | None = None,
) -> dict[tuple[str, str], PairGeometry]:
    """Fit every camera pair (a before b in ``obs`` order)."""
    pairs = [(i, j) for i in range(len(obs)) for j in range(i + 1, len(obs))]
    out: dict[tuple[str, str], PairGeometry] = {}
    for n, (i, j) in enumerate(pairs):
        out[(obs[i].name, obs[j].name)] = fit_pair(obs[i], obs[j], cfg, static=static, fps=fps)
        if progress is not None:
            progress(ProgressEvent("geometry", n + 1, len(pairs)))
    return out


# ---------------------------------------------------------------- saving / loading
def _quality_dict(q: PairQuality) -> dict[str, Any]:
    d = asdict(q)
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in d.items()}


def geometry_to_json(pairs: dict[tuple[str, str], PairGeometry]) -> dict[str, Any]:
    """A JSON-ready description of fitted pairs."""
    items = []
    for (a, b), g in pairs.items():
        items.append(
            {
                "a": a,
                "b": b,
                "H": np.asarray(g.H).tolist(),
                "moving": g.moving,
                "quality": _quality_dict(g.quality),
                "windows": [
                    {"start": w.start, "end": w.end, "H": w.H.tolist(), "quality": qd}
                    for w in g.windows
                    for qd in [_quality_dict(w.quality)]
                ],
            }
        )
    return {
        "format": "mcmot-geometry-1",
        "description": "H maps foot points (box bottom centres) of camera a to camera b",
        "pairs": items,
    }


def save_geometry(path: Path, pairs: dict[tuple[str, str], PairGeometry]) -> None:
    """Write ``pairs`` to ``path`` atomically."""
    write_json(path, geometry_to_json(pairs))


def _quality_from(d: dict[str, Any]) -> PairQuality:
    fields = PairQuality.__dataclass_fields__
    vals = {k: (float("nan") if v is None else v) for k, v in d.items() if k in fields}
    if "shifts" in vals:
        vals["shifts"] = tuple(int(x) for x in vals["shifts"])
    return PairQuality(**vals)


def _matrix(value: Any, path: Path) -> FloatArray:
    H = np.asarray(value, dtype=np.float64)
    if H.shape != (3, 3) or not np.all(np.isfinite(H)):
        raise McmotError(f"{path}: every H must be a finite 3x3 matrix")
    return H


def load_geometry(path: Path) -> dict[tuple[str, str], PairGeometry]:
    """Read a geometry file written by :func:`save_geometry`."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise McmotError(f"geometry file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise McmotError(f"cannot read geometry file {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("pairs"), list):
        raise McmotError(f"{path} is not a geometry file (expected a 'pairs' list)")
    out: dict[tuple[str, str], PairGeometry] = {}
    try:
        for p in data["pairs"]:
            windows = tuple(
                WindowFit(int(w["start"]), int(w["end"]), _matrix(w["H"], path), _quality_from(q))
                for w in p.get("windows", [])
                for q in [w["quality"]]
            )
            out[(str(p["a"]), str(p["b"]))] = PairGeometry(
                str(p["a"]),
                str(p["b"]),
                _matrix(p["H"], path),
                _quality_from(p["quality"]),
                bool(p.get("moving", False)),
                windows,
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise McmotError(f"{path}: malformed pair entry ({exc})") from None
    return out
