"""benchmarks/bench_pipeline_synth.py: its core function on a tiny synthetic scene."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from benchmarks import bench_pipeline_synth
from mcmot.models.checkpoint import load_checkpoint
from mcmot.models.pretrain_config import PretrainConfig
from mcmot.stages.features import FeaturesConfig

TINY = dict(
    img_height=32, img_width=16, patch_size=8, embed_dim=32, depth=1, num_heads=2, dec_dim=16,
    dec_depth=1, dec_heads=2, max_dets=4, teacher="none", batch_size=2, epochs=1,
    device="cpu", boxes="gt",
)  # fmt: skip


@pytest.fixture(scope="module")
def bench():
    return bench_pipeline_synth


@pytest.fixture(scope="module")
def tiny_run(bench, tmp_path_factory):
    torch.set_num_threads(1)
    cfg = bench.BenchConfig(
        cameras=2, people=3, frames=8, width=160, height=90, train_frames=8,
        difficulties=("easy",), repeats=2, boxes=("gt",), oracle=True,
        features=("calibfree", "untrained", "histogram", "none"),
        pretrain=PretrainConfig(**TINY), feature=FeaturesConfig(device="cpu"),
    )  # fmt: skip
    work = tmp_path_factory.mktemp("bench")
    return bench, cfg, work, bench.run_benchmark(work, cfg)


def test_every_row_has_valid_metrics(tiny_run):
    bench, cfg, _, res = tiny_run
    combos = {(r.features, r.cues) for r in res.rows}
    assert combos == {
        ("calibfree", "both"), ("calibfree", "appearance"), ("calibfree", "geometry"),
        ("untrained", "both"), ("untrained", "appearance"), ("untrained", "geometry"),
        ("histogram", "both"), ("histogram", "appearance"), ("histogram", "geometry"),
        ("none", "geometry"),
        ("calibfree", "gt-oracle"), ("untrained", "gt-oracle"), ("histogram", "gt-oracle"),
        ("none", "gt-oracle"),
    }  # fmt: skip
    # on 8 gt-box frames no tracklet needs splitting: the label-using oracle is at
    # least what association reached on the same tracks
    got = {(r.features, r.cues): r.metrics for r in res.rows}
    for enc in ("calibfree", "untrained", "histogram", "none"):
        assert got[(enc, "gt-oracle")]["AIDF1"] >= got[(enc, "geometry")]["AIDF1"] - 1e-9
    for r in res.rows:
        assert (r.boxes, r.difficulty) == ("gt", "easy")
        assert set(r.metrics) == set(bench.METRICS)
        for k, v in r.metrics.items():
            if v is None:
                continue
            # MOTA (and so A) may be negative: many false positives; never above 1
            lo = -float("inf") if k in ("MOTA", "A") else 0.0
            assert lo <= v <= 1.0, (r, k)
        # with ground-truth boxes nothing is missed or invented: MOTA close to 1
        assert r.metrics["MOTA"] is not None and r.metrics["MOTA"] > 0.5
    # two held-out scenes pooled into each row, neither seen in training
    assert [s.name for s in res.scenes] == ["train", "easy", "easy-2"]
    assert len({s.seed for s in res.scenes}) == 3
    table = bench.format_table(res)
    assert len(table.splitlines()) == 2 + len(res.rows)


def test_untrained_is_the_initial_encoder(tiny_run):
    _, _, work, _ = tiny_run
    run_dir = work / "train" / "model"
    trained, untrained = (
        load_checkpoint(run_dir / "checkpoint.pt"),
        load_checkpoint(run_dir / "untrained.pt"),
    )
    assert trained["config"] == untrained["config"] and untrained["step"] == 0
    assert trained["step"] >= 1
    differs = [
        k for k in trained["model"] if not torch.equal(trained["model"][k], untrained["model"][k])
    ]
    assert differs  # training changed the weights


def test_rerun_uses_the_cache(tiny_run):
    bench, cfg, work, res = tiny_run
    stamps = (work / "stamps.json").stat().st_mtime_ns
    ckpt = (work / "train" / "model" / "checkpoint.pt").stat().st_mtime_ns
    again = bench.run_benchmark(work, cfg)
    assert (work / "train" / "model" / "checkpoint.pt").stat().st_mtime_ns == ckpt
    assert (work / "stamps.json").stat().st_mtime_ns == stamps
    assert [r.metrics for r in again.rows] == [r.metrics for r in res.rows]


def test_config_from_args(bench):
    a = bench.parse_args(["--work", "w", "--pretrain-minutes", "3", "--boxes", "gt",
                          "--difficulties", "medium", "--frames", "80"])  # fmt: skip
    cfg = bench.config_from_args(a)
    assert cfg.pretrain.minutes == 3.0 and cfg.boxes == ("gt",)
    assert cfg.difficulties == ("medium",) and cfg.frames == 80
    assert cfg.detect.imgsz == 640
    assert dataclasses.replace(cfg).train_seed != cfg.test_seed
    assert cfg.associate.appearance_weight is None and cfg.repeats == 1
    b = bench.parse_args(["--work", "w", "--appearance-weight", "0.5", "--repeats", "3"])
    assert bench.config_from_args(b).associate.appearance_weight == 0.5
    assert bench.config_from_args(b).repeats == 3
    assert cfg.shared_geometry
    assert cfg.associate.geometry.seed == 0
    c = bench.config_from_args(bench.parse_args(["--work", "w", "--own-geometry",
                                                 "--geometry-seed", "3"]))  # fmt: skip
    assert not c.shared_geometry and c.associate.geometry.seed == 3
    assert cfg.pretrain.seed == 0
    assert (
        bench.config_from_args(
            bench.parse_args(["--work", "w", "--pretrain-seed", "1"])
        ).pretrain.seed
        == 1
    )


def test_encoders_share_one_geometry_per_scene(tiny_run):
    """Every encoder's association reuses the scene's one fit (none of them fits its own)."""
    bench, cfg, work, _ = tiny_run
    for name in ("easy", "easy-2"):
        base = work / "test" / name / "gt"
        assert (base / "geometry.json").is_file()
        assert (base / "tracks").is_dir()
        for enc in cfg.features:
            assert (work / "runs" / name / "gt" / enc / "global").is_dir()
            assert not (work / "runs" / name / "gt" / enc / "geometry.json").exists()


def test_held_out_seed_is_fixed_per_difficulty(bench):
    """A det-only pass over 'medium' must reuse the gt pass's medium scene."""
    full = bench.BenchConfig(difficulties=("easy", "medium", "hard"))
    only = bench.BenchConfig(difficulties=("medium",))
    assert bench.held_out_seed(full, "medium") == bench.held_out_seed(only, "medium")
    seeds = {bench.held_out_seed(full, d) for d in full.difficulties}
    assert len(seeds) == 3 and full.train_seed not in seeds
    with pytest.raises(bench.McmotError, match="unknown difficulty"):
        bench.held_out_seed(full, "extreme")
    assert bench.held_out_seed(full, "easy", 1) not in seeds | {full.train_seed}


