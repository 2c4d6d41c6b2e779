"""``mcmot run``: every stage that has not run yet, in order, on one scene.

``run`` only composes the stage functions; each stage stays usable alone.
A stage is skipped when its output is current: its provenance record's
input and output files are unchanged since it ran, it ran with the same
parameters as now (recorded in ``provenance/run.json``), and no stage before
it ran again in this call. Because every output is written atomically and a
stage's provenance is written after its outputs, a run that is killed and
started again redoes only the stage it was killed in (pretraining resumes
from its last checkpoint).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcmot.association.config import AssociateConfig, check_associate_config
from mcmot.atomic import write_json
from mcmot.config import apply_json, check_types, override, to_dict
from mcmot.errors import McmotError
from mcmot.models.pretrain_config import PRESETS, PretrainConfig
from mcmot.progress import ProgressCallback
from mcmot.scene import Scene, stage_lock
from mcmot.stages.associate import run_associate
from mcmot.stages.detect import DetectConfig, run_detect
from mcmot.stages.evaluate import EvaluateConfig, run_evaluate
from mcmot.stages.features import FeaturesConfig, run_extract_features
from mcmot.stages.pretrain import run_pretrain
from mcmot.stages.track import TRACKER_NAMES, AnyTrackerConfig, choose_tracker, run_track
from mcmot.tracking import TrackerConfig
from mcmot.tracking.config import LearnedConfig
from mcmot.training.loop import CHECKPOINT

Log = Callable[[str], None]

#: Where ``run`` pretrains when no model is given, inside the scene.
MODEL_DIR = "model"
#: The file in which ``run`` keeps each stage's parameter fingerprint.
RUN_RECORD = "run"


@dataclass(frozen=True)
class RunConfig:
    """Parameters of the whole pipeline: one frozen config per stage.

    Attributes
    ----------
    model : a CalibFree checkpoint, "teacher", "histogram", or None to pretrain one into
        ``SCENE/model/`` for ``pretrain.minutes`` minutes
    boxes : "det" runs the detector; "gt" copies ground-truth boxes into det/
        (the paper's protocol for evaluating the later stages)
    track_features : features the tracker uses ("f_s", "f_a" or "none"; the learned
        tracker reads the video instead)
    tracker : the tracker's settings; the config file's ``tracker`` section picks
        the tracker with ``"kind": "deepsort" | "ssat" | "learned"`` (default
        deepsort) and the learned tracker's checkpoint with ``"model"``
    """

    model: str | None = None
    boxes: str = "det"
    track_features: str = "f_s"
    detect: DetectConfig = DetectConfig()
    pretrain: PretrainConfig = field(default_factory=lambda: PRESETS["cpu"])
    features: FeaturesConfig = FeaturesConfig()
    tracker: AnyTrackerConfig = TrackerConfig()
    associate: AssociateConfig = AssociateConfig()
    evaluate: EvaluateConfig = EvaluateConfig()


_SECTIONS = ("detect", "pretrain", "features", "tracker", "associate", "evaluate")


def apply_overrides(cfg: RunConfig, overrides: dict[str, Any]) -> RunConfig:
    """``cfg`` with per-stage overrides, e.g. ``{"pretrain": {"depth": 2}, "boxes": "gt"}``.

    Top-level keys are :class:`RunConfig` fields; a stage's section holds
    fields of that stage's config. Unknown names and values of the wrong type
    (a string for a number, a non-finite number) are one-line errors, raised
    here, before any stage runs.
    """
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key == "tracker" and isinstance(value, dict) and "kind" in value:
            changes[key] = _tracker_section(value)
        elif key in _SECTIONS:
            changes[key] = _section(getattr(cfg, key), value, key)
        else:
            changes[key] = value
    out = override(cfg, **changes)
    _typed(out, "config")
    return out


def _tracker_section(value: dict[str, Any]) -> AnyTrackerConfig:
    """The ``tracker`` section that names its ``kind``: that tracker's settings."""
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}
    kind, model = fields.pop("kind"), fields.pop("model", None)
    if kind not in TRACKER_NAMES.values():
        raise McmotError(
            f"config section 'tracker': kind must be one of "
            f"{', '.join(TRACKER_NAMES.values())}, got {kind!r}"
        )
    if model is not None and kind != "learned":
        raise McmotError("config section 'tracker': model is the learned tracker's only")
    return choose_tracker(kind, model, **fields)


def _typed(cfg: Any, name: str) -> None:
    """:func:`check_types` with the section's name in the message."""
    try:
        check_types(cfg)
    except McmotError as exc:
        raise McmotError(f"{name}: {exc}") from None


