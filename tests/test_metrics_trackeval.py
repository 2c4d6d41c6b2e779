"""Optional cross-check against TrackEval (runs only where the ``trackeval`` package is installed).

PyPI's ``trackeval`` (1.3.0, a maintained fork of the reference code that
works with NumPy 2) is not a dependency of mcmot; install it to run these.
"""

from __future__ import annotations

from pathlib import Path

import motmetrics
import numpy as np
import pytest

from mcmot.metrics.clear_id import ClearIdCounts, clear_id_counts
from mcmot.metrics.hota import HotaCounts, hota_counts
from mcmot.metrics.sequence import Sequence, build_sequence
from mcmot.motio import MotTable, read_mot

te_metrics = pytest.importorskip("trackeval.metrics")
MM_DATA = Path(motmetrics.__file__).parent / "data"


def _te_data(seq: Sequence) -> dict:
    return {
        "num_timesteps": len(seq.frames),
        "num_gt_ids": len(seq.gt_ids),
        "num_tracker_ids": len(seq.pr_ids),
        "num_gt_dets": seq.num_gt,
        "num_tracker_dets": seq.num_pr,
        "gt_ids": [g.astype(int) for g in seq.gt],
        "tracker_ids": [p.astype(int) for p in seq.pr],
        "similarity_scores": seq.iou,
    }


def _trackeval(seqs: list[Sequence]) -> dict:
    cfg = {"THRESHOLD": 0.5, "PRINT_CONFIG": False}
    out = {}
    for metric in (te_metrics.HOTA(), te_metrics.CLEAR(cfg), te_metrics.Identity(cfg)):
        per = {i: metric.eval_sequence(_te_data(s)) for i, s in enumerate(seqs)}
        out.update(metric.combine_sequences(per))
    return out


def _compare(seqs: list[Sequence]) -> None:
    te = _trackeval(seqs)
    clear = sum((clear_id_counts(s) for s in seqs), ClearIdCounts())
    hota = HotaCounts.zero()
    for s in seqs:
        hota = hota + hota_counts(s)
    c, h = clear.rates(), hota.rates()
    for ours, theirs in [
        (h["HOTA"], te["HOTA"].mean()),
        (h["DetA"], te["DetA"].mean()),
        (h["AssA"], te["AssA"].mean()),
        (c["MOTA"], te["MOTA"]),
        (c["IDF1"], te["IDF1"]),
    ]:
        assert ours == pytest.approx(theirs, abs=1e-9)
    assert (c["IDSW"], c["FP"], c["FN"], c["MT"], c["ML"]) == (
        te["IDSW"],
        te["CLR_FP"],
        te["CLR_FN"],
        te["MT"],
        te["ML"],
    )


def _table(rows) -> MotTable:
    return MotTable.from_arrays(
        [r[0] for r in rows], [r[1] for r in rows], np.array([r[2] for r in rows], float)
    )


@pytest.mark.parametrize("name", ["TUD-Campus", "TUD-Stadtmitte"])
def test_same_as_trackeval_on_tud(name):
    gt = read_mot(MM_DATA / name / "gt.txt")
    pr = read_mot(MM_DATA / name / "test.txt")
    _compare([build_sequence(gt, pr)])


def test_same_as_trackeval_on_random_sequences():
    rng = np.random.default_rng(0)

    def rows():
        return [
            (f, i, [*rng.uniform(0, 60, 2), *rng.uniform(5, 40, 2)])
            for f in range(1, int(rng.integers(2, 12)))
            for i in range(1, 6)
            if rng.random() < 0.6
        ]

    for _ in range(100):
        gt, pr = rows(), rows()
        if gt and pr:
            _compare([build_sequence(_table(gt), _table(pr))])


def test_same_as_trackeval_with_repeated_truth_boxes():
    # Ground truth that gives an identity several boxes in one frame, as
    # TrackEval's metric classes score it when given the file as it is.
    rng = np.random.default_rng(1)

    def rows(repeat: float):
        out = []
        for f in range(1, int(rng.integers(2, 12))):
            for i in range(1, 6):
                for _ in range(1 + int(rng.random() < repeat)):
                    if rng.random() < 0.6:
                        out.append((f, i, [*rng.uniform(0, 60, 2), *rng.uniform(5, 40, 2)]))
        return out

    for _ in range(200):
        gt, pr = rows(0.4), rows(0.0)
        if gt and pr:
            _compare([build_sequence(_table(gt), _table(pr))])


def test_known_difference_after_a_gap():
    # Object 1 matched to 7, absent in frame 2, back in frame 3 where 8 fits better:
    # motmetrics (and mcmot) keep 7, TrackEval only carries matches over one timestep.
    a, a_low, b = [0, 0, 10, 10], [0, 0, 10, 6], [100, 0, 10, 10]
    seq = build_sequence(
        _table([(1, 1, a), (2, 2, b), (3, 1, a)]),
        _table([(1, 7, a_low), (2, 9, b), (3, 7, a_low), (3, 8, a)]),
    )
    assert clear_id_counts(seq).idsw == 0
    assert _trackeval([seq])["IDSW"] == 1
