"""`mcmot pretrain`: data, schedule, checkpoints, resume, Ctrl-C, losses, CLI."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
import torch
from pretrain_fixtures import make_tiny_scene
from typer.testing import CliRunner

import mcmot.stages.pretrain as pretrain_mod
from mcmot.cli import app
from mcmot.config import to_dict
from mcmot.errors import McmotError
from mcmot.models.checkpoint import ABSENT_MEANS_OFF, config_from_dict, load_checkpoint
from mcmot.models.pretrain_config import CPU_CROSS_VIEW, PRESETS, PretrainConfig
from mcmot.models.teacher import Teacher
from mcmot.scene import Scene
from mcmot.stages.pretrain import run_pretrain
from mcmot.stages.pretrain_data import CropSpec, build_scene_crops
from mcmot.training.calibfree import other_views_seen
from mcmot.training.distributed import Dist
from mcmot.training.schedule import Schedule, epoch_order, lr_at
from mcmot.training.timesteps import collate

TINY = dict(
    img_height=32, img_width=16, patch_size=8, embed_dim=32, depth=1, num_heads=2, dec_dim=16,
    dec_depth=1, dec_heads=2, max_dets=4, teacher="none", batch_size=2, epochs=2,
    device="cpu",
)  # fmt: skip


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return make_tiny_scene(tmp_path_factory.mktemp("pre") / "scene", frames=6, persons=3)


def _cfg(**kw) -> PretrainConfig:
    return PretrainConfig(**{**TINY, **kw})


# ----------------------------------------------------------------- pure pieces
def test_presets_follow_the_paper():
    p = PRESETS["paper"]
    assert (p.img_height, p.img_width, p.patch_size, p.embed_dim, p.depth, p.num_heads) == (
        224, 224, 16, 768, 12, 12,
    )  # fmt: skip
    assert (p.dec_dim, p.dec_depth, p.dec_heads, p.max_dets, p.mask_ratio) == (512, 8, 16, 10, 0.75)
    assert (p.epochs, p.lr, p.warmup_epochs, p.weight_decay) == (400, 1.5e-4, 40, 0.05)
    assert p.embed_dim // 2 == 384  # f_a and f_s
    assert (p.cross_strict, p.recon_own_drop, p.norm_pix_loss, p.w_nmi) == (False, 0.0, True, 1.0)
    assert p.cross_match == "attention" and p.cross_pool == "mean"
    c = PRESETS["cpu"]
    assert c.img_height == 2 * c.img_width  # person-shaped crops
    assert all(getattr(c, k) == v for k, v in CPU_CROSS_VIEW.items())


def test_other_views_seen_hand_values():
    valid = torch.tensor(
        [
            [[True, False], [False, False], [True, True]],
            [[True, True], [False, False], [False, False]],
        ]
    )  # (B=2, V=3, N=2): timestep 0 sees views 0 and 2, timestep 1 only view 0
    seen = other_views_seen(valid)
    assert seen.tolist() == [[True, True, True], [False, True, True]]


def test_lr_schedule_hand_values():
    cfg = _cfg(lr=1.0, min_lr=0.0)
    s = Schedule(steps_per_epoch=2, total_steps=6, warmup_steps=2)
    assert [lr_at(i, s, cfg) for i in range(2)] == [0.5, 1.0]
    assert lr_at(2, s, cfg) == pytest.approx(1.0)
    assert lr_at(4, s, cfg) == pytest.approx(0.5)  # half-way through the cosine
    assert lr_at(6, s, cfg) == pytest.approx(0.0)


def test_epoch_order_partitions_timesteps_over_ranks():
    a = epoch_order(7, 3, 0, Dist(0, 2), 4)
    b = epoch_order(7, 3, 0, Dist(1, 2), 4)
    assert sorted(set(a) | set(b)) == list(range(7))
    assert np.array_equal(a, epoch_order(7, 3, 0, Dist(0, 2), 4))  # deterministic
    assert not np.array_equal(a, epoch_order(7, 3, 1, Dist(0, 2), 4))  # new order each epoch


def test_crops_padding_and_collate(scene):
    sc = build_scene_crops(Scene(scene), CropSpec("gt", 32, 16, 4))
    assert sc.cameras == ("cam1", "cam2")
    assert sc.slots.shape == (6, 2, 4) and sc.crops.shape == (36, 32, 16, 3)
    assert (sc.slots[:, :, :3] >= 0).all() and (sc.slots[:, :, 3] == -1).all()
    few = build_scene_crops(Scene(scene), CropSpec("gt", 32, 16, 2))
    assert (few.slots >= 0).all()  # capped at N = 2 per view
    b = collate([sc], [(0, 0), (0, 5)], None)
    assert b.crops.shape == (2, 2, 4, 32, 16, 3) and b.valid.sum() == 12
    assert b.crops[~b.valid].max() == 0


def test_training_batches_give_each_view_its_own_random_detection_order(scene):
    """Slots set positional embeddings: the det files' order must not reach them."""
    sc = build_scene_crops(Scene(scene), CropSpec("gt", 32, 16, 4))
    teacher = [np.arange(len(sc.crops), dtype=np.float16)[:, None, None].repeat(2, 2)]
    items = [(0, t) for t in range(6)]
    plain = collate([sc], items, teacher, normalize_teacher=False)
    mixed = collate([sc], items, teacher, normalize_teacher=False, shuffle=np.random.default_rng(0))
    assert np.array_equal(plain.valid, mixed.valid)  # valid slots stay first
    crop_of = mixed.teacher[..., 0, 0].astype(int)  # each slot's crop index rides with it
    for b, (_, t) in enumerate(items):
        for v in range(2):
            ok = sc.slots[t, v] >= 0
            assert sorted(crop_of[b, v][ok]) == sorted(sc.slots[t, v][ok])
            for k, c in enumerate(crop_of[b, v][ok]):
                assert np.array_equal(mixed.crops[b, v, k], sc.crops[c])
    moved = crop_of[..., :3] != sc.slots[:, :, :3]
    assert moved.any()
    same_in_both_views = (crop_of[:, 0, :3].argsort(1) == crop_of[:, 1, :3].argsort(1)).all(1)
    assert not same_in_both_views.all()  # views are shuffled independently


