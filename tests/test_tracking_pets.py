"""The tracker on real footage: PETS09-S2L1 with its public ACF detections (no pixels read)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mcmot.metrics.clear_id import clear_id_counts
from mcmot.metrics.sequence import build_sequence
from mcmot.motio import read_mot, write_mot
from mcmot.scene import Scene
from mcmot.stages.track import run_track, track_camera
from mcmot.tracking import TrackerConfig

FRAMES = 200


@pytest.fixture(scope="module")
def pets(shared_data: Path) -> Path:
    return shared_data / "pets09-s2l1"


def test_motion_only_on_acf_detections(pets: Path) -> None:
    det = read_mot(pets / "det.txt", unique_ids=False).frame_range(1, FRAMES)
    gt = read_mot(pets / "gt.txt").frame_range(1, FRAMES)
    tracks = track_camera(det, None, FRAMES, TrackerConfig())
    rates = clear_id_counts(build_sequence(gt, tracks)).rates()
    # measured 0.534 / 0.661 / 26 (benchmarks/bench_track_pets.py --sources acf --frames 200);
    # the bounds leave room for harmless changes but catch a broken tracker
    assert rates["IDF1"] > 0.45
    assert rates["MOTA"] > 0.55
    assert rates["IDSW"] < 60
    # every output box is one of that frame's detections, ids unique per frame
    for f in np.unique(tracks.frames)[:20]:
        rows = tracks.boxes[tracks.frames == f]
        cand = det.boxes[det.frames == f]
        assert all(np.abs(cand - b).max(axis=1).min() < 1e-9 for b in rows)
        assert len(np.unique(tracks.ids[tracks.frames == f])) == len(rows)


def test_run_track_on_a_pets_scene_without_pixels(pets: Path, tmp_path: Path) -> None:
    det = read_mot(pets / "det.txt", unique_ids=False).frame_range(1, 50)
    write_mot(tmp_path / "det" / "view1.txt", det, precision=3)
    (summary,) = run_track(Scene(tmp_path), features="none")
    assert summary.frames == 50 and summary.detections == len(det)
    out = read_mot(tmp_path / "tracks" / "view1.txt")
    assert 3 <= summary.tracks <= 15 and len(out) == summary.rows
