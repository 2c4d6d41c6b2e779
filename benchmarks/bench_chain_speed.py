"""Timesteps per second of `extract-features`, `track` and `associate`, as a user runs them.

Each stage is its own ``mcmot`` process (start-up included), on boxes that
are already there (detection is not part of the chain measured). Scenes:

- **synthetic**: ``mcmot synth`` with ``--cameras`` 4, ``--people`` 10,
  ``--frames`` 200, its ground-truth boxes copied into det/ (``detect
  --from-gt``);
- **EPFL terrace clip** (when the shared data holds it): the 4 real views of
  frames 2000-2124 of terrace1 (125 frames), with the clip's ground-truth boxes
  (``benchmarks/data/epfl-terrace1-clip/gt``) copied into det/.

Chains: CalibFree features (``cpu`` preset; the weights do not change the
time, so an encoder trained for one epoch on the synthetic scene serves) on
torch in float32, on OpenVINO (when installed) in its default precision, and
at extract-features' defaults (what measured fastest: torch, bfloat16 where
the CPU has it), then ``track`` and ``associate`` at their defaults (and
once with ``associate --static-cameras``, which skips the search for moving
cameras' time windows: every camera here is fixed); and the boxes-only chain
(``track --features none``, ``associate --cues geometry``) as the peer. A
timestep is one frame of every camera; timesteps/s is the scene's frames over
the chain's summed wall time.

Usage::

    python -m benchmarks.bench_chain_speed [--work W] [--repeats 1]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.bench_startup import mcmot_command
from benchmarks.harness import Results, find_data, make_parser, print_machine
from mcmot.runtimes import backend_installed

CLIP_GT = Path(__file__).resolve().parent / "data" / "epfl-terrace1-clip" / "gt"


def sh(argv: list[str]) -> float:
    """Wall seconds of one command, which must exit 0."""
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr[-600:]}")
    return time.perf_counter() - start


def synthetic(mcmot: list[str], root: Path, args: argparse.Namespace) -> Path:
    if not (root / "det").is_dir():
        size = ["--cameras", str(args.cameras), "--people", str(args.people)]
        sh([*mcmot, "synth", str(root), *size, "--frames", str(args.frames), "--seed", "5"])
        sh([*mcmot, "detect", str(root), "--from-gt"])
    return root


def epfl_clip(mcmot: list[str], root: Path) -> Path | None:
    data = find_data()
    videos = None if data is None else data / "epfl-terrace1-clip" / "videos"
    if videos is None or not videos.is_dir():
        return None
    if not (root / "det").is_dir():
        shutil.copytree(videos, root / "videos", dirs_exist_ok=True)
        shutil.copytree(CLIP_GT, root / "gt", dirs_exist_ok=True)
        sh([*mcmot, "detect", str(root), "--from-gt"])
    return root


def frames_of(scene: Path) -> int:
    """The scene's timesteps: the most frames a det/ file reaches."""
    last = 0
    for path in (scene / "det").glob("*.txt"):
        for line in path.read_text().splitlines():
            last = max(last, int(float(line.split(",", 1)[0])))
    return last


def chains(model: Path) -> dict[str, list[list[str]]]:
    """Each chain's stage commands, without the ``mcmot SCENE`` part and ``--overwrite``."""
    features = ["extract-features", "--model", str(model), "--device", "cpu"]
    out = {"CalibFree torch f32": [[*features, "--runtime", "torch", "--precision", "f32"]]}
    if backend_installed("openvino"):
        out["CalibFree openvino (its default precision)"] = [[*features, "--runtime", "openvino"]]
    out["CalibFree defaults"] = [features]
    out = {name: [*stages, ["track"], ["associate"]] for name, stages in out.items()}
    out["defaults, static cameras"] = [features, ["track"], ["associate", "--static-cameras"]]
    boxes_only = [["track", "--features", "none"], ["associate", "--cues", "geometry"]]
    out["boxes only (peer)"] = boxes_only
    return out


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--work", type=Path, default=Path("/tmp/mcmot-chain-speed"))
    ap.add_argument("--repeats", type=int, default=1, help="runs of each chain (the fastest kept)")
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--people", type=int, default=10)
    ap.add_argument("--frames", type=int, default=200)
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    mcmot = mcmot_command()
    args.work.mkdir(parents=True, exist_ok=True)
    scenes = {"synthetic": synthetic(mcmot, args.work / "synthetic", args)}
    clip = epfl_clip(mcmot, args.work / "epfl-clip")
    if clip is not None:
        scenes["EPFL terrace clip"] = clip
    model = args.work / "model" / "checkpoint.pt"
    if not model.is_file():
        sh([*mcmot, "pretrain", str(scenes["synthetic"]), "--out", str(model.parent),
            "--epochs", "1", "--teacher", "none", "--boxes", "gt", "--overwrite"])  # fmt: skip
    print_machine(f"mcmot = {' '.join(mcmot)}; fastest of {args.repeats} run(s)")
    rows = []
    for name, scene in scenes.items():
        frames = frames_of(scene)
        for chain, stages in chains(model).items():
            best: list[float] | None = None
            for _ in range(args.repeats):
                times = [sh([*mcmot, s[0], str(scene), *s[1:], "--overwrite"]) for s in stages]
                best = times if best is None or sum(times) < sum(best) else best
            assert best is not None
            row = {"scene": name, "timesteps": frames, "chain": chain}
            for s, t in zip(stages, best, strict=True):
                row[f"{s[0]} s"] = t
            rows.append({**row, "total s": sum(best), "timesteps/s": frames / sum(best)})
            print(rows[-1], flush=True)
    formats = {k: ".1f" for r in rows for k in r if k.endswith(" s") or k == "timesteps/s"}
    Results(args.json).table("features + track + associate", rows, formats, title=False)


if __name__ == "__main__":
    main()
