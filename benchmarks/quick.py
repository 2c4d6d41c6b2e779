"""The quick set: the benchmarks that finish in seconds with small arguments, one after another.

Each runs in its own process (``python -m benchmarks.NAME ARGS``, so that no
benchmark inherits another's imports or thread settings) and prints its
header and tables. With ``--json PATH`` every benchmark's JSON is gathered
into one file, by name. About half a minute in all on one core:

- ``bench_evaluate --repeat 1 --runs 1``: ``mcmot evaluate`` against
  motmetrics on the mvmhat sample (needs the shared data folder);
- ``bench_startup --repeats 1 --cameras 2 --frames 20``: wall time and peak
  memory of short CLI calls;
- ``bench_synth --frames 20 --cameras 2 --people 4 --size 320x180``: ``mcmot
  synth``'s rendering and encoding rate;
- ``bench_tracker_speed --frames 50 --repeats 1 --tracks 10,50``: the
  tracker's milliseconds per frame against ByteTrack;
- ``diag_slot_sensitivity --frames 10``: how much an untrained encoder's
  features change when detections change slots.

A benchmark that fails (missing data included) is named at the end and
makes the exit status 1; the others still run.

    python -m benchmarks.quick [--only bench_synth,bench_startup] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.harness import ROOT, make_parser

#: The quick set: benchmark module -> its small arguments ("{work}": a temporary folder).
QUICK: dict[str, tuple[str, ...]] = {
    "bench_evaluate": ("--repeat", "1", "--runs", "1"),
    "bench_startup": ("--repeats", "1", "--cameras", "2", "--frames", "20"),
    "bench_synth": ("--frames", "20", "--cameras", "2", "--people", "4", "--size", "320x180"),
    "bench_tracker_speed": ("--frames", "50", "--repeats", "1", "--tracks", "10,50"),
    "diag_slot_sensitivity": ("--frames", "10", "--work", "{work}"),
}


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--only", default="", help="comma-separated names from the quick set")
    return ap


def command(name: str, work: Path, json_path: Path) -> list[str]:
    """The command line of one quick benchmark, its JSON written to ``json_path``."""
    args = [a.replace("{work}", str(work / name)) for a in QUICK[name]]
    return [sys.executable, "-m", f"benchmarks.{name}", *args, "--json", str(json_path)]


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(QUICK)
    unknown = sorted(set(names) - set(QUICK))
    if unknown:
        raise SystemExit(f"not in the quick set: {', '.join(unknown)} (see --help)")
    gathered: dict[str, object] = {}
    failed: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in names:
            out = work / f"{name}.json"
            cmd = command(name, work, out)
            print(f"\n== {name} {' '.join(cmd[3:-2])}", flush=True)
            t0 = time.perf_counter()
            done = subprocess.run(cmd, cwd=ROOT, check=False)
            print(f"== {name}: {time.perf_counter() - t0:.1f} s, exit {done.returncode}")
            if done.returncode != 0 or not out.is_file():
                failed.append(name)
                continue
            gathered[name] = json.loads(out.read_text())
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(gathered, indent=1) + "\n")
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
