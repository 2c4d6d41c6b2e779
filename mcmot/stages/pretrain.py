"""``mcmot pretrain``: self-supervised CalibFree pretraining on one or more scenes.

The run folder holds ``checkpoint.pt`` (latest state; final model when the
run is finished), ``checkpoint-epochXXXX.pt`` (kept every ``save_every``
epochs), ``config.json``, ``log.jsonl`` (one JSON object per step) and
``cache/`` (crops and teacher features).

Everything random is a function of ``(seed, step)`` (the per-epoch order of
timesteps, each step's mask), so ``--resume`` continues exactly where a run
stopped and a CPU run is reproducible. Under ``torchrun`` the run uses
DistributedDataParallel (nccl on GPUs, gloo on CPUs); rank 0 writes the files.
The settings are mcmot.models.pretrain_config's, the checkpoint format
mcmot.models.checkpoint's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from mcmot.atomic import append_text, make_dir, write_json, write_text
from mcmot.config import to_dict
from mcmot.errors import McmotError
from mcmot.models.calibfree import CalibFree
from mcmot.models.checkpoint import build_model, config_from_dict, load_checkpoint, save_checkpoint
from mcmot.models.device import resolve_device
from mcmot.models.pretrain_config import PRESETS, PretrainConfig
from mcmot.models.teacher import load_teacher
from mcmot.models.tokens import normalize_crops, random_masking
from mcmot.progress import ProgressCallback, ProgressEvent
from mcmot.scene import Scene
from mcmot.stages.pretrain_data import (
    Batch,
    CropSpec,
    SceneCrops,
    cache_key,
    collate,
    load_scene_crops,
    teacher_features,
)

CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class PretrainResult:
    """What a pretraining session did.

    Attributes
    ----------
    checkpoint : the latest checkpoint
    step, total_steps : steps done and planned
    epoch : epochs done (fractional)
    finished : the schedule is complete
    stopped : why this session ended: "done", "budget", "interrupted" or "stop_at_step"
    losses : the last step's losses
    samples_per_s : mean timesteps per second over this session (all processes)
    seconds : this session's wall-clock time
    teacher : the teacher used ("" for none)
    timesteps : training timesteps over all scenes
    notes : messages for the user (e.g. no teacher installed)
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
    seconds: float
    teacher: str
    timesteps: int
    notes: tuple[str, ...] = ()
    model: CalibFree | None = dataclasses.field(default=None, repr=False, compare=False)


# ----------------------------------------------------------------- distributed
@dataclass(frozen=True)
class Dist:
    """This process's place in a (possibly single-process) run."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device_kind: str) -> Dist:
    """Join the torchrun process group when ``WORLD_SIZE`` > 1 (nccl on CUDA, else gloo)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_kind == "cuda" else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def _any_rank(flags: list[bool], dd: Dist) -> list[bool]:
    """Element-wise OR of boolean flags over all processes."""
    if dd.world == 1:
        return flags
    t = torch.tensor([float(f) for f in flags])
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(x) for x in t.cpu().tolist()]


def _barrier(dd: Dist) -> None:
    if dd.world > 1:
        dist.barrier()


# ----------------------------------------------------------------- schedule
@dataclass(frozen=True)
class Schedule:
    """The planned run: steps per epoch, total and warm-up steps."""

    steps_per_epoch: int
    total_steps: int
    warmup_steps: int


