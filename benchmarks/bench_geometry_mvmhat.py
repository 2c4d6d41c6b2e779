"""Geometry-only cross-view association on real 30 frames/s ground truth (MvMHAT).

Input: ``../shared/data/mvmhat-sample/gt/`` (sequences 1, 2, 6 of the MvMHAT
benchmark, cropped to the frames the benchmark evaluates: 800-1200,
800-1200, 1000-1500; 4, 4 and 3 hand-held views). The boxes-only chain a
user runs: ``detect --from-gt`` (identities dropped, rows shuffled within
each frame so their order says nothing), ``track --features none --fps 30``
(identities local to each view), ``associate --cues geometry --fps 30``,
``evaluate`` (AIDF1, MHAA against the benchmark's own global identities).

Repeats: each repeat shuffles the detection rows anew (tracking does not
depend on their order, so the tracks are the same) and fits geometry with
another RANSAC seed: the spread over repeats is what the draws decide.

Peer, same run and same tracks: a plain per-pair RANSAC homography fitted
on the same-instant foot pairs of each 50-frame window (mcmot's RANSAC with
its default budget and degeneracy checks: OpenCV's ``findHomography`` on
all candidates returns degenerate fits here), every window trusted, fed to
the same association through ``associate --geometry``.

These three sequences are the only real 30 frames/s multi-view data here:
the moving-camera windows and the motion-chosen synchronization shifts were
developed on them, so they are development data, not held-out data.

Run: ``python -m benchmarks.bench_geometry_mvmhat [--data ../shared/data] [--repeats 3]
[--set KEY=VALUE] [--associate KEY=VALUE] [--json PATH]`` (``--set``: a ``GeometryConfig``
field for mcmot's row, e.g. a trust rule under test; ``--associate``: an
``AssociateConfig`` field for both rows, e.g. ``mode=online``, where mcmot's row fits
its geometry on online mode's warm-up). The JSON also holds every repeat's raw results.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.harness import (
    Results,
    add_association_settings,
    add_geometry_settings,
    association_config,
    data_or_exit,
    geometry_config,
    make_parser,
    print_machine,
)
from mcmot.association.config import AssociateConfig, GeometryConfig
from mcmot.association.data import CameraObs
from mcmot.association.geometry import PairGeometry, save_geometry
from mcmot.association.homography import fit_homography
from mcmot.association.quality import PairQuality
from mcmot.association.windows import WindowFit
from mcmot.motio import read_mot, write_mot
from mcmot.scene import Scene
from mcmot.stages.associate import build_obs, run_associate
from mcmot.stages.detect import DetectConfig, run_detect
from mcmot.stages.evaluate import EvaluateConfig, run_evaluate
from mcmot.stages.track import run_track
from mcmot.tracking import TrackerConfig

#: sequence -> number of views
SEQUENCES = {1: 4, 2: 4, 6: 3}
FPS = 30.0
#: The peer's window (frames) and its geometric gate (box heights).
PEER_WINDOW = 50
PEER_THRESHOLD = 0.25


def make_scene(data: Path, seq: int, root: Path, rng: np.random.Generator) -> Scene:
    """A boxes-only scene: gt/ copied, det/ from it, tracks/ from det/."""
    if root.exists():
        shutil.rmtree(root)
    for v in range(1, SEQUENCES[seq] + 1):
        (root / "gt").mkdir(parents=True, exist_ok=True)
        shutil.copy(data / "mvmhat-sample" / "gt" / f"{seq}_{v}.txt", root / "gt" / f"c{v}.txt")
    sc = Scene(root)
    run_detect(sc, DetectConfig(from_gt=True))
    for path in sorted((root / "det").glob("*.txt")):
        det = read_mot(path)
        # shuffle rows within each frame: the tracker must not see the gt's id order
        order = np.lexsort((rng.random(len(det)), det.frames))
        write_mot(path, det.select(order))
    run_track(sc, TrackerConfig(fps=FPS), features="none")
    return sc


def peer_pair(a: CameraObs, b: CameraObs) -> PairGeometry:
    """Per-window plain RANSAC homographies a -> b, every window fully trusted."""
    common = np.intersect1d(a.frames, b.frames)
    rng = np.random.default_rng(0)
    windows = []
    for s in range(int(common[0]), int(common[-1]) + 1, PEER_WINDOW):
        e = s + PEER_WINDOW - 1
        H = fit_homography(a.window(s, e), b.window(s, e), GeometryConfig(), rng)
        q = PairQuality(gate=PEER_THRESHOLD, weight=0.0 if H is None else 1.0)
        windows.append(WindowFit(s, e, np.eye(3) if H is None else H, q))
    return PairGeometry(a.name, b.name, np.eye(3), PairQuality(), True, tuple(windows))


def score(scenes: list[Scene]) -> dict[str, dict[str, float]]:
    res = run_evaluate(scenes, EvaluateConfig(), write=False)
    out = {n: res.scene_summary(n) for n in res.scenes}
    out["combined"] = res.combined()
    return {k: {m: float(v[m]) for m in ("AIDF1", "MHAA", "AIDP", "AIDR")} for k, v in out.items()}


def run(
    data: Path, work: Path, seed: int, geo: GeometryConfig, base: AssociateConfig
) -> dict[str, dict[str, dict[str, float]]]:
    """Both geometries on one shuffle of the detection rows, mcmot's (``geo``) with
    RANSAC seed ``seed``, association's other settings from ``base``."""
    rng = np.random.default_rng(seed)
    scenes = {seq: make_scene(data, seq, work / f"seq{seq}", rng) for seq in SEQUENCES}
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name in ("mcmot", "plain RANSAC, 50-frame windows"):
        t0 = time.perf_counter()
        for seq, sc in scenes.items():
            cfg = replace(base, geometry=replace(geo, seed=seed))
            if name != "mcmot":
                tracks = {c: read_mot(sc.path("tracks", c)) for c in _cams(sc)}
                obs = build_obs(sc, tracks, cfg, False)
                pairs = {
                    (obs[i].name, obs[j].name): peer_pair(obs[i], obs[j])
                    for i in range(len(obs))
                    for j in range(i + 1, len(obs))
                }
                path = work / f"peer{seq}.json"
                save_geometry(path, pairs)
                cfg = replace(base, geometry_path=str(path))
            run_associate(sc, cfg, overwrite=True)
        results[name] = score(list(scenes.values()))
        results[name]["seconds"] = {"all": time.perf_counter() - t0}
    return results


