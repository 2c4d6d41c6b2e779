"""``mcmot run SCENE --online``: the pipeline as a stream, one timestep at a time.

Every camera's frame ``k`` is read, detected and its detections' features
extracted (:mod:`mcmot.stages.stream_inputs`), each camera's DeepSORT is
advanced (:mod:`mcmot.stages.stream_track`), and the final track rows are
associated online (:mod:`mcmot.stages.stream_assoc`). Rows are appended to
the outputs as soon as they are final. The outputs are those of ``detect``,
``extract-features``, ``track`` and ``associate --mode online`` chained on
the same scene and settings (the tracker calibrated on its first
``calibration_seconds``): the same rows, the same features (to float32
rounding: a forward pass stacks other groups here, which on some CPUs moves
the last bit).

The files are written in the run's staging folder (``.mcmot-staging/run/``)
and land in the scene together when the stream ends; a run that is killed
or fails leaves the scene's outputs as they were (docs/streaming.md).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mcmot.association.config import AssociateConfig, check_associate_config
from mcmot.association.geometry import save_geometry
from mcmot.association.pipeline import Geometry
from mcmot.config import to_dict
from mcmot.errors import McmotError
from mcmot.motio import MotTable
from mcmot.progress import ProgressCallback, ProgressEvent
from mcmot.scene import Camera, Scene, stage_lock
from mcmot.stages.associate import GEOMETRY_FILE, frame_times, loaded_geometry
from mcmot.stages.detect import check_detect_config
from mcmot.stages.features import check_features_config
from mcmot.stages.run import RunConfig
from mcmot.stages.stream_assoc import StreamAssociation
from mcmot.stages.stream_inputs import InputSettings, StreamInputs
from mcmot.stages.stream_io import RowsFile
from mcmot.stages.stream_track import CameraTracking, FrameTracks
from mcmot.staging import Staging
from mcmot.timebase import frames_at_least_one, frames_rounded, scene_fps
from mcmot.tracking import TrackerConfig

Log = Callable[[str], None]
#: Called after every timestep with its frame, its seconds and what the run holds.
Monitor = Callable[[int, float, dict[str, int]], None]
#: The staging folder (and lock) of the streaming run.
STAGE = "run"


@dataclass(frozen=True)
class StreamResult:
    """What :func:`run_streaming` did."""

    cameras: list[str]
    frames: int
    seconds: float
    rows: dict[str, int]
    identities: int
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Plan:
    """The settings of one streaming run, resolved against the scene."""

    cams: list[Camera]
    inputs: InputSettings
    tracker: TrackerConfig
    calibrate_until: int
    associate: AssociateConfig
    use: tuple[bool, bool]
    notes: tuple[str, ...]


def plan_stream(scene: Scene, cfg: RunConfig) -> _Plan:
    """Check ``cfg`` for a stream on ``scene``: one-line errors before any work."""
    if cfg.boxes not in ("det", "gt"):
        raise McmotError(f"boxes must be 'det' or 'gt', got {cfg.boxes!r}")
    if not isinstance(cfg.tracker, TrackerConfig):
        raise McmotError("run --online tracks with DeepSORT only (the tracker's kind 'deepsort')")
    assoc = dataclasses.replace(cfg.associate, mode="online")
    check_associate_config(assoc)
    cams = scene.require_cameras()
    no_pixels = [c.name for c in cams if c.source is None]
    if no_pixels:
        raise McmotError(
            f"run --online reads every camera frame by frame: {', '.join(no_pixels)} "
            "has no video or frames"
        )
    if cfg.boxes == "gt" and not scene.stage_files("gt"):
        raise McmotError(f"--boxes gt needs gt/ files in {scene.root}")
    det_cfg = dataclasses.replace(cfg.detect, from_gt=cfg.boxes == "gt", cameras=None)
    check_detect_config(det_cfg)
    use_app = assoc.cues in ("appearance", "both") and len(cams) > 1
    use_geo = assoc.cues in ("geometry", "both") and len(cams) > 1
    features = None
    if cfg.track_features != "none" or use_app:
        if cfg.model is None:
            raise McmotError(
                "run --online needs --model (a checkpoint from `mcmot pretrain`, teacher or "
                "histogram): a stream cannot pretrain first; or pass --track-features none "
                "--cues geometry"
            )
        features = dataclasses.replace(cfg.features, model=cfg.model)
        check_features_config(features)
    tracker, until, notes = _tracker_plan(scene, cfg, assoc)
    settings = InputSettings(
        det_cfg, features, cfg.track_features, assoc.features if use_app else None
    )
    return _Plan(cams, settings, tracker, until, assoc, (use_app, use_geo), notes)


def _tracker_plan(
    scene: Scene, cfg: RunConfig, assoc: AssociateConfig
) -> tuple[TrackerConfig, int, tuple[str, ...]]:
    """DeepSORT's settings at the scene's rate, and the last frame it calibrates on (0: none)."""
    assert isinstance(cfg.tracker, TrackerConfig)
    fps, fps_note = scene_fps(scene, cfg.tracker.fps)
    tracker = dataclasses.replace(cfg.tracker, fps=fps)
    notes = (fps_note,) if fps_note else ()
    calibrates = tracker.cosine_gate_quantile is not None or tracker.appearance_weight is None
    if cfg.track_features == "none" or not calibrates:
        return tracker, 0, notes
    if tracker.calibration_seconds is None:
        tracker = dataclasses.replace(tracker, calibration_seconds=assoc.online_warmup)
    return tracker, frames_at_least_one(tracker.calibration_seconds, fps), notes


@stage_lock("run")
def run_streaming(
    scene: Scene,
    cfg: RunConfig = RunConfig(),
    *,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    log: Log | None = None,
    monitor: Monitor | None = None,
) -> StreamResult:
    """Run the pipeline on ``scene`` as a stream (see the module docstring).

    Writes ``det/``, ``features/`` (when features are used), ``tracks/``,
    ``global/`` and ``geometry.json`` (when fitted); existing outputs are
    refused unless ``overwrite``. ``monitor`` sees every timestep.
    """
    plan = plan_stream(scene, cfg)
    say = log or (lambda message: None)
    for note in plan.notes:
        say(note)
    names = [c.name for c in plan.cams]
    scene.check_writable(_outputs(scene, names, plan), overwrite)
    t0 = time.perf_counter()
    with scene.staged(STAGE) as st:
        run = _Run(scene, plan, st, say)
        try:
            frames = run.loop(progress, monitor)
        except BaseException:
            run.inputs.abort()
            raise
        run.close(cfg)
    notes = list(plan.notes) + run.assoc.notes
    return StreamResult(
        names, frames, time.perf_counter() - t0, run.rows(), run.identities(), notes
    )


def _outputs(scene: Scene, names: list[str], plan: _Plan) -> list[Path]:
    """The files the run would replace (refused without ``overwrite``)."""
    stages = ["det", "tracks", "global"] + (["features"] if plan.inputs.features else [])
    out = [scene.path(s, n) for s in stages for n in names]
    fits = plan.use[1] and not plan.associate.geometry_path
    return out + ([scene.root / GEOMETRY_FILE] if fits else [])


class _Run:
    """One streaming run's state: inputs, trackers, association and output files."""

    def __init__(self, scene: Scene, plan: _Plan, st: Staging, say: Log) -> None:
        self.scene, self.plan, self.st = scene, plan, st
        names = [c.name for c in plan.cams]
        self.inputs = StreamInputs(scene, plan.cams, plan.inputs, st, say)
        stride, end = plan.inputs.detect.stride, self.inputs.frames
        self.tracking = [
            CameraTracking(plan.tracker, plan.calibrate_until, stride, min(last, end))
            for last in self.inputs.last_frames
        ]
        self.track_paths = [scene.path("tracks", n) for n in names]
        self.global_paths = [scene.path("global", n) for n in names]
        self.tracks = [RowsFile(st.path(p)) for p in self.track_paths]
        self.globals = [RowsFile(st.path(p)) for p in self.global_paths]
        self.geometry_written = False
        self.assoc = StreamAssociation(
            names,
            [tuple(float(v) for v in s.size) for s in self.inputs.sources],  # type: ignore[misc]
            plan.associate,
            frame_times(scene, plan.associate, []),
            plan.use,
            self._loaded(names),
            _forget_after(plan.tracker),
            self._save_geometry,
        )
        self.max_id = 0

    def _loaded(self, names: list[str]) -> Geometry | None:
        path = self.plan.associate.geometry_path
        return loaded_geometry(path, names) if path and self.plan.use[1] else None

    def _save_geometry(self, geometry: Geometry) -> None:
        save_geometry(self.st.path(self.scene.root / GEOMETRY_FILE), geometry)
        self.geometry_written = True

    def loop(self, progress: ProgressCallback | None, monitor: Monitor | None) -> int:
        """Every timestep in order; returns the number of frames."""
        n = self.inputs.frames
        for k in range(1, n + 1):
            t = time.perf_counter()
            frames = self.inputs.read(k)
            self._final([cam.push(k, f) for cam, f in zip(self.tracking, frames, strict=True)])
            self.inputs.flush()
            seconds = time.perf_counter() - t
            sizes = self.sizes()
            if monitor is not None:
                monitor(k, seconds, sizes)
            if progress is not None:
                info = {"ms": 1000 * seconds, "held frames": sizes["frames"]}
                progress(ProgressEvent("stream", k, n, info))
        self._final([cam.finish() for cam in self.tracking])
        self._write_global(self.assoc.finish())
        return n

    def _final(self, per_camera: list[list[FrameTracks]]) -> None:
        """Write the final track rows of each frame and associate them."""
        for frame_tracks in zip(*per_camera, strict=True):
            frame = frame_tracks[0].frame
            for ft, out in zip(frame_tracks, self.tracks, strict=True):
                ft.tracks = out.append(ft.tracks)  # as associate reads tracks/
                out.flush()
            self._write_global(self.assoc.push(frame, list(frame_tracks)))

    def _write_global(self, ready: list[tuple[int, list[MotTable]]]) -> None:
        for _, tables in ready:
            for table, out in zip(tables, self.globals, strict=True):
                out.append(table)
                self.max_id = max([self.max_id, *table.ids.tolist()])
        for out in self.globals:
            out.flush()

    def sizes(self) -> dict[str, int]:
        """What the run holds now: frames held by the trackers, their tracks, association."""
        cams = [t.sizes() for t in self.tracking]
        out = {"frames": max(c["frames"] for c in cams), "tracks": sum(c["tracks"] for c in cams)}
        return out | self.assoc.sizes()

    def close(self, cfg: RunConfig) -> None:
        """Finish the files and record what produced them (they land when the block ends)."""
        self.inputs.close()
        for f in self.tracks + self.globals:
            f.close()
        _record(self, cfg)

    def rows(self) -> dict[str, int]:
        return {
            "det": sum(f.rows for f in self.inputs.det_files),
            "tracks": sum(f.rows for f in self.tracks),
            "global": sum(f.rows for f in self.globals),
        }

    def identities(self) -> int:
        """Global identities given out (one camera: its largest track id)."""
        assoc = self.assoc.assoc
        return assoc.identities if assoc is not None else self.max_id


