"""The streaming run's inputs of one timestep: every camera's frame, its detections and
their features, written to ``det/`` and ``features/`` as they come.

Detection and feature extraction are the stages' own per-frame pieces:
:meth:`PersonDetector.detect` on one image (the stage's batch on CPU),
:func:`detections_table` and the det file's text (rows are handed on as a
reader of ``det/`` gets them), :func:`frame_groups`, :func:`group_crops`,
:func:`pooled_features` and :func:`split_normalize` for the features.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray

from mcmot.detectors import NUM_KEYPOINTS, PersonDetector
from mcmot.errors import McmotError
from mcmot.frames import FrameSource, Image
from mcmot.models.device import resolve_device
from mcmot.motio import MotTable
from mcmot.scene import Camera, Scene
from mcmot.stages.detect import (
    BOX_DECIMALS,
    DetectConfig,
    camera_from_gt,
    detections_table,
    kpts_path,
    make_detector,
    open_all,
)
from mcmot.stages.feature_files import unit_rows
from mcmot.stages.features import (
    Encoder,
    FeaturesConfig,
    frame_groups,
    group_crops,
    pooled_features,
    split_normalize,
)
from mcmot.stages.stream_io import ArraysFile, RowsFile
from mcmot.stages.stream_track import FrameInput
from mcmot.staging import Staging
from mcmot.tracking.stride import on_stride


@dataclass(frozen=True)
class InputSettings:
    """What the inputs of a timestep are.

    Attributes
    ----------
    detect : the detector's settings (``from_gt``: boxes from ``gt/``)
    features : the feature extractor's settings, or None (no features)
    track_features : "f_s", "f_a" or "none": what the tracker reads
    assoc_features : "f_a" or "f_s": what association reads, or None
    """

    detect: DetectConfig
    features: FeaturesConfig | None
    track_features: str
    assoc_features: str | None


class StreamInputs:
    """Every camera's detections and features, one timestep at a time (see the module
    docstring); the det and features files go to ``staging``."""

    def __init__(
        self,
        scene: Scene,
        cams: list[Camera],
        s: InputSettings,
        staging: Staging,
        warn: Callable[[str], None],
    ) -> None:
        self.scene, self.cams, self.s = scene, cams, s
        self._stack = contextlib.ExitStack()
        self.sources: list[FrameSource] = open_all(cams, s.detect.zero_based)
        for src in self.sources:
            self._stack.callback(src.close)
        self.gt: list[MotTable] | None = None
        self.detector: PersonDetector | None = None
        #: each camera's last frame, as ``track`` counts it: its video's length, or
        #: its last box's frame if later (a stride's predicted rows reach it)
        self.last_frames = [src.num_frames for src in self.sources]
        if s.detect.from_gt:
            self.gt = [camera_from_gt(scene, c.name, s.detect, warn).table for c in cams]
            self.last_frames = [
                max(n, int(t.frames.max()) if len(t) else 0)
                for n, t in zip(self.last_frames, self.gt, strict=True)
            ]
            self.frames = max([int(t.frames.max()) for t in self.gt if len(t)] or [0])
            if s.detect.stride > 1:
                self.frames = max(self.last_frames)
        else:
            self.detector = make_detector(scene, s.detect, self.sources)
            self.frames = min(src.num_frames for src in self.sources)
        self.encoder = None if s.features is None else Encoder(s.features, _device(s.features))
        self._images = [self._iter(src) for src in self.sources]
        self.outputs = [scene.path("det", c.name) for c in cams]
        self.det_files = [RowsFile(staging.path(p), BOX_DECIMALS) for p in self.outputs]
        self.kpts_files: list[ArraysFile] = []
        if self.detector is not None and self.detector.is_pose:
            paths = [kpts_path(scene, c.name) for c in cams]
            self.kpts_files = [_kpts_file(staging.path(p)) for p in paths]
            self.outputs += paths
        else:
            for c in cams:  # no keypoints file may describe other rows than its det file
                staging.remove(kpts_path(scene, c.name))
        self.feature_files: list[ArraysFile] = []
        if self.encoder is not None:
            paths = [scene.path("features", c.name) for c in cams]
            self.feature_files = [self._features_file(staging.path(p)) for p in paths]
            self.outputs += paths

    def _iter(self, src: FrameSource) -> Iterator[tuple[int, Image]]:
        need = self.detector is not None or self.encoder is not None
        return src.iter_frames(1, src.num_frames, self.s.detect.stride) if need else iter(())

    def _features_file(self, path: Path) -> ArraysFile:
        assert self.encoder is not None
        fa, fs = split_normalize(np.zeros((0, self.encoder.width), np.float32), self.encoder.shared)
        return ArraysFile(
            path,
            {
                "f_a": (np.float32, (fa.shape[1],)),
                "f_s": (np.float32, (fs.shape[1],)),
                "frames": (np.int64, ()),
                "boxes": (np.float64, (4,)),
            },
        )

    def read(self, k: int) -> list[FrameInput]:
        """Frame ``k`` of every camera: detected, its det rows and features written."""
        images = [self._image(i, k) for i in range(len(self.cams))]
        dets = [self._detect(i, k, img) for i, img in enumerate(images)]
        fa, fs = self._features(k, images, dets)
        return [self._frame_input(d, a, s) for d, a, s in zip(dets, fa, fs, strict=True)]

    def _image(self, i: int, k: int) -> Image | None:
        if k > self.sources[i].num_frames or not on_stride(k, self.s.detect.stride):
            return None  # past the video, or a frame the detector's stride skips
        for frame, img in self._images[i]:
            if frame == k:
                return img
        return None

    def _detect(self, i: int, k: int, img: Image | None) -> MotTable:
        """Camera ``i``'s det rows of frame ``k``, written, as the det file gives them back."""
        if not on_stride(k, self.s.detect.stride):  # the detector skips frame k
            table = MotTable.empty()
        elif self.gt is not None:
            t = self.gt[i]
            lo, hi = np.searchsorted(t.frames, [k, k + 1])
            table = t.select(slice(int(lo), int(hi)))
        else:
            assert self.detector is not None and img is not None
            dets = self.detector.detect([img])[0]
            table = detections_table([np.full(len(dets.scores), k)], [dets.boxes], [dets.scores])
            if self.kpts_files:
                kp = dets.kpts if dets.kpts is not None else np.zeros((0, NUM_KEYPOINTS, 3))
                self.kpts_files[i].append(kpts=kp, frames=table.frames, boxes=table.boxes)
        return self.det_files[i].append(table)

    def _features(
        self, k: int, images: list[Image | None], dets: list[MotTable]
    ) -> tuple[list[NDArray | None], list[NDArray | None]]:
        """Each camera's (f_a, f_s) of frame ``k`` (Nones without features), written."""
        n = len(dets)
        if self.encoder is None or self.s.features is None:
            return [None] * n, [None] * n
        enc, crops, where = self.encoder, [], []
        for i, (img, det) in enumerate(zip(images, dets, strict=True)):
            for _, rows in frame_groups(det, enc.max_dets):
                if img is None:
                    cam = self.cams[i].name
                    raise McmotError(f"det/{cam}.txt has frame {k} but the camera has fewer")
                crops.append(group_crops(img, det.boxes[rows], enc.size))
                where.append((i, rows))
        pooled = [np.zeros((len(d), enc.width), np.float32) for d in dets]
        for (i, rows), fe in zip(where, pooled_features(enc, self.s.features, crops), strict=True):
            pooled[i][rows] = fe
        fa, fs = zip(*(split_normalize(p, enc.shared) for p in pooled), strict=True)
        for f, det, a, s in zip(self.feature_files, dets, fa, fs, strict=True):
            f.append(f_a=a, f_s=s, frames=det.frames, boxes=det.boxes)
        return list(fa), list(fs)

    def _frame_input(self, det: MotTable, fa: NDArray | None, fs: NDArray | None) -> FrameInput:
        """What tracking and association read of a frame, as they read the files."""
        by_name = {"f_a": fa, "f_s": fs}
        track = by_name.get(self.s.track_features)
        assoc = by_name.get(self.s.assoc_features or "")
        return FrameInput(
            det,
            None if track is None else unit_rows(np.asarray(track, np.float32)),
            None if assoc is None else np.asarray(assoc, np.float32),
        )

    def flush(self) -> None:
        for f in self.det_files:
            f.flush()

    def close(self) -> None:
        """Finish every file (``outputs`` lists where they land)."""
        for f in self.det_files:
            f.close()
        for k in self.kpts_files:
            k.close()
        name = np.array("" if self.encoder is None else self.encoder.name)
        for a in self.feature_files:
            a.close(checkpoint=name)
        self._stack.close()

    def abort(self) -> None:
        self._stack.close()


def _kpts_file(path: Path) -> ArraysFile:
    return ArraysFile(
        path,
        {
            "kpts": (np.float32, (NUM_KEYPOINTS, 3)),
            "frames": (np.int64, ()),
            "boxes": (np.float64, (4,)),
        },
    )


def _device(cfg: FeaturesConfig) -> torch.device:
    return resolve_device(cfg.device)
