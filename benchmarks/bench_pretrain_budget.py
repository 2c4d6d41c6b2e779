"""Whether `mcmot pretrain --minutes M` takes M minutes of wall time, with and without the teacher.

Each setting (``--teacher none``, then ``--teacher auto`` when the teacher is
installed, on the fastest runtime installed; ``auto:onnx`` forces ONNX
Runtime) runs ``--runs`` times in a fresh process on the same scene, one
after the other: the first run starts with the scene's pretraining cache
deleted (it crops every detection and computes the teacher's targets it
needs), the later ones find the cache the runs before them left. Wall time is
from the process's start to its exit, so it includes Python's start-up, the
imports, cropping, the teacher and the final checkpoint. The table gives each
run's wall time, its distance from the budget, the training steps it took and
how many crops had the teacher's targets after it. The run without the
teacher is the peer.

The scene is synthetic (``mcmot synth``; ``--cameras``, ``--people``,
``--frames``) with its ground-truth boxes as detections (``detect --from-gt``),
so detection, which pretraining runs first when det/ is missing and which the
budget leaves out, costs nothing here; ``--scene`` takes any scene with det/.

Usage::

    python -m benchmarks.bench_pretrain_budget [--minutes 3] [--runs 3] [--scene PATH]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.bench_startup import mcmot_command
from benchmarks.harness import Results, make_parser, print_machine

#: The scene's pretraining cache (mcmot.stages.pretrain_data.pretrain_cache).
CACHE = Path("cache") / "pretrain"


def make_scene(mcmot: list[str], root: Path, cameras: int, people: int, frames: int) -> None:
    """A synthetic scene at ``root`` with its ground truth copied into det/."""
    size = ["--cameras", str(cameras), "--people", str(people), "--frames", str(frames)]
    for args in (["synth", str(root), *size, "--seed", "3"], ["detect", str(root), "--from-gt"]):
        subprocess.run([*mcmot, *args], check=True, capture_output=True)


def cached_rows(scene: Path, pattern: str, key: str) -> int:
    """Rows of the array ``key`` over the scene's cache files matching ``pattern``."""
    import numpy as np

    rows = 0
    for path in (scene / CACHE).glob(pattern):
        with np.load(path) as z:
            rows += len(z[key])
    return rows


def one_run(mcmot: list[str], scene: Path, out: Path, minutes: float, teacher: str) -> dict:
    """Wall time and steps of one ``mcmot pretrain`` process."""
    argv = [*mcmot, "pretrain", str(scene), "--out", str(out), "--minutes", str(minutes)]
    name, _, runtime = teacher.partition(":")
    argv += ["--teacher", name, "--overwrite"]
    if runtime:
        argv += ["--set", f"teacher_runtime={runtime}"]
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr[-800:]}")
    steps = len((out / "log.jsonl").read_text().splitlines())
    return {"wall s": wall, "steps": steps}


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cameras", type=int, default=3)
    ap.add_argument("--people", type=int, default=6)
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--scene", type=Path, default=None, help="a scene with det/ (default: synth)")
    ap.add_argument(
        "--teachers",
        default="none,auto",
        help="comma-separated --teacher values; auto:onnx or auto:openvino also sets its runtime",
    )
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    print_machine(f"interpreter {sys.executable}")
    mcmot = mcmot_command()
    budget = args.minutes * 60.0
    with tempfile.TemporaryDirectory() as tmp:
        scene = args.scene
        if scene is None:
            scene = Path(tmp) / "scene"
            make_scene(mcmot, scene, args.cameras, args.people, args.frames)
        print(f"scene: {scene}; --minutes {args.minutes} ({budget:.0f} s); {args.runs} runs each")
        rows = []
        for teacher in args.teachers.split(","):
            shutil.rmtree(scene / CACHE, ignore_errors=True)
            for i in range(args.runs):
                got = one_run(mcmot, scene, Path(tmp) / f"run-{teacher}-{i}", args.minutes, teacher)
                rows.append(
                    {
                        "teacher": teacher,
                        "run": i + 1,
                        "cache": "cold" if i == 0 else "warm",
                        **got,
                        "vs budget %": 100.0 * (got["wall s"] - budget) / budget,
                        "steps": got["steps"],
                        "crops": cached_rows(scene, "crops-*.npz", "crops"),
                        "teacher crops": cached_rows(scene, "teacher-*.npz", "rows"),
                    }
                )
                print(rows[-1], flush=True)
    formats = {"wall s": ".1f", "vs budget %": "+.1f"}
    Results(args.json).table("pretrain budget", rows, formats, title=False)


if __name__ == "__main__":
    main()
