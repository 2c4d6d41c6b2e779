"""Out-of-range input is a one-line error or a correct result, quickly: no traceback, no hang.

Each case runs a subcommand in-process (Typer's CliRunner) or the library
function it calls, on a tiny scene, and checks that bad input ends in one
``error:`` line with exit code 1 and writes nothing, or that input at a
limit gives the right answer within a few seconds.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from mcmot.cli import app
from mcmot.errors import McmotError
from mcmot.frames import FolderSource, VideoSource
from mcmot.motio import MAX_FRAME, MAX_ID, MAX_PIXELS, parse_mot, parse_truth, read_mot
from mcmot.render import MAX_CANVAS_SIDE, MAX_TILE_WIDTH, RenderConfig, render_frame
from mcmot.scene import Scene

AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
#: Most seconds one case may take.
QUICK = 5.0


def _cli(*args: object):
    start = time.perf_counter()
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert time.perf_counter() - start < QUICK, f"{args} took too long"
    return res


def _one_line_error(res, *texts: str) -> str:
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for text in texts:
        assert text in lines[0], lines[0]
    return lines[0]


def _mot_scene(root: Path, rows: dict[str, str], stages: tuple[str, ...] = ("gt",)) -> Path:
    """A scene without pixels: the same MOT text per camera in each of ``stages``."""
    for stage in stages:
        (root / stage).mkdir(parents=True, exist_ok=True)
        for cam, text in rows.items():
            (root / stage / f"{cam}.txt").write_text(text)
    return root


def _walk(cam_x: int, frames: range, last: int | None = None) -> str:
    """Two people crossing a camera's view, and one extra row of person 1 at ``last``."""
    rows = [f"{f},{p},{cam_x + 60 * p},20,30,60,1,-1,-1,-1" for f in frames for p in (1, 2)]
    if last is not None:
        rows.append(f"{last},1,{cam_x},20,30,60,1,-1,-1,-1")
    return "\n".join(rows) + "\n"


def _frames_scene(root: Path, cams: tuple[str, ...] = ("a", "b"), n: int = 2) -> Path:
    for cam in cams:
        folder = root / "frames" / cam
        folder.mkdir(parents=True)
        for k in range(1, n + 1):
            cv2.imwrite(str(folder / f"{k:06d}.png"), np.zeros((60, 80, 3), np.uint8))
    return root


def _files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*")}


# ------------------------------------------------------------------ MOT files
@pytest.mark.parametrize(
    ("row", "says"),
    [
        ("1,99999999999999999999,10,10,5,5", f"id 1e+20 is beyond the limit of {MAX_ID}"),
        ("1,-99999999999999999999,10,10,5,5", "id -1e+20 is beyond the limit"),
        (f"{MAX_FRAME + 1},1,10,10,5,5", f"frame {MAX_FRAME + 1} is beyond the limit"),
        ("1000000000000,1,10,10,5,5", "frame 1e+12 is beyond the limit"),
        ("1,1,10,10000000,5,5", f"box value 10000000 is beyond the limit of {MAX_PIXELS}"),
        ("1,1,-200000,10,5,5", "box value -200000 is beyond the limit"),
        (f"1,1,10,10,{MAX_PIXELS + 1},5", "box value 100001 is beyond the limit"),
        ("1,1,10,10,inf,5", "NaN or infinite"),
        ("1,1,10,10,5,nan", "NaN or infinite"),
    ],
)
def test_mot_values_beyond_the_limits_are_errors_naming_file_and_line(row, says):
    text = f"1,1,1,1,5,5\n# comment\n{row}\n"
    with pytest.raises(McmotError, match="^f.txt:3: ") as exc:
        parse_mot(text, "f.txt")
    assert says in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(McmotError, match="^f.txt:3: "):
        parse_truth(text, "f.txt")


