"""Association removes each camera's mean feature before comparing features across cameras."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mcmot.association.config import AssociateConfig, FrameTimes
from mcmot.association.data import make_obs
from mcmot.association.pipeline import feature_centres
from mcmot.association.smoothing import camera_centres, centre_features
from mcmot.config import override
from mcmot.stages.associate import run_associate
from tests.test_assoc import concat, global_ids, one, tracklet, write_scene

APP = AssociateConfig(cues="appearance")


def _tinted_scene(root):
    """Three cameras see three people (feature dims 0-2) for 30 frames; cameras c1 and
    c2 add one strong tint (dim 5), c3 another (dim 6). Person p (0-2) has local id
    10 (p + 1) + the camera's index."""
    tracks, feats = {}, {}
    for k, (name, tint) in enumerate([("c1", 5), ("c2", 5), ("c3", 6)]):
        t = concat([tracklet(range(1, 31), 10 * (p + 1) + k, 10 + 150 * p) for p in range(3)])
        f = np.zeros((len(t), 8), np.float32)
        f[np.arange(len(t)), t.ids // 10 - 1] = 1.0
        f[:, tint] = 3.0
        tracks[name], feats[name] = t, f / np.linalg.norm(f, axis=1, keepdims=True)
    return write_scene(root, tracks, feats)


def _linked_across_all_cameras(root) -> bool:
    ids = [global_ids(root, c) for c in ("c1", "c2", "c3")]
    return all(len({one(g, 10 * (p + 1) + k) for k, g in enumerate(ids)}) == 1 for p in range(3))


def test_a_camera_wide_tint_does_not_hide_who_is_who(tmp_path):
    # raw cosines: 0.9-1.0 for any two people of c1 and c2, 0-0.1 for anyone of c3 against
    # them, so one same/different threshold cannot serve both camera pairs
    root = _tinted_scene(tmp_path)
    run_associate(root, override(APP, centre_features=False))
    assert not _linked_across_all_cameras(root)
    run_associate(root, APP, overwrite=True)
    assert _linked_across_all_cameras(root)
    ids = global_ids(root, "c1")
    assert len({one(ids, 10 * (p + 1)) for p in range(3)}) == 3


def test_the_centre_is_the_mean_of_the_rows_with_a_feature_and_empty_rows_stay_empty():
    t = concat([tracklet([1, 2, 3], 1, 0), tracklet([1, 2], 2, 100)])
    o = make_obs("a", t, (640, 480), border_margin=3)
    f = np.array([[1, 0], [0, 1], [0, 0], [1, 0], [0, 0]], np.float32)  # rows 2, 4: none
    o = replace(o, feats=f)
    (centre,) = camera_centres([o])
    np.testing.assert_allclose(centre, [2 / 3, 1 / 3])
    (c,) = centre_features([o], [centre])
    r = np.sqrt(0.5)  # (1/3, -1/3) and (-2/3, 2/3), normalised
    np.testing.assert_allclose(c.feats[[0, 1, 3]], [[r, -r], [-r, r], [r, -r]], atol=1e-6)
    assert not c.feats[[2, 4]].any()
    assert camera_centres([replace(o, feats=None)]) == [None]


def test_online_the_centre_comes_from_the_warm_up_only():
    t = concat([tracklet(range(1, 41), 1, 0)])
    o = make_obs("a", t, (640, 480), border_margin=3)
    f = np.zeros((len(o), 2), np.float32)
    f[o.frames <= 20, 0] = 1.0  # the first 20 frames look one way, the rest another
    f[o.frames > 20, 1] = 1.0
    o = replace(o, feats=f)
    times = FrameTimes.of(AssociateConfig(online_warmup=2.0), 10.0)
    online = AssociateConfig(mode="online", online_warmup=2.0, fps=10)
    np.testing.assert_allclose(feature_centres([o], online, times)[0], [1, 0])
    offline = AssociateConfig(fps=10)
    np.testing.assert_allclose(feature_centres([o], offline, times)[0], [0.5, 0.5])
    assert feature_centres([o], override(offline, centre_features=False), times) == [None]
