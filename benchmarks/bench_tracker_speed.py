"""Tracker-only speed: milliseconds per frame with 10, 50 and 200 tracks.

Synthetic people walk in straight lines (with jitter) over a 1920x1080 image;
every frame each is detected with probability 0.95. Our DeepSORT ``Tracker``
runs in motion-only mode and with 128-d appearance features (nn_budget 100),
and ultralytics' ``BYTETracker`` (the peer) runs on the same boxes in the same
run. Detection and feature extraction are not timed.

Run from the project root::

    python -m benchmarks.bench_tracker_speed [--frames 300] [--repeats 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

# Small matrices: BLAS threads only contend on a shared CPU (set before numpy loads).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.harness import Results, make_parser, print_machine  # noqa: E402
from benchmarks.ultralytics_boxes import BYTETRACK_ARGS, UltralyticsBoxes  # noqa: E402
from mcmot.detectors import offline_environment  # noqa: E402
from mcmot.tracking import Detections, Tracker, TrackerConfig  # noqa: E402

offline_environment()  # ultralytics (the peers): offline and quiet before its import

#: Image size of the synthetic scene.
WIDTH, HEIGHT = 1920, 1080
#: Probability that a person is detected in a frame.
DETECT_PROB = 0.95
#: Appearance feature size for the 'with features' run.
FEATURE_DIM = 128


def synthetic_frames(n_people: int, n_frames: int, seed: int = 0) -> list[Detections]:
    """Per-frame detections of ``n_people`` walkers (boxes, scores, unit features)."""
    rng = np.random.default_rng(seed)
    h = rng.uniform(60, 200, n_people)
    w = 0.4 * h
    pos = np.stack([rng.uniform(0, WIDTH - 100, n_people), rng.uniform(0, HEIGHT - 200, n_people)])
    vel = rng.normal(0, 2.0, (2, n_people))
    ident = rng.normal(size=(n_people, FEATURE_DIM))
    frames = []
    for _ in range(n_frames):
        pos = pos + vel
        bounce = (pos[0] < 0) | (pos[0] > WIDTH - w)
        vel[0, bounce] *= -1
        bounce = (pos[1] < 0) | (pos[1] > HEIGHT - h)
        vel[1, bounce] *= -1
        seen = rng.random(n_people) < DETECT_PROB
        tlwh = np.stack([pos[0], pos[1], w, h], axis=1) + rng.normal(0, 1.5, (n_people, 4))
        feats = ident + rng.normal(0, 0.3, ident.shape)
        feats /= np.linalg.norm(feats, axis=1, keepdims=True)
        scores = rng.uniform(0.5, 0.95, n_people)
        frames.append(Detections(tlwh[seen], scores[seen], feats[seen]))
    return frames


def time_per_frame(step: Callable[[Detections], object], frames: list[Detections]) -> float:
    """Mean milliseconds per frame of ``step`` over ``frames``."""
    t0 = time.perf_counter()
    for det in frames:
        step(det)
    return (time.perf_counter() - t0) * 1000 / len(frames)


def run_ours(frames: list[Detections], features: bool) -> float:
    tracker = Tracker(TrackerConfig())
    if features:
        return time_per_frame(tracker.update, frames)
    return time_per_frame(lambda d: tracker.update(Detections(d.tlwh, d.scores)), frames)


def run_bytetrack(frames: list[Detections]) -> float:
    from ultralytics.trackers import BYTETracker

    tracker = BYTETracker(SimpleNamespace(**BYTETRACK_ARGS))
    boxes = [UltralyticsBoxes(d.tlwh, d.scores) for d in frames]
    it = iter(boxes)
    return time_per_frame(lambda _: tracker.update(next(it)), frames)


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(__doc__)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument("--tracks", default="10,50,200")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    import torch

    torch.set_num_threads(1)
    print_machine(f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}")
    print(
        f"input: synthetic walkers on {WIDTH}x{HEIGHT}, {args.frames} frames, detect prob "
        f"{DETECT_PROB}, {FEATURE_DIM}-d features; best of {args.repeats} runs"
    )
    rows = []
    for n in (int(t) for t in args.tracks.split(",")):
        frames = synthetic_frames(n, args.frames)
        runners: list[Callable[[], float]] = [
            functools.partial(run_ours, frames, False),
            functools.partial(run_ours, frames, True),
            functools.partial(run_bytetrack, frames),
        ]
        best = [min(fn() for _ in range(args.repeats)) for fn in runners]
        rows.append(
            {"tracks": n, "ours, motion only (ms/frame)": best[0],
             "ours, with features (ms/frame)": best[1],
             "ultralytics BYTETracker (ms/frame)": best[2]}
        )  # fmt: skip
    Results(args.json).table("tracker speed", rows, title=False)


if __name__ == "__main__":
    main()
