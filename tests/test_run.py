"""mcmot run and mcmot demo: composition, skipping current stages, resuming after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from pretrain_fixtures import TINY_RUN
from typer.testing import CliRunner

from mcmot.cli import app
from mcmot.errors import McmotError
from mcmot.scene import Scene
from mcmot.stages import run as run_mod
from mcmot.stages.run import RunConfig, apply_overrides, run_pipeline
from mcmot.synth import SynthConfig, generate_scene

STAGES = ["detect", "pretrain", "extract-features", "track", "associate", "evaluate"]


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def _scene(root: Path) -> Scene:
    cfg = SynthConfig(cameras=2, people=3, frames=8, width=160, height=90, seed=3)
    return generate_scene(root, cfg)


def _cfg(**top) -> RunConfig:
    return apply_overrides(RunConfig(), {**TINY_RUN, **top})


def _status(reports) -> dict[str, str]:
    return {r.stage: r.status for r in reports}


def test_apply_overrides():
    cfg = _cfg(boxes="gt")
    assert cfg.boxes == "gt" and cfg.pretrain.depth == 1 and cfg.detect.imgsz == 320
    with pytest.raises(McmotError, match="unknown"):
        apply_overrides(RunConfig(), {"pretrain": {"dpeth": 2}})
    with pytest.raises(McmotError, match="unknown"):
        apply_overrides(RunConfig(), {"colour": 1})


def test_apply_overrides_reaches_nested_configs():
    """associate.geometry is a config of its own: a JSON object sets its fields."""
    geometry = {"seed": 3, "sync_shifts": [5]}
    cfg = apply_overrides(RunConfig(), {"associate": {"cues": "geometry", "geometry": geometry}})
    assert cfg.associate.cues == "geometry" and cfg.associate.geometry.seed == 3
    assert cfg.associate.geometry.sync_shifts == (5,)
    assert cfg.associate.geometry.hypotheses == RunConfig().associate.geometry.hypotheses
    with pytest.raises(McmotError, match="unknown GeometryConfig"):
        apply_overrides(RunConfig(), {"associate": {"geometry": {"sed": 3}}})
    with pytest.raises(McmotError, match="'associate.geometry' must be an object"):
        apply_overrides(RunConfig(), {"associate": {"geometry": 5}})


def test_bad_associate_settings_fail_before_any_stage(tmp_path):
    sc = _scene(tmp_path / "s")
    cfg = apply_overrides(_cfg(), {"associate": {"geometry": {"hypotheses": 0}}})
    with pytest.raises(McmotError, match="hypotheses must be a positive integer"):
        run_pipeline(sc, cfg)
    assert not (sc.root / "det").exists()


@pytest.mark.parametrize(
    ("section", "says"),
    [
        ({"evaluate": {"start": "abc"}}, "'evaluate': start must be an integer or none"),
        ({"associate": {"link_threshold": "high"}}, "'associate': link_threshold must be a number"),
        ({"detect": {"imgsz": "640"}}, "'detect': imgsz must be an integer"),
        ({"tracker": {"max_age_seconds": "abc"}}, "max_age_seconds must be a number"),
        ({"associate": {"geometry": {"seed": "x"}}}, "'associate.geometry': seed must be"),
        ({"pretrain": {"lr": "fast"}}, "'pretrain': lr must be a number"),
    ],
)
def test_run_config_values_of_the_wrong_type_are_refused_before_any_stage(tmp_path, section, says):
    sc = _scene(tmp_path / "s")
    conf = tmp_path / "bad.json"
    conf.write_text(json.dumps(section))
    res = CliRunner().invoke(app, ["run", str(sc.root), "--config", str(conf)])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert says in res.output, res.output
    assert not (sc.root / "det").exists()


def test_run_skips_current_stages_and_redoes_stale_ones(tmp_path):
    sc = _scene(tmp_path / "s")
    cfg = _cfg(boxes="gt")
    first = run_pipeline(sc, cfg)
    assert [r.stage for r in first] == STAGES
    assert set(_status(first).values()) == {"ran"}
    for cam in sc.camera_names():
        for stage in ("det", "features", "tracks", "global"):
            assert sc.path(stage, cam).is_file()
    metrics = json.loads(sc.eval_path.read_text())["metrics"]
    assert 0 <= metrics["IDF1"] <= 1 and metrics["AIDF1"] is not None

    again = run_pipeline(sc, cfg)
    assert set(_status(again).values()) == {"current"}

    # a changed tracker parameter redoes track and everything after it
    changed = apply_overrides(cfg, {"tracker": {"max_age_seconds": 0.5}})
    st = _status(run_pipeline(sc, changed))
    assert [st[s] for s in STAGES] == ["current"] * 3 + ["ran"] * 3


def test_run_never_replaces_an_edited_output_without_saying_so(tmp_path):
    sc = _scene(tmp_path / "s")
    cfg = _cfg(boxes="gt")
    run_pipeline(sc, cfg)
    g = sc.path("global", "cam1")
    edited = g.read_text() + "\n"
    g.write_text(edited)
    with pytest.raises(McmotError, match=r"global/cam1.txt changed since `mcmot associate`"):
        run_pipeline(sc, cfg)
    assert g.read_text() == edited
    # moved away, the stage is redone (and evaluate after it)
    g.rename(tmp_path / "mine.txt")
    st = _status(run_pipeline(sc, cfg))
    assert [st[s] for s in STAGES] == ["current"] * 4 + ["ran"] * 2


def test_run_does_not_replace_outputs_that_no_stage_wrote(tmp_path):
    sc = _scene(tmp_path / "s")
    cfg = _cfg(boxes="gt", track_features="none")
    run_pipeline(sc, cfg)
    mine = "1,7,10,10,20,40,1,-1,-1,-1\n"
    sc.provenance_path("track").unlink()  # tracks/ is now the user's, not a stage's
    for cam in sc.camera_names():
        sc.path("tracks", cam).write_text(mine)
    with pytest.raises(McmotError, match="pass --overwrite"):
        run_pipeline(sc, cfg)
    assert all(sc.path("tracks", c).read_text() == mine for c in sc.camera_names())


def test_interrupted_run_resumes_without_redoing_finished_stages(tmp_path, monkeypatch):
    sc = _scene(tmp_path / "s")
    cfg = _cfg(boxes="gt")
    real_track = run_mod.run_track

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_mod, "run_track", killed)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(sc, cfg)
    assert not sc.stage_files("tracks")
    monkeypatch.setattr(run_mod, "run_track", real_track)
    st = _status(run_pipeline(sc, cfg))
    assert [st[s] for s in STAGES] == ["current"] * 3 + ["ran"] * 3
    leftovers = [p for p in sc.root.rglob(".*") if p.is_file() and ".tmp" in p.name]
    assert leftovers == []


def test_killed_process_then_rerun_finishes(tmp_path):
    """SIGKILL a `mcmot run` process once detect has finished; a second run completes the job."""
    sc = _scene(tmp_path / "s")
    conf = tmp_path / "tiny.json"
    conf.write_text(json.dumps(TINY_RUN))
    cmd = [sys.executable, "-m", "mcmot", "run", str(sc.root), "--boxes", "gt"]
    cmd += ["--config", str(conf), "--json", "--pretrain-minutes", "0.1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    log = sc.root / "model" / "log.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if log.is_file() and len(log.read_text().splitlines()) >= 3:  # pretraining under way
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    runs = json.loads((sc.root / "provenance" / "run.json").read_text())["stages"]
    assert "detect" in runs and "track" not in runs

    # the rerun needs no process of its own: the same command line, in-process
    res = CliRunner().invoke(app, cmd[3:])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    st = {s["stage"]: s["status"] for s in summary["stages"]}
    assert st["detect"] == "current"
    assert all(st[s] == "ran" for s in STAGES[1:])
    assert 0 <= summary["metrics"]["MOTA"] <= 1
    for cam in sc.camera_names():
        for stage in ("det", "features", "tracks", "global"):
            assert sc.path(stage, cam).is_file()


def test_demo_end_to_end_cli(tmp_path):
    conf = tmp_path / "tiny.json"
    conf.write_text(json.dumps(TINY_RUN))
    out = tmp_path / "demo"
    args = ["demo", str(out), "--frames", "6", "--cameras", "2", "--people", "3"]
    args += ["--pretrain-minutes", "0.05", "--config", str(conf)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    sc = Scene(out)
    for cam in ("cam1", "cam2"):
        for stage in ("gt", "det", "features", "tracks", "global"):
            assert sc.path(stage, cam).is_file(), (stage, cam)
    assert (out / "model" / "checkpoint.pt").is_file()
    assert (out / "demo.mp4").stat().st_size > 0
    metrics = json.loads(sc.eval_path.read_text())["metrics"]
    for k in ("IDF1", "MOTA", "HOTA", "AIDF1", "MHAA", "A", "F"):
        assert metrics[k] is not None and -1 <= metrics[k] <= 1, k
    assert "IDF1" in res.output

    # a second demo in the same folder reuses the scene and skips current stages
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "current" in res.output


def test_demo_refuses_foreign_folder(tmp_path):
    (tmp_path / "x.txt").write_text("mine")
    res = CliRunner().invoke(app, ["demo", str(tmp_path)])
    assert res.exit_code == 1
    assert "not a demo scene" in res.output and "Traceback" not in res.output


def test_run_bad_input(tmp_path):
    r = CliRunner()
    res = r.invoke(app, ["run", str(tmp_path / "missing")])
    assert res.exit_code == 1 and "scene not found" in res.output
    (tmp_path / "empty").mkdir()
    res = r.invoke(app, ["run", str(tmp_path / "empty")])
    assert res.exit_code == 1 and "no cameras" in res.output
    sc = _scene(tmp_path / "s")
    (sc.root / "gt" / "cam1.txt").unlink()
    (sc.root / "gt" / "cam2.txt").unlink()
    res = r.invoke(app, ["run", str(sc.root), "--boxes", "gt"])
    assert res.exit_code == 1 and "needs gt/" in res.output


def test_track_on_a_folder_of_videos_runs_detect_first(tmp_path):
    sc = _scene(tmp_path / "s")
    for p in (sc.root / "gt").iterdir():
        p.unlink()
    res = CliRunner().invoke(app, ["track", str(sc.root)])
    assert res.exit_code == 0, res.output
    assert "running `mcmot detect` first" in res.output
    assert "motion and IoU alone" in res.output
    for cam in sc.camera_names():
        assert sc.path("det", cam).is_file() and sc.path("tracks", cam).is_file()


def test_track_with_model_extracts_features_first(tmp_path):
    sc = _scene(tmp_path / "s")
    conf = tmp_path / "tiny.json"
    conf.write_text(json.dumps(TINY_RUN))
    run_pipeline(sc, _cfg(boxes="gt"))  # makes det/ and a tiny model/checkpoint.pt
    for p in sc.stage_dir("features").iterdir():
        p.unlink()
    model = str(sc.root / "model" / "checkpoint.pt")
    res = CliRunner().invoke(app, ["track", str(sc.root), "--model", model, "--overwrite"])
    assert res.exit_code == 0, res.output
    assert "extract-features" in res.output
    assert all(sc.path("features", c).is_file() for c in sc.camera_names())


def test_pretrain_on_a_folder_of_videos_runs_detect_first(tmp_path):
    sc = _scene(tmp_path / "s")
    sets = []
    for k, v in TINY_RUN["pretrain"].items():
        sets += ["--set", f"{k}={v}"]
    res = CliRunner().invoke(app, ["pretrain", str(sc.root), "--out", str(tmp_path / "r"), *sets])
    assert res.exit_code == 0, res.output
    assert "running `mcmot detect` first" in res.output
    assert (tmp_path / "r" / "checkpoint.pt").is_file()
