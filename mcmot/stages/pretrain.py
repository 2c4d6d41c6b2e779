"""``mcmot pretrain``: self-supervised CalibFree pretraining on one or more scenes.

The run folder holds what the trainer writes (mcmot.training.loop:
``checkpoint.pt``, numbered checkpoints, ``log.jsonl``) and ``config.json``.
This stage resolves the scenes, the settings and the teacher, loads the crops
(rank 0 fills each scene's cache in ``SCENE/cache/pretrain/``, the other ranks
read it), and hands a :class:`CalibFreeObjective` to the trainer. The
teacher's targets are computed when a step first needs them
(mcmot.training.targets) and cached beside the crops, so a second run on the
same scene pays for neither.

A ``minutes`` budget is wall time from ``started``: cropping (refused up
front when it would take more than half of the budget), the teacher's targets
(planned with the steps) and training all fit in it.
Under ``torchrun`` the run uses DistributedDataParallel (mcmot.training.distributed).
The settings are mcmot.models.pretrain_config's, the checkpoint format
mcmot.models.checkpoint's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from mcmot.atomic import make_dir, write_json
from mcmot.config import to_dict
from mcmot.errors import McmotError
from mcmot.models.checkpoint import CALIBFREE, config_from_dict
from mcmot.models.device import resolve_device
from mcmot.models.pretrain_config import PRESETS, PretrainConfig
from mcmot.models.teacher import Teacher, load_teacher
from mcmot.progress import ProgressCallback
from mcmot.scene import Scene
from mcmot.stages.pretrain_data import (
    BudgetGuard,
    CropSpec,
    cache_key,
    load_scene_crops,
    pretrain_cache,
)
from mcmot.training.calibfree import CalibFreeObjective
from mcmot.training.distributed import Dist, distributed, main_first
from mcmot.training.loop import TrainResult, prepare_run_dir, start_training, train
from mcmot.training.session import Session, SessionOptions
from mcmot.training.targets import LazyTargets
from mcmot.training.timesteps import SceneCrops

if TYPE_CHECKING:
    from typing_extensions import Unpack


@dataclass(frozen=True)
class PretrainResult(TrainResult):
    """What a pretraining session did: the trainer's account
    (mcmot.training.loop.TrainResult) and the pretraining's own.

    Attributes
    ----------
    seconds : this session's wall-clock time
    teacher : the teacher used ("" for none)
    timesteps : training timesteps over all scenes
    notes : messages for the user (e.g. no teacher installed)
    teacher_targets : crops with the teacher's targets, and how many this session
        computed ("" without a teacher)
    """

    seconds: float
    teacher: str
    timesteps: int
    notes: tuple[str, ...] = ()
    teacher_targets: str = ""


def crop_spec(cfg: PretrainConfig) -> CropSpec:
    """The data part of ``cfg``: what the training crops depend on."""
    return CropSpec(
        cfg.boxes, cfg.img_height, cfg.img_width, cfg.max_dets, cfg.min_score, cfg.min_box_px
    )


def _checked(
    cfg: PretrainConfig, loaded: dict[str, Any] | None, scenes: list[Scene | Path | str]
) -> tuple[PretrainConfig, list[Scene]]:
    """The run's settings (a resumed run's own) and scenes, or a one-line error."""
    if loaded is not None:
        cfg = config_from_dict(loaded["config"])
    scene_objs = [s if isinstance(s, Scene) else Scene(s) for s in scenes]
    if not scene_objs:
        raise McmotError("give at least one scene to pretrain on")
    if cfg.batch_size < 1 or cfg.epochs < 1:
        raise McmotError("--batch-size and --epochs must be at least 1")
    try:
        cfg.model_config().validate()
    except ValueError as exc:
        raise McmotError(f"bad model configuration: {exc}") from None
    return cfg, scene_objs


def _teacher(
    cfg: PretrainConfig, new_run: bool, device: torch.device, say: Callable[[str], None]
) -> tuple[Teacher | None, tuple[str, ...], PretrainConfig]:
    """The teacher (None for none), notes for the user, and the settings with its width.

    A new run takes the width of the teacher it finds; a resumed run needs the one
    it was trained with.
    """
    teacher, note = (None, None)
    if cfg.teacher_dim > 0 or new_run:
        teacher, note = load_teacher(
            cfg.teacher, cfg.teacher_arch, device, runtime=cfg.teacher_runtime
        )
    notes = tuple(n for n in [note] if n)
    for n in notes:
        say(f"warning: {n}")
    if new_run:
        cfg = dataclasses.replace(cfg, teacher_dim=teacher.dim if teacher else 0)
    elif cfg.teacher_dim > 0 and (teacher is None or teacher.dim != cfg.teacher_dim):
        raise McmotError("the teacher this run was trained with is not available to resume it")
    return teacher, notes, cfg


def _teacher_targets(
    scenes: list[Scene], crops: list[SceneCrops], cfg: PretrainConfig, teacher: Teacher
) -> list[LazyTargets]:
    """The teacher's patch features of every scene's crops, computed when a step
    first needs them and cached in ``SCENE/cache/pretrain/`` across runs, keyed by
    the crops, the teacher (its name, which says the runtime, and its file's size
    and time) and the student's patch grid."""
    grid = cfg.model_config().grid
    source = Path(cfg.teacher)
    stamp = [source.stat().st_size, source.stat().st_mtime_ns] if source.is_file() else []
    who = hashlib.sha1(json.dumps([teacher.name, *stamp, grid]).encode()).hexdigest()[:12]
    out = []
    for scene, sc in zip(scenes, crops, strict=True):
        name = f"{cache_key(scene, crop_spec(cfg))}-{who}"
        out.append(
            LazyTargets(
                sc.crops,
                lambda x: teacher.patch_features(x, grid),
                (grid[0] * grid[1], teacher.dim),
                pretrain_cache(scene) / f"teacher-{name}.npz",
            )
        )
    return out