def _section(sub: Any, value: Any, name: str) -> Any:
    """``sub`` (a stage's config) with the fields of the JSON object ``value``, its own
    and its nested configs' types checked."""
    new = apply_json(sub, value, name)
    _typed_nested(new, name)
    return new


def _typed_nested(cfg: Any, name: str) -> None:
    _typed(cfg, f"config section {name!r}")
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            _typed_nested(value, f"{name}.{f.name}")


@dataclass(frozen=True)
class StageReport:
    """What ``run`` did with one stage: ``ran``, ``current`` (skipped) or ``skipped``."""

    stage: str
    status: str
    seconds: float = 0.0
    note: str = ""


@dataclass
class _Runner:
    scene: Scene
    overwrite_all: bool
    log: Log
    progress: ProgressCallback | None
    reports: list[StageReport] = field(default_factory=list)
    dirty: bool = False  # a stage ran in this call: every later stage must run too

    def _fingerprints(self) -> dict[str, str]:
        p = self.scene.provenance_path(RUN_RECORD)
        try:
            return json.loads(p.read_text()).get("stages", {})
        except (OSError, json.JSONDecodeError):
            return {}

    def current(
        self, stage: str, record: str | None, params: dict[str, Any], output: Path | None
    ) -> bool:
        if self.dirty or self.overwrite_all:
            return False
        if self._fingerprints().get(stage) != _fingerprint(params):
            return False
        if output is not None and not output.exists():
            return False
        return record is None or self.scene.is_current(record)

    def mark(self, stage: str, params: dict[str, Any]) -> None:
        prints = self._fingerprints()
        prints[stage] = _fingerprint(params)
        write_json(self.scene.provenance_path(RUN_RECORD), {"stages": prints})

    def check_replaceable(self, stage: str, record: str | None) -> None:
        """Stop before ``stage`` replaces an output that was edited since it wrote it."""
        if self.overwrite_all or record is None:
            return
        changed = self.scene.changed_outputs(record)
        if changed:
            shown = self.scene.shown(changed[0])
            more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
            raise McmotError(
                f"{shown}{more} changed since `mcmot {stage}` wrote it and run would replace it: "
                f"move it away to let run redo {stage}, or pass --overwrite to redo every stage"
            )

    def overwrite(self, record: str) -> bool:
        """Whether ``record``'s stage may replace existing outputs: only those mcmot wrote.

        Without a provenance record, existing files were not written by this
        stage (a user's own boxes, say): the stage refuses to replace them.
        """
        return self.overwrite_all or self.scene.read_record(record) is not None

    def stage(
        self,
        stage: str,
        record: str | None,
        params: dict[str, Any],
        work: Callable[[], str | None],
        output: Path | None = None,
    ) -> None:
        """Run ``work`` unless ``stage`` is current.

        ``record`` names the stage's provenance file in the scene (None for a
        stage that writes outside it); ``output`` is a file that must exist.
        """
        if self.current(stage, record, params, output):
            self.reports.append(StageReport(stage, "current"))
            self.log(f"{stage}: up to date, skipped")
            return
        self.check_replaceable(stage, record)
        self.log(f"{stage}: running")
        t0 = time.perf_counter()
        note = work() or ""
        self.dirty = True
        self.mark(stage, params)
        self.reports.append(StageReport(stage, "ran", time.perf_counter() - t0, note))


def _fingerprint(params: dict[str, Any]) -> str:
    text = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@stage_lock("run")
