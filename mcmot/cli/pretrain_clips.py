"""``mcmot pretrain --objective clips``: the options and the run of SSAT's clip training."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mcmot.cli.training import Session, layered_settings, train_and_report
from mcmot.models.clips_config import ClipsConfig, check_clips_config

if TYPE_CHECKING:
    from mcmot.stages.pretrain_clips import ClipsResult

_C = ClipsConfig()


class Arch(str, Enum):
    resnet18 = "resnet18"
    resnet34 = "resnet34"
    resnet50 = "resnet50"
    mobilenet_v2 = "mobilenet_v2"


class Inputs(str, Enum):
    frames = "frames"
    tracklets = "tracklets"


ClipSecondsOpt = Annotated[
    float | None,
    typer.Option(
        help=f"clips: cut videos (and tracks) into classes this long (default: {_C.clip_seconds})."
    ),
]
ArchOpt = Annotated[
    Arch | None, typer.Option(help=f"clips: the CNN backbone (default: {_C.arch}).")
]
InputOpt = Annotated[
    tuple[int, int] | None,
    typer.Option(
        "--input",
        help=f"clips: network input HEIGHT WIDTH (default: {_C.input_height} {_C.input_width}).",
        metavar="H W",
    ),
]
ScaleOpt = Annotated[
    float | None, typer.Option("--s", help=f"clips: CosFace's scale (default: {_C.s}).")
]
MarginOpt = Annotated[
    float | None, typer.Option("--m", help=f"clips: CosFace's margin (default: {_C.m}).")
]
InputsOpt = Annotated[
    Inputs | None,
    typer.Option(
        "--inputs",
        help="clips: frames (the paper: whole frames of each clip) or tracklets (a variant: "
        "person crops of each piece of a track of the scenes' tracks/) (default: frames).",
    ),
]
InitOpt = Annotated[
    str | None,
    typer.Option(
        "--init",
        help="clips: start from this backbone state dict (torchvision key names; e.g. your "
        "own ImageNet weights); default: from scratch. Never downloaded.",
    ),
]


def clips_settings(
    config: Path | None, sets: list[str] | None, options: dict[str, Any]
) -> ClipsConfig:
    """The checked settings: defaults, the ``--config`` file, ``--set`` fields, then the options
    (``input_size`` sets ``input_height`` and ``input_width``)."""
    options = dict(options)
    size = options.pop("input_size", None)
    if size is not None:
        options["input_height"], options["input_width"] = size
    cfg = layered_settings(ClipsConfig(), config, sets, options)
    check_clips_config(cfg)
    return cfg


def run_clips(sources: list[Path], out_dir: Path, cfg: ClipsConfig, session: Session) -> None:
    """Train, print the summary table, and exit 130 after Ctrl-C."""
    from mcmot.stages.pretrain_clips import run_pretrain_clips

    def extra(res: ClipsResult) -> list[tuple[str, str]]:
        return [("classes (clips)", str(res.classes)), ("images", str(res.images))]

    title = f"pretrain --objective clips {out_dir}"
    train_and_report(title, run_pretrain_clips, sources, out_dir, cfg, session, extra)
