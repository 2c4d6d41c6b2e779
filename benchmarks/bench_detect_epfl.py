"""Detection on the real EPFL footage (360x288, no labels) per inference size.

For each EPFL sequence in ``../shared/data`` (or ``$MCMOT_SHARED_DATA``),
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

    PYTHONPATH=. python benchmarks/bench_detect_epfl.py --imgsz 384,704,1440
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from mcmot.detectors import DEFAULT_CONF, PersonDetector
from mcmot.frames import open_source
from mcmot.metrics.detection import MatchCounts, match_frame
from mcmot.motio import read_mot

_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DATA = Path(os.environ.get("MCMOT_SHARED_DATA", _SHARED))
#: sequence -> frame step used by default (about 50-100 frames per sequence in all)
SEQUENCES = {"epfl-terrace1-clip": 10, "epfl-terrace1": 100, "epfl-campus4": 100}
#: The converter's watermark in epfl-terrace1 and epfl-campus4 (x1, y1, x2, y2).
WATERMARK = (130.0, 235.0, 355.0, 285.0)
TRUTH = Path(__file__).resolve().parent / "data"
COLUMNS = ("sequence", "imgsz", "images", "det/frame", "found by ref", "ref found", "in watermark")
COLUMNS += ("gt recall", "gt precision", "frames/s")


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--sequences", default=",".join(SEQUENCES))
    ap.add_argument("--step", type=int, default=0, help="frame step (0 = per-sequence default)")
    ap.add_argument("--imgsz", default="384,704,1440", help="sizes; the last is the reference")
    ap.add_argument("--conf", type=float, default=DEFAULT_CONF)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--truth", type=Path, default=TRUTH, help="<sequence>/gt/<cam>.txt here")
    ap.add_argument("--crops", type=Path, default=None, help="write watermark detections here")
    return ap.parse_args()


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


def main() -> None:
    args = _parse()
    torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.imgsz.split(",")]
    console = Console(width=120)
    title = f"EPFL detection (YOLO11n-pose, conf {args.conf}), reference imgsz {sizes[-1]}"
    table = Table(title=title)
    for col in COLUMNS:
        table.add_column(col, justify="right")
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
            table.add_row(
                seq,
                str(imgsz),
                str(n),
                f"{total / n:.2f}",
                f"{counts.precision:.3f}",
                f"{counts.recall:.3f}",
                str(marked),
                f"{vs_gt.recall:.3f}" if truth is not None else "-",
                f"{vs_gt.precision:.3f}" if truth is not None else "-",
                f"{n / seconds:.1f}",
            )
        table.add_section()
    console.print(table)
    console.print(
        "found by ref: share of this size's detections that the reference size also finds; "
        "ref found: share of the reference's detections this size finds (IoU >= 0.5)"
    )


if __name__ == "__main__":
    main()
