"""How often does the learned geometry get a camera pair right, and how much does luck decide?

The development set for geometry's fitting budget and trust rules
(docs/association.md): synthetic scenes generated here with seeds used
nowhere else (7301 and up by default; the pipeline benchmark holds out 8201
and up), 3 cameras, 6 people, 80 frames, 640x360. Tracks are the ground
truth with identities local to each camera, fragmented about every 40 rows
(``--boxes gt``, the default), or the motion-only tracker's tracks on the
shipped detector's boxes at imgsz 640 (``--boxes det``: boxes cover only
what is visible, people are missed and tracks break where they really do).
For every camera pair the ground-plane homography is fitted from those
tracks alone; the labels are used only here, to score it:

- overlap: true same-instant foot pairs (one person seen by both cameras,
  neither box cut by the border);
- explained: the share of them the homography maps within a quarter of a
  box height. A pair is *right* when it explains at least half;
- weight: the weight association gives the pair (0 = geometry switched off).

Each configuration runs with several RANSAC seeds (``--geo-seeds``): the
spread over seeds is how much luck decides. Reported per row: geometry-only
association (AIDF1, MHAA, pooled over the scenes; mean and range over seeds),
the pairs with an overlap of at least 50 that the fit gets wrong (per seed,
and for at least one seed), their mean share explained, the wrong pairs
association trusts (weight > 0) and the right ones it switches off. Peer,
same process: ``--peer`` settings (default: the RANSAC budget before this
benchmark, 3000 hypotheses, 4000 pre-scoring candidates, 8 finalists).
``--associate KEY=VALUE`` sets an ``AssociateConfig`` field for both rows
(``mode=online``: association frame by frame, with the geometry online mode
fits on its warm-up).

Run: ``python -m benchmarks.bench_geometry_synth [--scenes 15] [--difficulties medium,hard]
[--boxes gt|det] [--set KEY=VALUE] [--peer KEY=VALUE | --no-peer] [--associate KEY=VALUE]
[--geo-seeds 4] [--pairs] [--json PATH]``
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.common import variant
from benchmarks.harness import (
    Results,
    add_association_settings,
    add_geometry_settings,
    association_config,
    make_parser,
    print_machine,
)
from benchmarks.simulate import tracks_from_gt
from mcmot.association.config import AssociateConfig, GeometryConfig
from mcmot.association.data import make_obs
from mcmot.association.geometry import PairGeometry
from mcmot.association.homography import candidates, pair_errors
from mcmot.config import apply_settings
from mcmot.metrics.crossview import combine_crossview, crossview_counts
from mcmot.motio import read_mot, write_mot
from mcmot.stages.associate import run_associate
from mcmot.stages.detect import DetectConfig, run_detect
from mcmot.stages.track import run_track
from mcmot.synth import SynthConfig, generate_scene

#: A fit explaining at least this share of the true foot pairs is right.
RIGHT = 0.5
#: Within this many box heights a true foot pair counts as explained.
EXPLAINED_WITHIN = 0.25
#: The ground truth is split into tracklets about this often (rows).
FRAGMENT_EVERY = 40
#: Image size of every generated camera (width, height).
SIZE = (640, 360)
#: The detector's input size for ``--boxes det`` (the pipeline benchmark's).
DET_IMGSZ = 640


@dataclass(frozen=True)
class PairScore:
    """One camera pair under one configuration, scored with the labels."""

    scene: str
    pair: str
    overlap: int
    explained: float
    weight: float

    @property
    def right(self) -> bool:
        return self.overlap > 0 and self.explained >= RIGHT


def make_scenes(work: Path, args: argparse.Namespace) -> list[tuple[str, Path]]:
    """Generate (or reuse) the scenes and write their fragmented tracks."""
    out = []
    for difficulty in args.difficulties.split(","):
        for k in range(args.scenes):
            seed = args.seed + k
            name = f"{difficulty}-{seed}"
            root = work / f"{name}-c{args.cameras}p{args.people}f{args.frames}"
            if not (root / "gt").is_dir():
                cfg = SynthConfig(
                    cameras=args.cameras, people=args.people, frames=args.frames,
                    width=SIZE[0], height=SIZE[1], seed=seed, difficulty=difficulty,
                )  # fmt: skip
                generate_scene(root, cfg)
            if args.boxes == "det":
                root = detector_tracks(root, work / f"{root.name}-det")
            else:
                gt_tracks(root, seed)
            out.append((name, root))
    return out


def scenes_by_difficulty(args: argparse.Namespace) -> Iterator[tuple[str, list[tuple[str, Path]]]]:
    """(difficulty, its (name, root) scenes) of :func:`make_scenes`, in ``args.work``
    or a temporary folder removed after the last difficulty."""
    with tempfile.TemporaryDirectory() as tmp:
        scenes = make_scenes(args.work or Path(tmp), args)
        for difficulty in args.difficulties.split(","):
            yield difficulty, [s for s in scenes if s[0].startswith(difficulty + "-")]


def gt_tracks(root: Path, seed: int) -> None:
    """``tracks/``: the ground truth with local identities, fragmented."""
    rng = np.random.default_rng(seed)
    for j, gt_path in enumerate(sorted((root / "gt").glob("*.txt"))):
        t = tracks_from_gt(
            read_mot(gt_path), rng, fragment_every=FRAGMENT_EVERY, first_id=100 * (j + 1) + 1
        )
        write_mot(root / "tracks" / gt_path.name, t.sorted())


def detector_tracks(root: Path, out: Path) -> Path:
    """A scene beside ``root`` (pixels and ``gt/`` linked) with the detector's
    boxes and the motion-only tracker's tracks; kept for later runs (an
    interrupted run, with some camera's tracks missing, is done again)."""
    cams = [p.name for p in (root / "gt").glob("*.txt")]
    if cams and all((out / "tracks" / c).is_file() for c in cams):
        return out
    scene = variant(root, out)
    run_detect(scene, DetectConfig(imgsz=DET_IMGSZ), overwrite=True)
    run_track(scene, features="none", overwrite=True)
    return out