def test_missing_detections_say_how_to_get_them(tmp_path):
    root = make_tiny_scene(tmp_path / "s", frames=2, persons=1)
    (root / "det" / "cam2.txt").unlink()
    with pytest.raises(McmotError, match="run `mcmot detect` first or pass --boxes gt"):
        run_pretrain([root], tmp_path / "run", _cfg())


# ----------------------------------------------------------------- runs
def test_run_writes_outputs_and_checkpoint_round_trips(scene, tmp_path):
    res = run_pretrain([scene], tmp_path / "run", _cfg(boxes="gt"))
    assert res.finished and res.step == res.total_steps == 6  # 6 timesteps / 2 per step x 2
    run = tmp_path / "run"
    assert json.loads((run / "config.json").read_text())["embed_dim"] == 32
    lines = [json.loads(ln) for ln in (run / "log.jsonl").read_text().splitlines()]
    assert [ln["step"] for ln in lines] == list(range(1, 7))
    assert {"recon", "nmi", "loss", "lr", "samples_per_s"} <= set(lines[0])
    state = load_checkpoint(run / "checkpoint.pt")
    assert state["step"] == 6 and state["finished"]
    for k, v in res.model.state_dict().items():
        assert torch.equal(state["model"][k], v), k
    with pytest.raises(McmotError, match="--resume"):
        run_pretrain([scene], run, _cfg(boxes="gt"))


