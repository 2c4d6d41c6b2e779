"""`detect --stride K`: what detecting every K-th frame saves, and what it costs in accuracy.

Scenes (real footage with ground truth):

- **PETS09-S2L1**, view 1: ``vtest.avi`` (795 frames, 768x576), ``gt.txt``;
- **EPFL terrace clip**: 4 views x 125 frames of 360x288 at 25 frames/s, the
  clip's ground truth (``benchmarks/data/epfl-terrace1-clip/gt``).

For each stride K, as a user runs it, each command its own process:
``mcmot detect SCENE --stride K`` (default detector, size and backend; the
exported model is made once, before any timing, in a folder shared by every
run), then ``mcmot track SCENE --features none`` (DeepSORT on motion, the
frames between detections predicted by each track's Kalman filter), scored
by ``mcmot evaluate --pred tracks`` (all frames). Rows in every det file are
in the detector's order; nothing reads the ground truth but ``evaluate``.

Controls, scored on the same runs:

- **no prediction**: the stride's tracks with only the detected frames' rows
  (what a tracker without prediction writes);
- **interpolated** (offline, not a streaming option): each track's rows on
  consecutive detected frames joined by straight lines, knowing the next row;
- **smaller imgsz**: every frame, at the inference size whose pixels cost
  about what stride 2 saves (the default size over the square root of 2,
  rounded to 32): the other way to detect less.

Detect seconds are the wall time of the whole ``mcmot detect`` process
(start-up included); frames/s is the scene's frames (every camera) over it,
and "beyond fixed" the same over the seconds left after the fixed cost
(``detect --stride 100`` on the same scene: start-up, loading the model,
1 frame in 100).

Usage::

    python -m benchmarks.bench_detect_stride [--work W] [--strides 1,2,3,4]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.bench_run_speed import timed as run
from benchmarks.bench_startup import mcmot_command
from benchmarks.harness import Results, data_or_exit, make_parser, print_machine
from mcmot.motio import MotTable, read_mot, write_mot
from mcmot.tracking.stride import on_stride

CLIP_GT = Path(__file__).resolve().parent / "data" / "epfl-terrace1-clip" / "gt"
#: The inference size the per-camera rule gives each scene (mcmot.detectors.auto_imgsz).
DEFAULT_IMGSZ = {"pets09": 1440, "epfl-clip": 704}
METRICS = ("IDF1", "HOTA", "MOTA", "IDSW")


def scenes(data: Path, work: Path) -> dict[str, Path]:
    """Scene folders with videos/ and gt/ (inputs only), made once in ``work``."""
    out = {}
    pets = work / "inputs" / "pets09"
    if not pets.exists():
        (pets / "videos").mkdir(parents=True)
        (pets / "gt").mkdir()
        shutil.copy(data / "pets09-s2l1" / "vtest.avi", pets / "videos" / "view1.avi")
        shutil.copy(data / "pets09-s2l1" / "gt.txt", pets / "gt" / "view1.txt")
    out["pets09"] = pets
    clip = work / "inputs" / "epfl-clip"
    if not clip.exists():
        shutil.copytree(data / "epfl-terrace1-clip" / "videos", clip / "videos")
        shutil.copytree(CLIP_GT, clip / "gt")
    out["epfl-clip"] = clip
    return out


def fresh(src: Path, dst: Path) -> Path:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    return dst


def frames_of(scene: Path) -> int:
    """Every camera's frames, summed."""
    import cv2

    total = 0
    for video in sorted((scene / "videos").iterdir()):
        cap = cv2.VideoCapture(str(video))
        total += int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        cap.release()
    return total


def score(mcmot: list[str], scene: Path) -> dict[str, float]:
    _, text = run([*mcmot, "evaluate", str(scene), "--pred", "tracks", "--json"])
    got = json.loads(text)["combined"]
    return {k: got[k] for k in METRICS}


