"""The label-free cosine gate: same-frame distances, their quantile, the stage hook."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pretrain_fixtures import write_feature_file
from typer.testing import CliRunner

from mcmot.cli import app
from mcmot.errors import McmotError
from mcmot.motio import MotTable, read_mot, write_mot
from mcmot.stages.track import calibrate_config
from mcmot.tracking import TrackerConfig
from mcmot.tracking.calibrate import calibrated_cosine_gate, same_frame_distances


def unit(deg: float) -> list[float]:
    """A 2-d unit vector at ``deg`` degrees."""
    r = np.deg2rad(deg)
    return [np.cos(r), np.sin(r)]


# frame 1: three people at 0, 60, 90 degrees -> pairs 0-60, 0-90, 60-90;
# frame 2: one detection (no pair); frame 3: two at 0 and 180 degrees.
FRAMES = np.array([1, 1, 1, 2, 3, 3])
FEATS = np.array([unit(0), unit(60), unit(90), unit(10), unit(0), unit(180)])


def test_same_frame_distances_hand_values() -> None:
    d = same_frame_distances(FRAMES, FEATS)
    # 1 - cos: 0-60 -> 0.5, 0-90 -> 1.0, 60-90 -> 1 - cos 30 = 0.1340, 0-180 -> 2.0
    np.testing.assert_allclose(d, [0.5, 1.0, 1 - np.sqrt(3) / 2, 2.0], atol=1e-12)


def test_same_frame_distances_caps_pairs_per_frame() -> None:
    d = same_frame_distances(FRAMES, FEATS, max_pairs=1)
    np.testing.assert_allclose(d, [0.5, 2.0], atol=1e-12)


def test_calibrated_gate_is_the_quantile() -> None:
    # sorted distances 0.134, 0.5, 1.0, 2.0; numpy's linear quantile at 0.25 -> 0.134 + 0.75 * 0.366
    expected = (1 - np.sqrt(3) / 2) + 0.75 * (0.5 - (1 - np.sqrt(3) / 2))
    assert calibrated_cosine_gate(FRAMES, FEATS, 0.25) == pytest.approx(expected)


@pytest.mark.parametrize("q", [0.0, 1.0, -0.1])
def test_calibrated_gate_rejects_bad_quantile(q: float) -> None:
    with pytest.raises(McmotError, match="quantile"):
        calibrated_cosine_gate(FRAMES, FEATS, q)


def test_calibrated_gate_needs_a_crowded_frame() -> None:
    with pytest.raises(McmotError, match="no frame has two detections"):
        calibrated_cosine_gate(np.array([1, 2]), np.array([unit(0), unit(5)]), 0.05)


def table(scores: list[float]) -> MotTable:
    n = len(FRAMES)
    boxes = np.tile([10.0, 10.0, 20.0, 50.0], (n, 1))
    return MotTable.from_arrays(FRAMES, -np.ones(n, np.int64), boxes, np.asarray(scores))


def test_calibrate_config_replaces_the_gate_only_when_asked() -> None:
    det = table([1.0] * len(FRAMES))
    fixed = TrackerConfig(cosine_gate_quantile=None, appearance_weight=1.0)
    assert calibrate_config(fixed, det, FEATS.astype(np.float32)) is fixed
    # a fixed gate keeps its value; the weight is still measured (here: too few pairs, off)
    gate_only = calibrate_config(
        TrackerConfig(cosine_gate_quantile=None), det, FEATS.astype(np.float32)
    )
    assert gate_only.max_cosine_distance == 0.2 and gate_only.appearance_weight == 0.0
    default = calibrate_config(TrackerConfig(), det, FEATS.astype(np.float32))
    assert default.max_cosine_distance == pytest.approx(calibrated_cosine_gate(FRAMES, FEATS, 0.05))
    asked = TrackerConfig(cosine_gate_quantile=0.25)
    assert calibrate_config(asked, det, None) is asked
    got = calibrate_config(asked, det, FEATS.astype(np.float32))
    assert got.max_cosine_distance == pytest.approx(calibrated_cosine_gate(FRAMES, FEATS, 0.25))


def test_calibrate_config_uses_admitted_detections_only() -> None:
    # the 90-degree row scores below min_confidence: frame 1 keeps only the 0-60 pair
    det = table([1.0, 1.0, 0.1, 1.0, 1.0, 1.0])
    got = calibrate_config(TrackerConfig(cosine_gate_quantile=0.5), det, FEATS.astype(np.float32))
    assert got.max_cosine_distance == pytest.approx(1.25)  # median of 0.5 and 2.0


def test_config_rejects_bad_quantile() -> None:
    with pytest.raises(McmotError, match="cosine_gate_quantile"):
        TrackerConfig(cosine_gate_quantile=1.5)


runner = CliRunner()


def write_scene(root: Path, people: int, cam: str = "cam1") -> Path:
    """``people`` walkers per frame for 10 frames, with orthogonal one-hot features."""
    (root / "det").mkdir(parents=True, exist_ok=True)
    frames, boxes, feats = [], [], []
    for k in range(1, 11):
        for who in range(people):
            frames.append(k)
            boxes.append([100 + 5 * k, 100 + 150 * who, 30, 80])
            feats.append(np.eye(4, dtype=np.float32)[who])
    n = len(frames)
    det = MotTable.from_arrays(np.array(frames), -np.ones(n), np.array(boxes), np.full(n, 0.9))
    write_mot(root / "det" / f"{cam}.txt", det)
    write_feature_file(root, cam, feats)
    return root


def test_cli_calibrated_gate_tracks_and_records(tmp_path: Path) -> None:
    root = write_scene(tmp_path / "scene", people=2)
    result = runner.invoke(app, ["track", str(root), "--cosine-gate-quantile", "0.05"])
    assert result.exit_code == 0, result.output
    tracks = read_mot(root / "tracks" / "cam1.txt")
    assert sorted(np.unique(tracks.ids)) == [1, 2]
    assert len(tracks) == 2 * (10 - 2)  # confirmed from the third hit on
    prov = json.loads((root / "provenance" / "track.json").read_text())
    params = prov["params"]
    assert params["cosine_gate_quantile"] == 0.05
    assert params["calibrated_max_cosine_distance"] == {"cam1": pytest.approx(1.0)}


@pytest.mark.parametrize(
    ("people", "args", "message"),
    [
        (2, ["--cosine-gate-quantile", "1.5"], "cosine_gate_quantile"),
    ],
)
def test_cli_calibrated_gate_bad_input(
    tmp_path: Path, people: int, args: list[str], message: str
) -> None:
    root = write_scene(tmp_path / "scene", people=people)
    result = runner.invoke(app, ["track", str(root), *args])
    assert result.exit_code == 1, result.output
    text = result.output.strip()
    assert "Traceback" not in text and len(text.splitlines()) == 1, text
    assert message in text
    assert not (root / "tracks").exists() or not any((root / "tracks").iterdir())


def test_each_camera_calibrates_on_its_own_video(tmp_path: Path) -> None:
    root = write_scene(tmp_path / "scene", people=2, cam="cam1")
    write_scene(root, people=1, cam="cam2")  # one person at a time: nothing to calibrate from
    result = runner.invoke(app, ["track", str(root), "--cosine-gate-quantile", "0.05"])
    assert result.exit_code == 0, result.output
    params = json.loads((root / "provenance" / "track.json").read_text())["params"]
    gates = params["calibrated_max_cosine_distance"]
    assert gates["cam2"] == TrackerConfig().max_cosine_distance
    assert gates["cam1"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("args", "expected"),
    [([], 0.05), (["--cosine-gate-quantile", "0"], None), (["--max-cosine-distance", "0.3"], None)],
)
def test_cli_gate_is_calibrated_by_default_and_fixed_on_request(tmp_path: Path, args, expected):
    root = write_scene(tmp_path / "scene", people=2)
    result = runner.invoke(app, ["track", str(root), *args])
    assert result.exit_code == 0, result.output
    params = json.loads((root / "provenance" / "track.json").read_text())["params"]
    assert params["cosine_gate_quantile"] == expected
    assert ("calibrated_max_cosine_distance" in params) == (expected is not None)


def test_one_person_at_a_time_keeps_the_fixed_gate(tmp_path: Path) -> None:
    root = write_scene(tmp_path / "scene", people=1)  # no frame with two detections
    result = runner.invoke(app, ["track", str(root), "--cosine-gate-quantile", "0.05"])
    assert result.exit_code == 0, result.output
    params = json.loads((root / "provenance" / "track.json").read_text())["params"]
    assert params["calibrated_max_cosine_distance"] == {"cam1": TrackerConfig().max_cosine_distance}