@pytest.mark.parametrize("options", [{}, CPU_CROSS_VIEW], ids=["paper", "cpu-cross-view"])
def test_resume_equals_uninterrupted(scene, tmp_path, options):
    full = run_pretrain([scene], tmp_path / "a", _cfg(seed=3, **options))
    part = run_pretrain([scene], tmp_path / "b", _cfg(seed=3, **options), stop_at_step=2)
    assert part.stopped == "stop_at_step" and not part.finished and part.step == 2
    rest = run_pretrain([scene], tmp_path / "b", _cfg(seed=99), resume=True)  # config from ckpt
    assert rest.finished and rest.step == full.step
    a, b = full.model.state_dict(), rest.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    log_a = [json.loads(x)["loss"] for x in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    log_b = [json.loads(x)["loss"] for x in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert log_a == log_b


def test_resume_skips_a_torn_log_line_with_one_warning(scene, tmp_path):
    run = tmp_path / "run"
    run_pretrain([scene], run, _cfg(), stop_at_step=2)
    log = run / "log.jsonl"
    with open(log, "a") as fh:
        fh.write('{"step": 3, "epoch": 1.0, "lo')  # a write cut short by a crash
    messages: list[str] = []
    res = run_pretrain([scene], run, _cfg(), resume=True, log=messages.append)
    assert res.finished and res.step == 6
    assert messages == [f"warning: {log}: skipped unparseable line 3"]
    assert [json.loads(x)["step"] for x in log.read_text().splitlines()] == list(range(1, 7))


def test_ctrl_c_leaves_a_usable_checkpoint(scene, tmp_path):
    def interrupt(event):
        if event.task == "pretrain" and event.done == 3:
            os.kill(os.getpid(), signal.SIGINT)

    res = run_pretrain([scene], tmp_path / "run", _cfg(), progress=interrupt)
    assert res.stopped == "interrupted" and res.step == 3
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == 3
    again = run_pretrain([scene], tmp_path / "run", _cfg(), resume=True)
    assert again.finished and again.step == 6


def test_minutes_budget_plans_the_schedule(scene, tmp_path):
    res = run_pretrain([scene], tmp_path / "run", _cfg(minutes=0.04, plan_steps=1))
    assert res.total_steps >= 1 and res.seconds < 0.04 * 60 + 5


def _fake_teacher(*args, **kwargs):
    """A fixed random linear teacher of 8-d patch features (fast, deterministic)."""
    proj = np.random.default_rng(0).normal(size=(3 * 8 * 8, 8)).astype(np.float32)

    def run(x):
        n = x.shape[0]
        patches = x.reshape(n, 3, 4, 8, 4, 8).transpose(0, 2, 4, 1, 3, 5).reshape(n, 16, -1)
        return np.concatenate([np.zeros((n, 1, 8), np.float32), patches @ proj], axis=1)

    return Teacher("fake", 8, 32, 4, 1, run), None


def test_all_three_losses_decrease(scene, tmp_path, monkeypatch):
    monkeypatch.setattr(pretrain_mod, "load_teacher", _fake_teacher)
    cfg = _cfg(teacher="auto", epochs=12, lr=2e-3, warmup_epochs=1, w_nmi=1.0)
    res = run_pretrain([scene], tmp_path / "run", cfg)
    assert res.teacher == "fake"
    log = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    for key in ("recon", "distill", "nmi"):
        first = np.mean([r[key] for r in log[:6]])
        last = np.mean([r[key] for r in log[-6:]])
        assert last < first, (key, first, last)


# ----------------------------------------------------------------- CLI
def _cli(args):
    return CliRunner().invoke(app, args)


def test_cli_trains_and_reports(scene, tmp_path):
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps({k: v for k, v in TINY.items() if k != "epochs"}))
    r = _cli(["pretrain", str(scene), "--out", str(tmp_path / "run"), "--config", str(cfg),
              "--epochs", "1", "--set", "mask_ratio=0.5"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "finished" in r.output
    assert json.loads((tmp_path / "run" / "config.json").read_text())["mask_ratio"] == 0.5


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--epochs", "1", "--minutes", "2"], "not both"),
        (["--set", "depht=3"], "unknown PretrainConfig field"),
        (["--set", "nonsense"], "KEY=VALUE"),
        (["--resume"], "nothing to resume"),
        (["--set", "img_height=30"], "multiple of patch size"),
        (["--set", "teacher_runtime=gpu"], "teacher_runtime must be auto, openvino or onnx"),
    ],
)
def test_cli_bad_inputs_one_line(scene, tmp_path, extra, message):
    r = _cli(["pretrain", str(scene), "--out", str(tmp_path / "run"), *extra])
    assert r.exit_code == 1
    assert message in r.output
    assert "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_cli_missing_scene(tmp_path):
    r = _cli(["pretrain", str(tmp_path / "nope"), "--out", str(tmp_path / "run")])
    assert r.exit_code == 1 and "scene not found" in r.output


def test_a_saved_config_without_the_newer_options_loads_with_them_off():
    old = {k: v for k, v in to_dict(PRESETS["cpu"]).items() if k not in ABSENT_MEANS_OFF}
    cfg = config_from_dict(old)
    assert all(getattr(cfg, k) == v for k, v in ABSENT_MEANS_OFF.items())
    assert config_from_dict(to_dict(PRESETS["cpu"])) == PRESETS["cpu"]  # a full dict round-trips
