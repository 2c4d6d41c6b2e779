"""Atomic file writes: a reader never sees a half-written output.

Every output is written to a temporary file in the same folder and renamed
over the destination, so an interrupted run leaves either the old file or
the new one, never a truncated one.

A write that the operating system refuses (a folder the user cannot write, a
read-only file system, a full disk) raises :class:`~mcmot.errors.McmotError`
with one line naming the destination and the reason, for example
``cannot write scene/tracks/c1.txt: no space left on device``; the temporary
file is removed and the destination is untouched.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from mcmot.errors import McmotError

_REASONS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.ENOTDIR: "a parent folder is a file",
}


def os_reason(exc: OSError) -> str:
    """A short lower-case reason for ``exc``: ``permission denied``, ``no space left on device``."""
    if exc.errno in _REASONS:
        return _REASONS[exc.errno]
    text = exc.strerror or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]


def write_error(path: Path, exc: OSError) -> McmotError:
    """The one-line error for a failed write of ``path``: ``cannot write PATH: REASON``."""
    return McmotError(f"cannot write {path}: {os_reason(exc)}")


def _make_folder(folder: Path, target: Path) -> None:
    """Create ``folder`` for writing ``target`` (the folder itself or a file in it)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        what = (
            "a file of that name is in the way" if folder == target else "a parent folder is a file"
        )
        raise McmotError(f"cannot write {target}: {what}") from exc
    except OSError as exc:
        raise write_error(target, exc) from exc


def make_dir(path: Path) -> Path:
    """Create the folder ``path`` (and its parents); a refusal is a one-line McmotError."""
    path = Path(path)
    _make_folder(path, path)
    return path


def current_umask() -> int:
    """The process's file-creation mask (read by setting it and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


@contextlib.contextmanager
def atomic_path(path: Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    On an exception the temporary file is removed and ``path`` is untouched;
    an ``OSError`` (from creating the folder or the temporary file, from the
    block's writing, or from the rename) becomes a one-line McmotError naming
    ``path`` and the reason. ``suffix`` sets the temporary file's ending
    (some writers, such as OpenCV's video writer or ``np.savez``, choose the
    format by it).
    """
    path = Path(path)
    _make_folder(path.parent, path)
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.",
            suffix=suffix if suffix is not None else ".tmp",
            dir=path.parent,
        )
        os.close(fd)
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; outputs follow the umask
    except OSError as exc:
        raise write_error(path, exc) from exc
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as exc:
        _remove(tmp_path)
        raise write_error(path, exc) from exc
    except BaseException:
        _remove(tmp_path)
        raise


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file for writing; it replaces ``path`` when the block ends."""
    with atomic_path(path) as tmp, open(tmp, mode) as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


def write_text(path: Path, text: str) -> None:
    """Atomically write ``text`` to ``path``."""
    with atomic_open(path, "w") as fh:
        fh.write(text)


def write_json(path: Path, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON to ``path``."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def append_text(path: Path, text: str) -> None:
    """Append ``text`` to ``path`` (not atomic: for logs that grow line by line)."""
    try:
        with open(path, "a") as fh:
            fh.write(text)
    except OSError as exc:
        raise write_error(Path(path), exc) from exc


def write_npz(path: Path, **arrays: np.ndarray) -> None:
    """Atomically write arrays to an ``.npz`` file at ``path``."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)
