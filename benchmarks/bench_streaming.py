"""Streaming run (`mcmot run --online`): latency per timestep, memory over time, and the
chained stages on the same input as the peer.

Input: EPFL terrace1 (2 cameras, 3000 frames each at 25 frames/s, 360x288) from
the shared data, or any scene given with ``--data``. Boxes: ``cached`` (the
default) runs ``mcmot detect`` once into ``--work`` and feeds its boxes to both
arms as ``gt/`` boxes (``--boxes gt``), so that detection (measured apart, as
its own time per timestep) does not dominate; ``det`` runs the detector inside
both arms; ``gt`` uses the scene's own ``gt/``. Features: an untrained CalibFree
of the ``cpu`` preset (the architecture ``mcmot run`` pretrains): its cost, not
its accuracy, is measured. Tracker and association: the defaults (DeepSORT on
f_s calibrated on the first 30 s; both cues, geometry and appearance fitted on
the first 30 s of tracks).

Each arm runs in its own process (peak memory is that process's ``ru_maxrss``):
the stream, with every timestep timed and the resident memory sampled, and the
peer, ``detect`` -> ``extract-features`` -> ``track --calibration-seconds 30``
-> ``associate --mode online`` on a copy of the same scene; the two arms'
``tracks/`` and ``global/`` files are compared.

Run from the project root, pinned to one core::

    taskset -c 1 python -m benchmarks.bench_streaming [--data SCENE] [--boxes cached|det|gt]
        [--work DIR] [--json PATH]
"""

from __future__ import annotations

import argparse
import dataclasses
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.harness import Results, data_or_exit, make_parser, print_machine  # noqa: E402

#: How many times the resident memory is sampled over the stream.
SAMPLES = 10
#: What the stream holds, shown beside its memory (see mcmot.stages.stream).
HELD = ("frames", "tracks", "warmup_frames", "waiting_frames", "live_tracklets", "gallery")
#: The warm-up of the defaults (tracker calibration and association fit), seconds.
WARMUP_S = 30.0


def summarise(seconds: list[float]) -> dict[str, float]:
    """Median, 95th percentile and largest of per-timestep times, in milliseconds."""
    if not seconds:
        return {"median_ms": float("nan"), "p95_ms": float("nan"), "max_ms": float("nan")}
    ordered = sorted(seconds)
    n = len(ordered)

    def q(p: float) -> float:
        return 1000 * ordered[min(n - 1, max(0, round(p * (n - 1))))]

    return {"median_ms": q(0.5), "p95_ms": q(0.95), "max_ms": 1000 * ordered[-1]}


