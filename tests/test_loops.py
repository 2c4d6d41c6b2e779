"""Loops of three cameras: a trusted pair that the routes through third cameras
contradict is switched off; with a single route, the loop's least supported pair."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.simulate import toy_scene
from mcmot.association.config import GeometryConfig
from mcmot.association.data import make_obs
from mcmot.association.geometry import PairGeometry
from mcmot.association.loops import check_loops
from mcmot.association.quality import PairQuality

CFG = GeometryConfig()


def cam(theta: float, tx: float, ty: float, s: float = 40.0) -> np.ndarray:
    """A floor (metres) -> image homography: rotation, scale, mild foreshortening."""
    c, sn = np.cos(theta), np.sin(theta)
    return np.array([[s * c, -s * sn, tx], [s * sn * 0.5, s * c * 0.5, ty], [0.01 * sn, 0.004, 1]])


CAMS = [cam(0.0, 120, 150), cam(0.5, 200, 100), cam(-0.4, 150, 180), cam(0.9, 250, 120)]
#: A wrong fit: the true homography followed by a shift of 150 pixels in the target view.
SHIFT = np.array([[1.0, 0, 150], [0, 1, 0], [0, 0, 1]])


def scene(n_cams: int, *, seed: int = 0):
    tables = toy_scene(CAMS[:n_cams], people=6, frames=60, rng=np.random.default_rng(seed))
    return [make_obs(f"c{i}", t, (640, 480), border_margin=3.0) for i, t in enumerate(tables)]


def pairs_of(n_cams: int, persistence: dict[tuple[int, int], float], wrong=(), holdout=None):
    """Every pair trusted (weight 1) with its true homography, or a shifted one for
    the pairs in ``wrong``; persistence 0.9 unless given, holdout not measured
    (NaN) unless given."""
    holdout = holdout or {}
    out = {}
    for i in range(n_cams):
        for j in range(i + 1, n_cams):
            H = CAMS[j] @ np.linalg.inv(CAMS[i])
            if (i, j) in wrong:
                H = SHIFT @ H
            q = PairQuality(
                weight=1.0,
                persistence=persistence.get((i, j), 0.9),
                holdout=holdout.get((i, j), float("nan")),
                reason="trusted",
            )
            out[(f"c{i}", f"c{j}")] = PairGeometry(f"c{i}", f"c{j}", H, q)
    return out


def weights(pairs) -> dict[str, float]:
    return {f"{a}-{b}": g.quality.weight for (a, b), g in pairs.items()}


def test_a_loop_of_right_pairs_keeps_every_pair():
    pairs = pairs_of(3, {(0, 1): 0.6})
    assert weights(check_loops(scene(3), pairs, CFG)) == {"c0-c1": 1, "c0-c2": 1, "c1-c2": 1}


def test_a_lone_loop_that_disagrees_switches_off_its_least_lasting_pair():
    pairs = pairs_of(3, {(1, 2): 0.62, (0, 1): 0.95, (0, 2): 0.9}, wrong={(1, 2)})
    out = check_loops(scene(3), pairs, CFG)
    assert weights(out) == {"c0-c1": 1, "c0-c2": 1, "c1-c2": 0}
    why = out[("c1", "c2")].quality.reason
    assert why.startswith("off: the loop through c0 disagrees") and "least supported" in why


def test_a_lone_loop_blames_the_pair_whose_matches_predict_each_other_least():
    # the wrong pair lasts longest, but its matches predict each other poorly:
    # 0.95 x 0.4 = 0.38 against 0.7 x 1.0 and 0.8 (holdout not measured)
    pairs = pairs_of(
        3,
        {(1, 2): 0.95, (0, 1): 0.7, (0, 2): 0.8},
        wrong={(1, 2)},
        holdout={(1, 2): 0.4, (0, 1): 1.0},
    )
    assert weights(check_loops(scene(3), pairs, CFG)) == {"c0-c1": 1, "c0-c2": 1, "c1-c2": 0}


def test_the_choice_does_not_depend_on_camera_names_or_pair_order():
    pairs = pairs_of(3, {(1, 2): 0.62}, wrong={(1, 2)})
    # the same loop with every pair keyed the other way round
    flipped = {(b, a): g.reversed() for (a, b), g in reversed(list(pairs.items()))}
    out = check_loops(scene(3), flipped, CFG)
    assert weights(out) == {"c2-c1": 0, "c2-c0": 1, "c1-c0": 1}


def test_a_tie_for_least_supported_switches_nothing_off():
    pairs = pairs_of(3, {(1, 2): 0.8, (0, 1): 0.8, (0, 2): 0.9}, wrong={(1, 2)})
    assert set(weights(check_loops(scene(3), pairs, CFG)).values()) == {1.0}


@pytest.mark.parametrize("wrong", [(0, 1), (2, 3)])
def test_with_four_cameras_a_pair_every_route_contradicts_is_switched_off(wrong):
    # the wrong pair lasts longest: the two routes decide, not persistence
    pairs = pairs_of(4, {wrong: 0.99}, wrong={wrong})
    w = weights(check_loops(scene(4), pairs, CFG))
    assert w.pop(f"c{wrong[0]}-c{wrong[1]}") == 0.0
    assert set(w.values()) == {1.0}


def test_routes_use_each_frame_s_trusted_window_and_nothing_where_none_is_trusted():
    from mcmot.association.loops import _mappings
    from mcmot.association.windows import WindowFit

    H1, H2 = np.diag([2.0, 2.0, 1.0]), np.diag([3.0, 3.0, 1.0])
    on, off = PairQuality(weight=1.0, reason="trusted"), PairQuality(weight=0.0, reason="off")
    wins = (WindowFit(1, 30, H1, on), WindowFit(31, 60, H2, off), WindowFit(61, 90, H2, on))
    pairs = {("a", "b"): PairGeometry("a", "b", H1, on, moving=True, windows=wins)}
    frames = np.array([5, 30, 31, 60, 61, 95])
    (m1, G1), (m3, G3) = _mappings(pairs, "a", "b", frames)
    assert m1.tolist() == [True, True, False, False, False, False] and np.array_equal(G1, H1)
    assert m3.tolist() == [False, False, False, False, True, False] and np.array_equal(G3, H2)
    (m1, G1), _ = _mappings(pairs, "b", "a", frames)  # the other way round: inverted
    assert m1[:2].all() and np.allclose(G1, np.linalg.inv(H1))
    assert _mappings(pairs, "a", "c", frames) == []