def _forget_after(cfg: TrackerConfig) -> int:
    """Frames after which a tracklet not seen can never be seen again (its track deleted)."""
    fps = cfg.fps or 10.0
    return (
        frames_rounded(cfg.max_age_seconds, fps) + frames_at_least_one(cfg.n_init_seconds, fps) + 2
    )


def _record(run: _Run, cfg: RunConfig) -> None:
    """Each stage's provenance, as the stages record theirs, marked as streamed."""
    sc, plan, st = run.scene, run.plan, run.st
    sources = [c.source for c in plan.cams if c.source is not None]
    det = [p for p in run.inputs.outputs if p.parent.name == "det"]
    feats = [p for p in run.inputs.outputs if p.parent.name == "features"]
    streamed = {"streamed": True}
    sc.record("detect", to_dict(plan.inputs.detect) | streamed, sources, det, st)
    if plan.inputs.features is not None:
        sc.record("features", to_dict(plan.inputs.features) | streamed, det, feats, st)
    track = to_dict(plan.tracker) | {"tracker": "deepsort", "features": cfg.track_features}
    if plan.inputs.detect.stride > 1:
        track["detect_stride"] = plan.inputs.detect.stride
    sc.record("track", track | streamed, det + feats, run.track_paths, st)
    geo = [sc.root / GEOMETRY_FILE] if run.geometry_written else []
    sc.record(
        "associate", to_dict(plan.associate) | streamed, run.track_paths, run.global_paths + geo, st
    )
