"""Speed of ``run_associate``: a 4-camera 1,000-frame scene, and growth with cameras
and people.

Scenes are boxes only (``benchmarks.simulate.toy_scene``: people walking
on a floor seen by cameras with random ground homographies), tracks from the
ground truth with local ids fragmented every ~100 rows; 'both' adds synthetic
128-d features (identity embedding + noise). Times: geometry fitting (all
pairs), association (votes, clustering), total wall time; AIDF1 as a sanity
check.

Run: ``python -m benchmarks.bench_associate [--frames 1000] [--quick] [--json PATH]``
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
from benchmarks.simulate import id_features, toy_scene, tracks_from_gt
from mcmot.association.config import AssociateConfig
from mcmot.metrics.crossview import combine_crossview, crossview_counts
from mcmot.motio import read_mot, write_mot
from mcmot.stages.associate import run_associate


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


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--quick", action="store_true", help="fewer settings")
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    print_machine()
    print(f"frames per scene: {args.frames}; tracks fragmented every ~100 rows\n")
    settings = [(4, 10, "geometry"), (4, 10, "both")]
    if not args.quick:
        settings += [(2, 10, "geometry"), (8, 10, "geometry"), (4, 5, "geometry")]
        settings += [(4, 20, "geometry"), (8, 20, "both")]
    rows = []
    for n, p, cues in settings:
        r = run(n, p, args.frames, cues)
        rows.append(
            {
                "cams": n,
                "people": p,
                "cues": cues,
                "rows": r["rows"],
                "tracklets": r["tracklets"],
                "fit s": r["geometry"],
                "s/pair": r["geometry"] / r["pairs"],
                "assoc s": r["associate"],
                "ms/frame": r["ms_frame"],
                "wall s": r["wall"],
                "AIDF1": r["AIDF1"],
            }
        )
    formats = {"fit s": ".1f", "s/pair": ".2f", "assoc s": ".1f", "ms/frame": ".2f"}
    Results(args.json).table("associate", rows, {**formats, "wall s": ".1f"}, title=False)


if __name__ == "__main__":
    main()