def _objective(
    scenes: list[Scene],
    cfg: PretrainConfig,
    teacher: Teacher | None,
    deadline: float | None,
    dd: Dist,
    device: torch.device,
    progress: ProgressCallback,
) -> CalibFreeObjective:
    """The scenes' crops (and their teacher targets) as a CalibFree objective."""
    spec = crop_spec(cfg)

    def load(main: bool) -> list[SceneCrops]:
        guard = None if deadline is None else BudgetGuard(deadline)
        return [
            load_scene_crops(s, spec, pretrain_cache(s), progress if main else None, guard)
            for s in scenes
        ]

    crops = main_first(dd, load)
    if not any(len(sc.frames) for sc in crops):
        raise McmotError("no detections to train on in the given scene(s)")
    teachers = None if teacher is None else _teacher_targets(scenes, crops, cfg, teacher)
    name = teacher.name if teacher else ""
    return CalibFreeObjective(cfg, crops, teachers, name, dd, device)


def _teacher_targets_note(obj: CalibFreeObjective) -> str:
    """How many crops have the teacher's targets, and what this session paid for them."""
    if obj.teachers is None:
        return ""
    done = sum(int(t.done.sum()) for t in obj.teachers)
    total = sum(len(t) for t in obj.teachers)
    new = sum(t.computed for t in obj.teachers)
    secs = sum(t.seconds for t in obj.teachers)
    return (
        f"{done} of {total} crops ({new} computed in {secs:.0f} s, "
        f"{done - new} from the scene's cache)"
    )


def _result(
    res: TrainResult, seconds: float, obj: CalibFreeObjective, notes: tuple[str, ...]
) -> PretrainResult:
    fields = {f.name: getattr(res, f.name) for f in dataclasses.fields(res)}
    return PretrainResult(
        **fields,
        seconds=seconds,
        teacher=obj.teacher_name,
        timesteps=obj.num_samples,
        notes=notes,
        teacher_targets=_teacher_targets_note(obj),
    )


def run_pretrain(
    scenes: list[Scene | Path | str],
    run_dir: Path | str,
    cfg: PretrainConfig | None = None,
    **options: Unpack[SessionOptions],
) -> PretrainResult:
    """Pretrain CalibFree on ``scenes``, writing into ``run_dir``.

    Parameters
    ----------
    scenes : scene folders (their det/ or gt/ boxes and pixels)
    run_dir : the output folder
    cfg : settings (default: the cpu preset)
    options : how this session runs (:class:`mcmot.training.session.Session`)
    """
    session = Session(**options)
    cfg = cfg or PRESETS["cpu"]
    run_dir = Path(run_dir)
    loaded = prepare_run_dir(run_dir, session, CALIBFREE)
    deadline = session.deadline(cfg.minutes)
    cfg, scene_objs = _checked(cfg, loaded, scenes)
    with distributed(resolve_device(cfg.device)) as (dd, device):
        make_dir(run_dir)
        teacher, notes, cfg = _teacher(cfg, loaded is None, device, session.say)
        obj = _objective(scene_objs, cfg, teacher, deadline, dd, device, session.report)
        trainer = start_training(obj, run_dir, dd, device, loaded, deadline, session.say)
        if loaded is None and dd.main:
            write_json(run_dir / "config.json", {**to_dict(cfg), "teacher_name": obj.teacher_name})
        res = train(trainer, deadline, session.stop_at_step, session.report)
        if dd.main and obj.teachers is not None:
            for t in obj.teachers:
                t.save()
    return _result(res, session.elapsed(), obj, notes)
