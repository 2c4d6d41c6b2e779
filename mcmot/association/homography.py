"""Ground-plane homographies between two cameras' feet: the fitting machinery.

Homography algebra (batched DLT, orientation and degeneracy checks), the
symmetric transfer error in box heights, same-instant foot candidates, the
vectorised RANSAC with tracklet-guided samples and the one-to-one
refinement. How far a fit is trusted is :mod:`mcmot.association.quality`;
the pair-level method is :mod:`mcmot.association.geometry`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from mcmot.association.config import GeometryConfig
from mcmot.association.data import CameraObs, frame_pairs

FloatArray = NDArray[np.float64]


# ---------------------------------------------------------------- homography algebra
def transfer(H: FloatArray, pts: FloatArray) -> FloatArray:
    """Apply (3, 3) ``H`` to (N, 2) points; points sent behind the camera become inf
    (and so do points that were inf already, as a chain of transfers makes them)."""
    x, y = pts[:, 0], pts[:, 1]
    finite = np.isfinite(x) & np.isfinite(y)
    whole = bool(finite.all())
    if not whole:
        x, y = np.where(finite, x, 0.0), np.where(finite, y, 0.0)
    w = H[2, 0] * x + H[2, 1] * y + H[2, 2]
    ok = w > 1e-12
    if whole and ok.all():  # the common case, without the masking below
        return np.stack([(H[0, 0] * x + H[0, 1] * y + H[0, 2]) / w,
                         (H[1, 0] * x + H[1, 1] * y + H[1, 2]) / w], axis=1)  # fmt: skip
    ok &= finite
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
    out = []
    for H, P, Q, hq in ((Hs, pa, pb, hb), (His, pb, pa, ha)):
        x, y = P[None, :, 0], P[None, :, 1]  # (1, M), against (K, 1) matrix entries
        row = [H[:, i, 0, None] * x + H[:, i, 1, None] * y + H[:, i, 2, None] for i in range(3)]
        w = row[2]
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.hypot(row[0] / w - Q[:, 0], row[1] / w - Q[:, 1]) / hq
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
    order = np.argsort(err, kind="stable")
    rank = np.empty(len(err), np.int64)
    rank[order] = np.arange(len(err))
    best = err < gate
    for rows in (ia, ib):  # the candidate of lowest rank per row value
        first = np.full(int(rows.max()) + 1, len(err), np.int64)
        np.minimum.at(first, rows, rank)
        best &= rank == first[rows]
    return np.flatnonzero(best)


def inliers(c: Candidates, H: FloatArray, cfg: GeometryConfig) -> NDArray[np.int64]:
    """The one-to-one matches of ``H`` among candidates ``c`` (:func:`one_to_one`)."""
    return one_to_one(pair_errors(H, c.pa, c.pb, c.ha, c.hb), c.ia, c.ib, cfg.inlier_threshold)


def refine(
    c: Candidates, H: FloatArray, cfg: GeometryConfig, first: NDArray[np.int64] | None = None
) -> tuple[FloatArray, NDArray]:
    """Alternate one-to-one inlier matching and least-squares refits.

    A refit on the matches it was fitted on is a fixed point (the refit is
    deterministic), so the rounds stop early when the matches repeat.
    ``first``: ``inliers(c, H, cfg)`` when the caller has computed it already.
    """
    keep = np.zeros(0, np.int64)
    fitted_on: NDArray[np.int64] | None = None  # the matches H was refitted on
    for _ in range(cfg.refine_iterations):
        keep = inliers(c, H, cfg) if first is None or fitted_on is not None else first
        if fitted_on is not None and np.array_equal(keep, fitted_on):
            return H, keep
        H2 = refit(c.pa[keep], c.pb[keep]) if len(keep) >= 4 else None
        if H2 is None:
            break
        H, fitted_on = H2, keep
    return H, inliers(c, H, cfg)


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
    seen: set[bytes] = set()
    for k in np.argsort(-scores)[: cfg.finalists]:
        first = inliers(pre, Hs[k], cfg)
        if first.tobytes() in seen:  # refits only from its matches: the same outcome, no better
            continue
        seen.add(first.tobytes())
        H, keep = refine(pre, Hs[k], cfg, first)
        if len(keep) > best[0]:
            best = (float(len(keep)), H)
    if best[1] is None:
        return None, np.zeros(0, np.int64)
    return refine(c, best[1], cfg)


# ---------------------------------------------------------------- support
def matching_support(c: Candidates, H: FloatArray, tau: float) -> float:
    """Mean over a's feet of the best truncated-quadratic support ``(1 - (e/tau)^2)+``.

    1 when every foot of a has an exact partner in b, 0 when none is within ``tau``.
    """
    if len(c) == 0:
        return 0.0
    err = pair_errors(H, c.pa, c.pb, c.ha, c.hb)
    s = np.clip(1.0 - (err / tau) ** 2, 0.0, None)
    return float(np.maximum.reduceat(s, _group_starts(c.ia)).mean())


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
