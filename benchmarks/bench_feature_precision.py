"""`extract-features --precision bf16` against float32: speed, and cross-view retrieval.

The CalibFree encoder (``cpu`` preset) untrained and pretrained for
``--minutes`` on a synthetic training scene (ground-truth boxes, no teacher,
as in ``bench_crossview_retrieval``) extracts ``f_a`` on synthetic scenes
whose ``det/`` rows are in random order, once in float32 and once with
bfloat16 autocast. For each: the encoder's crops per second (the whole
``run_extract_features`` call: decoding, cropping, encoding, writing), the
cosine similarity of each detection's bf16 feature with its f32 one, and
cross-view top-1 (max pooling, the default) on the development and held-out
scenes.

Usage::

    python -m benchmarks.bench_feature_precision [--work W] [--minutes 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.bench_crossview_retrieval import det_rows, make_scene, score, seeds_of
from benchmarks.common import untrained_checkpoint
from benchmarks.harness import Results, make_parser, print_machine
from mcmot.models.pretrain_config import PRESETS
from mcmot.stages.features import FeaturesConfig, run_extract_features
from mcmot.stages.pretrain import run_pretrain

PRECISIONS = ("f32", "bf16")


def extract(scenes: list[Path], checkpoint: Path, precision: str) -> tuple[dict, float]:
    """Per scene, per camera f_a; and crops per second over all scenes."""
    feats, crops, t0 = {}, 0, time.perf_counter()
    for scene in scenes:
        cfg = FeaturesConfig(model=str(checkpoint), device="cpu", precision=precision)
        run_extract_features(scene, cfg, overwrite=True)
        feats[scene] = {}
        for cam, det in det_rows(scene).items():
            with np.load(scene / "features" / f"{cam}.npz") as z:
                feats[scene][cam] = z["f_a"]
            crops += len(det)
    return feats, crops / (time.perf_counter() - t0)


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--work", type=Path, default=Path("/tmp/mcmot-feature-precision"))
    ap.add_argument("--minutes", type=float, default=2.0, help="pretraining budget")
    ap.add_argument("--seed", type=int, default=0, help="pretraining seed")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cameras", type=int, default=3)
    ap.add_argument("--people", type=int, default=6)
    ap.add_argument("--frames", type=int, default=30, help="frames of each scored scene")
    ap.add_argument("--difficulty", default="medium")
    ap.add_argument("--train-seed", type=int, default=11)
    ap.add_argument("--dev-seeds", default="31,32")
    ap.add_argument("--held-out-seeds", default="41,42,43,44,45,46")
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    train = args.work / f"train-{args.train_seed}"
    make_scene(train, args.train_seed, 150, 12, args)
    sets = {}
    for name, seeds in (("dev", args.dev_seeds), ("held-out", args.held_out_seeds)):
        sets[name] = [args.work / f"scene-{s}" for s in seeds_of(seeds)]
        for s, path in zip(seeds_of(seeds), sets[name], strict=True):
            make_scene(path, s, args.frames, args.people, args)
    cfg = dataclasses.replace(
        PRESETS["cpu"], boxes="gt", teacher="none", minutes=args.minutes, seed=args.seed
    )
    res = run_pretrain([train], args.work / f"run-seed{args.seed}", cfg, overwrite=True)
    blank = untrained_checkpoint(res.checkpoint, args.work / f"untrained-seed{args.seed}.pt")
    print_machine(f"pretrained {res.step} steps in {args.minutes} min; {args.threads} thread(s)")

    rows = []
    for label, ckpt in (("untrained", blank), (f"pretrained {args.minutes:g} min", res.checkpoint)):
        scenes = sets["dev"] + sets["held-out"]
        got = {p: extract(scenes, ckpt, p) for p in PRECISIONS}
        cos = np.concatenate(
            [
                (got["f32"][0][s][c] * got["bf16"][0][s][c]).sum(axis=1)
                for s in scenes
                for c in got["f32"][0][s]
            ]
        )
        for p in PRECISIONS:
            feats = got[p][0]
            dev = score(sets["dev"], lambda s, f=feats: f[s])
            held = score(sets["held-out"], lambda s, f=feats: f[s])
            rows.append(
                {
                    "encoder": label,
                    "precision": p,
                    "crops/s": got[p][1],
                    "cos to f32 (min)": float(cos.min()),
                    "dev top-1": dev[0],
                    "held-out top-1": held[0],
                    "held-out chance": held[1],
                    "queries": held[2],
                }
            )
            print(rows[-1], flush=True)
    formats = {"crops/s": ".0f", "cos to f32 (min)": ".4f"}
    Results(args.json).table("extract-features precision", rows, formats, title=False)


if __name__ == "__main__":
    main()
