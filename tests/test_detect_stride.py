"""``detect --stride K`` and tracking it: every K-th frame detected, the frames
between predicted by each track's Kalman filter."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mcmot.cli import app
from mcmot.config import to_dict
from mcmot.errors import McmotError
from mcmot.frames import open_source
from mcmot.motio import MotTable, read_mot
from mcmot.scene import Scene
from mcmot.stages.detect import DetectConfig, run_detect
from mcmot.stages.run import _fingerprint
from mcmot.stages.track import run_track
from mcmot.stages.track_inputs import detect_stride
from mcmot.synth import SynthConfig, generate_scene
from mcmot.tracking import TrackerConfig
from mcmot.tracking.config import SsatConfig
from mcmot.tracking.stride import to_steps


def _cli(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def _walkers(root: Path, frames: int = 40) -> dict[int, np.ndarray]:
    """gt/cam.txt with two people walking at constant velocity; returns id -> (frames, 4)."""
    t = np.arange(1, frames + 1, dtype=float)
    boxes = {
        1: np.stack([100 + 3.0 * t, 200 + 0.5 * t, 40 + 0 * t, 120 + 0 * t], 1),
        2: np.stack([600 - 2.5 * t, 260 - 0.2 * t, 45 + 0 * t, 130 + 0 * t], 1),
    }
    lines = [
        f"{k},{pid},{b[0]:.2f},{b[1]:.2f},{b[2]:.2f},{b[3]:.2f},1,-1,-1,-1"
        for pid, bs in boxes.items()
        for k, b in zip(range(1, frames + 1), bs, strict=True)
    ]
    random.Random(0).shuffle(lines)
    (root / "gt").mkdir(parents=True)
    (root / "gt" / "cam.txt").write_text("\n".join(lines) + "\n")
    return boxes


def test_from_gt_with_a_stride_keeps_frames_1_plus_multiples_and_records_it(tmp_path):
    _walkers(tmp_path, 10)
    r = _cli("detect", tmp_path, "--from-gt", "--stride", "3")
    assert r.exit_code == 0, r.output
    det = read_mot(tmp_path / "det" / "cam.txt", unique_ids=False)
    assert sorted(set(det.frames.tolist())) == [1, 4, 7, 10]
    assert len(det) == 8
    rec = json.loads((tmp_path / "provenance" / "detect.json").read_text())
    assert rec["params"]["stride"] == 3


def test_bad_stride_is_one_line_and_writes_nothing(tmp_path):
    _walkers(tmp_path, 5)
    for bad in ("0", "101", "-2"):
        r = _cli("detect", tmp_path, "--from-gt", "--stride", bad)
        assert r.exit_code == 1 and "Traceback" not in r.output
        assert len(r.stderr.strip().splitlines()) == 1 and "stride" in r.stderr
    assert not (tmp_path / "det").exists()


def test_strided_video_reads_are_the_frames_read_one_by_one(tmp_path):
    scene = generate_scene(tmp_path / "s", SynthConfig(cameras=1, people=2, frames=12, seed=1))
    video = scene.cameras()[0].source
    with open_source(video) as src:
        every = [img.copy() for _, img in src.iter_frames(1, 12)]
    with open_source(video) as src:
        strided = list(src.iter_frames(1, 12, 4))
    assert [k for k, _ in strided] == [1, 5, 9]
    for k, img in strided:
        np.testing.assert_array_equal(img, every[k - 1])


def test_detector_with_a_stride_gives_the_boxes_of_every_frame_run_on_those_frames(tmp_path):
    cfg = SynthConfig(cameras=1, people=4, frames=7, difficulty="easy", seed=3)
    scene = generate_scene(tmp_path / "s", cfg)
    base = DetectConfig(device="cpu", imgsz=320, backend="torch", batch=1)
    run_detect(scene, base)
    cam = scene.camera_names()[0]
    full = read_mot(scene.path("det", cam), unique_ids=False)
    res = run_detect(scene, DetectConfig(**{**base.__dict__, "stride": 3}), overwrite=True)
    assert [c.frames for c in res.cameras] == [3]
    part = read_mot(scene.path("det", cam), unique_ids=False)
    assert sorted(set(part.frames.tolist())) <= [1, 4, 7] and len(part)
    keep = np.isin(full.frames, [1, 4, 7])
    np.testing.assert_allclose(part.boxes, full.boxes[keep], atol=1e-3)
    np.testing.assert_allclose(part.scores, full.scores[keep], atol=1e-4)


def test_track_fills_the_skipped_frames_with_the_kalman_prediction(tmp_path):
    truth = _walkers(tmp_path, 40)
    assert _cli("detect", tmp_path, "--from-gt", "--stride", "3").exit_code == 0
    r = _cli("track", tmp_path, "--features", "none", "--fps", "30")
    assert r.exit_code == 0, r.output
    assert "one frame in 3" in r.output
    tracks = read_mot(tmp_path / "tracks" / "cam.txt")
    assert len(np.unique(tracks.ids)) == 2
    for tid in np.unique(tracks.ids):
        rows = tracks.select(tracks.ids == tid)
        # one row per frame from confirmation on, none missing between detected frames
        assert np.array_equal(rows.frames, np.arange(rows.frames[0], 41))
        pid = min(truth, key=lambda p: np.abs(truth[p][rows.frames[0] - 1] - rows.boxes[0]).sum())
        err = np.abs(rows.boxes - truth[pid][rows.frames - 1]).max(axis=1)
        late = rows.frames > 20  # the filter has its velocity by then
        assert err[late].max() < 1.0, err
    rec = json.loads((tmp_path / "provenance" / "track.json").read_text())
    assert rec["params"]["detect_stride"] == 3


def test_det_changed_after_detect_is_taken_as_every_frame(tmp_path):
    _walkers(tmp_path, 10)
    scene = Scene(tmp_path)
    run_detect(scene, DetectConfig(from_gt=True, stride=2))
    assert detect_stride(scene, scene.cameras()) == 2
    path = tmp_path / "det" / "cam.txt"
    path.write_text(path.read_text() + "2,-1,10,10,20,40,1,-1,-1,-1\n")
    assert detect_stride(scene, scene.cameras()) == 1


def test_a_tracker_that_cannot_predict_between_frames_is_refused(tmp_path):
    _walkers(tmp_path, 10)
    scene = Scene(tmp_path)
    run_detect(scene, DetectConfig(from_gt=True, stride=2))
    with pytest.raises(McmotError, match="one frame in 2.*--tracker deepsort"):
        run_track(scene, SsatConfig(), features="none")
    assert not (tmp_path / "tracks").exists()


def test_rows_off_the_stride_are_an_error_naming_the_frame():
    det = MotTable.from_arrays(np.array([1, 4, 5]), -np.ones(3), np.ones((3, 4)))
    with pytest.raises(McmotError, match="frame 5"):
        to_steps(det, 3)
    np.testing.assert_array_equal(to_steps(det.select(np.array([0, 1])), 3).frames, [1, 2])


def test_tentative_rows_are_joined_by_straight_lines(tmp_path):
    """With emit_tentative the rows of a track's tentative frames come out when it is
    confirmed; the skipped frames between them lie on the line joining them."""
    truth = _walkers(tmp_path, 30)
    scene = Scene(tmp_path)
    run_detect(scene, DetectConfig(from_gt=True, stride=2))
    cfg = TrackerConfig(fps=30, n_init_seconds=0.2, emit_tentative=True)
    run_track(scene, cfg, features="none")
    tracks = read_mot(tmp_path / "tracks" / "cam.txt")
    for tid in np.unique(tracks.ids):
        rows = tracks.select(tracks.ids == tid)
        # a box-only scene ends at its last detected frame, 29
        assert np.array_equal(rows.frames, np.arange(1, 30))
        pid = min(truth, key=lambda p: np.abs(truth[p][0] - rows.boxes[0]).sum())
        # frames 2 and 4 lie between tentative rows (1, 3) and (3, 5): exact on a line
        np.testing.assert_allclose(rows.boxes[[1, 3]], truth[pid][[1, 3]], atol=0.02)


@pytest.mark.parametrize("stride", [1, 3])
def test_run_keeps_the_detect_fingerprint_of_every_frame_detection_as_it_was(tmp_path, stride):
    """`mcmot run` redoes no detection of a scene detected before strides existed: at
    stride 1 the detect fingerprint has the fields it always had."""
    _walkers(tmp_path, 12)
    (tmp_path / "cfg.json").write_text(json.dumps({"detect": {"stride": stride}}))
    args = ["run", tmp_path, "--boxes", "gt", "--track-features", "none", "--cues", "geometry"]
    r = _cli(*args, "--config", tmp_path / "cfg.json")
    assert r.exit_code == 0, r.output
    before = {k: v for k, v in to_dict(DetectConfig(from_gt=True)).items() if k != "stride"}
    prints = json.loads((tmp_path / "provenance" / "run.json").read_text())["stages"]
    assert (prints["detect"] == _fingerprint(before)) == (stride == 1)
