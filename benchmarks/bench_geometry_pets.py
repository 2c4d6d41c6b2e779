"""Geometry-only cross-view association on the five real views of PETS09-S2L1.

Input: tracks per view made from the views' ground truth with identities local
to each view (random renumbering), optionally fragmented (a tracklet broken
about every N rows) or with identity switches injected. Output scored with
``mcmot.metrics.crossview`` (AIDF1, MHAA) over frames 1-795.

Peer, same run: OpenCV's ``findHomography(RANSAC)`` on all same-instant foot
pairs of a camera pair (the generic way to fit such a homography), timed and
scored by the share of true foot pairs it explains within a quarter of a box
height, next to :func:`mcmot.association.geometry.fit_pair`.

Run: ``python -m benchmarks.bench_geometry_pets [--data ../shared/data] [--set KEY=VALUE]
[--json PATH]`` (``--set``: a ``GeometryConfig`` field for mcmot's fits)
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.harness import (
    Results,
    add_geometry_settings,
    data_or_exit,
    geometry_config,
    make_parser,
    print_machine,
)
from benchmarks.simulate import tracks_from_gt
from mcmot.association.config import AssociateConfig, GeometryConfig
from mcmot.association.data import make_obs
from mcmot.association.geometry import fit_pair
from mcmot.association.homography import candidates, orient, pair_errors
from mcmot.metrics.crossview import combine_crossview, crossview_counts
from mcmot.motio import read_mot, write_mot
from mcmot.stages.associate import run_associate

VIEWS = [f"view{k}" for k in range(1, 6)]
SIZES = {"view1": (768, 576)}  # the others are 720x576 (PETS09 views 2-5)
#: The cross-view metrics of the association table.
METRICS = ("AIDF1", "MHAA", "AIDP", "AIDR")


def run_case(
    gts, root: Path, geo: GeometryConfig, *, fragment: int, switches: int, mode: str, seed: int = 1
):
    rng = np.random.default_rng(seed)
    if root.exists():
        shutil.rmtree(root)
    for k, (v, gt) in enumerate(zip(VIEWS, gts, strict=True)):
        tr = tracks_from_gt(
            gt, rng, fragment_every=fragment, switches=switches, first_id=100 * (k + 1) + 1
        )
        write_mot(root / "tracks" / f"{v}.txt", tr)
    t0 = time.perf_counter()
    r = run_associate(root, AssociateConfig(cues="geometry", mode=mode, geometry=geo))
    dt = time.perf_counter() - t0
    preds = [read_mot(root / "global" / f"{v}.txt") for v in VIEWS]
    m = combine_crossview([crossview_counts(list(zip(gts, preds, strict=True)), 1, 795)])
    return m, r, dt


def peer_fit(a, b) -> tuple[np.ndarray | None, float]:
    c = candidates(a, b)
    t0 = time.perf_counter()
    H, _ = cv2.findHomography(c.pa, c.pb, cv2.RANSAC, 10.0, maxIters=2000)
    dt = time.perf_counter() - t0
    return (orient(H, c.pa) if H is not None else None), dt


def explained(H, a, b) -> float:
    """Share of true same-person foot pairs within 0.25 box heights under H."""
    if H is None:
        return 0.0
    c = candidates(a, b)
    m = c.ta == c.tb
    e = pair_errors(H, c.pa[m], c.pb[m], c.ha[m], c.hb[m])
    return float(np.mean(e < 0.25))


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--data", type=Path, default=None, help="default: the shared data folder")
    add_geometry_settings(ap)
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    d = data_or_exit(args.data) / "pets09-s2l1-views-gt"
    gts = [read_mot(d / f"{v}.txt") for v in VIEWS]
    print_machine()
    print(f"input: PETS09-S2L1 five views, {sum(len(g) for g in gts)} boxes, 795 frames")
    geo = geometry_config(args)
    results = Results(args.json)
    obs = [
        make_obs(v, g, SIZES.get(v, (720, 576)), border_margin=3.0)
        for v, g in zip(VIEWS, gts, strict=True)
    ]
    total = 0.0
    fits = []
    for i in range(5):
        for j in range(i + 1, 5):
            t0 = time.perf_counter()
            g = fit_pair(obs[i], obs[j], geo)
            dt = time.perf_counter() - t0
            total += dt
            Hp, dtp = peer_fit(obs[i], obs[j])
            fits.append(
                {"pair": f"{VIEWS[i]}-{VIEWS[j]}", "mcmot s": dt,
                 "explained": explained(g.H, obs[i], obs[j]), "weight": g.quality.weight,
                 "gap": g.quality.sync_gap, "cv2 RANSAC s": dtp,
                 "cv2 explained": explained(Hp, obs[i], obs[j])}
            )  # fmt: skip
    formats = {"mcmot s": ".2f", "weight": ".2f", "gap": ".2f", "cv2 RANSAC s": ".2f"}
    results.table("pair fits (gt ids used only to score)", fits, formats)
    print(f"all 10 pairs: {total:.1f} s")
    cases = [
        ("gt ids, local per view", 0, 0),
        ("fragmented every ~50 rows", 50, 0),
        ("fragmented every ~20 rows", 20, 0),
        ("fragmented ~50 + 3 switches", 50, 3),
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, frag, sw in cases:
            for mode in ("offline", "online"):
                m, r, dt = run_case(
                    gts, Path(tmp) / "s", geo, fragment=frag, switches=sw, mode=mode
                )
                rows.append(
                    {"tracks": name, "mode": mode, **{k: m[k] for k in METRICS},
                     "ids": r.identities, "tracklets": r.tracklets, "seconds": dt}
                )  # fmt: skip
    results.table("association, geometry cue only", rows, {"seconds": ".1f"})


if __name__ == "__main__":
    main()