def score_pairs(
    name: str, root: Path, geometry: dict[tuple[str, str], PairGeometry]
) -> list[PairScore]:
    """Label-using score of each fitted pair: overlap and share explained."""
    gts = {p.stem: read_mot(p) for p in sorted((root / "gt").glob("*.txt"))}
    margin = GeometryConfig().border_margin
    obs = {c: make_obs(c, g, SIZE, border_margin=margin) for c, g in gts.items()}
    out = []
    for (a, b), g in geometry.items():
        c = candidates(obs[a], obs[b])
        true = c.ta == c.tb
        err = pair_errors(g.H, c.pa[true], c.pb[true], c.ha[true], c.hb[true])
        out.append(
            PairScore(
                scene=name,
                pair=f"{a}-{b}",
                overlap=int(true.sum()),
                explained=float((err < EXPLAINED_WITHIN).mean()) if true.any() else 0.0,
                weight=g.quality.weight,
            )
        )
    return out


def run_config(
    scenes: list[tuple[str, Path]], cfg: AssociateConfig, frames: int
) -> tuple[list[PairScore], dict[str, float], float]:
    """Associate every scene with ``cfg``; (pair scores, pooled metrics, seconds)."""
    pairs, counts, seconds = [], [], 0.0
    for name, root in scenes:
        t0 = time.perf_counter()
        res = run_associate(root, cfg, overwrite=True)
        seconds += time.perf_counter() - t0
        pairs += score_pairs(name, root, res.geometry)
        gts = [read_mot(p) for p in sorted((root / "gt").glob("*.txt"))]
        preds = [read_mot(root / "global" / p.name) for p in sorted((root / "gt").glob("*.txt"))]
        counts.append(crossview_counts(list(zip(gts, preds, strict=True)), 1, frames))
    return pairs, combine_crossview(counts), seconds


#: What ``--boxes`` gives the geometry, as the header says it.
TRACKS = {
    "gt": f"gt with local ids, fragmented ~{FRAGMENT_EVERY} rows",
    "det": f"motion-only tracker on the detector's boxes (imgsz {DET_IMGSZ})",
}
#: Pairs with at least this many true foot pairs should be found.
CLEAR_OVERLAP = 50
#: The RANSAC budget before this benchmark (the default peer).
OLD_BUDGET = ("hypotheses=3000", "prescore_candidates=4000", "finalists=8")


@dataclass(frozen=True)
class SeedRun:
    """One configuration with one RANSAC seed over all scenes of a difficulty."""

    pairs: list[PairScore]
    metrics: dict[str, float]
    seconds: float

    def clear(self) -> list[PairScore]:
        return [p for p in self.pairs if p.overlap >= CLEAR_OVERLAP]


def _range(values: list[float], spec: str = ".3f") -> str:
    return f"{min(values):{spec}}-{max(values):{spec}}"


