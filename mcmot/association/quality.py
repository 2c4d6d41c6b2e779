"""How far to trust a fitted homography: synchronization, persistence, coverage, trust.

A homography that explains the true instant much better than shifted ones
(Self-MVA's pretext signal), whose linked tracklet pairs last, that finds a
partner for the feet it sends into the other view (coverage), and that
explains enough moving feet beyond chance is trusted (:func:`trust`);
:func:`measure_quality` gathers the evidence of one pair or one window into
a :class:`PairQuality`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mcmot.association.config import GeometryConfig
from mcmot.association.data import CameraObs
from mcmot.association.homography import (
    Candidates,
    FloatArray,
    candidates,
    matching_support,
    one_to_one,
    pair_errors,
    refit,
    transfer,
)


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
    coverage : of the usable feet the homography sends inside the other
        view's image (both ways, at instants that view has people), the share
        whose tracklet has a partner there within ``coverage_window``
        (:func:`coverage`)
    holdout : of the matches, the share that a homography refitted without
        their pair of tracklets predicts (:func:`holdout`); NaN when the
        matches link too few pairs of tracklets to hold one out, and for a
        window of a moving pair (not judged there)
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
    coverage: float = float("nan")
    holdout: float = float("nan")
    moving_feet: int = 0
    shifts: tuple[int, ...] = ()
    weight: float = 0.0
    reason: str = "off: no homography found"


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


class ShiftedPairs:
    """One camera pair's foot candidates at frame shifts and a's moving rows, each
    computed once (:func:`candidates`, :func:`moving_rows`): the windows of a pair
    test many homographies on the same shifts.
    """

    def __init__(self, a: CameraObs, b: CameraObs, min_motion: float) -> None:
        self.a, self.b, self.min_motion = a, b, min_motion
        self._candidates: dict[int, Candidates] = {}
        self._moving: dict[int, NDArray[np.bool_]] = {}
        self._tested: dict[tuple[int, bytes], tuple[Candidates, Candidates, int]] = {}

    def candidates(self, shift: int) -> Candidates:
        """:func:`candidates` of (a, b) at ``shift``."""
        if shift not in self._candidates:
            self._candidates[shift] = candidates(self.a, self.b, shift)
        return self._candidates[shift]

    def moving(self, shift: int) -> NDArray[np.bool_]:
        """:func:`moving_rows` of a at ``shift``."""
        if shift not in self._moving:
            self._moving[shift] = moving_rows(self.a, shift, self.min_motion)
        return self._moving[shift]

    def tested(self, shift: int, rows: NDArray[np.bool_]) -> tuple[Candidates, Candidates, int]:
        """The candidates that test ``shift`` on ``rows`` of a: a's moving feet (within
        ``rows``) that have partners both at the true instant and at the shifted one,
        as (candidates at the true instant, at the shifted instant, number of feet)."""
        key = (shift, np.packbits(rows).tobytes())
        if key not in self._tested:
            keep = self.moving(shift) & rows
            cz, cs = self.candidates(0), self.candidates(shift)
            cz, cs = cz.subset(keep[cz.ia]), cs.subset(keep[cs.ia])
            both = np.intersect1d(cz.ia, cs.ia)
            cz, cs = cz.subset(np.isin(cz.ia, both)), cs.subset(np.isin(cs.ia, both))
            self._tested[key] = (cz, cs, len(both))
        return self._tested[key]


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
    a: CameraObs,
    b: CameraObs,
    cfg: GeometryConfig,
    fps: float,
    rows: NDArray | None = None,
    pairs: ShiftedPairs | None = None,
) -> tuple[int, ...]:
    """The frame shifts of the synchronization test.

    ``cfg.sync_shifts`` (seconds) when given; otherwise, among
    :func:`shift_ladder`, the ``sync_shift_count`` shifts at which the most
    feet of a (``rows``, default all) have moved at least ``sync_min_motion``
    box heights and can be compared with b at both instants (ties: the
    smaller shift; ``pairs`` caches a's moving rows). Motion, not the frame
    rate, decides: people who cross the view in a second and people who stroll
    are both tested at the instants where they have moved.
    """
    if cfg.sync_shifts:
        return tuple(sorted({max(1, int(round(t * fps))) for t in cfg.sync_shifts}))
    if len(a) == 0 or len(b) == 0:
        return ()
    rows = np.ones(len(a), bool) if rows is None else rows
    pairs = pairs or ShiftedPairs(a, b, cfg.sync_min_motion)
    lo = max(int(a.frames.min()), int(b.frames.min()))
    hi = min(int(a.frames.max()), int(b.frames.max()))
    counts = []
    for s in shift_ladder(hi - lo):
        n = 0
        for shift in (s, -s):
            n += int(_testable(a, b, rows & pairs.moving(shift), shift).sum())
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
    pairs: ShiftedPairs | None = None,
) -> tuple[float, float, int]:
    """Matching support at the true instant and at shifted instants, and the
    number of feet that carried the test (``pairs``: the candidates of (a, b)
    computed once, for many calls).

    For each shift (both signs), only the feet of a (within ``rows``) whose
    person has moved by then (:func:`moving_rows`) are used, at the true
    instant and at the shifted one alike; the supports are averaged over
    shifts, weighted by those feet's number. b's shifted feet may lie outside
    ``rows``' frames (a window is tested against the whole recording).
    """
    rows = np.ones(len(a), bool) if rows is None else rows
    pairs = pairs or ShiftedPairs(a, b, cfg.sync_min_motion)
    num0 = nums = 0.0
    weight = 0
    for s in shifts:
        for shift in (s, -s):
            cz, cs, n = pairs.tested(shift, rows)  # feet with partners at both instants
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


def _tracklet_pairs(c: Candidates) -> NDArray[np.int64]:
    """(M,) one integer per (tracklet of a, tracklet of b) of the candidates."""
    return c.ta.astype(np.int64) * (int(max(c.tb.max(), 0)) + 1) + c.tb


def persistence(c: Candidates, keep: NDArray[np.int64]) -> float:
    """How lasting the matches ``keep`` (indices into candidates ``c``) are.

    For each pair of tracklets the matches link: the share of the frames in
    which both are seen that they are linked in. Averaged over the matches
    (each linked pair weighs as many matches as it holds), so a one-frame
    coincidence of two long tracklets weighs one match, not the hundreds of
    frames both are seen in: the figure does not fall as tracklets grow long.
    """
    if len(keep) == 0:
        return 0.0
    key = _tracklet_pairs(c)
    linked, n_linked = np.unique(key[keep], return_counts=True)
    pos = np.searchsorted(linked, key)
    seen = (pos < len(linked)) & (linked[np.minimum(pos, len(linked) - 1)] == key)
    n_both = np.bincount(pos[seen], minlength=len(linked))
    return float((n_linked * n_linked / n_both).sum() / n_linked.sum())


#: Feet sent within this share of the image size of the other view's border are
#: not counted by :func:`coverage` (the partner's box would be cut off there).
COVERAGE_MARGIN = 0.05


def _feet_inside(
    H: FloatArray, src: CameraObs, rows: NDArray[np.int64], size: tuple[float, float]
) -> NDArray[np.int64]:
    """Those of ``rows`` of ``src`` whose foot ``H`` sends inside an image of
    ``size``, at least :data:`COVERAGE_MARGIN` from its border."""
    p = transfer(H, src.feet[rows])
    (w, h), m = size, COVERAGE_MARGIN
    with np.errstate(invalid="ignore"):
        inside = (p[:, 0] >= m * w) & (p[:, 0] <= (1 - m) * w)
        inside &= (p[:, 1] >= m * h) & (p[:, 1] <= (1 - m) * h)
    return rows[inside]


def _found_near(
    o: CameraObs, rows: NDArray[np.int64], matched: NDArray[np.int64], window: int
) -> NDArray[np.bool_]:
    """(len(rows),) whether each of ``rows`` of ``o`` has a row of its own
    tracklet among ``matched`` at most ``window`` frames away."""
    if len(rows) == 0 or len(matched) == 0:
        return np.zeros(len(rows), bool)
    span = int(o.frames.max()) + 2 * window + 2
    keys = np.sort(o.tids[matched].astype(np.int64) * span + o.frames[matched] + window)
    lo = o.tids[rows].astype(np.int64) * span + o.frames[rows]
    pos = np.searchsorted(keys, lo)
    ok = pos < len(keys)
    return ok & (keys[np.minimum(pos, len(keys) - 1)] <= lo + 2 * window)


def coverage(
    a: CameraObs,
    b: CameraObs,
    H: FloatArray,
    c: Candidates,
    keep: NDArray[np.int64],
    rows_a: NDArray[np.bool_],
    rows_b: NDArray[np.bool_],
    window: int = 0,
) -> float:
    """Of the usable feet ``H`` sends inside the other view's image, the share
    whose tracklet the matches ``keep`` (indices into candidates ``c``) give a
    partner within ``window`` frames.

    Both ways (``a`` through ``H``, ``b`` through its inverse), pooled, at the
    frames in which the other view has rows (among ``rows_a``, ``rows_b``). A
    true homography predicts where the other camera sees each person, so most
    of those feet find a partner (occlusion and missed detections take the
    rest; the window forgives a few missed frames); a fit to chance
    coincidences sends many feet where the other camera sees nobody. NaN when
    no foot lands inside.
    """
    try:
        Hi = np.linalg.inv(H)
    except np.linalg.LinAlgError:
        return float("nan")
    at_a = rows_a & ~a.truncated & np.isin(a.frames, b.frames[rows_b])
    at_b = rows_b & ~b.truncated & np.isin(b.frames, a.frames[rows_a])
    in_a = _feet_inside(H, a, np.flatnonzero(at_a), b.size)
    in_b = _feet_inside(Hi, b, np.flatnonzero(at_b), a.size)
    n = len(in_a) + len(in_b)
    if n == 0:
        return float("nan")
    found = _found_near(a, in_a, c.ia[keep], window).sum()
    found += _found_near(b, in_b, c.ib[keep], window).sum()
    return float(found / n)


def holdout(c: Candidates, keep: NDArray[np.int64], tau: float, min_pairs: int) -> float:
    """Of the matches ``keep`` (indices into candidates ``c``), the share that a
    homography refitted (least squares) on the matches of the other pairs of
    tracklets predicts within ``tau`` box heights.

    Each linked pair of tracklets is held out in turn. A true homography is
    one map of the whole floor, so the other people's matches predict each
    person's; a fit to chance coincidences bends to each coincidence and
    predicts none of them from the rest. NaN when the matches link fewer than
    ``min_pairs`` pairs of tracklets (the rest would be too few to fit a
    plane map: a right pair on two or three people cannot be told from a
    chance one this way).
    """
    if len(keep) == 0:
        return float("nan")
    _, group = np.unique(_tracklet_pairs(c)[keep], return_inverse=True)
    n = int(group.max()) + 1
    if n < min_pairs:
        return float("nan")
    pa, pb, ha, hb = c.pa[keep], c.pb[keep], c.ha[keep], c.hb[keep]
    predicted = 0
    for g in range(n):
        out = group == g
        H = refit(pa[~out], pb[~out])
        if H is not None:
            predicted += int((pair_errors(H, pa[out], pb[out], ha[out], hb[out]) < tau).sum())
    return predicted / len(keep)


def _ramp(x: float, lo: float, hi: float) -> float:
    """0 below ``lo``, rising linearly to 1 at ``hi`` (a step at ``lo`` when
    ``hi == lo``: a ramp set to 0 -> 0 switches its test off)."""
    if x < lo:
        return 0.0
    if x >= hi:
        return 1.0
    return float((x - lo) / (hi - lo))


def trust(
    matches: int,
    s0: float,
    ss: float,
    moving_feet: int,
    pers: float | None,
    cfg: GeometryConfig,
    cov: float | None = None,
    hold: float | None = None,
) -> tuple[float, str]:
    """The weight of a fit and the reason for it: enough matches, a
    synchronization test that moving people passed, and persistent pairs
    that cover the feet the fit sends into the other view and predict each
    other, or an excess so large that it decides alone (``pers``, ``cov`` and
    ``hold`` None: not judged, as for a window of a moving pair; ``cov`` NaN:
    no foot lands in the other view; ``hold`` NaN: too few tracklet pairs)."""
    gap, excess = sync_gap(s0, ss), s0 - ss
    if matches < cfg.min_matches:
        return 0.0, f"off: too few matches ({matches} < {cfg.min_matches})"
    if moving_feet < cfg.min_matches:
        return 0.0, f"off: too few moving feet to test ({moving_feet}); left to appearance"
    if excess < cfg.min_excess:
        return 0.0, f"off: little beyond chance (excess {excess:.2f})"
    w = _ramp(gap, cfg.min_gap, cfg.full_trust_gap)
    if w == 0.0:
        return 0.0, f"off: shifted instants fit as well (gap {gap:.2f})"
    text = f"gap {gap:.2f}, excess {excess:.2f}"
    wp = 1.0
    if pers is not None:
        decisive = _ramp(excess, cfg.min_decisive_excess, cfg.full_decisive_excess)
        judged = cov is not None and bool(np.isfinite(cov))
        wc = 1.0
        if cov is not None and judged:
            wc = _ramp(cov, cfg.min_coverage, cfg.full_coverage)
        held = hold is not None and bool(np.isfinite(hold))
        wh = 1.0
        if hold is not None and held:
            wh = _ramp(hold, cfg.min_holdout, cfg.full_holdout)
        wp = max(_ramp(pers, cfg.min_persistence, cfg.full_persistence) * wc * wh, decisive)
        if wp == 0.0 and wc == 0.0:
            return 0.0, f"off: the other view sees few of the feet sent there (coverage {cov:.2f})"
        if wp == 0.0 and wh == 0.0:
            return 0.0, f"off: the matches do not predict each other (holdout {hold:.2f})"
        if wp == 0.0:
            return 0.0, f"off: pairs do not last (persistence {pers:.2f})"
        text += f"{' (decisive)' if decisive == 1.0 else ''}, persistence {pers:.2f}"
        if judged:
            text += f", coverage {cov:.2f}"
        if held:
            text += f", holdout {hold:.2f}"
    return w * wp, ("trusted: " if w * wp == 1.0 else "partly: ") + text


def measure_quality(
    a: CameraObs,
    b: CameraObs,
    H: FloatArray | None,
    cfg: GeometryConfig,
    fps: float = 10.0,
    frames: tuple[int, int] | None = None,
    shifts: tuple[int, ...] | None = None,
) -> PairQuality:
    """The :class:`PairQuality` of ``H`` on the rows of ``a`` and ``b`` (within
    ``frames``, inclusive, when given; shifted instants may lie outside), tested
    at ``shifts`` (None: :func:`choose_shifts`)."""
    rows = np.ones(len(a), bool)
    rows_b = np.ones(len(b), bool)
    if frames is not None:
        rows = (a.frames >= frames[0]) & (a.frames <= frames[1])
        rows_b = (b.frames >= frames[0]) & (b.frames <= frames[1])
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
    if shifts is None:
        shifts = choose_shifts(a, b, cfg, fps, rows)
    s0, ss, n_moving = sync_supports(a, b, H, cfg, shifts, rows)
    pers = persistence(c, keep)
    cov = coverage(a, b, H, c, keep, rows, rows_b, round(cfg.coverage_window * fps))
    # a window is too short for a chance coincidence to end: only a whole
    # recording's pairs are judged by persistence, coverage and holdout (the
    # holdout's refits are only made there)
    hold = float("nan")
    if frames is None:
        hold = holdout(c, keep, cfg.inlier_threshold, cfg.holdout_pairs)
    judged = (pers, cov, hold) if frames is None else (None, None, None)
    weight, reason = trust(len(keep), s0, ss, n_moving, judged[0], cfg, judged[1], judged[2])
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
        coverage=cov,
        holdout=hold,
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
