"""``mcmot track``: DeepSORT within each camera, ``det/`` (+ ``features/``) -> ``tracks/``."""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Annotated

import typer
from rich.table import Table

from mcmot.cli.common import (
    CamerasOpt,
    FpsOpt,
    OverwriteOpt,
    SceneArg,
    ZeroBasedOpt,
    info,
    out,
    progress_bar,
    split_names,
)
from mcmot.config import check_types, override
from mcmot.errors import McmotError
from mcmot.scene import Scene
from mcmot.stages.features import FeaturesConfig, run_extract_features
from mcmot.stages.run import ensure_detections
from mcmot.stages.track import TrackSummary, run_track
from mcmot.tracking import TrackerConfig

_D = TrackerConfig()


class MotionCost(str, Enum):
    iou = "iou"
    mahalanobis = "mahalanobis"
    hybrid = "hybrid"


class FeatureChoice(str, Enum):
    f_s = "f_s"
    f_a = "f_a"
    none = "none"


def track_cmd(
    scene: SceneArg,
    features: Annotated[
        FeatureChoice,
        typer.Option(
            "--features",
            help="Appearance features from features/<cam>.npz: f_s (view-specific), f_a "
            "(view-agnostic), or none (motion and IoU only).",
        ),
    ] = FeatureChoice.f_s,
    fps: FpsOpt = None,
    max_age_seconds: Annotated[
        float | None,
        typer.Option(
            "--max-age-seconds",
            help=f"Seconds a lost track survives [default: {_D.max_age_seconds}].",
        ),
    ] = None,
    n_init_seconds: Annotated[
        float | None,
        typer.Option(
            "--n-init-seconds",
            help="Seconds of consecutive hits that confirm a new track (rounded up to frames, "
            f"at least one) [default: {_D.n_init_seconds}].",
        ),
    ] = None,
    max_cosine_distance: Annotated[
        float | None,
        typer.Option(
            "--max-cosine-distance",
            help=f"Appearance gate [default: {_D.max_cosine_distance}].",
        ),
    ] = None,
    cosine_gate_quantile: Annotated[
        float | None,
        typer.Option(
            "--cosine-gate-quantile",
            help="Calibrate the appearance gate per camera: this quantile of the cosine "
            "distances between detections of one frame; 0 = off, use --max-cosine-distance "
            f"(giving --max-cosine-distance alone also turns it off) [default: "
            f"{_D.cosine_gate_quantile}].",
        ),
    ] = None,
    max_iou_distance: Annotated[
        float | None,
        typer.Option(
            "--max-iou-distance", help=f"Largest 1 - IoU accepted [default: {_D.max_iou_distance}]."
        ),
    ] = None,
    nn_budget: Annotated[
        int | None,
        typer.Option("--nn-budget", help=f"Features kept per track [default: {_D.nn_budget}]."),
    ] = None,
    min_confidence: Annotated[
        float | None,
        typer.Option(
            "--min-confidence",
            help=f"Ignore detections scoring below this, 0 to 1 [default: {_D.min_confidence}].",
        ),
    ] = None,
    low_confidence: Annotated[
        float | None,
        typer.Option(
            "--low-confidence",
            help="BYTE's second stage: detections scoring from this up to --min-confidence "
            "may continue a track seen in the previous frame (IoU), never start one "
            "(default off).",
        ),
    ] = None,
    emit_tentative: Annotated[
        bool,
        typer.Option(
            "--emit-tentative",
            help="Also write the first n_init - 1 frames of every track once it is confirmed.",
        ),
    ] = False,
    motion_cost: Annotated[
        MotionCost | None,
        typer.Option(
            "--motion-cost",
            help="Cascade cost without features: iou, mahalanobis, or hybrid (IoU for "
            f"tracks seen last frame, Mahalanobis after a gap) [default: {_D.motion_cost}].",
        ),
    ] = None,
    motion_weight: Annotated[
        float | None,
        typer.Option(
            "--motion-weight",
            min=0.0,
            max=1.0,
            help="With features: lambda of DeepSORT's eq. 5, the motion cost's share in "
            f"ranking the gated pairs [default: {_D.motion_weight}, appearance alone].",
        ),
    ] = None,
    appearance_weight: Annotated[
        float | None,
        typer.Option(
            "--appearance-weight",
            min=0.0,
            max=1.0,
            help="The appearance cue's weight: 0 = motion only; below 1, appearance moves "
            "the motion cost by at most this many thresholds; 1 = DeepSORT's appearance "
            "cascade [default: per camera, from how well its own features separate "
            "same-frame pairs from sure consecutive-frame links].",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="CalibFree checkpoint (or 'teacher'): extract features/ first when missing.",
        ),
    ] = None,
    cameras: CamerasOpt = None,
    overwrite: OverwriteOpt = False,
    zero_based: ZeroBasedOpt = False,
) -> None:
    """Track people within each camera (DeepSORT) and write tracks/<cam>.txt.

    On a folder of videos with no det/ yet, detect runs first; with --model,
    extract-features too; without features the tracker uses motion and IoU.
    """
    sc = Scene(scene)
    base = TrackerConfig()
    if cosine_gate_quantile == 0 or (cosine_gate_quantile is None and max_cosine_distance):
        base = dataclasses.replace(base, cosine_gate_quantile=None)  # a fixed gate
        cosine_gate_quantile = None
    cfg = override(
        base,
        fps=fps,
        max_age_seconds=max_age_seconds,
        n_init_seconds=n_init_seconds,
        max_cosine_distance=max_cosine_distance,
        cosine_gate_quantile=cosine_gate_quantile,
        max_iou_distance=max_iou_distance,
        nn_budget=nn_budget,
        min_confidence=min_confidence,
        low_confidence=low_confidence,
        emit_tentative=emit_tentative or None,
        motion_cost=None if motion_cost is None else motion_cost.value,
        motion_weight=motion_weight,
        appearance_weight=appearance_weight,
    )
    check_tracker_options(cfg)
    features = _prepare_inputs(sc, features, model, split_names(cameras))
    with progress_bar() as progress:
        summaries = run_track(
            sc,
            cfg,
            features=features.value,
            cameras=split_names(cameras),
            zero_based=zero_based,
            overwrite=overwrite,
            progress=progress,
        )
    for note in summaries[0].notes if summaries else []:
        info(note)
    if features is FeatureChoice.none:
        info("tracked on motion and IoU alone (--features none): no appearance features")
    out.print(_table(sc, summaries))
    for s in summaries:
        if s.appearance:
            info(f"{s.camera}: {s.appearance}")


