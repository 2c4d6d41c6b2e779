"""mcmot synth: scene layout, determinism, bad input, the CLI, atomic output."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mcmot.boxes import iou_matrix
from mcmot.cli import app
from mcmot.errors import McmotError
from mcmot.frames import open_source
from mcmot.motio import read_mot
from mcmot.progress import ProgressEvent
from mcmot.scene import Scene
from mcmot.synth import SynthConfig, build_world, generate_scene, make_mosaic, parse_size
from mcmot.synth.stats import scene_stats

TINY = SynthConfig(cameras=2, people=3, frames=10, width=160, height=90, seed=3)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Scene:
    return generate_scene(tmp_path_factory.mktemp("synth") / "tiny", TINY)


def test_config_is_frozen_with_documented_defaults():
    cfg = SynthConfig()
    assert (cfg.cameras, cfg.people, cfg.frames, cfg.fps) == (4, 8, 300, 10.0)
    assert (cfg.width, cfg.height, cfg.seed, cfg.difficulty, cfg.fmt) == (
        640,
        360,
        0,
        "medium",
        "mp4",
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.cameras = 2  # type: ignore[misc]


def test_scene_layout(tiny):
    root = tiny.root
    assert tiny.camera_names() == ["cam1", "cam2"]
    for cam in tiny.cameras():
        assert cam.source == root / "videos" / f"{cam.name}.mp4"
        with open_source(cam.source) as src:
            assert src.num_frames == 10
            assert src.size == (160, 90)
        gt = read_mot(tiny.path("gt", cam.name))
        assert len(gt) > 0
        assert set(gt.scores) == {1.0}  # column 7: consider every box
        vis = gt.extra[:, 0]
        assert np.all((vis > 0) & (vis <= 1))
        assert np.all(gt.frames >= 1) and np.all(gt.frames <= 10)
        b = gt.boxes
        assert np.all(b[:, 0] >= 0) and np.all(b[:, 1] >= 0)
        assert np.all(b[:, 0] + b[:, 2] <= 160) and np.all(b[:, 1] + b[:, 3] <= 90)
    info = json.loads((root / "synth" / "cameras.json").read_text())
    assert [c["name"] for c in info["cameras"]] == ["cam1", "cam2"]
    assert np.asarray(info["cameras"][0]["K"]).shape == (3, 3)
    assert np.asarray(info["cameras"][0]["R"]).shape == (3, 3)
    assert len(info["people"]) >= 3
    prov = json.loads((root / "provenance" / "synth.json").read_text())
    assert prov["stage"] == "synth" and prov["params"]["seed"] == 3
    assert "gt/cam1.txt" in prov["outputs"]
    # no temporary folder is left beside the scene
    assert [p.name for p in root.parent.iterdir()] == ["tiny"]


def test_gt_against_itself_is_perfect(tiny):
    """Every gt row matches itself with IoU 1 and a unique (frame, id)."""
    for cam in tiny.camera_names():
        gt = read_mot(tiny.path("gt", cam))
        for f, sl in gt.frame_slices().items():
            boxes = gt.boxes[sl]
            iou = iou_matrix(boxes, boxes)
            assert np.allclose(np.diag(iou), 1.0), f
            assert len(set(gt.ids[sl])) == len(boxes)


def test_same_seed_same_gt_bytes_other_seed_differs(tmp_path, tiny):
    again = generate_scene(tmp_path / "again", TINY)
    other = generate_scene(tmp_path / "other", dataclasses.replace(TINY, seed=4))
    for cam in tiny.camera_names():
        a = tiny.path("gt", cam).read_bytes()
        assert again.path("gt", cam).read_bytes() == a
        assert other.path("gt", cam).read_bytes() != a
    cams = (tiny.root / "synth" / "cameras.json").read_text()
    assert (again.root / "synth" / "cameras.json").read_text() == cams


def test_adding_a_camera_keeps_the_people(tmp_path, tiny):
    three = generate_scene(tmp_path / "three", dataclasses.replace(TINY, cameras=3))
    a = json.loads((tiny.root / "synth" / "cameras.json").read_text())["people"]
    b = json.loads((three.root / "synth" / "cameras.json").read_text())["people"]
    assert a == b


def test_jpg_format_and_mosaic(tmp_path):
    cfg = dataclasses.replace(TINY, fmt="jpg", frames=4, width=161)
    sc = generate_scene(tmp_path / "j", cfg, mosaic_frame=2)
    assert sorted(p.name for p in (sc.root / "frames" / "cam1").iterdir())[:2] == [
        "000001.jpg",
        "000002.jpg",
    ]
    assert sc.camera_names() == ["cam1", "cam2"]
    assert (sc.root / "synth" / "mosaic_2.png").is_file()
    sheet = make_mosaic(sc, 3)
    assert sheet.ndim == 3 and sheet.shape[1] >= 2 * 161  # two tiles side by side
    with open_source(sc.root / "frames" / "cam2") as src:
        assert src.size == (161, 90)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"cameras": 0}, "--cameras"),
        ({"frames": -1}, "--frames"),
        ({"frames": 0}, "--frames"),
        ({"people": -2}, "--people"),
        ({"width": 10}, "--size"),
        ({"difficulty": "insane"}, "--difficulty"),
        ({"fmt": "gif"}, "--format"),
        ({"width": 161}, "even sides"),
    ],
)
def test_bad_config_is_one_line_error(tmp_path, changes, message):
    with pytest.raises(McmotError, match=message) as exc:
        generate_scene(tmp_path / "x", dataclasses.replace(TINY, **changes))
    assert "\n" not in str(exc.value)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("text", ["640", "640x", "x360", "640*360", "axb", ""])
def test_parse_size_rejects_non_wxh(text):
    with pytest.raises(McmotError, match="WIDTHxHEIGHT"):
        parse_size(text)
    assert parse_size("640x360") == (640, 360)
    assert parse_size(" 32X48 ") == (32, 48)


def test_existing_scene_needs_overwrite_and_foreign_folder_is_kept(tmp_path, tiny):
    with pytest.raises(McmotError, match="--overwrite"):
        generate_scene(tiny.root, TINY)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    with pytest.raises(McmotError, match="not made by mcmot synth"):
        generate_scene(foreign, TINY, overwrite=True)
    assert (foreign / "precious.txt").read_text() == "keep me"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert generate_scene(empty, dataclasses.replace(TINY, frames=2)).root == empty


def test_overwrite_replaces_only_what_synth_wrote(tmp_path):
    first = generate_scene(tmp_path / "s", dataclasses.replace(TINY, frames=3, cameras=3))
    (first.root / "notes.txt").write_text("mine")
    (first.root / "det").mkdir()
    (first.root / "det" / "cam1.txt").write_text("1,-1,1,1,5,5,1\n")
    second = generate_scene(
        tmp_path / "s", dataclasses.replace(TINY, frames=5, cameras=2), overwrite=True
    )
    assert read_mot(second.path("gt", "cam1")).frames.max() == 5
    assert (second.root / "notes.txt").read_text() == "mine"
    assert (second.root / "det" / "cam1.txt").read_text() == "1,-1,1,1,5,5,1\n"
    assert second.camera_names() == ["cam1", "cam2"]  # the old third camera is gone
    assert not second.path("gt", "cam3").exists()
    assert second.is_current("synth")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]
    assert not any(p.name.startswith(".") for p in second.root.iterdir())


def test_overwrite_refuses_to_replace_a_file_synth_did_not_write(tmp_path):
    first = generate_scene(tmp_path / "s", dataclasses.replace(TINY, frames=3, cameras=2))
    mine = first.path("gt", "cam3")
    mine.write_text("1,1,1,1,5,5,1\n")
    with pytest.raises(McmotError, match="cam3.txt: mcmot synth did not write it"):
        generate_scene(tmp_path / "s", dataclasses.replace(TINY, cameras=3), overwrite=True)
    assert mine.read_text() == "1,1,1,1,5,5,1\n"
    assert first.camera_names() == ["cam1", "cam2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def test_interrupted_run_leaves_nothing(tmp_path):
    def stop(event: ProgressEvent) -> None:
        if event.done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate_scene(tmp_path / "s", TINY, progress=stop)
    assert list(tmp_path.iterdir()) == []


def test_world_identities_persist_and_move_smoothly():
    sw = build_world(dataclasses.replace(TINY, frames=600, people=6))
    w = sw.world
    for i in range(w.num_people):
        frames = np.flatnonzero(w.present[:, i])
        assert len(frames) > 0
        assert np.all(np.diff(frames) == 1), "an identity never comes back after leaving"
        step = np.hypot(*np.diff(w.pos[frames, i], axis=0).T)
        assert step.max() < 0.35  # metres per 0.1 s: walking pace plus a small push
        if frames[0] > 0:  # entered later: through the border, from outside the area
            assert np.any(np.abs(w.pos[frames[0], i]) > w.half_size)
    assert w.num_people > 6, "people who leave are replaced by new identities"


def test_difficulty_lowers_multi_camera_coverage(tmp_path):
    def coverage(level: str) -> float:
        cfg = dataclasses.replace(TINY, cameras=4, people=8, frames=20, seed=0, difficulty=level)
        return scene_stats(generate_scene(tmp_path / level, cfg)).multi_view

    easy, hard = coverage("easy"), coverage("hard")
    assert easy > 0.9
    assert hard < easy


runner = CliRunner()


def test_cli_makes_a_scene(tmp_path):
    out = tmp_path / "cli"
    res = runner.invoke(
        app,
        [
            "synth",
            str(out),
            "--cameras",
            "2",
            "--people",
            "3",
            "--frames",
            "5",
            "--size",
            "160x90",
            "--difficulty",
            "easy",
            "--mosaic",
            "2",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "cam2" in res.output and "identities" in res.output
    assert (out / "synth" / "mosaic_2.png").is_file()
    prov = json.loads((out / "provenance" / "synth.json").read_text())
    assert prov["params"]["difficulty"] == "easy" and prov["params"]["width"] == 160


@pytest.mark.parametrize(
    "args",
    [
        ["--cameras", "0"],
        ["--frames", "-5"],
        ["--size", "640by360"],
        ["--mosaic", "99"],
    ],
)
def test_cli_bad_input_is_one_line(tmp_path, args):
    res = runner.invoke(app, ["synth", str(tmp_path / "bad"), "--frames", "3", *args])
    assert res.exit_code == 1
    assert "Traceback" not in res.output
    assert res.output.strip().startswith("error:") and len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()


def test_cli_refuses_existing_scene(tiny):
    res = runner.invoke(app, ["synth", str(tiny.root), "--frames", "3"])
    assert res.exit_code == 1
    assert "--overwrite" in res.output and "Traceback" not in res.output


def test_scene_is_valid_for_evaluate(tmp_path):
    """mcmot evaluate of gt against itself (copied to global/) gives perfect scores."""
    import shutil

    from mcmot.stages.evaluate import EvaluateConfig, run_evaluate

    cfg = dataclasses.replace(TINY, cameras=3, people=5, frames=12)
    scene = generate_scene(tmp_path / "ev", cfg)
    shutil.copytree(scene.root / "gt", scene.root / "global")
    res = run_evaluate([Scene(scene.root)], EvaluateConfig()).to_json()["combined"]
    for key in ("IDF1", "MOTA", "HOTA", "AIDF1", "MHAA"):
        assert res[key] == pytest.approx(1.0), key
    assert res["FP"] == res["FN"] == res["IDSW"] == 0
    cli = runner.invoke(app, ["evaluate", str(scene.root), "--json"])
    assert cli.exit_code == 0, cli.output


def test_relative_and_dot_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = dataclasses.replace(TINY, frames=2)
    assert generate_scene(Path("rel/"), cfg).root == Path("rel")
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    generate_scene(Path("."), cfg)
    assert (tmp_path / "here" / "gt" / "cam1.txt").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here", "rel"]
