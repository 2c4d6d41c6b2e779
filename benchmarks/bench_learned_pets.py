"""The learned tracker (cross-input consistency) on the real PETS09-S2L1 camera, two folds.

Protocol (no labels are used for training or for choosing anything):

- **Folds** as ``bench_ssat_pets``: A trains (unlabeled) on frames 1-397 and
  tests on 398-795; B the reverse. Each half is its own scene (video at the
  true 7 frames/s, detections renumbered from frame 1).
- **Detections.** ``mcmot detect``'s detector at its defaults (YOLO11n-pose,
  imgsz 1440), confidences down to 0.1 (cached by bench_track_pets); every
  tracker gets the same rows.
- **Learned tracker**: ``pretrain --objective cross-input`` on the train half
  for ``--minutes`` per seed (one core), then ``track --tracker learned`` on
  the test half, with the gate ``min_logit`` (none, -2 or 0) and maximum age
  (1 or 3 s) that scored the best IDF1 on the train half; also its halves
  alone (``matchers`` visual, spatial), without the exit rule
  (``exit_seconds`` 0), with DeepSORT's confirmation (``n_init_seconds``
  0.3), without both limits (``max_speed`` and
  ``exit_seconds`` 0, the paper's inference) and, for ``--plain-seeds``, the
  paper's plain concatenation of a pair's features (``pair_features`` off).
- **Peers on the same rows**: mcmot DeepSORT motion only, with CalibFree
  f_s (the ``cpu`` preset trained on the train half per seed, no teacher)
  and with colour histograms (``extract-features --model histogram``, the
  training-free control), ultralytics ByteTrack and BoT-SORT.
- **Ceilings** (labels, no tracker): every detection the learned tracker
  writes (score >= its ``min_confidence``) with the identity of the
  ground-truth box it matches (IoU >= 0.5), a false positive as a track of
  its own; and the same with the false positives left out.
- IDF1, HOTA, MOTA, IDSW; rows with a trained model are mean +- sd over the
  seeds; the training logs' row max, exited and artificial mass (the mean of
  the last 50 steps).

Run: ``python -m benchmarks.bench_learned_pets --work /tmp/bench-learned [--minutes 5]
[--seeds 0,1,2] [--folds A,B] [--json PATH]``. Models and features are cached under
``--work``; CalibFree checkpoints are shared with ``bench_ssat_pets`` when ``--work``
is the same folder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.bench_ssat_pets import (  # noqa: E402
    CAM,
    FOLDS,
    FPS,
    features,
    make_scene,
    mean_sd,
    run_folds,
    tracking_tables,
    train_calibfree,
)
from benchmarks.bench_track_pets import (  # noqa: E402
    evaluate,
    run_ultralytics,
    true_identities,
)
from benchmarks.harness import Results, make_parser  # noqa: E402
from mcmot.models.cross_input_config import CrossInputConfig  # noqa: E402
from mcmot.motio import MotTable, read_mot  # noqa: E402
from mcmot.scene import Scene  # noqa: E402
from mcmot.stages.pretrain_cross_input import run_pretrain_cross_input  # noqa: E402
from mcmot.stages.track import track_camera  # noqa: E402
from mcmot.stages.track_learned import camera_crop_features  # noqa: E402
from mcmot.tracking import TrackerConfig  # noqa: E402
from mcmot.tracking.config import LearnedConfig  # noqa: E402

#: Gates tried on the train half of each fold (None = no gate; 0 = the released code's).
GATES = (None, -2.0, 0.0)
#: Maximum ages (seconds) tried on the train half (1 = the default; 3 = DeepSORT's).
AGES = (1.0, 3.0)


def train_learned(train: Path, run: Path, seed: int, minutes: float, pairs: bool) -> Path:
    """A cross-input checkpoint trained on ``train`` (cached)."""
    ckpt = run / "checkpoint.pt"
    if not ckpt.is_file():
        cfg = CrossInputConfig(seed=seed, minutes=minutes, device="cpu", pair_features=pairs)
        res = run_pretrain_cross_input([train], run, cfg, overwrite=True)
        loss = res.losses.get("consistency", float("nan"))
        print(f"  {run.name}: {res.starts} starts, {res.step} steps, loss {loss:.3f}", flush=True)
    return ckpt


def last_log(run: Path, keys: tuple[str, ...], last: int = 50) -> dict[str, float]:
    """Mean of ``keys`` over the last ``last`` steps of a training log."""
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()][-last:]
    return {k: sum(r[k] for r in rows) / len(rows) for k in keys}


class Half:
    """One half's scene, detections, ground truth and frame count."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cam = Scene(root).select_cameras([CAM])[0]
        self.det = read_mot(root / "det" / f"{CAM}.txt", unique_ids=False)
        self.gt = read_mot(root / "gt" / f"{CAM}.txt")
        self.n = int(max(self.gt.frames.max(), self.det.frames.max()))

    def learned(self, cfg: LearnedConfig, feats: np.ndarray) -> MotTable:
        return track_camera(self.det, feats, self.n, cfg, camera=self.cam)


def tuned_learned(
    ckpt: Path, train: Half, test: Half, matchers: str, limits: dict[str, float]
) -> tuple[Callable[[], MotTable], object]:
    """The learned tracker on ``test`` with the gate and maximum age that scored the best
    IDF1 on ``train``; ``limits`` overrides ``LearnedConfig`` fields (the paper's: 0)."""
    cfgs = [
        LearnedConfig(
            model=str(ckpt),
            fps=FPS,
            matchers=matchers,
            min_logit=g,
            max_age_seconds=age,
            **limits,
        )
        for g in GATES
        for age in AGES
    ]
    f_train = camera_crop_features(cfgs[0], train.cam, train.det)
    scores = [evaluate(train.gt, train.learned(c, f_train), train.n)["IDF1"] for c in cfgs]
    best = cfgs[int(np.argmax(scores))]
    f_test = camera_crop_features(best, test.cam, test.det)
    return (lambda: test.learned(best, f_test)), (best.min_logit, best.max_age_seconds)


