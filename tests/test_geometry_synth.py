"""Fitted homographies against the true cameras of synthetic scenes (tests only:
association never reads synth/cameras.json)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.simulate import tracks_from_gt
from mcmot.association.config import GeometryConfig
from mcmot.association.data import make_obs
from mcmot.association.geometry import fit_pair
from mcmot.association.homography import candidates, pair_errors, ransac_homography, transfer
from mcmot.motio import read_mot
from mcmot.synth import SynthConfig, generate_scene


def ground_homography(cam: dict) -> np.ndarray:
    """Floor (z = 0) -> image: K [r1 r2 t] for x_cam = R x + t."""
    K, R = np.array(cam["K"]), np.array(cam["R"])
    t = np.array(cam["t"]).reshape(3)
    return K @ np.column_stack([R[:, 0], R[:, 1], t])


def project(H: np.ndarray, xy: np.ndarray) -> np.ndarray:
    p = np.c_[xy, np.ones(len(xy))] @ H.T
    return p[:, :2] / p[:, 2:3]


# rendering three 4-camera scenes and fitting six pairs each takes half a minute; the
# seeded fits below check fitted homographies against the true foot pairs cheaply
@pytest.mark.slow
@pytest.mark.parametrize("difficulty", ["easy", "medium", "hard"])
def test_trusted_pairs_match_true_ground_homography(tmp_path, difficulty):
    cfg = SynthConfig(
        cameras=4, people=8, frames=150, width=320, height=180, seed=101,
        difficulty=difficulty, fmt="jpg",
    )  # fmt: skip
    scene = generate_scene(tmp_path / "s", cfg)
    meta = json.loads((scene.root / "synth" / "cameras.json").read_text())
    cams = meta["cameras"]
    ground = np.array([[r[1], r[2]] for p in meta["people"] for r in p["track"]])
    obs = []
    for c in cams:
        gt = read_mot(scene.root / "gt" / f"{c['name']}.txt")
        # per-camera local ids would not change the fit: it never looks at ids' values
        obs.append(make_obs(c["name"], gt, (c["width"], c["height"]), border_margin=3))
    trusted = 0
    for i in range(len(cams)):
        for j in range(i + 1, len(cams)):
            g = fit_pair(obs[i], obs[j], GeometryConfig(hypotheses=1500))
            pa = project(ground_homography(cams[i]), ground)
            pb = project(ground_homography(cams[j]), ground)
            w, h = cams[i]["width"], cams[i]["height"]
            seen = np.all((pa > 0) & (pa < [w, h]) & (pb > 0) & (pb < [w, h]), axis=1)
            if seen.sum() < 50:
                continue
            err = np.linalg.norm(transfer(g.H, pa[seen]) - pb[seen], axis=1)
            rel = np.median(err) / np.median(obs[j].heights)
            if g.quality.weight > 0:
                trusted += 1
                # box bottoms are the nearest toe, not the body's ground point: a few
                # tenths of a metre, i.e. up to about a quarter of a person's height
                assert rel < 0.3, (difficulty, i, j, rel, g.quality)
    assert trusted >= 3


def test_transfer_overlay_draws_feet_of_one_camera_in_another(tmp_path):
    from mcmot.association.config import AssociateConfig
    from mcmot.association.overlay import id_colour, transfer_overlay
    from mcmot.motio import write_mot
    from mcmot.stages.associate import run_associate

    cfg = SynthConfig(cameras=2, people=4, frames=60, width=320, height=180, seed=3, fmt="jpg")
    root = generate_scene(tmp_path / "s", cfg).root
    for cam in ("cam1", "cam2"):
        write_mot(root / "tracks" / f"{cam}.txt", read_mot(root / "gt" / f"{cam}.txt"))
    run_associate(root, AssociateConfig(cues="geometry"))
    img = transfer_overlay(root, "cam1", "cam2", 30, stage="gt")
    assert img.shape == (180, 320, 3)
    gt2 = read_mot(root / "gt" / "cam2.txt")
    row = gt2.select(gt2.frames == 30)
    x, y, w, h = row.boxes[0]
    # b's own foot circle is drawn in its identity's colour
    patch = img[int(y + h) - 6 : int(y + h) + 6, int(x + w / 2) - 6 : int(x + w / 2) + 6]
    colour = np.array(id_colour(int(row.ids[0])))
    assert (np.abs(patch.astype(int) - colour).sum(axis=2) < 60).any()
    # a's feet land, through the learned homography, near b's feet of the same id
    from mcmot.association.geometry import load_geometry
    from mcmot.association.overlay import pair_homography

    H = pair_homography(load_geometry(root / "geometry.json"), "cam1", "cam2", 30)
    gt1 = read_mot(root / "gt" / "cam1.txt")
    a_rows = gt1.select(gt1.frames == 30)
    both = np.intersect1d(a_rows.ids, row.ids)
    assert len(both)
    near = 0
    for i in both:
        bx = a_rows.boxes[a_rows.ids == i][0]
        p = transfer(H, np.array([[bx[0] + bx[2] / 2, bx[1] + bx[3]]]))[0]
        by = row.boxes[row.ids == i][0]
        near += np.hypot(p[0] - (by[0] + by[2] / 2), p[1] - (by[1] + by[3])) < 0.3 * by[3]
    assert near >= len(both) - 1


@pytest.mark.parametrize("seed", [7302, 7310])
def test_fit_does_not_depend_on_the_random_seed(tmp_path, seed):
    """Camera pair (1, 3) of two medium development scenes
    (benchmarks/bench_geometry_synth.py) where one of five RANSAC seeds of the old
    budget (3000 hypotheses, 4000 pre-scoring candidates, 8 finalists) landed in a
    wrong basin (explaining 0.28 and 0.08 of the true foot pairs): with the default
    budget every seed finds the right one."""
    cfg = SynthConfig(
        cameras=3, people=6, frames=80, width=640, height=360, seed=seed, difficulty="medium"
    )
    scene = generate_scene(tmp_path / "s", cfg)
    rng = np.random.default_rng(seed)
    obs, truth = {}, {}
    for k, cam in enumerate(("cam1", "cam2", "cam3")):
        gt = read_mot(scene.root / "gt" / f"{cam}.txt")
        tracks = tracks_from_gt(gt, rng, fragment_every=40, first_id=100 * (k + 1) + 1)
        obs[cam] = make_obs(cam, tracks.sorted(), (640, 360), border_margin=3.0)
        truth[cam] = make_obs(cam, gt, (640, 360), border_margin=3.0)
    c = candidates(obs["cam1"], obs["cam3"])
    t = candidates(truth["cam1"], truth["cam3"])
    same = t.ta == t.tb
    assert same.sum() >= 100
    for s in range(5):
        H, _ = ransac_homography(c, GeometryConfig(), np.random.default_rng(s))
        err = pair_errors(H, t.pa[same], t.pb[same], t.ha[same], t.hb[same])
        assert (err < 0.25).mean() > 0.5, (seed, s)
