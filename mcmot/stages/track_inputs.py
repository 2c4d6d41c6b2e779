"""What the ``track`` stage reads: each camera's det (and features) files, the
detector's stride, and how many frames a camera has.

A stride comes from ``provenance/detect.json`` (``detect --stride``) and holds
only while that record describes the det files as they are; the det rows are
then tracker steps (:func:`mcmot.tracking.stride.to_steps`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from mcmot.errors import McmotError
from mcmot.frames import open_source
from mcmot.motio import MotTable, read_mot
from mcmot.scene import Camera, Scene
from mcmot.stages.feature_files import load_features
from mcmot.tracking.config import TrackerConfig
from mcmot.tracking.stride import step_frame, to_steps


def input_paths(scene: Scene, cams: list[Camera], features: str) -> list[Path]:
    """The det (and features) files of ``cams``; a missing one is an error naming the fix."""
    paths = []
    for cam in cams:
        det = scene.path("det", cam.name)
        if not det.is_file():
            raise McmotError(
                f"no det/{det.name} in {scene.root}: run `mcmot detect {scene.root}` first"
            )
        paths.append(det)
        if features != "none":
            feat = scene.path("features", cam.name)
            if not feat.is_file():
                raise McmotError(
                    f"no features/{feat.name} in {scene.root}: run `mcmot extract-features "
                    f"{scene.root} --model CKPT` first, or pass --features none"
                )
            paths.append(feat)
    return paths


def load_camera(
    scene: Scene, cam: Camera, features: str, zero_based: bool, stride: int = 1
) -> tuple[MotTable, NDArray[np.float32] | None]:
    """The camera's detections, their frames as tracker steps of ``stride`` frames
    (:func:`mcmot.tracking.stride.to_steps`), and unless ``features == "none"``
    their aligned features."""
    det_path = scene.path("det", cam.name)
    det = read_mot(det_path, unique_ids=False, zero_based=zero_based)
    feats = None
    if features != "none":
        feats = load_features(scene.path("features", cam.name), det, features, scene.root)
    if stride > 1:
        det = to_steps(det, stride, str(det_path))
    return det, feats


def detect_stride(scene: Scene, cams: list[Camera]) -> int:
    """The stride ``detect`` wrote the cameras' ``det/`` files with (1 = every frame).

    Read from ``provenance/detect.json``, and only where that record describes
    the files as they are now; det files written by other tools or edited
    since count as every frame's.
    """
    rec = scene.read_record("detect")
    if rec is None:
        return 1
    stride = rec.get("params", {}).get("stride", 1)
    if not isinstance(stride, int) or stride <= 1:
        return 1
    return stride if scene.describes("detect", [scene.path("det", c.name) for c in cams]) else 1


def frame_count(cam: Camera, det: MotTable, stride: int = 1) -> int:
    """The last frame to process: the video's length, or the last detection's frame
    (``det`` in tracker steps of ``stride`` frames)."""
    last = int(step_frame(int(det.frames.max()), stride)) if len(det) else 0
    if cam.source is not None:
        with open_source(cam.source) as src:
            last = max(last, src.num_frames)
    return last


def stride_notes(cfg: object, stride: int, fps: float) -> tuple[str, ...]:
    """What ``track`` says of a detector ``stride`` (none for 1); an error for a tracker
    that cannot predict the frames between (all but DeepSORT)."""
    if stride <= 1:
        return ()
    if not isinstance(cfg, TrackerConfig):
        raise McmotError(
            f"det/ holds one frame in {stride} (detect --stride {stride}), and only "
            "--tracker deepsort predicts the frames between: use it, or detect every frame"
        )
    return (
        f"det/ holds one frame in {stride} (detect --stride {stride}): the tracker steps "
        f"at {fps / stride:g} frames/s and its Kalman filter predicts the frames between",
    )
