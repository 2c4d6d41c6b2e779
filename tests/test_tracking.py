"""Matching costs, the cascade, and the online Tracker's life cycle."""

from __future__ import annotations

import numpy as np
import pytest

from mcmot.errors import McmotError
from mcmot.tracking import Detections, Tracker, TrackerConfig
from mcmot.tracking.matching import (
    GATED,
    GATING_THRESHOLD,
    cosine_cost,
    gate,
    iou_cost,
    matching_cascade,
    min_cost_matching,
)

# ---------------------------------------------------------------- matching


def test_cosine_cost_is_min_over_gallery() -> None:
    e1, e2, e3 = np.eye(3)
    diag = np.array([1.0, 1.0, 0.0]) / np.sqrt(2)
    galleries = [np.stack([e1, e2]), None, e3[None]]
    cost = cosine_cost(galleries, np.stack([e1, diag]))
    np.testing.assert_allclose(cost[0], [0.0, 1 - 1 / np.sqrt(2)])
    assert (cost[1] == GATED).all()
    np.testing.assert_allclose(cost[2], [1.0, 1.0])


def test_iou_cost_hand_values() -> None:
    a = np.array([[0.0, 0, 10, 10]])
    b = np.array([[0.0, 0, 10, 10], [5, 0, 10, 10], [20, 20, 5, 5]])
    np.testing.assert_allclose(iou_cost(a, b), [[0.0, 1 - 50 / 150, 1.0]])


def test_gate_rules_out_far_pairs() -> None:
    cost = np.array([[0.1, 0.1]])
    maha = np.array([[GATING_THRESHOLD - 0.01, GATING_THRESHOLD + 0.01]])
    np.testing.assert_array_equal(gate(cost, maha), [[0.1, GATED]])
    assert abs(GATING_THRESHOLD - 9.4877) < 1e-4


def test_min_cost_matching_rejects_above_max() -> None:
    cost = np.array([[0.1, 0.9], [0.8, 0.5]])
    matches, rows, cols = min_cost_matching(cost, max_distance=0.4)
    assert matches == [(0, 0)]
    assert rows == [1] and cols == [1]


def test_min_cost_matching_subsets_and_empty() -> None:
    cost = np.array([[0.1, 0.2], [0.3, 0.05]])
    matches, rows, cols = min_cost_matching(cost, 1.0, rows=np.array([1]), cols=np.array([0, 1]))
    assert matches == [(1, 1)] and rows == [] and cols == [0]
    assert min_cost_matching(np.zeros((0, 3)), 1.0) == ([], [], [0, 1, 2])


def test_cascade_gives_recent_tracks_first_pick() -> None:
    # one detection; the track missed for 3 frames fits it better (0.05) than the
    # track updated last frame (0.15), but the recent one is matched first
    cost = np.array([[0.05], [0.15]])
    tsu = np.array([3, 1])
    matches, rows, cols = matching_cascade(cost, tsu, max_distance=0.2, cascade_depth=30)
    assert matches == [(1, 0)]
    assert rows == [0] and cols == []
    # a plain assignment would have picked the older track
    assert min_cost_matching(cost, 0.2)[0] == [(0, 0)]


def test_cascade_falls_through_levels_and_respects_depth() -> None:
    cost = np.array([[0.5, 0.1], [0.1, 0.5], [0.0, 0.0]])
    tsu = np.array([1, 2, 5])
    matches, rows, cols = matching_cascade(cost, tsu, 0.2, cascade_depth=4)
    assert sorted(matches) == [(0, 1), (1, 0)]
    assert rows == [2] and cols == []
    matches, rows, cols = matching_cascade(cost[[2]], tsu[[2]], 0.2, cascade_depth=4)
    assert matches == [] and rows == [0] and cols == [0, 1]  # level 5 > depth 4


# ---------------------------------------------------------------- tracker helpers


