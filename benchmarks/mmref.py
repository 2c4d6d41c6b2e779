"""motmetrics' own pipeline on our tables: the cross-check and the benchmark's peer.

motmetrics 1.4.0's ``iou_matrix`` calls ``np.asfarray``, which NumPy 2
removed, so the distances are computed here with :func:`mcmot.boxes.iou_matrix`
and fed to ``motmetrics.MOTAccumulator`` exactly as
``motmetrics.utils.compare_to_groundtruth`` does (distance ``1 - IoU``, NaN
above 0.5, one update per frame present in either file).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mcmot.boxes import iou_matrix
from mcmot.motio import MotTable

#: The CLEAR and identity metrics computed by the reference pipeline.
MM_METRICS = [
    "idf1",
    "idp",
    "idr",
    "recall",
    "precision",
    "num_unique_objects",
    "mostly_tracked",
    "partially_tracked",
    "mostly_lost",
    "num_false_positives",
    "num_misses",
    "num_switches",
    "mota",
    "motp",
    "num_objects",
    "num_predictions",
]


def mm_accumulator(
    gt: MotTable, pred: MotTable, start: int | None = None, end: int | None = None
) -> Any:
    """A ``motmetrics.MOTAccumulator`` filled with one camera's frames.

    Parameters
    ----------
    gt, pred : ground truth and predictions of one camera
    start, end : inclusive frame range (None: unbounded)
    """
    import motmetrics as mm

    gt = gt.frame_range(start, end)
    pred = pred.frame_range(start, end)
    gt = gt.select(np.argsort(gt.frames, kind="stable"))
    pred = pred.select(np.argsort(pred.frames, kind="stable"))
    acc = mm.MOTAccumulator(auto_id=False)
    for f in np.union1d(gt.frames, pred.frames):
        g0, g1 = np.searchsorted(gt.frames, [f, f + 1])
        p0, p1 = np.searchsorted(pred.frames, [f, f + 1])
        dist = np.empty((0, 0))
        if g1 > g0 and p1 > p0:
            dist = 1.0 - iou_matrix(gt.boxes[g0:g1], pred.boxes[p0:p1])
            dist = np.where(dist > 0.5, np.nan, dist)
        acc.update(gt.ids[g0:g1], pred.ids[p0:p1], dist, frameid=int(f))
    return acc


def mm_summary(accs: list[Any], names: list[str]) -> Any:
    """motmetrics' ``compute_many`` over the accumulators, with an ``OVERALL`` row.

    Returns
    -------
    pandas.DataFrame, one row per name plus ``OVERALL``, columns :data:`MM_METRICS`
    """
    import motmetrics as mm

    mh = mm.metrics.create()
    return mh.compute_many(accs, metrics=MM_METRICS, names=names, generate_overall=True)
