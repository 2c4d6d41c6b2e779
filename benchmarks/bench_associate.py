"""Speed of ``run_associate``: a 4-camera 1,000-frame scene, and growth with cameras
and people.

Scenes are boxes only (``mcmot.association.simulate.toy_scene``: people walking
on a floor seen by cameras with random ground homographies), tracks from the
ground truth with local ids fragmented every ~100 rows; 'both' adds synthetic
128-d features (identity embedding + noise). Times: geometry fitting (all
pairs), association (votes, clustering), total wall time; AIDF1 as a sanity
check.

Run: ``python benchmarks/bench_associate.py [--frames 1000] [--quick]``
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from mcmot.association.config import AssociateConfig
from mcmot.association.simulate import id_features, toy_scene, tracks_from_gt
from mcmot.metrics.crossview import combine_crossview, crossview_counts
from mcmot.motio import read_mot, write_mot
from mcmot.stages.associate import run_associate


def machine() -> str:
    try:
        import torch

        threads = torch.get_num_threads()
    except ImportError:
        threads = "-"
    return f"{platform.platform()} | {os.cpu_count()} CPUs | torch threads {threads}"


def cameras(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """n floor -> image homographies looking at a 10 m square from around it."""
    out = []
    for k in range(n):
        th = 2 * np.pi * k / n + rng.uniform(-0.2, 0.2)
        c, s = np.cos(th), np.sin(th)
        sc = rng.uniform(30, 45)
        persp = rng.uniform(0.01, 0.03)
        # rotate the floor about its centre (5, 5), then scale and foreshorten
        R = np.array([[c, -s, 5 - 5 * c + 5 * s], [s, c, 5 - 5 * s - 5 * c], [0, 0, 1]])
        A = np.array([[sc, 0, 120], [0, sc * 0.5, 150], [0, persp * 0.2, 1]])
        out.append(A @ R)
    return out


def scene(root: Path, n_cams: int, people: int, frames: int, features: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    gts = toy_scene(cameras(n_cams, rng), people=people, frames=frames, size=(640, 480), rng=rng)
    for k, gt in enumerate(gts):
        t = tracks_from_gt(gt, rng, fragment_every=100, first_id=1000 * (k + 1)).sorted()
        write_mot(root / "tracks" / f"c{k + 1}.txt", t)
        if features:
            write_mot(root / "det" / f"c{k + 1}.txt", t.with_ids(np.full(len(t), -1)))
            # the gt rows in the same order as t (same boxes): their ids name the person
            g = gt.sorted()
            ot, og = np.lexsort((t.boxes[:, 0], t.frames)), np.lexsort((g.boxes[:, 0], g.frames))
            ids = np.empty(len(t), np.int64)
            ids[ot] = g.ids[og]
            f = id_features(ids, 128, 0.15, rng)
            (root / "features").mkdir(exist_ok=True)
            np.savez(
                root / "features" / f"c{k + 1}.npz", f_a=f, f_s=f, frames=t.frames, boxes=t.boxes
            )
    return gts


def run(n_cams: int, people: int, frames: int, cues: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        gts = scene(root, n_cams, people, frames, features=cues != "geometry")
        t0 = time.perf_counter()
        r = run_associate(root, AssociateConfig(cues=cues))
        wall = time.perf_counter() - t0
        preds = [read_mot(root / "global" / f"c{k + 1}.txt") for k in range(n_cams)]
        m = combine_crossview([crossview_counts(list(zip(gts, preds, strict=True)), 1, frames)])
    rows = sum(r.rows)
    return {
        "rows": rows,
        "tracklets": r.tracklets,
        "geometry": r.seconds.get("geometry", 0.0),
        "pairs": n_cams * (n_cams - 1) // 2,
        "associate": r.seconds["associate"],
        "wall": wall,
        "ms_frame": 1000 * r.seconds["associate"] / frames,
        "AIDF1": m["AIDF1"] or 0.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--quick", action="store_true", help="fewer settings")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    print(f"frames per scene: {args.frames}; tracks fragmented every ~100 rows\n")
    settings = [(4, 10, "geometry"), (4, 10, "both")]
    if not args.quick:
        settings += [(2, 10, "geometry"), (8, 10, "geometry"), (4, 5, "geometry")]
        settings += [(4, 20, "geometry"), (8, 20, "both")]
    head = (
        f"{'cams':>4} {'people':>6} {'cues':>8} {'rows':>7} {'tracklets':>9} {'fit s':>6} "
        f"{'s/pair':>6} {'assoc s':>7} {'ms/frame':>8} {'wall s':>6} {'AIDF1':>6}"
    )
    print(head)
    for n, p, cues in settings:
        r = run(n, p, args.frames, cues)
        print(
            f"{n:4d} {p:6d} {cues:>8} {r['rows']:7d} {r['tracklets']:9d} {r['geometry']:6.1f} "
            f"{r['geometry'] / r['pairs']:6.2f} {r['associate']:7.1f} {r['ms_frame']:8.2f} "
            f"{r['wall']:6.1f} {r['AIDF1']:6.3f}"
        )


if __name__ == "__main__":
    main()
