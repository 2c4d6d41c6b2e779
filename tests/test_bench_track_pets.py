"""The PETS09 tracking benchmarks' ceiling rows, hand-computed."""

from __future__ import annotations

import numpy as np

from mcmot.motio import MotTable


def test_true_identities_give_each_detection_its_person_and_a_false_positive_its_own_track():
    from benchmarks.bench_track_pets import true_identities

    gt = MotTable.from_arrays(
        np.array([1, 1, 2]),
        np.array([7, 9, 7]),
        np.array([[0.0, 0, 10, 20], [50, 0, 10, 20], [2, 0, 10, 20]]),
        np.ones(3),
    )
    det = MotTable.from_arrays(
        np.array([1, 1, 2, 2]),
        -np.ones(4),
        np.array([[51.0, 0, 10, 20], [1, 0, 10, 20], [100, 0, 10, 20], [2, 0, 10, 20]]),
        np.array([0.9, 0.8, 0.9, 0.2]),  # the last scores below 0.3: not written
    )  # IoU 0.82 with the person beside each of the first two; the third overlaps nobody
    kept = true_identities(det, gt, 0.3, false_positives=True)
    assert kept.frames.tolist() == [1, 1, 2] and kept.ids.tolist() == [9, 7, 10]
    assert kept.boxes[:, 0].tolist() == [51.0, 1.0, 100.0]
    left_out = true_identities(det, gt, 0.3, false_positives=False)
    assert left_out.ids.tolist() == [9, 7] and left_out.frames.tolist() == [1, 1]
