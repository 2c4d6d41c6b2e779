"""Label-free health of a scene's identities (``mcmot info``), worked by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mcmot.association.geometry import PairGeometry, save_geometry
from mcmot.association.quality import PairQuality
from mcmot.cli import app
from mcmot.metrics.health import identity_health
from mcmot.motio import MotTable, write_mot


def table(rows: list[tuple[int, int]]) -> MotTable:
    """(frame, id) rows with boxes that differ per row."""
    f = np.array([r[0] for r in rows], np.int64)
    i = np.array([r[1] for r in rows], np.int64)
    boxes = np.stack([f * 3.0 + i, i * 7.0, np.full(len(f), 10.0), np.full(len(f), 20.0)], 1)
    return MotTable(f, i, boxes, np.ones(len(f)), np.full((len(f), 3), -1.0))


#: id 1 in both cameras (frames 1-3), id 2 only in c0 (frames 2-6), id 3 only in c1
#: (frames 11-12): 3 identities, one of them seen by two cameras.
C0 = [(1, 1), (2, 1), (3, 1), (2, 2), (3, 2), (4, 2), (5, 2), (6, 2)]
C1 = [(1, 1), (2, 1), (3, 1), (11, 3), (12, 3)]


def test_identities_cameras_and_bins_are_counted_as_worked_by_hand():
    h = identity_health({"c0": table(C0), "c1": table(C1)}, bin_frames=5)
    assert h.identities == 3
    assert h.by_cameras == (2, 1)  # ids 2 and 3 by one camera, id 1 by two
    assert h.multi_camera == pytest.approx(1 / 3)
    assert h.multi_camera_rows == pytest.approx(6 / 13)
    assert h.per_camera == {"c0": 2, "c1": 2}
    assert h.max_in_view == 2 and h.max_in_one_camera == 2
    assert h.per_person == pytest.approx(3 / 2)
    # bins 1-5, 6-10 (only frame 6 of id 2), 11-12 (the last frame with a row)
    got = [(b.start, b.end, b.in_view, b.in_one_camera, b.active, b.new) for b in h.bins]
    assert got == [(1, 5, 2, 2, 2, 2), (6, 10, 1, 1, 1, 0), (11, 12, 1, 1, 1, 1)]


def test_unlinked_cameras_count_each_person_twice_in_view_but_once_per_camera():
    c1 = [(f, i + 10) for f, i in C0]  # the same people under other ids
    h = identity_health({"c0": table(C0), "c1": table(c1)}, bin_frames=100)
    assert h.identities == 4 and h.multi_camera == 0.0
    assert h.max_in_view == 4 and h.max_in_one_camera == 2
    assert h.per_person == pytest.approx(2.0)


def test_the_figures_do_not_depend_on_row_order_or_camera_names():
    rng = np.random.default_rng(0)
    a = identity_health({"c0": table(C0), "c1": table(C1)}, bin_frames=4)
    shuffled = {
        "zz": table([C1[k] for k in rng.permutation(len(C1))]),
        "aa": table([C0[k] for k in rng.permutation(len(C0))]),
    }
    b = identity_health(shuffled, bin_frames=4)
    assert (a.identities, a.by_cameras, a.multi_camera, a.multi_camera_rows) == (
        b.identities,
        b.by_cameras,
        b.multi_camera,
        b.multi_camera_rows,
    )
    assert a.bins == b.bins
    assert sorted(a.per_camera.values()) == sorted(b.per_camera.values())


def test_a_scene_without_rows_has_no_identities_and_a_bad_bin_is_refused():
    empty = MotTable(
        np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0),
        np.zeros((0, 3)),
    )  # fmt: skip
    h = identity_health({"c0": empty}, bin_frames=10)
    assert h.identities == 0 and h.bins == () and h.per_person == 0.0
    with pytest.raises(ValueError, match="bin_frames"):
        identity_health({"c0": table(C0)}, bin_frames=0)


def _scene(root: Path) -> Path:
    write_mot(root / "tracks" / "c0.txt", table(C0))
    write_mot(root / "tracks" / "c1.txt", table(C1))
    write_mot(root / "global" / "c0.txt", table(C0))
    write_mot(root / "global" / "c1.txt", table(C1))
    return root


def test_info_prints_the_identities_and_their_counts_over_time(tmp_path):
    scene = _scene(tmp_path / "s")
    res = CliRunner().invoke(app, ["info", str(scene), "--fps", "1", "--bin-seconds", "5"])
    assert res.exit_code == 0, res.output
    assert "identities (global/)" in res.output and "identities over time" in res.output
    assert "geometry" not in res.output  # no geometry.json in this scene


def _with_geometry(scene: Path) -> Path:
    q = PairQuality(matches=40, inlier_rate=0.8, weight=1.0, reason="trusted: gap 0.90")
    save_geometry(scene / "geometry.json", {("c0", "c1"): PairGeometry("c0", "c1", np.eye(3), q)})
    return scene


def test_info_prints_each_camera_pair_and_why_it_is_trusted(tmp_path):
    scene = _with_geometry(_scene(tmp_path / "s"))
    res = CliRunner().invoke(app, ["info", str(scene), "--fps", "1"])
    assert res.exit_code == 0, res.output
    assert "geometry (per camera pair)" in res.output
    assert "c0-c1" in res.output and "trusted" in res.output


def test_info_json_gives_the_figures_and_no_nan(tmp_path):
    scene = _with_geometry(_scene(tmp_path / "s"))
    res = CliRunner().invoke(
        app, ["info", str(scene), "--fps", "1", "--bin-seconds", "5", "--json"]
    )
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["bin_frames"] == 5
    assert d["pairs"][0]["why"] == "trusted: gap 0.90"
    assert d["pairs"][0]["median_error"] is None  # NaN: no match errors were measured
    assert d["identities"]["identities"] == 3 and len(d["identities"]["bins"]) == 3


def test_info_refuses_a_bin_that_is_not_positive_in_one_line(tmp_path):
    scene = _scene(tmp_path / "s")
    res = CliRunner().invoke(app, ["info", str(scene), "--bin-seconds", "0"])
    assert res.exit_code == 1
    assert "bin seconds must be > 0" in res.output and "Traceback" not in res.output
