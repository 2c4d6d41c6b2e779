"""How much does a detection's pooled f_a / f_s depend on the slot it is encoded in?

The single-view encoder gives each detection of a frame its own slot (a
sinusoid in the positional embedding). Encodes the ground-truth detections of
every other frame of a synthetic scene's first camera twice, in box order and
in a random order, and reports, for each half, ``1 - cos`` between the two
encodings of the same detection relative to ``1 - cos`` between different
detections of the frame: 0 = the slot changes nothing, 1 = moving a
detection to another slot changes it as much as swapping it for another
person. Compared: the slot sinusoid in the f_s half (today's layout) and in
the f_a half (the first checkpoints'), untrained, or a checkpoint as given.

Usage::

    python -m benchmarks.diag_slot_sensitivity --work /tmp/slots [--checkpoint RUN/checkpoint.pt]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.harness import Results, make_parser, print_machine
from mcmot.crops import crop_resize
from mcmot.frames import open_source
from mcmot.models.calibfree import CalibFree
from mcmot.models.checkpoint import build_model, config_from_dict, load_checkpoint
from mcmot.models.pretrain_config import PRESETS
from mcmot.models.tokens import normalize_crops, split_features
from mcmot.motio import read_mot
from mcmot.scene import Scene
from mcmot.synth.config import SynthConfig
from mcmot.synth.generate import generate_scene


def sensitivity(model: CalibFree, scene: Path, frames: int, seed: int) -> tuple[float, float]:
    """(f_a, f_s) mean relative change when the detections change slots."""
    cfg = model.cfg
    gt = read_mot(scene / "gt" / "cam1.txt")
    cam = Scene(scene).cameras()[0]
    rng = np.random.default_rng(seed)
    rel: list[list[float]] = [[], []]
    with open_source(cam.source) as src:  # type: ignore[arg-type]
        for f in range(1, frames + 1, 2):
            rows = np.flatnonzero(gt.frames == f)[: cfg.max_dets]
            if len(rows) < 2:
                continue
            img = src.read(f)
            crops = np.stack(
                [crop_resize(img, gt.boxes[r], cfg.img_height, cfg.img_width) for r in rows]
            )
            x = normalize_crops(torch.from_numpy(crops))
            k = len(rows)
            outs = []
            for perm in (np.arange(k), rng.permutation(k)):
                pooled = model.embed(x[perm][None], torch.ones(1, k, dtype=torch.bool), "max")[0]
                outs.append(pooled[np.argsort(perm)])
            for half in (0, 1):
                a = F.normalize(split_features(outs[0])[half], dim=1)
                b = F.normalize(split_features(outs[1])[half], dim=1)
                same = 1 - (a * b).sum(1).mean().item()
                others = 1 - (a @ a.T)[~torch.eye(k, dtype=torch.bool)].mean().item()
                rel[half].append(same / max(others, 1e-12))
    return float(np.mean(rel[0])), float(np.mean(rel[1]))


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--work", type=Path, default=Path("/tmp/mcmot-slots"))
    ap.add_argument("--checkpoint", type=Path, help="also measure this checkpoint")
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--seed", type=int, default=901)
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(1)
    scene = args.work / f"scene-{args.seed}"
    if not (scene / "gt").is_dir():
        cfg = SynthConfig(cameras=1, people=8, frames=args.frames, seed=args.seed, fmt="jpg")
        generate_scene(scene, cfg, overwrite=True)
    rows = []
    for half in ("f_s", "f_a"):
        torch.manual_seed(0)
        mcfg = dataclasses.replace(PRESETS["cpu"].model_config(), slot_half=half)
        rows.append((f"untrained cpu preset, slot in {half}", build_model(mcfg).eval()))
    if args.checkpoint:
        state = load_checkpoint(args.checkpoint)
        mcfg = config_from_dict(state["config"]).model_config()
        rows.append(
            (
                f"{args.checkpoint} (slot in {mcfg.slot_half})",
                build_model(mcfg, state["model"]).eval(),
            )
        )
    print_machine()
    print(
        f"scene: synthetic seed {args.seed}, camera 1, 8 people, "
        f"every other of {args.frames} frames"
    )
    table = []
    for name, model in rows:
        fa, fs = sensitivity(model, scene, args.frames, args.seed)
        table.append({"encoder": name, "f_a": fa, "f_s": fs})
    Results(args.json).table("slot sensitivity", table, title=False)


if __name__ == "__main__":
    main()
