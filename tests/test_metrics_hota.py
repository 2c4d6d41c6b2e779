"""HOTA: hand-computed cases and TrackEval's published values."""

from __future__ import annotations

from pathlib import Path

import motmetrics
import numpy as np
import pytest

from mcmot.metrics.hota import ALPHAS, HotaCounts, hota_counts
from mcmot.metrics.sequence import build_sequence
from mcmot.motio import MotTable, read_mot

MM_DATA = Path(motmetrics.__file__).parent / "data"
MVMHAT = {1: (800, 1200, 4), 2: (800, 1200, 4), 6: (1000, 1500, 3)}
A = (0.0, 0.0, 100.0, 100.0)
B = (500.0, 0.0, 100.0, 100.0)


def table(rows) -> MotTable:
    if not rows:
        return MotTable.empty()
    return MotTable.from_arrays(
        [r[0] for r in rows], [r[1] for r in rows], np.array([r[2] for r in rows])
    )


def hota(gt_rows, pr_rows) -> dict:
    return hota_counts(build_sequence(table(gt_rows), table(pr_rows))).rates()


def test_alphas_are_trackevals():
    assert len(ALPHAS) == 19
    assert ALPHAS[0] == pytest.approx(0.05) and ALPHAS[-1] == pytest.approx(0.95)


def test_perfect_tracking_is_one():
    rows = [(1, 1, A), (1, 2, B), (2, 1, A), (2, 2, B)]
    r = hota(rows, [(f, i + 10, b) for f, i, b in rows])
    assert r["HOTA"] == pytest.approx(1.0)
    assert r["DetA"] == pytest.approx(1.0) and r["AssA"] == pytest.approx(1.0)


def test_identity_change_halves_association():
    # one person, two frames, the prediction changes id: DetA 1, AssA 1/2
    r = hota([(1, 1, A), (2, 1, A)], [(1, 7, A), (2, 8, A)])
    assert r["DetA"] == pytest.approx(1.0)
    assert r["AssA"] == pytest.approx(0.5)
    assert r["HOTA"] == pytest.approx(np.sqrt(0.5))


def test_localisation_threshold():
    # IoU 0.62: a true positive for the 12 alphas 0.05 .. 0.60, a miss + FP above
    low = (0.0, 0.0, 100.0, 62.0)
    r = hota([(1, 1, A)], [(1, 5, low)])
    assert r["DetA"] == pytest.approx(12 / 19)
    assert r["AssA"] == pytest.approx(12 / 19)
    assert r["HOTA"] == pytest.approx(12 / 19)
    # LocA is 1 at alphas without a true positive (TrackEval's convention)
    assert r["LocA"] == pytest.approx((12 * 0.62 + 7 * 1.0) / 19)


def test_misses_and_false_positives():
    # frame 1 matched, frame 2 missed, frame 3 a false positive: DetA = 1 / 3
    r = hota([(1, 1, A), (2, 1, A)], [(1, 4, A), (3, 4, B)])
    assert r["DetA"] == pytest.approx(1 / 3)
    # the one matched pair: TPA 1, id 1 has 2 boxes, id 4 has 2 boxes -> 1 / 3
    assert r["AssA"] == pytest.approx(1 / 3)


def test_repeated_truth_box_counts_in_detection_but_once_per_frame_in_association():
    # id 1 twice at A in frame 1 (TrackEval's counts): TP 2, FN 1 -> DetA 2/3;
    # the identity has 2 frames, both matched to 10 -> AssA 1
    r = hota([(1, 1, A), (1, 1, A), (2, 1, A)], [(1, 10, A), (2, 10, A)])
    assert r["DetA"] == pytest.approx(2 / 3)
    assert r["AssA"] == pytest.approx(1.0)
    assert r["HOTA"] == pytest.approx((2 / 3) ** 0.5)


def test_empty_is_none_and_no_predictions_is_zero():
    assert HotaCounts.zero().rates()["HOTA"] is None
    r = hota([(1, 1, A)], [])
    assert r["HOTA"] == 0.0 and r["DetA"] == 0.0


def test_pooling_weights_association_by_true_positives():
    a = hota_counts(build_sequence(table([(1, 1, A)]), table([(1, 5, A)])))
    b = hota_counts(build_sequence(table([(1, 1, A), (2, 1, A)]), table([(1, 7, A), (2, 8, A)])))
    r = (a + b).rates()
    # TP 1 with AssA 1 and TP 2 with AssA 1/2 -> (1 + 1) / 3
    assert r["AssA"] == pytest.approx(2 / 3)
    assert r["DetA"] == pytest.approx(1.0)


def test_trackeval_value_on_tud_campus():
    gt = read_mot(MM_DATA / "TUD-Campus" / "gt.txt")
    pr = read_mot(MM_DATA / "TUD-Campus" / "test.txt")
    r = hota_counts(build_sequence(gt, pr)).rates()
    assert r["HOTA"] == pytest.approx(0.3913974, abs=1e-6)
    assert r["DetA"] == pytest.approx(0.4180470, abs=1e-6)
    assert r["AssA"] == pytest.approx(0.3691207, abs=1e-6)


def test_trackeval_value_on_mvmhat_pooled(shared_data):
    folder = shared_data / "mvmhat-sample"
    total = HotaCounts.zero()
    for seq, (start, end, n_views) in MVMHAT.items():
        for v in range(1, n_views + 1):
            gt = read_mot(folder / "gt" / f"{seq}_{v}.txt")
            pr = read_mot(folder / "res" / f"{seq}_{v}.txt")
            total = total + hota_counts(build_sequence(gt, pr, start, end))
    assert total.rates()["HOTA"] == pytest.approx(0.699272, abs=1e-6)
