"""``mcmot run --online``: the stream gives the chained stages' files, holds bounded state,
writes nothing in place until it ends, and stops on bad input with one line."""

from __future__ import annotations

import dataclasses
import filecmp
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from mcmot.association.config import AssociateConfig
from mcmot.cli import app
from mcmot.config import to_dict
from mcmot.models.checkpoint import build_model, save_checkpoint
from mcmot.models.pretrain_config import PRESETS
from mcmot.scene import Scene
from mcmot.stages.associate import run_associate
from mcmot.stages.detect import DetectConfig, run_detect
from mcmot.stages.features import FeaturesConfig, run_extract_features
from mcmot.stages.run import RunConfig, apply_overrides
from mcmot.stages.stream import run_streaming
from mcmot.stages.track import run_track
from mcmot.staging import STAGING_DIR
from mcmot.tracking import TrackerConfig

#: Short warm-ups, so that the stream calibrates, fits and replays, then runs live.
CALIBRATION_S, WARMUP_S = 1.5, 2.0
STREAM_SETTINGS = {
    "tracker": {"calibration_seconds": CALIBRATION_S},
    "associate": {"online_warmup": WARMUP_S},
    "features": {"device": "cpu"},
    "detect": {"device": "cpu", "imgsz": 320},
}


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def _synth(root: Path, frames: int, cams: int = 3, seed: int = 1, people: int = 4) -> Path:
    args = ["synth", str(root), "--cameras", cams, "--people", people, "--frames", frames]
    args += ["--size", "320x180", "--seed", seed, "--difficulty", "easy"]
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return root


def _checkpoint(path: Path) -> Path:
    """An untrained tiny CalibFree checkpoint (4 detections per group: frames split)."""
    torch.manual_seed(0)
    tiny = dict(img_height=32, img_width=16, patch_size=8, embed_dim=32, depth=1, num_heads=2)
    tiny |= dict(dec_dim=16, dec_depth=1, dec_heads=2, max_dets=4, teacher="none")
    cfg = dataclasses.replace(PRESETS["cpu"], **tiny)
    save_checkpoint(
        path, {"config": to_dict(cfg), "model": build_model(cfg.model_config()).state_dict()}
    )
    return path


def _chain(
    scene: Path, model: Path, boxes: str, emit_tentative: bool = False, stride: int = 1
) -> None:
    """detect, extract-features, track, associate --mode online: the stream's settings."""
    sc = Scene(scene)
    run_detect(sc, DetectConfig(device="cpu", imgsz=320, from_gt=boxes == "gt", stride=stride))
    run_extract_features(sc, FeaturesConfig(model=str(model), device="cpu"))
    tracker = TrackerConfig(calibration_seconds=CALIBRATION_S, emit_tentative=emit_tentative)
    run_track(sc, tracker)
    run_associate(sc, AssociateConfig(mode="online", online_warmup=WARMUP_S))


def _stream_cli(scene: Path, model: Path, boxes: str, tmp: Path, *extra: str, settings=None):
    conf = tmp / "stream.json"
    conf.write_text(json.dumps(settings or STREAM_SETTINGS))
    args = ["run", str(scene), "--online", "--boxes", boxes, "--model", str(model)]
    return CliRunner().invoke(app, [*args, "--config", str(conf), *extra])


def _same_floats(x: np.ndarray, y: np.ndarray) -> bool:
    """Equal shapes and values within float32 rounding of unit-length features (a
    stack's size moved them by up to 1.2e-7 on one CPU)."""
    return x.shape == y.shape and bool(np.all(np.abs(x - y) <= 1e-5))


def _same_outputs(a: Path, b: Path, cams: list[str]) -> None:
    for stage in ("det", "tracks", "global"):
        for cam in cams:
            assert filecmp.cmp(a / stage / f"{cam}.txt", b / stage / f"{cam}.txt", shallow=False), (
                f"{stage}/{cam}.txt differs"
            )
    for cam in cams:
        with (
            np.load(a / "features" / f"{cam}.npz") as x,
            np.load(b / "features" / f"{cam}.npz") as y,
        ):
            assert sorted(x.files) == sorted(y.files)
            for key in x.files:
                # the stream's forward passes stack other groups than the stage's; on
                # some CPUs a batch's size changes the last bits of float32 results
                same = _same_floats if x[key].dtype.kind == "f" else np.array_equal
                assert same(x[key], y[key]), f"features/{cam}.npz {key} differs"
    assert (a / "geometry.json").read_text() == (b / "geometry.json").read_text()


def test_stream_equals_the_chained_online_stages_on_ground_truth_boxes(tmp_path):
    scene = _synth(tmp_path / "s", frames=60)
    model = _checkpoint(tmp_path / "ckpt.pt")
    streamed = tmp_path / "streamed"
    shutil.copytree(scene, streamed)
    _chain(scene, model, "gt")
    res = _stream_cli(streamed, model, "gt", tmp_path)
    assert res.exit_code == 0, res.output
    _same_outputs(scene, streamed, ["cam1", "cam2", "cam3"])
    assert len((scene / "global" / "cam1.txt").read_text().splitlines()) > 100
    assert not (streamed / STAGING_DIR).exists()
    assert (streamed / "eval.json").is_file()  # gt/ there: evaluated after the stream


