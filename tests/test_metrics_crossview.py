"""Cross-view metrics: hand-computed cases and the MvMHAT reference values."""

from __future__ import annotations

import numpy as np
import pytest

from mcmot.metrics.crossview import (
    CrossViewCounts,
    combine_crossview,
    crossview_counts,
    iou_plus_one,
    truth_labels,
)
from mcmot.motio import MotTable, read_mot

A = (0.0, 0.0, 10.0, 10.0)
B = (100.0, 0.0, 10.0, 10.0)
C = (300.0, 0.0, 10.0, 10.0)

# README of ../shared/data: seq -> (P, R, missed, fp, mme, bbx), from the official code
REFERENCE = {
    1: (0.769074, 0.731340, 1490, 1121, 2185, 30645),
    2: (0.737413, 0.794086, -14, 1008, 2219, 29907),
    6: (0.714370, 0.811603, -680, 738, 1594, 17824),
}
RANGES = {1: (800, 1200, 4), 2: (800, 1200, 4), 6: (1000, 1500, 3)}


def table(rows) -> MotTable:
    if not rows:
        return MotTable.empty()
    return MotTable.from_arrays(
        [r[0] for r in rows], [r[1] for r in rows], np.array([r[2] for r in rows])
    )


def test_iou_plus_one_convention():
    a = np.array([[0.0, 0.0, 9.0, 9.0]])  # 10 x 10 pixels with the +1 convention
    b = np.array([[5.0, 0.0, 9.0, 9.0]])
    # intersection (9 - 5 + 1) * 10 = 50, areas 100 each
    assert iou_plus_one(a, b)[0] == pytest.approx(50 / 150)
    far = np.array([[20.0, 0.0, 9.0, 9.0]])
    assert iou_plus_one(a, far)[0] == 0.0
    touching = np.array([[9.0, 9.0, 9.0, 9.0]])  # one shared pixel
    assert iou_plus_one(a, touching)[0] == pytest.approx(1 / 199)


def test_labels_union_rule_and_last_wins():
    # truth 1 at A; predictions 5 (exactly A) and 6 (A shifted, IoU > 0.5 with A).
    shifted = (1.0, 0.0, 10.0, 10.0)
    gt = table([(1, 1, A), (1, 2, C)])
    pr = table([(1, 5, A), (1, 6, shifted), (1, 7, (400.0, 0.0, 5.0, 5.0))])
    labels = truth_labels(gt, pr, np.array([1]))
    # 5 is truth 1's best; truth 1 is also 6's best -> both match, the later row (6) wins
    assert labels.tolist() == [6, 0]


def test_labels_need_more_than_one_half():
    half = (0.0, 0.0, 10.0, 4.5)  # (10+1)*(4.5+1) / (11*11) = 0.5 exactly
    labels = truth_labels(table([(1, 1, A)]), table([(1, 5, half)]), np.array([1]))
    assert labels.tolist() == [0]


def _one_frame(v1_gt, v1_pr, v2_gt, v2_pr, **kw) -> CrossViewCounts:
    views = [(table(v1_gt), table(v1_pr)), (table(v2_gt), table(v2_pr))]
    return crossview_counts(views, 1, 1, **kw)


def test_agreeing_and_disagreeing_views():
    # person 1 labelled 7 in both views (right); person 2 labelled 8 in view 1, 9 in view 2
    c = _one_frame(
        [(1, 1, A), (1, 2, B)],
        [(1, 7, A), (1, 8, B)],
        [(1, 1, A), (1, 2, B)],
        [(1, 7, A), (1, 9, B)],
    )
    # gt_common {1,2}, lab_common {7}: TP 1, recall den 2, precision den 1
    assert c.seq_precision == pytest.approx(1.0) and c.seq_recall == pytest.approx(0.5)
    assert (c.missed, c.fp, c.mme, c.bbx) == (2, 0, 0, 4)
    assert combine_crossview([c])["MHAA"] == pytest.approx(1 - 2 / 4)


def test_same_label_on_two_people_is_a_mismatch():
    # both views give the two people the same two labels, swapped in view 2
    c = _one_frame(
        [(1, 1, A), (1, 2, B)],
        [(1, 7, A), (1, 8, B)],
        [(1, 1, A), (1, 2, B)],
        [(1, 8, A), (1, 7, B)],
    )
    assert c.seq_precision == 0.0 and c.seq_recall == 0.0
    assert (c.missed, c.fp, c.mme, c.bbx) == (0, 0, 2, 4)