def rewrite_tracks(scene: Path, dst: Path, how: str, stride: int) -> Path:
    """A copy of ``scene``'s gt/ with its tracks/ kept on the detected frames only
    (``how="detected"``) or those joined by straight lines (``"interpolated"``)."""
    fresh_dir = dst
    if fresh_dir.exists():
        shutil.rmtree(fresh_dir)
    shutil.copytree(scene / "gt", fresh_dir / "gt")
    (fresh_dir / "tracks").mkdir()
    for p in sorted((scene / "tracks").glob("*.txt")):
        t = read_mot(p)
        t = t.select(on_stride(t.frames, stride))
        if how == "interpolated":
            t = interpolated(t, stride)
        write_mot(fresh_dir / "tracks" / p.name, t)
    return fresh_dir


def interpolated(t: MotTable, stride: int) -> MotTable:
    """``t`` with each track's consecutive detected rows joined by straight lines."""
    parts = [t]
    for tid in np.unique(t.ids):
        rows = t.select(t.ids == tid)
        gap = np.flatnonzero(np.diff(rows.frames) == stride)
        for j in range(1, stride):
            w = j / stride
            boxes = rows.boxes[gap] * (1 - w) + rows.boxes[gap + 1] * w
            parts.append(
                MotTable.from_arrays(
                    rows.frames[gap] + j, np.full(len(gap), tid), boxes, rows.scores[gap]
                )
            )
    return MotTable.concat(parts).sorted()


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_detect_stride"))
    ap.add_argument("--data", type=Path, default=None, help="the shared data folder")
    ap.add_argument("--strides", default="1,2,3,4")
    ap.add_argument("--scenes", default="pets09,epfl-clip")
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    data = data_or_exit(args.data)
    strides = [int(k) for k in args.strides.split(",")]
    mcmot = mcmot_command()
    print_machine()
    res = Results(args.json)
    export = args.work / "export"
    inputs = scenes(data, args.work)
    for name in args.scenes.split(","):
        src = inputs[name]
        n = frames_of(src)
        print(f"\n{name}: {n} frames over {len(list((src / 'videos').iterdir()))} camera(s)")
        warm = fresh(src, args.work / "warm")  # exports the model once, before any timing
        sparse = [*mcmot, "detect", str(warm), "--export-dir", str(export), "--stride", "100"]
        run(sparse)
        warm = fresh(src, args.work / "warm")  # timed again, exported: the fixed cost
        fixed, _ = run(sparse)
        print(f"fixed cost (start-up, model, 1 frame in 100): {fixed:.1f} s")
        small = (round(DEFAULT_IMGSZ[name] / 2**0.5 / 32)) * 32
        arms = [(k, None) for k in strides] + [(1, small)]
        rows = []
        for k, imgsz in arms:
            scene = fresh(src, args.work / "runs" / f"{name}-{k}-{imgsz}")
            cmd = [*mcmot, "detect", str(scene), "--stride", str(k), "--export-dir", str(export)]
            if imgsz:
                cmd += ["--imgsz", str(imgsz)]
            seconds, _ = run(cmd)
            run([*mcmot, "track", str(scene), "--features", "none"])
            label = f"stride {k}" if imgsz is None else f"stride 1, imgsz {imgsz}"
            base = {
                "scene": name,
                "arm": label,
                "detect s": seconds,
                "frames/s": n / seconds,
                "beyond fixed": n / max(seconds - fixed, 1e-9),
            }
            rows.append({**base, "tracks": "Kalman", **score(mcmot, scene)})
            if k > 1:
                for how, title in (("detected", "no prediction"), ("interpolated", "interpolated")):
                    other = rewrite_tracks(scene, args.work / "runs" / "ctl", how, k)
                    rows.append({**base, "tracks": title, **score(mcmot, other)})
            print(rows[-1], flush=True)
        res.table(
            f"{name}: detect --stride K, track --features none",
            rows,
            {"detect s": ".1f", "frames/s": ".2f", "beyond fixed": ".2f"}
            | {m: ".3f" for m in METRICS[:3]},
        )


if __name__ == "__main__":
    main()
