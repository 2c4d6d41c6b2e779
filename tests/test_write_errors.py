"""Writes the operating system refuses (a read-only folder, a full disk) are one-line errors.

The full disk is simulated by making ``os.replace`` or ``os.fsync`` fail with
ENOSPC (that works as root too); the read-only folders need a user that
permissions apply to, so those tests are skipped as root.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
from pretrain_fixtures import make_tiny_scene
from typer.testing import CliRunner

from mcmot.atomic import make_dir, write_npz, write_text
from mcmot.cli import app
from mcmot.errors import McmotError
from mcmot.motio import MotTable, write_mot
from mcmot.synth import SynthConfig, generate_scene

AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_permissions = pytest.mark.skipif(AS_ROOT, reason="root ignores folder permissions")


def _full_disk(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def _temporaries(folder: Path) -> list[Path]:
    """Files an atomic write leaves behind when it does not clean up (``.<name>.*``)."""
    return [p for p in folder.rglob(".*") if p.is_file()]


# ------------------------------------------------------------------ the atomic writes
def test_a_full_disk_while_writing_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "out" / "a.txt"
    write_text(target, "old\n")
    monkeypatch.setattr(os, "fsync", _full_disk)
    with pytest.raises(McmotError) as exc:
        write_text(target, "new\n")
    assert str(exc.value) == f"cannot write {target}: no space left on device"
    assert target.read_text() == "old\n"
    assert _temporaries(tmp_path) == []


@pytest.mark.parametrize(
    "write",
    [
        lambda p: write_text(p / "a.txt", "x"),
        lambda p: write_mot(p / "a.txt", MotTable.from_arrays([1], [1], [[0, 0, 1, 1]])),
        lambda p: write_npz(p / "a.npz", x=np.zeros(3)),
    ],
    ids=["text", "mot", "npz"],
)
def test_a_failed_rename_is_one_line_and_leaves_no_temporary(tmp_path, monkeypatch, write):
    monkeypatch.setattr(os, "replace", _full_disk)
    with pytest.raises(McmotError, match=r"^cannot write .*a\.(txt|npz): no space left on device$"):
        write(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_file_where_a_folder_is_needed(tmp_path):
    (tmp_path / "det").write_text("")
    with pytest.raises(McmotError, match="cannot write .*det: a file of that name is in the way"):
        make_dir(tmp_path / "det")
    with pytest.raises(McmotError, match="cannot write .*c1.txt: a parent folder is a file"):
        write_text(tmp_path / "det" / "x" / "c1.txt", "")


@needs_permissions
def test_a_read_only_folder_is_permission_denied(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(McmotError, match=f"^cannot write {folder}/a.txt: permission denied$"):
            write_text(folder / "a.txt", "x")
        with pytest.raises(McmotError, match="permission denied"):
            make_dir(folder / "sub")
    finally:
        folder.chmod(0o700)
    assert list(folder.iterdir()) == []


# ------------------------------------------------------------------ the commands
@pytest.fixture(scope="module")
def ready(tmp_path_factory) -> Path:
    """A tiny scene with pixels, det/, tracks/ and global/ (from gt/)."""
    root = make_tiny_scene(tmp_path_factory.mktemp("w") / "scene", frames=2, persons=1)
    for stage in ("tracks", "global"):
        shutil.copytree(root / "gt", root / stage)
    return root


@pytest.fixture
def scene(ready, tmp_path) -> Path:
    return Path(shutil.copytree(ready, tmp_path / "scene"))


COMMANDS = {
    "detect": (["detect", "--from-gt", "--overwrite"], "det/cam1.txt"),
    "track": (["track", "--features", "none", "--overwrite"], "tracks/cam1.txt"),
    "evaluate": (["evaluate"], "eval.json"),
    "render": (["render", "--frame", "1"], "global_000001.png"),
}


def _run(scene: Path, name: str):
    args, _ = COMMANDS[name]
    return CliRunner().invoke(app, [args[0], str(scene), *args[1:]])


def _assert_one_line_write_error(res, path: Path, reason: str) -> None:
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert lines[-1] == f"error: cannot write {path}: {reason}", res.stderr
    assert not any(ln.startswith("error") for ln in lines[:-1]), res.stderr


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_full_disk_is_one_line_error_and_exit_1(scene, monkeypatch, name):
    output = scene / COMMANDS[name][1]
    before = output.read_bytes() if output.is_file() else None
    monkeypatch.setattr(os, "replace", _full_disk)
    res = _run(scene, name)
    monkeypatch.undo()
    _assert_one_line_write_error(res, output, "no space left on device")
    assert (output.read_bytes() if output.is_file() else None) == before
    assert _temporaries(scene) == []


@needs_permissions
@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_scene_folder_the_user_cannot_write_is_one_line_error(scene, name):
    output = scene / COMMANDS[name][1]
    folder = output.parent
    folder.chmod(0o500)
    try:
        res = _run(scene, name)
    finally:
        folder.chmod(0o700)
    _assert_one_line_write_error(res, output, "permission denied")
    assert _temporaries(scene) == []


def test_the_error_line_shows_brackets_in_a_path_as_they_are(ready, tmp_path, monkeypatch):
    scene = Path(shutil.copytree(ready, tmp_path / "scene[/red]"))
    monkeypatch.setattr(os, "replace", _full_disk)
    res = _run(scene, "evaluate")
    monkeypatch.undo()
    _assert_one_line_write_error(res, scene / "eval.json", "no space left on device")


def test_outputs_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        write_text(tmp_path / "a" / "x.txt", "hello\n")
        scene = generate_scene(tmp_path / "s", SynthConfig(cameras=1, people=1, frames=2))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a" / "x.txt").stat().st_mode) == 0o640
    assert stat.S_IMODE(scene.root.stat().st_mode) == 0o750
    assert stat.S_IMODE(scene.path("gt", "cam1").stat().st_mode) == 0o640
