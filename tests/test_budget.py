"""Time budgets that hold: teacher targets computed when first needed and cached
across runs, preparation planned with the steps, and preparation that cannot fit
refused up front."""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from pretrain_fixtures import make_tiny_scene
from test_pretrain import TINY, _fake_teacher
from test_training import ToyObjective, ToySettings

import mcmot.stages.pretrain as pretrain_mod
from mcmot.errors import McmotError
from mcmot.models.pretrain_config import PretrainConfig
from mcmot.stages.pretrain import run_pretrain
from mcmot.stages.pretrain_data import BudgetGuard
from mcmot.training import loop
from mcmot.training.distributed import Dist
from mcmot.training.loop import start_training
from mcmot.training.schedule import Schedule, planned_samples, step_samples, steps_within
from mcmot.training.targets import LazyTargets

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


class CountingTeacher:
    """A per-crop target (the crop's mean colour per 'patch') that counts its calls."""

    def __init__(self) -> None:
        self.rows: list[int] = []

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        self.rows.append(len(crops))
        mean = crops.reshape(len(crops), -1, 3).mean(axis=1)  # (k, 3)
        return np.repeat(mean[:, None, :], 2, axis=1)  # (k, M=2, Dt=3)


def _crops(n: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (n, 8, 4, 3), dtype=np.uint8)


# ----------------------------------------------------------------- lazy targets
def test_lazy_targets_compute_each_row_once_and_equal_the_eager_array():
    crops, teacher = _crops(10), CountingTeacher()
    lazy = LazyTargets(crops, teacher, (2, 3))
    eager = CountingTeacher()(crops).astype(np.float16)
    assert np.array_equal(lazy[np.array([3, 1, 3])], eager[[3, 1, 3]])
    assert teacher.rows == [2]  # rows 1 and 3, once each
    assert np.array_equal(lazy[np.arange(10)], eager)
    assert teacher.rows == [2, 8] and lazy.computed == 10
    assert lazy.missing().size == 0 and lazy.shape == (10, 2, 3)


def test_a_second_store_on_the_same_crops_reads_the_cache_and_computes_nothing(tmp_path):
    crops, cache = _crops(10), tmp_path / "teacher.npz"
    first = LazyTargets(crops, CountingTeacher(), (2, 3), cache)
    first.ensure(np.array([0, 1, 2]))
    first.save()
    other = LazyTargets(crops, CountingTeacher(), (2, 3), cache)  # another run, meanwhile
    other.ensure(np.array([7, 8]))
    other.save()  # merged with the file's rows
    teacher = CountingTeacher()
    second = LazyTargets(crops, teacher, (2, 3), cache)
    assert second.loaded == 5
    eager = CountingTeacher()(crops).astype(np.float16)
    assert np.array_equal(second[np.array([0, 1, 2, 7, 8])], eager[[0, 1, 2, 7, 8]])
    assert teacher.rows == []


def test_a_cache_written_for_other_crops_or_another_teacher_is_recomputed(tmp_path):
    cache = tmp_path / "teacher.npz"
    big = LazyTargets(_crops(10), CountingTeacher(), (2, 3), cache)
    big.ensure(np.array([9]))
    big.save()
    assert LazyTargets(_crops(5), CountingTeacher(), (2, 3), cache).loaded == 0  # row 9 of 5
    assert LazyTargets(_crops(10), CountingTeacher(), (2, 4), cache).loaded == 0  # other width


def test_an_unreadable_cache_is_computed_again_and_rewritten(tmp_path):
    cache = tmp_path / "teacher.npz"
    cache.write_bytes(b"torn")
    store = LazyTargets(_crops(3), CountingTeacher(), (2, 3), cache)
    assert store.loaded == 0
    store.ensure(np.arange(3))
    store.save()
    assert LazyTargets(_crops(3), CountingTeacher(), (2, 3), cache).loaded == 3


