"""The detector's network through an inference runtime: ONNX Runtime or OpenVINO.

The torch path runs ultralytics' predictor on the checkpoint. A runtime
backend changes one step of it, the network's forward pass: the checkpoint is
exported once to ONNX (by ultralytics' exporter, offline) for each network
input size, into a cache folder, and ONNX Runtime or OpenVINO runs that file.
ultralytics' predictor still letterboxes the frames, runs non-maximum
suppression and scales boxes and keypoints back as on the torch path, so the
two paths differ only in the network's arithmetic.

Both runtimes read the same ONNX file (mcmot.runtimes opens it). A cached
export is named by the checkpoint's SHA-256 and the input size, so a changed
checkpoint or size gets its own file; it is written atomically, so an
interrupted export leaves no partial file. A missing runtime or exporter is a
one-line error naming the pip extra to install, never an install attempt.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mcmot.atomic import atomic_path, make_dir, write_error
from mcmot.boxes import iou_matrix
from mcmot.caches import CACHE
from mcmot.detectors import FrameDetections, first_line, load_model, resolve_device
from mcmot.errors import McmotError
from mcmot.runtimes import SPEED_ORDER, Session, backend_installed, install_hint, open_session

#: The backends by name: ultralytics' torch path, ONNX Runtime, OpenVINO.
BACKENDS = ("torch", "onnx", "openvino")
#: What ``backend`` accepts: a backend, or 'auto' (:func:`resolve_backend`).
CHOICES = ("auto", *BACKENDS)
#: CPU backends fastest first (docs/detect.md): 'auto' takes the first installed.
CPU_SPEED_ORDER = (*SPEED_ORDER, "torch")
#: Where a scene keeps its exported models, relative to the scene folder.
SCENE_EXPORT_DIR = Path(CACHE) / "detector"


def check_backend_name(backend: str) -> str:
    """``backend`` when it is one of :data:`CHOICES`, else a one-line McmotError."""
    if backend not in CHOICES:
        raise McmotError(f"bad backend {backend!r}; use {', '.join(CHOICES)}")
    return backend


def resolve_backend(backend: str, device: str, weights: Path) -> tuple[str, str]:
    """The backend and the device to run ``weights`` on.

    'auto' is the torch path on CUDA or for weights that are no ``.pt``
    checkpoint, else the fastest installed CPU backend (:data:`CPU_SPEED_ORDER`).
    A runtime backend runs on the CPU: device 'auto' becomes 'cpu'.

    Raises
    ------
    McmotError
        for an unknown name, a runtime backend asked for CUDA or for weights
        that are no ``.pt`` checkpoint, or one that is not installed.
    """
    name = check_backend_name(backend.strip().lower())
    if name == "auto":
        dev = resolve_device(device)
        if dev.startswith("cuda") or weights.suffix != ".pt":
            return "torch", dev
        return next(b for b in CPU_SPEED_ORDER if backend_installed(b)), dev
    if name == "torch":
        return name, resolve_device(device)
    if device.strip().lower() not in ("auto", "cpu"):
        raise McmotError(f"backend {name} runs on the CPU; use --device cpu or --backend torch")
    if weights.suffix != ".pt":
        raise McmotError(
            f"backend {name} exports a .pt checkpoint and {weights.name} is none; "
            "use --backend torch"
        )
    if not backend_installed(name):
        raise McmotError(f"backend {name} is not installed: {install_hint(name)}")
    return name, "cpu"


# ------------------------------------------------------------------ export


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export_path(folder: Path, weights: Path, shape: tuple[int, int]) -> Path:
    """The cached ONNX export of ``weights`` for (height, width) inputs, in ``folder``."""
    return folder / f"{weights.stem}-{file_digest(weights)[:16]}-{shape[0]}x{shape[1]}.onnx"


def export_onnx(weights: Path, shape: tuple[int, int], folder: Path) -> Path:
    """The ONNX export of ``weights`` for (height, width) inputs: cached, or exported now.

    The exporter works on a copy of the checkpoint in a temporary folder
    inside ``folder`` (it writes beside its input, which may be read-only),
    and the result is renamed into place.

    Raises
    ------
    McmotError
        when the exporter is not installed, the folder cannot be written, or
        the export fails.
    """
    path = export_path(folder, weights, shape)
    if path.is_file():
        return path
    if importlib.util.find_spec("onnx") is None:
        raise McmotError(f"exporting the detector to ONNX needs onnx: {install_hint('onnx')}")
    with atomic_path(path, suffix=".onnx") as tmp, _work_folder(folder) as work:
        copy = work / weights.name
        shutil.copyfile(weights, copy)
        os.replace(_run_exporter(copy, shape), tmp)
    return path


@contextlib.contextmanager
def _work_folder(folder: Path) -> Iterator[Path]:
    """A temporary folder inside ``folder``, removed afterwards (also on Ctrl-C)."""
    make_dir(folder)
    try:
        work = Path(tempfile.mkdtemp(prefix=".export-", dir=folder))
    except OSError as exc:
        raise write_error(folder, exc) from exc
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run_exporter(weights: Path, shape: tuple[int, int]) -> Path:
    """ultralytics' ONNX export of ``weights``: static (1, 3, h, w) input, float32."""
    model = load_model(weights)
    try:
        with warnings.catch_warnings():  # the tracer's warnings say nothing to a user
            warnings.simplefilter("ignore")
            out = model.export(
                format="onnx", imgsz=list(shape), dynamic=False, simplify=False, device="cpu"
            )
    except Exception as exc:  # noqa: BLE001 - the exporter raises many kinds
        raise McmotError(f"cannot export {weights.name} to ONNX: {first_line(exc)}") from None
    return Path(out)


