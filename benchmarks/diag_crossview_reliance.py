"""Diagnostic: how much does the reconstruction use the cross-view feature?

Loads a pretraining checkpoint and the crop cache of its run, and computes the
reconstruction loss on the run's timesteps three ways (the same masks): with
each detection's own cross-view feature f_a-hat, with the f_a-hats of the
same timestep swapped between detections (another person's), and with f_a-hat
set to zero. If the losses are about equal the reconstruction decoder does
not use f_a-hat, so f_a gets almost no gradient from the reconstruction.

Usage::

    python -m benchmarks.diag_crossview_reliance RUN/checkpoint.pt RUN/cache/crops-KEY.npz
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.harness import Results, make_parser, print_machine
from mcmot.models.checkpoint import build_model, config_from_dict
from mcmot.models.tokens import normalize_crops, random_masking
from mcmot.training.timesteps import SceneCrops, collate


def _recon(model, imgs, valid, keep, restore, mask, how: str) -> float:
    orig = model.cross_view_encoder

    def patched(f_a, v):
        out = orig(f_a, v)
        if how == "swapped":  # each detection gets another detection's of the same timestep
            flat = out.flatten(1, 2).clone()
            for b in range(flat.shape[0]):
                idx = torch.nonzero(v[b].flatten()).flatten()
                flat[b, idx] = flat[b, idx.roll(1)]
            return flat.view_as(out)
        if how == "zero":
            return torch.zeros_like(out)
        return out

    model.cross_view_encoder = patched
    try:
        latent = model.forward_encoder(imgs, valid, keep)
        pred = model.forward_decoder(latent, valid, restore)
        return float(model.forward_loss(imgs, valid, mask, pred, None)["recon"])
    finally:
        del model.cross_view_encoder


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("crops", type=Path)
    ap.add_argument("--batches", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=4)
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(1)
    state = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    cfg = config_from_dict(state["config"])
    model = build_model(cfg.model_config(), state["model"]).eval()
    model.distill_head = None  # losses without teacher targets
    with np.load(args.crops) as z:
        sc = SceneCrops(str(z["name"]), tuple(z["cameras"]), z["crops"], z["slots"], z["frames"])
    g = torch.Generator().manual_seed(0)
    sums = {"own": 0.0, "swapped": 0.0, "zero": 0.0}
    t_all = np.arange(len(sc.frames))
    for i in range(args.batches):
        items = [(0, int(t)) for t in t_all[i :: args.batches][: args.batch_size]]
        batch = collate([sc], items, None)
        imgs = normalize_crops(torch.from_numpy(batch.crops))
        valid = torch.from_numpy(batch.valid)
        b, v = valid.shape[:2]
        per_view = cfg.mask_per_view
        keep, restore, mask = random_masking(
            b * v if per_view else b, cfg.num_patches, cfg.num_visible, g
        )
        if per_view:
            keep, restore, mask = (t.view(b, v, -1) for t in (keep, restore, mask))
        with torch.no_grad():
            for how in sums:
                sums[how] += _recon(model, imgs, valid, keep, restore, mask, how) / args.batches
    print_machine()
    print(f"checkpoint: {args.checkpoint} ({state.get('step', '?')} steps)")
    extra = {k: getattr(cfg, k) for k in ("cross_other_views", "cross_strict", "mask_per_view")}
    print(f"settings: {extra}, cross_match {getattr(cfg, 'cross_match', 'attention')}")
    rows = [{"cross-view feature": how, "recon loss": val} for how, val in sums.items()]
    Results(args.json).table("reconstruction", rows, {"recon loss": ".4f"}, title=False)


if __name__ == "__main__":
    main()
