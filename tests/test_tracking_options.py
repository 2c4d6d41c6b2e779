"""Tracker options: BYTE's low-score stage, recovered tentative frames, the hybrid cost."""

from __future__ import annotations

import numpy as np
import pytest

from mcmot.errors import McmotError
from mcmot.motio import MotTable
from mcmot.stages.track import track_camera
from mcmot.tracking import Detections, Tracker, TrackerConfig
from mcmot.tracking.matching import GATED, GATING_THRESHOLD


def box(x: float, y: float = 100.0, w: float = 30.0, h: float = 80.0) -> list[float]:
    return [x, y, w, h]


def frame(*rows: tuple[list[float], float], feats: np.ndarray | None = None) -> Detections:
    """Detections from (box, score) pairs."""
    if not rows:
        return Detections.empty()
    return Detections(np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), feats)


# ---------------------------------------------------------------- low-score stage


def _confirmed(cfg: TrackerConfig) -> Tracker:
    """A tracker holding one confirmed track at x = 100 (n_init = 1), seen this frame."""
    tr = Tracker(cfg)
    assert [r[0] for r in tr.update(frame((box(100), 0.9)))] == [1]
    return tr


def test_low_score_detection_continues_a_track_only_with_the_stage_on() -> None:
    off = _confirmed(TrackerConfig(n_init_seconds=0.1))
    assert off.update(frame((box(100), 0.2))) == []  # 0.2 < min_confidence 0.3: ignored
    assert off.tracks[0].time_since_update == 1

    on = _confirmed(TrackerConfig(n_init_seconds=0.1, low_confidence=0.1))
    d = frame((box(500), 0.9), (box(101), 0.2))
    out = on.update(d)
    # track 1 keeps going on the low-score box (row 1); the far high-score box starts track 2
    assert [(r[0], r[2]) for r in out] == [(1, 1), (2, 0)]
    np.testing.assert_array_equal(out[0][1], box(101))
    assert on.tracks[0].time_since_update == 0 and on.tracks[0].hits == 2


def test_low_score_detection_never_starts_a_track_and_below_floor_is_dropped() -> None:
    tr = Tracker(TrackerConfig(n_init_seconds=0.1, low_confidence=0.1))
    assert tr.update(frame((box(100), 0.2), (box(300), 0.05))) == []
    assert tr.tracks == []


def test_low_score_stage_needs_iou_above_one_minus_its_threshold() -> None:
    # same size, shifted by 12 px of 30: IoU = 18*80 / (2*30*80 - 18*80) = 18/42 = 0.43,
    # 1 - IoU = 0.571: accepted at low_max_iou_distance 0.6, rejected at BYTE's 0.5
    for threshold, expected in [(0.6, [1]), (0.5, [])]:
        tr = _confirmed(
            TrackerConfig(n_init_seconds=0.1, low_confidence=0.1, low_max_iou_distance=threshold)
        )
        assert [r[0] for r in tr.update(frame((box(112), 0.2)))] == expected


def test_low_score_stage_skips_tracks_missed_before() -> None:
    tr = _confirmed(TrackerConfig(n_init_seconds=0.1, low_confidence=0.1))
    tr.update(Detections.empty())  # missed once: time_since_update 1 -> 2 at next predict
    assert tr.update(frame((box(100), 0.2))) == []
    assert tr.tracks[0].time_since_update == 2


def test_low_score_features_stay_out_of_the_gallery() -> None:
    e1, e2 = np.eye(2)
    tr = Tracker(TrackerConfig(n_init_seconds=0.1, low_confidence=0.1))
    tr.update(frame((box(100), 0.9), feats=e1[None]))
    out = tr.update(frame((box(100), 0.2), feats=e2[None]))
    assert [r[0] for r in out] == [1]
    np.testing.assert_array_equal(tr.tracks[0].gallery, e1[None])


def test_high_score_detection_wins_over_low_score_one() -> None:
    tr = _confirmed(TrackerConfig(n_init_seconds=0.1, low_confidence=0.1))
    out = tr.update(frame((box(100), 0.2), (box(102), 0.9)))
    assert [(r[0], r[2]) for r in out] == [(1, 1)]  # the high-score row, the low one unused
    assert len(tr.tracks) == 1


@pytest.mark.parametrize(
    "changes", [{"low_confidence": 0.3}, {"low_confidence": 0.5}, {"low_max_iou_distance": 1.2}]
)
def test_bad_low_score_config_is_one_line_error(changes: dict) -> None:
    with pytest.raises(McmotError, match="tracker config"):
        TrackerConfig(**changes)


# ---------------------------------------------------------------- recovered tentative frames


