"""``mcmot pretrain``: self-supervised CalibFree pretraining (thin CLI)."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mcmot.cli.common import (
    Boxes,
    OverwriteOpt,
    ScenesArg,
    TeacherArchOpt,
    given,
    info,
    progress_bar,
    was_given,
)
from mcmot.cli.pretrain_clips import (
    ArchOpt,
    ClipSecondsOpt,
    InitOpt,
    InputOpt,
    InputsOpt,
    MarginOpt,
    ScaleOpt,
    clips_settings,
    run_clips,
)
from mcmot.cli.pretrain_cross_input import (
    MinDetsOpt,
    NMaxOpt,
    NMinOpt,
    cross_input_settings,
    run_cross_input,
)
from mcmot.cli.training import Session, layered_settings, train_and_report
from mcmot.errors import McmotError
from mcmot.scene import Scene
from mcmot.training.settings import MAX_LR, MAX_MINUTES

if TYPE_CHECKING:
    from mcmot.models.pretrain_config import PretrainConfig


class Preset(str, Enum):
    cpu = "cpu"
    paper = "paper"


OutOpt = Annotated[
    Path, typer.Option("--out", help="Run folder for checkpoints and logs.", show_default=False)
]
PresetOpt = Annotated[
    Preset,
    typer.Option(
        help="Starting settings: cpu (small ViT, cross-view options on, see docs/method.md) "
        "or paper (the paper's Appendix D, unchanged)."
    ),
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="JSON file of setting overrides.")]
EpochsOpt = Annotated[int | None, typer.Option(help="Passes over all timesteps.")]
MinutesOpt = Annotated[
    float | None,
    typer.Option(
        help=f"Wall-clock budget, above 0 and at most {MAX_MINUTES}; the schedule is "
        "planned for it."
    ),
]
TeacherOpt = Annotated[
    str | None, typer.Option(help="auto | none | PATH (ONNX or timm checkpoint).")
]
BoxesOpt = Annotated[
    Boxes | None, typer.Option(help="Train on detections (det) or ground truth (gt).")
]
BatchSizeOpt = Annotated[int | None, typer.Option(help="Timesteps per step.")]
LrOpt = Annotated[
    float | None, typer.Option(help=f"Peak learning rate, above 0 and at most {MAX_LR:g}.")
]
SeedOpt = Annotated[int | None, typer.Option(help="Random seed (0 or more).")]
DeviceOpt = Annotated[str | None, typer.Option(help="auto | cpu | cuda.")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Any other setting, KEY=VALUE, read as the field's type (comma-separated values "
        "for a tuple, none for None where allowed; repeatable).",
        metavar="K=V",
    ),
]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")]


def pretrain_settings(
    preset: str, config: Path | None, sets: list[str] | None, options: dict[str, Any]
) -> PretrainConfig:
    """The settings of a run, checked: the preset, then the ``--config`` file, the
    ``--set`` fields, ``--minutes`` or ``--epochs`` and the other ``options``
    (PretrainConfig fields), each over the ones before."""
    from mcmot.models.pretrain_config import PRESETS, check_pretrain_config

    cfg = layered_settings(PRESETS[preset], config, sets, options)
    check_pretrain_config(cfg)
    return cfg


class Objective(str, Enum):
    calibfree = "calibfree"
    clips = "clips"
    cross_input = "cross-input"


ObjectiveOpt = Annotated[
    Objective,
    typer.Option(
        "--objective",
        help="calibfree (CalibFree's masked autoencoder on scenes), clips (SSAT: every "
        "short clip its own class; SCENES may also be videos or folders of videos) or "
        "cross-input (the learned tracker for `track --tracker learned`).",
    ),
]
#: Options of one objective only: giving them with the other is an error.
CALIBFREE_ONLY = ("preset", "teacher", "teacher_arch", "boxes")
CLIPS_ONLY = ("clip_seconds", "arch", "input_size", "s", "m", "inputs", "init")
CROSS_INPUT_ONLY = ("n_min", "n_max", "min_dets")


def _given_named(ctx: typer.Context, names: tuple[str, ...]) -> dict[str, Any]:
    """The options of ``names`` that were given, by name."""
    return {n: ctx.params[n] for n in names if was_given(ctx, n)}


def _refuse(ctx: typer.Context, names: tuple[str, ...], objective: str) -> None:
    """A one-line error if an option of ``names`` (the other objective's) was given."""
    wrong = [n for n in names if was_given(ctx, n)]
    if wrong:
        flags = ", ".join("--" + n.replace("_", "-").replace("input-size", "input") for n in wrong)
        raise McmotError(f"{flags}: not an option of --objective {objective}")


def pretrain_cmd(
    ctx: typer.Context,
    scenes: ScenesArg,
    out_dir: OutOpt,
    objective: ObjectiveOpt = Objective.calibfree,
    preset: PresetOpt = Preset.cpu,
    config: ConfigOpt = None,
    epochs: EpochsOpt = None,
    minutes: MinutesOpt = None,
    teacher: TeacherOpt = None,
    teacher_arch: TeacherArchOpt = None,
    boxes: BoxesOpt = None,
    batch_size: BatchSizeOpt = None,
    lr: LrOpt = None,
    seed: SeedOpt = None,
    device: DeviceOpt = None,
    set_: SetOpt = None,
    clip_seconds: ClipSecondsOpt = None,
    inputs: InputsOpt = None,
    arch: ArchOpt = None,
    input_size: InputOpt = None,
    s: ScaleOpt = None,
    m: MarginOpt = None,
    init: InitOpt = None,
    n_min: NMinOpt = None,
    n_max: NMaxOpt = None,
    min_dets: MinDetsOpt = None,
    resume: ResumeOpt = False,
    overwrite: OverwriteOpt = False,
) -> None:
    """Pretrain on unlabeled footage: the CalibFree encoder (default), SSAT's re-ID network
    (--objective clips) or the learned tracker (--objective cross-input). No labels, no
    calibration."""
    started = time.perf_counter()  # --minutes is wall time from here, detection aside
    from mcmot.models.clips_config import ClipsConfig
    from mcmot.models.cross_input_config import CrossInputConfig
    from mcmot.models.pretrain_config import PretrainConfig
    from mcmot.training.distributed import launched

    if objective is Objective.cross_input:
        _refuse(ctx, CALIBFREE_ONLY + CLIPS_ONLY, objective.value)
        xcfg = cross_input_settings(config, set_, given(ctx, CrossInputConfig))
        if launched().world == 1 and _detect_first(scenes):
            started = time.perf_counter()
        run_cross_input(list(scenes), out_dir, xcfg, Session(resume, overwrite, started=started))
        return
    if objective is Objective.clips:
        _refuse(ctx, CALIBFREE_ONLY + CROSS_INPUT_ONLY, "clips")
        options = {**given(ctx, ClipsConfig), **_given_named(ctx, ("input_size",))}
        ccfg = clips_settings(config, set_, options)
        run_clips(list(scenes), out_dir, ccfg, Session(resume, overwrite, started=started))
        return
    _refuse(ctx, CLIPS_ONLY + CROSS_INPUT_ONLY, "calibfree")
    cfg = pretrain_settings(preset.value, config, set_, given(ctx, PretrainConfig))
    if cfg.boxes == "det" and launched().world == 1 and _detect_first(scenes):
        started = time.perf_counter()
    _run_calibfree(list(scenes), out_dir, cfg, Session(resume, overwrite, started=started))


def _run_calibfree(
    scenes: list[Path], out_dir: Path, cfg: PretrainConfig, session: Session
) -> None:
    """Train, print the summary table, and exit 130 after Ctrl-C."""
    from mcmot.stages.pretrain import PretrainResult, run_pretrain

    def extra(res: PretrainResult) -> list[tuple[str, str]]:
        rows = [("timesteps", str(res.timesteps)), ("teacher", res.teacher or "none")]
        return rows + ([("teacher targets", res.teacher_targets)] if res.teacher_targets else [])

    train_and_report(f"pretrain {out_dir}", run_pretrain, scenes, out_dir, cfg, session, extra)


def _detect_first(scenes: list[Path]) -> bool:
    """Detect in the scenes that have videos and no det/ yet; whether any did."""
    from mcmot.stages.run import ensure_detections

    ran = False
    with progress_bar() as bar:
        for sc in scenes:
            ran = ensure_detections(Scene(sc), progress=bar, log=info) or ran
    return ran
