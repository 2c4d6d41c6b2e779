"""A stage holds a lock on its scene while it runs: a second run of it stops instead of racing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mcmot.errors import McmotError
from mcmot.scene import Scene
from mcmot.stages.detect import DetectConfig, run_detect
from mcmot.stages.track import run_track


def _scene(root: Path) -> Scene:
    (root / "gt").mkdir(parents=True)
    rows = [f"{f},{i},{40 * i + 2 * f},50,20,60,1" for f in range(1, 6) for i in (1, 2)]
    (root / "gt" / "c1.txt").write_text("\n".join(rows) + "\n")
    sc = Scene(root)
    run_detect(sc, DetectConfig(from_gt=True))
    return sc


def _finished_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_second_run_of_a_stage_stops_while_the_first_holds_the_scene(tmp_path):
    sc = _scene(tmp_path / "s")
    lock = sc.root / ".mcmot-track.lock"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock.write_text(f"{other.pid}\n")
        with pytest.raises(McmotError, match=rf"another `mcmot track` \(process {other.pid}\)"):
            run_track(sc, features="none")
        assert not sc.stage_dir("tracks").exists()
        assert lock.read_text().strip() == str(other.pid)  # not ours to remove
    finally:
        other.kill()
        other.wait()


def test_a_lock_left_by_a_dead_process_is_taken_over_and_released(tmp_path):
    sc = _scene(tmp_path / "s")
    lock = sc.root / ".mcmot-track.lock"
    lock.write_text(f"{_finished_pid()}\n")
    run_track(sc, features="none")
    assert sc.path("tracks", "c1").is_file()
    assert not lock.exists()


def test_the_lock_is_released_when_the_stage_fails(tmp_path):
    sc = _scene(tmp_path / "s")
    run_track(sc, features="none")
    with pytest.raises(McmotError, match="pass --overwrite"):
        run_track(sc, features="none")
    assert not (sc.root / ".mcmot-track.lock").exists()
