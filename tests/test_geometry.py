"""Geometry learned from synchronization: homography recovery, quality, degenerate pairs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from benchmarks.simulate import toy_scene
from mcmot.association import windows as window_fitting
from mcmot.association.config import GeometryConfig
from mcmot.association.data import frame_pairs, make_obs, truncated_mask
from mcmot.association.geometry import (
    PairGeometry,
    fit_pair,
    fit_scene,
    load_geometry,
    save_geometry,
)
from mcmot.association.homography import (
    Candidates,
    candidates,
    dlt_batch,
    one_to_one,
    pair_errors,
    sample_ok,
    transfer,
)
from mcmot.association.quality import PairQuality, coverage, holdout, persistence, trust
from mcmot.association.windows import WindowFit
from mcmot.errors import McmotError
from mcmot.motio import MotTable

CFG = GeometryConfig(hypotheses=1500)


def cam(theta: float, tx: float, ty: float, s: float = 40.0, persp: float = 0.02) -> np.ndarray:
    """A floor (metres) -> image homography: rotation, scale, foreshortening."""
    c, sn = np.cos(theta), np.sin(theta)
    return np.array(
        [[s * c, -s * sn, tx], [s * sn * 0.5, s * c * 0.5, ty], [persp * sn, persp * c * 0.2, 1]]
    )


CAMS = [cam(0.0, 120, 150), cam(0.6, 200, 100)]


def _obs(tables: list[MotTable], size=(640, 480)):
    return [make_obs(f"c{i}", t, size, border_margin=3.0) for i, t in enumerate(tables)]


def test_frame_pairs_hand_computed():
    fa = np.array([1, 1, 2, 4])
    fb = np.array([1, 2, 2, 3])
    ia, ib = frame_pairs(fa, fb)
    assert list(zip(ia.tolist(), ib.tolist(), strict=True)) == [(0, 0), (1, 0), (2, 1), (2, 2)]
    ia, ib = frame_pairs(fa, fb, shift=1)  # b's frame = a's frame + 1
    pairs = list(zip(ia.tolist(), ib.tolist(), strict=True))
    assert pairs == [(0, 1), (0, 2), (1, 1), (1, 2), (2, 3)]


def test_truncated_boxes_are_flagged():
    boxes = np.array([[0, 10, 20, 40], [100, 10, 20, 40], [620, 10, 19, 40], [100, 440, 20, 39]])
    assert truncated_mask(boxes, (640, 480), 3.0).tolist() == [True, False, True, True]


def test_dlt_exact_on_four_points_and_orientation_check():
    H = CAMS[1] @ np.linalg.inv(CAMS[0])
    pa = np.array([[[100.0, 100], [300, 120], [280, 300], [90, 280]]])
    pb = transfer(H, pa[0])[None]
    Hf = dlt_batch(pa, pb)[0]
    np.testing.assert_allclose(transfer(Hf, pa[0]), pb[0], atol=1e-6)
    assert sample_ok(pa / 100, pb / 100).tolist() == [True]
    mirrored = pb.copy()
    mirrored[..., 0] *= -1  # a mirror image cannot come from a camera above the floor
    assert sample_ok(pa / 100, mirrored / 100).tolist() == [False]


def test_known_homography_recovered_with_outliers():
    rng = np.random.default_rng(3)
    a, b = toy_scene(CAMS, people=8, frames=300, rng=rng)
    # outliers: people only camera a sees (a quarter more boxes), and box noise
    extra = toy_scene([CAMS[0]], people=3, frames=300, rng=np.random.default_rng(9))[0]
    a = MotTable.from_arrays(
        np.r_[a.frames, extra.frames], np.r_[a.ids, extra.ids + 100], np.r_[a.boxes, extra.boxes]
    )
    b = b.with_ids(b.ids)
    noisy = MotTable.from_arrays(b.frames, b.ids, b.boxes + rng.normal(0, 1.0, b.boxes.shape))
    oa, ob = _obs([a, noisy])
    g = fit_pair(oa, ob, CFG, static=True)
    H_true = CAMS[1] @ np.linalg.inv(CAMS[0])
    feet = oa.feet[~oa.truncated]
    err = np.linalg.norm(transfer(g.H, feet) - transfer(H_true, feet), axis=1)
    assert np.median(err) < 2.0
    assert np.percentile(err, 95) < 6.0
    q = g.quality
    assert q.weight > 0.9 and q.sync_gap > 0.5
    assert q.inlier_rate > 0.8
    assert not g.moving


def test_pair_without_overlap_is_switched_off():
    rng = np.random.default_rng(4)
    # the two cameras watch two different groups of people (no shared floor)
    a = toy_scene([CAMS[0]], people=6, frames=300, rng=rng)[0]
    b = toy_scene([CAMS[1]], people=6, frames=300, rng=np.random.default_rng(5))[0]
    oa, ob = _obs([a, b])
    g = fit_pair(oa, ob, CFG, static=True)
    q = g.quality
    # a chance fit may pass the synchronization test; its pairs do not last
    assert q.weight == 0.0 and q.reason.startswith("off:")
    assert (
        q.persistence < CFG.min_persistence or q.support_sync - q.support_shifted < CFG.min_excess
    )


def test_moving_camera_gets_windowed_fits():
    rng = np.random.default_rng(6)
    a, b1 = toy_scene(CAMS, people=8, frames=300, rng=rng)
    # camera b pans after frame 150: its image content shifts by 120 pixels
    moved = b1.boxes.copy()
    late = b1.frames > 150
    moved[late, 0] -= 120
    b = MotTable.from_arrays(b1.frames, b1.ids, moved)
    oa, ob = _obs([a, b], size=(800, 600))
    g = fit_pair(oa, ob, CFG)
    assert g.moving and len(g.windows) >= 2
    assert all(w.quality.weight > 0.5 for w in g.windows)
    static = fit_pair(oa, ob, CFG, static=True)
    assert not static.moving and static.windows == ()


def test_pairs_fitted_in_parallel_processes_are_those_fitted_one_by_one():
    rng = np.random.default_rng(8)
    cams = [*CAMS, cam(-0.5, 160, 130)]
    a, b, c = toy_scene(cams, people=6, frames=160, rng=rng)
    moved = c.boxes.copy()
    moved[c.frames > 80, 0] += 90  # the third camera pans: its pairs search windows
    obs = _obs([a, b, MotTable.from_arrays(c.frames, c.ids, moved)], size=(800, 600))
    one = fit_scene(obs, CFG, workers=1)
    two = fit_scene(obs, CFG, workers=2)
    assert list(one) == list(two) == [("c0", "c1"), ("c0", "c2"), ("c1", "c2")]
    assert any(g.moving for g in one.values())
    for key, g in one.items():
        h = two[key]
        np.testing.assert_array_equal(g.H, h.H)
        assert g.quality == h.quality and g.moving == h.moving
        assert [(w.start, w.end) for w in g.windows] == [(w.start, w.end) for w in h.windows]
        for w, v in zip(g.windows, h.windows, strict=True):
            np.testing.assert_array_equal(w.H, v.H)


def test_geometry_file_roundtrip(tmp_path):
    rng = np.random.default_rng(7)
    oa, ob = _obs(toy_scene(CAMS, people=6, frames=120, rng=rng))
    g = fit_pair(oa, ob, CFG, static=True)
    save_geometry(tmp_path / "geometry.json", {("c0", "c1"): g})
    back = load_geometry(tmp_path / "geometry.json")[("c0", "c1")]
    np.testing.assert_allclose(back.H, g.H)
    assert back.quality.weight == pytest.approx(g.quality.weight)
    e = pair_errors(back.H, oa.feet[:3], oa.feet[:3], oa.heights[:3], oa.heights[:3])
    assert e.shape == (3,)
    (tmp_path / "bad.json").write_text('{"pairs": [{"a": "c0"}]}')
    with pytest.raises(McmotError, match="malformed"):
        load_geometry(tmp_path / "bad.json")
    with pytest.raises(McmotError, match="not found"):
        load_geometry(tmp_path / "missing.json")


def test_too_few_instants_leave_the_pair_to_appearance_and_say_so():
    rng = np.random.default_rng(8)
    oa, ob = _obs(toy_scene(CAMS, people=8, frames=4, rng=rng))
    q = fit_pair(oa, ob, CFG, static=True).quality
    assert q.weight == 0.0 and q.reason.startswith("off:")
    assert "appearance" in q.reason or "too few matches" in q.reason


def test_sync_shifts_follow_motion_not_frame_count():
    # the same walk filmed at 10 and at 30 frames/s: the test picks about three
    # times the frame shift at 30, where people have moved as far
    walk = toy_scene(CAMS, people=8, frames=900, speed=0.02, rng=np.random.default_rng(9))
    slow = [MotTable.from_arrays(t.frames, t.ids, t.boxes) for t in walk]
    fast_a, fast_b = _obs(slow)
    sub = [t.frames % 3 == 1 for t in slow]
    oa, ob = _obs(
        [
            MotTable.from_arrays((t.frames[m] + 2) // 3, t.ids[m], t.boxes[m])
            for t, m in zip(slow, sub, strict=True)
        ]
    )
    s30 = fit_pair(fast_a, fast_b, CFG, static=True, fps=30.0).quality
    s10 = fit_pair(oa, ob, CFG, static=True, fps=10.0).quality
    assert s30.weight > 0.9 and s10.weight > 0.9
    ratio = np.median(s30.shifts) / np.median(s10.shifts)
    assert 2.0 <= ratio <= 4.5


def _linked_candidates(pairs: list[tuple[int, int, int, int]]) -> tuple[Candidates, np.ndarray]:
    """Candidates of tracklet pairs (ta, tb, frames both are seen, frames linked),
    and the indices of the linked ones (the first ``linked`` frames of each)."""
    ta, tb, frames, keep = [], [], [], []
    for a, b, both, linked in pairs:
        start = len(ta)
        ta += [a] * both
        tb += [b] * both
        frames += list(range(1, both + 1))
        keep += list(range(start, start + linked))
    n = len(ta)
    z, z2 = np.zeros(n, np.int64), np.zeros((n, 2))
    c = Candidates(
        z, z, z2, z2, np.ones(n), np.ones(n), np.array(frames), np.array(ta), np.array(tb)
    )
    return c, np.array(keep, np.int64)


def test_persistence_averages_over_matches_so_a_coincidence_of_long_tracklets_weighs_one_match():
    # one pair linked in all 10 frames both are seen; a one-frame coincidence of
    # two tracklets seen together for 300 frames
    c, keep = _linked_candidates([(1, 1, 10, 10), (2, 3, 300, 1)])
    assert persistence(c, keep) == pytest.approx((10 * 1.0 + 1 * (1 / 300)) / 11)
    # the same links with the coincidence's tracklets seen 3000 frames: hardly changes
    c_long, keep_long = _linked_candidates([(1, 1, 10, 10), (2, 3, 3000, 1)])
    assert persistence(c_long, keep_long) == pytest.approx(persistence(c, keep), abs=0.01)


def test_persistence_of_pairs_linked_half_of_their_common_frames_is_one_half():
    c, keep = _linked_candidates([(1, 1, 20, 10), (2, 2, 40, 20)])
    assert persistence(c, keep) == pytest.approx(0.5)
    assert persistence(c, np.zeros(0, np.int64)) == 0.0


def test_an_excess_beyond_chance_that_large_trusts_a_pair_whatever_its_persistence():
    # support 0.7 at the true instant; shifted 0.1 -> excess 0.6; gap 0.86
    w, why = trust(100, 0.7, 0.1, 100, 0.3, CFG)
    assert w == 1.0 and "(decisive)" in why
    # shifted 0.3 -> excess 0.4: below the decisive ramp, short-lived pairs switch it off
    w, why = trust(100, 0.7, 0.3, 100, 0.3, CFG)
    assert w == 0.0 and why.startswith("off: pairs do not last")
    # halfway up the ramp (excess 0.5): half the persistence ramp's weight at most
    w, _ = trust(100, 0.7, 0.2, 100, 0.3, CFG)
    assert w == pytest.approx(0.5)


def _feet_table(feet: list[tuple[float, float]], frame: int = 1) -> MotTable:
    """One frame of 40x100-pixel boxes standing on ``feet``."""
    n = len(feet)
    boxes = np.array([[x - 20.0, y - 100.0, 40.0, 100.0] for x, y in feet])
    return MotTable(
        np.full(n, frame, np.int64), np.arange(1, n + 1), boxes, np.ones(n), np.zeros((n, 3))
    )


def _coverage_of(H: np.ndarray, oa, ob, window: int = 0) -> float:
    c = candidates(oa, ob)
    keep = one_to_one(pair_errors(H, c.pa, c.pb, c.ha, c.hb), c.ia, c.ib, 0.25)
    every_a, every_b = np.ones(len(oa), bool), np.ones(len(ob), bool)
    return coverage(oa, ob, H, c, keep, every_a, every_b, window)


def _walk(rows: list[tuple[int, int, float, float]]) -> MotTable:
    """Rows (frame, id, foot x, foot y) of 40x100-pixel boxes."""
    f, i, x, y = (np.array(v) for v in zip(*rows, strict=True))
    boxes = np.stack([x - 20.0, y - 100.0, np.full(len(x), 40.0), np.full(len(x), 100.0)], 1)
    return MotTable(
        f.astype(np.int64), i.astype(np.int64), boxes, np.ones(len(f)), np.zeros((len(f), 3))
    )


def test_coverage_forgives_frames_the_other_view_missed_within_its_window():
    # a sees P in frames 1-6; b misses P in frames 1-3 and sees Q far outside a's
    # image in every frame (so b has rows in every frame)
    a = _walk([(f, 1, 100.0, 200.0) for f in range(1, 7)])
    b = _walk(
        [(f, 1, 100.0, 200.0) for f in range(4, 7)] + [(f, 2, 1000.0, 300.0) for f in range(1, 7)]
    )
    oa = make_obs("a", a, (640, 480), border_margin=3.0)
    ob = make_obs("b", b, (1280, 480), border_margin=3.0)
    # a: 3 of 6 feet found at their own frame; b: P's 3 feet found, Q's land outside a
    assert _coverage_of(np.eye(3), oa, ob) == pytest.approx(6 / 9)
    # within 2 frames of a match: frames 2 and 3 of P in a are forgiven, frame 1 is not
    assert _coverage_of(np.eye(3), oa, ob, window=2) == pytest.approx(8 / 9)
    assert _coverage_of(np.eye(3), oa, ob, window=3) == pytest.approx(1.0)


def test_coverage_is_the_share_of_feet_sent_into_the_other_view_that_find_a_partner():
    # a sees four people; b sees two of them where the identity homography sends
    # them, and nobody where it sends the other two; a fifth foot of a lands
    # outside b's image and is not counted
    oa, ob = _obs(
        [
            _feet_table([(100, 200), (300, 200), (500, 200), (300, 400), (700, 300)]),
            _feet_table([(100, 200), (300, 200)]),
        ],
        size=(640, 480),
    )
    # a: 2 of 4 inside found; b: 2 of 2 found
    assert _coverage_of(np.eye(3), oa, ob) == pytest.approx(4 / 6)
    # sent 1,000 pixels away, no foot lands inside the other view: not measurable
    away = np.array([[1.0, 0, 1000], [0, 1, 0], [0, 0, 1]])
    assert np.isnan(_coverage_of(away, oa, ob))


def test_a_true_homography_covers_the_other_view_and_a_shifted_one_does_not():
    tables = toy_scene(CAMS, people=8, frames=100, rng=np.random.default_rng(3))
    oa, ob = _obs(tables)
    H = CAMS[1] @ np.linalg.inv(CAMS[0])
    shifted = np.array([[1.0, 0, 120], [0, 1, 0], [0, 0, 1]]) @ H
    assert _coverage_of(H, oa, ob) > 0.9
    assert _coverage_of(shifted, oa, ob) < 0.3


def test_a_fit_whose_feet_the_other_view_does_not_see_is_switched_off_unless_the_excess_decides():
    # support 0.5 at the true instant, 0.1 shifted: excess 0.4 (not decisive), gap 0.8;
    # persistence 0.9, but the other view sees few of the feet the fit sends there
    w, why = trust(100, 0.5, 0.1, 100, 0.9, CFG, cov=0.2)
    assert w == 0.0 and why.startswith("off: the other view sees few of the feet")
    # halfway up the coverage ramp: half the weight
    mid = (CFG.min_coverage + CFG.full_coverage) / 2
    w, why = trust(100, 0.5, 0.1, 100, 0.9, CFG, cov=mid)
    assert w == pytest.approx(0.5) and "coverage" in why
    # not measurable (NaN) or not judged (a window, None): the weight is persistence's alone
    assert trust(100, 0.5, 0.1, 100, 0.9, CFG, cov=float("nan"))[0] == 1.0
    assert trust(100, 0.5, 0.1, 100, 0.9, CFG, cov=None)[0] == 1.0
    # an excess of 0.6 decides alone
    assert trust(100, 0.7, 0.1, 100, 0.9, CFG, cov=0.2)[0] == 1.0


def _tracklet_matches(maps: list[np.ndarray], per_pair: int = 10) -> tuple[Candidates, np.ndarray]:
    """Matches of one pair of tracklets per homography of ``maps``: a's feet
    spread over a 400x300-pixel floor, b's where that homography sends them
    (boxes 100 pixels tall); every candidate is a match."""
    rng = np.random.default_rng(5)
    pa = rng.uniform([100, 100], [500, 400], (per_pair * len(maps), 2))
    pb = np.concatenate(
        [transfer(H, pa[k * per_pair : (k + 1) * per_pair]) for k, H in enumerate(maps)]
    )
    group = np.repeat(np.arange(1, len(maps) + 1), per_pair)
    n = len(pa)
    idx = np.arange(n)
    c = Candidates(idx, idx, pa, pb, np.full(n, 100.0), np.full(n, 100.0), idx + 1, group, group)
    return c, idx


def test_matches_of_one_floor_predict_each_other_when_each_pair_is_held_out():
    H = CAMS[1] @ np.linalg.inv(CAMS[0])
    c, keep = _tracklet_matches([H] * 5)
    assert holdout(c, keep, 0.25, 4) == pytest.approx(1.0)


def test_matches_that_each_follow_their_own_map_predict_none_of_each_other():
    # five chance coincidences: each pair of tracklets fits its own homography
    maps = [cam(0.5 * k, 120 + 50 * k, 150 - 30 * k) @ np.linalg.inv(CAMS[0]) for k in range(5)]
    c, keep = _tracklet_matches(maps)
    assert holdout(c, keep, 0.25, 4) < 0.2


def test_holdout_needs_enough_tracklet_pairs_to_hold_one_out():
    H = CAMS[1] @ np.linalg.inv(CAMS[0])
    c, keep = _tracklet_matches([H] * 3)
    assert np.isnan(holdout(c, keep, 0.25, 4))
    assert holdout(c, keep, 0.25, 3) == pytest.approx(1.0)
    assert np.isnan(holdout(c, np.zeros(0, np.int64), 0.25, 4))


def test_a_fit_whose_matches_do_not_predict_each_other_is_switched_off_unless_the_excess_decides():
    # excess 0.4 (not decisive), persistence 0.9, coverage 0.9
    w, why = trust(100, 0.5, 0.1, 100, 0.9, CFG, cov=0.9, hold=0.05)
    assert w == 0.0 and why.startswith("off: the matches do not predict each other")
    mid = (CFG.min_holdout + CFG.full_holdout) / 2
    w, why = trust(100, 0.5, 0.1, 100, 0.9, CFG, cov=0.9, hold=mid)
    assert w == pytest.approx(0.5) and "holdout" in why
    # too few tracklet pairs (NaN) or not judged (a window, None): no say
    assert trust(100, 0.5, 0.1, 100, 0.9, CFG, cov=0.9, hold=float("nan"))[0] == 1.0
    assert trust(100, 0.5, 0.1, 100, 0.9, CFG, cov=0.9, hold=None)[0] == 1.0
    assert trust(100, 0.7, 0.1, 100, 0.9, CFG, cov=0.9, hold=0.05)[0] == 1.0


def test_a_window_is_judged_by_its_synchronization_test_alone():
    # gap 0.75 (full), excess 0.3: trusted, as a whole recording's fit with lasting pairs is
    assert trust(100, 0.4, 0.1, 100, 0.9, CFG, cov=0.9, hold=0.9)[0] == 1.0
    assert trust(100, 0.4, 0.1, 100, None, CFG)[0] == 1.0
    # pairs that do not last switch a whole recording's fit off, not a window's
    assert trust(100, 0.4, 0.1, 100, 0.1, CFG, cov=0.9, hold=0.9)[0] == 0.0


def test_a_ramp_set_to_zero_switches_its_test_off_even_for_a_score_of_zero():
    off = GeometryConfig(min_holdout=0.0, full_holdout=0.0, min_coverage=0.0, full_coverage=0.0)
    assert trust(100, 0.5, 0.1, 100, 0.9, off, cov=0.0, hold=0.0)[0] == 1.0


def test_one_to_one_keeps_mutual_nearest_partners_ties_to_the_first_candidate():
    # a0's nearest is b1 (0.05, candidate 1); a1's is b1 too (0.05, candidate 3), but b1
    # takes the first of the tied candidates, a0; b0's nearest is a0, whose nearest is b1
    err = np.array([0.1, 0.05, 0.2, 0.05])
    ia, ib = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    assert one_to_one(err, ia, ib, 0.25).tolist() == [1]
    assert one_to_one(err, ia, ib, 0.05).tolist() == []  # strictly below the gate
    # row numbers need not start at 0 or be contiguous
    assert one_to_one(err, ia + 7, ib * 5 + 3, 0.25).tolist() == [1]


def test_transfer_sends_points_behind_the_camera_and_unknown_points_to_inf():
    H = np.array([[2.0, 0.0, 1.0], [0.0, 3.0, 0.0], [0.0, 1.0, 1.0]])
    pts = np.array([[1.0, 1.0], [0.0, -2.0], [np.inf, 0.0], [2.0, 0.0]])
    out = transfer(H, pts)
    assert out[0].tolist() == [1.5, 1.5] and out[3].tolist() == [5.0, 0.0]
    assert np.isinf(out[1]).all() and np.isinf(out[2]).all()  # w = -1; inf in
    assert transfer(H, pts[[0, 3]]).tolist() == out[[0, 3]].tolist()  # same values, no masking


def test_sync_supports_are_the_same_with_the_candidates_of_a_pair_cached():
    from mcmot.association.quality import ShiftedPairs, choose_shifts, sync_supports

    a, b = _obs(toy_scene(CAMS, people=6, frames=60, rng=np.random.default_rng(3)))
    H = CAMS[1] @ np.linalg.inv(CAMS[0])
    first = np.flatnonzero(a.frames <= 30)
    halves = [np.isin(np.arange(len(a)), first), ~np.isin(np.arange(len(a)), first)]
    shared = ShiftedPairs(a, b, CFG.sync_min_motion)
    shifts = choose_shifts(a, b, CFG, 10.0)
    for rows in [*halves, *halves]:  # the second round is served from the cache
        alone = sync_supports(a, b, H, CFG, shifts, rows)
        assert sync_supports(a, b, H, CFG, shifts, rows, shared) == alone
        assert alone[2] > 0 and alone[0] > alone[1]


def test_a_switched_off_window_falls_back_on_a_trusted_whole_recording_fit():
    whole = PairQuality(gate=0.2, weight=0.8, reason="trusted")
    on, off = PairQuality(weight=1.0), PairQuality(weight=0.0, reason="off: loop")
    Hw, Hg = np.diag([2.0, 2.0, 1.0]), np.eye(3)
    windows = (WindowFit(1, 10, Hw, on), WindowFit(11, 20, Hw, off))
    g = PairGeometry("a", "b", Hg, whole, True, windows)
    kept, fell = g.with_fallbacks().windows
    assert kept == windows[0]
    assert (fell.start, fell.end, fell.quality) == (11, 20, whole)
    np.testing.assert_array_equal(fell.H, Hg)
    assert (
        g.with_fallbacks().why()
        == "moving: 2/2 windows of 10 frames trusted (1 on the whole-recording fit)"
    )
    untrusted = replace(g, quality=replace(whole, weight=0.0))
    assert untrusted.with_fallbacks().windows == windows  # nothing to fall back on
    assert untrusted.why() == "moving: 1/2 windows of 10 frames trusted"


def test_a_right_window_fit_reaches_the_windows_before_it(monkeypatch):
    rng = np.random.default_rng(12)
    a, b0 = toy_scene(CAMS, people=8, frames=300, rng=rng)
    drift = 0.8 * b0.frames  # camera b pans steadily: 240 pixels over the recording
    moved = b0.boxes.copy()
    moved[:, 0] += drift
    b = MotTable.from_arrays(b0.frames, b0.ids, moved)
    oa, ob = _obs([a, b], size=(1200, 600))  # nobody leaves b's image
    real = window_fitting.ransac_homography
    calls = []

    def late_luck(c, cfg, rng):  # RANSAC finds the right fit only in the last 4 s
        H, keep = real(c, cfg, rng)
        calls.append(int(c.frames.min()))
        if c.frames.min() < 260:
            H = np.diag([0.5, 0.5, 1.0]) @ H  # a wrong fit: every foot sent elsewhere
        return H, keep

    monkeypatch.setattr(window_fitting, "ransac_homography", late_luck)
    g = fit_pair(oa, ob, CFG, fps=10.0)
    assert calls and g.moving
    c = candidates(oa, ob)
    true = c.ta == c.tb  # toy_scene's ids are the same person in both views
    for w in g.windows:
        m = true & (c.frames >= w.start) & (c.frames <= w.end)
        explained = pair_errors(w.H, c.pa[m], c.pb[m], c.ha[m], c.hb[m]) < CFG.inlier_threshold
        assert explained.mean() > 0.8, (w.start, w.end, explained.mean())