def test_mot_values_at_the_limits_are_read_exactly():
    text = f"{MAX_FRAME},{MAX_ID},{-MAX_PIXELS},{MAX_PIXELS},{MAX_PIXELS},0\n"
    t = parse_mot(text)
    assert t.frames.tolist() == [MAX_FRAME] and t.ids.tolist() == [MAX_ID]
    assert t.boxes.tolist() == [[-MAX_PIXELS, MAX_PIXELS, MAX_PIXELS, 0]]


def test_zero_based_frame_limit_counts_the_shift():
    assert parse_mot(f"{MAX_FRAME - 1},1,1,1,5,5", zero_based=True).frames.tolist() == [MAX_FRAME]
    with pytest.raises(McmotError, match=f"frame {MAX_FRAME} is beyond the limit"):
        parse_mot(f"{MAX_FRAME},1,1,1,5,5", zero_based=True)


def test_a_utf8_byte_order_mark_is_dropped(tmp_path):
    plain = "1,1,10,20,30,40\n2,1,11,20,30,40\n"
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf" + plain.encode())
    got, want = read_mot(tmp_path / "bom.txt"), parse_mot(plain)
    assert got.frames.tolist() == want.frames.tolist() == [1, 2]
    assert np.array_equal(got.boxes, want.boxes)


def test_evaluate_reads_a_ground_truth_file_with_a_byte_order_mark(tmp_path):
    scene = _mot_scene(tmp_path / "s", {"c1": _walk(10, range(1, 6))}, ("gt", "global"))
    gt = scene / "gt" / "c1.txt"
    gt.write_bytes(b"\xef\xbb\xbf" + gt.read_bytes())
    res = _cli("evaluate", scene, "--json")
    assert res.exit_code == 0, res.output


def test_evaluate_refuses_an_id_beyond_int64_in_one_line(tmp_path):
    scene = _mot_scene(tmp_path / "s", {"c1": _walk(10, range(1, 4))}, ("gt", "global"))
    with (scene / "gt" / "c1.txt").open("a") as fh:
        fh.write("3,99999999999999999999,10,20,30,60\n")
    _one_line_error(_cli("evaluate", scene), "gt/c1.txt:7: id 1e+20 is beyond the limit")
    assert not (scene / "eval.json").exists()


@pytest.mark.parametrize("command", ["evaluate", "associate"])
def test_a_frame_beyond_the_limit_stops_evaluate_and_associate_in_one_line(tmp_path, command):
    files = {"c1": _walk(10, range(1, 4), 10**12), "c2": _walk(200, range(1, 4))}
    scene = _mot_scene(tmp_path / "s", files, ("gt", "global", "tracks"))
    before = _files(scene)
    extra = ["--overwrite"] if command == "associate" else []
    _one_line_error(_cli(command, scene, *extra), "c1.txt:7: frame 1e+12 is beyond")
    assert _files(scene) == before


@pytest.mark.parametrize("command", ["evaluate", "associate"])
def test_a_frame_at_the_limit_costs_rows_not_frames(tmp_path, command):
    files = {"c1": _walk(10, range(1, 31), MAX_FRAME), "c2": _walk(200, range(1, 31), MAX_FRAME)}
    scene = _mot_scene(tmp_path / "s", files, ("gt", "global", "tracks"))
    res = _cli(command, scene, *(["--overwrite"] if command == "associate" else []))
    assert res.exit_code == 0, res.output
    out = scene / ("eval.json" if command == "evaluate" else "global/c1.txt")
    assert out.is_file()


