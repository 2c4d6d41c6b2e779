"""benchmarks/bench_geometry_cues.py: its feature folders, oracle features and top-1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks import bench_geometry_cues as bench
from mcmot.motio import MotTable, read_mot, write_mot


def _scene(tmp_path: Path) -> Path:
    """Two cameras, people 1-3 in both in frames 1-4, at different places per camera."""
    root = tmp_path / "hard-7301"
    (root / "frames" / "cam1").mkdir(parents=True)
    for k, cam in enumerate(("cam1", "cam2")):
        frames = np.repeat(np.arange(1, 5), 3)
        ids = np.tile([1, 2, 3], 4)
        boxes = np.stack([50.0 * ids + 7 * k, 10.0 + frames, np.full(12, 20.0), np.full(12, 40.0)])
        gt = MotTable.from_arrays(frames, ids, boxes.T)
        write_mot(root / "gt" / f"{cam}.txt", gt)
        write_mot(root / "tracks" / f"{cam}.txt", gt.with_ids(ids + 100 * (k + 1)))
    return root


def test_ground_truth_tracks_become_det_rows_in_random_order_and_features_are_reused(tmp_path):
    root = _scene(tmp_path)
    out = bench.features_scene(root, "oracle:0")
    assert out.name == "hard-7301-features-oracle:0"
    assert (out / "frames").resolve() == (root / "frames").resolve()
    tracks, det = read_mot(root / "tracks" / "cam1.txt"), read_mot(out / "det" / "cam1.txt")
    assert (det.ids == -1).all()
    assert sorted(map(tuple, det.boxes)) == sorted(map(tuple, tracks.boxes))
    assert not np.array_equal(det.boxes, tracks.boxes)  # the order says nothing
    assert bench.true_ids(out, "cam1").tolist() == [
        int(i) for i in np.round((det.boxes[:, 0]) / 50.0)
    ]
    stamp = (out / "features" / "cam1.npz").stat().st_mtime_ns
    assert bench.features_scene(root, "oracle:0") == out
    assert (out / "features" / "cam1.npz").stat().st_mtime_ns == stamp  # not redone


def test_top1_of_oracle_features_falls_with_the_view_bias(tmp_path):
    root = _scene(tmp_path)
    exact = bench.features_scene(root, "oracle:0")
    assert bench.top1([exact], centre=False) == 1.0  # 24 queries, every one finds its person
    biased = bench.features_scene(root, "oracle:8")
    assert bench.top1([biased], centre=False) < 0.9
    with np.load(biased / "features" / "cam2.npz") as z:
        assert z["f_a"].shape == (12, bench.ORACLE_DIM)
        assert np.array_equal(z["frames"], read_mot(biased / "det" / "cam2.txt").frames)


def _write_looks(out: Path, looks: dict[str, np.ndarray]) -> None:
    """Each row's feature: its true person's row of ``looks[cam]``."""
    for cam, table in looks.items():
        with np.load(out / "features" / f"{cam}.npz") as z:
            frames, boxes = z["frames"], z["boxes"]
        f = table[bench.true_ids(out, cam) - 1]
        np.savez(out / "features" / f"{cam}.npz", f_a=f, f_s=f, frames=frames, boxes=boxes)


def test_top1_hand_computed(tmp_path):
    out = bench.features_scene(_scene(tmp_path), "oracle:0")
    unit = np.eye(3, dtype=np.float32)
    looks = {"cam1": unit, "cam2": unit.copy()}
    looks["cam2"][0] = [0.1, 0.9, 0.0]  # in cam2 person 1 looks much like person 2
    _write_looks(out, looks)
    # cam1 -> cam2: all 12 right (person 2's nearest is cam2's person 2, 1.0 > 0.994);
    # cam2 -> cam1: cam2's person 1 finds person 2 in all 4 frames
    assert bench.top1([out], centre=False) == pytest.approx(20 / 24)


def test_top1_as_association_compares_features_ignores_a_camera_wide_offset(tmp_path):
    out = bench.features_scene(_scene(tmp_path), "oracle:0")
    unit = np.eye(3, dtype=np.float32)
    looks = {"cam1": unit, "cam2": unit + [2.0, 0.0, 0.0]}  # cam2 tints everyone alike
    _write_looks(out, looks)
    # as extracted, cam2's people 2 and 3 ((2, 1, 0) and (2, 0, 1)) are nearest cam1's
    # person 1 in all 4 frames; with each camera's mean removed, everyone finds themself
    assert bench.top1([out], centre=False) == pytest.approx(16 / 24)
    assert bench.top1([out], centre=True) == 1.0
