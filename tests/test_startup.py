"""The light commands start without torch, timm, torchvision or ultralytics.

Each command runs in a fresh interpreter (through the Typer app, in-process
there) on a small synthetic scene; afterwards none of those packages may be
in ``sys.modules``. What a command imports at start-up is what it costs on
every call (``benchmarks/bench_startup.py`` measures it).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mcmot.stages.associate import run_associate
from mcmot.stages.detect import DetectConfig, run_detect
from mcmot.stages.track import run_track
from mcmot.synth import SynthConfig, generate_scene

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "timm", "torchvision", "ultralytics")
#: Packages that cost a light command a large share of its start-up for one function each
#: (scipy's assignment solver, the chi-square gate, the Kalman filter's reference path).
SLOW = ("scipy.optimize", "scipy.stats", "filterpy")
TINY = SynthConfig(cameras=2, people=3, frames=30, width=160, height=90, seed=3)

#: Runs the app on argv[1:] with typer's CliRunner, then prints the exit code, the
#: output's tail and the heavy packages loaded, as one JSON line.
PROBE = f"""
import json, sys
from typer.testing import CliRunner
from mcmot.cli import app
r = CliRunner().invoke(app, sys.argv[1:])
heavy = sorted(m for m in sys.modules if m.split('.')[0] in {set(HEAVY)!r})
slow = sorted(m for m in {SLOW!r} if m in sys.modules)
print(json.dumps({{"exit": r.exit_code, "output": r.output[-2000:], "heavy": heavy, "slow": slow}}))
"""

#: Each light command, with SCENE and OUT standing for a copy of the scene and a new folder.
COMMANDS = {
    "--version": ["--version"],
    "--help": ["--help"],
    "info": ["info", "SCENE"],
    "evaluate": ["evaluate", "SCENE"],
    "track --features none": ["track", "SCENE", "--features", "none", "--overwrite"],
    "associate --cues geometry": ["associate", "SCENE", "--cues", "geometry", "--overwrite"],
    "render": ["render", "SCENE", "--frame", "2", "--out", "OUT/still.png"],
    "synth": ["synth", "OUT/synth", "--cameras", "2", "--frames", "3", "--size", "64x48"],
}


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic scene with every output the light commands read."""
    sc = generate_scene(tmp_path_factory.mktemp("startup") / "scene", TINY)
    run_detect(sc, DetectConfig(from_gt=True))
    run_track(sc, features="none")
    run_associate(sc)
    return sc.root


def _probe(args: list[str]) -> dict:
    res = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.splitlines()[-1])


@pytest.mark.parametrize("name", COMMANDS)
def test_a_light_command_imports_no_heavy_package(name: str, scene: Path, tmp_path: Path):
    copy = shutil.copytree(scene, tmp_path / "scene")
    args = [a.replace("SCENE", str(copy)).replace("OUT", str(tmp_path)) for a in COMMANDS[name]]
    got = _probe(args)
    assert got["exit"] == 0, got["output"]
    loaded = sorted({m.split(".")[0] for m in got["heavy"]})
    assert got["heavy"] == [], f"mcmot {name} imported {loaded}: {got['heavy'][:5]} ..."
    assert got["slow"] == [], f"mcmot {name} imported {got['slow']}"


def test_the_probe_sees_a_heavy_import(scene: Path, tmp_path: Path):
    """The check can fail: a command that needs torch shows it loaded."""
    copy = shutil.copytree(scene, tmp_path / "scene")
    got = _probe(["extract-features", str(copy), "--model", "no-such.pt"])
    assert got["exit"] == 1, got["output"]
    assert "torch" in got["heavy"]