def box(x: float, y: float = 100.0, w: float = 30.0, h: float = 80.0) -> list[float]:
    return [x, y, w, h]


def dets(*boxes: list[float], feats: np.ndarray | None = None) -> Detections:
    if not boxes:
        return Detections.empty()
    arr = np.asarray(boxes, np.float64)
    return Detections(arr, np.full(len(arr), 0.9), feats)


def ids(rows: list) -> list[int]:
    return [r[0] for r in rows]


# ---------------------------------------------------------------- tracker life cycle


def test_confirmed_after_n_init_hits_and_boxes_are_the_detections() -> None:
    tr = Tracker(TrackerConfig(n_init_seconds=0.3))
    assert tr.update(dets(box(100))) == []
    assert tr.update(dets(box(103))) == []
    out = tr.update(dets(box(106.5)))
    assert ids(out) == [1]
    np.testing.assert_array_equal(out[0][1], box(106.5))
    assert out[0][2] == 0


def test_empty_frames() -> None:
    tr = Tracker()
    assert tr.update(Detections.empty()) == []  # empty before any track
    for k in range(4):
        tr.update(dets(box(100 + 2 * k)))
    assert tr.update(Detections.empty()) == []  # a confirmed track is not reported...
    assert len(tr.tracks) == 1  # ...but survives
    assert tr.tracks[0].time_since_update == 1
    assert tr.frame_count == 6


def test_tentative_track_deleted_on_a_miss() -> None:
    tr = Tracker()
    tr.update(dets(box(100)))
    tr.update(dets(box(102)))
    assert len(tr.tracks) == 1 and tr.tracks[0].is_tentative
    tr.update(Detections.empty())
    assert tr.tracks == []


@pytest.mark.parametrize("motion_cost", ["iou", "mahalanobis"])
def test_short_occlusion_keeps_the_id(motion_cost: str) -> None:
    tr = Tracker(TrackerConfig(motion_cost=motion_cost))
    seen = []
    for k in range(30):
        x = 50 + 4 * k  # walks right at 4 px/frame
        hidden = 12 <= k < 18  # six frames behind an occluder
        out = tr.update(Detections.empty() if hidden else dets(box(x)))
        seen.extend(ids(out))
    assert set(seen) == {1}
    assert len(seen) == 30 - 6 - 2  # all visible frames after confirmation


def test_deleted_track_id_is_never_reused() -> None:
    tr = Tracker(TrackerConfig(max_age_seconds=0.3))
    for k in range(4):
        tr.update(dets(box(100 + k)))
    assert [t.track_id for t in tr.tracks] == [1]
    for _ in range(4):  # missed for more than max_age frames
        tr.update(Detections.empty())
    assert tr.tracks == []
    # a tentative track that dies also uses up its id
    tr.update(dets(box(500)))
    tr.update(Detections.empty())
    first = [tr.update(dets(box(100 + k))) for k in range(3)]
    assert ids(first[-1]) == [3]


def test_two_trackers_have_independent_ids() -> None:
    a, b = Tracker(TrackerConfig(n_init_seconds=0.1)), Tracker(TrackerConfig(n_init_seconds=0.1))
    assert ids(a.update(dets(box(10), box(200)))) == [1, 2]
    assert ids(b.update(dets(box(10)))) == [1]


def test_low_confidence_detections_are_ignored_and_indices_kept() -> None:
    tr = Tracker(TrackerConfig(n_init_seconds=0.1, min_confidence=0.5))
    d = Detections(np.array([box(10), box(300)]), np.array([0.2, 0.9]))
    out = tr.update(d)
    assert len(out) == 1 and out[0][2] == 1
    np.testing.assert_array_equal(out[0][1], box(300))


