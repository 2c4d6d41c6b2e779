"""The boxes-only chain on footage sampled sparsely: 25 frames/s against ~2 frames/s.

Input: synthetic scenes rendered at 25 frames/s (``mcmot synth --fps 25``,
3 cameras, 6 people, 300 frames = 12 s, seeds 9101 and up, used by nothing
else) and the same scenes with every 12th frame kept (frames renumbered
1, 2, ...; ``--fps 2``, 25 instants). On both: ``detect --from-gt`` (rows
shuffled within each frame), ``track --features none`` and ``associate``
with defaults (no features: geometry), ``evaluate``. Printed per scene:
the share of ground-truth boxes that ``track`` keeps in tracks, IDF1
within cameras and cross-view AIDF1, at both rates.

Run: ``python -m benchmarks.bench_low_frame_rate [--scenes 3] [--work DIR] [--set KEY=VALUE]
[--json PATH]`` (``--set``: a ``GeometryConfig`` field for association's geometry)
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.harness import (
    Results,
    add_geometry_settings,
    geometry_config,
    make_parser,
    print_machine,
)
from mcmot.association.config import AssociateConfig, GeometryConfig
from mcmot.motio import MotTable, read_mot, write_mot
from mcmot.scene import Scene
from mcmot.stages.associate import run_associate
from mcmot.stages.detect import DetectConfig, run_detect
from mcmot.stages.evaluate import EvaluateConfig, run_evaluate
from mcmot.stages.track import run_track
from mcmot.synth import SynthConfig, generate_scene
from mcmot.tracking import TrackerConfig

STEP = 12


def chain(
    root: Path, gts: dict[str, MotTable], fps: float, seed: int, geo: GeometryConfig
) -> dict[str, float]:
    if root.exists():
        shutil.rmtree(root)
    for cam, g in gts.items():
        write_mot(root / "gt" / f"{cam}.txt", g)
    sc = Scene(root)
    run_detect(sc, DetectConfig(from_gt=True))
    rng = np.random.default_rng(seed)
    for path in sc.stage_files("det").values():
        d = read_mot(path)
        o = np.lexsort((rng.random(len(d)), d.frames))
        write_mot(path, d.select(o))
    run_track(sc, TrackerConfig(fps=fps), features="none")
    kept = sum(len(read_mot(p)) for p in sc.stage_files("tracks").values())
    run_associate(sc, AssociateConfig(fps=fps, geometry=geo))
    m = run_evaluate([sc], EvaluateConfig(), write=False).combined()
    m_tracks = run_evaluate([sc], EvaluateConfig(pred="tracks"), write=False).combined()
    return {
        "kept": kept / sum(len(g) for g in gts.values()),
        "IDF1": float(m_tracks["IDF1"]),
        "AIDF1": float(m["AIDF1"]),
    }


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--scenes", type=int, default=3)
    ap.add_argument("--seed", type=int, default=9101)
    ap.add_argument("--work", type=Path, default=None, help="scene cache (default: temporary)")
    add_geometry_settings(ap)
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp())
    print_machine()
    print(f"input: {args.scenes} synthetic scenes (medium, seeds from {args.seed}), 3 cameras, "
          f"6 people, 300 frames at 25 frames/s; every {STEP}th frame at 2 frames/s")  # fmt: skip
    geo = geometry_config(args)
    rows = []
    for k in range(args.scenes):
        seed = args.seed + k
        src = work / f"synth-{seed}"
        if not (src / "gt").is_dir():
            generate_scene(src, SynthConfig(cameras=3, people=6, frames=300, fps=25.0, seed=seed))
        gts = {p.stem: read_mot(p) for p in sorted((src / "gt").glob("*.txt"))}
        low = {}
        for cam, g in gts.items():
            m = (g.frames - 1) % STEP == 0
            low[cam] = MotTable.from_arrays((g.frames[m] - 1) // STEP + 1, g.ids[m], g.boxes[m])
        full = chain(work / f"full-{seed}", gts, 25.0, seed, geo)
        sparse = chain(work / f"low-{seed}", low, 2.0, seed, geo)
        rows.append(_row(seed, full, sparse))
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "scene"}
    Results(args.json).table("frame rates", [*rows, {"scene": "mean", **mean}], title=False)


def _row(scene: object, full: dict[str, float], sparse: dict[str, float]) -> dict[str, object]:
    """One scene's row: its numbers at 25 frames/s, then at 2 frames/s."""
    return {
        "scene": scene,
        **{f"{k} (25/s)": v for k, v in full.items()},
        **{f"{k} (2/s)": v for k, v in sparse.items()},
    }


if __name__ == "__main__":
    main()
