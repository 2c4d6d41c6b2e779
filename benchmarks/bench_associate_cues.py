"""Cues compared on synthetic scenes: appearance, geometry and both, at easy, medium, hard.

Scenes from ``mcmot.synth.generate_scene`` (rendered pixels, seeds not used
elsewhere). Tracks: the ground truth with identities local to each camera,
fragmented every ~60 rows. Appearance features are computed from the pixels
without any learning (a colour histogram of the upper and lower half of each
box, Hellinger-normalised), so appearance is imperfect where the scene makes
it so (look-alike clothes, colour response, occlusion). Scored with
``mcmot.metrics.crossview``. The target: ``both`` >= the better single cue.

Run: ``python -m benchmarks.bench_associate_cues [--frames 200] [--seed 7001] [--json PATH]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.harness import Results, make_parser, print_machine
from benchmarks.simulate import tracks_from_gt
from mcmot.association.config import AssociateConfig
from mcmot.frames import open_source
from mcmot.metrics.crossview import combine_crossview, crossview_counts
from mcmot.motio import MotTable, read_mot, write_mot
from mcmot.scene import Scene
from mcmot.stages.associate import run_associate
from mcmot.synth import SynthConfig, generate_scene


def colour_features(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(N, 256) Hellinger-normalised HSV histograms of each box's upper and lower half."""
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    h, w = image.shape[:2]
    out = np.zeros((len(boxes), 256), np.float32)
    for i, (x, y, bw, bh) in enumerate(boxes):
        x0, y0 = int(max(x, 0)), int(max(y, 0))
        x1, y1 = int(min(x + bw, w)), int(min(y + bh, h))
        if x1 - x0 < 2 or y1 - y0 < 4:
            continue
        mid = (y0 + y1) // 2
        parts = []
        for a, b in ((y0, mid), (mid, y1)):
            crop = hsv[a:b, x0:x1]
            hist = cv2.calcHist([crop], [0, 1, 2], None, [8, 4, 4], [0, 180, 0, 256, 0, 256])
            parts.append(hist.ravel())
        f = np.sqrt(np.concatenate(parts) / max(np.concatenate(parts).sum(), 1.0))
        out[i] = f / max(np.linalg.norm(f), 1e-12)
    return out


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
        det = t.with_ids(np.full(len(t), -1))
        write_mot(scene.path("det", cam.name), det)
        feats = np.zeros((len(det), 256), np.float32)
        with open_source(cam.source) as src:
            for f, sl in det.frame_slices().items():
                feats[sl] = colour_features(src.read(f), det.boxes[sl])
        path = scene.path("features", cam.name)
        path.parent.mkdir(exist_ok=True)
        np.savez(path, f_a=feats, f_s=feats, frames=det.frames, boxes=det.boxes)
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
