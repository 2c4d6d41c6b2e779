"""`extract-features --runtime R --precision P` against torch float32: speed and retrieval.

The CalibFree encoder (``cpu`` preset) untrained and pretrained for
``--minutes`` on a synthetic training scene (ground-truth boxes, no teacher,
as in ``bench_crossview_retrieval``) extracts ``f_a`` on synthetic scenes
whose ``det/`` rows are in random order, on each installed runtime and
precision: torch (float32, the peer; bfloat16 autocast), ONNX Runtime
(float32) and OpenVINO (float32; bfloat16). For each: the encoder's crops
per second (the whole ``run_extract_features`` call: decoding, cropping,
encoding, writing), the cosine similarity of each detection's feature with
torch float32's, and cross-view top-1 (max pooling, the default) on the
development and held-out scenes. A second table times the encoder alone
(``Encoder.encode`` on the held-out scenes' frame groups, after a warm-up
pass, so no export, decoding or cropping) for the CalibFree ``cpu`` preset
and an SSAT network (``ClipsConfig`` defaults: ResNet-18, 112x112; its
weights do not change the time, so an untrained one serves). Run it pinned to one core
(``taskset -c 0``): the runtimes use every core the process may use, torch
the ``--threads`` given.

Usage::

    taskset -c 0 python -m benchmarks.bench_feature_precision [--work W] [--minutes 2] [--seed 0]
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
from mcmot.config import to_dict
from mcmot.frames import open_source
from mcmot.models.checkpoint import SSAT, build_reid, save_checkpoint
from mcmot.models.clips_config import ClipsConfig
from mcmot.models.pretrain_config import PRESETS
from mcmot.motio import read_mot
from mcmot.runtimes import backend_installed
from mcmot.scene import Scene
from mcmot.stages.features import (
    Encoder,
    FeaturesConfig,
    frame_groups,
    group_crops,
    run_extract_features,
)
from mcmot.stages.pretrain import run_pretrain

#: (runtime, precision) arms; the first is the peer every other is compared with.
ARMS = (
    ("torch", "f32"),
    ("torch", "bf16"),
    ("onnx", "f32"),
    ("openvino", "f32"),
    ("openvino", "bf16"),
)


def extract(scenes: list[Path], checkpoint: Path, arm: tuple[str, str]) -> tuple[dict, float]:
    """Per scene, per camera f_a; and crops per second over all scenes."""
    feats, crops, t0 = {}, 0, time.perf_counter()
    for scene in scenes:
        cfg = FeaturesConfig(model=str(checkpoint), device="cpu", runtime=arm[0], precision=arm[1])
        run_extract_features(scene, cfg, overwrite=True)
        feats[scene] = {}
        for cam, det in det_rows(scene).items():
            with np.load(scene / "features" / f"{cam}.npz") as z:
                feats[scene][cam] = z["f_a"]
            crops += len(det)
    return feats, crops / (time.perf_counter() - t0)


def scene_groups(scenes: list[Path], size: tuple[int, int], max_dets: int) -> list[np.ndarray]:
    """Every frame group of every camera of ``scenes``, cropped to ``size`` (H, W)."""
    groups = []
    for root in scenes:
        scene = Scene(root)
        for cam in scene.select_cameras(None):
            table = read_mot(scene.path("det", cam.name), unique_ids=False)
            with open_source(cam.source) as src:  # type: ignore[arg-type]
                for f, rows in frame_groups(table, max_dets):
                    groups.append(group_crops(src.read(f), table.boxes[rows], size))
    return groups


def encode_speed(checkpoint: Path, arm: tuple[str, str], scenes: list[Path]) -> dict:
    """The encoder's crops per second on ``arm``, after one warm-up pass over the groups."""
    cfg = FeaturesConfig(model=str(checkpoint), device="cpu", runtime=arm[0], precision=arm[1])
    enc = Encoder(cfg, torch.device("cpu"))
    groups = scene_groups(scenes, enc.size, enc.max_dets)
    batches = [groups[i : i + cfg.batch] for i in range(0, len(groups), cfg.batch)]
    for part in batches:
        enc.encode(part, cfg.pooling)
    t0 = time.perf_counter()
    for part in batches:
        enc.encode(part, cfg.pooling)
    crops = sum(len(g) for g in groups)
    return {
        "runtime": arm[0],
        "precision": arm[1],
        "encoder crops/s": crops / (time.perf_counter() - t0),
    }


def ssat_checkpoint(out: Path) -> Path:
    """An untrained SSAT network at ``ClipsConfig``'s defaults, saved as ``out``."""
    cfg = ClipsConfig(device="cpu")
    net = build_reid(cfg, 0, None)
    save_checkpoint(out, {"config": to_dict(cfg), "model": net.state_dict()}, SSAT)
    return out


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

    arms = [a for a in ARMS if backend_installed(a[0])]
    rows = []
    for label, ckpt in (("untrained", blank), (f"pretrained {args.minutes:g} min", res.checkpoint)):
        scenes = sets["dev"] + sets["held-out"]
        got = {a: extract(scenes, ckpt, a) for a in arms}
        peer = got[ARMS[0]][0]
        for arm in arms:
            feats = got[arm][0]
            cos = [(peer[s][c] * feats[s][c]).sum(axis=1) for s in scenes for c in feats[s]]
            dev = score(sets["dev"], lambda s, f=feats: f[s])
            held = score(sets["held-out"], lambda s, f=feats: f[s])
            rows.append(
                {
                    "encoder": label,
                    "runtime": arm[0],
                    "precision": arm[1],
                    "crops/s": got[arm][1],
                    "cos to torch f32 (min)": float(np.concatenate(cos).min()),
                    "dev top-1": dev[0],
                    "held-out top-1": held[0],
                    "held-out chance": held[1],
                    "queries": held[2],
                }
            )
            print(rows[-1], flush=True)
    formats = {"crops/s": ".0f", "cos to torch f32 (min)": ".5f"}
    results = Results(args.json)
    results.table("extract-features runtime and precision", rows, formats, title=False)
    speed = []
    ssat = ssat_checkpoint(args.work / "ssat-untrained.pt")
    for label, ckpt in (("CalibFree cpu preset", res.checkpoint), ("SSAT resnet18", ssat)):
        for arm in arms:
            speed.append({"network": label, **encode_speed(ckpt, arm, sets["held-out"])})
            print(speed[-1], flush=True)
    results.table("encoder alone", speed, {"encoder crops/s": ".0f"})


if __name__ == "__main__":
    main()