@pytest.mark.parametrize("emit_tentative", [False, True])
def test_stream_with_a_detector_stride_equals_the_chained_stages(tmp_path, emit_tentative):
    """Detections on every 3rd frame: the frames between get the same predicted rows."""
    scene = _synth(tmp_path / "s", frames=50, seed=4)
    model = _checkpoint(tmp_path / "ckpt.pt")
    streamed = tmp_path / "streamed"
    shutil.copytree(scene, streamed)
    _chain(scene, model, "gt", emit_tentative=emit_tentative, stride=3)
    settings = json.loads(json.dumps(STREAM_SETTINGS))
    settings["detect"]["stride"] = 3
    settings["tracker"]["emit_tentative"] = emit_tentative
    res = _stream_cli(streamed, model, "gt", tmp_path, settings=settings)
    assert res.exit_code == 0, res.output
    _same_outputs(scene, streamed, ["cam1", "cam2", "cam3"])
    tracks = (scene / "tracks" / "cam1.txt").read_text().splitlines()
    frames = {int(line.split(",")[0]) for line in tracks}
    assert {f for f in frames if (f - 1) % 3} and max(frames) == 50  # predicted frames too
    record = json.loads((streamed / "provenance" / "track.json").read_text())
    assert record["params"]["detect_stride"] == 3


@pytest.mark.slow
@pytest.mark.parametrize("stride", [1, 2])
def test_stream_equals_the_chained_online_stages_on_detector_boxes(tmp_path, stride):
    scene = _synth(tmp_path / "s", frames=40, cams=2, seed=2, people=3)
    model = _checkpoint(tmp_path / "ckpt.pt")
    streamed = tmp_path / "streamed"
    shutil.copytree(scene, streamed)
    _chain(scene, model, "det", emit_tentative=True, stride=stride)  # rows of a frame come late
    settings = STREAM_SETTINGS | {
        "tracker": {"calibration_seconds": CALIBRATION_S, "emit_tentative": True},
        "detect": STREAM_SETTINGS["detect"] | {"stride": stride},
    }
    res = _stream_cli(streamed, model, "det", tmp_path, settings=settings)
    assert res.exit_code == 0, res.output
    _same_outputs(scene, streamed, ["cam1", "cam2"])
    for cam in ("cam1", "cam2"):
        with (
            np.load(scene / "det" / f"{cam}.kpts.npz") as x,
            np.load(streamed / "det" / f"{cam}.kpts.npz") as y,
        ):
            assert all(np.array_equal(x[k], y[k]) for k in x.files)


def test_stream_state_does_not_grow_with_the_frames(tmp_path):
    scene = _synth(tmp_path / "s", frames=200, cams=2, seed=3)
    model = _checkpoint(tmp_path / "ckpt.pt")
    window, gallery = 1.0, 2
    cfg = apply_overrides(
        RunConfig(model=str(model), boxes="gt"),
        {
            "associate": {
                "online_warmup": WARMUP_S,
                "online_window": window,
                "online_gallery": gallery,
            },
            "features": {"device": "cpu"},
        },
    )
    seen: list[dict[str, int]] = []
    run_streaming(Scene(scene), cfg, monitor=lambda k, s, sizes: seen.append(sizes))
    assert len(seen) == 200
    fps = 10
    live = seen[int(WARMUP_S * fps) + 5 :]  # after the warm-up: buffers handed on
    for sizes in live:
        assert sizes["frames"] == 0 and sizes["warmup_frames"] == 0
        assert sizes["waiting_frames"] <= window * fps + 1
        assert sizes["gallery"] <= gallery
        assert sizes["held_rows"] <= sizes["pending"] * window * fps
        assert sizes["pending"] <= sizes["live_tracklets"]
    half = len(live) // 2
    for key in ("tracks", "live_tracklets", "running_means", "identity_sums", "geometry_frames"):
        early = max(s[key] for s in live[:half])
        late = max(s[key] for s in live[half:])
        assert late <= early + 2, (key, early, late)  # people come and go: no trend
        assert late <= 4 * 2 * 3, key  # a few per person and camera, whatever the length


def test_killed_stream_leaves_the_scene_as_it_was(tmp_path):
    scene = _synth(tmp_path / "s", frames=30, cams=2)
    cfg = RunConfig(boxes="gt", track_features="none", associate=AssociateConfig(cues="geometry"))

    def killed(k: int, seconds: float, sizes: dict[str, int]) -> None:
        if k == 20:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_streaming(Scene(scene), cfg, monitor=killed)
    for stage in ("det", "tracks", "global"):
        assert not (scene / stage).exists()
    assert not (scene / "provenance" / "track.json").exists()
    assert not (scene / STAGING_DIR).exists()
    # a run killed hard leaves its staging folder: the next run discards it
    left = scene / STAGING_DIR / "run" / "files" / "tracks"
    left.mkdir(parents=True)
    (left / "cam1.txt").write_text("1,1,0,0,1,1,1,-1,-1,-1\n")
    run_streaming(Scene(scene), cfg)
    assert not (scene / STAGING_DIR).exists()
    assert len((scene / "global" / "cam1.txt").read_text().splitlines()) > 20


def _one_line_error(res, text: str) -> None:
    assert res.exit_code == 1, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and text in lines[0], res.output


def test_stream_refuses_existing_outputs_and_bad_settings(tmp_path):
    scene = _synth(tmp_path / "s", frames=10, cams=2)
    runner = CliRunner()
    base = ["run", str(scene), "--online", "--boxes", "gt"]
    _one_line_error(runner.invoke(app, base), "needs --model")
    geo = [*base, "--track-features", "none", "--cues", "geometry"]
    assert runner.invoke(app, geo).exit_code == 0
    _one_line_error(runner.invoke(app, geo), "pass --overwrite to replace")
    res = runner.invoke(app, [*geo, "--overwrite", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["stream"]["frames"] == 10 and summary["metrics"]["IDF1"] is not None
    bad = tmp_path / "ssat.json"
    bad.write_text('{"tracker": {"kind": "ssat"}}')
    _one_line_error(runner.invoke(app, [*geo, "--config", str(bad), "--overwrite"]), "DeepSORT")
