"""``mcmot extract-features``: CalibFree (teacher, or SSAT) features of every detection.

Inference as in the paper (Sec. 3.3, App. D): the detections of one frame of
one view go through the single-view encoder together, without masking; the
per-patch features are pooled per detection (max by default), split into the
view-agnostic half ``f_a`` and the view-specific half ``f_s``, and each is
L2-normalised. A frame with more than N detections is encoded in groups of
at most N (the positional table the model was trained with). Detections take
their positional slots in box order, so a detection's features do not depend
on where its row sits in ``det/``.

The encoder runs on torch, or on ONNX Runtime or OpenVINO through an ONNX
export made in memory at start (mcmot.models.export); ``runtime="auto"``
and ``precision="auto"`` take what measured fastest (:func:`resolve_runtime`,
:func:`resolve_precision`).

An SSAT checkpoint (``mcmot pretrain --objective clips``) embeds each crop on
its own, resized to the network's input (aspect not kept, as the paper); its
L2-normalised embedding is written as both ``f_a`` and ``f_s``, as the
teacher's is. ``--model histogram`` needs no network: each crop's colour
histogram (:mod:`mcmot.models.histogram`), also written as both halves.

Writes ``features/<cam>.npz`` whose row i belongs to row i of
``read_mot(det/<cam>.txt, unique_ids=False)`` (see docs/layout.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from mcmot.atomic import write_npz
from mcmot.boxes import box_order
from mcmot.config import to_dict
from mcmot.crops import crop_resize
from mcmot.errors import McmotError
from mcmot.frames import open_source
from mcmot.models.calibfree import CalibFree
from mcmot.models.checkpoint import (
    CALIBFREE,
    SSAT,
    build_model,
    build_reid,
    config_from_dict,
    load_checkpoint,
)
from mcmot.models.clips_config import clips_config_from_dict
from mcmot.models.device import cpu_has_bf16, resolve_device
from mcmot.models.histogram import DIM as HISTOGRAM_DIM
from mcmot.models.histogram import SIZE as HISTOGRAM_SIZE
from mcmot.models.histogram import colour_histograms
from mcmot.models.reid import ReidNet
from mcmot.models.teacher import Teacher, load_teacher
from mcmot.models.tokens import normalize_crops, split_features
from mcmot.motio import MotTable, read_mot
from mcmot.progress import ProgressCallback, ProgressEvent
from mcmot.runtimes import (
    RUNTIMES,
    SPEED_ORDER,
    Session,
    backend_installed,
    install_hint,
    open_session,
)
from mcmot.scene import Camera, Scene, stage_lock
from mcmot.staging import Staging


@dataclass(frozen=True)
class FeaturesConfig:
    """extract-features settings.

    Attributes
    ----------
    model : a checkpoint path written by ``mcmot pretrain`` (CalibFree or SSAT), "teacher",
        or "histogram" (colour histograms, no network)
    device : "auto" (CUDA when present), "cpu" or "cuda"
    batch : detection groups (one frame of one view, at most N detections) per forward pass
    pooling : "max" (paper App. D) or "mean" (paper Sec. 3.3) over a detection's patches;
        with ``model = "teacher"`` also "cls" (its class token)
    teacher : with ``model = "teacher"``: "auto" or a path (see mcmot.models.teacher)
    teacher_arch : timm architecture of a checkpoint teacher
    teacher_size : (height, width) crops sent to the teacher (letterboxed into its input)
    precision : the encoder's arithmetic: "f32", "bf16" (bfloat16: autocast on torch,
        OpenVINO's bfloat16 on OpenVINO; ONNX Runtime has none), or "auto" (bfloat16
        where the CPU has it natively, on torch and OpenVINO; else float32; see
        :func:`resolve_precision`)
    runtime : where the encoder runs: "torch", "onnx" (ONNX Runtime), "openvino", or
        "auto" (what measured fastest: torch for CalibFree, the fastest installed
        runtime for SSAT; torch on a GPU; see :func:`resolve_runtime`). The teacher is
        an ONNX network and takes "auto", "onnx" or "openvino"
    """

    model: str = ""
    device: str = "auto"
    batch: int = 16
    pooling: str = "max"
    teacher: str = "auto"
    teacher_arch: str | None = None
    teacher_size: tuple[int, int] = (256, 128)
    precision: str = "auto"
    runtime: str = "auto"


#: What ``FeaturesConfig.runtime`` accepts.
RUNTIME_CHOICES = ("auto", "torch", *RUNTIMES)
#: ``FeaturesConfig.model`` values that name no checkpoint file.
BUILT_IN = ("teacher", "histogram")


@dataclass(frozen=True)
class CameraFeatures:
    """Result of one camera: rows written, the feature widths, and what ran the encoder."""

    camera: str
    rows: int
    dim_a: int
    dim_s: int
    path: Path
    encoder: str = ""


def resolve_runtime(runtime: str, device: torch.device, kind: str = CALIBFREE) -> str:
    """The runtime that runs a CalibFree or SSAT (``kind``) encoder: "torch", "onnx" or "openvino".

    ``auto`` is what measured fastest (docs/method.md): torch for CalibFree's
    small ViT (OpenVINO runs it no faster at the same precision, and the
    export costs about a second per command); for SSAT's ResNet the fastest
    installed runtime (OpenVINO: 1.8x torch at bfloat16). A GPU runs torch.

    Raises
    ------
    McmotError : a runtime asked for on a GPU, or one that is not installed
    """
    if device.type != "cpu":
        if runtime in RUNTIMES:
            raise McmotError(f"--runtime {runtime} runs on the CPU: use --device cpu")
        return "torch"
    if runtime == "auto":
        ready = [r for r in SPEED_ORDER if backend_installed(r)] if kind == SSAT else []
        return ready[0] if ready else "torch"
    if not backend_installed(runtime):
        raise McmotError(f"--runtime {runtime} is not installed: {install_hint(runtime)}")
    return runtime


def resolve_precision(precision: str, runtime: str, device: torch.device) -> str | None:
    """The arithmetic an encoder runs in: "f32", "bf16", or None (OpenVINO's default).

    ``auto`` is bfloat16 on torch where the CPU has it natively
    (:func:`mcmot.models.device.cpu_has_bf16`; retrieval within 0.002 of
    float32, docs/method.md), OpenVINO's own default (bfloat16 where the CPU
    has it), and float32 on ONNX Runtime and on a GPU.
    """
    if precision != "auto":
        if runtime == "onnx" and precision == "bf16":
            raise McmotError("--precision bf16: ONNX Runtime has none; use --runtime openvino")
        return precision
    if runtime == "openvino":
        return None
    return "bf16" if runtime == "torch" and device.type == "cpu" and cpu_has_bf16() else "f32"


class Encoder:
    """A loaded single-view encoder (or teacher) behind one interface.

    Attributes
    ----------
    runtime : what runs it: "torch", "onnx" or "openvino" (the teacher: its name, which
        says its runtime)
    precision : "f32" or "bf16" for a checkpoint (:func:`resolve_precision`; bf16 on
        torch runs under autocast), None for the teacher or OpenVINO's default
    describe : what ran, for the user, e.g. "torch bf16"
    """

    def __init__(self, cfg: FeaturesConfig, device: torch.device) -> None:
        self.device = device
        self.precision: str | None = None
        self.teacher: Teacher | None = None
        self.model: CalibFree | None = None
        self.reid: ReidNet | None = None
        self.session: Session | None = None
        self.histogram = cfg.model == "histogram"
        if self.histogram:
            self.size, self.max_dets = HISTOGRAM_SIZE, 10**9
            self.name = self.runtime = self.describe = "histogram"
            return
        if cfg.model == "teacher":
            self._load_teacher(cfg)
            return
        state = load_checkpoint(Path(cfg.model))
        self.name = str(Path(cfg.model).resolve())
        self.runtime = resolve_runtime(cfg.runtime, device, state["kind"])
        self.precision = resolve_precision(cfg.precision, self.runtime, device)
        if state["kind"] == SSAT:
            self._load_reid(state)
        else:
            pcfg = config_from_dict(state["config"])
            self.model = build_model(pcfg.model_config(), state["model"]).to(device).eval()
            self.size = (pcfg.img_height, pcfg.img_width)
            self.max_dets = pcfg.max_dets
        self.describe = f"torch {self.precision}"
        if self.runtime != "torch":
            self._open_runtime(cfg)

    def _load_teacher(self, cfg: FeaturesConfig) -> None:
        precision = None if cfg.precision == "auto" else cfg.precision
        teacher, _ = load_teacher(
            cfg.teacher, cfg.teacher_arch, self.device, cfg.runtime, precision=precision
        )
        if teacher is None:
            raise McmotError(
                "--model teacher: no teacher installed (pip install 'mcmot[teacher]' or "
                "pass --teacher PATH)"
            )
        self.teacher = teacher
        self.size = cfg.teacher_size
        self.max_dets = 10**9
        self.name = f"teacher:{teacher.name}"
        self.runtime = self.describe = teacher.name

    def _load_reid(self, state: dict) -> None:
        """An SSAT network (its training head dropped) from a checkpoint of kind ``ssat``."""
        ccfg = clips_config_from_dict(state["config"])
        head = state["model"].get("head.weight")
        net = build_reid(ccfg, 0 if head is None else int(head.shape[0]), state["model"])
        net.head = None
        self.reid = net.to(self.device).eval()
        self.size = ccfg.input_size
        self.max_dets = 10**9

    def _open_runtime(self, cfg: FeaturesConfig) -> None:
        """Export the encoder to ONNX in memory and open it in ``self.runtime``."""
        from mcmot.models.export import calibfree_onnx, reid_onnx

        if self.model is not None:
            onnx = calibfree_onnx(self.model, cfg.pooling)
        else:
            assert self.reid is not None
            onnx = reid_onnx(self.reid, self.size)
        self.session = open_session(onnx, self.runtime, precision=self.precision)
        self.describe = f"{self.runtime} {self.session.precision}"

    def _autocast(self) -> torch.autocast:
        """bfloat16 autocast on the encoder's device with ``precision`` bf16, else off."""
        on = self.runtime == "torch" and self.precision == "bf16"
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=on)

    @property
    def shared(self) -> bool:
        """One feature for both halves (teacher, SSAT, histogram), not CalibFree's split."""
        return self.model is None

    @property
    def width(self) -> int:
        """Width of the pooled features before the split."""
        if self.histogram:
            return HISTOGRAM_DIM
        if self.teacher is not None:
            return self.teacher.dim
        if self.reid is not None:
            return self.reid.cfg.dim
        assert self.model is not None
        return self.model.cfg.embed_dim

    def encode(self, groups: list[NDArray[np.uint8]], pooling: str) -> list[NDArray]:
        """Pooled features of each group of crops: list of (k, D) float32 (before the split)."""
        cuts = np.cumsum([len(g) for g in groups])[:-1]
        if self.histogram:
            return list(np.split(colour_histograms(np.concatenate(groups)), cuts))
        if self.teacher is not None:
            return list(
                np.split(self.teacher.pooled_features(np.concatenate(groups), pooling), cuts)
            )
        if self.reid is not None:
            return list(np.split(self._embed_crops(np.concatenate(groups)), cuts))
        out: list[NDArray] = [np.zeros(0)] * len(groups)
        for n in sorted({len(g) for g in groups}):  # no padding: a group's features are its own
            idx = [i for i, g in enumerate(groups) if len(g) == n]
            pooled = self._embed_groups(np.stack([groups[i] for i in idx]), pooling)
            for j, i in enumerate(idx):
                out[i] = pooled[j]
        return out

    def _embed_crops(self, crops: NDArray[np.uint8]) -> NDArray[np.float32]:
        """SSAT: (B, H, W, 3) uint8 crops -> (B, dim) L2-normalised embeddings."""
        if self.session is not None:
            emb = np.asarray(self.session.run(np.ascontiguousarray(crops)), np.float32)
            return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        assert self.reid is not None
        with torch.no_grad(), self._autocast():
            emb = self.reid.embed_images(torch.from_numpy(crops).to(self.device))
        return emb.float().cpu().numpy()

    def _embed_groups(self, crops: NDArray[np.uint8], pooling: str) -> NDArray[np.float32]:
        """CalibFree: (S, N, H, W, 3) uint8 crops -> (S, N, E) pooled features."""
        if self.session is not None:
            return np.asarray(self.session.run(np.ascontiguousarray(crops)), np.float32)
        assert self.model is not None
        t = torch.from_numpy(crops).to(self.device)
        valid = torch.ones(t.shape[:2], dtype=torch.bool, device=self.device)
        with torch.no_grad(), self._autocast():
            pooled = self.model.embed(normalize_crops(t), valid, pooling)
        return pooled.float().cpu().numpy()


