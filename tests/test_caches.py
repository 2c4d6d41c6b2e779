"""Caches of derived arrays: built once, read after, rebuilt when unreadable; the training
objectives keep a scene's crops in the scene, for every later run."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pretrain_fixtures import make_tiny_scene

import mcmot.stages.clips_data as clips_data
import mcmot.stages.cross_input_data as cross_input_data
from mcmot.caches import load_or_build, scene_cache
from mcmot.models.clips_config import ClipsConfig
from mcmot.models.cross_input_config import CrossInputConfig


class Counting:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> dict[str, np.ndarray]:
        self.calls += 1
        return {"a": np.arange(3), "name": np.array("x")}


def test_arrays_are_built_once_and_read_after(tmp_path):
    build, path = Counting(), tmp_path / "c" / "x.npz"
    first = load_or_build(path, build)
    second = load_or_build(path, build)
    assert build.calls == 1 and path.is_file()
    assert np.array_equal(first["a"], second["a"]) and str(second["name"]) == "x"


def test_no_path_builds_every_time_and_writes_nothing(tmp_path):
    build = Counting()
    load_or_build(None, build)
    load_or_build(None, build)
    assert build.calls == 2 and not any(tmp_path.iterdir())


@pytest.mark.parametrize("torn", [b"", b"torn", b"PK\x03\x04 half a zip"])
def test_an_unreadable_file_is_built_again_and_replaced(tmp_path, torn):
    build, path = Counting(), tmp_path / "x.npz"
    path.write_bytes(torn)
    assert np.array_equal(load_or_build(path, build)["a"], np.arange(3))
    assert build.calls == 1
    load_or_build(path, build)
    assert build.calls == 1  # the replaced file reads


def _refuse(*args, **kwargs):
    raise AssertionError("decoded again: the cache was not used")


def test_cross_input_crops_are_kept_in_the_scene_for_later_runs(tmp_path, monkeypatch):
    scene = make_tiny_scene(tmp_path / "scene", cams=2, frames=8, persons=2)
    cfg = CrossInputConfig(crop=16)
    first = cross_input_data.load_cameras([scene], cfg)
    files = sorted(scene_cache(scene, "cross-input").glob("dets-*.npz"))
    assert len(files) == 2
    monkeypatch.setattr(cross_input_data, "build_camera", _refuse)
    again = cross_input_data.load_cameras([scene], cfg)  # another run: no decoding
    for a, b in zip(first, again, strict=True):
        assert (a.name, a.size) == (b.name, b.size)
        assert np.array_equal(a.crops, b.crops) and np.array_equal(a.frames, b.frames)
    other = CrossInputConfig(crop=24)  # other settings: other crops
    monkeypatch.undo()
    assert cross_input_data.load_cameras([scene], other)[0].crops.shape[1] == 24


def test_clip_images_of_a_scene_are_kept_in_it_and_a_lone_video_in_the_run(tmp_path):
    video = tmp_path / "lone" / "v.mp4"
    video.parent.mkdir()
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for k in range(20):
        writer.write(np.full((48, 64, 3), 10 * k, np.uint8))
    writer.release()
    scene = make_tiny_scene(tmp_path / "scene", cams=1, frames=20, persons=2)
    sources = clips_data.find_sources([scene, video], tracklets=False)
    cfg = ClipsConfig(clip_seconds=1.0, frames_per_clip=4, input_height=16, input_width=16)
    run_cache = tmp_path / "run" / "cache"
    clips_data.load_clip_images(sources, cfg, run_cache)
    assert len(list(scene_cache(scene, "clips").glob("clips-*.npz"))) == 1
    assert len(list(run_cache.glob("clips-*.npz"))) == 1  # the lone video's