def trackers(
    train: Half, test: Half, learned: dict[str, list[Path]], calibfree: list[Path], fold: Path
) -> tuple[dict[str, list[Callable[[], MotTable]]], dict[str, list[object]]]:
    """Tracking runs by row name (one per seed), and the gates chosen on the train half."""
    deep = TrackerConfig(fps=FPS)
    runs: dict[str, list[Callable[[], MotTable]]] = {}
    gates: dict[str, list[object]] = {}
    paper = {"max_speed": 0.0, "exit_seconds": 0.0}
    rows: list[tuple[str, str, str, dict[str, float]]] = [
        ("learned tracker", "pairs", "both", {}),
        ("visual half only", "pairs", "visual", {}),
        ("spatial half only", "pairs", "spatial", {}),
        ("learned tracker, no exit rule", "pairs", "both", {"exit_seconds": 0.0}),
        ("learned tracker, DeepSORT's confirmation", "pairs", "both", {"n_init_seconds": 0.3}),
        ("learned tracker, no reach limit or exit rule (the paper)", "pairs", "both", paper),
        ("learned tracker, the paper's plain concatenation", "plain", "both", {}),
    ]
    for label, variant, use, limits in rows:
        if not learned[variant]:  # e.g. --plain-seeds ""
            continue
        picked = [tuned_learned(c, train, test, use, limits) for c in learned[variant]]
        runs[label], gates[label] = [p[0] for p in picked], [p[1] for p in picked]
    det, n = test.det, test.n
    fs = [
        features(test.root, str(c), "f_s", fold / "feats-det" / f"calibfree-s{i}.npz")
        for i, c in enumerate(calibfree)
    ]
    runs["DeepSORT, CalibFree f_s"] = [lambda f=f: track_camera(det, f, n, deep) for f in fs]
    hist = features(test.root, "histogram", "f_s", fold / "feats-det" / "histogram.npz")
    runs["DeepSORT, colour histogram"] = [lambda: track_camera(det, hist, n, deep)]
    runs["DeepSORT, motion only"] = [lambda: track_camera(det, None, n, deep)]
    runs["ultralytics ByteTrack"] = [lambda: run_ultralytics("bytetrack", det, n)]
    runs["ultralytics BoT-SORT"] = [lambda: run_ultralytics("botsort", det, n)]
    floor = LearnedConfig.__dataclass_fields__["min_confidence"].default
    for label, fp in (("every detection", True), ("false positives left out", False)):
        runs[f"ceiling: true identities, {label}"] = [
            lambda fp=fp: true_identities(det, test.gt, floor, fp)
        ]
    return runs, gates


def run_fold(name: str, args: argparse.Namespace, video: Path, det: MotTable, gt: MotTable) -> dict:
    fold = args.work / f"fold{name}"
    train_span, test_span = FOLDS[name]
    make_scene(fold / "train", video, train_span, det, gt)
    make_scene(fold / "test", video, test_span, det, gt)
    t0 = time.perf_counter()
    learned = {
        "pairs": [
            train_learned(fold / "train", fold / f"learned-s{s}", s, args.minutes, True)
            for s in args.seeds
        ],
        "plain": [
            train_learned(fold / "train", fold / f"learned-plain-s{s}", s, args.minutes, False)
            for s in args.plain_seeds
        ],
    }
    calibfree = [
        train_calibfree(fold / "train", fold / f"calibfree-s{s}", s, args.minutes)
        for s in args.seeds
    ]
    print(f"fold {name}: models ready ({time.perf_counter() - t0:.0f} s)", flush=True)
    keys = ("row_max", "exited", "artificial", "exit_only")
    logs = [last_log(c.parent, keys) for c in learned["pairs"]]
    train, test = Half(fold / "train"), Half(fold / "test")
    runs, gates = trackers(train, test, learned, calibfree, fold)
    tracking = {k: [evaluate(test.gt, fn(), test.n) for fn in fns] for k, fns in runs.items()}
    for label, chosen in gates.items():
        print(f"fold {name}, {label}: (min_logit, max age) chosen on the train half: {chosen}")
    return {"tracking": tracking, "logs": logs, "gates": gates}


def print_tables(folded: dict[str, dict], results: Results) -> None:
    folds = list(folded)
    rows = [
        {"training log (last 50 steps)": key}
        | {f"fold {f}": mean_sd([lg[key] for lg in folded[f]["logs"]]) for f in folds}
        for key in ("row_max", "exited", "artificial", "exit_only")
    ]
    results.table("Learned tracker's training", rows)
    tracking_tables(folded, results, "tracker")


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--minutes", type=float, default=5.0, help="training budget of each model")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument(
        "--plain-seeds", default="0", help="seeds of the paper's plain-concatenation variant"
    )
    ap.add_argument("--folds", default="A,B")
    ap.add_argument("--cache-dir", type=Path, default=Path("/tmp/mcmot_track_bench"))
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.plain_seeds = [int(s) for s in args.plain_seeds.split(",") if s]
    folded = run_folds(args, run_fold)
    print_tables(folded, Results(args.json, info={"folds": folded}))


if __name__ == "__main__":
    main()
