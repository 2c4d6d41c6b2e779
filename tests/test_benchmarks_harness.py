"""benchmarks/harness.py: the parser, the data folder, the result table and its JSON; and
that every benchmark builds its parser with ``--json``."""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from benchmarks import harness
from mcmot.errors import McmotError

BENCHMARKS = Path(harness.__file__).parent
#: Modules of benchmarks/ that are helpers, not benchmarks (no parser).
HELPERS = {"__init__", "harness", "common", "ultralytics_boxes", "simulate", "mmref"}
SCRIPTS = sorted(p.stem for p in BENCHMARKS.glob("*.py") if p.stem not in HELPERS)


def test_table_aligns_formats_and_marks_missing_cells():
    rows = [
        {"name": "a", "seconds": 1.23456, "count": 3},
        {"name": "longer name", "seconds": 12.0, "count": None, "extra": "x"},
    ]
    got = harness.format_table(rows, {"seconds": ".2f"})
    assert got.splitlines() == [
        "| name        | seconds | count | extra |",
        "|-------------|--------:|------:|-------|",
        "| a           |    1.23 |     3 | -     |",
        "| longer name |   12.00 |     - | x     |",
    ]


def test_table_gives_unformatted_floats_three_decimals():
    got = harness.format_table([{"v": 0.1234567, "n": np.int64(7)}])
    assert got.splitlines() == ["|     v |   n |", "|------:|----:|", "| 0.123 |   7 |"]


def test_results_print_and_keep_every_table_as_json(tmp_path, capsys):
    path = tmp_path / "out" / "r.json"
    results = harness.Results(path, info={"note": "hand-made"})
    results.table("first", [{"a": np.float32(0.5), "b": float("nan")}], title=False)
    results.table("second", [{"c": (1, 2), "d": Path("x/y")}])
    out = capsys.readouterr().out
    assert "|     a |   b |\n|------:|----:|\n| 0.500 | nan |\n" in out
    assert "\nsecond\n" in out and "first" not in out
    doc = json.loads(path.read_text())
    assert doc["note"] == "hand-made"
    assert doc["tables"] == {
        "first": [{"a": 0.5, "b": None}],
        "second": [{"c": [1, 2], "d": "x/y"}],
    }
    assert doc["machine"]["cpus"] == os.cpu_count()
    assert doc["machine"]["python"].count(".") == 2


def test_results_without_a_path_write_nothing(tmp_path, capsys):
    harness.Results(None).table("t", [{"a": 1}])
    assert capsys.readouterr().out == "\nt\n\n|   a |\n|----:|\n|   1 |\n"
    assert not list(tmp_path.iterdir())


def test_nan_cells_print_as_nan_and_none_as_dash():
    got = harness.format_table([{"x": math.nan, "y": None}], {"x": ".1f"})
    assert got.splitlines()[-1] == "| nan |   - |"


def test_make_parser_takes_the_first_docstring_line_and_json():
    ap = harness.make_parser("Speed of things.\n\nMore text here.")
    assert ap.description == "Speed of things."
    assert ap.parse_args([]).json is None
    assert ap.parse_args(["--json", "o.json"]).json == Path("o.json")
    full = harness.make_parser("Speed of things.\n\nMore text here.", full_help=True)
    assert "More text here." in full.description


def test_print_machine_says_platform_python_and_notes(capsys):
    got = harness.print_machine("note one")
    out = capsys.readouterr().out
    assert out.startswith("machine: ") and got["platform"] in out
    assert f"python {got['python']}" in out and out.rstrip().endswith("note one")


@pytest.fixture
def no_data_env(monkeypatch):
    for name in harness.DATA_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_find_data_reads_mcmot_data(no_data_env, tmp_path):
    no_data_env.setenv("MCMOT_DATA", str(tmp_path))
    assert harness.find_data() == tmp_path
    no_data_env.setenv("MCMOT_DATA", str(tmp_path / "missing"))
    assert harness.find_data() is None