def frame_groups(table: MotTable, max_dets: int) -> list[tuple[int, NDArray[np.int64]]]:
    """(frame, row indices) groups: one frame's rows in box order, at most ``max_dets`` per group.

    The encoder gives each detection of a group its own positional slot, so
    the slots follow :func:`mcmot.boxes.box_order`, not the file's row order:
    the same boxes get the same features whatever order ``det/`` lists them in.
    """
    order = box_order(table.frames, table.boxes)
    frames = table.frames[order]
    cuts = np.flatnonzero(np.diff(frames)) + 1
    out: list[tuple[int, NDArray[np.int64]]] = []
    for rows in np.split(order, cuts) if len(order) else []:
        f = int(table.frames[rows[0]])
        out.extend((f, rows[i : i + max_dets]) for i in range(0, len(rows), max_dets))
    return out


def _batches(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def split_normalize(pooled: NDArray, shared: bool) -> tuple[NDArray, NDArray]:
    """(n, E) pooled features -> L2-normalised (f_a, f_s); ``shared`` ones go to both halves."""
    t = torch.from_numpy(np.ascontiguousarray(pooled, np.float32))
    fa, fs = (t, t) if shared else split_features(t)
    return F.normalize(fa, dim=1).numpy(), F.normalize(fs, dim=1).numpy()


def group_crops(img: NDArray[np.uint8], boxes: NDArray, size: tuple[int, int]) -> NDArray:
    """(k, H, W, 3) crops of one group's boxes from its frame, resized to the model's input."""
    return np.stack([crop_resize(img, b, size[0], size[1]) for b in boxes])


def pooled_features(enc: Encoder, cfg: FeaturesConfig, crops: list[NDArray]) -> list[NDArray]:
    """Pooled features of each group of crops, ``cfg.batch`` groups per forward pass.

    A group's features depend on its crops alone (:meth:`Encoder.encode` never
    pads), so the stage (groups of one camera) and the streaming run (groups of
    one timestep) give the same features, to float32 rounding (on some CPUs the
    number of groups in a pass moves the last bit).
    """
    return [fe for part in _batches(crops, cfg.batch) for fe in enc.encode(part, cfg.pooling)]


def _camera(
    scene: Scene,
    cam: Camera,
    enc: Encoder,
    cfg: FeaturesConfig,
    progress: ProgressCallback,
    staging: Staging,
) -> CameraFeatures:
    table = read_mot(scene.path("det", cam.name), unique_ids=False)
    pooled = np.zeros((len(table), enc.width), np.float32)
    done = 0
    with open_source(cam.source) as src:  # type: ignore[arg-type]
        for part in _batches(frame_groups(table, enc.max_dets), cfg.batch):
            crops = []
            for f, rows in part:
                if f > src.num_frames:
                    raise McmotError(
                        f"det/{cam.name}.txt has frame {f} but the camera has {src.num_frames}"
                    )
                crops.append(group_crops(src.read(f), table.boxes[rows], enc.size))
            for (_, rows), fe in zip(part, pooled_features(enc, cfg, crops), strict=True):
                pooled[rows] = fe
            done += sum(len(r) for _, r in part)
            progress(ProgressEvent(f"features {cam.name}", done, len(table)))
    fa, fs = split_normalize(pooled, enc.shared)
    path = scene.path("features", cam.name)
    write_npz(
        staging.path(path),
        f_a=fa.astype(np.float32),
        f_s=fs.astype(np.float32),
        frames=table.frames.astype(np.int64),
        boxes=table.boxes.astype(np.float64),
        checkpoint=np.array(enc.name),
    )
    return CameraFeatures(cam.name, len(table), fa.shape[1], fs.shape[1], path, enc.describe)


def check_features_config(cfg: FeaturesConfig) -> None:
    """One-line errors for missing or out-of-range settings, before any work."""
    if not cfg.model:
        raise McmotError(
            "--model is required: a checkpoint from `mcmot pretrain`, teacher or histogram"
        )
    if cfg.pooling not in ("max", "mean", "cls"):
        raise McmotError(f"--pooling must be max, mean or cls, got {cfg.pooling!r}")
    if cfg.pooling == "cls" and cfg.model != "teacher":
        raise McmotError("--pooling cls is the teacher's class token: use it with --model teacher")
    if cfg.batch < 1:
        raise McmotError("--batch must be at least 1")
    if cfg.precision not in ("auto", "f32", "bf16"):
        raise McmotError(f"--precision must be auto, f32 or bf16, got {cfg.precision!r}")
    if cfg.runtime not in RUNTIME_CHOICES:
        raise McmotError(f"--runtime must be {', '.join(RUNTIME_CHOICES)}, got {cfg.runtime!r}")


@stage_lock("extract-features")
def run_extract_features(
    scene: Scene | Path | str,
    cfg: FeaturesConfig,
    *,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    cameras: list[str] | None = None,
) -> list[CameraFeatures]:
    """Write ``features/<cam>.npz`` for every camera with detections.

    Parameters
    ----------
    scene : the scene (needs pixels and ``det/``)
    cfg : settings; ``cfg.model`` is required
    overwrite : replace existing feature files
    progress : per-camera progress
    cameras : restrict to these cameras

    Returns
    -------
    one CameraFeatures per camera
    """
    scene = scene if isinstance(scene, Scene) else Scene(scene)
    check_features_config(cfg)
    cams = [c for c in scene.select_cameras(cameras) if c.source is not None]
    if not cams:
        raise McmotError(f"{scene.root} has no videos or frame folders to crop detections from")
    missing = [c.name for c in cams if not scene.path("det", c.name).is_file()]
    if missing:
        raise McmotError(
            f"{scene.root} has no det/ for camera(s) {', '.join(missing)}: run `mcmot detect` first"
        )
    enc = Encoder(cfg, resolve_device(cfg.device))
    scene.check_writable([scene.path("features", c.name) for c in cams], overwrite)
    report = progress or (lambda ev: None)
    inputs = [scene.path("det", c.name) for c in cams]
    if cfg.model not in BUILT_IN:
        inputs.append(Path(cfg.model))
    with scene.staged("extract-features") as st:
        results = [_camera(scene, c, enc, cfg, report, st) for c in cams]
        scene.record("features", to_dict(cfg), inputs, [r.path for r in results], st)
    return results