def lr_at(step: int, sched: Schedule, cfg: PretrainConfig) -> float:
    """Learning rate of 0-based ``step``: linear warm-up, then cosine decay to ``min_lr``."""
    if step < sched.warmup_steps:
        return cfg.lr * (step + 1) / sched.warmup_steps
    span = max(1, sched.total_steps - sched.warmup_steps)
    progress = min(1.0, (step - sched.warmup_steps) / span)
    return cfg.min_lr + (cfg.lr - cfg.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


#: Tags the random stream of the per-view detection order (see ``collate``'s ``shuffle``).
SLOT_STREAM = 1


def epoch_order(num: int, seed: int, epoch: int, dd: Dist, per_rank: int) -> np.ndarray:
    """This process's timestep order for ``epoch``: (per_rank,) indices into all timesteps."""
    perm = np.random.default_rng([seed, epoch]).permutation(num)[dd.rank :: dd.world]
    return np.resize(perm, per_rank)


def step_generator(seed: int, step: int, dd: Dist) -> torch.Generator:
    """The random generator of one step's masks on one process."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 64 + dd.rank)


# ----------------------------------------------------------------- the run
@dataclass
class _Run:
    """Mutable state of one training session (local to run_pretrain)."""

    cfg: PretrainConfig
    dd: Dist
    device: torch.device
    model: CalibFree
    ddp: torch.nn.Module
    opt: torch.optim.Optimizer
    sched: Schedule
    scenes: list[SceneCrops]
    teachers: list[np.ndarray] | None
    index: list[tuple[int, int]]
    run_dir: Path
    teacher_name: str
    step: int = 0


def _param_groups(model: torch.nn.Module, wd: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        skip = p.ndim <= 1 or name.endswith(("cls_token", "mask_token", "pos_embed"))
        (no_decay if skip else decay).append(p)
    return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]


def _batch_items(run: _Run, step: int) -> list[tuple[int, int]]:
    spe, b = run.sched.steps_per_epoch, run.cfg.batch_size
    epoch, pos = divmod(step, spe)
    order = epoch_order(len(run.index), run.cfg.seed, epoch, run.dd, spe * b)
    return [run.index[i] for i in order[pos * b : (pos + 1) * b]]


def _tensors(run: _Run, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    imgs = normalize_crops(torch.from_numpy(batch.crops).to(run.device))
    valid = torch.from_numpy(batch.valid).to(run.device)
    teacher = None if batch.teacher is None else torch.from_numpy(batch.teacher).to(run.device)
    return imgs, valid, teacher


def _autocast(run: _Run) -> contextlib.AbstractContextManager:
    if run.device.type == "cuda" and run.cfg.amp:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _losses(run: _Run, step: int) -> dict[str, torch.Tensor]:
    """Forward one step's batch through the (DDP-wrapped) model."""
    batch = collate(
        run.scenes,
        _batch_items(run, step),
        run.teachers,
        run.cfg.teacher_norm,
        shuffle=np.random.default_rng([run.cfg.seed, step, run.dd.rank, SLOT_STREAM]),
    )
    imgs, valid, teacher = _tensors(run, batch)
    mcfg = run.model.cfg
    b, v = imgs.shape[:2]
    gen = step_generator(run.cfg.seed, step, run.dd)
    ids_keep, ids_restore, mask = random_masking(
        b * v if mcfg.mask_per_view else b, mcfg.num_patches, mcfg.num_visible, gen, run.device
    )
    if mcfg.mask_per_view:  # one mask per view: (B, V, ...)
        ids_keep, ids_restore, mask = (t.view(b, v, -1) for t in (ids_keep, ids_restore, mask))
    own_drop = None
    if mcfg.recon_own_drop > 0:  # drawn after the mask, so the paper's stream is unchanged
        draw = torch.rand(valid.shape, generator=gen) < mcfg.recon_own_drop
        own_drop = draw.to(run.device) & other_views_seen(valid)[..., None]
    with _autocast(run):
        return run.ddp(imgs, valid, ids_keep, ids_restore, mask, teacher, own_drop)


def other_views_seen(valid: torch.Tensor) -> torch.Tensor:
    """(B, V) bool: another view of the timestep has at least one valid detection.

    Only those views' detections may be reconstructed from the other views alone
    (``recon_own_drop``); in a single-camera scene nothing is dropped.

    Parameters
    ----------
    valid : (B, V, N) bool
    """
    seen = valid.any(dim=2).to(torch.int64)  # (B, V)
    return seen.sum(dim=1, keepdim=True) - seen > 0


def _total(run: _Run, losses: dict[str, torch.Tensor]) -> torch.Tensor:
    w = {"recon": run.cfg.w_recon, "nmi": run.cfg.w_nmi, "distill": run.cfg.w_distill}
    return sum(w[k] * v for k, v in losses.items())  # type: ignore[return-value]


def train_step(run: _Run) -> dict[str, float]:
    """One optimisation step at ``run.step``; returns the losses (and ``lr``)."""
    lr = lr_at(run.step, run.sched, run.cfg)
    for g in run.opt.param_groups:
        g["lr"] = lr
    run.ddp.train()
    losses = _losses(run, run.step)
    loss = _total(run, losses)
    if not torch.isfinite(loss):
        raise McmotError(f"the loss became {loss.item()} at step {run.step}; lower --lr")
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    if run.cfg.clip_grad > 0:
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), run.cfg.clip_grad)
    run.opt.step()
    run.step += 1
    out = {k: float(v.detach()) for k, v in losses.items()}
    out["loss"] = float(loss.detach())
    out["lr"] = lr
    return out


