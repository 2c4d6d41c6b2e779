"""benchmarks/bench_streaming.py: its parser, the latency summary and the output comparison."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import bench_streaming as bench


def test_parser_takes_data_boxes_work_and_json(tmp_path):
    args = bench.build_parser().parse_args(
        [
            "--data",
            str(tmp_path),
            "--boxes",
            "gt",
            "--work",
            str(tmp_path / "w"),
            "--json",
            "o.json",
        ]
    )
    assert (args.data, args.boxes, args.json) == (tmp_path, "gt", Path("o.json"))
    assert bench.build_parser().parse_args([]).boxes == "cached"
    with pytest.raises(SystemExit):
        bench.build_parser().parse_args(["--boxes", "yolo"])


def test_summarise_gives_median_p95_and_max_in_milliseconds():
    s = bench.summarise([i / 1000 for i in range(1, 101)])  # 1 .. 100 ms
    assert s["median_ms"] == pytest.approx(51.0) or s["median_ms"] == pytest.approx(50.0)
    assert s["p95_ms"] == pytest.approx(95.0, abs=1.0)
    assert s["max_ms"] == pytest.approx(100.0)
    assert all(v != v for v in bench.summarise([]).values())  # NaN when nothing was timed


def test_same_outputs_compares_tracks_and_global(tmp_path):
    for arm in ("a", "b"):
        for stage in ("tracks", "global"):
            (tmp_path / arm / stage).mkdir(parents=True)
            (tmp_path / arm / stage / "c0.txt").write_text("1,1,0,0,1,1,1,-1,-1,-1\n")
    assert bench.same_outputs(tmp_path / "a", tmp_path / "b")
    (tmp_path / "b" / "global" / "c0.txt").write_text("1,2,0,0,1,1,1,-1,-1,-1\n")
    assert not bench.same_outputs(tmp_path / "a", tmp_path / "b")
    assert not bench.same_outputs(tmp_path / "a", tmp_path / "missing")