def test_cross_view_false_positive():
    # view 1's prediction 5 covers no truth but id 5 labels a person in view 2
    c = _one_frame([(1, 1, A)], [(1, 5, C)], [(1, 1, A)], [(1, 5, A)])
    assert c.fp == 1
    # gt_common {1}; labels [0] and [5]: lab_common empty -> missed 2 * (1 - 0)
    assert (c.missed, c.mme) == (2, 0)


def test_view_without_truth_only_adds_to_precision_denominator():
    views = [
        (table([(1, 1, A), (2, 1, A)]), table([(1, 7, A), (2, 7, A)])),
        (table([(1, 1, A)]), table([(1, 7, A), (2, 7, A), (2, 8, B), (2, 9, C)])),
    ]
    c = crossview_counts(views, 1, 3)
    # frame 1: TP 1 of 1 / 1; frame 2: view 2 has no truth -> 0 / 3; frame 3: empty -> 0
    assert c.precision.tolist() == [1.0, 0.0, 0.0]
    assert c.recall.tolist() == [1.0, 0.0, 0.0]
    assert c.seq_precision == pytest.approx(1 / 3)
    assert c.bbx == 2


def test_matlab_scalar_quirk():
    # one truth box per view with different ids: the official code counts 1 common id
    args = ([(1, 1, A)], [(1, 7, A)], [(1, 2, A)], [(1, 7, A)])
    c = _one_frame(*args)
    assert (c.missed, c.mme) == (0, 1)
    c = _one_frame(*args, scalar_quirk=False)
    assert (c.missed, c.mme) == (-2, 1)


def test_combine_means_over_sequences_and_sums_counts():
    a = CrossViewCounts(np.array([1.0, 0.0]), np.array([0.5, 0.5]), 2, 1, 0, 10)
    b = CrossViewCounts(np.array([0.5]), np.array([1.0]), 0, 0, 1, 10)
    r = combine_crossview([a, b])
    assert r["AIDP"] == pytest.approx(0.5)
    assert r["AIDR"] == pytest.approx(0.75)
    assert r["AIDF1"] == pytest.approx(2 * 0.5 * 0.75 / 1.25)
    assert r["MHAA"] == pytest.approx(1 - (2 * 1 + 1 + 2) / 20)
    assert combine_crossview([])["AIDF1"] is None


def _mvmhat(folder, seq):
    start, end, n_views = RANGES[seq]
    views = [
        (read_mot(folder / "gt" / f"{seq}_{v}.txt"), read_mot(folder / "res" / f"{seq}_{v}.txt"))
        for v in range(1, n_views + 1)
    ]
    return crossview_counts(views, start, end)


def test_reference_values_per_sequence_and_combined(shared_data):
    folder = shared_data / "mvmhat-sample"
    seqs = []
    for seq, (p, r, missed, fp, mme, bbx) in REFERENCE.items():
        c = _mvmhat(folder, seq)
        assert c.seq_precision == pytest.approx(p, abs=1e-6)
        assert c.seq_recall == pytest.approx(r, abs=1e-6)
        assert (c.missed, c.fp, c.mme, c.bbx) == (missed, fp, mme, bbx)
        seqs.append(c)
    total = combine_crossview(seqs)
    assert total["AIDP"] == pytest.approx(0.740286, abs=1e-6)
    assert total["AIDR"] == pytest.approx(0.779009, abs=1e-6)
    assert total["AIDF1"] == pytest.approx(0.759154, abs=1e-6)
    assert total["MHAA"] == pytest.approx(0.800207, abs=1e-6)


def test_long_empty_range_counts_every_frame_quickly():
    views = [(table([(5, 1, A)]), table([(5, 7, A)])), (table([(5, 1, A)]), table([(5, 7, A)]))]
    c = crossview_counts(views, 1, 1_000_000)
    assert len(c.precision) == 1_000_000
    assert c.seq_precision == pytest.approx(1e-6) and c.seq_recall == pytest.approx(1e-6)
    assert c.precision[4] == 1.0
