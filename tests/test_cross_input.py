"""Cross-input consistency: the loss's pieces, the spatial mask, the two inputs kept apart,
training and the learned tracker end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from pretrain_fixtures import make_tiny_scene
from typer.testing import CliRunner

from mcmot.cli import app
from mcmot.errors import McmotError
from mcmot.models.checkpoint import CROSS_INPUT, build_cross_input, load_checkpoint
from mcmot.models.cross_input import (
    Sequence,
    consistency_loss,
    min_softmax,
    mutual_best,
    reweight_exit,
)
from mcmot.models.cross_input_config import CrossInputConfig, check_cross_input_config
from mcmot.motio import read_mot
from mcmot.scene import Scene
from mcmot.stages.pretrain_cross_input import run_pretrain_cross_input
from mcmot.stages.track import choose_tracker, run_track
from mcmot.training.cross_input import CameraDets, CrossInputObjective, flood_fill
from mcmot.training.distributed import Dist

TINY = CrossInputConfig(
    channels=8, hidden=8, n_min=2, n_max=4, batch_size=2, epochs=1, device="cpu"
)


# ----------------------------------------------------------------- the loss
def test_equal_rows_cannot_score_better_than_one_over_the_tracks():
    """Row-softmax collapse: every track choosing the same detection is worth log T."""
    t = 5
    logits = torch.tensor([[3.0, 0.0, -1.0, 0.5]]).repeat(t, 1)  # 3 detections + exited
    m = min_softmax(logits)
    assert float(m[:, :-1].max()) <= 1.0 / t + 1e-6
    ones = torch.ones(t, 3, dtype=torch.bool)
    loss = consistency_loss(reweight_exit(m), reweight_exit(m), ones)
    assert float(loss) >= math.log(t) - 1e-4


def test_a_confident_permutation_scores_almost_zero():
    perm = [2, 0, 1]
    logits = torch.full((3, 4), -20.0)
    logits[torch.arange(3), perm] = 20.0
    m = reweight_exit(min_softmax(logits))
    mask = torch.zeros(3, 3, dtype=torch.bool)
    mask[torch.arange(3), perm] = True
    assert float(consistency_loss(m, m, mask)) < 1e-3


def test_the_mask_forbids_what_it_leaves_out():
    logits = torch.full((2, 3), -20.0)
    logits[0, 0] = logits[1, 1] = 20.0
    m = min_softmax(logits)
    allowed = torch.tensor([[False, True], [True, False]])  # the swap only
    assert float(consistency_loss(m, m, allowed)) > 10.0


def test_everyone_exiting_cannot_score_but_one_exit_can():
    t = 4
    all_exit = torch.tensor([[-20.0, -20.0, -20.0, -20.0, 20.0]]).repeat(t, 1)
    m = reweight_exit(min_softmax(all_exit))
    mask = torch.eye(t, dtype=torch.bool)
    assert float(consistency_loss(m, m, mask)) >= 2 * math.log(t) - 0.1
    one_exit = torch.full((t, t + 1), -20.0)
    one_exit[torch.arange(t - 1), torch.arange(t - 1)] = 20.0
    one_exit[t - 1, t] = 20.0  # the last track leaves
    m = reweight_exit(min_softmax(one_exit))
    mask = torch.eye(t, dtype=torch.bool)
    mask[t - 1] = False
    assert float(consistency_loss(m, m, mask)) < 0.05
    assert float(m[t - 1, -1]) > 0.95


def test_a_track_takes_a_detection_only_when_both_choose_each_other():
    m = torch.tensor([[0.8, 0.1, 0.1], [0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    assert mutual_best(m).tolist() == [0, -1, -1]


# ----------------------------------------------------------------- the spatial mask
def _path(frames: list[int], x: float) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(frames), np.array([[x, 10.0, 10.0, 30.0]] * len(frames))


def test_flood_fill_follows_touching_boxes_and_not_separate_paths():
    f0, b0 = _path(list(range(1, 9)), 0.0)
    f1, b1 = _path(list(range(1, 9)), 200.0)
    frames, boxes = np.concatenate([f0, f1]), np.concatenate([b0, b1])
    order = np.argsort(frames, kind="stable")
    c = flood_fill(frames[order], boxes[order], 1, 8, 10, 10.0, 0.1)
    assert c.tolist() == [[True, False], [False, True]]


@pytest.mark.parametrize(("gap", "linked"), [(10, True), (11, False)])
def test_flood_fill_reaches_ten_frames_back_and_not_eleven(gap, linked):
    frames, boxes = _path([1, 1 + gap], 0.0)
    assert bool(flood_fill(frames, boxes, 1, 1 + gap, 10, 10.0, 0.1)[0, 0]) is linked


# ----------------------------------------------------------------- data and inputs
def _camera(n_frames: int = 40, people: int = 3, seed: int = 0) -> CameraDets:
    rng = np.random.default_rng(seed)
    frames, boxes = [], []
    for f in range(1, n_frames + 1):
        for p in range(people):
            frames.append(f)
            boxes.append([20 + 60 * p + f, 20.0, 20.0, 50.0])
    crops = rng.integers(0, 255, (len(frames), 64, 64, 3), dtype=np.uint8)
    return CameraDets("s/c", (320, 120), np.asarray(frames), np.asarray(boxes, float), crops)


def _objective(cfg: CrossInputConfig = TINY) -> CrossInputObjective:
    cams = [_camera(), _camera(seed=1)]
    return CrossInputObjective(cfg, cams, Dist(), torch.device("cpu"))


def test_artificial_detections_come_from_far_away_and_stay_out_of_the_mask():
    obj = _objective()
    seq = obj.sequence(0, np.random.default_rng(0))
    d_n = len(seq.boxes[-1])
    assert seq.mask.shape == (len(seq.boxes[0]), d_n)
    assert len(seq.distract) == d_n
    own = {bytes(c.numpy().tobytes()) for c in torch.cat(seq.crops)}
    assert not any(bytes(c.numpy().tobytes()) in own for c in seq.distract)


def test_mass_on_artificial_detections_earns_nothing():
    net = build_cross_input(TINY)
    obj = _objective()
    seq = obj.sequence(0, np.random.default_rng(0))
    d_n, d_d = len(seq.boxes[-1]), len(seq.distract)
    t = len(seq.boxes[0])
    fake = torch.full((t, d_n + d_d + 1), 1e-6)
    fake[:, d_n] = 1.0  # every track on the first artificial detection
    net.last_frame = lambda s: (fake, fake)  # type: ignore[method-assign]
    loss, terms = net.sequence_loss(seq)
    assert float(loss) > 10.0 and float(terms["artificial"]) > 0.99


def _permuted(seq: Sequence, what: str, frames: list[int]) -> Sequence:
    crops, boxes = list(seq.crops), list(seq.boxes)
    for k in frames:
        perm = torch.arange(len(boxes[k])).flip(0)
        if what == "boxes":
            boxes[k] = boxes[k][perm]
        else:
            crops[k] = crops[k][perm]
    return Sequence(crops, boxes, seq.distract, seq.mask)


@pytest.mark.parametrize("pairs", [True, False])
def test_the_visual_matrix_ignores_boxes_and_the_spatial_one_ignores_crops(pairs):
    import dataclasses

    torch.manual_seed(0)
    net = build_cross_input(dataclasses.replace(TINY, pair_features=pairs))
    seq = _objective().sequence(3, np.random.default_rng(1))
    a, b = net.last_frame(seq)
    every = list(range(len(seq.boxes)))
    a2, _ = net.last_frame(_permuted(seq, "boxes", every))
    _, b2 = net.last_frame(_permuted(seq, "crops", [len(seq.crops) - 1]))
    assert torch.allclose(a, a2) and torch.allclose(b, b2)
    a3, _ = net.last_frame(_permuted(seq, "crops", [len(seq.crops) - 1]))
    assert not torch.allclose(a, a3)  # the check can fail: crops do move A


@pytest.mark.parametrize(
    ("field", "value"),
    [("n_max", 1), ("skips", (0,)), ("skips", ()), ("flood_iou", 0.0), ("crop", 8)],
)
def test_bad_settings_are_one_line_errors(field, value):
    import dataclasses

    with pytest.raises(McmotError, match=field):
        check_cross_input_config(dataclasses.replace(TINY, **{field: value}))


# ----------------------------------------------------------------- training and tracking
@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    return make_tiny_scene(tmp_path_factory.mktemp("xi") / "scene", cams=2, frames=30, persons=4)


@pytest.fixture(scope="module")
def trained(scene, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("xi-run") / "run"
    run_pretrain_cross_input([scene], run, TINY)
    return run / "checkpoint.pt"


def test_resume_equals_uninterrupted_training(scene, tmp_path):
    cfg = CrossInputConfig(**{**TINY.__dict__, "epochs": 2})
    whole = run_pretrain_cross_input([scene], tmp_path / "whole", cfg)
    run_pretrain_cross_input([scene], tmp_path / "split", cfg, stop_at_step=3)
    split = run_pretrain_cross_input([scene], tmp_path / "split", cfg, resume=True)
    assert split.step == whole.step
    a = load_checkpoint(tmp_path / "whole" / "checkpoint.pt")["model"]
    b = load_checkpoint(tmp_path / "split" / "checkpoint.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_checkpoint_of_another_kind_is_named_in_the_error(trained, scene, tmp_path):
    with pytest.raises(McmotError, match="learned-tracker checkpoint.*expected an SSAT"):
        load_checkpoint(trained, "ssat")
    assert load_checkpoint(trained, CROSS_INPUT)["kind"] == CROSS_INPUT
    from mcmot.stages.pretrain_clips import run_pretrain_clips

    with pytest.raises(McmotError, match="learned-tracker checkpoint"):
        run_pretrain_clips([scene], trained.parent, resume=True)


def test_the_learned_tracker_writes_tracks_aligned_with_det(scene, trained):
    cfg = choose_tracker("learned", str(trained), fps=10.0)
    summaries = run_track(Scene(scene), cfg, overwrite=True)
    assert [s.camera for s in summaries] == ["cam1", "cam2"]
    det = read_mot(scene / "det" / "cam1.txt", unique_ids=False)
    tracks = read_mot(scene / "tracks" / "cam1.txt")
    assert len(tracks) == len(det)  # every detection scores 1: each is output once
    key = {(int(f), *np.round(b, 2)) for f, b in zip(det.frames, det.boxes, strict=True)}
    assert {
        (int(f), *np.round(b, 2)) for f, b in zip(tracks.frames, tracks.boxes, strict=True)
    } == key


def test_the_learned_tracker_needs_its_own_kind_of_checkpoint(scene, tmp_path):
    from mcmot.models.checkpoint import SSAT, save_checkpoint

    other = tmp_path / "ssat.pt"
    save_checkpoint(other, {"config": {}, "model": {}}, SSAT)
    cfg = choose_tracker("learned", str(other))
    with pytest.raises(McmotError, match="SSAT re-ID checkpoint.*expected a learned-tracker"):
        run_track(Scene(scene), cfg, overwrite=True)


def test_the_commands_train_and_track(scene, tmp_path):
    runner = CliRunner()
    run = tmp_path / "run"
    res = runner.invoke(
        app,
        ["pretrain", str(scene), "--objective", "cross-input", "--out", str(run), "--epochs", "1",
         "--n-min", "2", "--n-max", "3", "--device", "cpu", "--set", "channels=8"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "sequence starts" in res.output
    res = runner.invoke(
        app,
        ["track", str(scene), "--tracker", "learned", "--model", str(run / "checkpoint.pt"),
         "--overwrite"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    params = json.loads((scene / "provenance" / "track.json").read_text())["params"]
    assert params["max_speed"] == 2.0 and params["exit_seconds"] == 0.3
    ckpt = str(run / "checkpoint.pt")
    res = runner.invoke(
        app, ["track", str(scene), "--tracker", "learned", "--model", ckpt, "--max-speed", "0",
              "--overwrite"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    params = json.loads((scene / "provenance" / "track.json").read_text())["params"]
    assert params["max_speed"] == 0.0
    slow = runner.invoke(
        app, ["track", str(scene), "--tracker", "learned", "--model", ckpt, "--max-speed", "-1",
              "--overwrite"],
    )  # fmt: skip
    assert slow.exit_code == 1 and "--max-speed must be 0 or more" in slow.output
    gone = runner.invoke(
        app, ["track", str(scene), "--tracker", "learned", "--model", ckpt, "--exit-seconds",
              "-0.1", "--overwrite"],
    )  # fmt: skip
    assert gone.exit_code == 1 and "--exit-seconds must be 0 or more" in gone.output
    bad = runner.invoke(app, ["track", str(scene), "--tracker", "learned", "--overwrite"])
    assert bad.exit_code == 1 and "needs --model" in bad.output
    wrong = runner.invoke(
        app, ["track", str(scene), "--tracker", "learned", "--model", "x", "--features", "f_a"]
    )
    assert wrong.exit_code == 1 and "--features" in wrong.output
    refused = runner.invoke(
        app, ["pretrain", str(scene), "--out", str(tmp_path / "r2"), "--n-min", "3"]
    )
    assert refused.exit_code == 1 and "--n-min" in refused.output


def _fixed_scores(net, vis: torch.Tensor, spa: torch.Tensor) -> None:
    net.visual_logits = lambda first, cand: vis[: len(first), : len(cand)]
    net.spatial_logits = lambda state, cand: spa[: len(state[0]), : len(cand)]


def test_the_tracker_follows_the_matrices_and_the_gate_refuses():
    from mcmot.tracking.config import LearnedConfig
    from mcmot.tracking.learned import LearnedTracker
    from mcmot.tracking.tracker import Detections

    net = build_cross_input(TINY)
    boxes = np.array([[10.0, 10, 10, 30], [100, 10, 10, 30]])
    dets = Detections(boxes, np.ones(2), np.zeros((2, TINY.channels), np.float32))
    swap = torch.tensor([[-5.0, 5.0], [5.0, -5.0]])  # track 1 <-> detection 2
    for gate, expect in ((None, [(1, 1), (2, 0)]), (6.0, [(3, 0), (4, 1)])):
        tr = LearnedTracker(LearnedConfig(model="x", min_logit=gate, max_speed=0), net, (320, 120))
        tr.update(dets)  # tracks 1 and 2 start
        _fixed_scores(net, swap, swap)
        got = [(tid, idx) for tid, _, idx in tr.update(dets)]
        assert got == expect
        del net.visual_logits, net.spatial_logits


def test_one_matcher_alone_decides_when_asked():
    from mcmot.tracking.config import LearnedConfig
    from mcmot.tracking.learned import LearnedTracker
    from mcmot.tracking.tracker import Detections

    net = build_cross_input(TINY)
    dets = Detections(
        np.array([[10.0, 10, 10, 30], [100, 10, 10, 30]]),
        np.ones(2),
        np.zeros((2, TINY.channels), np.float32),
    )
    keep, swap = torch.tensor([[5.0, -5.0], [-5.0, 5.0]]), torch.tensor([[-5.0, 5.0], [5.0, -5.0]])
    for use, expect in (("visual", [(1, 0), (2, 1)]), ("spatial", [(1, 1), (2, 0)])):
        tr = LearnedTracker(LearnedConfig(model="x", matchers=use, max_speed=0), net, (320, 120))
        tr.update(dets)
        _fixed_scores(net, keep, swap)
        assert [(tid, idx) for tid, _, idx in tr.update(dets)] == expect
        del net.visual_logits, net.spatial_logits


def test_reach_grows_with_the_seconds_lost_in_sizes_of_the_larger_box():
    from mcmot.tracking.learned import within_reach

    last = np.array([[0.0, 0, 10, 20]])  # centre (5, 10), size 20
    boxes = np.array(
        [[25.0, 0, 10, 20], [25.0, -10, 10, 40], [20.0, 5, 30, 10]]
    )  # centres 25, 25 and 30 px away; sizes 20, 40 and 30 (the width of a cut-off box)
    # reach (0.5 + 2 t) sizes; at 0.2 s: 18 px, 36 px, 27 px
    assert within_reach(last, np.array([0.2]), boxes, 2.0).tolist() == [[False, True, False]]
    # at 0.4 s: 26 px, 52 px, 39 px (by heights alone, the last would be 26 px: refused)
    assert within_reach(last, np.array([0.4]), boxes, 2.0).tolist() == [[True, True, True]]
    assert within_reach(last, np.array([10.0]), boxes, 0.0).tolist() == [[False, False, False]]


def test_a_lost_track_never_takes_a_detection_out_of_reach():
    from mcmot.tracking.config import LearnedConfig
    from mcmot.tracking.learned import LearnedTracker
    from mcmot.tracking.tracker import Detections

    net = build_cross_input(TINY)
    feats = np.zeros((1, TINY.channels), np.float32)
    here, far = np.array([[10.0, 10, 10, 30]]), np.array([[200.0, 10, 10, 30]])
    for speed, expect in ((2.0, 2), (0.0, 1)):  # 190 px > (0.5 + 2 * 0.2 s) * 30 px
        tr = LearnedTracker(LearnedConfig(model="x", max_speed=speed, fps=10.0), net, (320, 120))
        tr.update(Detections(here, np.ones(1), feats))
        tr.skip(1)
        _fixed_scores(net, torch.tensor([[5.0]]), torch.tensor([[5.0]]))
        assert [tid for tid, _, _ in tr.update(Detections(far, np.ones(1), feats))] == [expect]
        del net.visual_logits, net.spatial_logits


def test_with_confirmation_a_track_is_written_once_confirmed_and_dropped_if_missed_before():
    from mcmot.tracking.config import LearnedConfig
    from mcmot.tracking.learned import LearnedTracker
    from mcmot.tracking.tracker import Detections

    net = build_cross_input(TINY)
    box, feats = np.array([[10.0, 10, 10, 30]]), np.zeros((1, TINY.channels), np.float32)
    one = Detections(box, np.ones(1), feats)
    _fixed_scores(net, torch.full((16, 1), 5.0), torch.full((16, 1), 5.0))
    cases = [  # (n_init_seconds, frames with the detection (0 = a frame without), ids written)
        (0.3, [1, 1, 1, 1], [[], [], [1], [1]]),  # 3 frames at 10 frames/s confirm it
        (0.3, [1, 0, 1, 1, 1], [[], [], [], [2]]),  # missed while tentative: dropped
        (0.3, [1, 0, 0, 0], [[]]),  # a one-frame false positive is never written
        (0.0, [1, 0, 1], [[1], [1]]),  # the default (the paper): every detection, at once
    ]
    for n_init, seen, expect in cases:
        cfg = LearnedConfig(model="x", max_speed=0, fps=10.0, n_init_seconds=n_init)
        tr = LearnedTracker(cfg, net, (320, 120))
        got = []
        for here in seen:
            if here:
                got.append([tid for tid, _, _ in tr.update(one)])
            else:
                tr.skip(1)
        assert got == expect, (n_init, seen)
    del net.visual_logits, net.spatial_logits


def test_the_confirmation_option_reaches_the_learned_tracker_and_is_checked():
    assert choose_tracker("learned", "x.pt").n_init_seconds == 0.0  # the paper's
    assert choose_tracker("learned", "x.pt", n_init_seconds=0.3).n_init_seconds == 0.3
    with pytest.raises(McmotError, match="--n-init-seconds must be 0 to 1e6"):
        choose_tracker("learned", "x.pt", n_init_seconds=-1.0)


def test_a_box_touches_the_border_within_three_percent_of_the_shorter_side():
    from mcmot.tracking.learned import at_border

    boxes = np.array(
        [[3.0, 50, 10, 30], [5.0, 50, 10, 30], [300.0, 50, 16.5, 30], [300.0, 50, 16.0, 30],
         [100.0, 10, 10, 107], [100.0, 10, 10, 100], [100.0, 3.5, 10, 30]]
    )  # fmt: skip
    # a 320x120 frame: within 3.6 px of an edge
    assert at_border(boxes, (320, 120)).tolist() == [True, False, True, False, True, False, True]


def test_after_exit_seconds_a_lost_track_is_not_matched_across_the_border():
    from mcmot.tracking.config import LearnedConfig
    from mcmot.tracking.learned import LearnedTracker
    from mcmot.tracking.tracker import Detections

    net = build_cross_input(TINY)
    feats = np.zeros((1, TINY.channels), np.float32)
    edge, inside = np.array([[2.0, 10, 10, 30]]), np.array([[100.0, 10, 10, 30]])
    cases = [  # (last box, next box, exit_seconds, frames skipped, same track)
        (edge, edge, 0.3, 1, True),  # lost 0.2 s: still there
        (edge, edge, 0.3, 3, False),  # lost 0.4 s at the border: it left
        (edge, edge, 0.0, 3, True),  # the paper: never
        (inside, inside, 0.3, 3, True),  # occluded inside the frame
        (inside, edge, 0.3, 3, False),  # someone entering, not the lost track
        (inside, edge, 0.3, 1, True),
    ]  # fmt: skip
    for last, box, exit_after, skipped, same in cases:
        cfg = LearnedConfig(model="x", max_speed=0, exit_seconds=exit_after, fps=10.0)
        tr = LearnedTracker(cfg, net, (320, 120))
        tr.update(Detections(last, np.ones(1), feats))
        tr.skip(skipped)
        _fixed_scores(net, torch.tensor([[5.0]]), torch.tensor([[5.0]]))
        got = [tid for tid, _, _ in tr.update(Detections(box, np.ones(1), feats))]
        assert got == ([1] if same else [2]), (last, box, exit_after, skipped)
        del net.visual_logits, net.spatial_logits


def test_the_learned_tracks_do_not_depend_on_the_det_row_order(scene, trained, tmp_path):
    import shutil

    from mcmot.motio import write_mot

    copy = tmp_path / "shuffled"
    shutil.copytree(scene, copy)
    shutil.rmtree(copy / "tracks", ignore_errors=True)
    for f in (copy / "det").glob("*.txt"):
        det = read_mot(f, unique_ids=False)
        write_mot(f, det.select(np.random.default_rng(0).permutation(len(det))))
    cfg = choose_tracker("learned", str(trained), fps=10.0)
    run_track(Scene(scene), cfg, overwrite=True)
    run_track(Scene(copy), cfg, overwrite=True)
    for name in ("cam1", "cam2"):
        a, b = read_mot(scene / "tracks" / f"{name}.txt"), read_mot(copy / "tracks" / f"{name}.txt")
        assert np.array_equal(a.frames, b.frames) and np.array_equal(a.ids, b.ids)
        assert np.allclose(a.boxes, b.boxes)


def test_run_config_picks_the_learned_tracker_and_refuses_a_bad_kind(trained):
    from mcmot.stages.run import RunConfig, apply_overrides
    from mcmot.tracking.config import LearnedConfig, SsatConfig

    cfg = apply_overrides(
        RunConfig(), {"tracker": {"kind": "learned", "model": str(trained), "lags": [1, 2]}}
    )
    assert isinstance(cfg.tracker, LearnedConfig) and cfg.tracker.lags == (1, 2)
    assert isinstance(
        apply_overrides(RunConfig(), {"tracker": {"kind": "ssat"}}).tracker, SsatConfig
    )
    with pytest.raises(McmotError, match="kind must be one of"):
        apply_overrides(RunConfig(), {"tracker": {"kind": "sort"}})
    with pytest.raises(McmotError, match="--tau1: not an option of --tracker learned"):
        apply_overrides(RunConfig(), {"tracker": {"kind": "learned", "model": "m", "tau1": 0.5}})


def test_the_pipeline_runs_with_the_learned_tracker(scene, trained, tmp_path):
    import shutil

    from mcmot.stages.run import RunConfig, apply_overrides, run_pipeline

    copy = tmp_path / "scene"
    shutil.copytree(scene, copy, ignore=shutil.ignore_patterns("det", "tracks", "provenance"))
    cfg = apply_overrides(
        RunConfig(boxes="gt"),
        {"tracker": {"kind": "learned", "model": str(trained)}, "associate": {"cues": "geometry"}},
    )
    reports = run_pipeline(Scene(copy), cfg)
    ran = {r.stage: r.status for r in reports}
    assert ran["track"] == "ran" and "pretrain" not in ran and "extract-features" not in ran
    assert (copy / "tracks" / "cam1.txt").is_file()