# ------------------------------------------------------------------ running


class Runtime:
    """The network of a checkpoint on a CPU runtime, one exported model per input size.

    Parameters
    ----------
    weights : the ``.pt`` checkpoint
    backend : 'onnx' or 'openvino'
    folder : the cache of exported models
    threads, precision : as in :func:`open_session`
    """

    def __init__(
        self,
        weights: Path,
        backend: str,
        folder: Path,
        threads: int | None = None,
        precision: str | None = None,
    ) -> None:
        self.weights, self.backend, self.folder = weights, backend, Path(folder)
        self.threads, self.precision = threads, precision
        self._sessions: dict[tuple[int, int], Session] = {}

    def session(self, shape: tuple[int, int]) -> Session:
        """The session for (height, width) inputs, exporting and loading it on first use."""
        if shape not in self._sessions:
            path = export_onnx(self.weights, shape, self.folder)
            self._sessions[shape] = open_session(path, self.backend, self.threads, self.precision)
        return self._sessions[shape]

    def __call__(self, images: NDArray[np.float32]) -> NDArray[np.float32]:
        """The raw output for a (B, 3, h, w) batch, one image at a time (static exports)."""
        run = self.session((int(images.shape[2]), int(images.shape[3]))).run
        return np.concatenate(
            [run(np.ascontiguousarray(images[i : i + 1])) for i in range(len(images))]
        )

    def describe(self) -> str:
        """'openvino bf16': the backend and the precision of the sessions opened so far."""
        used = sorted({s.precision for s in self._sessions.values()})
        return " ".join([self.backend, *used])


def runtime_predictor(base: type, runtime: Runtime) -> type:
    """A subclass of ultralytics' predictor ``base`` whose forward pass is ``runtime``.

    Pass it as ``YOLO.predict(..., predictor=cls)``: preprocessing,
    non-maximum suppression and the scaling of boxes and keypoints stay
    ultralytics' own, as on the torch path.
    """
    import torch

    class RuntimePredictor(base):  # type: ignore[valid-type, misc]
        def inference(self, im: Any, *args: Any, **kwargs: Any) -> Any:
            return torch.from_numpy(runtime(im.cpu().numpy()))

    return RuntimePredictor


# ------------------------------------------------------------------ agreement


@dataclass(frozen=True)
class Agreement:
    """How closely one detector's boxes follow a reference's, summed over frames.

    Boxes are paired one to one (Hungarian on IoU, pairs at IoU >= 0.5).

    Attributes
    ----------
    matched : number of pairs
    min_iou : the lowest IoU of a pair (1 when none)
    max_score_diff : the largest score difference of a pair
    unmatched_scores : scores of the boxes of either side left without a pair
    """

    matched: int = 0
    min_iou: float = 1.0
    max_score_diff: float = 0.0
    unmatched_scores: tuple[float, ...] = ()

    def __add__(self, other: Agreement) -> Agreement:
        return Agreement(
            self.matched + other.matched,
            min(self.min_iou, other.min_iou),
            max(self.max_score_diff, other.max_score_diff),
            self.unmatched_scores + other.unmatched_scores,
        )


def agreement(ref: FrameDetections, other: FrameDetections) -> Agreement:
    """The :class:`Agreement` of ``other``'s boxes with ``ref``'s in one frame."""
    from mcmot.assignment import linear_sum_assignment

    iou = iou_matrix(ref.boxes, other.boxes)
    rows, cols = linear_sum_assignment(-iou) if iou.size else (np.zeros(0, int),) * 2
    paired = iou[rows, cols] >= 0.5
    rows, cols = rows[paired], cols[paired]
    lone = [*np.delete(ref.scores, rows), *np.delete(other.scores, cols)]
    return Agreement(
        len(rows),
        float(iou[rows, cols].min()) if len(rows) else 1.0,
        float(np.abs(ref.scores[rows] - other.scores[cols]).max()) if len(rows) else 0.0,
        tuple(float(s) for s in lone),
    )


@dataclass(frozen=True)
class Tolerance:
    """How far a runtime's boxes may stray from the torch path's (docs/detect.md).

    Every box pairs with one of the other side at IoU >= ``min_iou``, with
    scores within ``score``; a box without a pair is allowed only when its
    score is within ``score`` of the confidence threshold (the other side's
    twin fell just below it).
    """

    min_iou: float
    score: float

    def holds(self, found: Agreement, conf: float) -> bool:
        """Whether ``found`` keeps within this tolerance at threshold ``conf``."""
        return (
            found.min_iou >= self.min_iou
            and found.max_score_diff <= self.score
            and all(s - conf <= self.score for s in found.unmatched_scores)
        )


#: The stated tolerance by a session's precision (measured on PETS09-S2L1, docs/detect.md).
TOLERANCE = {"f32": Tolerance(min_iou=0.999, score=0.001), "bf16": Tolerance(0.9, 0.03)}