def test_a_frame_image_numbered_beyond_the_limit_is_refused(tmp_path):
    folder = tmp_path / "c1"
    folder.mkdir()
    cv2.imwrite(str(folder / "000001.jpg"), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(folder / "999999999.jpg"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(McmotError, match="999999999.jpg: frame 999999999 is beyond the limit"):
        FolderSource(folder)


# ------------------------------------------------------------------ videos the user may not read
def _video(path: Path) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for _ in range(3):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    return path


def test_a_video_the_user_may_not_read_says_permission_denied(tmp_path, monkeypatch):
    video = _video(tmp_path / "c1.mp4")
    real_open = Path.open

    def refuse(self: Path, *args: object, **kwargs: object):
        if self == video:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(McmotError, match=f"^cannot read video {video}: permission denied$"):
        VideoSource(video)


@pytest.mark.skipif(AS_ROOT, reason="root reads any file")
def test_a_video_with_mode_000_says_permission_denied(tmp_path):
    video = _video(tmp_path / "c1.mp4")
    video.chmod(0)
    try:
        with pytest.raises(McmotError, match="permission denied"):
            VideoSource(video)
    finally:
        video.chmod(0o600)


# ------------------------------------------------------------------ render
def test_render_without_pixels_clips_a_far_box_to_the_canvas(tmp_path):
    far = "1,1,10,10,200,30\n1,2,10,99000,20,30\n"  # canvas 220 wide, 99040 tall unclipped
    scene = _mot_scene(tmp_path / "s", {"a": far, "b": far}, ("global",))
    start = time.perf_counter()
    img = render_frame(Scene(scene), 1, RenderConfig(tile_width=64))
    assert time.perf_counter() - start < QUICK
    assert img.shape == (round(MAX_CANVAS_SIDE * 64 / 220), 128, 3)


def test_render_draws_a_far_box_on_pixels_without_growing(tmp_path):
    scene = _frames_scene(tmp_path / "s")
    _mot_scene(scene, {"a": "1,1,10,99000,20,30\n", "b": "1,1,10,10,20,30\n"}, ("global",))
    img = render_frame(Scene(scene), 1, RenderConfig(tile_width=80))
    assert img.shape == (60, 160, 3)


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--tile-width", "100000", f"--tile-width must be 32 to {MAX_TILE_WIDTH}"),
        ("--tile-width", "5", "--tile-width must be 32"),
        ("--columns", "-1", "--columns must be 0 or more"),
    ],
)
def test_render_options_out_of_range_are_one_line_errors(tmp_path, option, value, says):
    scene = _frames_scene(tmp_path / "s")
    _mot_scene(scene, {"a": "1,1,10,10,20,30\n", "b": "1,1,10,10,20,30\n"}, ("global",))
    before = _files(scene)
    _one_line_error(_cli("render", scene, option, value, "--frame", "1"), says)
    assert _files(scene) == before


def test_render_more_columns_than_cameras_is_one_row(tmp_path):
    scene = _frames_scene(tmp_path / "s")
    _mot_scene(scene, {"a": "1,1,10,10,20,30\n", "b": "1,1,10,10,20,30\n"}, ("global",))
    out = scene / "m.png"
    res = _cli("render", scene, "--columns", "100000", "--tile-width", "80", "--frame", "1")
    assert res.exit_code == 0, res.output
    assert cv2.imread(str(scene / "global_000001.png")).shape == (60, 160, 3)
    assert not out.exists()


def test_render_refuses_a_mosaic_too_large_to_hold(tmp_path):
    scene = _frames_scene(tmp_path / "s", cams=tuple(f"c{i}" for i in range(9)), n=1)
    _mot_scene(scene, {"c0": "1,1,10,10,20,30\n"}, ("global",))
    res = _cli("render", scene, "--tile-width", str(MAX_TILE_WIDTH), "--frame", "1")
    _one_line_error(res, "the mosaic would be 12288x9216 pixels")


