"""The track stage and ``mcmot track`` on small scenes, including bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pretrain_fixtures import write_feature_file
from typer.testing import CliRunner

from mcmot.cli import app
from mcmot.errors import McmotError
from mcmot.motio import MotTable, read_mot, write_mot
from mcmot.scene import Scene
from mcmot.stages.track import run_track
from mcmot.tracking import TrackerConfig

runner = CliRunner()

N_FRAMES = 20


def _walkers(scene: Path, cam: str, n_frames: int = N_FRAMES, *, features: bool = True) -> None:
    """Two people walking towards each other; detections (+ features) for camera ``cam``."""
    frames, boxes, scores, fa = [], [], [], []
    e = np.eye(4, dtype=np.float32)
    for k in range(1, n_frames + 1):
        for who, x in ((0, 100 + 5 * k), (1, 400 - 5 * k)):
            frames.append(k)
            boxes.append([x, 100 + 30 * who, 30, 80])
            scores.append(0.9)
            fa.append(e[who])
    n = len(frames)
    table = MotTable.from_arrays(np.array(frames), -np.ones(n), np.array(boxes), np.array(scores))
    write_mot(scene / "det" / f"{cam}.txt", table)
    if features:
        write_feature_file(scene, cam, fa)


@pytest.fixture()
def scene(tmp_path: Path) -> Path:
    root = tmp_path / "scene"
    (root / "det").mkdir(parents=True)
    _walkers(root, "cam1")
    _walkers(root, "cam2")
    return root


def _one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    text = result.output.strip()
    assert "Traceback" not in text
    assert len(text.splitlines()) == 1, text
    return text


def test_run_track_writes_confirmed_rows_with_detection_boxes(scene: Path) -> None:
    summaries = run_track(Scene(scene), TrackerConfig(), features="f_s")
    assert [s.camera for s in summaries] == ["cam1", "cam2"]
    for cam in ("cam1", "cam2"):
        tracks = read_mot(scene / "tracks" / f"{cam}.txt")
        det = read_mot(scene / "det" / f"{cam}.txt", unique_ids=False)
        # n_init = 3: each person is reported from frame 3 on, under one id
        assert len(tracks) == 2 * (N_FRAMES - 2)
        assert sorted(np.unique(tracks.ids)) == [1, 2]
        assert tracks.frames.min() == 3
        # every box is one of that frame's detection boxes
        for f, b in zip(tracks.frames, tracks.boxes, strict=True):
            same = det.boxes[det.frames == f]
            assert np.abs(same - b).max(axis=1).min() < 1e-6
        for tid in (1, 2):  # each id follows one person (y differs by 30 px)
            assert len(np.unique(tracks.boxes[tracks.ids == tid, 1])) == 1
    rec = json.loads((scene / "provenance" / "track.json").read_text())
    assert rec["params"]["features"] == "f_s"
    assert rec["params"]["max_age_seconds"] == 3.0
    assert "det/cam1.txt" in rec["inputs"] and "features/cam1.npz" in rec["inputs"]
    assert "tracks/cam2.txt" in rec["outputs"]


def test_run_track_motion_only_needs_no_features(tmp_path: Path) -> None:
    root = tmp_path / "s"
    (root / "det").mkdir(parents=True)
    _walkers(root, "a", features=False)
    (summary,) = run_track(Scene(root), features="none")
    assert summary.tracks == 2 and summary.rows == 2 * (N_FRAMES - 2)
    assert summary.frames == N_FRAMES and summary.detections == 2 * N_FRAMES


def test_cli_track_and_no_overwrite(scene: Path) -> None:
    result = runner.invoke(
        app, ["track", str(scene), "--cameras", "cam2", "--n-init-seconds", "0.1"]
    )
    assert result.exit_code == 0, result.output
    assert "cam2" in result.stdout and "detections" in result.stdout
    tracks = read_mot(scene / "tracks" / "cam2.txt")
    assert len(tracks) == 2 * N_FRAMES  # n_init 1: reported from the first frame
    assert not (scene / "tracks" / "cam1.txt").exists()
    before = (scene / "tracks" / "cam2.txt").read_text()
    again = runner.invoke(app, ["track", str(scene), "--cameras", "cam2"])
    assert "--overwrite" in _one_line_error(again)
    assert (scene / "tracks" / "cam2.txt").read_text() == before
    ok = runner.invoke(app, ["track", str(scene), "--cameras", "cam2", "--overwrite"])
    assert ok.exit_code == 0
    assert (scene / "tracks" / "cam2.txt").read_text() != before  # n_init 3 now


def test_cli_features_none_says_so(scene: Path) -> None:
    result = runner.invoke(app, ["track", str(scene), "--features", "none"])
    assert result.exit_code == 0, result.output
    assert "motion and IoU alone" in result.output


def test_cli_no_det_folder(tmp_path: Path) -> None:
    (tmp_path / "gt").mkdir()
    write_mot(tmp_path / "gt" / "c1.txt", MotTable.from_arrays([1], [1], [[0, 0, 5, 5]]))
    text = _one_line_error(runner.invoke(app, ["track", str(tmp_path)]))
    assert "no det/ in" in text and "mcmot detect" in text


def test_cli_missing_features(scene: Path) -> None:
    (scene / "features" / "cam1.npz").unlink()
    text = _one_line_error(runner.invoke(app, ["track", str(scene)]))
    assert "extract-features" in text and "--features none" in text


def test_cli_misaligned_features(scene: Path) -> None:
    _walkers(scene, "cam1", n_frames=N_FRAMES)
    _walkers(scene, "cam1", n_frames=N_FRAMES - 1, features=False)  # det shorter now
    text = _one_line_error(runner.invoke(app, ["track", str(scene)]))
    assert "re-run" in text and "extract-features" in text
    assert not (scene / "tracks").exists()  # nothing half-written


def test_features_with_shifted_boxes_rejected(scene: Path) -> None:
    path = scene / "features" / "cam1.npz"
    with np.load(path) as npz:
        data = dict(npz)
    data["boxes"] = data["boxes"] + [1.0, 0, 0, 0]
    np.savez(path, **data)
    with pytest.raises(McmotError, match="do not match"):
        run_track(Scene(scene), features="f_s")


def test_corrupt_features_file(scene: Path) -> None:
    (scene / "features" / "cam2.npz").write_bytes(b"not a zip")
    text = _one_line_error(runner.invoke(app, ["track", str(scene), "--features", "f_a"]))
    assert "cam2.npz" in text and "re-run" in text


def test_cli_bad_options(scene: Path) -> None:
    text = _one_line_error(runner.invoke(app, ["track", str(scene), "--n-init-seconds", "0"]))
    assert "n_init_seconds" in text
    text = _one_line_error(runner.invoke(app, ["track", str(scene), "--cameras", "nope"]))
    assert "unknown camera" in text
    bad = runner.invoke(app, ["track", str(scene), "--features", "xyz"])
    assert bad.exit_code != 0 and "Traceback" not in bad.output


def test_cli_bad_det_file(scene: Path) -> None:
    (scene / "det" / "cam1.txt").write_text("1,-1,10,10,5\n")
    text = _one_line_error(runner.invoke(app, ["track", str(scene), "--features", "none"]))
    assert "cam1.txt:1" in text


def test_zero_based_det(tmp_path: Path) -> None:
    root = tmp_path / "z"
    (root / "det").mkdir(parents=True)
    (root / "det" / "c.txt").write_text(
        "".join(f"{k},-1,{100 + 2 * k},50,20,60,0.9\n" for k in range(0, 5))
    )
    text = _one_line_error(runner.invoke(app, ["track", str(root), "--features", "none"]))
    assert "start at 1" in text
    ok = runner.invoke(app, ["track", str(root), "--features", "none", "--zero-based"])
    assert ok.exit_code == 0, ok.output
    assert read_mot(root / "tracks" / "c.txt").frames.tolist() == [3, 4, 5]


def test_cli_emit_tentative_and_low_confidence(scene: Path) -> None:
    args = ["track", str(scene), "--features", "none", "--cameras", "cam1"]
    result = runner.invoke(app, [*args, "--emit-tentative", "--low-confidence", "0.1"])
    assert result.exit_code == 0, result.output
    tracks = read_mot(scene / "tracks" / "cam1.txt")
    assert len(tracks) == 2 * N_FRAMES  # the two tentative frames of each person too
    assert tracks.frames.min() == 1
    params = json.loads((scene / "provenance" / "track.json").read_text())["params"]
    assert params["emit_tentative"] is True and params["low_confidence"] == 0.1


def test_cli_low_confidence_above_min_confidence_is_one_line_error(scene: Path) -> None:
    result = runner.invoke(app, ["track", str(scene), "--low-confidence", "0.5"])
    assert "low_confidence must be below min_confidence" in _one_line_error(result)
    assert not (scene / "tracks").exists()


def test_cli_motion_weight_recorded_and_checked(scene: Path) -> None:
    result = runner.invoke(app, ["track", str(scene), "--motion-weight", "0.5"])
    assert result.exit_code == 0, result.output
    params = json.loads((scene / "provenance" / "track.json").read_text())["params"]
    assert params["motion_weight"] == 0.5
    bad = runner.invoke(app, ["track", str(scene), "--motion-weight", "1.5", "--overwrite"])
    assert bad.exit_code != 0 and "Invalid value" in bad.output


def test_help_shows_the_option_defaults():
    """Rich reads "[...]" in a help text as markup and drops it: defaults go in parentheses."""
    from typer.testing import CliRunner

    from mcmot.cli import app

    res = CliRunner().invoke(app, ["track", "--help"], env={"COLUMNS": "300"})
    assert res.exit_code == 0
    assert "survives (default: 3.0)" in res.output and "(default: 0.56)" in res.output
    res = CliRunner().invoke(app, ["detect", "--help"], env={"COLUMNS": "300"})
    assert "(default: 0.25)" in res.output