def time_steps(run: _Run, count: int) -> float:
    """Seconds per step, timed on ``count`` forward/backward passes that change nothing."""
    run.ddp.train()
    times = []
    for i in range(count + 1):
        t0 = time.perf_counter()
        loss = _total(run, _losses(run, i))
        loss.backward()
        run.opt.zero_grad(set_to_none=True)
        if i:
            times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1.15  # optimiser step and logging


def _state(run: _Run, finished: bool) -> dict[str, Any]:
    return {
        "config": to_dict(run.cfg),
        "model": run.model.state_dict(),
        "optimizer": run.opt.state_dict(),
        "schedule": dataclasses.asdict(run.sched),
        "step": run.step,
        "finished": finished,
        "teacher": run.teacher_name,
    }


def _checkpoint(run: _Run, finished: bool, numbered: bool = False) -> None:
    if run.dd.main:
        state = _state(run, finished)
        save_checkpoint(run.run_dir / CHECKPOINT, state)
        if numbered:
            epoch = run.step // run.sched.steps_per_epoch
            save_checkpoint(run.run_dir / f"checkpoint-epoch{epoch:04d}.pt", state)
    _barrier(run.dd)


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


def _log_step(line: str) -> int | None:
    """The step of one ``log.jsonl`` line, or None when the line is not a step record."""
    try:
        rec = json.loads(line)
    except json.JSONDecodeError:
        return None
    step = rec.get("step") if isinstance(rec, dict) else None
    return step if isinstance(step, int) else None


def _truncate_log(path: Path, step: int, say: Callable[[str], None]) -> None:
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


# ----------------------------------------------------------------- setup
def crop_spec(cfg: PretrainConfig) -> CropSpec:
    """The data part of ``cfg``: what the training crops depend on."""
    return CropSpec(
        cfg.boxes, cfg.img_height, cfg.img_width, cfg.max_dets, cfg.min_score, cfg.min_box_px
    )


def _load_scenes(
    scenes: list[Scene], cfg: PretrainConfig, run_dir: Path, dd: Dist, progress: ProgressCallback
) -> list[SceneCrops]:
    cache = run_dir / "cache"
    spec = crop_spec(cfg)
    if dd.main:
        out = [load_scene_crops(s, spec, cache, progress) for s in scenes]
    _barrier(dd)
    if not dd.main:
        out = [load_scene_crops(s, spec, cache, None) for s in scenes]
    return out


def _load_teachers(
    scenes: list[Scene],
    crops: list[SceneCrops],
    cfg: PretrainConfig,
    teacher: Any,
    run_dir: Path,
    dd: Dist,
    progress: ProgressCallback,
) -> list[np.ndarray]:
    cache = run_dir / "cache"
    grid = cfg.model_config().grid
    keys = [f"{cache_key(s, crop_spec(cfg))}-{teacher.name}".replace("/", "_") for s in scenes]
    keys = [k.replace(" ", "_").replace(":", "_")[:120] for k in keys]
    pairs = list(zip(crops, keys, strict=True))
    if dd.main:
        out = [teacher_features(c, teacher, grid, cache, k, progress) for c, k in pairs]
    _barrier(dd)
    if not dd.main:
        out = [teacher_features(c, teacher, grid, cache, k, None) for c, k in pairs]
    return out


