"""CLEAR MOT and identity metrics: hand-computed cases, motmetrics' devkit values, cross-checks."""

from __future__ import annotations

from pathlib import Path

import motmetrics
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.mmref import mm_accumulator, mm_summary
from mcmot.metrics.clear_id import ClearIdCounts, clear_id_counts
from mcmot.metrics.sequence import build_sequence
from mcmot.motio import MotTable, read_mot

MM_DATA = Path(motmetrics.__file__).parent / "data"
MVMHAT = {1: (800, 1200, 4), 2: (800, 1200, 4), 6: (1000, 1500, 3)}

A = (0.0, 0.0, 10.0, 10.0)
B = (100.0, 0.0, 10.0, 10.0)
C = (300.0, 0.0, 10.0, 10.0)


def table(rows: list[tuple[int, int, tuple[float, float, float, float]]]) -> MotTable:
    """(frame, id, tlwh) rows -> MotTable."""
    if not rows:
        return MotTable.empty()
    return MotTable.from_arrays(
        [r[0] for r in rows], [r[1] for r in rows], np.array([r[2] for r in rows])
    )


def counts(gt_rows, pr_rows) -> ClearIdCounts:
    return clear_id_counts(build_sequence(table(gt_rows), table(pr_rows)))


def test_hand_computed_switches_misses_false_positives():
    gt = [(1, 1, A), (1, 2, B), (2, 1, A), (2, 2, B), (3, 1, A)]
    pr = [(1, 10, A), (1, 20, B), (2, 20, A), (2, 10, B), (4, 30, C)]
    c = counts(gt, pr)
    # frame 2: both objects change prediction -> 2 switches; frame 3 a miss; frame 4 an FP
    assert (c.num_gt, c.num_pred, c.tp, c.fp, c.fn, c.idsw) == (5, 5, 4, 1, 1, 2)
    r = c.rates()
    assert r["MOTA"] == pytest.approx(1 - (1 + 1 + 2) / 5)
    assert r["MOTP"] == pytest.approx(1.0)
    # identity: each true id overlaps each predicted id once -> best assignment IDTP = 2
    assert (c.idtp, c.idfp, c.idfn) == (2, 3, 3)
    assert r["IDF1"] == pytest.approx(0.4)
    # id 1 matched in 2 of 3 frames (partly tracked), id 2 in 2 of 2 (mostly tracked)
    assert (c.mt, c.pt, c.ml) == (1, 1, 0)


def test_last_match_is_kept_over_a_better_overlap():
    a_shift = (0.0, 0.0, 10.0, 6.0)  # IoU 0.6 with A
    gt = [(1, 1, A), (2, 1, A)]
    pr = [(1, 10, a_shift), (2, 10, a_shift), (2, 20, A)]
    c = counts(gt, pr)
    # motmetrics / devkit: the established pair 1-10 stays; 20 is a false positive
    assert (c.tp, c.fp, c.idsw) == (2, 1, 0)
    assert c.rates()["MOTP"] == pytest.approx(0.6)


def test_repeated_truth_boxes_each_count_but_the_identity_is_present_once_per_frame():
    # id 1 has two boxes in frame 2 (A, B); predictions 10 on A, 20 on B (TrackEval's counts)
    gt = [(1, 1, A), (2, 1, A), (2, 1, B), (3, 1, B)]
    pr = [(1, 10, A), (2, 10, A), (2, 20, B), (3, 20, B)]
    c = counts(gt, pr)
    # every box is matched; the box taken by 20 in frame 2 switches from 10
    assert (c.num_gt, c.tp, c.fp, c.fn, c.idsw) == (4, 4, 0, 0, 1)
    # identity: id 1 is present in 3 frames and overlaps 10 in 2 of them, 20 in 2
    assert (c.idtp, c.idfn, c.idfp) == (2, 1, 2)
    assert c.rates()["IDF1"] == pytest.approx(4 / 7)
    assert (c.mt, c.pt, c.ml) == (1, 0, 0)


def test_repeated_truth_boxes_switch_against_the_previous_frame_and_keep_the_last_match():
    # frame 1: id 1 on A and B, matched to 10 and 20 -> no switch (nothing before);
    # id 1 then keeps 20, its last box's match, so frame 2's pair 1-20 is no switch.
    # (motmetrics counts a switch between the two boxes, or fails with a KeyError.)
    c = counts([(1, 1, A), (1, 1, B), (2, 1, B)], [(1, 10, A), (1, 20, B), (2, 20, B)])
    assert (c.tp, c.idsw, c.idtp, c.idfn, c.idfp) == (3, 0, 2, 0, 1)


def test_iou_threshold_is_inclusive_at_one_half():
    half = (0.0, 0.0, 10.0, 5.0)  # IoU exactly 0.5
    below = (0.0, 0.0, 10.0, 4.9)
    assert counts([(1, 1, A)], [(1, 5, half)]).tp == 1
    assert counts([(1, 1, A)], [(1, 5, below)]).tp == 0


def test_empty_predictions_and_empty_truth():
    c = counts([(1, 1, A), (2, 1, A)], [])
    assert (c.fn, c.fp, c.tp, c.ml) == (2, 0, 0, 1)
    assert c.rates()["MOTA"] == 0.0 and c.rates()["MOTP"] is None
    c = counts([], [(1, 3, A)])
    assert (c.fp, c.num_gt) == (1, 0)
    assert c.rates()["MOTA"] is None


def test_counts_add():
    a = counts([(1, 1, A)], [(1, 5, A)])
    b = counts([(1, 1, A)], [])
    s = a + b
    assert (s.num_gt, s.tp, s.fn, s.idtp) == (2, 1, 1, 1)


