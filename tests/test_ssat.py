"""SSAT's loss and tracker, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mcmot.errors import McmotError
from mcmot.models.reid import cosface_logits
from mcmot.tracking import Detections
from mcmot.tracking.config import SsatConfig
from mcmot.tracking.ssat import SsatTracker, box_distance, cosine_distance


# ----------------------------------------------------------------- CosFace
def test_the_margin_lowers_the_target_logit_only():
    gen = torch.Generator().manual_seed(0)
    feats, weight = torch.randn(5, 8, generator=gen), torch.randn(3, 8, generator=gen)
    labels = torch.tensor([0, 2, 1, 1, 0])
    plain = cosface_logits(feats, weight, None, s=30.0, m=0.0)
    margin = cosface_logits(feats, weight, labels, s=30.0, m=0.35)
    diff = plain - margin
    target = F.one_hot(labels, 3).bool()
    assert torch.allclose(diff[target], torch.full((5,), 30.0 * 0.35))
    assert torch.allclose(diff[~target], torch.zeros(10), atol=1e-6)


def test_a_zero_margin_is_a_softmax_over_scaled_cosines():
    gen = torch.Generator().manual_seed(1)
    feats, weight = torch.randn(4, 6, generator=gen), torch.randn(5, 6, generator=gen)
    labels = torch.tensor([1, 0, 4, 2])
    logits = cosface_logits(feats, weight, labels, s=16.0, m=0.0)
    cos = F.normalize(feats, dim=1) @ F.normalize(weight, dim=1).T
    assert torch.allclose(logits, 16.0 * cos)
    assert torch.allclose(logits.softmax(1), (16.0 * cos).softmax(1))


def test_the_logits_do_not_depend_on_feature_or_weight_norms():
    feats, weight = torch.tensor([[3.0, 4.0]]), torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    logits = cosface_logits(feats, weight, torch.tensor([1]), s=10.0, m=0.2)
    assert torch.allclose(logits, torch.tensor([[10 * 0.6, 10 * (0.8 - 0.2)]]))


# ----------------------------------------------------------------- distances
def test_identical_features_have_cosine_distance_zero():
    f = np.array([[0.3, -1.2, 2.0]])
    assert cosine_distance(f, 5 * f) == pytest.approx(0.0, abs=1e-12)
    assert cosine_distance(f, -f) == pytest.approx(2.0)


def test_the_box_distance_is_the_corner_distance_over_alpha_perimeters():
    track = np.array([[10.0, 20.0, 30.0, 60.0]])  # corners (10, 20, 40, 80), perimeter 180
    det = np.array([[13.0, 24.0, 30.0, 60.0]])  # corners (13, 24, 43, 84)
    expected = math.sqrt(9 + 16 + 9 + 16) / (2.0 * 180.0)
    assert box_distance(track, det, alpha=2.0)[0, 0] == pytest.approx(expected)
    assert box_distance(track, det, alpha=1.0)[0, 0] == pytest.approx(2 * expected)


# ----------------------------------------------------------------- the tracker
def _dets(boxes: list[list[float]], feats: list[list[float]] | None = None) -> Detections:
    return Detections(
        np.asarray(boxes, float).reshape(-1, 4),
        np.ones(len(boxes)),
        None if feats is None else np.asarray(feats, float),
    )


BOX = [100.0, 100.0, 20.0, 60.0]
#: Cosine distance 0.6 from [1, 0]: between the default tau1 (0.56) and tau2 (0.64).
MIDDLE = [0.4, math.sqrt(1 - 0.16)]


def test_a_detection_between_tau1_and_tau2_does_not_continue_a_tracked_track():
    tr = SsatTracker(SsatConfig(box_cost=False))
    (first,) = tr.update(_dets([BOX], [[1.0, 0.0]]))
    (second,) = tr.update(_dets([BOX], [MIDDLE]))
    assert second[0] != first[0]


def test_tau2_applies_to_lost_tracks_only():
    tr = SsatTracker(SsatConfig(box_cost=False, ema=1.0))
    (first,) = tr.update(_dets([BOX], [[1.0, 0.0]]))
    tr.update(_dets([]))  # the track is missed: lost from now on
    (again,) = tr.update(_dets([BOX], [MIDDLE]))
    assert again[0] == first[0]


def test_a_track_lost_longer_than_max_age_is_dropped():
    tr = SsatTracker(SsatConfig(box_cost=False, max_age_seconds=0.2, fps=10.0))
    (first,) = tr.update(_dets([BOX], [[1.0, 0.0]]))
    tr.skip(3)  # 3 frames > 0.2 s at 10 frames/s
    (again,) = tr.update(_dets([BOX], [[1.0, 0.0]]))
    assert again[0] != first[0]


def test_the_track_feature_is_the_04_06_moving_average():
    tr = SsatTracker(SsatConfig(box_cost=False, tau1=2.0))
    tr.update(_dets([BOX], [[1.0, 0.0]]))
    tr.update(_dets([BOX], [[0.0, 1.0]]))
    np.testing.assert_allclose(tr.tracks[0].feature, [0.6, 0.4])
    tr.update(_dets([BOX], [[0.0, 1.0]]))
    np.testing.assert_allclose(tr.tracks[0].feature, [0.36, 0.64])


def test_the_box_cost_adds_to_the_cosine_cost():
    tr = SsatTracker(SsatConfig(tau1=10.0))
    tr.update(_dets([BOX], [[1.0, 0.0]]))
    moved = [BOX[0] + 16, BOX[1], BOX[2], BOX[3]]
    d = tr.distances(tr.tracks, np.array([moved]), np.array([MIDDLE]))
    expected = 0.6 + math.sqrt(2 * 16**2) / (2.0 * 160.0)
    assert d[0, 0] == pytest.approx(expected)


def test_two_people_crossing_keep_their_identities_by_appearance():
    tr = SsatTracker(SsatConfig())
    a, b = [1.0, 0.0], [0.0, 1.0]
    ids = []
    for t in range(6):
        left, right = [100.0 + 8 * t, 100, 20, 60], [140.0 - 8 * t, 100, 20, 60]
        out = tr.update(_dets([left, right], [a, b]))
        ids.append({idx: tid for tid, _, idx in out})
    assert all(frame == ids[0] for frame in ids)


def test_low_scoring_detections_are_ignored():
    tr = SsatTracker(SsatConfig(min_confidence=0.5))
    dets = Detections(np.array([BOX, BOX]), np.array([0.9, 0.2]), None)
    assert [idx for _, _, idx in tr.update(dets)] == [0]


@pytest.mark.parametrize(
    "field,value", [("tau1", -0.1), ("alpha", 0.0), ("ema", 0.0), ("ema", 1.5), ("fps", 0.0)]
)
def test_bad_settings_are_one_line_errors(field, value):
    with pytest.raises(McmotError):
        SsatConfig(**{field: value})


# ----------------------------------------------------------------- the command line
def _box_scene(root):
    from mcmot.motio import MotTable, write_mot

    frames = np.repeat(np.arange(1, 11), 2)
    boxes = np.array([[100.0 + 3 * (f - 1), 100, 20, 60] for f in range(1, 11)])
    other = boxes + [200, 0, 0, 0]
    table = MotTable.from_arrays(
        frames, np.full(20, -1), np.stack([boxes, other], 1).reshape(-1, 4), np.ones(20)
    )
    write_mot(root / "det" / "c1.txt", table)
    return root


def test_track_with_ssat_writes_one_track_per_person(tmp_path):
    from typer.testing import CliRunner

    from mcmot.cli import app
    from mcmot.motio import read_mot

    scene = _box_scene(tmp_path)
    res = CliRunner().invoke(app, ["track", str(scene), "--tracker", "ssat", "--features", "none"])
    assert res.exit_code == 0, res.output
    tracks = read_mot(scene / "tracks" / "c1.txt")
    assert len(tracks) == 20 and len(np.unique(tracks.ids)) == 2


@pytest.mark.parametrize(
    "args,message",
    [
        (["--tracker", "ssat", "--max-cosine-distance", "0.3"], "--max-cosine-distance: not an"),
        (["--tau1", "0.3"], "--tau1: not an option of --tracker deepsort"),
        (["--tracker", "ssat", "--ema", "0"], "--ema must be above 0"),
    ],
)
def test_options_of_the_other_tracker_are_refused(tmp_path, args, message):
    from typer.testing import CliRunner

    from mcmot.cli import app

    scene = _box_scene(tmp_path)
    res = CliRunner().invoke(app, ["track", str(scene), "--features", "none", *args])
    assert res.exit_code == 1 and message in res.output
    assert not (scene / "tracks").exists()