def plan_schedule(cfg: PretrainConfig, num_timesteps: int, dd: Dist) -> Schedule:
    """Steps per epoch, total and warm-up steps for ``--epochs`` (``--minutes`` re-plans)."""
    per_rank = math.ceil(num_timesteps / dd.world)
    spe = max(1, math.ceil(per_rank / cfg.batch_size))
    total = max(1, cfg.epochs * spe)
    warm = min(total - 1, round(cfg.warmup_epochs * spe)) if total > 1 else 0
    return Schedule(spe, total, max(0, warm))


def _plan_minutes(run: _Run, budget_s: float) -> Schedule:
    sec = time_steps(run, max(1, run.cfg.plan_steps))
    total = max(1, int(budget_s / sec))
    if run.dd.world > 1:
        t = torch.tensor([total], dtype=torch.int64)
        if dist.get_backend() == "nccl":
            t = t.cuda()
        dist.broadcast(t, 0)
        total = int(t.item())
    frac = run.cfg.warmup_epochs / max(1, run.cfg.epochs)
    warm = min(total - 1, round(frac * total)) if total > 1 else 0
    return Schedule(run.sched.steps_per_epoch, total, max(0, warm))


def _prepare_dir(run_dir: Path, resume: bool, overwrite: bool) -> dict[str, Any] | None:
    ckpt = run_dir / CHECKPOINT
    if resume:
        if not ckpt.is_file():
            raise McmotError(f"nothing to resume: {ckpt} does not exist")
        state = load_checkpoint(ckpt)
        missing = [k for k in ("optimizer", "schedule", "step") if k not in state]
        if missing:
            raise McmotError(f"cannot resume from {ckpt}: it has no {', '.join(missing)}")
        return state
    if ckpt.exists() and not overwrite:
        raise McmotError(
            f"{run_dir} already holds a run; pass --resume to continue it or --overwrite to restart"
        )
    return None


# ----------------------------------------------------------------- entry point
def run_pretrain(
    scenes: list[Scene | Path | str],
    run_dir: Path | str,
    cfg: PretrainConfig | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    log: Callable[[str], None] | None = None,
    stop_at_step: int | None = None,
) -> PretrainResult:
    """Pretrain CalibFree on ``scenes``, writing into ``run_dir``.

    Parameters
    ----------
    scenes : scene folders (their det/ or gt/ boxes and pixels)
    run_dir : the output folder
    cfg : settings (default: the cpu preset); with ``resume`` the checkpoint's
        settings are used, except ``minutes`` which bounds this session
    resume : continue the run in ``run_dir`` exactly where it stopped
    overwrite : restart a run that exists in ``run_dir``
    progress : receives the loading and per-step progress (losses, samples/s)
    log : receives one-line messages for the user
    stop_at_step : end this session (with a checkpoint) after this global step

    Returns
    -------
    PretrainResult
    """
    t_start = time.perf_counter()
    cfg = cfg or PRESETS["cpu"]
    say = log or (lambda msg: None)
    report = progress or (lambda ev: None)
    run_dir = Path(run_dir)
    loaded = _prepare_dir(run_dir, resume, overwrite)
    session_minutes = cfg.minutes
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

    device = resolve_device(cfg.device)
    dd = setup_distributed(device.type)
    if device.type == "cuda":
        device = torch.device("cuda", dd.local_rank)
        torch.cuda.set_device(device)
    make_dir(run_dir)

    teacher, note = (None, None)
    if cfg.teacher_dim > 0 or loaded is None:
        teacher, note = load_teacher(cfg.teacher, cfg.teacher_arch, device)
    notes = tuple(n for n in [note] if n)
    for n in notes:
        say(f"warning: {n}")
    if loaded is None:
        cfg = dataclasses.replace(cfg, teacher_dim=teacher.dim if teacher else 0)
    elif cfg.teacher_dim > 0 and (teacher is None or teacher.dim != cfg.teacher_dim):
        raise McmotError("the teacher this run was trained with is not available to resume it")

    crops = _load_scenes(scene_objs, cfg, run_dir, dd, report)
    index = [(s, t) for s, sc in enumerate(crops) for t in range(len(sc.frames))]
    if not index:
        raise McmotError("no detections to train on in the given scene(s)")
    teachers = None
    if teacher is not None:
        teachers = _load_teachers(scene_objs, crops, cfg, teacher, run_dir, dd, report)

    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model_config(), loaded["model"] if loaded else None).to(device)
    ddp: torch.nn.Module = model
    if dd.world > 1:
        ids = [dd.local_rank] if device.type == "cuda" else None
        ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    opt = torch.optim.AdamW(
        _param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2)
    )
    sched = plan_schedule(cfg, len(index), dd)
    run = _Run(
        cfg,
        dd,
        device,
        model,
        ddp,
        opt,
        sched,
        crops,
        teachers,
        index,
        run_dir,
        teacher.name if teacher else "",
    )
    if loaded is not None:
        opt.load_state_dict(loaded["optimizer"])
        run.sched = Schedule(**loaded["schedule"])
        run.step = int(loaded["step"])
        if dd.main:
            _truncate_log(run_dir / "log.jsonl", run.step, say)
    else:
        if cfg.minutes is not None:
            spent = time.perf_counter() - t_start
            run.sched = _plan_minutes(run, cfg.minutes * 60.0 - spent)
        if dd.main:
            write_json(run_dir / "config.json", {**to_dict(cfg), "teacher_name": run.teacher_name})
            write_text(run_dir / "log.jsonl", "")
    deadline = None if session_minutes is None else t_start + session_minutes * 60.0
    return _loop(run, deadline, stop_at_step, report, notes, t_start, len(index))


