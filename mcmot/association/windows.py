"""Moving cameras: one homography per window of frames, when windows pay for themselves.

See :func:`window_fits`: windows are fitted on two quarters of their frames
and scored on the other two against the whole-recording homography, by
excess support beyond shifted instants.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from mcmot.association.config import GeometryConfig
from mcmot.association.data import CameraObs
from mcmot.association.homography import (
    Candidates,
    FloatArray,
    _group_starts,
    candidates,
    ransac_homography,
    refine,
)
from mcmot.association.quality import (
    PairQuality,
    ShiftedPairs,
    choose_shifts,
    measure_quality,
    sync_supports,
)

#: A frame beyond every recording (the open end of a window).
FOREVER = 2**62


@dataclass(frozen=True)
class WindowFit:
    """A homography valid for frames ``start..end`` of a pair."""

    start: int
    end: int
    H: FloatArray
    quality: PairQuality


def _window_bounds(a: CameraObs, b: CameraObs, size: int) -> list[tuple[int, int]]:
    common = np.intersect1d(a.frames, b.frames)
    if len(common) == 0:
        return []
    lo, hi = int(common[0]), int(common[-1])
    return [(s, min(s + size - 1, hi)) for s in range(lo, hi + 1, size)]


def _held_quarters(frames: NDArray[np.int64], start: int, size: int) -> NDArray[np.bool_]:
    """Whether each frame lies in the second or fourth quarter of a window (the
    held-out half; the fit sees the first and third: neighbouring frames are
    nearly the same instant, so a held-out frame must lie a block away)."""
    return ((frames - start) * 4) // max(size, 1) % 2 == 1


@dataclass(frozen=True)
class _Window:
    """One window: its candidates and those of its fit quarters, its rows of
    ``a`` and their held-out part, the feet scored on the held-out quarters,
    its shifted instants and its own RANSAC fit."""

    c: Candidates
    fit: Candidates
    rows: NDArray[np.bool_]
    held: NDArray[np.bool_]
    feet: int
    shifts: tuple[int, ...]
    ransac: FloatArray | None


def _split_windows(
    a: CameraObs,
    b: CameraObs,
    bounds: list[tuple[int, int]],
    cfg: GeometryConfig,
    fps: float,
    rng: np.random.Generator,
    pairs: ShiftedPairs,
) -> list[_Window]:
    """Each window's :class:`_Window`, with a RANSAC fit on its fit quarters."""
    out = []
    for s, e in bounds:
        c = candidates(a.window(s, e), b.window(s, e))
        test_part = _held_quarters(c.frames, s, e - s + 1)
        cf = c.subset(~test_part)
        own = None
        if len(_group_starts(cf.ia)) >= 4:
            own = ransac_homography(cf, cfg, rng)[0]  # the full budget: few instants
        rows = (a.frames >= s) & (a.frames <= e)
        held = rows & _held_quarters(a.frames, s, e - s + 1)
        feet = len(_group_starts(c.subset(test_part).ia))
        shifts = choose_shifts(a, b, cfg, fps, rows, pairs)
        out.append(_Window(c, cf, rows, held, feet, shifts, own))
    return out


def _held_out_supports(
    a: CameraObs,
    b: CameraObs,
    H: FloatArray | None,
    bounds: list[tuple[int, int]],
    cfg: GeometryConfig,
    fps: float,
    rng: np.random.Generator,
    pairs: ShiftedPairs,
) -> list[tuple[float, float, int, FloatArray | None]]:
    """Per window: (excess support of the window's own homography, excess
    support of ``H``, feet scored, the window's homography), both measured on
    the quarters of the window that the fit did not see (:func:`_held_quarters`).
    Excess support is the support at the true instant minus that at shifted
    instants (:func:`sync_supports`): in a crowd a chance fit matches feet
    too, but no better at the true instant than at a shifted one, so a
    window of chance fits cannot outscore the whole-recording fit.

    The window's homography is chosen among its own RANSAC fit, the
    whole-recording ``H`` and its neighbours' (each refined on the window):
    the one that explains the most moving feet beyond chance (support at
    the true instant minus at shifted ones). A window holds few instants
    and, in a group, a fit that pairs each person with a neighbour can
    match as many feet as the right one; it cannot explain the shifted
    instants' absence of partners as well. The choice runs forward (the
    previous window's choice is a candidate), then backward (the next
    window's is): a right fit that RANSAC found in one window reaches the
    windows on either side of it, not only those after it.
    """
    wins = _split_windows(a, b, bounds, cfg, fps, rng, pairs)
    chosen: list[FloatArray | None] = []
    H_prev: FloatArray | None = None
    for w in wins:
        Hw = _best_seed(a, b, w.fit, [H_prev, H, w.ransac], cfg, w.shifts, w.rows, pairs)
        chosen.append(Hw)
        if Hw is not None:
            H_prev = refine(w.c, Hw, cfg)[0]
    H_next: FloatArray | None = None
    kept: list[FloatArray | None] = [None] * len(wins)
    for k in reversed(range(len(wins))):
        w = wins[k]
        chosen[k] = _best_seed(a, b, w.fit, [chosen[k], H_next], cfg, w.shifts, w.rows, pairs)
        if chosen[k] is not None:
            kept[k] = H_next = refine(w.c, chosen[k], cfg)[0]  # the kept fit uses all frames
    return [
        (
            _excess(a, b, Hw, cfg, w.shifts, w.held, pairs),  # as fitted: held-out frames unseen
            _excess(a, b, H, cfg, w.shifts, w.held, pairs),
            w.feet,
            Hk,
        )
        for w, Hw, Hk in zip(wins, chosen, kept, strict=True)
    ]