def run_pipeline(
    scene: Scene,
    cfg: RunConfig = RunConfig(),
    *,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    log: Log | None = None,
) -> list[StageReport]:
    """Run detect, pretrain, extract-features, track, associate and evaluate on ``scene``.

    Stages whose outputs are current are skipped (see the module docstring);
    ``overwrite`` redoes every stage. Returns one report per stage.
    """
    say = log or (lambda message: None)
    if cfg.boxes not in ("det", "gt"):
        raise McmotError(f"boxes must be 'det' or 'gt', got {cfg.boxes!r}")
    check_associate_config(cfg.associate)  # before minutes of detection and pretraining
    scene.require_cameras()
    has_gt = bool(scene.stage_files("gt"))
    if cfg.boxes == "gt" and not has_gt:
        raise McmotError(f"--boxes gt needs gt/ files in {scene.root}")
    r = _Runner(scene, overwrite, say, progress)

    det_cfg = dataclasses.replace(cfg.detect, from_gt=cfg.boxes == "gt")
    det_params = to_dict(det_cfg)
    if det_cfg.stride == 1:  # every frame: the fingerprint stays as it was before strides
        del det_params["stride"]
    r.stage("detect", "detect", det_params, lambda: _detect(scene, det_cfg, r))

    learned = isinstance(cfg.tracker, LearnedConfig)
    uses_features = (cfg.track_features != "none" and not learned) or (
        cfg.associate.cues != "geometry"
    )
    model = cfg.model
    if model is None and uses_features:
        run_dir = scene.root / MODEL_DIR
        model = str(run_dir / CHECKPOINT)
        r.stage("pretrain", None, to_dict(cfg.pretrain), lambda: _pretrain(scene, run_dir, cfg, r))
    if uses_features:
        feat_cfg = dataclasses.replace(cfg.features, model=str(model))
        r.stage(
            "extract-features",
            "features",
            to_dict(feat_cfg),
            lambda: _features(scene, feat_cfg, r),
        )
    track_params = {**to_dict(cfg.tracker), "features": cfg.track_features}
    if not isinstance(cfg.tracker, TrackerConfig):  # DeepSORT's fingerprint stays as it was
        track_params["tracker"] = TRACKER_NAMES[type(cfg.tracker)]
    r.stage("track", "track", track_params, lambda: _track(scene, cfg, r))
    r.stage("associate", "associate", to_dict(cfg.associate), lambda: _associate(scene, cfg, r))
    if has_gt:
        r.stage("evaluate", "evaluate", to_dict(cfg.evaluate), lambda: _evaluate(scene, cfg, r))
    else:
        r.reports.append(StageReport("evaluate", "skipped", note="no gt/"))
    return r.reports


def _detect(scene: Scene, cfg: DetectConfig, r: _Runner) -> str:
    res = run_detect(scene, cfg, overwrite=r.overwrite("detect"), progress=r.progress, warn=r.log)
    return f"{sum(c.detections for c in res.cameras)} boxes"


def _pretrain(scene: Scene, run_dir: Path, cfg: RunConfig, r: _Runner) -> str:
    # A run killed during pretraining resumes from its last checkpoint.
    resume = (run_dir / CHECKPOINT).is_file() and not r.overwrite_all
    pre_cfg = dataclasses.replace(cfg.pretrain, boxes=cfg.boxes)
    res = run_pretrain(
        [scene],
        run_dir,
        pre_cfg,
        resume=resume,
        overwrite=not resume,
        progress=r.progress,
        log=r.log,
    )
    if res.stopped == "interrupted":
        raise KeyboardInterrupt
    return f"{res.step} steps, {res.samples_per_s:.1f} timesteps/s"


def _features(scene: Scene, cfg: FeaturesConfig, r: _Runner) -> str:
    cams = run_extract_features(scene, cfg, overwrite=r.overwrite("features"), progress=r.progress)
    return f"{sum(c.rows for c in cams)} rows"


def _track(scene: Scene, cfg: RunConfig, r: _Runner) -> str:
    res = run_track(
        scene,
        cfg.tracker,
        features=cfg.track_features,
        overwrite=r.overwrite("track"),
        progress=r.progress,
    )
    return f"{sum(c.tracks for c in res)} tracks"


def _associate(scene: Scene, cfg: RunConfig, r: _Runner) -> str:
    res = run_associate(
        scene, cfg.associate, overwrite=r.overwrite("associate"), progress=r.progress
    )
    for note in res.notes:
        r.log(note)
    return f"{res.identities} identities ({res.cues})"


def _evaluate(scene: Scene, cfg: RunConfig, r: _Runner) -> str:
    res = run_evaluate([scene], cfg.evaluate, progress=r.progress)
    for w in res.warnings:
        r.log(w)
    s = res.scene_summary(next(iter(res.scenes)))
    return "  ".join(
        f"{k} {s[k]:.3f}" for k in ("IDF1", "MOTA", "AIDF1", "MHAA") if s[k] is not None
    )


def missing_detections(scene: Scene) -> list[str]:
    """Cameras of ``scene`` that have pixels but no ``det/`` file."""
    return [c.name for c in scene.pixel_cameras() if not scene.path("det", c.name).is_file()]


def ensure_detections(
    scene: Scene,
    cfg: DetectConfig = DetectConfig(),
    *,
    progress: ProgressCallback | None = None,
    log: Log | None = None,
) -> bool:
    """Run the detect stage first when cameras with pixels have no ``det/`` yet.

    Returns whether it ran. This is what lets ``mcmot pretrain my_videos/``
    and ``mcmot track my_videos/`` work on a folder that holds only videos.
    """
    missing = missing_detections(scene)
    if not missing:
        return False
    if log is not None:
        log(f"no det/ for {', '.join(missing)} in {scene.root}: running `mcmot detect` first")
    det_cfg = dataclasses.replace(cfg, cameras=tuple(missing))
    run_detect(scene, det_cfg, overwrite=False, progress=progress, warn=log)
    return True