def test_repeats_must_be_positive(bench, tmp_path):
    with pytest.raises(bench.McmotError, match="--repeats"):
        bench.run_benchmark(tmp_path, bench.BenchConfig(repeats=0))


def test_rows_keep_per_scene_metrics(tiny_run):
    _, _, _, res = tiny_run
    for r in res.rows:
        assert len(r.per_scene) == 2  # repeats=2
        assert all(set(s) == {"AIDF1", "MHAA"} for s in r.per_scene)


def test_format_paired_counts_scenes(bench):
    def row(features: str, aidf1: list[float], mhaa: list[float]):
        per = tuple({"AIDF1": a, "MHAA": m} for a, m in zip(aidf1, mhaa, strict=True))
        return bench.Row("gt", "hard", features, "both", {}, 0, 0.0, "", per)

    res = bench.BenchResult(
        [row("calibfree", [0.5, 0.7, 0.2], [0.4, 0.4, 0.1]),
         row("teacher", [0.4, 0.7, 0.3], [0.3, 0.5, 0.1])],
        [], {},
    )  # fmt: skip
    text = bench.format_paired(res)
    assert "AIDF1 1 ahead / 1 tied / 1 behind" in text
    assert "MHAA 1 ahead / 1 tied / 1 behind" in text
    one = bench.BenchResult([row("calibfree", [0.5], [0.4]), row("teacher", [0.4], [0.3])], [], {})
    assert bench.format_paired(one) == ""
