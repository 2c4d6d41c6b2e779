"""The calibrated appearance cue, row-order independence and empty-frame skipping."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from pretrain_fixtures import write_feature_file
from typer.testing import CliRunner

from mcmot import motio
from mcmot.cli import app
from mcmot.motio import MotTable, read_mot, write_mot
from mcmot.stages.track import calibrate_camera, canonical_rows, track_camera
from mcmot.tracking import Detections, Tracker, TrackerConfig
from mcmot.tracking.calibrate import (
    AUC_FULL,
    AUC_OFF,
    MIN_PAIRS,
    WEIGHT_MAX,
    auc_weight,
    calibrate_appearance,
    linked_distances,
    separation_auc,
    sure_links,
)

runner = CliRunner()


# ---------------------------------------------------------------- sure links


def test_sure_links_need_high_iou_no_competitor_and_consecutive_frames() -> None:
    frames = np.array([1, 1, 2, 2, 3, 5])
    boxes = np.array(
        [
            [0, 0, 10, 40],  # 0: links to 2 (IoU 0.82)
            [100, 0, 10, 40],  # 1: two boxes of frame 2 overlap it -> no link
            [1, 0, 10, 40],  # 2: links to 4 (IoU 0.82)
            [97, 0, 10, 40],  # 3: overlaps 1 (0.54) and competes with nothing else in frame 3
            [2, 0, 10, 40],  # 4: frame 3 -> frame 5 is not consecutive: no link
            [2, 0, 10, 40],
        ],
        np.float64,
    )
    boxes_competing = boxes.copy()
    boxes_competing[2] = [95, 0, 10, 40]  # now 1 overlaps both boxes of frame 2
    np.testing.assert_array_equal(sure_links(frames, boxes), [2, 3, 4, -1, -1, -1])
    assert sure_links(frames, boxes_competing)[1] == -1
    assert sure_links(np.zeros(0, np.int64), np.zeros((0, 4))).shape == (0,)


def test_linked_distances_follow_the_chain_at_the_lags() -> None:
    # one person over frames 1..4 with features at 0, 10, 20, 30 degrees
    frames = np.arange(1, 5)
    boxes = np.array([[k, 0, 10, 40] for k in range(4)], np.float64)
    ang = np.deg2rad([0, 10, 20, 30])
    feats = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    d = linked_distances(frames, boxes, feats, max_lag=2)
    c10, c20 = 1 - np.cos(np.deg2rad(10)), 1 - np.cos(np.deg2rad(20))
    np.testing.assert_allclose(np.sort(d), np.sort([c10, c10, c10, c20, c20]), atol=1e-12)
    assert len(linked_distances(frames, boxes, feats, max_lag=1)) == 3


# ---------------------------------------------------------------- separation and weight


def test_separation_auc_hand_values() -> None:
    assert separation_auc(np.array([0.1, 0.2]), np.array([0.3, 0.4])) == 1.0
    assert separation_auc(np.array([0.5]), np.array([0.3, 0.4])) == 0.0
    # 0.35 is below one of two (1/2); 0.3 is below one and ties one (1.5/2): mean 0.625
    assert separation_auc(np.array([0.35, 0.3]), np.array([0.3, 0.4])) == pytest.approx(0.625)
    assert np.isnan(separation_auc(np.zeros(0), np.array([0.3])))


def test_weight_is_zero_up_to_auc_off_and_one_from_auc_full() -> None:
    assert auc_weight(AUC_OFF) == 0.0 and auc_weight(0.5) == 0.0
    assert auc_weight(AUC_FULL) == WEIGHT_MAX and auc_weight(1.0) == WEIGHT_MAX
    assert auc_weight((AUC_OFF + AUC_FULL) / 2) == pytest.approx(WEIGHT_MAX / 2)
    assert auc_weight(float("nan")) == 0.0


def walkers(people: int, frames: int, feats: np.ndarray) -> tuple[MotTable, np.ndarray]:
    """``people`` walkers in separate lanes for ``frames`` frames; ``feats[frame, person]``."""
    rows, f = [], []
    for k in range(1, frames + 1):
        for who in range(people):
            rows.append((k, 100 + 3 * k, 100 + 120 * who))
            f.append(feats[k - 1, who])
    arr = np.array(rows, np.float64)
    n = len(arr)
    boxes = np.column_stack([arr[:, 1], arr[:, 2], np.full(n, 30.0), np.full(n, 80.0)])
    det = MotTable.from_arrays(arr[:, 0].astype(np.int64), -np.ones(n), boxes, np.full(n, 0.9))
    feats_n = np.asarray(f, np.float32)
    return det, feats_n / np.linalg.norm(feats_n, axis=1, keepdims=True)


def test_separating_features_get_full_weight_and_noise_is_switched_off() -> None:
    rng = np.random.default_rng(0)
    ident = np.eye(4, 16)[None].repeat(20, axis=0) + 0.05 * rng.normal(size=(20, 4, 16))
    det, feats = walkers(4, 20, ident)
    good = calibrate_appearance(det.frames, det.boxes, feats, 30, 0.05, 0.2)
    assert good.auc == 1.0 and good.weight == WEIGHT_MAX
    assert good.same_pairs >= MIN_PAIRS and good.different_pairs == 6 * 20
    assert good.describe().startswith(f"appearance weight {WEIGHT_MAX:.2f}: AUC 1.000, gate ")

    _, noise = walkers(4, 20, rng.normal(size=(20, 4, 16)))
    bad = calibrate_appearance(det.frames, det.boxes, noise, 30, 0.05, 0.2)
    assert bad.auc < AUC_OFF and bad.weight == 0.0
    text = bad.describe()
    assert text.startswith("appearance off: AUC ") and f"AUC <= {AUC_OFF}" in text

    given = calibrate_appearance(det.frames, det.boxes, noise, 30, None, 0.3, weight=0.4)
    assert given.weight == 0.4 and given.gate == 0.3
    assert given.describe().startswith("appearance weight 0.40 (given): ")


def test_too_few_pairs_switch_appearance_off() -> None:
    det, feats = walkers(1, 10, np.ones((10, 1, 4)))
    calib = calibrate_appearance(det.frames, det.boxes, feats, 30, 0.05, 0.2)
    assert calib.weight == 0.0 and calib.gate == 0.2 and calib.different_pairs == 0
    assert calib.describe().startswith("appearance off: too few pairs")


# ---------------------------------------------------------------- the tracker's use of the weight


def crossing(look: str) -> tuple[list[Detections], int]:
    """Two people that swap features at frame 6 while motion keeps them apart."""
    e = np.eye(2)
    out = []
    for k in range(12):
        boxes = np.array([[100 + 4 * k, 100, 30, 80], [100 + 4 * k, 260, 30, 80]], np.float64)
        f = e if (k < 6 or look == "same") else e[::-1]
        if k in (6, 7):  # both missed for two frames: the cascade decides on return
            out.append(Detections.empty())
            continue
        out.append(Detections(boxes, np.full(2, 0.9), f.copy()))
    return out, 2


def run(frames: list[Detections], cfg: TrackerConfig) -> list[list[tuple[int, int]]]:
    tr = Tracker(cfg)
    return [[(tid, idx) for tid, _, idx in tr.update(d)] for d in frames]


def test_weight_zero_is_exactly_motion_only_and_weight_one_follows_appearance() -> None:
    frames, _ = crossing("swap")
    motion = run([Detections(d.tlwh, d.scores) for d in frames], TrackerConfig())
    off = run(frames, TrackerConfig(appearance_weight=0.0, max_cosine_distance=0.5))
    assert off == motion
    assert motion[-1] == [(1, 0), (2, 1)]  # motion keeps the lanes
    full = run(frames, TrackerConfig(appearance_weight=1.0, max_cosine_distance=0.5))
    assert full[-1] != motion[-1]  # swapped features steer the full appearance cascade
    half = run(frames, TrackerConfig(appearance_weight=0.5, max_cosine_distance=0.5))
    # half weight: the swapped look (d / gate = 2) adds 0.5 to the own lane's motion cost
    # (about 0.3) and the other lane is outside the Mahalanobis gate: lanes kept
    assert half == motion


def test_bad_appearance_weight_is_one_line_error(tmp_path: Path) -> None:
    root = write_scene(tmp_path / "scene")
    result = runner.invoke(app, ["track", str(root), "--appearance-weight", "1.5"])
    assert result.exit_code != 0
    assert "Traceback" not in result.output


# ---------------------------------------------------------------- row order


def write_scene(root: Path, seed: int = 0) -> Path:
    """Six walkers whose paths cross, with noisy features, rows in a random order."""
    rng = np.random.default_rng(seed)
    frames, boxes, feats = [], [], []
    ident = rng.normal(size=(6, 8))
    for k in range(1, 41):
        for who in range(6):
            if (k + who) % 9 == 0:
                continue  # missed now and then
            x = 50 + (who % 3) * 70 + (2.5 if who < 3 else -2.5) * k
            frames.append(k)
            boxes.append([x, 100 + 30 * (who // 3), 30, 80])
            feats.append(ident[who] + 0.8 * rng.normal(size=8))
    n = len(frames)
    det = MotTable.from_arrays(np.array(frames), -np.ones(n), np.array(boxes), np.full(n, 0.9))
    order = np.lexsort((rng.random(n), det.frames))
    (root / "det").mkdir(parents=True, exist_ok=True)
    write_mot(root / "det" / "cam1.txt", det.select(order))
    write_feature_file(root, "cam1", list(np.asarray(feats, np.float32)[order]))
    return root


def test_permuting_rows_within_frames_gives_the_same_tracks(tmp_path: Path) -> None:
    outputs = []
    for seed in (1, 2):
        root = write_scene(tmp_path / f"scene{seed}", seed=0)
        det = read_mot(root / "det" / "cam1.txt", unique_ids=False)
        with np.load(root / "features" / "cam1.npz") as z:
            feats = z["f_s"]
        order = np.lexsort((np.random.default_rng(seed).random(len(det)), det.frames))
        write_mot(root / "det" / "cam1.txt", det.select(order))
        write_feature_file(root, "cam1", list(feats[order]))
        result = runner.invoke(app, ["track", str(root)])
        assert result.exit_code == 0, result.output
        tracks = read_mot(root / "tracks" / "cam1.txt")
        prov = json.loads((root / "provenance" / "track.json").read_text())
        outputs.append((tracks, prov["params"]["appearance"]))
    (a, cal_a), (b, cal_b) = outputs
    assert len(a) > 100
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    assert cal_a == cal_b


def test_canonical_rows_and_calibration_ignore_row_order(tmp_path: Path) -> None:
    root = write_scene(tmp_path / "scene")
    det = read_mot(root / "det" / "cam1.txt", unique_ids=False)
    with np.load(root / "features" / "cam1.npz") as z:
        feats = z["f_s"] / np.linalg.norm(z["f_s"], axis=1, keepdims=True)
    order = np.lexsort((np.random.default_rng(5).random(len(det)), det.frames))
    d1, f1 = canonical_rows(det, feats)
    d2, f2 = canonical_rows(det.select(order), feats[order])
    np.testing.assert_array_equal(d1.boxes, d2.boxes)
    np.testing.assert_array_equal(f1, f2)
    cfg = TrackerConfig()
    assert calibrate_camera(cfg, det, feats) == calibrate_camera(
        cfg, det.select(order), feats[order]
    )


# ---------------------------------------------------------------- empty frames


def test_skipping_empty_frames_equals_stepping_through_them() -> None:
    rng = np.random.default_rng(3)
    rows = []
    for k in [*range(1, 20), *range(24, 40), *range(75, 90)]:  # gaps of 4 and 35 frames
        for who in range(3):
            rows.append([k, 100 + 4 * k + rng.normal(), 100 + 120 * who, 30, 80])
    arr = np.array(rows)
    n = len(arr)
    det = MotTable.from_arrays(arr[:, 0].astype(np.int64), -np.ones(n), arr[:, 1:], np.ones(n))
    cfg = TrackerConfig(max_age_seconds=1.0)  # 10 frames: the long gap kills every track
    fast = track_camera(det, None, 100, cfg)
    tracker, slices = Tracker(cfg), det.frame_slices()
    slow = []
    for k in range(1, 101):
        sl = slices.get(k, slice(0, 0))
        for tid, _, _ in tracker.update(Detections(det.boxes[sl], det.scores[sl])):
            slow.append((k, tid))
    assert sorted(zip(fast.frames.tolist(), fast.ids.tolist(), strict=True)) == sorted(slow)
    assert len(np.unique(fast.ids)) == 6  # the 4-frame gap is bridged, the 35-frame one is not


def test_skip_costs_at_most_max_age_steps() -> None:
    tracker = Tracker(TrackerConfig(n_init_seconds=0.1))
    tracker.update(Detections(np.array([[0.0, 0, 10, 40]]), np.ones(1)))
    tracker.skip(10**12)
    assert tracker.tracks == [] and tracker.frame_count == 10**12 + 1


def far_apart(last: int) -> MotTable:
    """Two people at frames 1 and 2, two more at frame ``last``."""
    frames = np.array([1, 1, 2, 2, last, last])
    boxes = np.array([[10, 10, 30, 80], [200, 10, 30, 80]] * 3, np.float64)
    return MotTable.from_arrays(frames, -np.ones(6), boxes, np.ones(6))


def test_far_apart_frames_track_in_well_under_five_seconds() -> None:
    t0 = time.perf_counter()
    tracks = track_camera(far_apart(10**9), None, 10**9, TrackerConfig(n_init_seconds=0.1))
    assert time.perf_counter() - t0 < 5.0
    assert tracks.frames.tolist() == [1, 1, 2, 2, 10**9, 10**9]
    assert tracks.ids.tolist() == [1, 2, 1, 2, 3, 4]


def test_cli_far_apart_frames_track_in_well_under_five_seconds(tmp_path: Path) -> None:
    # the latest frame a det file may hold (the reader may cap frame numbers)
    last = getattr(motio, "MAX_FRAME", 10**9)
    root = tmp_path / "scene"
    write_mot(root / "det" / "cam1.txt", far_apart(last))
    t0 = time.perf_counter()
    args = ["track", str(root), "--features", "none", "--n-init-seconds", "0.1"]
    result = runner.invoke(app, args)
    assert time.perf_counter() - t0 < 5.0
    assert result.exit_code == 0, result.output
    assert read_mot(root / "tracks" / "cam1.txt").frames.tolist() == [1, 1, 2, 2, last, last]


def test_cli_reports_the_decision_and_weight_zero_is_motion_only(tmp_path: Path) -> None:
    root = write_scene(tmp_path / "scene")
    result = runner.invoke(app, ["track", str(root)])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("cam1: appearance"))
    assert "AUC" in line and "gate" in line
    prov = json.loads((root / "provenance" / "track.json").read_text())
    assert prov["params"]["appearance"]["cam1"]["decision"] == line.removeprefix("cam1: ")

    runs, said = {}, {}
    for args in (["--appearance-weight", "0"], ["--features", "none"]):
        result = runner.invoke(app, ["track", str(root), "--overwrite", *args])
        assert result.exit_code == 0, result.output
        runs[args[0]] = read_mot(root / "tracks" / "cam1.txt")
        said[args[0]] = result.output
    assert "cam1: appearance off (given): AUC" in said["--appearance-weight"]
    assert "cam1: appearance" not in said["--features"]
    a, b = runs["--appearance-weight"], runs["--features"]
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.boxes, b.boxes)
