"""What a command costs before it does any work: wall time and peak memory of short calls.

Each command runs ``--repeats`` times in a fresh process, interleaved (one
round of every command, then the next round), and the table gives the
medians: wall time from start to exit, and the process's peak resident
memory (``ru_maxrss`` of that child, from ``os.wait4``). The references are
``python -c pass`` (the interpreter alone) and ``python -c 'import torch'``;
the last columns divide each command by the torch import.

The scene is a small synthetic one (``--cameras``, ``--frames``), made in a
temporary folder by the CLI: ``mcmot synth``, ``detect --from-gt``, ``track
--features none``, ``associate --cues geometry``. The script itself imports
only the standard library: a child's peak memory counts what its parent held
when it was started, so a parent holding numpy or cv2 would inflate every row.

Usage: python -m benchmarks.bench_startup [--repeats 5] [--cameras 3] [--frames 60] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.harness import Results, make_parser, print_machine


def make_scene(mcmot: list[str], root: Path, cameras: int, frames: int) -> int:
    """A synthetic scene at ``root`` with det/ (from gt), tracks/ and global/; its gt rows."""
    scene = str(root)
    size = ["--people", "4", "--size", "320x180", "--seed", "1"]
    for args in (
        ["synth", scene, "--cameras", str(cameras), "--frames", str(frames), *size],
        ["detect", scene, "--from-gt"],
        ["track", scene, "--features", "none"],
        ["associate", scene, "--cues", "geometry"],
    ):
        subprocess.run([*mcmot, *args], check=True, capture_output=True)
    return sum(len(p.read_text().splitlines()) for p in (root / "gt").glob("*.txt"))


TRACK = ["--features", "none", "--overwrite"]


def mcmot_command() -> list[str]:
    """The ``mcmot`` console script beside this Python, else ``python -m mcmot``."""
    script = Path(sys.executable).with_name("mcmot")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "mcmot"]


def measure(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, peak resident MB) of one run of ``argv``; it must exit 0."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {stderr[-500:]}")
    return seconds, usage.ru_maxrss / 1024  # kilobytes on Linux


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cameras", type=int, default=3)
    ap.add_argument("--frames", type=int, default=60)
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    print_machine(f"interpreter {sys.executable}")
    mcmot = mcmot_command()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "scene"
        boxes = make_scene(mcmot, root, args.cameras, args.frames)
        print(
            f"scene: {args.cameras} cameras x {args.frames} frames, {boxes} ground-truth "
            f"boxes; mcmot = {' '.join(mcmot)}; {args.repeats} runs each, medians"
        )
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "python -c 'import torch'": [sys.executable, "-c", "import torch"],
            "mcmot --version": [*mcmot, "--version"],
            "mcmot --help": [*mcmot, "--help"],
            "mcmot evaluate SCENE": [*mcmot, "evaluate", str(root)],
            "mcmot track SCENE --features none": [*mcmot, "track", str(root), *TRACK],
        }
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, argv in commands.items():
                runs[name].append(measure(argv))
    med = {
        name: (statistics.median(s for s, _ in r), statistics.median(m for _, m in r))
        for name, r in runs.items()
    }
    torch_s, torch_mb = med["python -c 'import torch'"]
    rows = [
        {
            "command": f"`{name}`",
            "wall s": sec,
            "peak MB": mb,
            "wall / torch import": sec / torch_s,
            "memory / torch import": mb / torch_mb,
        }
        for name, (sec, mb) in med.items()
    ]
    formats = {"peak MB": ".0f", "wall / torch import": ".2f", "memory / torch import": ".2f"}
    Results(args.json).table("startup", rows, formats, title=False)


if __name__ == "__main__":
    main()
