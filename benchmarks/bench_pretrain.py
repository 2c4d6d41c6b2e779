"""Pretraining throughput and peak memory of the `cpu` preset, versus N and the number of views.

Each configuration runs in a fresh process, so its peak resident memory is
its own ("of it training" is how much the peak grew during the steps, i.e.
without the interpreter, torch and the inputs). A configuration is a few full
training steps (forward, three losses, backward, AdamW) of the cpu-preset
model on random crops of B timesteps x V views x N detections, every slot
filled (the worst case). Throughput is in timesteps and crops per second.

The peer, measured in the same run, is a plain timm ViT of the same encoder
size trained MAE-style on the same crops one by one (no cross-detection
attention, no decoders): forward + backward of the encoder on the 25%
visible patches of every crop.

Usage::

    python -m benchmarks.bench_pretrain [--steps 3] [--threads 1] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.harness import Results, make_parser, print_machine

CONFIGS = [(2, 5), (2, 10), (2, 20), (4, 10), (8, 10)]  # (views, N)


def measure(views: int, dets: int, steps: int, threads: int, peer: bool) -> dict:
    """Run in this process: seconds per step and peak RSS."""
    import dataclasses

    import torch

    from mcmot.models.calibfree import CalibFree
    from mcmot.models.pretrain_config import PRESETS
    from mcmot.models.tokens import random_masking

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = dataclasses.replace(PRESETS["cpu"].model_config(), max_dets=dets, teacher_dim=384)
    b = PRESETS["cpu"].batch_size
    imgs = torch.randn(b, views, dets, 3, cfg.img_height, cfg.img_width)
    valid = torch.ones(b, views, dets, dtype=torch.bool)
    teacher = torch.randn(b, views, dets, cfg.num_patches, 384)
    if peer:
        import timm

        model = timm.models.VisionTransformer(
            img_size=(cfg.img_height, cfg.img_width), patch_size=cfg.patch_size,
            embed_dim=cfg.embed_dim, depth=cfg.depth, num_heads=cfg.num_heads, num_classes=0,
            patch_drop_rate=cfg.mask_ratio,
        )  # fmt: skip
    else:
        model = CalibFree(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = []
    for step in range(steps + 1):
        t0 = time.perf_counter()
        if peer:
            model.train()
            loss = model.forward_features(imgs.flatten(0, 2)).pow(2).mean()
        else:
            keep, restore, mask = random_masking(b, cfg.num_patches, cfg.num_visible)
            loss = sum(model(imgs, valid, keep, restore, mask, teacher).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step:
            times.append(time.perf_counter() - t0)
    sec = sorted(times)[len(times) // 2]
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "sec": sec,
        "ts_per_s": b / sec,
        "crops_per_s": b * views * dets / sec,
        "rss": rss_mb,
        "train_mb": rss_mb - rss_before,
    }


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.one:
        v, n, peer = json.loads(args.one)
        print(json.dumps(measure(v, n, args.steps, args.threads, peer)))
        return
    from mcmot.models.pretrain_config import PRESETS

    c = PRESETS["cpu"]
    print_machine(f"torch threads per configuration {args.threads}")
    print(
        f"cpu preset: crops {c.img_height}x{c.img_width}, patch {c.patch_size}, encoder "
        f"{c.embed_dim}x{c.depth} blocks, decoders {c.dec_dim}x{c.dec_depth}, mask "
        f"{c.mask_ratio}, batch {c.batch_size} timesteps, teacher width 384 (random targets); "
        f"median of {args.steps} steps"
    )
    rows = []
    for views, dets in CONFIGS:
        for peer in (False, True):
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.bench_pretrain", "--steps", str(args.steps),
                 "--threads", str(args.threads), "--one", json.dumps([views, dets, peer])],
                capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1],
            )  # fmt: skip
            r = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(
                {"model": "timm ViT encoder only (peer)" if peer else "CalibFree (full step)",
                 "views": views, "N": dets, "s/step": r["sec"], "timesteps/s": r["ts_per_s"],
                 "crops/s": r["crops_per_s"], "peak RSS MB": r["rss"],
                 "of it training MB": r["train_mb"]}
            )  # fmt: skip
    formats = {"timesteps/s": ".2f", "crops/s": ".1f", "peak RSS MB": ".0f"}
    Results(args.json).table("pretrain", rows, {**formats, "of it training MB": ".0f"}, title=False)


if __name__ == "__main__":
    main()
