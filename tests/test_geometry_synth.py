"""Fitted homographies against the true cameras of synthetic scenes (tests only:
association never reads synth/cameras.json)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mcmot.association.data import make_obs
from mcmot.association.geometry import GeometryConfig, fit_pair, transfer
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
