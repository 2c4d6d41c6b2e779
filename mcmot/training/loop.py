"""The training loop every objective shares: steps, checkpoints, resume, Ctrl-C, the step log.

A run folder holds ``checkpoint.pt`` (the latest state; the final model when
the run is finished), ``checkpoint-epochXXXX.pt`` (kept every ``save_every``
epochs) and ``log.jsonl`` (one JSON object per step). Checkpoints are written
at the end of every epoch, at the end, at the deadline and on Ctrl-C (the
first Ctrl-C finishes the current step, the second aborts); ``--resume``
continues from ``checkpoint.pt`` exactly, since every step's draws are a
function of ``(seed, step)`` (mcmot.training.schedule).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from numpy.typing import NDArray

from mcmot.atomic import append_text, write_text
from mcmot.config import to_dict
from mcmot.errors import McmotError
from mcmot.models.checkpoint import load_checkpoint, save_checkpoint
from mcmot.progress import ProgressCallback, ProgressEvent
from mcmot.training.distributed import Dist, any_rank, barrier, rank0_int, wrap_ddp
from mcmot.training.objective import Objective
from mcmot.training.schedule import (
    Schedule,
    lr_at,
    plan_epochs,
    plan_steps,
    planned_samples,
    step_samples,
    steps_in_budget,
    steps_within,
)
from mcmot.training.session import Session

#: A budget's plan is redone from the real steps' times after these shares of its steps...
REPLAN_SHARES = (0.1, 0.3, 0.6)
#: ... when it plans at least this many, for this share of the time left (steps vary:
#: the rest lets the schedule finish before the deadline cuts it).
REPLAN_MIN_STEPS = 8
REPLAN_USE = 0.96
#: Epochs of coming steps whose preparation a budget counts (its cost after them is
#: negligible: by then every process has met nearly every sample).
PREPARATION_EPOCHS = 20
CHECKPOINT = "checkpoint.pt"
LOG = "log.jsonl"
#: The task named in the per-step progress events.
TASK = "pretrain"

#: A run's settings, and a session's result with more fields than the trainer's.
S = TypeVar("S")
R = TypeVar("R", bound="TrainResult")


@dataclass
class Trainer:
    """A training session's state."""

    objective: Objective
    dd: Dist
    model: torch.nn.Module
    ddp: torch.nn.Module
    opt: torch.optim.Optimizer
    sched: Schedule
    run_dir: Path
    step: int = 0
    replans: list[int] = field(default_factory=list)  # steps after which a budget's plan is redone
    prep_s: float = 0.0  # the last step's preparation time
    step_times: list[float] = field(default_factory=list)  # this session's, preparation aside


@dataclass(frozen=True)
class TrainResult:
    """What a training session did.

    Attributes
    ----------
    checkpoint : the latest checkpoint
    step, total_steps : steps done and planned
    epoch : epochs done (fractional)
    finished : the schedule is complete
    stopped : why this session ended: "done", "budget", "interrupted" or "stop_at_step"
    losses : the last step's losses (and ``lr``)
    samples_per_s : mean samples per second over this session (all processes)
    model : the trained model (this process's copy)
    """

    checkpoint: Path
    step: int
    total_steps: int
    epoch: float
    finished: bool
    stopped: str
    losses: dict[str, float]
    samples_per_s: float
    model: torch.nn.Module = dataclasses.field(repr=False, compare=False)


# ----------------------------------------------------------------- start
def prepare_run_dir(
    run_dir: Path, session: Session, kind: str | None = None
) -> dict[str, Any] | None:
    """The checkpoint the ``session`` resumes (None for a new run), or a one-line error.

    With ``kind``, a run of another objective cannot be resumed.
    """
    ckpt = run_dir / CHECKPOINT
    if session.resume:
        if not ckpt.is_file():
            raise McmotError(f"nothing to resume: {ckpt} does not exist")
        state = load_checkpoint(ckpt, kind)
        missing = [k for k in ("optimizer", "schedule", "step") if k not in state]
        if missing:
            raise McmotError(f"cannot resume from {ckpt}: it has no {', '.join(missing)}")
        return state
    if ckpt.exists() and not session.overwrite:
        raise McmotError(
            f"{run_dir} already holds a run; pass --resume to continue it or --overwrite to restart"
        )
    return None