def rss_mb() -> float:
    """This process's resident memory now (VmRSS), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _run_config(model: str, boxes: str) -> Any:
    from mcmot.stages.run import RunConfig

    base = RunConfig()
    return dataclasses.replace(
        base,
        model=model,
        boxes=boxes,
        features=dataclasses.replace(base.features, device="cpu"),
        detect=dataclasses.replace(base.detect, device="cpu"),
    )


def arm_stream(scene: Path, model: str, boxes: str) -> dict[str, Any]:
    """The stream, timed per timestep, memory sampled (runs in the child process)."""
    from mcmot.scene import Scene
    from mcmot.stages.stream import run_streaming

    times: list[float] = []
    memory: list[dict[str, float]] = []
    total = _frames(scene)
    every = max(1, total // SAMPLES)

    def monitor(k: int, seconds: float, sizes: dict[str, int]) -> None:
        times.append(seconds)
        if k % every == 0 or k == 1:
            kept = {key: sizes.get(key, 0) for key in HELD}
            memory.append({"frame": k, "rss_mb": rss_mb(), **kept})

    t0 = time.perf_counter()
    res = run_streaming(Scene(scene), _run_config(model, boxes), overwrite=True, monitor=monitor)
    wall = time.perf_counter() - t0
    warm = round(WARMUP_S * _fps(scene))
    return {
        "seconds": wall,
        "frames": res.frames,
        "all": summarise(times),
        "live": summarise(times[warm:]),
        "memory": memory,
        "rows": res.rows,
    }


def arm_offline(scene: Path, model: str, boxes: str) -> dict[str, Any]:
    """The chained stages in their online modes (runs in the child process)."""
    from mcmot.scene import Scene
    from mcmot.stages.associate import run_associate
    from mcmot.stages.detect import run_detect
    from mcmot.stages.features import run_extract_features
    from mcmot.stages.track import run_track

    cfg = _run_config(model, boxes)
    sc, seconds = Scene(scene), {}
    steps = {
        "detect": lambda: run_detect(
            sc, dataclasses.replace(cfg.detect, from_gt=boxes == "gt"), overwrite=True
        ),
        "extract-features": lambda: run_extract_features(
            sc, dataclasses.replace(cfg.features, model=model), overwrite=True
        ),
        "track": lambda: run_track(
            sc, dataclasses.replace(cfg.tracker, calibration_seconds=WARMUP_S), overwrite=True
        ),
        "associate": lambda: run_associate(
            sc, dataclasses.replace(cfg.associate, mode="online"), overwrite=True
        ),
    }
    for name, step in steps.items():
        t0 = time.perf_counter()
        step()
        seconds[name] = time.perf_counter() - t0
    return {"seconds": sum(seconds.values()), "stages": seconds}


def _frames(scene: Path) -> int:
    from mcmot.frames import open_source
    from mcmot.scene import Scene

    counts = []
    for cam in Scene(scene).pixel_cameras():
        with open_source(cam.source) as src:  # type: ignore[arg-type]
            counts.append(src.num_frames)
    return min(counts)


def _fps(scene: Path) -> float:
    from mcmot.scene import Scene
    from mcmot.timebase import scene_fps

    return scene_fps(Scene(scene), None)[0]


def child(argv: list[str]) -> tuple[dict[str, Any], float]:
    """Run one arm in a fresh process: (its JSON result, its peak resident MB)."""
    cmd = [sys.executable, "-m", "benchmarks.bench_streaming", *argv]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        assert proc.stdout is not None
        out = proc.stdout.read().decode()
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(argv)} failed: {err.read().decode()[-800:]}")
    return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss / 1024


def prepare(data: Path, work: Path, boxes: str) -> tuple[str, float | None]:
    """Two copies of the scene (``stream``, ``offline``) in ``work``; the boxes mode the arms
    use; seconds the cached detection took when it ran now."""
    detect_s = None
    if boxes == "cached":
        cached = work / "detected"
        if not (cached / "det").is_dir():
            shutil.rmtree(cached, ignore_errors=True)
            _link_pixels(data, cached)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "mcmot", "detect", str(cached)], check=True)
            detect_s = time.perf_counter() - t0
    for arm in ("stream", "offline"):
        dest = work / arm
        shutil.rmtree(dest, ignore_errors=True)
        _link_pixels(data, dest)
        truth = work / "detected" / "det" if boxes == "cached" else data / "gt"
        if boxes != "det" and truth.is_dir():
            shutil.copytree(truth, dest / "gt", ignore=shutil.ignore_patterns("*.npz"))
    return ("det" if boxes == "det" else "gt"), detect_s


def _link_pixels(data: Path, dest: Path) -> None:
    """``dest`` holding links to ``data``'s videos or frame folders (no copy)."""
    for sub in ("videos", "frames"):
        if (data / sub).is_dir():
            (dest / sub).mkdir(parents=True, exist_ok=True)
            for p in (data / sub).iterdir():
                (dest / sub / p.name).symlink_to(p.resolve())


