"""Tracking metrics: over time (CLEAR, identity, HOTA) and across views.

- :mod:`mcmot.metrics.sequence` groups one camera's ground truth and
  predictions by frame and computes their overlaps once.
- :mod:`mcmot.metrics.clear_id` CLEAR MOT (MOTA, MOTP, FP, FN, IDSW, MT, ML)
  and identity (IDF1, IDP, IDR) counts, motmetrics / MOTChallenge devkit
  conventions.
- :mod:`mcmot.metrics.hota` HOTA, DetA, AssA (TrackEval's algorithm).
- :mod:`mcmot.metrics.crossview` AIDP, AIDR, AIDF1, MHAA (the MvMHAT
  benchmark's official algorithm).
- :mod:`mcmot.metrics.detection` detection recall and precision (matches
  per frame at an IoU threshold).

The CLI's tables of the results are :mod:`mcmot.cli.report`.

See ``docs/metrics.md`` for the definitions, conventions and reference values.
"""
