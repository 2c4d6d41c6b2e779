"""The rendered pixels agree with the ground truth: masks, boxes, occlusion, identities."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from mcmot.motio import read_mot
from mcmot.synth import SynthConfig, build_world, generate_scene
from mcmot.synth.bodies import Appearance, BodyModel, sample_appearance
from mcmot.synth.cameras import CameraModel, look_at
from mcmot.synth.render import CameraRenderer, pose_person

CFG = SynthConfig(cameras=3, people=6, frames=6, width=320, height=180, seed=11)
SUN = np.array([0.3, 0.4, 0.866])


@pytest.fixture(scope="module")
def world():
    return build_world(CFG)


def test_each_box_is_the_extent_of_its_rendered_mask(world):
    for t in (0, 5):
        for r, frame in zip(world.renderers, world.render(t, effects=False), strict=True):
            assert len(frame.ids) > 0
            by_pid = {pid: k for k, pid in frame.label_ids.items()}
            for pid, box, vis in zip(frame.ids, frame.boxes, frame.visibility, strict=True):
                mask = (frame.labels == by_pid[pid]).astype(np.uint8)
                assert cv2.boundingRect(mask) == tuple(int(v) for v in box)
                assert mask.sum() >= CFG.min_visible_px
                assert 0 < vis <= 1
                # the person's pixels are painted, not background
                changed = np.any(frame.image[mask > 0] != r.background[mask > 0], axis=1)
                assert changed.mean() > 0.95
            # labels without a box are people hidden (almost) entirely
            for k, pid in frame.label_ids.items():
                if pid not in frame.ids:
                    assert (frame.labels == k).sum() < CFG.min_visible_px
            # nothing is painted outside the people and their shadows
            outside = frame.labels == 0
            shadowed = np.all(frame.image == r.shadowed, axis=2)
            plain = np.all(frame.image == r.background, axis=2)
            assert np.mean((plain | shadowed)[outside]) > 0.97


def test_written_gt_matches_the_renderer(tmp_path, world):
    scene = generate_scene(tmp_path / "s", CFG)
    frames = world.render(3)
    for cam, frame in zip(world.cameras, frames, strict=True):
        gt = read_mot(scene.path("gt", cam.name))
        rows = gt.select(gt.frames == 4)
        order = np.argsort(frame.ids)
        assert rows.ids.tolist() == frame.ids[order].tolist()
        assert np.array_equal(rows.boxes, frame.boxes[order])
        assert np.allclose(rows.extra[:, 0], np.round(frame.visibility[order], 3))


def test_an_id_is_the_same_person_in_every_camera(world):
    """A fully visible person's projected body centre lies in that id's box in each camera."""
    checked = 0
    for t in range(CFG.frames):
        people = {p.pid: p for p in world.poses(t)}
        for cam, frame in zip(world.cameras, world.render(t, effects=False), strict=True):
            for pid, (x, y, w, h), vis in zip(
                frame.ids, frame.boxes, frame.visibility, strict=True
            ):
                if vis < 0.999:
                    continue
                body = people[pid]
                uv, _ = cam.project(body.pts[[body.body.root]])
                assert x <= uv[0, 0] <= x + w and y <= uv[0, 1] <= y + h
                checked += 1
    assert checked > 20


def _person(seed: int) -> BodyModel:
    app = sample_appearance(np.random.default_rng(seed), 0.0, [], 0.0)
    app = dataclasses.replace(app, height=1.75, build=1.0, bag=0)
    return BodyModel(app)


def _camera() -> CameraModel:
    R, t = look_at(np.array([0.0, 0.0, 1.2]), np.array([10.0, 0.0, 1.0]))
    K = np.array([[300.0, 0, 160], [0, 300.0, 120], [0, 0, 1]])
    return CameraModel("c", K, R, t, 320, 240, np.ones(3), 1.0, 0.0, 0.0, 0.0)


def _render(placements: list[tuple[int, float, float]]):
    cam = _camera()
    bg = np.full((240, 320, 3), 120, np.uint8)
    renderer = CameraRenderer(cam, bg, (bg * 0.6).astype(np.uint8), [], 20)
    people = [
        pose_person(pid, _person(pid), np.array([x, y]), np.pi, 0.3, 0.8, SUN)
        for pid, x, y in placements
    ]
    return renderer.render(people, 0)


def test_fully_occluded_person_has_no_box():
    both = _render([(1, 3.0, 0.0), (2, 20.0, 0.0)])
    assert both.ids.tolist() == [1]
    assert both.visibility[0] == 1.0
    alone = _render([(2, 20.0, 0.0)])
    assert alone.ids.tolist() == [2]
    assert alone.visibility[0] == 1.0
    # the far person is painted, and so is the near one, in front of it
    assert (alone.labels > 0).sum() < (both.labels > 0).sum()


def test_partly_occluded_person_has_a_smaller_visible_box():
    alone = _render([(2, 8.0, 0.0)])
    partly = _render([(1, 3.0, 0.2), (2, 8.0, 0.0)])
    i = partly.ids.tolist().index(2)
    assert 0.05 < partly.visibility[i] < 0.95
    full_w, part_w = alone.boxes[0, 2], partly.boxes[i, 2]
    assert part_w < full_w
    assert partly.boxes[i, 3] <= alone.boxes[0, 3]


def test_person_cut_by_the_image_border_has_lower_visibility():
    inside = _render([(1, 6.0, 0.0)])
    cut = _render([(1, 6.0, 3.45)])  # near the left edge of a 56-degree view
    assert inside.visibility[0] == 1.0
    assert 0 < cut.visibility[0] < 1.0
    assert cut.boxes[0, 0] == 0  # the visible extent starts at the border


def test_front_and_back_look_different():
    """A person with an open jacket shows another colour from the front than from behind."""
    app = dataclasses.replace(
        sample_appearance(np.random.default_rng(0), 0.0, [], 0.0),
        top_front=(20.0, 20.0, 200.0),
        top_back=(200.0, 20.0, 20.0),
        front_print=0,
        back_print=0,
        bag=0,
    )
    body = BodyModel(app)
    cam = _camera()
    bg = np.full((240, 320, 3), 120, np.uint8)
    r = CameraRenderer(cam, bg, bg, [], 20)

    def torso_colour(heading: float) -> np.ndarray:
        p = pose_person(1, body, np.array([5.0, 0.0]), heading, 0.0, 0.0, SUN)
        frame = r.render([p], 0)
        uv, _ = cam.project(p.pts[[body.root]] + [0, 0, 0.3])  # chest
        u, v = np.round(uv[0]).astype(int)
        return frame.image[v, u].astype(int)

    facing, away = torso_colour(np.pi), torso_colour(0.0)  # camera looks along +x
    assert facing[2] > facing[0]  # red front
    assert away[0] > away[2]  # blue back


def test_appearance_is_a_frozen_record():
    app = sample_appearance(np.random.default_rng(1), 0.5, [], 0.0)
    assert isinstance(app, Appearance)
    with pytest.raises(dataclasses.FrozenInstanceError):
        app.height = 2.0  # type: ignore[misc]
