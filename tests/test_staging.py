"""A stage's outputs over all cameras appear together or not at all, and a rerun after a
crash continues without --overwrite."""

from __future__ import annotations

from pathlib import Path

import pytest

import mcmot.stages.track as track_mod
import mcmot.staging as staging_mod
from mcmot.errors import McmotError
from mcmot.scene import Scene
from mcmot.stages.associate import run_associate
from mcmot.stages.detect import DetectConfig, run_detect
from mcmot.stages.track import run_track
from mcmot.staging import JOURNAL, STAGING_DIR, recover, staged

CAMS = ("c1", "c2", "c3")


def _scene(root: Path) -> Scene:
    (root / "gt").mkdir(parents=True)
    for k, cam in enumerate(CAMS):
        rows = [
            f"{f},{i},{40 * i + 2 * f + 5 * k},50,20,60,1" for f in range(1, 9) for i in (1, 2, 3)
        ]
        (root / "gt" / f"{cam}.txt").write_text("\n".join(rows) + "\n")
    sc = Scene(root)
    run_detect(sc, DetectConfig(from_gt=True))
    return sc


def _contents(sc: Scene, stage: str) -> dict[str, bytes]:
    return {cam: p.read_bytes() for cam, p in sc.stage_files(stage).items()}


def _crash_on_camera(monkeypatch, name: str) -> None:
    real = track_mod.track_camera

    def crashing(det, feats, n_frames, cfg, cam, progress=None, **kwargs):
        if cam == name:
            raise KeyboardInterrupt  # the user's Ctrl-C, or a kill, halfway through
        return real(det, feats, n_frames, cfg, cam, progress, **kwargs)

    monkeypatch.setattr(track_mod, "track_camera", crashing)


def test_a_crash_between_cameras_leaves_no_camera_written_and_a_plain_rerun_finishes(
    tmp_path, monkeypatch
):
    sc = _scene(tmp_path / "s")
    _crash_on_camera(monkeypatch, "c2")
    with pytest.raises(KeyboardInterrupt):
        run_track(sc, features="none")
    assert sc.stage_files("tracks") == {}
    assert sc.read_record("track") is None
    assert not (sc.root / STAGING_DIR).exists()
    monkeypatch.undo()
    run_track(sc, features="none")  # no --overwrite needed
    assert list(sc.stage_files("tracks")) == list(CAMS)
    assert sc.is_current("track")


def test_a_crash_while_replacing_outputs_keeps_every_old_camera(tmp_path, monkeypatch):
    sc = _scene(tmp_path / "s")
    run_track(sc, features="none")
    before = _contents(sc, "tracks")
    record = sc.provenance_path("track").read_bytes()
    _crash_on_camera(monkeypatch, "c3")
    with pytest.raises(KeyboardInterrupt):
        run_track(sc, features="none", overwrite=True, cameras=["c1", "c3"])
    assert _contents(sc, "tracks") == before
    assert sc.provenance_path("track").read_bytes() == record
    assert sc.is_current("track")


def test_an_error_names_the_destination_not_the_staging_folder(tmp_path, monkeypatch):
    sc = _scene(tmp_path / "s")

    def full_disk(path, table, **kwargs):
        raise McmotError(f"cannot write {path}: no space left on device")

    monkeypatch.setattr(track_mod, "write_mot", full_disk)
    with pytest.raises(McmotError) as err:
        run_track(sc, features="none")
    assert str(err.value) == f"cannot write {sc.path('tracks', 'c1')}: no space left on device"
    assert not (sc.root / STAGING_DIR).exists()


def test_a_run_killed_while_renaming_is_finished_by_the_next_run(tmp_path, monkeypatch):
    sc = _scene(tmp_path / "s")
    run_track(sc, features="none")
    old = _contents(sc, "tracks")
    real_move = staging_mod._move
    moved: list[str] = []

    def killed_after_one(src, dst):
        if len(moved) == 1:
            raise KeyboardInterrupt  # kill -9 between two renames
        moved.append(str(dst))
        real_move(src, dst)

    monkeypatch.setattr(staging_mod, "_move", killed_after_one)
    with pytest.raises(KeyboardInterrupt):
        run_associate(sc, overwrite=True)
    monkeypatch.undo()
    assert len(moved) == 1 and (sc.root / STAGING_DIR / "associate" / JOURNAL).is_file()

    # the next run of the stage finds the complete journal and puts every file in place
    with pytest.raises(McmotError, match="pass --overwrite"):
        run_associate(sc)
    assert list(sc.stage_files("global")) == list(CAMS)
    assert sc.is_current("associate")
    assert not (sc.root / STAGING_DIR).exists()
    assert _contents(sc, "tracks") == old


def test_staged_files_land_together_and_removals_happen_at_commit(tmp_path):
    root = tmp_path
    (root / "out").mkdir()
    (root / "out" / "stale.txt").write_text("old")
    with staged(root, "demo") as st:
        st.path(root / "out" / "a.txt").write_text("A")
        st.path(root / "out" / "b.txt").write_text("B")
        st.remove(root / "out" / "stale.txt")
        assert not (root / "out" / "a.txt").exists()  # nothing in place before the end
        assert (root / "out" / "stale.txt").exists()
    assert (root / "out" / "a.txt").read_text() == "A"
    assert (root / "out" / "b.txt").read_text() == "B"
    assert not (root / "out" / "stale.txt").exists()
    assert not (root / STAGING_DIR).exists()


def test_an_unfinished_staging_folder_without_journal_is_discarded(tmp_path):
    with pytest.raises(KeyboardInterrupt), staged(tmp_path, "demo") as st:
        st.path(tmp_path / "x.txt").write_text("new")
        raise KeyboardInterrupt
    assert not (tmp_path / "x.txt").exists()
    # a folder left by kill -9 (no cleanup ran) is discarded on the next run
    left = tmp_path / STAGING_DIR / "demo" / "files"
    left.mkdir(parents=True)
    (left / "x.txt").write_text("half")
    assert recover(tmp_path, "demo") == "discarded"
    assert not (tmp_path / "x.txt").exists() and not (tmp_path / STAGING_DIR).exists()
    assert recover(tmp_path, "demo") is None


def test_stray_temporary_files_are_not_taken_for_cameras(tmp_path):
    sc = _scene(tmp_path / "s")
    (sc.stage_dir("det") / ".c9.txt.abc123.tmp").write_text("1,1,1,1,1,1,1\n")
    (sc.stage_dir("det") / ".c9.npz.abc123.txt").write_text("1,1,1,1,1,1,1\n")
    assert list(sc.stage_files("det")) == list(CAMS)
    assert [c.name for c in sc.cameras()] == list(CAMS)
