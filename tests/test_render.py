import cv2
import numpy as np
from typer.testing import CliRunner

from mcmot.cli import app
from mcmot.render import RenderConfig, grid_shape, id_colour, mosaic, render_frame
from mcmot.scene import Scene


def _scene(tmp_path, pixels=True):
    for cam in ("a", "b", "c"):
        if pixels:
            d = tmp_path / "frames" / cam
            d.mkdir(parents=True)
            for k in (1, 2):
                cv2.imwrite(str(d / f"{k:06d}.png"), np.zeros((60, 80, 3), np.uint8))
        (tmp_path / "global").mkdir(exist_ok=True)
        (tmp_path / "global" / f"{cam}.txt").write_text("1,7,10,10,20,30\n2,7,12,10,20,30\n")
    return Scene(tmp_path)


def test_id_colour_stable_and_distinct():
    assert id_colour(3) == id_colour(3)
    assert len({id_colour(i) for i in range(1, 30)}) == 29
    assert id_colour(-1) == (160, 160, 160)


def test_grid_and_mosaic():
    assert grid_shape(4) == (2, 2)
    assert grid_shape(5) == (2, 3)
    assert grid_shape(3, columns=3) == (1, 3)
    tiles = [np.full((2, 3, 3), i, np.uint8) for i in range(3)]
    m = mosaic(tiles, columns=2)
    assert m.shape == (4, 6, 3)
    assert m[0, 3, 0] == 1 and m[2, 0, 0] == 2 and m[2, 3, 0] == 0


def test_render_frame_colours_boxes_by_identity(tmp_path):
    sc = _scene(tmp_path)
    img = render_frame(sc, 1, RenderConfig(tile_width=80, thickness=1))
    assert img.shape == (120, 160, 3)  # 3 tiles of 80x60 in a 2x2 grid
    col = np.array(id_colour(7))
    # the left edge of the box (x=10, from y=10+label) of camera b (top right tile)
    assert (img[35, 80 + 10] == col).all()


def test_render_without_pixels(tmp_path):
    sc = _scene(tmp_path, pixels=False)
    img = render_frame(sc, 2, RenderConfig(tile_width=64))
    assert img.ndim == 3 and img.shape[1] == 128


def test_cli_render_still_video_and_errors(tmp_path):
    _scene(tmp_path)
    r = CliRunner()
    res = r.invoke(app, ["render", str(tmp_path), "--frame", "1", "--out", str(tmp_path / "s.png")])
    assert res.exit_code == 0, res.output
    assert cv2.imread(str(tmp_path / "s.png")) is not None
    res = r.invoke(app, ["render", str(tmp_path), "--out", str(tmp_path / "v.mp4")])
    assert res.exit_code == 0, res.output
    cap = cv2.VideoCapture(str(tmp_path / "v.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 2
    res = r.invoke(app, ["render", str(tmp_path), "--out", str(tmp_path / "v.mp4")])
    assert res.exit_code == 1 and "--overwrite" in res.output
    res = r.invoke(app, ["render", str(tmp_path), "--what", "tracks", "--frame", "1"])
    assert res.exit_code == 1 and "no tracks/" in res.output
    res = r.invoke(app, ["render", str(tmp_path), "--frame", "9", "--out", str(tmp_path / "x.png")])
    assert res.exit_code == 1 and "outside" in res.output
    assert not (tmp_path / "x.png").exists()


def test_an_existing_output_outside_the_scene_needs_overwrite(tmp_path):
    _scene(tmp_path / "scene")
    out = tmp_path / "elsewhere.png"
    out.write_bytes(b"keep")
    res = CliRunner().invoke(
        app, ["render", str(tmp_path / "scene"), "--frame", "1", "--out", str(out)]
    )
    assert res.exit_code == 1 and "--overwrite" in res.output and str(out) in res.output
    assert out.read_bytes() == b"keep"


def test_cli_render_transfer_overlay(tmp_path):

    _scene(tmp_path)
    r = CliRunner()
    res = r.invoke(app, ["render", str(tmp_path), "--transfer", "a:b"])
    assert res.exit_code == 1 and "--frame" in res.output
    res = r.invoke(app, ["render", str(tmp_path), "--transfer", "ab", "--frame", "1"])
    assert res.exit_code == 1 and "A:B" in res.output
    res = r.invoke(app, ["render", str(tmp_path), "--transfer", "a:b", "--frame", "1"])
    assert res.exit_code == 1 and "geometry" in res.output.lower()
