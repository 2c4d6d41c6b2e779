"""``mcmot track``: DeepSORT within each camera, ``det/`` (+ ``features/``) -> ``tracks/``."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from mcmot.cli.common import (
    CamerasOpt,
    FpsOpt,
    OverwriteOpt,
    SceneArg,
    TrackFeatures,
    ZeroBasedOpt,
    given,
    info,
    out,
    progress_bar,
    split_names,
    was_given,
)
from mcmot.errors import McmotError
from mcmot.scene import Scene
from mcmot.tracking.config import LearnedConfig, SsatConfig, TrackerConfig

if TYPE_CHECKING:
    from mcmot.stages.track import TrackSummary

_D = TrackerConfig()


class TrackerChoice(str, Enum):
    deepsort = "deepsort"
    ssat = "ssat"
    learned = "learned"


class MotionCost(str, Enum):
    auto = "auto"
    iou = "iou"
    mahalanobis = "mahalanobis"
    hybrid = "hybrid"


# Each option named as a TrackerConfig field (fps ... appearance_weight) sets that field.
FeaturesOpt = Annotated[
    TrackFeatures,
    typer.Option(
        "--features",
        help="Appearance features from features/<cam>.npz: f_s (view-specific), f_a "
        "(view-agnostic), or none (motion and IoU only).",
    ),
]
MaxAgeOpt = Annotated[
    float | None,
    typer.Option(
        "--max-age-seconds",
        help=f"Seconds a lost track survives (default: {_D.max_age_seconds}).",
    ),
]
NInitOpt = Annotated[
    float | None,
    typer.Option(
        "--n-init-seconds",
        help="Seconds of consecutive hits that confirm a new track (rounded up to frames, "
        f"at least one) (default: {_D.n_init_seconds}; learned: 0, every detection written "
        "from its first frame, as in the paper).",
    ),
]
MaxCosineOpt = Annotated[
    float | None,
    typer.Option(
        "--max-cosine-distance",
        help=f"Appearance gate (default: {_D.max_cosine_distance}).",
    ),
]
GateQuantileOpt = Annotated[
    float | None,
    typer.Option(
        "--cosine-gate-quantile",
        help="Calibrate the appearance gate per camera: this quantile of the cosine "
        "distances between detections of one frame; 0 = off, use --max-cosine-distance "
        f"(giving --max-cosine-distance alone also turns it off) (default: "
        f"{_D.cosine_gate_quantile}).",
    ),
]
MaxIouOpt = Annotated[
    float | None,
    typer.Option(
        "--max-iou-distance", help=f"Largest 1 - IoU accepted (default: {_D.max_iou_distance})."
    ),
]
NnBudgetOpt = Annotated[
    int | None,
    typer.Option("--nn-budget", help=f"Features kept per track (default: {_D.nn_budget})."),
]
MinConfidenceOpt = Annotated[
    float | None,
    typer.Option(
        "--min-confidence",
        help=f"Ignore detections scoring below this, 0 to 1 (default: {_D.min_confidence}).",
    ),
]
LowConfidenceOpt = Annotated[
    float | None,
    typer.Option(
        "--low-confidence",
        help="BYTE's second stage: detections scoring from this up to --min-confidence "
        "may continue a track seen in the previous frame (IoU), never start one "
        "(default off).",
    ),
]
EmitTentativeOpt = Annotated[
    bool,
    typer.Option(
        "--emit-tentative",
        help="Also write the first n_init - 1 frames of every track once it is confirmed.",
    ),
]
MotionCostOpt = Annotated[
    MotionCost | None,
    typer.Option(
        "--motion-cost",
        help="Cascade cost without features: iou, mahalanobis, hybrid (IoU for "
        "tracks seen last frame, Mahalanobis after a gap), or auto: iou, and mahalanobis "
        f"below 7 tracked frames per second (default: {_D.motion_cost}).",
    ),
]
MotionWeightOpt = Annotated[
    float | None,
    typer.Option(
        "--motion-weight",
        min=0.0,
        max=1.0,
        help="With features: lambda of DeepSORT's eq. 5, the motion cost's share in "
        f"ranking the gated pairs (default: {_D.motion_weight}, appearance alone).",
    ),
]
AppearanceWeightOpt = Annotated[
    float | None,
    typer.Option(
        "--appearance-weight",
        min=0.0,
        max=1.0,
        help="The appearance cue's weight: 0 = motion only; below 1, appearance moves "
        "the motion cost by at most this many thresholds; 1 = DeepSORT's appearance "
        "cascade (default: per camera, from how well its own features separate "
        "same-frame pairs from sure consecutive-frame links).",
    ),
]
CalibrationSecondsOpt = Annotated[
    float | None,
    typer.Option(
        "--calibration-seconds",
        min=0.0,
        help="Calibrate the appearance gate and weight on each camera's first this many "
        "seconds (default: the whole recording; `run --online` calibrates on its warm-up).",
    ),
]
_S = SsatConfig()
TrackerOpt = Annotated[
    TrackerChoice,
    typer.Option(
        "--tracker",
        help="deepsort (Kalman filter, matching cascade), ssat (SSAT's cosine plus box "
        "distance in two stages, EMA track features) or learned (matchers trained by "
        "`pretrain --objective cross-input`, given as --model; reads the video, not "
        "features/); see docs/tracking.md.",
    ),
]
Tau1Opt = Annotated[
    float | None,
    typer.Option(
        "--tau1", help=f"ssat: largest D for a track seen last frame (default: {_S.tau1})."
    ),
]
Tau2Opt = Annotated[
    float | None,
    typer.Option("--tau2", help=f"ssat: largest D for a lost track (default: {_S.tau2})."),
]
AlphaOpt = Annotated[
    float | None,
    typer.Option(
        "--alpha", help=f"ssat: box distance scale, in track perimeters (default: {_S.alpha})."
    ),
]
EmaOpt = Annotated[
    float | None,
    typer.Option(
        "--ema",
        help=f"ssat: a new feature's weight in the track's average; 1 = latest only "
        f"(default: {_S.ema}).",
    ),
]
BoxCostOpt = Annotated[
    bool | None,
    typer.Option(
        "--box-cost/--no-box-cost",
        help="ssat: add the box distance to the cosine one (default: on).",
    ),
]
MinLogitOpt = Annotated[
    float | None,
    typer.Option(
        "--min-logit",
        help="learned: refuse a pair either matcher scores below this (default: no gate).",
    ),
]
MaxSpeedOpt = Annotated[
    float | None,
    typer.Option(
        "--max-speed",
        help="learned: a track only takes a detection within 0.5 + this many box sizes "
        "(a person's height) per second since it was last seen (default: "
        f"{LearnedConfig.__dataclass_fields__['max_speed'].default}; 0 = no limit, the paper).",
    ),
]
ExitSecondsOpt = Annotated[
    float | None,
    typer.Option(
        "--exit-seconds",
        help="learned: a track missed longer than this is not matched across the frame's "
        "border: last seen there it has left, and a detection there is a newcomer (default: "
        f"{LearnedConfig.__dataclass_fields__['exit_seconds'].default}; 0 = never, the paper).",
    ),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="deepsort, ssat: a CalibFree or SSAT checkpoint (or 'teacher') to extract "
        "features/ with first when missing; learned: its cross-input checkpoint.",
    ),
]


def track_cmd(
    ctx: typer.Context,
    scene: SceneArg,
    features: FeaturesOpt = TrackFeatures.f_s,
    tracker: TrackerOpt = TrackerChoice.deepsort,
    fps: FpsOpt = None,
    max_age_seconds: MaxAgeOpt = None,
    n_init_seconds: NInitOpt = None,
    max_cosine_distance: MaxCosineOpt = None,
    cosine_gate_quantile: GateQuantileOpt = None,
    max_iou_distance: MaxIouOpt = None,
    nn_budget: NnBudgetOpt = None,
    min_confidence: MinConfidenceOpt = None,
    low_confidence: LowConfidenceOpt = None,
    emit_tentative: EmitTentativeOpt = False,
    motion_cost: MotionCostOpt = None,
    motion_weight: MotionWeightOpt = None,
    appearance_weight: AppearanceWeightOpt = None,
    calibration_seconds: CalibrationSecondsOpt = None,
    tau1: Tau1Opt = None,
    tau2: Tau2Opt = None,
    alpha: AlphaOpt = None,
    ema: EmaOpt = None,
    box_cost: BoxCostOpt = None,
    min_logit: MinLogitOpt = None,
    max_speed: MaxSpeedOpt = None,
    exit_seconds: ExitSecondsOpt = None,
    model: ModelOpt = None,
    cameras: CamerasOpt = None,
    overwrite: OverwriteOpt = False,
    zero_based: ZeroBasedOpt = False,
) -> None:
    """Track people within each camera (DeepSORT, SSAT or learned) and write tracks/<cam>.txt.

    On a folder of videos with no det/ yet, detect runs first; with --model,
    extract-features too; without features the tracker uses motion and IoU.
    """
    from mcmot.stages.track import choose_tracker, prepare_inputs, run_track

    options = {**given(ctx, TrackerConfig), **given(ctx, SsatConfig), **given(ctx, LearnedConfig)}
    options.pop("model", None)  # named as their fields; --model is passed on its own
    cfg = choose_tracker(tracker.value, model if tracker.value == "learned" else None, **options)
    if tracker.value == "learned":
        _no_features(ctx)
        features = TrackFeatures.none
    sc, names = Scene(scene), split_names(cameras)
    with progress_bar() as progress:
        used = prepare_inputs(sc, features.value, model, names, progress=progress, log=info)
        summaries = run_track(
            sc,
            cfg,
            features=used,
            cameras=names,
            zero_based=zero_based,
            overwrite=overwrite,
            progress=progress,
        )
    _report(sc, summaries, "crops" if tracker.value == "learned" else used)


def _no_features(ctx: typer.Context) -> None:
    """``--features`` with the learned tracker is a one-line error: it reads the video."""
    if was_given(ctx, "features"):
        raise McmotError("--features: not an option of --tracker learned (it crops the video)")


def _report(sc: Scene, summaries: list[TrackSummary], features: str) -> None:
    for note in summaries[0].notes if summaries else []:
        info(note)
    if features == "none":
        info("tracked on motion and IoU alone (--features none): no appearance features")
    table = Table(title=f"tracks written to {sc.stage_dir('tracks')}")
    for name in ("camera", "frames", "detections", "tracks", "rows", "seconds"):
        table.add_column(name, justify="left" if name == "camera" else "right")
    for s in summaries:
        table.add_row(
            s.camera,
            str(s.frames),
            str(s.detections),
            str(s.tracks),
            str(s.rows),
            f"{s.seconds:.2f}",
        )
    out.print(table)
    for s in summaries:
        if s.appearance:
            info(f"{s.camera}: {s.appearance}")
