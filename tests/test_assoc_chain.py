"""The boxes-only chain: detect --from-gt, track --features none,
associate --cues geometry, evaluate, on a synthetic scene whose pixels are removed."""

from __future__ import annotations

import json
import shutil

from typer.testing import CliRunner

from mcmot.cli import app
from mcmot.synth import SynthConfig, generate_scene


def test_boxes_only_chain(tmp_path):
    cfg = SynthConfig(
        cameras=3, people=6, frames=100, width=320, height=180, seed=5,
        difficulty="medium", fmt="jpg",
    )  # fmt: skip
    root = generate_scene(tmp_path / "s", cfg).root
    for d in ("frames", "videos"):
        shutil.rmtree(root / d, ignore_errors=True)
    run = CliRunner()
    for args in (
        ["detect", str(root), "--from-gt"],
        ["track", str(root), "--features", "none"],
        ["associate", str(root), "--cues", "geometry"],
        ["evaluate", str(root)],
    ):
        res = run.invoke(app, args)
        assert res.exit_code == 0, (args, res.output)
    assert (root / "geometry.json").is_file()
    m = json.loads((root / "eval.json").read_text())["metrics"]
    assert m["AIDF1"] > 0.8 and m["MHAA"] > 0.75, m