def test_find_data_defaults_to_shared_data_beside_the_repository(no_data_env, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    no_data_env.setattr(harness, "ROOT", repo)
    assert harness.find_data() is None
    (tmp_path / "shared" / "data").mkdir(parents=True)
    assert harness.find_data() == tmp_path / "shared" / "data"
    no_data_env.setenv("MCMOT_SHARED_DATA", str(repo))  # the tests' name, used when unset
    assert harness.find_data() == repo


def test_data_or_exit_gives_a_sub_folder_or_one_line(no_data_env, tmp_path):
    (tmp_path / "seq").mkdir()
    no_data_env.setenv("MCMOT_DATA", str(tmp_path))
    assert harness.data_or_exit(None, "seq") == tmp_path / "seq"
    assert harness.data_or_exit(tmp_path / "seq", "other") == tmp_path / "seq"
    with pytest.raises(SystemExit, match="needs the data folder .*other"):
        harness.data_or_exit(None, "other")
    no_data_env.setenv("MCMOT_DATA", str(tmp_path / "missing"))
    with pytest.raises(SystemExit, match="no shared data folder: set MCMOT_DATA"):
        harness.data_or_exit(None, "seq")


@pytest.fixture(scope="module")
def modules():
    """Every benchmark module, imported with os.environ restored afterwards."""
    saved = dict(os.environ)
    try:
        return {name: importlib.import_module(f"benchmarks.{name}") for name in SCRIPTS}
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _required(ap: argparse.ArgumentParser) -> list[str]:
    """Values for the parser's required arguments (a choice where there are choices)."""
    argv: list[str] = []
    for action in ap._actions:
        positional = not action.option_strings
        if not action.required or (positional and action.nargs in ("*", "?")):
            continue
        value = str(next(iter(action.choices))) if action.choices else "x"
        argv += [value] if positional else [action.option_strings[0], value]
    return argv


def test_the_benchmarks_are_found():
    assert {"bench_evaluate", "bench_pipeline_synth", "quick", "make_gt_mosaics"} <= set(SCRIPTS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_benchmark_parser_accepts_json(modules, name):
    ap = modules[name].build_parser()
    assert isinstance(ap, argparse.ArgumentParser) and ap.description
    args = ap.parse_args([*_required(ap), "--json", "out.json"])
    assert args.json == Path("out.json")


@pytest.mark.parametrize(
    "name", ["bench_geometry_mvmhat", "bench_geometry_pets", "bench_low_frame_rate"]
)
def test_geometry_benchmarks_measure_the_settings_given(modules, name, capsys):
    ap = modules[name].build_parser()
    defaults = harness.geometry_config(ap.parse_args([]))
    args = ap.parse_args(["--set", "min_persistence=0.3", "--set", "sync_shifts=1,2"])
    geo = harness.geometry_config(args)
    assert defaults == harness.GeometryConfig()
    assert (geo.min_persistence, geo.sync_shifts) == (0.3, (1.0, 2.0))
    assert geo.full_persistence == defaults.full_persistence
    out = capsys.readouterr().out.splitlines()
    assert out == ["geometry: defaults", "geometry: defaults + min_persistence=0.3 sync_shifts=1,2"]


def test_an_unknown_geometry_setting_is_refused_in_one_line():
    ap = argparse.ArgumentParser()
    harness.add_geometry_settings(ap)
    with pytest.raises(McmotError, match="min_persistance"):
        harness.geometry_config(ap.parse_args(["--set", "min_persistance=0.5"]))


def test_the_retrieval_study_undoes_the_cpu_presets_choices(modules):
    bench = modules["bench_crossview_retrieval"]
    from mcmot.models.pretrain_config import CPU_CROSS_VIEW, PRESETS, PretrainConfig

    cpu = bench.variant_config("cpu", 8.0, 3)
    assert (cpu.boxes, cpu.teacher, cpu.minutes, cpu.seed) == ("gt", "none", 8.0, 3)
    paper = bench.variant_config("paper", 8.0, 3)
    for key in CPU_CROSS_VIEW:  # every choice of the preset undone, nothing else
        assert getattr(paper, key) == getattr(PretrainConfig(), key) != getattr(cpu, key)
    for name, (_, changes) in bench.VARIANTS.items():
        cfg = bench.variant_config(name, 8.0, 3)
        differ = {k for k in CPU_CROSS_VIEW if getattr(cfg, k) != getattr(PRESETS["cpu"], k)}
        assert differ == set(changes)
    assert bench.run_dir(Path("w"), "cpu", 1) == Path("w/run-seed1")
    assert bench.run_dir(Path("w"), "nmi", 1) == Path("w/run-nmi-seed1")


def test_the_retrieval_study_refuses_an_unknown_variant_before_anything_runs(modules, capsys):
    ap = modules["bench_crossview_retrieval"].build_parser()
    assert ap.parse_args([]).variants == ["cpu", "paper"]
    with pytest.raises(SystemExit):
        ap.parse_args(["--variants", "cpu,bogus"])
    assert "unknown variant 'bogus'" in capsys.readouterr().err


def test_the_retrieval_study_also_reads_every_feature_camera_centred(modules):
    bench = modules["bench_crossview_retrieval"]
    looks = {"cam1": np.array([[3.0, 0.0], [1.0, 0.0]]), "cam2": np.array([[0.0, 2.0]] * 2)}
    both = bench.with_centred({"max": lambda scene: looks})
    assert list(both) == ["max", "max, centred"]
    got = both["max, centred"](Path("scene"))
    # unit rows (1, 0) twice in cam1: nothing is left once their mean is removed
    np.testing.assert_allclose(got["cam1"], 0.0, atol=1e-6)
    np.testing.assert_allclose(got["cam2"], 0.0, atol=1e-6)
    three = {"cam1": np.array([[1.0, 0.0], [0.0, 1.0]])}
    got = bench.camera_centred(lambda scene: three)(Path("scene"))["cam1"]
    r = np.sqrt(0.5)
    np.testing.assert_allclose(got, [[r, -r], [-r, r]], atol=1e-6)