# motmetrics' own test (tests/test_metrics.py::test_motchallenge_files) asserts these
# MOTChallenge devkit values: IDF1 IDP IDR Rcll Prcn GT MT PT ML FP FN IDs MOTA MOTP(dist)
# (FM, 7 and 6, is not computed here)
DEVKIT = {
    "TUD-Campus": (0.557659, 0.729730, 0.451253, 0.582173, 0.941441,
                   8, 1, 6, 1, 13, 150, 7, 0.526462, 0.277201),
    "TUD-Stadtmitte": (0.644619, 0.819760, 0.531142, 0.608997, 0.939920,
                       10, 5, 4, 1, 45, 452, 7, 0.564014, 0.345904),
    "OVERALL": (0.624296, 0.799176, 0.512211, 0.602640, 0.940268,
                18, 6, 10, 2, 58, 602, 14, 0.555116, 0.330177),
}  # fmt: skip


def _tud(name: str) -> ClearIdCounts:
    gt = read_mot(MM_DATA / name / "gt.txt")
    pr = read_mot(MM_DATA / name / "test.txt")
    return clear_id_counts(build_sequence(gt, pr))


@pytest.mark.parametrize("name", ["TUD-Campus", "TUD-Stadtmitte", "OVERALL"])
def test_devkit_values_on_tud(name):
    c = _tud("TUD-Campus") + _tud("TUD-Stadtmitte") if name == "OVERALL" else _tud(name)
    r = c.rates()
    idf1, idp, idr, rcll, prcn, n_ids, mt, pt, ml, fp, fn, idsw, mota, motp_dist = DEVKIT[name]
    for key, want in [
        ("IDF1", idf1),
        ("IDP", idp),
        ("IDR", idr),
        ("recall", rcll),
        ("precision", prcn),
        ("MOTA", mota),
    ]:
        assert r[key] == pytest.approx(want, abs=1e-6), key
    assert 1.0 - r["MOTP"] == pytest.approx(motp_dist, abs=1e-6)
    assert (c.num_ids, c.mt, c.pt, c.ml, c.fp, c.fn, c.idsw) == (n_ids, mt, pt, ml, fp, fn, idsw)


def _assert_same_as_motmetrics(ours: ClearIdCounts, mm_row) -> None:
    r = ours.rates()
    assert ours.fp == mm_row["num_false_positives"]
    assert ours.fn == mm_row["num_misses"]
    assert ours.idsw == mm_row["num_switches"]
    assert ours.num_gt == mm_row["num_objects"]
    assert ours.num_pred == mm_row["num_predictions"]
    for key, mm_key in [("IDF1", "idf1"), ("IDP", "idp"), ("IDR", "idr"), ("MOTA", "mota")]:
        if ours.num_gt and ours.num_pred:
            assert r[key] == pytest.approx(mm_row[mm_key], abs=1e-9), key
    if ours.tp:
        assert 1.0 - r["MOTP"] == pytest.approx(mm_row["motp"], abs=1e-9)


def test_same_as_motmetrics_on_mvmhat(shared_data):
    folder = shared_data / "mvmhat-sample"
    ours, accs, names = ClearIdCounts(), [], []
    for seq, (start, end, n_views) in MVMHAT.items():
        for v in range(1, n_views + 1):
            gt = read_mot(folder / "gt" / f"{seq}_{v}.txt")
            pr = read_mot(folder / "res" / f"{seq}_{v}.txt")
            ours = ours + clear_id_counts(build_sequence(gt, pr, start, end))
            accs.append(mm_accumulator(gt, pr, start, end))
            names.append(f"{seq}_{v}")
    _assert_same_as_motmetrics(ours, mm_summary(accs, names).loc["OVERALL"])
    # the README's TrackEval values (CLEAR and Identity pooled over the 11 view files)
    r = ours.rates()
    assert r["MOTA"] == pytest.approx(0.880327, abs=1e-6)
    assert r["IDF1"] == pytest.approx(0.793402, abs=1e-6)
    assert r["IDP"] == pytest.approx(0.768557, abs=1e-6)
    assert r["IDR"] == pytest.approx(0.819907, abs=1e-6)
    assert (ours.idsw, ours.fp, ours.fn) == (218, 2604, 660)


_box = st.tuples(
    st.floats(0, 60, allow_nan=False),
    st.floats(0, 60, allow_nan=False),
    st.floats(5, 40, allow_nan=False),
    st.floats(5, 40, allow_nan=False),
)


@st.composite
def _tracks(draw):
    """A few objects over a few frames: random boxes, ids 1..4, at most one box per id and frame.

    Boxes within a frame are distinct: identical boxes under different ids make
    the assignment a pure tie, which the two Hungarian solvers break differently
    (an artefact of the solver, not of the metric).
    """
    rows = []
    for frame in range(1, draw(st.integers(1, 6)) + 1):
        ids = sorted(draw(st.sets(st.integers(1, 4), max_size=4)))
        boxes = draw(st.lists(_box, min_size=len(ids), max_size=len(ids), unique=True))
        rows += [(frame, i, b) for i, b in zip(ids, boxes, strict=True)]
    return rows


@settings(max_examples=40, deadline=None)
@given(_tracks(), _tracks())
def test_same_as_motmetrics_on_random_sequences(gt_rows, pr_rows):
    gt, pr = table(gt_rows), table(pr_rows)
    ours = clear_id_counts(build_sequence(gt, pr))
    if not (len(gt) or len(pr)):
        assert ours == ClearIdCounts()
        return
    summary = mm_summary([mm_accumulator(gt, pr)], ["x"])
    _assert_same_as_motmetrics(ours, summary.loc["x"])
