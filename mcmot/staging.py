"""A stage's outputs over all cameras appear together or not at all.

A stage writes every output file (and its provenance record) into
``SCENE/.mcmot-staging/<stage>/`` instead of into place. When the last one is
written, :meth:`Staging.commit` writes a journal listing every move (the
commit point), renames each staged file over its destination, deletes the
files the stage no longer produces, and removes the staging folder.

What a crash leaves behind, and what the next run of the stage does with it
(:func:`recover`, called when the stage takes its lock):

- killed before the journal was written: the old outputs are untouched; the
  staging folder is discarded, and the rerun needs no ``--overwrite`` when
  there were no old outputs;
- killed while renaming: the journal is complete, so the remaining renames
  are carried out (roll forward) and the scene holds the new outputs of
  every camera, never a mix of old and new.

Every staged file lies in the scene folder, on the same file system as its
destination, so each rename is atomic and keeps the file's size and
modification time (the provenance record's stamps stay valid).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from mcmot.atomic import make_dir, write_error, write_json
from mcmot.errors import McmotError

#: The folder, inside a scene, that holds the outputs being written.
STAGING_DIR = ".mcmot-staging"
#: The journal whose presence marks a staging folder as complete.
JOURNAL = "journal.json"
_FILES = "files"


class Staging:
    """The outputs of one run of ``stage`` on the scene at ``root``, being written.

    Use :func:`staged` rather than building one directly.
    """

    def __init__(self, root: Path, stage: str) -> None:
        self.root = Path(root)
        self.stage = stage
        self.dir = self.root / STAGING_DIR / stage
        self._moves: dict[Path, Path] = {}  # destination -> staged file
        self._removals: list[Path] = []

    def path(self, final: Path) -> Path:
        """Where to write the output whose destination is ``final`` (a path in the scene)."""
        final = Path(final)
        staged = self.dir / _FILES / self._rel(final)
        make_dir(staged.parent)
        self._moves[final] = staged
        self._removals = [p for p in self._removals if p != final]
        return staged

    def remove(self, final: Path) -> None:
        """Delete ``final`` at commit: an output this run of the stage no longer produces."""
        final = Path(final)
        self._moves.pop(final, None)
        self._removals.append(final)

    def where(self, final: Path) -> Path:
        """Where ``final``'s content is now: its staged file, or ``final`` itself."""
        return self._moves.get(Path(final), Path(final))

    def shown(self, message: str) -> str:
        """``message`` with each staged file's path replaced by its destination's."""
        for final, staged_path in self._moves.items():
            message = message.replace(str(staged_path), str(final))
        return message

    def commit(self) -> None:
        """Put every staged file in place and delete the removed ones (see the module docstring)."""
        unwritten = [f for f, s in self._moves.items() if not s.is_file()]
        if unwritten:
            raise McmotError(f"{self.stage}: output was never written: {unwritten[0]}")
        journal = {
            "stage": self.stage,
            "moves": [
                [str(s.relative_to(self.dir)), str(self._rel(f))] for f, s in self._moves.items()
            ],
            "remove": [str(self._rel(f)) for f in self._removals],
        }
        write_json(self.dir / JOURNAL, journal)
        _apply(self.root, self.dir, journal)

    def discard(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        _remove_empty(self.dir.parent)

    def _rel(self, final: Path) -> Path:
        try:
            return Path(os.path.abspath(final)).relative_to(os.path.abspath(self.root))
        except ValueError:
            raise ValueError(f"{final} is not inside the scene {self.root}") from None


@contextlib.contextmanager
def staged(root: Path, stage: str) -> Iterator[Staging]:
    """Stage the outputs of ``stage``: in place together when the block ends, or not at all.

    An exception in the block (an error, Ctrl-C) discards everything staged
    and leaves the old outputs as they were.
    """
    recover(root, stage)
    st = Staging(root, stage)
    try:
        yield st
    except McmotError as exc:
        st.discard()
        raise McmotError(st.shown(str(exc))) from None
    except BaseException:
        st.discard()
        raise
    st.commit()


def recover(root: Path, stage: str) -> str | None:
    """Finish or discard what a crashed run of ``stage`` left in ``root``'s staging folder.

    Returns ``"finished"`` (the journal was complete: the outputs were put in
    place), ``"discarded"`` (no journal: nothing was in place yet) or None
    (nothing was left).
    """
    d = Path(root) / STAGING_DIR / stage
    if not d.is_dir():
        return None
    try:
        journal = json.loads((d / JOURNAL).read_text())
    except (OSError, ValueError):
        journal = None
    if isinstance(journal, dict) and isinstance(journal.get("moves"), list):
        _apply(Path(root), d, journal)
        return "finished"
    shutil.rmtree(d, ignore_errors=True)
    _remove_empty(d.parent)
    return "discarded"


def _apply(root: Path, d: Path, journal: dict) -> None:
    """Carry out ``journal``'s renames and deletions, then remove the staging folder ``d``.

    Safe to repeat: a file already moved is not staged any more.
    """
    for staged_rel, final_rel in journal["moves"]:
        src, dst = d / staged_rel, root / final_rel
        if not src.is_file():
            continue
        _move(src, dst)
    for final_rel in journal.get("remove", []):
        try:
            (root / final_rel).unlink(missing_ok=True)
        except OSError as exc:
            raise write_error(root / final_rel, exc) from exc
    shutil.rmtree(d, ignore_errors=True)
    _remove_empty(d.parent)


def _move(src: Path, dst: Path) -> None:
    make_dir(dst.parent)
    try:
        os.replace(src, dst)
    except OSError as exc:
        raise write_error(dst, exc) from exc


def _remove_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()
