"""benchmarks/bench_epfl_clip.py: its pure helpers (cutting frames, shuffling, id recovery)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import bench_epfl_clip
from mcmot.motio import MotTable


@pytest.fixture(scope="module")
def bench():
    return bench_epfl_clip


def _gt(frames: int = 6, people: int = 4) -> MotTable:
    f = np.repeat(np.arange(1, frames + 1), people)
    ids = np.tile(np.arange(1, people + 1), frames)
    boxes = np.stack([ids * 40.0 + f, 10.0 + ids, 20.0 + ids, 60.0 + f], 1)
    return MotTable.from_arrays(f, ids, boxes, np.ones(len(f)))


def test_drop_frames_cuts_the_clip_range_inclusive(bench):
    gt = _gt(frames=10)
    kept = bench.drop_frames(gt, 3, 7)
    assert sorted(set(kept.frames.tolist())) == [1, 2, 8, 9, 10]
    assert len(kept) == 5 * 4


def test_shuffle_keeps_frames_and_rows_and_ids_follow_the_boxes(bench):
    gt = _gt()
    det = MotTable.from_arrays(gt.frames, -np.ones(len(gt)), gt.boxes, np.ones(len(gt)))
    bench.check_from_gt(det, gt)
    shuffled, order = bench.shuffle_within_frames(det, seed=3)
    assert np.array_equal(shuffled.frames, gt.frames)  # frames still ascending
    assert sorted(order.tolist()) == list(range(len(gt)))
    assert not np.array_equal(order, np.arange(len(gt)))  # not the gt order
    ids = bench.ids_of_rows(shuffled, gt)
    assert np.array_equal(ids, gt.ids[order])


def test_check_from_gt_refuses_ids_or_lost_boxes(bench):
    gt = _gt()
    with pytest.raises(SystemExit):
        bench.check_from_gt(gt, gt)  # ids kept
    det = MotTable.from_arrays(gt.frames, -np.ones(len(gt)), gt.boxes, np.ones(len(gt)))
    with pytest.raises(SystemExit):
        bench.check_from_gt(det.select(np.arange(len(gt) - 1)), gt)


def test_curve_summarises_a_log(bench, tmp_path):
    lines = [
        {"step": s, "epoch": s / 10, "loss": 2.0 - s / 100, "samples_per_s": 5.0}
        for s in range(1, 101)
    ]
    (tmp_path / "log.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    got = bench.curve(tmp_path / "log.jsonl", span=10)
    assert got["steps"] == 100 and got["epochs"] == 10.0 and got["rate"] == 5.0
    assert got["loss_start"] == pytest.approx(2.0 - 5.5 / 100)
    assert got["loss_end"] == pytest.approx(2.0 - 95.5 / 100)
    assert got["loss_start"] > got["loss_mid"] > got["loss_end"]