def check_tracker_options(cfg: TrackerConfig) -> None:
    """A one-line error for a tracker setting of the wrong type, not finite or out of range.

    The tracker checks most ranges itself; the detection scores it admits are
    checked here, before any stage runs: a threshold above 1 (or NaN) would
    admit no detection and write empty tracks.
    """
    check_types(cfg)
    if not 0 <= cfg.min_confidence <= 1:
        raise McmotError(f"--min-confidence must be 0 to 1, got {cfg.min_confidence}")
    if cfg.low_confidence is not None and not 0 <= cfg.low_confidence <= 1:
        raise McmotError(f"--low-confidence must be 0 to 1, got {cfg.low_confidence}")


def _prepare_inputs(
    sc: Scene, features: FeatureChoice, model: str | None, cameras: list[str] | None
) -> FeatureChoice:
    """Run the stages track needs first; return the features to track on.

    Only a scene with no det/ (or no features/) at all is completed; a scene
    where some cameras lack them is left to run_track's one-line error.
    """
    sc.select_cameras(cameras)  # unknown names fail here, before any work
    if sc.pixel_cameras() and not sc.stage_files("det"):
        with progress_bar() as progress:
            ensure_detections(sc, progress=progress, log=info)
    if features is FeatureChoice.none or sc.stage_files("features") or not sc.stage_files("det"):
        return features
    if model is None:
        info("no features/ yet and no --model: tracking on motion and IoU alone")
        return FeatureChoice.none
    info(f"no features/ yet: running `mcmot extract-features --model {model}` first")
    with progress_bar() as progress:
        run_extract_features(sc, FeaturesConfig(model=model), progress=progress, cameras=cameras)
    return features


def _table(sc: Scene, summaries: list[TrackSummary]) -> Table:
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
    return table
