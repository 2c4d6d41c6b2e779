"""Durations in seconds: the frame rate comes from the video, --fps, or a documented default,
and every time constant of track and associate follows it."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from benchmarks.simulate import toy_scene
from mcmot.association.config import AssociateConfig, FrameTimes
from mcmot.cli import app
from mcmot.config import apply_settings, parse_settings
from mcmot.errors import McmotError
from mcmot.motio import MotTable, read_mot, write_mot
from mcmot.scene import Scene
from mcmot.stages.associate import run_associate
from mcmot.stages.detect import DetectConfig, run_detect
from mcmot.stages.evaluate import EvaluateConfig, run_evaluate
from mcmot.stages.track import run_track
from mcmot.timebase import DEFAULT_FPS, scene_fps
from mcmot.tracking import Detections, Tracker, TrackerConfig
from mcmot.tracking.config import KalmanConfig

sys.path.insert(0, str(Path(__file__).parent))
from test_assoc import CAMS3  # noqa: E402


def _video(path: Path, fps: float, frames: int = 3) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (64, 48))
    for _ in range(frames):
        w.write(np.zeros((48, 64, 3), np.uint8))
    w.release()


def test_frame_rate_from_video_then_option_then_default(tmp_path):
    _video(tmp_path / "v" / "videos" / "cam1.mp4", 25.0)
    assert scene_fps(Scene(tmp_path / "v")) == (pytest.approx(25.0), None)
    assert scene_fps(Scene(tmp_path / "v"), 2.0) == (2.0, None)
    (tmp_path / "boxes" / "det").mkdir(parents=True)
    fps, note = scene_fps(Scene(tmp_path / "boxes"))
    assert fps == DEFAULT_FPS and note is not None and "--fps" in note


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), 1e9, True])
def test_bad_frame_rate_is_one_line_error(tmp_path, bad):
    with pytest.raises(McmotError, match="fps must be"):
        scene_fps(Scene(tmp_path), bad)
    with pytest.raises(McmotError, match="fps must be"):
        TrackerConfig(fps=bad)


def test_tracker_durations_become_frames_at_the_rate():
    cfg = TrackerConfig(n_init_seconds=0.3, max_age_seconds=3.0)
    at = {fps: Tracker(TrackerConfig(**{**cfg.__dict__, "fps": fps})) for fps in (2, 10, 30)}
    assert [at[f].n_init for f in (2, 10, 30)] == [1, 3, 9]
    assert [at[f].max_age for f in (2, 10, 30)] == [6, 30, 90]


def test_the_filter_counts_time_so_sparse_footage_predicts_several_reference_frames():
    """Below 7 frames/s a video frame is several of the filter's 1/10 s frames; below 7
    tracked frames per second the motion cost "auto" is the Mahalanobis distance."""
    at = {fps: Tracker(TrackerConfig(fps=fps)) for fps in (2, 5, 7, 10, 25)}
    assert [at[f].predictions for f in (2, 5, 7, 10, 25)] == [5, 2, 1, 1, 1]
    assert [at[f].motion_cost for f in (2, 5, 7, 10, 25)] == ["mahalanobis"] * 2 + ["iou"] * 3
    strided = Tracker(TrackerConfig(fps=25 / 3), frames_per_step=3)  # detect --stride 3
    assert (strided.predictions, strided.motion_cost) == (3, "iou")  # 8.3 steps/s
    sparse = Tracker(TrackerConfig(fps=10 / 2), frames_per_step=2)  # 5 steps/s
    assert (sparse.predictions, sparse.motion_cost) == (2, "mahalanobis")
    assert Tracker(TrackerConfig(fps=2, motion_cost="iou")).motion_cost == "iou"  # as given
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(McmotError, match="reference_fps"):
            TrackerConfig(kalman=KalmanConfig(reference_fps=bad))


def _walker_rows(step_px: float, frames: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """One person 40 x 120 px walking ``step_px`` to the right per frame."""
    return [(np.array([[100 + step_px * k, 200, 40, 120]]), np.ones(1)) for k in range(frames)]


@pytest.mark.parametrize(("cost", "tracks"), [("auto", 1), ("iou", 12)])
def test_a_walker_whose_boxes_never_overlap_keeps_one_identity_at_two_frames_per_second(
    cost, tracks
):
    """At 2 frames/s a walker moves more than a box width per frame: IoU never links
    the boxes (a new track each frame), the time-scaled filter's gate does."""
    tracker = Tracker(TrackerConfig(fps=2.0, motion_cost=cost))
    ids = set()
    for tlwh, scores in _walker_rows(50.0, 12):
        ids |= {tid for tid, _, _ in tracker.update(Detections(tlwh, scores))}
    assert len(ids) == tracks


