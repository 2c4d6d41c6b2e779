"""Time ``mcmot evaluate`` against motmetrics' own pipeline on the same large input.

Input: the mvmhat-sample files (../shared/data/mvmhat-sample, 11 views of 3
sequences) repeated in time (``--repeat`` copies, frames shifted) into three
scenes: about 120k boxes (ground truth + predictions) with the default 2.

Measured, best of ``--runs``:

- mcmot, end to end: ``run_evaluate`` (read the files, CLEAR + identity +
  HOTA per camera, cross-view AIDP/AIDR/MHAA per scene, write eval.json);
- mcmot, metrics only (tables already in memory);
- motmetrics, end to end: ``mm.io.loadtxt`` + ``mm.utils.compare_to_groundtruth``
  (its accumulators; the numpy-2-safe IoU swapped in for its ``iou_matrix``)
  + ``mh.compute_many`` of the CLEAR and identity metrics;
- motmetrics, metrics only (data frames already in memory);
- motmetrics fed directly: its accumulators updated from in-memory arrays
  (``benchmarks.mmref``, no pandas grouping) + ``compute_many``, the
  fastest way we found to drive it.

Usage: python -m benchmarks.bench_evaluate [--repeat 2] [--runs 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.harness import Results, data_or_exit, make_parser, print_machine
from benchmarks.mmref import MM_METRICS, mm_accumulator, mm_summary
from mcmot.boxes import iou_matrix
from mcmot.motio import MotTable, read_mot, write_mot
from mcmot.scene import Scene
from mcmot.stages.evaluate import EvaluateConfig, compute_scene, load_scene, run_evaluate

SEQS = {1: 4, 2: 4, 6: 3}


def _repeat(table: MotTable, times: int, span: int) -> MotTable:
    """``times`` copies of ``table``, copy k shifted by ``k * span`` frames."""
    return MotTable(
        frames=np.concatenate([table.frames + k * span for k in range(times)]),
        ids=np.tile(table.ids, times),
        boxes=np.tile(table.boxes, (times, 1)),
        scores=np.tile(table.scores, times),
        extra=np.tile(table.extra, (times, 1)),
    )


def build_input(data: Path, folder: Path, times: int) -> tuple[list[Path], int]:
    """Scenes seq1, seq2, seq6 of ``data`` with every file repeated ``times`` times in time."""
    scenes, boxes = [], 0
    for seq, n_views in SEQS.items():
        root = folder / f"seq{seq}"
        for v in range(1, n_views + 1):
            gt = read_mot(data / "gt" / f"{seq}_{v}.txt")
            pr = read_mot(data / "res" / f"{seq}_{v}.txt")
            span = int(gt.frames.max()) + 1
            for src, dst in ((gt, "gt"), (pr, "global")):
                rep = _repeat(src, times, span)
                write_mot(root / dst / f"{v}.txt", rep)
                boxes += len(rep)
        scenes.append(root)
    return scenes, boxes


def _safe_iou_matrix(objs, hyps, max_iou=1.0):
    """motmetrics' iou_matrix (distance 1 - IoU, NaN above max_iou) without np.asfarray."""
    if np.size(objs) == 0 or np.size(hyps) == 0:
        return np.empty((0, 0))
    dist = 1.0 - iou_matrix(np.asarray(objs, float), np.asarray(hyps, float))
    return np.where(dist > max_iou, np.nan, dist)


def motmetrics_pipeline(pairs: list[tuple[object, object]], names: list[str]):
    """Accumulate every camera with motmetrics and compute CLEAR + identity, pooled."""
    import motmetrics as mm

    accs = [mm.utils.compare_to_groundtruth(g, p, "iou", distth=0.5) for g, p in pairs]
    mh = mm.metrics.create()
    return mh.compute_many(accs, metrics=MM_METRICS, names=names, generate_overall=True)


