"""Real 30 frames/s ground truth with hand-held cameras (MvMHAT sample), geometry alone.

The boxes-only chain a user runs: ``detect --from-gt`` (identities dropped,
rows shuffled within each frame), ``track --features none``, ``associate
--cues geometry``, scored against the benchmark's global identities. The
floors are the plain per-pair RANSAC homography with 50-frame windows
(AIDF1 0.747 / 0.765 / 0.876 on sequences 1 / 2 / 6); the benchmark
``benchmarks/bench_geometry_mvmhat.py`` prints the full table.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mcmot.association.config import AssociateConfig, GeometryConfig
from mcmot.motio import read_mot, write_mot
from mcmot.scene import Scene
from mcmot.stages.associate import run_associate
from mcmot.stages.detect import DetectConfig, run_detect
from mcmot.stages.evaluate import EvaluateConfig, run_evaluate
from mcmot.stages.track import run_track
from mcmot.tracking import TrackerConfig

#: sequence -> (views, the plain-homography peer's AIDF1)
SEQUENCES = {1: (4, 0.747), 2: (4, 0.765), 6: (3, 0.876)}


def _scene(shared_data: Path, seq: int, root: Path) -> Scene:
    rng = np.random.default_rng(seq)
    for v in range(1, SEQUENCES[seq][0] + 1):
        (root / "gt").mkdir(parents=True, exist_ok=True)
        src = shared_data / "mvmhat-sample" / "gt" / f"{seq}_{v}.txt"
        shutil.copy(src, root / "gt" / f"c{v}.txt")
    sc = Scene(root)
    run_detect(sc, DetectConfig(from_gt=True))
    for path in sc.stage_files("det").values():
        d = read_mot(path)
        o = np.lexsort((rng.random(len(d)), d.frames))
        write_mot(path, d.select(o))
    run_track(sc, TrackerConfig(fps=30.0), features="none")
    run_associate(sc, _config(seed=0))
    return sc


def _config(seed: int) -> AssociateConfig:
    return AssociateConfig(cues="geometry", fps=30.0, geometry=GeometryConfig(seed=seed))


@pytest.mark.slow  # real-data floors, a minute and a half
def test_mvmhat_geometry_only_beats_the_plain_homography_on_every_sequence(shared_data, tmp_path):
    scenes = [_scene(shared_data, seq, tmp_path / f"s{seq}") for seq in SEQUENCES]
    res = run_evaluate(scenes, EvaluateConfig(), write=False)
    per = [res.scene_summary(n) for n in res.scenes]
    for m, (_, floor) in zip(per, SEQUENCES.values(), strict=True):
        assert m["AIDF1"] >= floor
    assert np.mean([m["AIDF1"] for m in per]) >= 0.80
    assert np.mean([m["MHAA"] for m in per]) >= 0.82
    # sequence 1 depends most on the RANSAC draws; seed 1's were its worst
    seq1 = scenes[0]
    run_associate(seq1, _config(seed=1), overwrite=True)
    res1 = run_evaluate([seq1], EvaluateConfig(), write=False)
    assert res1.scene_summary(next(iter(res1.scenes)))["AIDF1"] >= SEQUENCES[1][1]
