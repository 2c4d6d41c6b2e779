"""``mcmot pretrain --objective cross-input``: the learned tracker, trained on unlabeled video.

Reads the detections of every camera with pixels of the scenes and their
crops (mcmot.stages.cross_input_data), and trains the visual and the spatial
matcher (mcmot.models.cross_input) to agree across inputs
(mcmot.training.cross_input). The run folder holds what the trainer writes
(``checkpoint.pt`` of kind ``cross-input``, numbered checkpoints,
``log.jsonl``), ``config.json`` and ``cache/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcmot.atomic import make_dir, write_json
from mcmot.config import to_dict
from mcmot.errors import McmotError
from mcmot.models.checkpoint import CROSS_INPUT
from mcmot.models.cross_input_config import (
    CrossInputConfig,
    check_cross_input_config,
    cross_input_config_from_dict,
)
from mcmot.models.device import resolve_device
from mcmot.stages.cross_input_data import load_cameras
from mcmot.training.cross_input import CameraDets, CrossInputObjective
from mcmot.training.distributed import distributed, main_first
from mcmot.training.loop import TrainResult, open_run, session_result, start_training, train
from mcmot.training.session import Session, SessionOptions

if TYPE_CHECKING:
    from typing_extensions import Unpack

#: Fewer sequence starts than this draw a warning.
FEW_STARTS = 50


@dataclass(frozen=True)
class CrossInputResult(TrainResult):
    """What a cross-input training session did: the trainer's account and the data's.

    Attributes
    ----------
    seconds : this session's wall-clock time
    cameras : cameras trained on
    detections : detections kept over all cameras
    starts : frames a sequence can start from (the samples of an epoch)
    notes : messages for the user
    """

    seconds: float
    cameras: int
    detections: int
    starts: int
    notes: tuple[str, ...] = ()


def run_pretrain_cross_input(
    scenes: list[Path | str],
    run_dir: Path | str,
    cfg: CrossInputConfig | None = None,
    **options: Unpack[SessionOptions],
) -> CrossInputResult:
    """Train the learned tracker on the detections of ``scenes``, writing into ``run_dir``.

    Parameters
    ----------
    scenes : scene folders with pixels and ``det/``
    run_dir : the output folder
    cfg : settings (default :class:`CrossInputConfig`)
    options : how this session runs (:class:`mcmot.training.session.Session`)
    """
    session = Session(**options)
    cfg = cfg or CrossInputConfig()
    check_cross_input_config(cfg)
    run_dir = Path(run_dir)
    loaded, cfg, deadline = open_run(
        run_dir, session, CROSS_INPUT, cfg, cross_input_config_from_dict
    )
    paths = [Path(s) for s in scenes]
    with distributed(resolve_device(cfg.device)) as (dd, device):
        make_dir(run_dir)
        cams = main_first(
            dd, lambda main: load_cameras(paths, cfg, session.report if main else None)
        )
        _check_same(cams, loaded, run_dir)
        obj = CrossInputObjective(cfg, cams, dd, device)
        notes = _notes(obj)
        for n in notes if dd.main else ():
            session.say(f"warning: {n}")
        trainer = start_training(obj, run_dir, dd, device, loaded, deadline, session.say)
        if loaded is None and dd.main:
            write_json(run_dir / "config.json", to_dict(cfg))
        res = train(trainer, deadline, session.stop_at_step, session.report)
    return session_result(
        CrossInputResult,
        res,
        seconds=session.elapsed(),
        cameras=len(cams),
        detections=sum(len(c.frames) for c in cams),
        starts=obj.num_samples,
        notes=notes,
    )


def _check_same(cams: list[CameraDets], loaded: dict[str, Any] | None, run_dir: Path) -> None:
    """A resumed run needs the cameras it was trained on."""
    names = [c.name for c in cams]
    if loaded is not None and list(loaded.get("cameras", names)) != names:
        raise McmotError(
            f"the scenes give other cameras than the run in {run_dir} was trained on: "
            "resume with the same scenes"
        )


def _notes(obj: CrossInputObjective) -> tuple[str, ...]:
    if obj.num_samples == 0:
        raise McmotError(
            f"no frame starts a sequence: every sequence needs {obj.cfg.min_dets} or more "
            f"detections in its first frame and in one {obj.cfg.n_min}-{obj.cfg.n_max} "
            f"strides of {list(obj.cfg.skips)} frames later (lower min_dets or n_min)"
        )
    if obj.num_samples < FEW_STARTS:
        return (
            f"only {obj.num_samples} frames start a sequence: the matchers see little "
            "footage (more or longer videos)",
        )
    return ()