@pytest.mark.parametrize(
    ("out", "frame", "says"),
    [
        ("x.txt", None, "a video (a still needs --frame K) is written as .mp4, got '.txt'"),
        ("noext", None, "got 'no extension'"),
        ("m.png", None, "a still needs --frame K"),
        ("x.txt", "1", "a still image (--frame K) is written as .png or .jpg or .jpeg"),
        ("v.mp4", "1", "got '.mp4'"),
        ("folder", None, "is a folder"),
        ("folder", "1", "is a folder"),
    ],
)
def test_render_out_must_name_a_file_of_the_kind_written(tmp_path, out, frame, says):
    scene = _frames_scene(tmp_path / "s")
    _mot_scene(scene, {"a": "1,1,10,10,20,30\n", "b": "1,1,10,10,20,30\n"}, ("global",))
    (scene / "folder").mkdir()
    before = _files(scene)
    args = ["render", scene, "--out", scene / out] + (["--frame", frame] if frame else [])
    _one_line_error(_cli(*args), says)
    assert _files(scene) == before


# ------------------------------------------------------------------ synth, detect
@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--seed", "-1", "--seed must be 0 to"),
        ("--frames", "1000000000", "--frames must be 1 to 100000, got 1000000000"),
        ("--fps", "nan", "--fps must be positive"),
        ("--fps", "inf", "--fps must be positive"),
    ],
)
def test_synth_options_out_of_range_are_one_line_errors(tmp_path, option, value, says):
    _one_line_error(_cli("synth", tmp_path / "new", option, value), says)
    assert not (tmp_path / "new").exists()


def test_detect_imgsz_beyond_the_limit_is_one_line_error(tmp_path):
    scene = _frames_scene(tmp_path / "s")
    _one_line_error(_cli("detect", scene, "--imgsz", "100000"), "imgsz must be 32 to 4096")
    assert not (scene / "det").exists()


def test_detect_weights_that_are_a_folder_is_one_line_error(tmp_path):
    scene = _frames_scene(tmp_path / "s", cams=("a",), n=1)
    folder = tmp_path / "weights"
    folder.mkdir()
    res = CliRunner().invoke(
        app, ["detect", str(scene), "--weights", str(folder), "--device", "cpu"]
    )
    _one_line_error(res, f"cannot run weights {folder}")
    assert not (scene / "det").exists()


# ------------------------------------------------------------------ pretrain, track
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--minutes", "nan"], "minutes must be a finite number, got nan"),
        (["--minutes", "0"], "minutes must be above 0"),
        (["--lr", "-1"], "lr must be above 0, at most 1, got -1.0"),
        (["--lr", "nan"], "lr must be a finite number, got nan"),
        (["--seed", "-1"], "seed must be 0 to"),
        (["--set", "depth=abc"], "depth must be an integer, got 'abc'"),
        (["--set", "beta2=1"], "beta2 must be 0 to 1 (below 1)"),
    ],
)
def test_pretrain_settings_out_of_range_stop_before_anything_is_written(tmp_path, args, says):
    scene = _frames_scene(tmp_path / "s", cams=("a",), n=1)
    before = _files(scene)
    _one_line_error(_cli("pretrain", scene, "--out", tmp_path / "run", *args), says)
    assert not (tmp_path / "run").exists() and _files(scene) == before


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--min-confidence", "2"], "--min-confidence must be 0 to 1, got 2.0"),
        (["--min-confidence", "-0.5"], "--min-confidence must be 0 to 1"),
        (["--min-confidence", "nan"], "min_confidence must be a finite number"),
        (["--low-confidence", "-3"], "--low-confidence must be 0 to 1"),
    ],
)
def test_track_confidence_out_of_range_is_one_line_error_not_empty_tracks(tmp_path, args, says):
    scene = _mot_scene(tmp_path / "s", {"c1": _walk(10, range(1, 4))}, ("det",))
    before = _files(scene)
    _one_line_error(_cli("track", scene, "--features", "none", *args), says)
    assert _files(scene) == before


def test_track_confidence_at_one_keeps_the_detections_scoring_one(tmp_path):
    scene = _mot_scene(tmp_path / "s", {"c1": _walk(10, range(1, 6))}, ("det",))
    res = _cli("track", scene, "--features", "none", "--min-confidence", "1")
    assert res.exit_code == 0, res.output
    assert len(read_mot(scene / "tracks" / "c1.txt")) > 0