def _loop(
    run: _Run,
    deadline: float | None,
    stop_at_step: int | None,
    report: ProgressCallback,
    notes: tuple[str, ...],
    t_start: float,
    num_timesteps: int,
) -> PretrainResult:
    flag = _StopFlag()
    first_step, t_loop = run.step, time.perf_counter()
    last: dict[str, float] = {}
    stopped = "done"
    log_path = run.run_dir / "log.jsonl"
    spe = run.sched.steps_per_epoch
    with _sigint(flag):
        while run.step < run.sched.total_steps:
            t0 = time.perf_counter()
            last = train_step(run)
            dt = time.perf_counter() - t0
            last["samples_per_s"] = run.cfg.batch_size * run.dd.world / max(dt, 1e-9)
            if run.dd.main:
                _append_log(log_path, run.step, run.step / spe, last)
            report(ProgressEvent("pretrain", run.step, run.sched.total_steps, dict(last)))
            end_epoch = run.step % spe == 0
            late = deadline is not None and time.perf_counter() > deadline
            stop_req, late = _any_rank([flag.set, late], run.dd)
            numbered = (
                end_epoch and run.cfg.save_every > 0 and (run.step // spe) % run.cfg.save_every == 0
            )
            if end_epoch or run.step == run.sched.total_steps:
                _checkpoint(run, run.step >= run.sched.total_steps, numbered)
            if stop_req or late or (stop_at_step is not None and run.step >= stop_at_step):
                stopped = "interrupted" if stop_req else ("budget" if late else "stop_at_step")
                break
    finished = run.step >= run.sched.total_steps
    if not (run.step % spe == 0 or finished) or run.step == first_step:
        _checkpoint(run, finished)
    elapsed = time.perf_counter() - t_loop
    done = run.step - first_step
    return PretrainResult(
        checkpoint=run.run_dir / CHECKPOINT,
        step=run.step,
        total_steps=run.sched.total_steps,
        epoch=run.step / spe,
        finished=finished,
        stopped=stopped,
        losses={k: v for k, v in last.items() if k not in ("samples_per_s",)},
        samples_per_s=done * run.cfg.batch_size * run.dd.world / max(elapsed, 1e-9),
        seconds=time.perf_counter() - t_start,
        teacher=run.teacher_name,
        timesteps=num_timesteps,
        notes=notes,
        model=run.model,
    )


def _append_log(path: Path, step: int, epoch: float, values: dict[str, float]) -> None:
    rec = {"step": step, "epoch": round(epoch, 4), "time": time.time(), **values}
    append_text(path, json.dumps(rec) + "\n")