def best_of(runs: int, func: Callable[[], object]) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - t0)
    return best, out


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--repeat", type=int, default=2, help="copies of the sample in time")
    ap.add_argument("--runs", type=int, default=3, help="timed runs; the best is shown")
    ap.add_argument(
        "--data", type=Path, default=None, help="the mvmhat-sample folder (default: shared data)"
    )
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    data = data_or_exit(args.data, "mvmhat-sample")

    import motmetrics as mm
    import torch

    torch.set_num_threads(1)
    mm.utils.iou_matrix = _safe_iou_matrix  # numpy 2: motmetrics' own calls np.asfarray

    with tempfile.TemporaryDirectory() as tmp:
        roots, boxes = build_input(data, Path(tmp), args.repeat)
        scenes = [Scene(r) for r in roots]
        cfg = EvaluateConfig()

        t_ours, result = best_of(args.runs, lambda: run_evaluate(scenes, cfg))
        inputs = [load_scene(s, cfg) for s in scenes]
        t_ours_mem, _ = best_of(args.runs, lambda: [compute_scene(i, cfg) for i in inputs])

        files = [
            (root / "gt" / f"{v}.txt", root / "global" / f"{v}.txt", f"{root.name}/{v}")
            for root, n in zip(roots, SEQS.values(), strict=True)
            for v in range(1, n + 1)
        ]
        names = [f[2] for f in files]

        def mm_end_to_end():
            pairs = [(mm.io.loadtxt(str(g)), mm.io.loadtxt(str(p))) for g, p, _ in files]
            return motmetrics_pipeline(pairs, names)

        t_mm, summary = best_of(args.runs, mm_end_to_end)
        frames = [(mm.io.loadtxt(str(g)), mm.io.loadtxt(str(p))) for g, p, _ in files]
        t_mm_mem, _ = best_of(args.runs, lambda: motmetrics_pipeline(frames, names))
        tables = [(read_mot(g), read_mot(p)) for g, p, _ in files]
        t_mm_direct, _ = best_of(
            args.runs, lambda: mm_summary([mm_accumulator(g, p) for g, p in tables], names)
        )

    combined = result.combined()
    overall = summary.loc["OVERALL"]
    same = (
        abs(combined["MOTA"] - overall["mota"]) < 1e-9
        and abs(combined["IDF1"] - overall["idf1"]) < 1e-9
        and combined["IDSW"] == overall["num_switches"]
    )
    mm_version = getattr(mm, "__version__", "?")
    print_machine(f"motmetrics {mm_version}")
    print(
        f"input: mvmhat-sample x{args.repeat} in time, 3 scenes, 11 cameras, {boxes} boxes "
        f"(ground truth + predictions); best of {args.runs} runs"
    )
    print(
        f"same CLEAR/identity numbers in both: {same} (MOTA {combined['MOTA']:.6f}, "
        f"IDF1 {combined['IDF1']:.6f}, IDSW {combined['IDSW']})"
    )
    print()
    rows = [
        ("mcmot evaluate, end to end", "CLEAR+ID+HOTA+cross-view", t_ours),
        ("mcmot, metrics only", "CLEAR+ID+HOTA+cross-view", t_ours_mem),
        ("motmetrics, end to end", "CLEAR+ID", t_mm),
        ("motmetrics, metrics only", "CLEAR+ID", t_mm_mem),
        ("motmetrics fed directly", "CLEAR+ID", t_mm_direct),
    ]
    table = [
        {"pipeline": name, "metrics": what, "seconds": sec, "boxes/s": boxes / sec}
        for name, what, sec in rows
    ]
    Results(args.json).table("evaluate", table, {"boxes/s": ".0f"}, title=False)
    print()
    print(
        f"mcmot (all metrics) vs motmetrics (CLEAR+ID): end to end {t_mm / t_ours:.1f}x faster, "
        f"metrics only {t_mm_mem / t_ours_mem:.1f}x, vs motmetrics fed directly "
        f"{t_mm_direct / t_ours_mem:.1f}x"
    )


if __name__ == "__main__":
    main()
