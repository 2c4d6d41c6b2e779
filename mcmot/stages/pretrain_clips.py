"""``mcmot pretrain --objective clips``: SSAT's re-ID network learned from unlabeled clips.

Every short clip of the sources (or, with ``inputs = "tracklets"``, every
piece of a track) is its own class (mcmot.stages.clips_data); the network
(mcmot.models.reid) learns to tell them apart with CosFace's loss
(mcmot.training.clips). The run folder holds what the trainer writes
(``checkpoint.pt`` of kind ``ssat``, numbered checkpoints, ``log.jsonl``),
``config.json``, ``classes.txt`` (one class per line) and ``cache/``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mcmot.atomic import make_dir, write_json, write_text
from mcmot.config import to_dict
from mcmot.errors import McmotError
from mcmot.models.checkpoint import SSAT
from mcmot.models.clips_config import ClipsConfig, check_clips_config, clips_config_from_dict
from mcmot.models.device import resolve_device
from mcmot.progress import ProgressCallback
from mcmot.stages.clips_data import ClipImages, Source, find_sources, load_clip_images
from mcmot.training.clips import ClipsObjective
from mcmot.training.distributed import Dist, distributed, main_first
from mcmot.training.loop import TrainResult, open_run, session_result, start_training, train
from mcmot.training.session import Session, SessionOptions

if TYPE_CHECKING:
    from typing_extensions import Unpack

#: Fewer classes than this draw a warning: the classification becomes easy at once.
FEW_CLASSES = 10
#: A pixel whose grey level varies less than this (standard deviation over a source's
#: images) is static; a source with more than ``STATIC_SHARE`` of them is a fixed camera.
STATIC_STD = 8.0
STATIC_SHARE = 0.8
#: Training accuracy from which the clips count as told apart perfectly.
SATURATED = 0.99


def static_share(images: np.ndarray, most: int = 64) -> float:
    """Share of pixels that hardly change over (at most ``most`` of) a source's images."""
    if len(images) < 2:
        return 0.0
    pick = images[np.linspace(0, len(images) - 1, min(most, len(images))).astype(int)]
    grey = pick.astype(np.float32).mean(axis=-1)
    return float((grey.std(axis=0) < STATIC_STD).mean())


@dataclass(frozen=True)
class ClipsResult(TrainResult):
    """What a clips training session did: the trainer's account and the data's.

    Attributes
    ----------
    seconds : this session's wall-clock time
    classes : clips (classes) trained on
    images : training images over all classes
    notes : messages for the user
    """

    seconds: float
    classes: int
    images: int
    notes: tuple[str, ...] = ()


def _notes(data: ClipImages, cfg: ClipsConfig) -> tuple[str, ...]:
    notes = []
    if data.num_classes < FEW_CLASSES:
        notes.append(
            f"only {data.num_classes} clips to tell apart: the task is easy and the features "
            "may learn little (more footage, or a shorter --clip-seconds)"
        )
    if cfg.inputs == "tracklets":
        notes.append(
            "tracklet classes (a variant of the paper): identity noise from tracks/ trains in"
        )
    return tuple(notes)


def _saturated(losses: dict[str, float], main: bool, say: Callable[[str], None]) -> tuple[str, ...]:
    """The warning for a task learned completely (said on the main process)."""
    if losses.get("acc", 0.0) < SATURATED or not main:
        return ()
    note = "every clip is told apart in training: more or longer footage makes a harder task"
    say(f"warning: {note}")
    return (note,)


def run_pretrain_clips(
    sources: list[Path | str],
    run_dir: Path | str,
    cfg: ClipsConfig | None = None,
    **options: Unpack[SessionOptions],
) -> ClipsResult:
    """Train SSAT's network on the clips of ``sources``, writing into ``run_dir``.

    Parameters
    ----------
    sources : video files, folders of videos or scene folders
    run_dir : the output folder
    cfg : settings (default :class:`ClipsConfig`)
    options : how this session runs (:class:`mcmot.training.session.Session`)
    """
    session = Session(**options)
    cfg = cfg or ClipsConfig()
    check_clips_config(cfg)
    run_dir = Path(run_dir)
    loaded, cfg, deadline = open_run(run_dir, session, SSAT, cfg, clips_config_from_dict)
    srcs = find_sources([Path(s) for s in sources], cfg.inputs == "tracklets")
    with distributed(resolve_device(cfg.device)) as (dd, device):
        make_dir(run_dir)
        data = _data(srcs, cfg, run_dir, loaded, dd, session.report)
        notes = _notes(data, cfg)
        for n in notes if dd.main else ():
            session.say(f"warning: {n}")
        obj = ClipsObjective(cfg, data, dd, device)
        trainer = start_training(obj, run_dir, dd, device, loaded, deadline, session.say)
        if loaded is None and dd.main:
            write_json(run_dir / "config.json", to_dict(cfg))
            write_text(run_dir / "classes.txt", "".join(f"{n}\n" for n in data.names))
        res = train(trainer, deadline, session.stop_at_step, session.report)
    notes += _saturated(res.losses, dd.main, session.say)
    return session_result(
        ClipsResult,
        res,
        seconds=session.elapsed(),
        classes=data.num_classes,
        images=len(data.labels),
        notes=notes,
    )


def _data(
    srcs: list[Source],
    cfg: ClipsConfig,
    run_dir: Path,
    loaded: dict[str, Any] | None,
    dd: Dist,
    report: ProgressCallback,
) -> ClipImages:
    """The sources' classes (rank 0 fills the cache); a resumed run needs the same ones."""
    data = main_first(
        dd, lambda main: load_clip_images(srcs, cfg, run_dir / "cache", report if main else None)
    )
    if loaded is not None and list(loaded.get("classes", data.names)) != list(data.names):
        raise McmotError(
            f"the sources give other clips than the run in {run_dir} was trained on: "
            "resume with the same sources"
        )
    return data