def write_model(path: Path) -> None:
    """An untrained CalibFree of the ``cpu`` preset (the cost of the run's own model)."""
    import torch

    from mcmot.config import to_dict
    from mcmot.models.checkpoint import build_model, save_checkpoint
    from mcmot.models.pretrain_config import PRESETS

    torch.manual_seed(0)
    cfg = PRESETS["cpu"]
    state = build_model(cfg.model_config()).state_dict()
    save_checkpoint(path, {"config": to_dict(cfg), "model": state})


def same_outputs(a: Path, b: Path) -> bool:
    """Whether the two scenes' tracks/ and global/ files are identical."""
    for stage in ("tracks", "global"):
        names = sorted(p.name for p in (a / stage).glob("*.txt"))
        if not names or names != sorted(p.name for p in (b / stage).glob("*.txt")):
            return False
        if not all(filecmp.cmp(a / stage / n, b / stage / n, shallow=False) for n in names):
            return False
    return True


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--data", type=Path, default=None, help="a scene (default: epfl-terrace1)")
    ap.add_argument("--boxes", choices=("cached", "det", "gt"), default="cached")
    ap.add_argument("--work", type=Path, default=Path("/tmp/mcmot-bench-streaming"))
    ap.add_argument("--arm", choices=("stream", "offline"), help=argparse.SUPPRESS)
    ap.add_argument("--scene", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.arm is not None:  # a child: one arm, its result as one JSON line
        import torch

        torch.set_num_threads(1)
        run = arm_stream if args.arm == "stream" else arm_offline
        print(json.dumps(run(args.scene, args.model, args.boxes)))
        return
    _parent(args)


def _parent(args: argparse.Namespace) -> None:
    data = data_or_exit(args.data, "epfl-terrace1")
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    print_machine(f"cores allowed: {affinity}", "torch threads 1 in each arm")
    args.work.mkdir(parents=True, exist_ok=True)
    boxes, detect_s = prepare(data, args.work, args.boxes)
    model = args.work / "model.pt"
    write_model(model)
    frames = _frames(args.work / "stream")
    print(f"input: {data} ({frames} frames per camera), boxes {args.boxes}")
    if detect_s is not None:
        print(f"cached detection (mcmot detect, once): {detect_s:.1f} s")
    results = Results(args.json, info={"data": str(data), "boxes": args.boxes, "frames": frames})
    common = ["--boxes", boxes, "--model", str(model)]
    stream, stream_mb = child(["--arm", "stream", "--scene", str(args.work / "stream"), *common])
    offline, offline_mb = child(
        ["--arm", "offline", "--scene", str(args.work / "offline"), *common]
    )
    _report(results, stream, offline, stream_mb, offline_mb, args.work)


def _report(
    results: Results,
    stream: dict[str, Any],
    offline: dict[str, Any],
    stream_mb: float,
    offline_mb: float,
    work: Path,
) -> None:
    same = same_outputs(work / "stream", work / "offline")
    rows = [
        {"timesteps": "all", **stream["all"]},
        {"timesteps": f"after the {WARMUP_S:.0f} s warm-up", **stream["live"]},
    ]
    ms = {"median_ms": ".1f", "p95_ms": ".1f", "max_ms": ".1f"}
    results.table("stream: time per timestep (every camera)", rows, ms)
    results.table("stream: resident memory over time", stream["memory"], {"rss_mb": ".0f"})
    whole = [
        {"arm": "run --online", "seconds": stream["seconds"], "peak_mb": stream_mb},
        {"arm": "chained stages (peer)", "seconds": offline["seconds"], "peak_mb": offline_mb},
    ]
    results.table("whole run", whole, {"seconds": ".1f", "peak_mb": ".0f"})
    stages = [{"stage": k, "seconds": v} for k, v in offline["stages"].items()]
    results.table("peer: seconds per stage", stages, {"seconds": ".1f"})
    print(f"\nsame tracks/ and global/ files: {'yes' if same else 'NO'}")
    results.info["same_files"] = same
    results.save()


if __name__ == "__main__":
    main()
