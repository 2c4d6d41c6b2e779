"""Consistency of camera-pair homographies around loops of three cameras.

With three cameras a, b, c on one floor, mapping a's feet to b directly must
agree with mapping them through c (``H_cb @ H_ac``). A pair fitted to a
chance coincidence disagrees with every route through a third camera, while
a right pair agrees with at least one route made of right pairs. This needs
no labels and nothing of the pair's own fit, so it catches wrong fits that
pass their own synchronization test (a slow group seen for a few seconds).

Rule (:func:`check_loops`): a trusted segment (a pair's whole recording, or
one window of a moving pair) with at least two routes through third cameras
is switched off when no route agrees with it and at least one disagrees. A
route agrees when the median distance between the two mappings of a's feet
is within the inlier threshold (a's feet sent to b through c and back
directly land within that many of a's box heights), and disagrees beyond
twice it.

With a single route (three cameras, or the other thirds' pairs untrusted) the
loop cannot say which of its pairs is wrong, only that one is: when the
route disagrees and all three pairs are static, the pair whose fit its own
tests support least is switched off: the lowest product of persistence,
coverage and holdout (:mod:`mcmot.association.quality`; a measure that
could not be taken counts as 1). A right pair's correspondences last, find
the people its map sends into the other view and predict each other; of
the three, the chance fit is the one that fails them.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from mcmot.association.config import GeometryConfig
from mcmot.association.data import CameraObs
from mcmot.association.geometry import PairGeometry
from mcmot.association.homography import FloatArray, transfer
from mcmot.association.quality import PairQuality
from mcmot.association.windows import WindowFit

Pairs = dict[tuple[str, str], PairGeometry]


def _mappings(
    pairs: Pairs, a: str, b: str, frames: NDArray[np.int64]
) -> list[tuple[NDArray[np.bool_], FloatArray]]:
    """The trusted homographies a -> b over ``frames``: (which frames, homography)
    per trusted segment; a frame belongs to the first segment that holds it, and
    frames of untrusted segments or outside every segment have none."""
    g = pairs.get((a, b))
    inverse = g is None
    if inverse:
        g = pairs.get((b, a))
    if g is None:
        return []
    free = np.ones(len(frames), bool)
    out = []
    for s, e, H, q in g.segments():
        m = free & (frames >= s) & (frames <= e)
        free &= ~m
        if q.weight > 0 and m.any():
            out.append((m, np.linalg.inv(H) if inverse else H))
    return out


def _route_error(
    pairs: Pairs, a: CameraObs, b: str, c: str, rows: NDArray[np.int64], H: FloatArray
) -> float | None:
    """Median distance between a's feet and their image sent to b through c and
    back with ``H``'s inverse, in a's box heights (0 when the routes agree)."""
    Hi = np.linalg.inv(H)
    frames, feet = a.frames[rows], a.feet[rows]
    errs = []
    second = _mappings(pairs, c, b, frames)
    for m_ac, H_ac in _mappings(pairs, a.name, c, frames):
        for m_cb, H_cb in second:
            m = m_ac & m_cb
            if not m.any():
                continue
            back = transfer(Hi, transfer(H_cb, transfer(H_ac, feet[m])))
            errs.append(np.linalg.norm(back - feet[m], axis=1) / a.heights[rows[m]])
    if not errs:
        return None
    e = np.concatenate(errs)
    e = e[np.isfinite(e)]
    return float(np.median(e)) if len(e) else None


def _support(q: PairQuality) -> float:
    """Persistence x coverage x holdout of a fit (a measure not taken counts as 1)."""
    score = q.persistence
    for v in (q.coverage, q.holdout):
        if np.isfinite(v):
            score *= v
    return float(score)


def _weakest(pairs: Pairs, a: str, b: str, c: str) -> tuple[str, str] | None:
    """Of the static pairs of cameras a, b, c, the key of the one whose fit its
    own tests support least (:func:`_support`); None when a pair is missing or
    moving, or the lowest is tied."""
    found = []
    for x, y in ((a, b), (a, c), (c, b)):
        key = (x, y) if (x, y) in pairs else (y, x)
        g = pairs.get(key)
        if g is None or g.windows:
            return None
        found.append((_support(g.quality), key))
    found.sort()
    return found[0][1] if found[0][0] < found[1][0] else None


def check_loops(obs: list[CameraObs], pairs: Pairs, cfg: GeometryConfig) -> Pairs:
    """``pairs`` with the trusted segments that every loop contradicts switched off,
    and in a lone contradicting loop its least supported pair (module docstring)."""
    names = [o.name for o in obs]
    by_name = {o.name: o for o in obs}
    out: Pairs = {}
    for (a, b), g in pairs.items():
        thirds = [c for c in names if c not in (a, b)]
        oa = by_name[a]
        usable = np.flatnonzero(~oa.truncated)
        segs = []
        for s, e, H, q in g.segments():
            rows = usable[(oa.frames[usable] >= s) & (oa.frames[usable] <= e)]
            verdict = q
            if q.weight > 0 and len(rows):
                verdict = _judge(pairs, (a, b), oa, rows, H, q, thirds, cfg)
            segs.append((s, e, H, verdict))
        out[(a, b)] = _with_segments(g, segs)
    return out


def _judge(
    pairs: Pairs,
    key: tuple[str, str],
    oa: CameraObs,
    rows: NDArray[np.int64],
    H: FloatArray,
    q: PairQuality,
    thirds: list[str],
    cfg: GeometryConfig,
) -> PairQuality:
    """The verdict of the loops on one trusted segment of pair ``key`` (rows of a)."""
    a, b = key
    routes = {c: _route_error(pairs, oa, b, c, rows, H) for c in thirds}
    errors = {c: x for c, x in routes.items() if x is not None}
    agree = any(x <= cfg.inlier_threshold for x in errors.values())
    disagree = any(x > 2 * cfg.inlier_threshold for x in errors.values())
    if len(errors) >= 2 and disagree and not agree:
        return replace(
            q,
            weight=0.0,
            reason=f"off: contradicted by every route through a third camera "
            f"(median {min(errors.values()):.2f} box heights apart)",
        )
    if len(errors) == 1 and disagree:
        ((c, x),) = errors.items()
        if _weakest(pairs, a, b, c) == key:
            return replace(
                q,
                weight=0.0,
                reason=f"off: the loop through {c} disagrees ({x:.2f} box heights apart) "
                f"and this pair's fit is the least supported of the three",
            )
    return q


def _with_segments(g: PairGeometry, segs: list[tuple[int, int, FloatArray, PairQuality]]):
    if not g.windows:
        return replace(g, quality=segs[0][3])
    return replace(g, windows=tuple(WindowFit(s, e, H, q) for s, e, H, q in segs))