def _cams(sc: Scene) -> list[str]:
    return [p.stem for p in sorted(sc.stage_dir("tracks").glob("*.txt"))]


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--data", type=Path, default=None, help="default: the shared data folder")
    ap.add_argument("--repeats", type=int, default=3, help="row shuffles, each with a RANSAC seed")
    add_geometry_settings(ap)
    add_association_settings(ap)
    return ap


def _spread(v: list[float]) -> str:
    return f"{np.mean(v):.3f} [{min(v):.3f}-{max(v):.3f}]"


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    data = data_or_exit(args.data)
    if not (data / "mvmhat-sample" / "gt").is_dir():
        raise SystemExit(f"error: no mvmhat-sample/gt under {data} (--data)")
    with tempfile.TemporaryDirectory() as tmp:
        geo = geometry_config(args)
        base = association_config(args, AssociateConfig(cues="geometry", fps=FPS))
        runs = [run(data, Path(tmp), seed, geo, base) for seed in range(args.repeats)]
    boxes = sum(
        len(read_mot(data / "mvmhat-sample" / "gt" / f"{s}_{v}.txt"))
        for s, n in SEQUENCES.items()
        for v in range(1, n + 1)
    )
    print_machine()
    print(
        f"input: MvMHAT sequences 1, 2, 6 (11 views, {boxes} gt boxes, 30 frames/s); "
        f"{args.repeats} repeats (row shuffle and RANSAC seed 0-{args.repeats - 1}): "
        "mean [min-max]"
    )
    rows = []
    for name in runs[0]:
        keys = [k for k in runs[0][name] if k != "seconds"]
        for k in keys:
            cells = {m: _spread([r[name][k][m] for r in runs]) for m in ("AIDF1", "MHAA")}
            rows.append({"geometry": name, "seq": k, **cells, "s per run": None})
        means = [np.mean([r[name][k]["AIDF1"] for k in keys if k != "combined"]) for r in runs]
        secs = np.mean([r[name]["seconds"]["all"] for r in runs])
        rows.append(
            {"geometry": name, "seq": "seq mean", "AIDF1": _spread(means), "MHAA": None,
             "s per run": secs}
        )  # fmt: skip
    results = Results(args.json, info={"runs": runs})
    results.table("geometry", rows, {"s per run": ".1f"}, title=False)


if __name__ == "__main__":
    main()
