"""End to end: `mcmot run` timesteps/s from videos against `yolo track` (BoT-SORT) per camera.

The scene is the EPFL terrace clip's 4 real views (125 frames of 360x288,
``epfl-terrace1-clip`` in the shared data), copied fresh for every run so
that each detects from scratch. Arms, each in its own process, one after the
other:

- ``mcmot run SCENE --model CKPT``: detect (the default YOLO11n-pose, the
  per-camera imgsz rule: 704 here), extract-features, track, associate
  (offline; pretraining is skipped by giving the model);
- ``mcmot run SCENE --online --model CKPT``: the same stages as one stream;
- ``mcmot run`` again with the detector on torch (``--config`` section
  ``detect``: ``backend`` torch), the path the peer takes; by default
  ``detect`` takes the fastest runtime installed (OpenVINO here);
- ``mcmot run`` and ``mcmot run --online`` with a detector stride of 3
  (``--config`` section ``detect``: ``stride`` 3; 25 frames/s footage);
- the peer: ultralytics' own ``YOLO.track`` with its BoT-SORT
  (``botsort.yaml``) on each camera's video in turn, with the same weights,
  imgsz and person class, and no cross-camera association.

The CalibFree checkpoint is any ``cpu``-preset one (``--model``; by default
one epoch on a synthetic scene, trained once in the work folder): its
weights do not change the time. A timestep is one frame of every camera.
The clip's ground truth (``benchmarks/data/epfl-terrace1-clip/gt``) is in
each scene, so every ``mcmot run`` also evaluates its output (IDF1 within
cameras, AIDF1 across them; the evaluation is part of its time).

Usage::

    python -m benchmarks.bench_run_speed [--work W] [--model CKPT]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.bench_startup import mcmot_command
from benchmarks.harness import Results, data_or_exit, make_parser, print_machine

#: The clip's ground truth (every camera).
CLIP_GT = Path(__file__).resolve().parent / "data" / "epfl-terrace1-clip" / "gt"
#: The clip's frames (every camera).
FRAMES = 125
#: imgsz the per-camera rule gives 360x288 frames (mcmot.detectors.auto_imgsz).
IMGSZ = 704

PEER = """
import sys, time
from pathlib import Path
from mcmot.detectors import default_weights, load_model
videos = sys.argv[1:]
model = load_model(default_weights())
start = time.perf_counter()
for video in videos:
    for _ in model.track(source=video, stream=True, tracker="botsort.yaml", imgsz={imgsz},
                         conf=0.25, classes=[0], persist=False, verbose=False):
        pass  # persist=False: a new tracker for each camera
print(time.perf_counter() - start)
"""


def timed(argv: list[str]) -> tuple[float, str]:
    """Wall seconds and stdout of one command, which must exit 0."""
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr[-800:]}")
    return time.perf_counter() - start, proc.stdout


def fresh_scene(videos: Path, root: Path, gt: Path | None = None) -> Path:
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(videos, root / "videos")
    if gt is not None:
        shutil.copytree(gt, root / "gt")
    return root


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--work", type=Path, default=Path("/tmp/mcmot-run-speed"))
    ap.add_argument("--model", type=Path, default=None, help="a cpu-preset CalibFree checkpoint")
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    videos = data_or_exit(None, "epfl-terrace1-clip") / "videos"
    mcmot = mcmot_command()
    args.work.mkdir(parents=True, exist_ok=True)
    model = args.model
    if model is None:
        model = args.work / "model" / "checkpoint.pt"
        if not model.is_file():
            synth = args.work / "synth"
            timed([*mcmot, "synth", str(synth), "--cameras", "2", "--frames", "40", "--seed", "2"])
            timed([*mcmot, "detect", str(synth), "--from-gt", "--overwrite"])
            timed([*mcmot, "pretrain", str(synth), "--out", str(model.parent), "--epochs", "1",
                   "--teacher", "none", "--boxes", "gt", "--overwrite"])  # fmt: skip
    print_machine(f"mcmot = {' '.join(mcmot)}; scene: the EPFL clip, 4 views x {FRAMES} frames")
    cams = sorted(videos.iterdir())
    rows = []
    torch_conf = args.work / "detect-torch.json"
    torch_conf.write_text(json.dumps({"detect": {"backend": "torch"}}))
    stride_conf = args.work / "detect-stride.json"
    stride_conf.write_text(json.dumps({"detect": {"stride": 3}}))
    arms = {
        "mcmot run (offline stages)": [],
        "mcmot run --online (stream)": ["--online"],
        "mcmot run, detector on torch as the peer's": ["--config", str(torch_conf)],
        "mcmot run, detect stride 3": ["--config", str(stride_conf)],
        "mcmot run --online, detect stride 3": ["--online", "--config", str(stride_conf)],
    }
    for name, extra in arms.items():
        scene = fresh_scene(videos, args.work / "scene", CLIP_GT)
        argv = [*mcmot, "run", str(scene), "--model", str(model), "--json", *extra]
        seconds, out = timed(argv)
        metrics = json.loads(out)["metrics"]
        rows.append(
            {
                "arm": name,
                "wall s": seconds,
                "timesteps/s": FRAMES / seconds,
                "IDF1": metrics["IDF1"],
                "AIDF1": metrics["AIDF1"],
            }
        )
        print(rows[-1], flush=True)
    code = PEER.format(imgsz=IMGSZ)
    seconds, out = timed([sys.executable, "-c", code, *[str(c) for c in cams]])
    tracking = float(out.strip().splitlines()[-1])
    rows.append(
        {
            "arm": f"ultralytics yolo track, BoT-SORT, per camera (imgsz {IMGSZ}; peer)",
            "wall s": seconds,
            "timesteps/s": FRAMES / seconds,
            "without start-up s": tracking,
        }
    )
    print(rows[-1], flush=True)
    formats = {
        "wall s": ".1f",
        "timesteps/s": ".2f",
        "without start-up s": ".1f",
        "IDF1": ".3f",
        "AIDF1": ".3f",
    }
    Results(args.json).table("end to end from videos", rows, formats, title=False)


if __name__ == "__main__":
    main()