def test_the_cost_of_a_row_is_measured_by_a_probe_when_nothing_was_computed():
    def slow(x: np.ndarray) -> np.ndarray:
        time.sleep(0.001 * len(x))
        return np.zeros((len(x), 2, 3))

    lazy = LazyTargets(_crops(40), slow, (2, 3))
    assert lazy.seconds_per_row() >= 0.001
    assert lazy.computed == 16  # the probe's rows are kept
    lazy.ensure(np.arange(40))
    assert LazyTargets(_crops(40), CountingTeacher(), (2, 3)).missing().size == 40
    done = LazyTargets(_crops(2), CountingTeacher(), (2, 3))
    done.ensure(np.arange(2))
    assert done.seconds_per_row() >= 0.0


# ----------------------------------------------------------------- planning
def test_steps_within_counts_each_steps_preparation():
    # steps of 1 s; preparing steps 0, 1, 2 costs 3, 4, 4 s in all (step 1: 1 s)
    pending = np.array([3.0, 4.0, 4.0])
    assert steps_within(3.9, 1.0, pending, 100) == 0  # step 0 alone needs 4 s
    assert steps_within(4.0, 1.0, pending, 100) == 1
    assert steps_within(5.9, 1.0, pending, 100) == 1  # step 1 needs 1 + 1 more
    assert steps_within(6.0, 1.0, pending, 100) == 2
    assert steps_within(10.5, 1.0, pending, 100) == 6  # 3 steps + 4 s, then 1 s each
    assert steps_within(10.5, 1.0, pending, 5) == 5
    assert steps_within(2.5, 1.0, np.zeros(1), 100) == 2  # nothing to prepare


def test_planned_samples_are_the_steps_samples_in_order():
    cfg, sched = ToySettings(batch_size=2), Schedule(3, 9, 0)
    stream = planned_samples(sched, 6, cfg, Dist())
    for step in range(8):
        assert np.array_equal(next(stream), step_samples(step, sched, 6, cfg, Dist()))


class SlowToPrepare(ToyObjective):
    """The toy objective with a preparation that takes ``cost`` s per new sample."""

    def __init__(self, settings: ToySettings, cost: float) -> None:
        super().__init__(settings)
        self.cost = cost

    def pending_seconds(self, steps):
        seen: set[int] = set()
        out = []
        for samples in steps:
            seen.update(int(i) for i in samples)
            out.append(len(seen) * self.cost)
            if len(seen) == self.num_samples:
                break
        return np.asarray(out)

    @property
    def preparation_hint(self) -> str:
        return "try --teacher none"


def _plan(tmp_path: Path, obj: ToyObjective, seconds: float) -> int:
    tmp_path.mkdir(exist_ok=True)
    deadline = time.perf_counter() + seconds
    tr = start_training(obj, tmp_path, Dist(), torch.device("cpu"), None, deadline, print)
    return tr.sched.total_steps


def test_a_budget_plans_fewer_steps_when_they_need_preparation(tmp_path, monkeypatch):
    monkeypatch.setattr(loop, "time_steps", lambda tr, count: 1.0)  # steps of 1 s
    cfg = ToySettings(batch_size=2, minutes=1.0, plan_steps=1)
    assert _plan(tmp_path / "a", ToyObjective(cfg), 60.0) == 59  # 59.99 s left
    # 2 new samples a step for 3 steps (10 s each), then nothing: 3 x 11 s + 26 x 1 s
    assert _plan(tmp_path / "b", SlowToPrepare(cfg, cost=5.0), 60.0) == 29
    with pytest.raises(McmotError, match="first training step and its preparation.*--teacher none"):
        _plan(tmp_path / "c", SlowToPrepare(cfg, cost=20.0), 30.0)  # step 0: 2 samples, 40 s


