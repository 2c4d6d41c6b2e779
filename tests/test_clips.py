"""SSAT's clip training: cutting videos into classes, the run, its checkpoint and its features."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from mcmot.cli import app
from mcmot.errors import McmotError
from mcmot.models.checkpoint import SSAT, load_checkpoint
from mcmot.models.clips_config import ClipsConfig, check_clips_config
from mcmot.motio import MotTable, write_mot
from mcmot.stages.clips_data import (
    cut_clips,
    find_sources,
    frame_histogram,
    load_clip_images,
    shot_cuts,
    spaced,
)
from mcmot.stages.features import FeaturesConfig, run_extract_features
from mcmot.stages.pretrain_clips import run_pretrain_clips

runner = CliRunner()
#: A small, fast run: tiny inputs, few images.
TINY = ClipsConfig(
    clip_seconds=2.0,
    frames_per_clip=6,
    input_height=32,
    input_width=32,
    batch_size=4,
    epochs=1,
    device="cpu",
    plan_steps=1,
)


def _write_video(path: Path, colours: list[tuple[int, int, int]], frames_each: int) -> None:
    """A 10 frames/s video: ``frames_each`` noisy frames of each colour, a block moving."""
    path.parent.mkdir(parents=True, exist_ok=True)
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (96, 64))
    rng = np.random.default_rng(0)
    for colour in colours:
        for t in range(frames_each):
            img = np.full((64, 96, 3), colour, np.uint8)
            img = np.clip(img + rng.integers(-10, 10, img.shape), 0, 255).astype(np.uint8)
            cv2.rectangle(img, (4 + 2 * t, 10), (20 + 2 * t, 50), (255, 255, 255), -1)
            out.write(img)
    out.release()


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clips")
    _write_video(root / "cams" / "videos" / "c1.mp4", [(0, 0, 200), (200, 0, 0)], 30)
    _write_video(root / "cams" / "videos" / "c2.mp4", [(0, 200, 0)], 40)
    return root


# ----------------------------------------------------------------- cutting
def test_a_video_is_cut_every_clip_and_at_shot_cuts():
    assert cut_clips(50, [20], 15) == [(0, 15), (15, 20), (20, 35), (35, 50)]
    assert cut_clips(10, [], 100) == [(0, 10)]
    assert cut_clips(10, [0, 10, 4, 4], 100) == [(0, 4), (4, 10)]


def test_a_colour_change_is_a_shot_cut_and_motion_is_not(videos):
    from mcmot.frames import open_source

    with open_source(videos / "cams" / "videos" / "c1.mp4") as src:
        hists = [frame_histogram(img) for _, img in src.iter_frames()]
    assert shot_cuts(hists, 0.5) == [30]


def test_frames_are_spread_evenly_over_a_clip():
    assert spaced(10, 4).tolist() == [0, 3, 6, 9]
    assert spaced(3, 10).tolist() == [0, 1, 2]


def test_classes_follow_cuts_and_clip_length(videos, tmp_path):
    sources = find_sources([videos / "cams"], tracklets=False)
    assert [s.name for s in sources] == ["cams/c1", "cams/c2"]
    data = load_clip_images(sources, TINY, tmp_path / "cache")
    # c1: shots of 30 frames cut every 20 -> 20 + 10 twice; c2: 40 frames -> 20 + 20
    assert data.names == (
        "cams/c1@1-20", "cams/c1@21-30", "cams/c1@31-50", "cams/c1@51-60",
        "cams/c2@1-20", "cams/c2@21-40",
    )  # fmt: skip
    assert np.bincount(data.labels).tolist() == [6, 6, 6, 6, 6, 6]
    crops = data.crops(np.arange(3), (32, 32), np.random.default_rng(0))
    assert crops.shape == (3, 32, 32, 3) and crops.dtype == np.uint8
    again = load_clip_images(sources, TINY, tmp_path / "cache")  # from the cache
    assert again.names == data.names and np.array_equal(again.labels, data.labels)


def test_tracklet_classes_are_pieces_of_tracks(videos, tmp_path):
    scene = tmp_path / "scene"
    (scene / "videos").mkdir(parents=True)
    (scene / "videos" / "c2.mp4").write_bytes((videos / "cams/videos/c2.mp4").read_bytes())
    frames = np.arange(1, 41)
    table = MotTable.from_arrays(
        np.concatenate([frames, frames[:10]]),
        np.concatenate([np.full(40, 7), np.full(10, 9)]),
        np.tile([[4.0, 10.0, 16.0, 40.0]], (50, 1)),
        np.ones(50),
    )
    write_mot(scene / "tracks" / "c2.txt", table)
    cfg = ClipsConfig(**{**TINY.__dict__, "inputs": "tracklets"})
    data = load_clip_images(find_sources([scene], tracklets=True), cfg, None)
    assert data.names == ("scene/c2#7@1-20", "scene/c2#7@21-40", "scene/c2#9@1-10")
    assert data.images[0].shape[1:] == (37, 37, 3)  # load_scale times the input


def test_sources_that_cannot_be_used_are_one_line_errors(tmp_path, videos):
    with pytest.raises(McmotError, match="not found"):
        find_sources([tmp_path / "nope"], tracklets=False)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(McmotError, match="not a video"):
        find_sources([tmp_path / "notes.txt"], tracklets=False)
    with pytest.raises(McmotError, match="tracks/"):
        find_sources([videos / "cams"], tracklets=True)
    one = find_sources([videos / "cams" / "videos" / "c2.mp4"], tracklets=False)
    with pytest.raises(McmotError, match="at least 2 classes"):
        load_clip_images(one, ClipsConfig(**{**TINY.__dict__, "clip_seconds": 100.0}), None)


def test_a_fixed_camera_is_told_from_a_moving_one():
    from mcmot.stages.pretrain_clips import STATIC_SHARE, static_share

    rng = np.random.default_rng(0)
    background = rng.integers(0, 255, (64, 96, 3)).astype(np.uint8)
    fixed = np.stack([background.copy() for _ in range(10)])
    for t, img in enumerate(fixed):  # a person-sized block walks through
        img[20:50, 4 + 2 * t : 14 + 2 * t] = 255
    panning = np.stack([np.roll(background, 5 * t, axis=1) for t in range(10)])
    assert static_share(fixed) > STATIC_SHARE > static_share(panning)


@pytest.mark.parametrize("field,value", [("m", 1.0), ("inputs", "crops"), ("arch", "vit")])
def test_bad_settings_are_one_line_errors(field, value):
    with pytest.raises(McmotError, match=field):
        check_clips_config(ClipsConfig(**{**TINY.__dict__, field: value}))


# ----------------------------------------------------------------- training
def test_resume_equals_uninterrupted_training(videos, tmp_path):
    cfg = ClipsConfig(**{**TINY.__dict__, "epochs": 2, "batch_size": 12})  # 3 steps an epoch
    whole = run_pretrain_clips([videos / "cams"], tmp_path / "a", cfg)
    run_pretrain_clips([videos / "cams"], tmp_path / "b", cfg, stop_at_step=2)
    resumed = run_pretrain_clips([videos / "cams"], tmp_path / "b", cfg, resume=True)
    assert whole.step == resumed.step == 6 and resumed.finished
    a = load_checkpoint(tmp_path / "a" / "checkpoint.pt", SSAT)["model"]
    b = load_checkpoint(tmp_path / "b" / "checkpoint.pt", SSAT)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "b" / "classes.txt").read_text().splitlines()[0] == "cams/c1@1-20"


@pytest.fixture(scope="module")
def trained(videos, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("run")
    run_pretrain_clips([videos / "cams"], run, TINY, overwrite=True)
    return run / "checkpoint.pt"


def test_a_run_of_another_objective_is_not_resumed(trained):
    from mcmot.stages.pretrain import run_pretrain

    with pytest.raises(McmotError, match="SSAT re-ID checkpoint.*expected a CalibFree"):
        run_pretrain([trained.parent], trained.parent, resume=True)


def test_init_from_a_file_that_is_no_backbone_is_a_one_line_error(videos, tmp_path):
    bad = tmp_path / "w.pt"
    torch.save({"conv1.weight": torch.zeros(3)}, bad)
    cfg = ClipsConfig(**{**TINY.__dict__, "init": str(bad)})
    with pytest.raises(McmotError, match="does not fit a torchvision resnet18"):
        run_pretrain_clips([videos / "cams"], tmp_path / "run", cfg)


def test_init_loads_a_torchvision_state_dict(videos, tmp_path):
    import torchvision

    net = torchvision.models.resnet18(weights=None)
    torch.save(net.state_dict(), tmp_path / "r18.pt")
    cfg = ClipsConfig(
        **{**TINY.__dict__, "init": str(tmp_path / "r18.pt"), "lr": 1e-9, "min_lr": 0.0}
    )
    run_pretrain_clips([videos / "cams"], tmp_path / "run", cfg)
    got = load_checkpoint(tmp_path / "run" / "checkpoint.pt")["model"]
    torch.testing.assert_close(got["backbone.conv1.weight"], net.conv1.weight, atol=1e-5, rtol=0)


# ----------------------------------------------------------------- features
def _scene_with_boxes(videos: Path, root: Path, order: np.ndarray | None = None) -> Path:
    scene = root / "scene"
    (scene / "videos").mkdir(parents=True)
    (scene / "videos" / "c2.mp4").write_bytes((videos / "cams/videos/c2.mp4").read_bytes())
    frames = np.repeat(np.arange(1, 6), 2)
    boxes = np.tile([[4.0, 10.0, 16.0, 40.0], [50.0, 5.0, 30.0, 50.0]], (5, 1))
    table = MotTable.from_arrays(frames, np.full(10, -1), boxes, np.ones(10))
    write_mot(scene / "det" / "c2.txt", table if order is None else table.select(order))
    return scene


def test_ssat_features_are_normalised_and_follow_the_det_rows(videos, trained, tmp_path):
    scene = _scene_with_boxes(videos, tmp_path / "a")
    swapped = np.arange(10).reshape(5, 2)[:, ::-1].ravel()  # rows swapped within each frame
    other = _scene_with_boxes(videos, tmp_path / "b", swapped)
    for sc in (scene, other):
        run_extract_features(sc, FeaturesConfig(model=str(trained), device="cpu"))
    with np.load(scene / "features/c2.npz") as a, np.load(other / "features/c2.npz") as b:
        assert a["f_a"].shape == (10, 512)
        np.testing.assert_allclose(np.linalg.norm(a["f_a"], axis=1), 1.0, atol=1e-5)
        np.testing.assert_array_equal(a["f_a"], a["f_s"])
        np.testing.assert_allclose(a["f_a"][swapped], b["f_a"], atol=1e-5)


# ----------------------------------------------------------------- the command line
def test_the_clips_command_trains_and_reports(videos, tmp_path):
    args = ["pretrain", str(videos / "cams"), "--objective", "clips", "--out", str(tmp_path / "r")]
    args += ["--clip-seconds", "2", "--input", "32", "32", "--epochs", "1", "--batch-size", "4"]
    res = runner.invoke(app, [*args, "--device", "cpu", "--set", "frames_per_clip=6"])
    assert res.exit_code == 0, res.output
    assert "classes (clips)" in res.output
    assert load_checkpoint(tmp_path / "r" / "checkpoint.pt")["kind"] == SSAT


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--teacher", "none"], "--teacher: not an option of --objective clips"),
        (["--m", "1.5"], "m must be"),
        (["--epochs", "1", "--minutes", "1"], "not both"),
    ],
)
def test_clips_options_are_checked_in_one_line(videos, tmp_path, extra, message):
    args = ["pretrain", str(videos), "--objective", "clips", "--out", str(tmp_path / "r"), *extra]
    res = runner.invoke(app, args)
    assert res.exit_code == 1 and message in res.output
    assert not (tmp_path / "r").exists()


def test_clip_options_are_refused_for_calibfree(tmp_path):
    res = runner.invoke(app, ["pretrain", str(tmp_path), "--out", str(tmp_path / "r"), "--s", "3"])
    assert res.exit_code == 1 and "--s: not an option of --objective calibfree" in res.output