def test_tentative_rows_are_recovered_on_confirmation() -> None:
    tr = Tracker(TrackerConfig(n_init_seconds=0.3, emit_tentative=True))
    assert tr.update(frame((box(300), 0.9), (box(100), 0.9))) == []
    assert tr.pop_recovered() == []
    assert tr.update(frame((box(103), 0.9), (box(300), 0.9))) == []
    out = tr.update(frame((box(106), 0.9), (box(300), 0.9)))
    assert sorted((r[0], r[2]) for r in out) == [(1, 1), (2, 0)]
    got = sorted((f, tid, i, tuple(b)) for f, tid, b, i in tr.pop_recovered())
    assert got == [
        (1, 1, 0, tuple(box(300))),
        (1, 2, 1, tuple(box(100))),
        (2, 1, 1, tuple(box(300))),
        (2, 2, 0, tuple(box(103))),
    ]
    assert tr.pop_recovered() == []  # handed out once
    tr.update(frame((box(109), 0.9)))
    assert tr.pop_recovered() == []  # confirmed tracks add nothing more


def test_tentative_rows_of_a_track_that_dies_are_never_emitted() -> None:
    tr = Tracker(TrackerConfig(n_init_seconds=0.3, emit_tentative=True))
    tr.update(frame((box(100), 0.9)))
    tr.update(frame((box(102), 0.9)))
    tr.update(Detections.empty())  # deleted while tentative
    for k in range(3):
        tr.update(frame((box(400 + k), 0.9)))
    assert [(f, tid) for f, tid, _, _ in tr.pop_recovered()] == [(4, 2), (5, 2)]


def test_recovery_off_by_config_keeps_nothing() -> None:
    tr = Tracker(TrackerConfig(n_init_seconds=0.2, emit_tentative=False))
    tr.update(frame((box(100), 0.9)))
    assert tr.tracks[0].pending == []
    assert [r[0] for r in tr.update(frame((box(101), 0.9)))] == [1]
    assert tr.pop_recovered() == []


def test_track_camera_writes_recovered_rows_in_frame_order() -> None:
    # one walker in frames 1-4, an empty frame 5
    det = MotTable.from_arrays(
        np.array([1, 2, 3, 4]),
        -np.ones(4),
        np.array([box(100), box(102), box(104), box(106)], np.float64),
        np.full(4, 0.9),
    )
    cfg = TrackerConfig(n_init_seconds=0.3)
    plain = track_camera(det, None, 5, cfg)
    assert plain.frames.tolist() == [3, 4]
    full = track_camera(det, None, 5, TrackerConfig(n_init_seconds=0.3, emit_tentative=True))
    assert full.frames.tolist() == [1, 2, 3, 4]
    assert full.ids.tolist() == [1, 1, 1, 1]
    np.testing.assert_array_equal(full.boxes, det.boxes)


# ---------------------------------------------------------------- hybrid motion cost


def test_hybrid_cost_is_iou_for_recent_tracks_and_mahalanobis_after_a_gap() -> None:
    # after a 3-frame gap the walker reappears 32 px beyond the prediction: no overlap
    # (IoU: a new track), but inside the grown Mahalanobis gate (hybrid keeps id 1)
    def run(motion_cost: str) -> list[list[int]]:
        tr = Tracker(TrackerConfig(motion_cost=motion_cost))
        out = [[r[0] for r in tr.update(frame((box(50 + 3 * k), 0.9)))] for k in range(6)]
        for _ in range(3):
            tr.update(Detections.empty())
        later = [tr.update(frame((box(77 + 32 + 3 * k), 0.9))) for k in range(3)]
        return out + [[r[0] for r in rows] for rows in later]

    assert run("iou")[6:] == [[], [], [2]]
    assert run("hybrid")[6:] == [[1]] * 3


def test_hybrid_cost_rows_hand_values() -> None:
    tr = Tracker(TrackerConfig(n_init_seconds=0.1, motion_cost="hybrid"))
    tr.update(frame((box(100), 0.9), (box(400), 0.9)))
    tr.update(frame((box(100), 0.9)))  # track 2 missed once
    means, covs = tr._predict()  # standing still; time since update: track 1 -> 1, track 2 -> 2
    # both detections 6 px right of a predicted box (30 x 80): IoU = 24*80 / (2*30*80 - 24*80)
    xyah = np.array([[121.0, 140.0, 30 / 80, 80.0], [421.0, 140.0, 30 / 80, 80.0]])
    cost, max_dist = tr._cascade_cost(means, covs, xyah, None)
    assert max_dist == 0.7
    np.testing.assert_allclose(cost[0, 0], 1 - 2 / 3)  # seen last frame: 1 - IoU
    sq = tr.kf.gating_distance_many(means, covs, xyah)
    assert 0 < sq[1, 1] < GATING_THRESHOLD
    # missed: squared Mahalanobis / gate, rescaled by max_iou_distance / motion_max_distance
    np.testing.assert_allclose(cost[1, 1], 0.7 * sq[1, 1] / GATING_THRESHOLD)
    assert cost[0, 1] == cost[1, 0] == GATED  # 300 px away: outside the gate