def open_run(
    run_dir: Path, session: Session, kind: str, cfg: S, from_dict: Callable[[Any], S]
) -> tuple[dict[str, Any] | None, S, float | None]:
    """The checkpoint to resume (None for a new run), the run's settings (a resumed run's
    own, with this session's ``minutes``) and this session's deadline (``perf_counter``
    seconds; None without ``minutes``)."""
    loaded = prepare_run_dir(run_dir, session, kind)
    minutes = cfg.minutes  # type: ignore[attr-defined]
    deadline = session.deadline(minutes)
    if loaded is not None:
        cfg = dataclasses.replace(from_dict(loaded["config"]), minutes=minutes)  # type: ignore[type-var]
    return loaded, cfg, deadline


def session_result(cls: type[R], res: TrainResult, **extra: Any) -> R:
    """A ``cls`` (a :class:`TrainResult` with more fields) from the trainer's ``res``."""
    fields = {f.name: getattr(res, f.name) for f in dataclasses.fields(res)}
    return cls(**fields, **extra)


def param_groups(model: torch.nn.Module, wd: float) -> list[dict[str, Any]]:
    """AdamW groups: weight decay ``wd`` except on biases, norms and tokens."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        skip = p.ndim <= 1 or name.endswith(("cls_token", "mask_token", "pos_embed"))
        (no_decay if skip else decay).append(p)
    return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]


def start_training(
    objective: Objective,
    run_dir: Path,
    dd: Dist,
    device: torch.device,
    loaded: dict[str, Any] | None,
    deadline: float | None,
    say: Callable[[str], None],
) -> Trainer:
    """The model, optimiser and schedule of a new run, or of the run ``loaded`` resumes.

    A new run with a ``deadline`` (``time.perf_counter()`` seconds) plans as many
    steps as fit before it; a resumed run keeps its schedule and drops the log
    lines of steps after its checkpoint.
    """
    cfg = objective.settings
    torch.manual_seed(cfg.seed)
    model = objective.build_model(loaded["model"] if loaded else None).to(device)
    opt = torch.optim.AdamW(
        param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2)
    )
    sched = plan_epochs(cfg, objective.num_samples, dd)
    tr = Trainer(objective, dd, model, wrap_ddp(model, device, dd), opt, sched, run_dir)
    if loaded is not None:
        opt.load_state_dict(loaded["optimizer"])
        tr.sched = Schedule(**loaded["schedule"])
        tr.step = int(loaded["step"])
        if dd.main:
            truncate_log(run_dir / LOG, tr.step, say)
        return tr
    if deadline is not None:
        agreed(dd, lambda: steps_that_fit(tr, deadline - time.perf_counter(), 0.0, limit=1))
        seconds = time_steps(tr, max(1, cfg.plan_steps))
        total = agreed(dd, lambda: steps_that_fit(tr, deadline - time.perf_counter(), seconds))
        tr.sched = plan_steps(cfg, sched.steps_per_epoch, total)
        if total >= REPLAN_MIN_STEPS:
            at = {max(cfg.plan_steps + 1, math.ceil(share * total)) for share in REPLAN_SHARES}
            tr.replans = sorted(at)
    if dd.main:
        write_text(run_dir / LOG, "")
    return tr


def agreed(dd: Dist, plan: Callable[[], int]) -> int:
    """Rank 0's ``plan()`` on every process; an error in any process is raised in all
    (a process that raised alone would leave the others waiting)."""
    error: McmotError | None = None
    value = 0
    try:
        value = plan()
    except McmotError as exc:
        error = exc
    if any_rank([error is not None], dd)[0]:
        raise error or McmotError("another process of the run could not plan its budget")
    return rank0_int(value, dd)


def steps_that_fit(
    tr: Trainer, budget_s: float, seconds_per_step: float, limit: int | None = None, start: int = 0
) -> int:
    """Steps from step ``start`` on (with what the objective prepares for them) that fit
    ``budget_s`` seconds, at most ``limit``.

    Raises
    ------
    McmotError : up front, when not even the first step and its preparation fit
    """
    if limit is None:
        limit = steps_in_budget(budget_s, seconds_per_step)
    obj = tr.objective
    samples = planned_samples(tr.sched, obj.num_samples, obj.settings, tr.dd)
    # one epoch covers every sample of one process; under DDP each epoch deals them anew
    horizon = min(limit, PREPARATION_EPOCHS * tr.sched.steps_per_epoch)
    pending = obj.pending_seconds(itertools.islice(samples, start, start + horizon))
    total = steps_within(budget_s, seconds_per_step, pending, limit)
    if total == 0 and pending[0] == 0:
        return 1  # a budget shorter than a step still trains one
    if total == 0:
        need = seconds_per_step + float(pending[0])
        raise McmotError(
            f"the first training step and its preparation take about {need:.0f} s, more "
            f"than the {max(budget_s, 0):.0f} s left of the budget: {obj.preparation_hint}"
        )
    return total


# ----------------------------------------------------------------- steps
def _prepared(tr: Trainer, step: int) -> NDArray[np.int64]:
    """The samples of ``step``, with what the objective builds on first use built."""
    obj = tr.objective
    samples = step_samples(step, tr.sched, obj.num_samples, obj.settings, tr.dd)
    t0 = time.perf_counter()
    obj.prepare(samples)
    tr.prep_s = time.perf_counter() - t0
    return samples


def replan(tr: Trainer, deadline: float) -> None:
    """Redo a budget's plan at the steps ``tr.replans`` from the steps' own times.

    The plan before the first step rests on a few timed passes and a fixed
    allowance for the optimiser and the log, which is too much for a small
    model and too little for a large one; this session's real steps so far
    (preparation aside, checkpoints included) replace it, a better average
    each time. The warm-up keeps its share of the new length.
    """
    if not tr.replans or tr.step < tr.replans[0]:
        return
    tr.replans.pop(0)
    mean = float(np.mean(tr.step_times))
    left = (deadline - time.perf_counter()) * REPLAN_USE
    try:
        more = agreed(tr.dd, lambda: steps_that_fit(tr, left, mean, start=tr.step))
    except McmotError:
        return  # not even one more step fits: the deadline ends the run
    tr.sched = plan_steps(tr.objective.settings, tr.sched.steps_per_epoch, tr.step + more)


def _forward(
    tr: Trainer, step: int, samples: NDArray[np.int64]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    return tr.objective.loss(tr.ddp, step, samples)


def train_step(tr: Trainer) -> dict[str, float]:
    """One optimisation step at ``tr.step``; returns the losses (and ``lr``)."""
    cfg = tr.objective.settings
    lr = lr_at(tr.step, tr.sched, cfg)
    for g in tr.opt.param_groups:
        g["lr"] = lr
    tr.ddp.train()
    loss, terms = _forward(tr, tr.step, _prepared(tr, tr.step))
    if not torch.isfinite(loss):
        raise McmotError(f"the loss became {loss.item()} at step {tr.step}; lower --lr")
    tr.opt.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.clip_grad > 0:
        torch.nn.utils.clip_grad_norm_(tr.model.parameters(), cfg.clip_grad)
    tr.opt.step()
    tr.step += 1
    out = {k: float(v.detach()) for k, v in terms.items()}
    out["loss"] = float(loss.detach())
    out["lr"] = lr
    return out


def time_steps(tr: Trainer, count: int) -> float:
    """Seconds per step, timed on ``count`` forward/backward passes that change nothing
    (what the objective prepares for them is built first and not timed)."""
    tr.ddp.train()
    times = []
    for i in range(count + 1):
        samples = _prepared(tr, i)
        t0 = time.perf_counter()
        loss, _ = _forward(tr, i, samples)
        loss.backward()
        tr.opt.zero_grad(set_to_none=True)
        if i:
            times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1.15  # optimiser step and logging


# ----------------------------------------------------------------- checkpoints
def _state(tr: Trainer, finished: bool) -> dict[str, Any]:
    return {
        "config": to_dict(tr.objective.settings),
        "model": tr.model.state_dict(),
        "optimizer": tr.opt.state_dict(),
        "schedule": dataclasses.asdict(tr.sched),
        "step": tr.step,
        "finished": finished,
        **tr.objective.checkpoint_extras(),
    }


def save(tr: Trainer, finished: bool, numbered: bool = False) -> None:
    """Write ``checkpoint.pt`` (and with ``numbered`` this epoch's copy) from rank 0."""
    if tr.dd.main:
        state, kind = _state(tr, finished), tr.objective.kind
        save_checkpoint(tr.run_dir / CHECKPOINT, state, kind)
        if numbered:
            epoch = tr.step // tr.sched.steps_per_epoch
            save_checkpoint(tr.run_dir / f"checkpoint-epoch{epoch:04d}.pt", state, kind)
    barrier(tr.dd)


# ----------------------------------------------------------------- Ctrl-C
class _StopFlag:
    """SIGINT handler: the first Ctrl-C asks the loop to stop after the current step."""

    def __init__(self) -> None:
        self.set = False

    def __call__(self, signum: int, frame: object) -> None:
        if self.set:
            raise KeyboardInterrupt
        self.set = True


@contextlib.contextmanager
def _sigint(flag: _StopFlag) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, flag)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# ----------------------------------------------------------------- log.jsonl
def _log_step(line: str) -> int | None:
    """The step of one ``log.jsonl`` line, or None when the line is not a step record."""
    try:
        rec = json.loads(line)
    except json.JSONDecodeError:
        return None
    step = rec.get("step") if isinstance(rec, dict) else None
    return step if isinstance(step, int) else None