def test_appearance_decides_after_a_gap() -> None:
    e1, e2 = np.eye(2)

    def run(feature_after: np.ndarray) -> list[int]:
        tr = Tracker()
        for k in range(5):
            tr.update(dets(box(100 + k), feats=e1[None]))
        tr.update(Detections.empty())
        tr.update(Detections.empty())  # now missed for 2 frames: cascade only, no IoU stage
        got = []
        for k in range(3):
            got += ids(tr.update(dets(box(108 + k), feats=feature_after[None])))
        return got

    assert run(e1) == [1, 1, 1]  # same appearance: the same person
    assert run(e2) == [2]  # cosine distance 1 > 0.2: a new track, confirmed on its 3rd hit


def test_crossing_people_keep_ids_with_features() -> None:
    e1, e2 = np.eye(2)
    tr = Tracker()
    history: dict[int, list[float]] = {}
    for k in range(40):
        xa, xb = 100 + 5 * k, 300 - 5 * k  # they cross at k = 20
        d = dets(box(xa), box(xb, y=104), feats=np.stack([e1, e2]))
        for tid, _box, index in tr.update(d):
            history.setdefault(tid, []).append(index)
    assert sorted(history) == [1, 2]
    assert set(history[1]) == {0} and set(history[2]) == {1}


def test_motion_weight_lets_motion_tell_look_alikes_apart() -> None:
    # two look-alike people side by side; in the last frame their features trade
    # places (cosine distances 0 vs 0.005), while their boxes stay put
    fa, fb = (np.array([1.0, s * 0.05]) / np.hypot(1.0, 0.05) for s in (1, -1))

    def last_frame(motion_weight: float) -> dict[int, int]:
        tr = Tracker(TrackerConfig(motion_weight=motion_weight))
        for _ in range(5):
            tr.update(dets(box(100), box(108), feats=np.stack([fa, fb])))
        rows = tr.update(dets(box(100), box(108), feats=np.stack([fb, fa])))
        return {tid: index for tid, _box, index in rows}

    assert last_frame(0.0) == {1: 1, 2: 0}  # DeepSORT: appearance alone decides
    assert last_frame(0.5) == {1: 0, 2: 1}  # the boxes did not move: no swap
    # the mix never admits a pair the cosine gate rejects: after a 2-frame gap
    # (cascade only), a perfectly placed box that looks different starts a new track
    tr = Tracker(TrackerConfig(motion_weight=0.9))
    e1, e2 = np.eye(2)
    for _ in range(5):
        tr.update(dets(box(100), feats=e1[None]))
    tr.update(Detections.empty())
    tr.update(Detections.empty())
    assert [ids(tr.update(dets(box(100), feats=e2[None]))) for _ in range(3)] == [[], [], [2]]


@pytest.mark.parametrize(
    "changes",
    [
        {"n_init_seconds": 0},
        {"motion_weight": -0.1},
        {"max_age_seconds": -1},
        {"nn_budget": 0},
        {"max_iou_distance": 1.5},
        {"motion_cost": "nope"},
    ],
)
def test_bad_config_is_one_line_error(changes: dict) -> None:
    with pytest.raises(McmotError, match="tracker config"):
        TrackerConfig(**changes)


def test_motion_costs_differ_on_a_fast_jump() -> None:
    # after a 3-frame gap the walker reappears 32 px further than predicted: no
    # overlap with the predicted box (IoU cascade: new track), but inside the
    # Mahalanobis gate of the lost track (its covariance grew during the gap)
    def run(motion_cost: str) -> list[list[int]]:
        tr = Tracker(TrackerConfig(motion_cost=motion_cost))
        out = [ids(tr.update(dets(box(50 + 3 * k)))) for k in range(6)]
        for _ in range(3):
            tr.update(Detections.empty())
        return out + [ids(tr.update(dets(box(77 + 32 + 3 * k)))) for k in range(3)]

    iou, maha = run("iou"), run("mahalanobis")
    assert iou[2:6] == maha[2:6] == [[1]] * 4
    assert iou[6:] == [[], [], [2]]
    assert maha[6:] == [[1]] * 3