def summary(runs: list[SeedRun]) -> dict[str, object]:
    """One row over the seeds of a configuration: means, and ranges where they matter."""
    aidf1 = [r.metrics["AIDF1"] for r in runs]
    mhaa = [r.metrics["MHAA"] for r in runs]
    failed = [sum(not p.right for p in r.clear()) for r in runs]
    expl = [np.mean([p.explained for p in r.clear()]) if r.clear() else 0.0 for r in runs]
    ever_wrong = sum(
        any(not p.right for p in ps) for ps in zip(*(r.clear() for r in runs), strict=True)
    )
    trusted_wrong = [sum(p.weight > 0 and not p.right for p in r.pairs) for r in runs]
    off_right = [sum(p.weight == 0 and p.right for p in r.pairs) for r in runs]
    return {
        "AIDF1": np.mean(aidf1),
        "AIDF1 range": _range(aidf1),
        "MHAA": np.mean(mhaa),
        "MHAA range": _range(mhaa),
        "s": np.mean([r.seconds for r in runs]),
        f"pairs overlap >= {CLEAR_OVERLAP}": len(runs[0].clear()),
        "wrong": np.mean(failed),
        "wrong range": _range(failed, "d"),
        "wrong for some seed": ever_wrong,
        "explained": np.mean(expl),
        "trusted wrong": np.mean(trusted_wrong),
        "right switched off": np.mean(off_right),
    }


#: How the summary's columns print.
SUMMARY_FORMATS = {"s": ".1f", "wrong": ".1f", "trusted wrong": ".1f", "right switched off": ".1f"}


def per_pair_table(rows: dict[str, SeedRun]) -> str:
    """Every pair under the first seed of each configuration."""
    names = list(rows)
    head = f"{'scene':14} {'pair':10} {'overlap':>7} "
    head += " ".join(f"{'expl/w ' + n:>18}" for n in names)
    lines = [head]
    for ps in zip(*(r.pairs for r in rows.values()), strict=True):
        p = ps[0]
        lines.append(
            f"{p.scene:14} {p.pair:10} {p.overlap:7d} "
            + " ".join(f"{q.explained:13.2f}/{q.weight:4.2f}" for q in ps)
        )
    return "\n".join(lines)


def add_scene_options(ap: argparse.ArgumentParser) -> None:
    """The options of :func:`make_scenes` (which scenes, which tracks, where cached)."""
    ap.add_argument("--work", type=Path, default=None, help="scene cache (default: temporary)")
    ap.add_argument("--difficulties", default="medium,hard")
    ap.add_argument("--scenes", type=int, default=15, help="scenes per difficulty")
    ap.add_argument("--seed", type=int, default=7301, help="seed of the first scene")
    ap.add_argument("--cameras", type=int, default=3)
    ap.add_argument("--people", type=int, default=6)
    ap.add_argument("--frames", type=int, default=80)
    ap.add_argument(
        "--boxes", choices=("gt", "det"), default="gt",
        help="tracks from fragmented ground truth, or the tracker on the detector's boxes",
    )  # fmt: skip


def scenes_line(args: argparse.Namespace) -> str:
    """The input line of a benchmark on :func:`make_scenes`' scenes."""
    return (
        f"input: {args.scenes} scenes per difficulty ({args.difficulties}), seeds from "
        f"{args.seed}, {args.cameras} cameras, {args.people} people, {args.frames} frames, "
        f"{SIZE[0]}x{SIZE[1]}; tracks = {TRACKS[args.boxes]}; "
        f"RANSAC seeds 0-{args.geo_seeds - 1}"
    )


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    add_scene_options(ap)
    ap.add_argument("--geo-seeds", type=int, default=4, help="RANSAC seeds per configuration")
    add_geometry_settings(ap)  # --set: the tested row's settings
    ap.add_argument(
        "--peer", action="append", default=None, metavar="KEY=VALUE",
        help="a GeometryConfig field of the peer row (repeatable; default: the old budget)",
    )  # fmt: skip
    add_association_settings(ap)
    ap.add_argument("--no-peer", action="store_true", help="the tested row only")
    ap.add_argument("--pairs", action="store_true", help="also print every pair (first seed)")
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    peer = args.peer if args.peer is not None else list(OLD_BUDGET)
    configs = {
        "peer": apply_settings(GeometryConfig(), peer),
        "tested": apply_settings(GeometryConfig(), args.set),
    }
    if args.no_peer:
        del configs["peer"]
    print_machine()
    print(scenes_line(args))
    if not args.no_peer:
        print(f"peer:   defaults + {' '.join(peer) or '(nothing)'}")
    print(f"tested: defaults + {' '.join(args.set) or '(nothing)'}")
    base = association_config(args, AssociateConfig(cues="geometry"))
    results = Results(args.json)
    rows: list[dict[str, object]] = []
    for difficulty, subset in scenes_by_difficulty(args):
        first = {}
        for label, geo in configs.items():
            runs = [
                SeedRun(
                    *run_config(
                        subset,
                        dataclasses.replace(base, geometry=dataclasses.replace(geo, seed=k)),
                        args.frames,
                    )
                )
                for k in range(args.geo_seeds)
            ]
            first[label] = runs[0]
            rows.append({"difficulty": difficulty, "config": label, **summary(runs)})
        if args.pairs:
            print(f"\n{difficulty}, every pair (first seed):\n" + per_pair_table(first))
    results.table("geometry", rows, SUMMARY_FORMATS)


if __name__ == "__main__":
    main()
