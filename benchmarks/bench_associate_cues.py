"""Cues compared on synthetic scenes: appearance, geometry and both, at easy, medium, hard.

Scenes from ``mcmot.synth.generate_scene`` (rendered pixels, seeds not used
elsewhere). Tracks: the ground truth with identities local to each camera,
fragmented every ~60 rows. Appearance features are computed from the pixels
without any learning (``extract-features --model histogram``: a colour
histogram of the upper and lower half of each box, Hellinger-normalised), so
appearance is imperfect where the scene makes it so (look-alike clothes,
colour response, occlusion). Scored with
``mcmot.metrics.crossview``. The target: ``both`` >= the better single cue.

Run: ``python -m benchmarks.bench_associate_cues [--frames 200] [--seed 7001] [--json PATH]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.harness import Results, make_parser, print_machine
from benchmarks.simulate import tracks_from_gt
from mcmot.association.config import AssociateConfig
from mcmot.metrics.crossview import combine_crossview, crossview_counts
from mcmot.motio import MotTable, read_mot, write_mot
from mcmot.scene import Scene
from mcmot.stages.associate import run_associate
from mcmot.stages.features import FeaturesConfig, run_extract_features
from mcmot.synth import SynthConfig, generate_scene


def prepare(root: Path, difficulty: str, frames: int, seed: int) -> list[MotTable]:
    cfg = SynthConfig(
        cameras=4, people=8, frames=frames, width=480, height=270, seed=seed,
        difficulty=difficulty, fmt="jpg",
    )  # fmt: skip
    scene = generate_scene(root, cfg)
    rng = np.random.default_rng(seed)
    gts = []
    for k, cam in enumerate(scene.pixel_cameras()):
        gt = read_mot(scene.path("gt", cam.name))
        gts.append(gt)
        t = tracks_from_gt(gt, rng, fragment_every=60, first_id=100 * (k + 1) + 1).sorted()
        write_mot(scene.path("tracks", cam.name), t)
        write_mot(scene.path("det", cam.name), t.with_ids(np.full(len(t), -1)))
    run_extract_features(scene, FeaturesConfig(model="histogram"), overwrite=True)
    return gts


def score(root: Path, gts: list[MotTable], frames: int) -> dict[str, float]:
    names = [c.name for c in Scene(root).pixel_cameras()]
    preds = [read_mot(root / "global" / f"{n}.txt") for n in names]
    return combine_crossview([crossview_counts(list(zip(gts, preds, strict=True)), 1, frames)])


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7001)
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    print_machine()
    print(f"synthetic scenes: 4 cameras, 8 people, {args.frames} frames, 480x270, "
          f"seed {args.seed}; tracks = gt with local ids, fragmented ~60 rows")  # fmt: skip
    rows: list[dict[str, object]] = []
    verdicts: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for difficulty in ("easy", "medium", "hard"):
            root = Path(tmp) / difficulty
            gts = prepare(root, difficulty, args.frames, args.seed)
            res = {}
            for cues in ("appearance", "geometry", "both"):
                t0 = time.perf_counter()
                r = run_associate(root, AssociateConfig(cues=cues), overwrite=True)
                dt = time.perf_counter() - t0
                m = score(root, gts, args.frames)
                res[cues] = m
                note = ""
                if r.appearance is not None:
                    a = r.appearance
                    fmr = a.false_match_rate
                    note += f"app d'={a.separation:.1f} w={a.weight:.2f} "
                    note += f"fmr={fmr:.2f} " if fmr is not None else ""
                if r.geometry:
                    ws = [g.quality.weight for g in r.geometry.values()]
                    note += f"geo weights {min(ws):.2f}-{max(ws):.2f}"
                rows.append(
                    {"difficulty": difficulty, "cues": cues, "AIDF1": m["AIDF1"],
                     "MHAA": m["MHAA"], "ids": r.identities, "s": dt, "notes": note.strip()}
                )  # fmt: skip
            for k in ("AIDF1", "MHAA"):
                best = max(res["appearance"][k], res["geometry"][k])
                verdicts.append(
                    {"difficulty": difficulty, "metric": k, "both - best single":
                     res["both"][k] - best, "verdict": "ok" if res["both"][k] >= best else "BELOW"}
                )  # fmt: skip
    results = Results(args.json)
    results.table("cues", rows, {"s": ".1f"})
    results.table("both against the better single cue", verdicts, {"both - best single": "+.3f"})


if __name__ == "__main__":
    main()