def _best_seed(
    a: CameraObs,
    b: CameraObs,
    c: Candidates,
    seeds: list[FloatArray | None],
    cfg: GeometryConfig,
    shifts: tuple[int, ...],
    rows: NDArray[np.bool_],
    pairs: ShiftedPairs,
) -> FloatArray | None:
    """Of ``seeds``, each refined on ``c``, the one with the most support on ``rows``
    beyond shifted instants (None when none has four one-to-one matches)."""
    best: tuple[float, FloatArray | None] = (-np.inf, None)
    for h in seeds:
        if h is None:
            continue
        h = _refine_from(c, h, cfg)
        if h is None:
            continue
        s0, ss, _ = sync_supports(a, b, h, cfg, shifts, rows, pairs)
        if s0 - ss > best[0]:
            best = (s0 - ss, h)
    return best[1]


def follow_window(
    a: CameraObs,
    b: CameraObs,
    H_prev: FloatArray,
    frames: tuple[int, int],
    shifts: tuple[int, ...],
    cfg: GeometryConfig,
    fps: float,
    rng: np.random.Generator,
) -> WindowFit:
    """The homography of a moving pair over ``frames`` (start, end; online mode),
    valid from frame ``end + 1`` on: of the previous window's ``H_prev`` and a
    fresh RANSAC fit, each refined on the window, the one that explains the
    most moving feet beyond chance; weighted by its quality on the window, as
    the windows :func:`window_fits` finds, tested at ``shifts`` (those chosen
    on the warm-up). ``a`` and ``b`` hold the window and the frames before it
    that shifted instants reach, none after ``end``.
    """
    start, end = frames
    pairs = ShiftedPairs(a, b, cfg.sync_min_motion)
    c = candidates(a.window(start, end), b.window(start, end))
    seeds: list[FloatArray | None] = [H_prev]
    if len(_group_starts(c.ia)) >= 4:
        seeds.append(ransac_homography(c, cfg, rng)[0])
    rows = (a.frames >= start) & (a.frames <= end)
    H = _best_seed(a, b, c, seeds, cfg, shifts, rows, pairs)
    if H is None:  # too few feet to refit: keep the homography, judged on this window
        H = H_prev
    return WindowFit(end + 1, FOREVER, H, measure_quality(a, b, H, cfg, fps, frames, shifts))


def _excess(
    a: CameraObs,
    b: CameraObs,
    H: FloatArray | None,
    cfg: GeometryConfig,
    shifts: tuple[int, ...],
    rows: NDArray[np.bool_],
    pairs: ShiftedPairs,
) -> float:
    """Support of ``H`` on ``rows`` beyond what it gets at shifted instants (0 without H)."""
    if H is None:
        return 0.0
    s0, ss, _ = sync_supports(a, b, H, cfg, shifts, rows, pairs)
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


def window_fits(
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
    pairs = ShiftedPairs(a, b, cfg.sync_min_motion)
    for seconds in cfg.windows:
        size = max(2, int(round(seconds * fps)))
        bounds = _window_bounds(a, b, size)
        if not 2 <= len(bounds) <= cfg.max_windows:
            continue
        scored = _held_out_supports(a, b, H, bounds, cfg, fps, rng, pairs)
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
