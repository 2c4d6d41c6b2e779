"""Speed of ``mcmot synth``: rendered frames per second per camera, one CPU core.

Rows:
- render only: world built, frames rendered (people, shadows, blur, noise,
  colour response) but not written;
- whole scene: ``generate_scene`` end to end (world, backgrounds, rendering,
  mp4 encoding, gt, cameras.json), as frames/s per camera and total seconds;
- peer: decoding the written mp4 files with OpenCV, which every later stage pays.

    python benchmarks/bench_synth.py [--frames 300] [--cameras 4] [--people 8]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import cv2

from mcmot.frames import open_source
from mcmot.synth import SynthConfig, build_world, generate_scene


def _render_rate(cfg: SynthConfig) -> float:
    sw = build_world(cfg)
    t0 = time.perf_counter()
    for t in range(cfg.frames):
        sw.render(t)
    return cfg.frames * cfg.cameras / (time.perf_counter() - t0)


def _scene_rate(cfg: SynthConfig, root: Path) -> tuple[float, float]:
    t0 = time.perf_counter()
    generate_scene(root, cfg)
    sec = time.perf_counter() - t0
    return cfg.frames * cfg.cameras / sec, sec


def _decode_rate(root: Path) -> float:
    n, t0 = 0, time.perf_counter()
    for video in sorted((root / "videos").glob("*.mp4")):
        with open_source(video) as src:
            for _ in src.iter_frames():
                n += 1
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--people", type=int, default=8)
    ap.add_argument("--size", default="640x360")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    w, h = (int(v) for v in args.size.split("x"))
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs; cv2 threads 1, torch threads 1")
    print(
        f"input: {args.cameras} cameras x {args.frames} frames at {w}x{h}, "
        f"{args.people} people at a time"
    )
    print(f"{'difficulty':<10} {'what':<28} {'frames/s per camera':>20} {'seconds':>8}")
    for level in ("easy", "medium", "hard"):
        cfg = SynthConfig(
            cameras=args.cameras,
            people=args.people,
            frames=args.frames,
            width=w,
            height=h,
            difficulty=level,
        )
        rate = _render_rate(cfg)
        print(
            f"{level:<10} {'render only':<28} {rate:>20.1f} {cfg.frames * cfg.cameras / rate:>8.1f}"
        )
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "s"
            rate, sec = _scene_rate(cfg, root)
            print(f"{level:<10} {'whole scene (mp4)':<28} {rate:>20.1f} {sec:>8.1f}")
            if level == "medium":
                dec = _decode_rate(root)
                n = cfg.frames * cfg.cameras
                print(f"{level:<10} {'peer: decode its mp4s':<28} {dec:>20.1f} {n / dec:>8.1f}")


if __name__ == "__main__":
    main()