def test_associate_durations_become_frames_at_the_rate():
    cfg = AssociateConfig()
    slow, fast = FrameTimes.of(cfg, 2.0), FrameTimes.of(cfg, 30.0)
    assert slow.online_window == 2 and fast.online_window == 30
    assert fast.evidence_prior == pytest.approx(9.0) and slow.evidence_prior == pytest.approx(0.6)
    assert slow.split_min_votes >= 1 and fast.split_min_votes == 24


def test_settings_are_read_as_their_fields_types():
    geo = AssociateConfig().geometry
    assert parse_settings(geo, ["windows=1,2.5", "seed=3"]) == {"windows": (1.0, 2.5), "seed": 3}
    cfg = apply_settings(geo, ["sync_shifts=1,2", "windows=4"])
    assert cfg.sync_shifts == (1.0, 2.0) and cfg.windows == (4.0,)  # one value is a 1-tuple
    assert apply_settings(geo, ["sync_shifts="]).sync_shifts == ()
    assert apply_settings(geo, ["windows=[2, 5]"]).windows == (2.0, 5.0)


def test_none_is_none_only_where_a_field_allows_it():
    from mcmot.models.pretrain_config import PretrainConfig

    cfg = apply_settings(PretrainConfig(), ["teacher=none", "teacher_arch=none", "amp=false"])
    assert cfg.teacher == "none" and cfg.teacher_arch is None and cfg.amp is False
    with pytest.raises(McmotError, match="depth must be an integer, got 'abc'"):
        apply_settings(PretrainConfig(), ["depth=abc"])
    with pytest.raises(McmotError, match="amp must be true or false, got 'maybe'"):
        apply_settings(PretrainConfig(), ["amp=maybe"])


def test_cli_track_and_associate_take_fps(tmp_path):
    rng = np.random.default_rng(0)
    for k, g in enumerate(toy_scene(CAMS3[:2], people=5, frames=60, rng=rng)):
        write_mot(tmp_path / "det" / f"c{k + 1}.txt", g.with_ids(np.full(len(g), -1)))
    runner = CliRunner()
    res = runner.invoke(app, ["track", str(tmp_path), "--features", "none", "--fps", "30"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["associate", str(tmp_path), "--cues", "geometry", "--fps", "30"])
    assert res.exit_code == 0, res.output
    bad = runner.invoke(app, ["associate", str(tmp_path), "--fps", "-2", "--overwrite"])
    assert bad.exit_code == 1 and "fps must be" in bad.output
    before = sorted(p.name for p in tmp_path.rglob("*"))
    bad = runner.invoke(app, ["run", str(tmp_path), "--fps", "0"])
    assert bad.exit_code == 1 and "fps must be" in bad.output
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing ran


def _subsample(tables: list[MotTable], step: int) -> list[MotTable]:
    out = []
    for g in tables:
        m = (g.frames - 1) % step == 0
        out.append(MotTable.from_arrays((g.frames[m] - 1) // step + 1, g.ids[m], g.boxes[m]))
    return out


def _chain(root: Path, gts: list[MotTable], fps: float) -> tuple[float, float]:
    """detect --from-gt, track --features none, associate --cues geometry at ``fps``:
    (share of gt boxes in tracks, AIDF1)."""
    for k, g in enumerate(gts):
        write_mot(root / "gt" / f"c{k + 1}.txt", g)
    sc = Scene(root)
    run_detect(sc, DetectConfig(from_gt=True))
    run_track(sc, TrackerConfig(fps=fps), features="none")
    kept = sum(len(read_mot(p)) for p in sc.stage_files("tracks").values())
    run_associate(sc, AssociateConfig(cues="geometry", fps=fps))
    m = run_evaluate([sc], EvaluateConfig(), write=False).combined()
    return kept / sum(len(g) for g in gts), float(m["AIDF1"])


@pytest.mark.slow  # two 300-frame chains; the durations themselves are checked above
def test_two_frames_per_second_keeps_the_boxes_and_the_cross_view_identities(tmp_path):
    # people walk 1.25 m/s, filmed at 25 frames/s; every 12th frame is ~2 frames/s
    gts = toy_scene(CAMS3, people=7, frames=300, speed=0.05, rng=np.random.default_rng(0))
    kept_full, aidf1_full = _chain(tmp_path / "full", gts, 25.0)
    kept_low, aidf1_low = _chain(tmp_path / "low", _subsample(gts, 12), 2.0)
    assert kept_low >= 0.95
    assert aidf1_low >= aidf1_full - 0.05
    assert aidf1_full > 0.9
