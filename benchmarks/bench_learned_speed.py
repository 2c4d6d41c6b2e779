"""The learned tracker's speed: training steps per second and tracking frames per second,
with 10 and 50 people per frame, against DeepSORT in the same run.

- **Tracking.** The walkers of ``bench_tracker_speed`` (1920x1080, detected with
  probability 0.95): the learned tracker (default settings, its network
  untrained: the time does not depend on the weights) gets 64-d crop features;
  DeepSORT runs motion only and with 128-d features. The crop CNN is timed
  apart (crops per second, 64x64, batches of one frame's detections), and the
  learned tracker's frames per second counts both.
- **Training.** One camera of the same walkers, each detection with a random
  64x64 crop; steps of ``--batch`` sequences (``n`` 4 to 16, strides 1 and 2,
  artificial detections on), timed after two warm-up steps.

Run: ``python -m benchmarks.bench_learned_speed [--frames 300] [--steps 20] [--json PATH]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.bench_tracker_speed import (  # noqa: E402
    HEIGHT,
    WIDTH,
    run_ours,
    synthetic_frames,
    time_per_frame,
)
from benchmarks.harness import Results, make_parser, print_machine  # noqa: E402
from mcmot.models.checkpoint import build_cross_input  # noqa: E402
from mcmot.models.cross_input_config import CrossInputConfig  # noqa: E402
from mcmot.tracking import Detections  # noqa: E402
from mcmot.tracking.config import LearnedConfig  # noqa: E402
from mcmot.tracking.learned import LearnedTracker  # noqa: E402
from mcmot.training.cross_input import CameraDets, CrossInputObjective  # noqa: E402
from mcmot.training.distributed import Dist  # noqa: E402
from mcmot.training.loop import param_groups  # noqa: E402


def crops_per_second(net: torch.nn.Module, per_frame: int, frames: int = 30) -> float:
    """Crops the CNN embeds per second, one frame's detections per batch."""
    crops = torch.randint(0, 255, (per_frame, 64, 64, 3), dtype=torch.uint8)
    with torch.no_grad():
        net.embed(crops)
        t0 = time.perf_counter()
        for _ in range(frames):
            net.embed(crops)
    return per_frame * frames / (time.perf_counter() - t0)


def learned_ms(net: torch.nn.Module, frames: list[Detections]) -> float:
    """Milliseconds per frame of the learned tracker on 64-d features."""
    rng = np.random.default_rng(0)
    feats = [rng.normal(size=(len(d), 64)).astype(np.float32) for d in frames]
    dets = [Detections(d.tlwh, d.scores, f) for d, f in zip(frames, feats, strict=True)]
    tracker = LearnedTracker(LearnedConfig(model="speed"), net, (WIDTH, HEIGHT))
    return time_per_frame(tracker.update, dets)


def camera(frames: list[Detections]) -> CameraDets:
    """The walkers as one camera's detections with random crops."""
    idx = np.concatenate([np.full(len(d), i + 1) for i, d in enumerate(frames)])
    boxes = np.concatenate([d.tlwh for d in frames])
    crops = np.random.default_rng(0).integers(0, 255, (len(idx), 64, 64, 3), dtype=np.uint8)
    return CameraDets("speed/cam", (WIDTH, HEIGHT), idx.astype(np.int64), boxes, crops)


def steps_per_second(frames: list[Detections], batch: int, steps: int) -> float:
    """Training steps per second (``batch`` sequences each), after two warm-up steps."""
    cfg = CrossInputConfig(batch_size=batch, device="cpu")
    obj = CrossInputObjective(cfg, [camera(frames)], Dist(), torch.device("cpu"))
    torch.manual_seed(0)
    model = obj.build_model(None)
    opt = torch.optim.AdamW(param_groups(model, 0.0), lr=cfg.lr)
    rng = np.random.default_rng(0)
    t0 = 0.0
    for step in range(steps + 2):
        if step == 2:
            t0 = time.perf_counter()
        samples = rng.integers(0, obj.num_samples, batch)
        loss, _ = obj.loss(model, step, samples)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps / (time.perf_counter() - t0)


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--steps", type=int, default=20, help="training steps timed")
    ap.add_argument("--batch", type=int, default=4, help="sequences per training step")
    ap.add_argument("--people", default="10,50")
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(1)
    print_machine("torch threads 1")
    print(f"input: synthetic walkers on {WIDTH}x{HEIGHT}, {args.frames} frames; training "
          f"{args.steps} steps of {args.batch} sequences")  # fmt: skip
    net = build_cross_input(CrossInputConfig()).eval()
    rows = []
    for n in (int(p) for p in args.people.split(",")):
        frames = synthetic_frames(n, args.frames)
        cnn = crops_per_second(net, n)
        ms = learned_ms(net, frames)
        total_fps = 1000.0 / (ms + 1000.0 * n / cnn)
        rows.append(
            {"people": n, "learned tracker (ms/frame)": ms, "crop CNN (crops/s)": cnn,
             "learned incl. CNN (frames/s)": total_fps,
             "DeepSORT motion (frames/s)": 1000.0 / run_ours(frames, False),
             "DeepSORT features (frames/s)": 1000.0 / run_ours(frames, True),
             "training (steps/s)": steps_per_second(frames, args.batch, args.steps)}
        )  # fmt: skip
    Results(args.json).table("learned tracker speed", rows, title=False)


if __name__ == "__main__":
    main()
