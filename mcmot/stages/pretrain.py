"""``mcmot pretrain``: self-supervised CalibFree pretraining on one or more scenes.

The run folder holds ``checkpoint.pt`` (latest state; final model when the
run is finished), ``checkpoint-epochXXXX.pt`` (kept every ``save_every``
epochs), ``config.json``, ``log.jsonl`` (one JSON object per step) and
``cache/`` (crops and teacher features).

Everything random is a function of ``(seed, step)`` (the per-epoch order of
timesteps, each step's mask), so ``--resume`` continues exactly where a run
stopped and a CPU run is reproducible. Under ``torchrun`` the run uses
DistributedDataParallel (nccl on GPUs, gloo on CPUs); rank 0 writes the files.
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

from mcmot.atomic import append_text, atomic_path, make_dir, write_json, write_text
from mcmot.config import to_dict
from mcmot.errors import McmotError
from mcmot.models.calibfree import (
    CalibFree,
    CalibFreeConfig,
    normalize_crops,
    random_masking,
)
from mcmot.models.teacher import load_teacher
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
FORMAT = "mcmot-calibfree-v1"


@dataclass(frozen=True)
class PretrainConfig(CalibFreeConfig):
    """Pretraining settings: the architecture (inherited) plus data and optimisation.

    The defaults are the ``cpu`` preset's sizes with the paper's method;
    ``PRESETS["cpu"]`` adds :data:`CPU_CROSS_VIEW`, ``PRESETS["paper"]`` is the paper.

    Attributes
    ----------
    boxes : "det" (detections) or "gt" (ground-truth boxes, the paper's ablation)
    min_score : detections scoring below are not used
    min_box_px : boxes smaller than this (after clipping to the frame) are not used
    teacher : "auto", "none" or a path (see mcmot.models.teacher)
    teacher_arch : timm architecture of a checkpoint teacher
    teacher_norm : standardise each teacher patch feature over its channels
    epochs : passes over all timesteps (ignored when ``minutes`` is set)
    minutes : wall-clock budget; the schedule is planned to end within it
    batch_size : timesteps per step and process
    lr : peak learning rate (after warm-up)
    min_lr : learning rate at the end of the cosine decay
    warmup_epochs : linear warm-up length; with ``minutes``, the same fraction of the run
    weight_decay : AdamW weight decay (not on biases, norms and tokens)
    beta1, beta2 : AdamW betas (MAE's 0.9, 0.95)
    clip_grad : gradient-norm clip; 0 = off
    w_distill, w_recon, w_nmi : loss weights
    seed : seed of the weights, the timestep order and the masks
    device : "auto" (CUDA when present), "cpu" or "cuda"
    amp : bf16 autocast on CUDA (CPU always runs fp32)
    save_every : keep a numbered checkpoint every this many epochs; 0 = only the latest
    plan_steps : steps timed to plan a ``minutes`` schedule
    """

    boxes: str = "det"
    min_score: float = 0.0
    min_box_px: int = 4
    teacher: str = "auto"
    teacher_arch: str | None = None
    teacher_norm: bool = True
    epochs: int = 20
    minutes: float | None = None
    batch_size: int = 4
    lr: float = 5.0e-4
    min_lr: float = 1.0e-6
    warmup_epochs: float = 2.0
    weight_decay: float = 0.05
    beta1: float = 0.9
    beta2: float = 0.95
    clip_grad: float = 1.0
    w_distill: float = 1.0
    w_recon: float = 1.0
    w_nmi: float = 1.0
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    save_every: int = 0
    plan_steps: int = 3

    def model_config(self) -> CalibFreeConfig:
        """The architecture part."""
        names = {f.name for f in dataclasses.fields(CalibFreeConfig)}
        return CalibFreeConfig(**{k: getattr(self, k) for k in names})

    def crop_spec(self) -> CropSpec:
        """The data part."""
        return CropSpec(
            self.boxes,
            self.img_height,
            self.img_width,
            self.max_dets,
            self.min_score,
            self.min_box_px,
        )


#: Named presets: ``cpu`` (a small ViT for 2 CPU cores) and ``paper`` (Appendix D).
#: What the ``cpu`` preset changes in the paper's method, so that f_a learns to match
#: people across cameras within a CPU budget (measured in docs/method.md: 20 minutes
#: on one core gave held-out cross-view top-1 0.70 / 0.71 with these, 0.42 without):
#: a leak-free cross-view read-out chosen by standardised cosines of max-pooled f_a
#: (the inference pooling), half the detections reconstructed from the other views
#: alone, raw-pixel targets, and no NMI term (it pushed identity out of f_a).
CPU_CROSS_VIEW: dict[str, Any] = {
    "cross_strict": True,
    "cross_match": "cosine_z",
    "cross_pool": "max",
    "recon_own_drop": 0.5,
    "norm_pix_loss": False,
    "w_nmi": 0.0,
}

PRESETS: dict[str, PretrainConfig] = {
    "cpu": PretrainConfig(**CPU_CROSS_VIEW),
    "paper": PretrainConfig(
        img_height=224,
        img_width=224,
        patch_size=16,
        embed_dim=768,
        depth=12,
        num_heads=12,
        dec_dim=512,
        dec_depth=8,
        dec_heads=16,
        max_dets=10,
        mask_ratio=0.75,
        epochs=400,
        batch_size=5,
        lr=1.5e-4,
        min_lr=0.0,
        warmup_epochs=40,
        weight_decay=0.05,
        save_every=50,
    ),
}


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


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """'auto' -> CUDA when available, else CPU; 'cuda' without CUDA is an error."""
    if name not in ("auto", "cpu", "cuda"):
        raise McmotError(f"--device must be auto, cpu or cuda, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise McmotError("--device cuda: no CUDA device is available")
    if name == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", local_rank)


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


# ----------------------------------------------------------------- checkpoints
def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write a checkpoint atomically."""
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a mcmot checkpoint (tensors and plain values only), or a one-line error."""
    if not Path(path).is_file():
        raise McmotError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is bad input
        raise McmotError(f"cannot read checkpoint {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise McmotError(f"{path} is not a mcmot pretrain checkpoint")
    return state


#: Values of the model options added after the first checkpoints: a saved config
#: without one of them predates it, and was trained and must be rebuilt without it.
ABSENT_MEANS_OFF: dict[str, Any] = {
    "cross_other_views": False,
    "cross_strict": False,
    "cross_match": "attention",
    "mask_per_view": False,
    "recon_own_drop": 0.0,
    "slot_half": "f_a",
}


def config_from_dict(data: dict[str, Any]) -> PretrainConfig:
    """A PretrainConfig from a saved dict (unknown keys are an error).

    Options missing from ``data`` (older checkpoints) are off (``ABSENT_MEANS_OFF``);
    other missing fields take today's defaults.
    """
    names = {f.name for f in dataclasses.fields(PretrainConfig)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise McmotError(f"unknown pretrain config field(s): {', '.join(unknown)}")
    return PretrainConfig(**{**ABSENT_MEANS_OFF, **data})


def build_model(cfg: CalibFreeConfig, state: dict[str, torch.Tensor] | None = None) -> CalibFree:
    """A CalibFree model, optionally loaded; a shape mismatch is a one-line error."""
    try:
        model = CalibFree(cfg)
    except ValueError as exc:
        raise McmotError(f"bad model configuration: {exc}") from None
    if state is not None:
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
            detail = lines[1] if len(lines) > 1 else lines[0]
            raise McmotError(f"checkpoint weights do not match its config: {detail}") from None
    return model


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
        "format": FORMAT,
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
def _load_scenes(
    scenes: list[Scene], cfg: PretrainConfig, run_dir: Path, dd: Dist, progress: ProgressCallback
) -> list[SceneCrops]:
    cache = run_dir / "cache"
    spec = cfg.crop_spec()
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
    keys = [f"{cache_key(s, cfg.crop_spec())}-{teacher.name}".replace("/", "_") for s in scenes]
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
        return load_checkpoint(ckpt)
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
