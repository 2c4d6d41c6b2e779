"""The ``track`` stage: one tracker per camera, ``det/`` (+ ``features/``) -> ``tracks/``.

The tracker is chosen by the settings' type: a :class:`TrackerConfig` runs
DeepSORT (mcmot.tracking.tracker), an :class:`SsatConfig` SSAT's tracker
(mcmot.tracking.ssat; no appearance calibration: its thresholds are the paper's),
a :class:`LearnedConfig` the learned tracker (mcmot.tracking.learned), which
reads no ``features/``: it crops every detection from the camera's video and
embeds it with its own checkpoint's CNN.

Reads ``det/<cam>.txt`` and, unless ``features="none"``, the ``f_s`` or
``f_a`` array of ``features/<cam>.npz`` (rows aligned with the detections;
checked), calibrates the appearance cue of each camera on its own features
(gate and weight, no labels: ``mcmot.tracking.calibrate``), runs one
:class:`~mcmot.tracking.Tracker` per camera over the frames that hold
detections (empty stretches are skipped in one step), and writes
``tracks/<cam>.txt``: one MOT row per confirmed track and frame in which a
detection was associated to it, with that detection's box and score and an
identity local to the camera (from 1).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mcmot.config import check_types, override, to_dict
from mcmot.errors import McmotError
from mcmot.motio import MotTable, write_mot
from mcmot.progress import ProgressCallback, ProgressEvent
from mcmot.scene import Camera, Scene, stage_lock
from mcmot.stages.track_inputs import (
    detect_stride,
    frame_count,
    input_paths,
    load_camera,
    stride_notes,
)
from mcmot.timebase import DEFAULT_FPS, frames_at_least_one, frames_rounded, scene_fps
from mcmot.tracking import Detections, Tracker, TrackerConfig
from mcmot.tracking.calibrate import AppearanceCalibration, calibrate_appearance
from mcmot.tracking.config import LearnedConfig, SsatConfig
from mcmot.tracking.ssat import SsatTracker
from mcmot.tracking.stride import Between, frame_step, stepped

#: Settings of any tracker.
AnyTrackerConfig = TrackerConfig | SsatConfig | LearnedConfig
#: A tracker's class, by the type of its settings.
TRACKER_NAMES = {TrackerConfig: "deepsort", SsatConfig: "ssat", LearnedConfig: "learned"}

#: Which appearance features the tracker uses; "none" = motion and IoU only.
FEATURE_CHOICES = ("f_s", "f_a", "none")
#: A progress event every this many frames.
PROGRESS_EVERY = 25


@dataclass(frozen=True)
class TrackSummary:
    """What tracking one camera produced.

    Attributes
    ----------
    camera : camera name
    frames : frames processed (1 .. last frame)
    detections : detection rows read
    tracks : distinct identities written
    rows : track rows written
    seconds : wall time of the tracker loop
    fps : the frame rate the tracker's durations were converted at
    notes : one-line remarks for the user (e.g. an assumed frame rate)
    appearance : what the calibration decided for the appearance cue (gate,
        weight or "appearance off: ..." with the numbers); "" without features
    """

    camera: str
    frames: int
    detections: int
    tracks: int
    rows: int
    seconds: float
    fps: float = DEFAULT_FPS
    notes: tuple[str, ...] = ()
    appearance: str = ""


def tracker_config(**given: Any) -> TrackerConfig:
    """:class:`TrackerConfig` with the fields ``given`` (None keeps a default), checked.

    A ``cosine_gate_quantile`` of 0, or a ``max_cosine_distance`` given without
    a quantile, fixes the appearance gate (no per-camera calibration). The
    detection scores the tracker admits are checked here, before any stage
    runs: a threshold above 1 (or NaN) would admit no detection and write
    empty tracks; the tracker checks its other ranges itself.
    """
    base = TrackerConfig()
    quantile = given.pop("cosine_gate_quantile", None)
    if quantile == 0 or (quantile is None and given.get("max_cosine_distance")):
        base, quantile = dataclasses.replace(base, cosine_gate_quantile=None), None  # a fixed gate
    cfg = override(base, cosine_gate_quantile=quantile, **given)
    check_types(cfg)
    if not 0 <= cfg.min_confidence <= 1:
        raise McmotError(f"--min-confidence must be 0 to 1, got {cfg.min_confidence}")
    if cfg.low_confidence is not None and not 0 <= cfg.low_confidence <= 1:
        raise McmotError(f"--low-confidence must be 0 to 1, got {cfg.low_confidence}")
    return cfg


#: The trackers ``track`` can run.
TRACKERS = ("deepsort", "ssat", "learned")


def choose_tracker(tracker: str, model: str | None = None, **given: Any) -> AnyTrackerConfig:
    """The settings of ``tracker`` from the options ``given`` (fields of any tracker's
    config); ``model`` is the learned tracker's checkpoint.

    An option of another tracker only is an error naming it, so no setting is
    silently ignored.
    """
    if tracker not in TRACKERS:
        raise McmotError(f"--tracker must be one of {', '.join(TRACKERS)}, got {tracker!r}")
    mine = {v: k for k, v in TRACKER_NAMES.items()}[tracker]
    names = {f.name for f in dataclasses.fields(mine)} - {"model"}
    foreign = sorted(k for k, v in given.items() if v is not None and k not in names)
    if foreign:
        flags = ", ".join("--" + k.replace("_", "-") for k in foreign)
        raise McmotError(f"{flags}: not an option of --tracker {tracker}")
    if tracker == "deepsort":
        return tracker_config(**given)
    if tracker == "learned":
        return LearnedConfig(model=model, **{k: v for k, v in given.items() if v is not None})
    return override(SsatConfig(), **given)


def prepare_inputs(
    scene: Scene,
    features: str,
    model: str | None,
    cameras: list[str] | None = None,
    *,
    progress: ProgressCallback | None = None,
    log: Callable[[str], None] | None = None,
) -> str:
    """Run the stages ``track`` needs first; return the features to track on.

    A scene with pixels and no ``det/`` at all is detected first; with no
    ``features/`` at all, ``extract-features`` runs with ``model``, and without
    a model the tracker falls back to motion and IoU ("none"). A scene where
    only some cameras lack them is left to :func:`run_track`'s one-line error.
    """
    say = log or (lambda message: None)
    scene.select_cameras(cameras)  # unknown names fail here, before any work
    if scene.pixel_cameras() and not scene.stage_files("det"):
        from mcmot.stages.run import ensure_detections

        ensure_detections(scene, progress=progress, log=log)
    if features == "none" or scene.stage_files("features") or not scene.stage_files("det"):
        return features
    if model is None:
        say("no features/ yet and no --model: tracking on motion and IoU alone")
        return "none"
    say(f"no features/ yet: running `mcmot extract-features --model {model}` first")
    from mcmot.stages.features import FeaturesConfig, run_extract_features

    run_extract_features(scene, FeaturesConfig(model=model), progress=progress, cameras=cameras)
    return features


@stage_lock("track")
def run_track(
    scene: Scene,
    cfg: AnyTrackerConfig | None = None,
    *,
    features: str = "f_s",
    cameras: list[str] | None = None,
    zero_based: bool = False,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> list[TrackSummary]:
    """Track every (selected) camera of ``scene`` and write ``tracks/<cam>.txt``.

    Parameters
    ----------
    scene : the scene; needs ``det/`` (and ``features/`` unless ``features="none"``)
    cfg : tracker parameters (default :class:`TrackerConfig`: DeepSORT;
        an :class:`SsatConfig` runs SSAT's tracker)
    features : "f_s" (view-specific, the paper's choice), "f_a" or "none"
    cameras : camera names (default: all)
    zero_based : the det files number frames from 0
    overwrite : replace existing ``tracks/`` files
    progress : called with per-camera progress

    Returns
    -------
    One :class:`TrackSummary` per camera.
    """
    cfg = cfg or TrackerConfig()
    fps, fps_note = scene_fps(scene, cfg.fps)
    cfg = dataclasses.replace(cfg, fps=fps)
    notes = (fps_note,) if fps_note else ()
    _check_request(scene, features)
    cams = scene.select_cameras(cameras)
    if isinstance(cfg, LearnedConfig):
        features = "none"  # it crops the video instead of reading features/
    inputs = input_paths(scene, cams, features)
    outputs = [scene.path("tracks", c.name) for c in cams]
    scene.check_writable(outputs, overwrite)
    stride = detect_stride(scene, cams)
    notes += stride_notes(cfg, stride, fps)
    loaded = [load_camera(scene, c, features, zero_based, stride) for c in cams]
    if isinstance(cfg, LearnedConfig):
        from mcmot.stages.track_learned import crop_features, learned_inputs

        inputs += learned_inputs(cfg, cams)
        loaded = crop_features(cfg, cams, loaded, progress)
    # calibrate every camera's appearance cue before writing anything (it can fail)
    step_cfg = stepped(cfg, stride)  # durations in tracker steps
    calibrated = [calibrate_camera(step_cfg, det, feats) for det, feats in loaded]
    summaries = []
    with scene.staged("track") as st:  # every camera's tracks land together
        for cam, (det, feats), out, calib in zip(cams, loaded, outputs, calibrated, strict=True):
            table, summary = _track_one(cam, det, feats, calib, notes, progress, stride)
            write_mot(st.path(out), table)
            summaries.append(summary)
        params = _params(cfg, features, zero_based, cams, calibrated) | {"detect_stride": stride}
        scene.record("track", params, inputs, outputs, st)
    return summaries


def _check_request(scene: Scene, features: str) -> None:
    """One-line errors for a features choice that does not exist, or no ``det/``."""
    if features not in FEATURE_CHOICES:
        raise McmotError(
            f"--features must be one of {', '.join(FEATURE_CHOICES)}, got {features!r}"
        )
    if not scene.stage_dir("det").is_dir():
        raise McmotError(f"no det/ in {scene.root}: run `mcmot detect {scene.root}` first")


def _track_one(
    cam: Camera,
    det: MotTable,
    feats: NDArray[np.float32] | None,
    calibrated: tuple[AnyTrackerConfig, AppearanceCalibration | None],
    notes: tuple[str, ...],
    progress: ProgressCallback | None,
    stride: int = 1,
) -> tuple[MotTable, TrackSummary]:
    """One camera's track rows and summary, with its calibrated settings (``det`` in
    tracker steps of ``stride`` frames)."""
    cfg, calib = calibrated
    n_frames = frame_count(cam, det, stride)
    t0 = time.perf_counter()
    if isinstance(cfg, TrackerConfig):  # the gate is calibrated
        cfg = dataclasses.replace(cfg, cosine_gate_quantile=None)
    table = track_camera(det, feats, n_frames, cfg, cam.name, progress, camera=cam, stride=stride)
    return table, TrackSummary(
        camera=cam.name,
        frames=n_frames,
        detections=len(det),
        tracks=len(np.unique(table.ids)),
        rows=len(table),
        seconds=time.perf_counter() - t0,
        fps=cfg.fps or DEFAULT_FPS,
        notes=notes,
        appearance="" if calib is None else calib.describe(),
    )


def _params(
    cfg: AnyTrackerConfig,
    features: str,
    zero_based: bool,
    cams: list[Camera],
    calibrated: list[tuple[AnyTrackerConfig, AppearanceCalibration | None]],
) -> dict[str, Any]:
    """The parameters ``track`` records: the tracker, its settings and, with features and
    DeepSORT, each camera's calibrated appearance gate and weight."""
    tracker = TRACKER_NAMES[type(cfg)]
    params = {**to_dict(cfg), "tracker": tracker, "features": features, "zero_based": zero_based}
    if features == "none" or not isinstance(cfg, TrackerConfig):
        return params
    if cfg.cosine_gate_quantile is not None:
        params["calibrated_max_cosine_distance"] = {
            c.name: k.max_cosine_distance for c, (k, _) in zip(cams, calibrated, strict=True)
        }
    params["appearance"] = {
        c.name: {**_finite(dataclasses.asdict(calib)), "decision": calib.describe()}
        for c, (_, calib) in zip(cams, calibrated, strict=True)
        if calib is not None
    }
    return params


def track_camera(
    det: MotTable,
    feats: NDArray[np.float32] | None,
    n_frames: int,
    cfg: AnyTrackerConfig,
    name: str = "camera",
    progress: ProgressCallback | None = None,
    camera: Camera | None = None,
    stride: int = 1,
) -> MotTable:
    """Run one tracker over frames ``1 .. n_frames`` of one camera.

    The rows are put in a canonical order within each frame first
    (:func:`canonical_rows`), so the tracks do not depend on the row order of
    the det file. Frames without detections age the tracks, but a stretch of
    them costs at most ``max_age + 1`` tracker steps (:meth:`Tracker.skip`):
    the work grows with the rows, not with the frame numbers.

    Parameters
    ----------
    det : detections sorted by frame (N rows)
    feats : (N, D) features aligned with ``det``, or None (motion and IoU only)
    n_frames : last frame to process
    cfg : tracker parameters: DeepSORT's (the appearance cue is calibrated
        here when ``cfg`` asks for it: :func:`calibrate_config`) or SSAT's
    name : the task name of progress events
    camera : the camera (the learned tracker needs its frame size)
    stride : a detector's stride: ``det``'s frames are tracker steps, ``cfg``'s rate
        theirs, and the frames between are predicted (:mod:`mcmot.tracking.stride`)

    Returns
    -------
    The track rows (frame, id, box, score): the matched detection's (or, on a frame
    a stride skipped, the predicted box and the last detection's score).
    """
    det, feats = canonical_rows(det, feats)
    tracker = _make_tracker(cfg, det, feats, camera, stride)
    slices = det.frame_slices()
    between = Between(stride, n_frames) if stride > 1 else None
    steps = int(frame_step(n_frames, stride))  # the last step at or before n_frames
    found: list[tuple[int, int, int]] = []  # (frame or step, track id, row of det)
    reported = 0
    for step in sorted(f for f in slices if 1 <= f <= steps):
        sl = slices[step]
        fe = None if feats is None else feats[sl]
        known = [
            (f, t, slices[f].start + i)
            for f, t, i in track_frame(tracker, step, det.select(sl), fe)
        ]
        found += known
        if between is not None:
            between.add(tracker, step, known, det.boxes, det.scores)
        if progress is not None and step - reported >= PROGRESS_EVERY:
            reported = step
            progress(ProgressEvent(name, step, steps, {"tracks": len(tracker.tracks)}))
    if progress is not None:
        progress(ProgressEvent(name, steps, steps, {"tracks": len(tracker.tracks)}))
    table = _track_rows(det, found)
    return table if between is None else between.merged(table)


def track_frame(
    tracker: Any, frame: int, det: MotTable, feats: NDArray[np.float32] | None
) -> list[tuple[int, int, int]]:
    """Advance ``tracker`` to ``frame`` and feed it that frame's detections.

    ``det`` (and ``feats``) are the frame's rows in :func:`canonical_rows`
    order; frames without detections need no call (the next call ages the
    tracks over them). Returns the rows that became known: ``(frame, track id,
    detection index within that frame's rows)``, this frame's and, with
    ``emit_tentative``, earlier frames' rows of tracks confirmed now.
    """
    tracker.skip(frame - 1 - tracker.frame_count)
    out = [
        (frame, tid, i) for tid, _, i in tracker.update(Detections(det.boxes, det.scores, feats))
    ]
    return out + [(past, tid, i) for past, tid, _, i in tracker.pop_recovered()]


def _make_tracker(
    cfg: AnyTrackerConfig,
    det: MotTable,
    feats: NDArray[np.float32] | None,
    camera: Camera | None,
    stride: int = 1,
) -> Any:
    """The tracker ``cfg`` asks for (DeepSORT calibrated on ``feats`` when it asks;
    ``stride`` frames per step)."""
    if isinstance(cfg, SsatConfig):
        return SsatTracker(cfg)
    if isinstance(cfg, LearnedConfig):
        from mcmot.stages.track_learned import learned_tracker

        return learned_tracker(cfg, camera)
    return Tracker(calibrate_config(cfg, det, feats), frames_per_step=stride)


def _track_rows(det: MotTable, found: list[tuple[int, int, int]]) -> MotTable:
    """The track rows in frame order: each ``(frame, id, row)`` with det ``row``'s box and
    score."""
    frames, ids, rows = np.asarray(found, np.int64).reshape(-1, 3).T
    order = np.lexsort((ids, frames))  # recovered tentative rows come late: frame order
    idx = rows[order]
    return MotTable.from_arrays(frames[order], ids[order], det.boxes[idx], det.scores[idx])


def canonical_rows(
    det: MotTable, feats: NDArray[np.float32] | None
) -> tuple[MotTable, NDArray[np.float32] | None]:
    """``det`` (and ``feats``) sorted by frame, then box, score and feature values.

    Any two orders of the same rows within their frames give the same result,
    so the tracker and its calibration do not depend on the det file's row order.
    """
    keys: list[NDArray] = []
    if feats is not None and len(feats):
        keys += list(np.asarray(feats).T[::-1])
    keys += [det.scores, *det.boxes.T[::-1], det.frames]
    order = np.lexsort(keys) if len(det) else np.zeros(0, np.int64)
    return det.select(order), None if feats is None else feats[order]


def calibrate_camera(
    cfg: AnyTrackerConfig, det: MotTable, feats: NDArray[np.float32] | None
) -> tuple[AnyTrackerConfig, AppearanceCalibration | None]:
    """``cfg`` with the appearance gate and weight calibrated on one camera's features.

    Over the detections the tracker admits (``min_confidence``, ``min_height``),
    in :func:`canonical_rows` order: the gate becomes the
    ``cfg.cosine_gate_quantile`` quantile of the same-frame cosine distances
    (``max_cosine_distance`` as given when the quantile is None or no frame
    holds two detections) and, when ``cfg.appearance_weight`` is None, the
    weight follows the separation between same-frame pairs and sure
    consecutive-frame links (``mcmot.tracking.calibrate.calibrate_appearance``;
    0 = appearance off). Without features, or for SSAT, ``cfg`` and None.
    """
    if feats is None or not isinstance(cfg, TrackerConfig):
        return cfg, None
    det, feats = canonical_rows(det, feats)
    fps = cfg.fps or DEFAULT_FPS
    last = det.frames.max() if len(det) else 0
    if cfg.calibration_seconds is not None:
        last = frames_at_least_one(cfg.calibration_seconds, fps)
    ok = (
        (det.frames <= last)
        & (det.scores >= cfg.min_confidence)
        & (det.boxes[:, 3] >= cfg.min_height)
        & (det.boxes[:, 2] > 0)
        & (det.boxes[:, 3] > 0)
    )
    calib = calibrate_appearance(
        det.frames[ok],
        det.boxes[ok],
        feats[ok],
        max_lag=frames_rounded(cfg.max_age_seconds, fps),
        quantile=cfg.cosine_gate_quantile,
        fixed_gate=cfg.max_cosine_distance,
        weight=cfg.appearance_weight,
    )
    return override(cfg, max_cosine_distance=calib.gate, appearance_weight=calib.weight), calib


def calibrate_config(
    cfg: TrackerConfig, det: MotTable, feats: NDArray[np.float32] | None
) -> TrackerConfig:
    """``cfg`` with the appearance cue calibrated on ``feats`` (:func:`calibrate_camera`);
    ``cfg`` itself when there is nothing to calibrate (no features, or a fixed
    gate and weight)."""
    if feats is None or (cfg.cosine_gate_quantile is None and cfg.appearance_weight is not None):
        return cfg
    return calibrate_camera(cfg, det, feats)[0]


def _finite(values: dict[str, object]) -> dict[str, object]:
    """``values`` with NaN floats as None (valid JSON)."""
    return {
        k: None if isinstance(v, float) and not np.isfinite(v) else v for k, v in values.items()
    }
