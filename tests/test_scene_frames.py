import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from mcmot.cli import app
from mcmot.errors import McmotError
from mcmot.frames import FolderSource, VideoSource, open_source
from mcmot.scene import Scene


def _write_video(path, n=5, size=(32, 24)):
    path.parent.mkdir(parents=True, exist_ok=True)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, size)
    for k in range(n):
        img = np.full((size[1], size[0], 3), k * 40, np.uint8)
        w.write(img)
    w.release()


def _write_frames(folder, n=3, start=1):
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(start, start + n):
        cv2.imwrite(str(folder / f"{k:06d}.png"), np.full((8, 10, 3), k, np.uint8))


def test_missing_scene(tmp_path):
    with pytest.raises(McmotError, match="scene not found"):
        Scene(tmp_path / "nope")


def test_videos_layout(tmp_path):
    _write_video(tmp_path / "videos" / "c2.mp4")
    _write_video(tmp_path / "videos" / "c10.mp4")
    _write_video(tmp_path / "videos" / "c1.mp4")
    sc = Scene(tmp_path)
    assert sc.camera_names() == ["c1", "c2", "c10"]
    assert sc.path("det", "c1") == tmp_path / "det" / "c1.txt"
    assert sc.path("features", "c1") == tmp_path / "features" / "c1.npz"


def test_plain_folder_of_videos(tmp_path):
    _write_video(tmp_path / "cam1.avi")
    _write_video(tmp_path / "cam2.mp4")
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "cam1.txt").write_text("")
    assert Scene(tmp_path).camera_names() == ["cam1", "cam2"]


def test_frames_layout_and_plain_frame_folders(tmp_path):
    _write_frames(tmp_path / "s1" / "frames" / "a")
    _write_frames(tmp_path / "s2" / "b")
    assert Scene(tmp_path / "s1").camera_names() == ["a"]
    assert Scene(tmp_path / "s2").camera_names() == ["b"]


def test_the_cache_folder_of_a_plain_folder_is_never_a_camera(tmp_path):
    _write_frames(tmp_path / "b")
    _write_frames(tmp_path / "cache")
    assert Scene(tmp_path).camera_names() == ["b"]


def test_box_only_scene(tmp_path):
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "v1.txt").write_text("1,1,0,0,1,1\n")
    (tmp_path / "gt" / "v2.txt").write_text("1,1,0,0,1,1\n")
    sc = Scene(tmp_path)
    assert sc.camera_names() == ["v1", "v2"]
    assert all(c.source is None for c in sc.cameras())


def test_empty_scene_error(tmp_path):
    with pytest.raises(McmotError, match="no cameras"):
        Scene(tmp_path).require_cameras()


def test_select_cameras(tmp_path):
    _write_video(tmp_path / "videos" / "c1.mp4")
    sc = Scene(tmp_path)
    assert [c.name for c in sc.select_cameras(["c1"])] == ["c1"]
    with pytest.raises(McmotError, match="unknown camera"):
        sc.select_cameras(["zz"])


def test_check_writable_and_provenance(tmp_path):
    sc = Scene(tmp_path)
    p = sc.path("det", "c1")
    p.parent.mkdir()
    p.write_text("x")
    with pytest.raises(McmotError, match="--overwrite"):
        sc.check_writable([p], overwrite=False)
    sc.check_writable([p], overwrite=True)
    sc.record("detect", {"conf": 0.3}, inputs=[p], outputs=[p])
    rec = json.loads(sc.provenance_path("detect").read_text())
    assert rec["params"] == {"conf": 0.3}
    assert rec["outputs"]["det/c1.txt"]["size"] == 1
    assert sc.read_record("detect")["stage"] == "detect"
    assert sc.read_record("track") is None


def test_video_source_reads_by_number(tmp_path):
    p = tmp_path / "v.mp4"
    _write_video(p, n=6)
    with VideoSource(p) as src:
        assert src.num_frames == 6
        assert src.size == (32, 24)
        means = [int(src.read(k).mean()) for k in (1, 2, 3, 5, 2, 6)]
        assert abs(means[0] - 0) <= 3 and abs(means[3] - 160) <= 3 and abs(means[4] - 40) <= 3
        assert [k for k, _ in src.iter_frames(4)] == [4, 5, 6]
        with pytest.raises(McmotError, match="outside"):
            src.read(7)


def test_corrupt_video(tmp_path):
    p = tmp_path / "bad.mp4"
    p.write_bytes(b"not a video at all" * 10)
    with pytest.raises(McmotError, match="bad.mp4"):
        open_source(p)


def test_folder_source(tmp_path):
    _write_frames(tmp_path / "f", n=3, start=0)
    with pytest.raises(McmotError, match="0-based"):
        FolderSource(tmp_path / "f")
    src = FolderSource(tmp_path / "f", zero_based=True)
    assert src.num_frames == 3 and src.size == (10, 8)
    assert int(src.read(1).mean()) == 0 and int(src.read(3).mean()) == 2


def test_real_pets_video(shared_data):
    with open_source(shared_data / "pets09-s2l1" / "vtest.avi") as src:
        assert src.size == (768, 576)
        assert src.num_frames == 795
        assert src.read(2).shape == (576, 768, 3)


def test_cli_info_and_errors(tmp_path):
    runner = CliRunner()
    _write_video(tmp_path / "videos" / "c1.mp4")
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "c1.txt").write_text("1,1,0,0,4,4\n")
    res = runner.invoke(app, ["info", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "c1" in res.output
    res = runner.invoke(app, ["info", str(tmp_path / "missing")])
    assert res.exit_code == 1
    assert "scene not found" in res.output
    assert "Traceback" not in res.output


def test_cli_info_reads_ground_truth_that_repeats_a_frame_id(tmp_path):
    _write_video(tmp_path / "videos" / "c1.mp4")
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "c1.txt").write_text("1,1,0,0,4,4\n1,1,0,0,4,4\n")
    res = CliRunner().invoke(app, ["info", str(tmp_path)])
    assert res.exit_code == 0, res.output


def test_is_current_tracks_params_inputs_and_outputs(tmp_path):
    sc = Scene(tmp_path)
    inp = tmp_path / "gt" / "c1.txt"
    inp.parent.mkdir()
    inp.write_text("1,1,0,0,1,1\n")
    outp = sc.path("det", "c1")
    outp.parent.mkdir()
    outp.write_text("1,-1,0,0,1,1\n")
    assert not sc.is_current("detect", {"a": 1}, [inp])
    sc.record("detect", {"a": 1}, inputs=[inp], outputs=[outp])
    assert sc.is_current("detect", {"a": 1}, [inp])
    assert not sc.is_current("detect", {"a": 2}, [inp])
    assert not sc.is_current("detect", {"a": 1}, [])
    outp.write_text("changed, longer\n")
    assert not sc.is_current("detect", {"a": 1}, [inp])
    outp.unlink()
    assert not sc.is_current("detect", {"a": 1}, [inp])
