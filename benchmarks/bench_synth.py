"""Speed of ``mcmot synth``: rendered frames per second per camera, one CPU core.

Rows:
- render only: world built, frames rendered (people, shadows, blur, noise,
  colour response) but not written;
- whole scene: ``generate_scene`` end to end (world, backgrounds, rendering,
  mp4 encoding, gt, cameras.json), as frames/s per camera and total seconds;
- peer: decoding the written mp4 files with OpenCV, which every later stage pays.

    python -m benchmarks.bench_synth [--frames 300] [--cameras 4] [--people 8] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.harness import Results, make_parser, print_machine
from mcmot.frames import open_source
from mcmot.synth import SynthConfig, build_world, generate_scene


def _render_rate(cfg: SynthConfig) -> tuple[float, float]:
    """(wall, CPU) frames/s per camera of rendering alone."""
    sw = build_world(cfg)
    t0, c0 = time.perf_counter(), time.process_time()
    for t in range(cfg.frames):
        sw.render(t)
    n = cfg.frames * cfg.cameras
    return n / (time.perf_counter() - t0), n / (time.process_time() - c0)


def _scene_rate(cfg: SynthConfig, root: Path) -> tuple[float, float, float]:
    """(wall, CPU) frames/s per camera and wall seconds of a whole scene."""
    t0, c0 = time.perf_counter(), time.process_time()
    generate_scene(root, cfg)
    sec, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = cfg.frames * cfg.cameras
    return n / sec, n / cpu, sec


def _decode_rate(root: Path) -> float:
    n, t0 = 0, time.perf_counter()
    for video in sorted((root / "videos").glob("*.mp4")):
        with open_source(video) as src:
            for _ in src.iter_frames():
                n += 1
    return n / (time.perf_counter() - t0)


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--people", type=int, default=8)
    ap.add_argument("--size", default="640x360")
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    cv2.setNumThreads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    w, h = (int(v) for v in args.size.split("x"))
    print_machine("cv2 threads 1")
    print(
        f"input: {args.cameras} cameras x {args.frames} frames at {w}x{h}, "
        f"{args.people} people at a time"
    )
    print(f"load average before: {os.getloadavg()[0]:.1f} (wall rates suffer when other jobs run;")
    print("CPU rates = frames / CPU seconds of this process, one core)")
    rows: list[dict[str, object]] = []

    def row(level: str, what: str, wall: float, cpu: float, sec: float) -> None:
        rows.append(
            {
                "difficulty": level,
                "what": what,
                "frames/s/camera wall": wall,
                "frames/s/camera CPU": cpu,
                "wall s": sec,
            }
        )

    for level in ("easy", "medium", "hard"):
        cfg = SynthConfig(
            cameras=args.cameras,
            people=args.people,
            frames=args.frames,
            width=w,
            height=h,
            difficulty=level,
        )
        n = cfg.frames * cfg.cameras
        wall, cpu = _render_rate(cfg)
        row(level, "render only", wall, cpu, n / wall)
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "s"
            wall, cpu, sec = _scene_rate(cfg, root)
            row(level, "whole scene (mp4)", wall, cpu, sec)
            if level == "medium":
                c0 = time.process_time()
                dec = _decode_rate(root)
                row(level, "peer: decode its mp4s", dec, n / (time.process_time() - c0), n / dec)
    formats = dict.fromkeys(("frames/s/camera wall", "frames/s/camera CPU", "wall s"), ".1f")
    Results(args.json).table("synth", rows, formats, title=False)


if __name__ == "__main__":
    main()
