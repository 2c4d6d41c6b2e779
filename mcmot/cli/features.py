"""``mcmot extract-features``: CalibFree features of every detection (thin CLI)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer
from rich.table import Table

from mcmot.cli.common import (
    Backend,
    CamerasOpt,
    Device,
    OverwriteOpt,
    SceneArg,
    TeacherArchOpt,
    out,
    progress_bar,
    split_names,
)
from mcmot.config import override


class Pooling(str, Enum):
    max = "max"
    mean = "mean"
    cls = "cls"


class Precision(str, Enum):
    auto = "auto"
    f32 = "f32"
    bf16 = "bf16"


ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        help="Checkpoint from `mcmot pretrain`, 'teacher', or 'histogram' (colour, no network).",
        show_default=False,
    ),
]


def features_cmd(
    scene: SceneArg,
    model: ModelOpt,
    device: Annotated[Device, typer.Option(help="Where to run the encoder.")] = Device.auto,
    batch: Annotated[int | None, typer.Option(help="Frame groups per forward pass.", min=1)] = None,
    pooling: Annotated[
        Pooling,
        typer.Option(help="Pooling over a detection's patches; cls: the teacher's class token."),
    ] = Pooling.max,
    teacher: Annotated[
        str | None, typer.Option(help="With --model teacher: auto or a path.")
    ] = None,
    teacher_arch: TeacherArchOpt = None,
    precision: Annotated[
        Precision,
        typer.Option(
            help="The encoder's arithmetic: auto (bfloat16 where the CPU has it natively, "
            "else float32; float32 on onnx and on a GPU), f32, or bf16 (about 1.7x faster "
            "where the CPU has it; not on onnx)."
        ),
    ] = Precision.auto,
    runtime: Annotated[
        Backend,
        typer.Option(
            help="Where the encoder runs: auto (what measured fastest: torch for CalibFree, "
            "the fastest installed runtime for SSAT), torch, onnx or openvino."
        ),
    ] = Backend.auto,
    cameras: CamerasOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Write features/<cam>.npz (f_a view-agnostic, f_s view-specific) for every detection."""
    from mcmot.stages.features import FeaturesConfig, run_extract_features

    cfg = override(
        FeaturesConfig(),
        model=model,
        device=device.value,
        batch=batch,
        pooling=pooling.value,
        teacher=teacher,
        teacher_arch=teacher_arch,
        precision=precision.value,
        runtime=runtime.value,
    )
    with progress_bar() as bar:
        res = run_extract_features(
            scene, cfg, overwrite=overwrite, progress=bar, cameras=split_names(cameras)
        )
    table = Table(title=f"features {scene}")
    for col in ("camera", "detections", "f_a dim", "f_s dim", "encoder", "file"):
        table.add_column(col)
    for r in res:
        table.add_row(r.camera, str(r.rows), str(r.dim_a), str(r.dim_s), r.encoder, str(r.path))
    out.print(table)
