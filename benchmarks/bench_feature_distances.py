"""Do appearance features tell people apart? Cosine distances of same- vs different-person pairs.

Matches each detection to the ground truth (Hungarian on IoU, IoU >= 0.5, per
frame), then draws random pairs of matched detections at most ``--gap`` frames
apart and prints quantiles of the cosine distance ``1 - f_i . f_j`` for pairs of
the same person and of different people, next to the distances between two
detections of the SAME frame (no labels needed: two boxes of one frame are, NMS
aside, two different people) and the fraction of each kind of pair accepted by
a cosine gate (DeepSORT's 0.2 and the label-free gate calibrated from the
same-frame distances, ``mcmot.tracking.calibrate``).

Usage::

    python -m benchmarks.bench_feature_distances --det SCENE/det/view1.txt \
        --features SCENE/features/view1.npz --gt gt.txt [--key f_s] [--gap 30] [--json PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.common import label_detections
from benchmarks.harness import Results, make_parser, print_machine
from mcmot.motio import read_mot
from mcmot.stages.feature_files import load_features
from mcmot.tracking import TrackerConfig
from mcmot.tracking.calibrate import same_frame_distances

MIN_IOU = 0.5
QUANTILES = (0.05, 0.10, 0.50, 0.90, 0.95)


def sample_pairs(
    frames: np.ndarray, labels: np.ndarray, gap: int, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random pairs (i, j) of labelled rows, 1..gap frames apart; returns i, j, same-person."""
    rows = np.flatnonzero(labels >= 0)
    i = rng.choice(rows, 8 * n)
    j = rng.choice(rows, 8 * n)
    dt = np.abs(frames[i] - frames[j])
    keep = (dt >= 1) & (dt <= gap)
    i, j = i[keep][:n], j[keep][:n]
    return i, j, labels[i] == labels[j]


def describe(name: str, d: np.ndarray, gates: dict[str, float]) -> dict[str, object]:
    """One row: count, quantiles, fraction under each gate."""
    row: dict[str, object] = {"pairs": name, "n": len(d)}
    quantiles = zip(QUANTILES, np.quantile(d, QUANTILES), strict=True)
    row.update({f"q{round(q * 100)}": v for q, v in quantiles})
    row.update({f"<= {g}": float(np.mean(d <= v)) for g, v in gates.items()})
    return row


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(__doc__)
    parser.add_argument("--det", type=Path, required=True)
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--gt", type=Path, required=True)
    parser.add_argument("--key", default="f_s", help="f_s or f_a")
    parser.add_argument("--gap", type=int, default=30, help="largest frame gap of a pair")
    parser.add_argument("--pairs", type=int, default=20000)
    parser.add_argument("--quantile", type=float, default=0.05, help="calibrated-gate quantile")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    det = read_mot(args.det, unique_ids=False)
    gt = read_mot(args.gt)
    feats = load_features(args.features, det, args.key, args.features.parent.parent)
    labels = label_detections(det, gt, MIN_IOU)
    rng = np.random.default_rng(0)
    i, j, same = sample_pairs(det.frames, labels, args.gap, args.pairs, rng)
    dist = 1.0 - np.sum(feats[i] * feats[j], axis=1)
    ok = det.scores >= TrackerConfig().min_confidence  # the rows the tracker admits
    within = same_frame_distances(det.frames[ok], feats[ok])
    calibrated = float(np.quantile(within, args.quantile))
    gates = {"0.2": 0.2, f"calibrated (q={args.quantile})": calibrated}
    print_machine()
    print(
        f"{args.features} [{args.key}], {len(det)} detections, {np.sum(labels >= 0)} matched to "
        f"the ground truth; pairs <= {args.gap} frames apart; calibrated gate = {calibrated:.4f}"
    )
    rows = [
        describe("same person", dist[same], gates),
        describe("different people", dist[~same], gates),
        describe("same frame (no labels)", within, gates),
    ]
    Results(args.json).table("distances", rows, {f"<= {g}": ".1%" for g in gates}, title=False)
    auc = np.mean(dist[same][:, None] < dist[~same][None, :])
    print(f"\nP(same-person distance < different-people distance) = {auc:.3f} (0.5 = chance)")


if __name__ == "__main__":
    main()
