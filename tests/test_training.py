"""The shared trainer (mcmot.training): schedule, distributed setup and the loop,
driven by a toy objective so that nothing here depends on CalibFree."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from numpy.typing import NDArray

from mcmot.config import to_dict
from mcmot.errors import McmotError
from mcmot.training.distributed import Dist, distributed, main_first
from mcmot.training.loop import CHECKPOINT, LOG, start_training, train
from mcmot.training.objective import NothingToPrepare
from mcmot.training.schedule import (
    Schedule,
    plan_epochs,
    plan_steps,
    step_generator,
    step_samples,
    steps_in_budget,
)


@dataclass(frozen=True)
class ToySettings:
    """The trainer's settings (mcmot.training.objective.TrainSettings) and nothing else."""

    seed: int = 0
    epochs: int = 3
    minutes: float | None = None
    batch_size: int = 2
    lr: float = 0.05
    min_lr: float = 0.0
    warmup_epochs: float = 1.0
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.95
    clip_grad: float = 1.0
    amp: bool = False
    save_every: int = 0
    plan_steps: int = 2


class ToyObjective(NothingToPrepare):
    """Linear regression on 6 fixed samples, with a random draw per step (noise on
    the targets) from the step's generator, as real objectives draw their masks."""

    kind = "toy"

    def __init__(self, settings: ToySettings, nan_at: int | None = None) -> None:
        self.settings = settings
        self.nan_at = nan_at
        rng = np.random.default_rng(1)
        self.x = torch.from_numpy(rng.normal(size=(6, 3)).astype(np.float32))
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5])

    @property
    def num_samples(self) -> int:
        return len(self.x)

    def build_model(self, weights: dict[str, torch.Tensor] | None) -> torch.nn.Module:
        model = torch.nn.Linear(3, 1)
        if weights is not None:
            model.load_state_dict(weights)
        return model

    def loss(
        self, model: torch.nn.Module, step: int, samples: NDArray[np.int64]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        idx = torch.from_numpy(np.asarray(samples))
        gen = step_generator(self.settings.seed, step, Dist())
        noise = 0.01 * torch.randn(len(idx), generator=gen)
        err = ((model(self.x[idx])[:, 0] - self.y[idx] - noise) ** 2).mean()
        if step == self.nan_at:
            err = err * float("nan")
        return err, {"mse": err}

    def checkpoint_extras(self) -> dict[str, Any]:
        return {"note": "toy"}


def _run(run_dir: Path, obj: ToyObjective, *, loaded=None, deadline=None, stop_at_step=None):
    run_dir.mkdir(exist_ok=True)
    tr = start_training(obj, run_dir, Dist(), torch.device("cpu"), loaded, deadline, print)
    return tr, train(tr, deadline, stop_at_step, lambda ev: None)


def _log(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (run_dir / LOG).read_text().splitlines()]


# ----------------------------------------------------------------- schedule
def test_epochs_plan_shares_the_samples_over_processes_and_batches():
    cfg = ToySettings(epochs=3, batch_size=2, warmup_epochs=1.0)
    assert plan_epochs(cfg, 7, Dist(0, 2)) == Schedule(2, 6, 2)  # 4 samples per rank: 2 steps
    assert plan_epochs(cfg, 7, Dist()) == Schedule(4, 12, 4)
    assert plan_epochs(dataclasses.replace(cfg, epochs=1), 1, Dist()) == Schedule(1, 1, 0)


def test_a_budget_plan_keeps_the_warmup_share_of_the_epochs_plan():
    cfg = ToySettings(epochs=20, warmup_epochs=2.0)  # warm-up: a tenth of the run
    assert plan_steps(cfg, 3, 50) == Schedule(3, 50, 5)
    assert plan_steps(cfg, 3, 1) == Schedule(3, 1, 0)
    assert steps_in_budget(10.0, 3.0) == 3
    assert steps_in_budget(1.0, 5.0) == 1  # at least one step


def test_every_sample_is_seen_once_per_epoch_in_a_new_order_each_epoch():
    cfg, sched = ToySettings(batch_size=2), Schedule(3, 9, 0)
    epochs = [
        np.concatenate([step_samples(e * 3 + s, sched, 6, cfg, Dist()) for s in range(3)])
        for e in range(2)
    ]
    assert sorted(epochs[0]) == sorted(epochs[1]) == list(range(6))
    assert not np.array_equal(epochs[0], epochs[1])


# ----------------------------------------------------------------- distributed
def test_without_torchrun_the_run_is_one_process_on_the_given_device(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with distributed(torch.device("cpu")) as (dd, device):
        assert dd == Dist() and dd.main and device == torch.device("cpu")
    assert not torch.distributed.is_initialized()


def test_rank0_fills_a_cache_with_progress_before_the_other_ranks_read_it():
    calls: list[bool] = []
    assert main_first(Dist(), lambda main: calls.append(main) or "rank0") == "rank0"
    assert main_first(Dist(rank=1), lambda main: calls.append(main) or "other") == "other"
    assert calls == [True, False]


# ----------------------------------------------------------------- the loop
def test_the_loop_logs_every_step_and_saves_the_objectives_kind_and_extras(tmp_path):
    obj = ToyObjective(ToySettings())
    tr, res = _run(tmp_path / "run", obj)
    assert res.finished and res.stopped == "done" and res.step == res.total_steps == 9
    log = _log(tmp_path / "run")
    assert [r["step"] for r in log] == list(range(1, 10))
    assert {"mse", "loss", "lr", "samples_per_s"} <= set(log[0])
    assert np.mean([r["loss"] for r in log[-3:]]) < np.mean([r["loss"] for r in log[:3]])
    state = torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)
    assert (state["kind"], state["note"]) == ("toy", "toy")
    assert state["step"] == 9 and state["finished"]
    assert state["config"] == to_dict(obj.settings)
    assert all(torch.equal(state["model"][k], v) for k, v in tr.model.state_dict().items())


def test_resuming_a_checkpoint_equals_uninterrupted_training(tmp_path):
    obj = ToyObjective(ToySettings(save_every=1))
    full = _run(tmp_path / "a", obj)[1]
    part = _run(tmp_path / "b", obj, stop_at_step=4)[1]
    assert part.stopped == "stop_at_step" and part.step == 4 and not part.finished
    loaded = torch.load(tmp_path / "b" / CHECKPOINT, weights_only=True)
    rest = _run(tmp_path / "b", obj, loaded=loaded)[1]
    assert rest.finished and rest.step == full.step
    a, b = full.model.state_dict(), rest.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["loss"] for r in _log(tmp_path / "a")] == [r["loss"] for r in _log(tmp_path / "b")]
    numbered = sorted(p.name for p in (tmp_path / "b").glob("checkpoint-epoch*.pt"))
    assert numbered == [f"checkpoint-epoch{e:04d}.pt" for e in (1, 2, 3)]


def test_a_deadline_plans_the_steps_from_timed_passes_that_change_nothing(tmp_path):
    obj = ToyObjective(ToySettings())
    torch.manual_seed(0)
    start = obj.build_model(None).state_dict()
    tr = start_training(
        obj, tmp_path, Dist(), torch.device("cpu"), None, time.perf_counter() + 3600, print
    )
    assert tr.sched.total_steps > 9 and tr.sched.steps_per_epoch == 3  # an hour, not 3 epochs
    assert tr.sched.warmup_steps == round(tr.sched.total_steps / 3)  # 1 of 3 epochs
    assert all(torch.equal(start[k], v) for k, v in tr.model.state_dict().items())
    assert tr.step == 0 and not tr.opt.state


def test_a_loss_that_is_not_finite_is_a_one_line_error(tmp_path):
    with pytest.raises(McmotError, match="the loss became nan at step 2; lower --lr"):
        _run(tmp_path / "run", ToyObjective(ToySettings(), nan_at=2))
