"""Detection on the real EPFL footage (360x288, no labels) per inference size.

For each EPFL sequence in the shared data folder (``../shared/data`` or ``$MCMOT_DATA``),
runs the default detector on every ``--step``-th frame of every camera at
each ``--imgsz`` and prints, per sequence and size: detections per frame at
the default confidence, how many of them the largest size also finds (one to
one, IoU >= 0.5; the largest size is the reference, there being no ground
truth), the detections that lie mostly (>= half their area) inside the
converter's watermark (x 130-355, y 235-285) and frames per second.
Where ``benchmarks/data/<sequence>/gt/`` holds ground truth (the clip), the
table adds recall and precision against it (IoU >= 0.5).
``--crops DIR`` writes every such watermark detection as an image (with the
frame around it) to judge by eye whether a person is there.

    python -m benchmarks.bench_detect_epfl --imgsz 384,704,1440 [--json PATH]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.harness import Results, data_or_exit, make_parser, print_machine
from mcmot.detectors import DEFAULT_CONF, PersonDetector
from mcmot.frames import open_source
from mcmot.metrics.detection import MatchCounts, match_frame
from mcmot.motio import read_mot

#: sequence -> frame step used by default (about 50-100 frames per sequence in all)
SEQUENCES = {"epfl-terrace1-clip": 10, "epfl-terrace1": 100, "epfl-campus4": 100}
#: The converter's watermark in epfl-terrace1 and epfl-campus4 (x1, y1, x2, y2).
WATERMARK = (130.0, 235.0, 355.0, 285.0)
TRUTH = Path(__file__).resolve().parent / "data"
COLUMNS = ("sequence", "imgsz", "images", "det/frame", "found by ref", "ref found", "in watermark")
COLUMNS += ("gt recall", "gt precision", "frames/s")


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--data", type=Path, default=None, help="default: the shared data folder")
    ap.add_argument("--sequences", default=",".join(SEQUENCES))
    ap.add_argument("--step", type=int, default=0, help="frame step (0 = per-sequence default)")
    ap.add_argument("--imgsz", default="384,704,1440", help="sizes; the last is the reference")
    ap.add_argument("--conf", type=float, default=DEFAULT_CONF)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--truth", type=Path, default=TRUTH, help="<sequence>/gt/<cam>.txt here")
    ap.add_argument("--crops", type=Path, default=None, help="write watermark detections here")
    return ap


def inside_fraction(boxes: np.ndarray, region: tuple[float, float, float, float]) -> np.ndarray:
    """Fraction of each tlwh box's area that lies inside ``region`` (x1, y1, x2, y2)."""
    x1 = np.maximum(boxes[:, 0], region[0])
    y1 = np.maximum(boxes[:, 1], region[1])
    x2 = np.minimum(boxes[:, 0] + boxes[:, 2], region[2])
    y2 = np.minimum(boxes[:, 1] + boxes[:, 3], region[3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    return inter / np.maximum(boxes[:, 2] * boxes[:, 3], 1e-9)


def _frames(args: argparse.Namespace, seq: str) -> dict[str, dict[int, np.ndarray]]:
    step = args.step or SEQUENCES.get(seq, 50)
    images: dict[str, dict[int, np.ndarray]] = {}
    for video in sorted((args.data / seq / "videos").glob("*.mp4")):
        with open_source(video) as src:
            frames = src.iter_frames(1, src.num_frames)
            images[video.stem] = {k: img for k, img in frames if (k - 1) % step == 0}
    return images


def _run(det: PersonDetector, images: dict[str, dict[int, np.ndarray]]):
    out: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
    t0 = time.perf_counter()
    for cam, frames in images.items():
        for k, img in frames.items():
            d = det.detect([img])[0]
            out[cam, k] = (d.boxes, d.scores)
    return out, time.perf_counter() - t0


def _crop(img: np.ndarray, box: np.ndarray, path: Path) -> None:
    x, y, w, h = (int(round(v)) for v in box)
    view = img.copy()
    cv2.rectangle(view, (x, y), (x + w, y + h), (0, 0, 255), 1)
    cv2.imwrite(str(path), cv2.resize(view, None, fx=2, fy=2))


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.data = data_or_exit(args.data)
    torch.set_num_threads(args.threads)
    print_machine()
    sizes = [int(s) for s in args.imgsz.split(",")]
    title = f"EPFL detection (YOLO11n-pose, conf {args.conf}), reference imgsz {sizes[-1]}"
    rows: list[dict[str, object]] = []
    for seq in args.sequences.split(","):
        images = _frames(args, seq)
        n = sum(len(f) for f in images.values())
        runs = {}
        for imgsz in sizes:
            det = PersonDetector(device="cpu", imgsz=imgsz, conf=args.conf)
            det.warmup((360, 288))
            runs[imgsz] = _run(det, images)
        ref = runs[sizes[-1]][0]
        gt_dir = args.truth / seq / "gt"
        truth = {c: read_mot(gt_dir / f"{c}.txt") for c in images} if gt_dir.is_dir() else None
        for imgsz in sizes:
            dets, seconds = runs[imgsz]
            counts = MatchCounts(0, 0, 0)
            marked = 0
            vs_gt = MatchCounts(0, 0, 0)
            for (cam, k), (boxes, _) in dets.items():
                counts = counts + match_frame(ref[cam, k][0], boxes, 0.5)
                if truth is not None:
                    gt = truth[cam]
                    vs_gt = vs_gt + match_frame(gt.boxes[gt.frames == k], boxes, 0.5)
                mark = inside_fraction(boxes, WATERMARK) >= 0.5
                marked += int(mark.sum())
                if args.crops is not None and imgsz == sizes[0]:
                    args.crops.mkdir(parents=True, exist_ok=True)
                for j in np.flatnonzero(mark) if args.crops is not None else []:
                    name = f"{seq}_{cam}_{k:05d}_{imgsz}_{j}.png"
                    _crop(images[cam][k], boxes[j], args.crops / name)
            total = counts.tp + counts.fp
            values = (seq, imgsz, n, total / n, counts.precision, counts.recall, marked)
            values += (vs_gt.recall, vs_gt.precision) if truth is not None else (None, None)
            rows.append(dict(zip(COLUMNS, (*values, n / seconds), strict=True)))
    Results(args.json).table(title, rows, {"det/frame": ".2f", "frames/s": ".1f"})
    print(
        "found by ref: share of this size's detections that the reference size also finds; "
        "ref found: share of the reference's detections this size finds (IoU >= 0.5)"
    )


if __name__ == "__main__":
    main()