def test_a_budget_is_replanned_from_the_real_steps_times(tmp_path, monkeypatch):
    monkeypatch.setattr(loop, "time_steps", lambda tr, count: 0.05)  # real toy steps: ~ms
    cfg = ToySettings(batch_size=2, minutes=1.0, plan_steps=1)
    deadline = time.perf_counter() + 1.5
    tr = start_training(
        ToyObjective(cfg), tmp_path, Dist(), torch.device("cpu"), None, deadline, print
    )
    planned = tr.sched.total_steps
    assert 25 <= planned <= 29 and tr.replans[0] == 3  # 1.5 s / 0.05 s; redone after 10%
    res = loop.train(tr, deadline, None, lambda ev: None)
    assert res.total_steps > 3 * planned and not tr.replans  # redone at 10, 30 and 60%
    assert tr.sched.warmup_steps == round(cfg.warmup_epochs / cfg.epochs * res.total_steps)


def test_a_short_plan_is_not_replanned(tmp_path, monkeypatch):
    monkeypatch.setattr(loop, "time_steps", lambda tr, count: 0.1)
    cfg = ToySettings(batch_size=2, minutes=1.0, plan_steps=1)
    deadline = time.perf_counter() + 0.5  # 4 steps: too few to learn from
    tr = start_training(
        ToyObjective(cfg), tmp_path, Dist(), torch.device("cpu"), None, deadline, print
    )
    assert tr.replans == []


def test_a_guard_refuses_preparation_projected_past_its_share_of_the_budget():
    guard = BudgetGuard(time.perf_counter() + 10.0, share=0.9, probe_s=0.01)
    check = guard.watch("cropping the detections of s")
    time.sleep(0.02)
    with pytest.raises(McmotError, match=r"cropping the detections of s would take .* --minutes"):
        check(1, 100_000)  # about 2000 s
    fits = guard.watch("cropping")
    time.sleep(0.02)
    fits(99, 100)  # about 0.02 s: fine
    late = BudgetGuard(time.perf_counter() + 10.0, probe_s=60.0).watch("x")
    late(1, 100_000)  # not projected before probe_s


# ----------------------------------------------------------------- the stage
@pytest.fixture()
def scene(tmp_path):
    return make_tiny_scene(tmp_path / "scene", frames=6, persons=3)


def _computed(note: str) -> tuple[int, int, int]:
    done, total, new = map(int, re.match(r"(\d+) of (\d+) crops \((\d+) computed", note).groups())
    return done, total, new


def test_a_second_run_on_a_scene_pays_nothing_for_the_teacher(scene, tmp_path, monkeypatch):
    monkeypatch.setattr(pretrain_mod, "load_teacher", _fake_teacher)
    cfg = PretrainConfig(**{**TINY, "teacher": "auto", "epochs": 1})
    first = run_pretrain([scene], tmp_path / "one", cfg)
    done, total, new = _computed(first.teacher_targets)
    assert done == total == new > 0
    assert (scene / "cache" / "pretrain").is_dir()
    second = run_pretrain([scene], tmp_path / "two", cfg)
    assert _computed(second.teacher_targets) == (total, total, 0)
    one = torch.load(first.checkpoint, weights_only=True)["model"]
    two = torch.load(second.checkpoint, weights_only=True)["model"]
    assert all(torch.equal(one[k], two[k]) for k in one)  # the same targets, the same run


def test_a_step_computes_the_targets_of_its_own_crops_only(scene, tmp_path, monkeypatch):
    monkeypatch.setattr(pretrain_mod, "load_teacher", _fake_teacher)
    cfg = PretrainConfig(**{**TINY, "teacher": "auto", "epochs": 1, "batch_size": 1})
    res = run_pretrain([scene], tmp_path / "run", cfg, stop_at_step=1)
    done, total, new = _computed(res.teacher_targets)
    assert 0 < new == done < total  # one timestep's crops of six


def test_the_budget_counts_from_the_given_start(scene, tmp_path, monkeypatch):
    monkeypatch.setattr(pretrain_mod, "load_teacher", _fake_teacher)
    cfg = dataclasses.replace(PretrainConfig(**TINY), teacher="auto", minutes=0.05, epochs=1)
    with pytest.raises(McmotError, match="more than the 0 s left of the budget"):
        run_pretrain([scene], tmp_path / "run", cfg, started=time.perf_counter() - 10.0)