def truncate_log(path: Path, step: int, say: Callable[[str], None]) -> None:
    """Drop log lines of steps after ``step`` (not in the checkpoint being resumed).

    Lines that are not step records (a line torn by a crash or a full disk)
    are dropped too, with one warning naming the file and the lines.
    """
    if not path.is_file():
        return
    kept, torn = [], []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        at = _log_step(line)
        if at is None:
            torn.append(lineno)
        elif at <= step:
            kept.append(line)
    if torn:
        lines = ", ".join(map(str, torn))
        say(f"warning: {path}: skipped unparseable line{'s' if len(torn) > 1 else ''} {lines}")
    write_text(path, "".join(ln + "\n" for ln in kept))


def _append_log(path: Path, step: int, epoch: float, values: dict[str, float]) -> None:
    rec = {"step": step, "epoch": round(epoch, 4), "time": time.time(), **values}
    append_text(path, json.dumps(rec) + "\n")


# ----------------------------------------------------------------- the loop
def train(
    tr: Trainer, deadline: float | None, stop_at_step: int | None, report: ProgressCallback
) -> TrainResult:
    """Train until the schedule ends, the ``deadline`` passes (``time.perf_counter()``
    seconds), Ctrl-C, or ``stop_at_step``; a checkpoint is written in every case."""
    cfg = tr.objective.settings
    flag = _StopFlag()
    first_step, t_loop = tr.step, time.perf_counter()
    last: dict[str, float] = {}
    stopped = "done"
    spe = tr.sched.steps_per_epoch
    with _sigint(flag):
        while tr.step < tr.sched.total_steps:
            t0 = time.perf_counter()
            last = train_step(tr)
            dt = time.perf_counter() - t0
            last["samples_per_s"] = cfg.batch_size * tr.dd.world / max(dt, 1e-9)
            if tr.dd.main:
                _append_log(tr.run_dir / LOG, tr.step, tr.step / spe, last)
            report(ProgressEvent(TASK, tr.step, tr.sched.total_steps, dict(last)))
            end_epoch = tr.step % spe == 0
            late = deadline is not None and time.perf_counter() > deadline
            stop_req, late = any_rank([flag.set, late], tr.dd)
            numbered = end_epoch and cfg.save_every > 0 and (tr.step // spe) % cfg.save_every == 0
            if end_epoch or tr.step == tr.sched.total_steps:
                save(tr, tr.step >= tr.sched.total_steps, numbered)
            if stop_req or late or (stop_at_step is not None and tr.step >= stop_at_step):
                stopped = "interrupted" if stop_req else ("budget" if late else "stop_at_step")
                break
            tr.step_times.append(time.perf_counter() - t0 - tr.prep_s)
            if deadline is not None:
                replan(tr, deadline)
    finished = tr.step >= tr.sched.total_steps
    if not (tr.step % spe == 0 or finished) or tr.step == first_step:
        save(tr, finished)
    done = tr.step - first_step
    return TrainResult(
        checkpoint=tr.run_dir / CHECKPOINT,
        step=tr.step,
        total_steps=tr.sched.total_steps,
        epoch=tr.step / spe,
        finished=finished,
        stopped=stopped,
        losses={k: v for k, v in last.items() if k not in ("samples_per_s",)},
        samples_per_s=done * cfg.batch_size * tr.dd.world / max(time.perf_counter() - t_loop, 1e-9),
        model=tr.model,
    )
