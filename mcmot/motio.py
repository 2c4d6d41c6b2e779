"""Reading, writing and validating MOTChallenge text files.

A row is ``frame,id,x,y,w,h,conf,x,y,z``: 6 to 10 columns, separated by
commas or white space. Missing trailing columns read as ``conf = 1`` and
``x, y, z = -1``. Detections carry ``id = -1``.

Validation (each failure is a :class:`~mcmot.errors.McmotError` naming the
file and the 1-based line number):

- a line with fewer than 6 or more than 10 columns, or a non-number;
- a non-integer frame or id, NaN or infinite values;
- a negative width or height;
- a frame below 1 (after the optional 0-based shift) or above
  :data:`MAX_FRAME`;
- an id beyond :data:`MAX_ID` in size (ids are read as float64, exact only
  up to it);
- a box coordinate, width or height beyond :data:`MAX_PIXELS` in size;
- in prediction files (tracks, global ids), the same ``(frame, id)`` twice
  (the MOTChallenge devkit refuses such results too).

Ground truth is read with :func:`read_truth`, which keeps rows that repeat a
``(frame, id)`` (real benchmarks have them, and their official evaluation
scores the file as it is) and returns them as :class:`Repeat` records for one
warning per file (:func:`describe_repeats`).

Repairs (documented, not errors): a UTF-8 byte order mark at the start is
dropped; blank lines and ``#`` comment lines are skipped; rows whose frames
are out of order are stably sorted by frame, so rows of one frame keep the
file's order. Written files are always sorted by (frame, id) and written
atomically.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from mcmot.atomic import atomic_open
from mcmot.errors import McmotError

#: Scene folders whose files are predictions: one box per (frame, id), as the
#: MOTChallenge devkit requires of results (``det/`` has no ids, ``gt/`` may repeat).
PREDICTION_STAGES = ("tracks", "global")

#: The largest frame number a file may hold: ten million frames is about four
#: days at 30 frames/s. Stages that step through frames stay bounded by it.
MAX_FRAME = 10**7
#: The largest identity (in size): every integer up to it is exact in float64.
MAX_ID = 2**53
#: The largest box coordinate, width or height (in size), in pixels.
MAX_PIXELS = 10**5

_SPLIT = re.compile(r"[,\s]+")
_DEFAULT_TAIL = (1.0, -1.0, -1.0, -1.0)


@dataclass(frozen=True)
class MotTable:
    """The rows of one MOT file as column arrays (N rows).

    Attributes
    ----------
    frames : (N,) int64, 1-based frame numbers
    ids : (N,) int64, identities (-1 for detections)
    boxes : (N, 4) float64, tlwh boxes in pixels
    scores : (N,) float64, column 7 (confidence or 'consider' flag)
    extra : (N, 3) float64, columns 8-10 (world x, y, z, or class/visibility)
    """

    frames: NDArray[np.int64]
    ids: NDArray[np.int64]
    boxes: NDArray[np.float64]
    scores: NDArray[np.float64]
    extra: NDArray[np.float64]

    def __post_init__(self) -> None:
        n = len(self.frames)
        shapes = {
            "ids": (self.ids.shape, (n,)),
            "boxes": (self.boxes.shape, (n, 4)),
            "scores": (self.scores.shape, (n,)),
            "extra": (self.extra.shape, (n, 3)),
        }
        for name, (got, want) in shapes.items():
            if got != want:
                raise ValueError(f"MotTable.{name} has shape {got}, expected {want}")

    def __len__(self) -> int:
        return len(self.frames)

    @classmethod
    def empty(cls) -> MotTable:
        """A table with no rows."""
        return cls(
            frames=np.zeros(0, np.int64),
            ids=np.zeros(0, np.int64),
            boxes=np.zeros((0, 4)),
            scores=np.zeros(0),
            extra=np.zeros((0, 3)),
        )

    @classmethod
    def from_arrays(
        cls,
        frames: NDArray,
        ids: NDArray,
        boxes: NDArray,
        scores: NDArray | None = None,
        extra: NDArray | None = None,
    ) -> MotTable:
        """Build a table, filling ``scores`` with 1 and ``extra`` with -1 when absent."""
        n = len(frames)
        return cls(
            frames=np.asarray(frames, np.int64).reshape(n),
            ids=np.asarray(ids, np.int64).reshape(n),
            boxes=np.asarray(boxes, np.float64).reshape(n, 4),
            scores=np.ones(n) if scores is None else np.asarray(scores, np.float64).reshape(n),
            extra=np.full((n, 3), -1.0) if extra is None else np.asarray(extra, np.float64),
        )

    @classmethod
    def concat(cls, tables: list[MotTable]) -> MotTable:
        """The rows of ``tables``, one after another."""
        if not tables:
            return cls.empty()
        return cls(
            np.concatenate([t.frames for t in tables]),
            np.concatenate([t.ids for t in tables]),
            np.concatenate([t.boxes for t in tables]),
            np.concatenate([t.scores for t in tables]),
            np.concatenate([t.extra for t in tables]),
        )

    def select(self, mask: NDArray) -> MotTable:
        """The rows where the boolean ``mask`` (or integer index) selects."""
        return MotTable(
            self.frames[mask], self.ids[mask], self.boxes[mask], self.scores[mask], self.extra[mask]
        )

    def sorted(self) -> MotTable:
        """Rows sorted by (frame, id), stable."""
        order = np.lexsort((self.ids, self.frames))
        return self.select(order)

    def frame_range(self, start: int | None, end: int | None) -> MotTable:
        """Rows with ``start <= frame <= end`` (either bound may be None)."""
        mask = np.ones(len(self), bool)
        if start is not None:
            mask &= self.frames >= start
        if end is not None:
            mask &= self.frames <= end
        return self.select(mask)

    def with_ids(self, ids: NDArray) -> MotTable:
        """The same rows with new identities."""
        return MotTable(self.frames, np.asarray(ids, np.int64), self.boxes, self.scores, self.extra)

    def frame_slices(self) -> dict[int, slice]:
        """For a table sorted by frame: frame number -> slice of its rows."""
        if len(self) == 0:
            return {}
        if np.any(np.diff(self.frames) < 0):
            raise ValueError("frame_slices needs a table sorted by frame")
        uniq, starts = np.unique(self.frames, return_index=True)
        ends = np.append(starts[1:], len(self))
        return {int(f): slice(int(s), int(e)) for f, s, e in zip(uniq, starts, ends, strict=True)}


def _parse_line(text: str, path: Path, lineno: int) -> list[float]:
    parts = [p for p in _SPLIT.split(text.strip()) if p]
    if not 6 <= len(parts) <= 10:
        raise McmotError(
            f"{path}:{lineno}: expected 6 to 10 columns (frame,id,x,y,w,h[,conf,x,y,z]), "
            f"got {len(parts)}"
        )
    try:
        values = [float(p) for p in parts]
    except ValueError:
        bad = next(p for p in parts if not _is_number(p))
        raise McmotError(f"{path}:{lineno}: not a number: {bad!r}") from None
    return values + list(_DEFAULT_TAIL[len(values) - 6 :])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Repeat:
    """One ``(frame, id)`` that stands on several rows of a file.

    Attributes
    ----------
    frame : the 1-based frame
    id : the identity
    lines : the 1-based line numbers of its rows, increasing
    """

    frame: int
    id: int
    lines: tuple[int, ...]

    def describe(self) -> str:
        """``id 4 appears twice in frame 1436 (lines 10, 11)``."""
        n = len(self.lines)
        times = "twice" if n == 2 else f"{n} times"
        shown = ", ".join(map(str, self.lines))
        return f"id {self.id} appears {times} in frame {self.frame} (lines {shown})"


def describe_repeats(name: str, repeats: list[Repeat], *, limit: int = 3) -> str:
    """One line naming the repeated ``(frame, id)`` of file ``name`` and their lines.

    At most ``limit`` repeats are spelled out; the rest are counted.
    """
    shown = "; ".join(r.describe() for r in repeats[:limit])
    more = len(repeats) - limit
    return f"{name}: {shown}" + (f"; and {more} more repeated (frame, id)" if more > 0 else "")


def _parse(text: str, path: Path, zero_based: bool) -> tuple[MotTable, NDArray[np.int64]]:
    """The checked table, stably sorted by frame, and the line number of each row."""
    rows: list[list[float]] = []
    linenos: list[int] = []
    for lineno, line in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        rows.append(_parse_line(stripped, path, lineno))
        linenos.append(lineno)
    if not rows:
        return MotTable.empty(), np.zeros(0, np.int64)
    data = np.asarray(rows, dtype=np.float64)
    lines = np.asarray(linenos, np.int64)

    bad = ~np.isfinite(data).all(axis=1)
    if bad.any():
        raise McmotError(f"{path}:{lines[bad.argmax()]}: NaN or infinite value")
    for col, name in ((0, "frame"), (1, "id")):
        bad = data[:, col] != np.round(data[:, col])
        if bad.any():
            raise McmotError(f"{path}:{lines[bad.argmax()]}: {name} must be an integer")
    bad = (data[:, 4] < 0) | (data[:, 5] < 0)
    if bad.any():
        raise McmotError(f"{path}:{lines[bad.argmax()]}: negative box width or height")
    _check_bounds(data, lines, path, zero_based)

    frames = data[:, 0].astype(np.int64) + (1 if zero_based else 0)
    bad = frames < 1
    if bad.any():
        hint = "" if zero_based else " (for 0-based files use the 0-based frames option)"
        raise McmotError(f"{path}:{lines[bad.argmax()]}: frame numbers start at 1{hint}")

    table = MotTable(
        frames=frames,
        ids=data[:, 1].astype(np.int64),
        boxes=data[:, 2:6].copy(),
        scores=data[:, 6].copy(),
        extra=data[:, 7:10].copy(),
    )
    if np.any(np.diff(table.frames) < 0):
        order = np.argsort(table.frames, kind="stable")
        table = table.select(order)
        lines = lines[order]
    return table, lines


def _check_bounds(
    data: NDArray[np.float64], lines: NDArray[np.int64], path: Path, zero_based: bool
) -> None:
    """Refuse frames, ids and box values beyond the documented limits (before any cast)."""
    shift = 1 if zero_based else 0
    counted = " counted from 0" if zero_based else ""
    checks = (
        ("frame", slice(0, 1), MAX_FRAME - shift, f"{MAX_FRAME - shift} frames{counted}"),
        ("id", slice(1, 2), MAX_ID, f"{MAX_ID}"),
        ("box value", slice(2, 6), MAX_PIXELS, f"{MAX_PIXELS} pixels"),
    )
    for name, cols, limit, said in checks:
        size = np.abs(data[:, cols])
        bad = (size > limit).any(axis=1)
        if bad.any():
            row = int(bad.argmax())
            value = data[row, cols][int(size[row].argmax())]
            raise McmotError(
                f"{path}:{lines[row]}: {name} {value:.10g} is beyond the limit of {said}"
            )


def _repeats(table: MotTable, lines: NDArray[np.int64]) -> list[Repeat]:
    """Every ``(frame, id)`` with ``id >= 0`` on more than one row, in order of first line."""
    keyed = np.flatnonzero(table.ids >= 0)
    if not len(keyed):
        return []
    key = np.stack([table.frames[keyed], table.ids[keyed]], axis=1)
    uniq, inverse, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    repeated = counts[inverse] > 1
    if not repeated.any():
        return []
    groups: dict[int, list[int]] = {}
    for group, line in zip(
        inverse[repeated].tolist(), lines[keyed][repeated].tolist(), strict=True
    ):
        groups.setdefault(group, []).append(line)
    found = [
        Repeat(int(uniq[g, 0]), int(uniq[g, 1]), tuple(sorted(ls))) for g, ls in groups.items()
    ]
    return sorted(found, key=lambda r: r.lines[0])


def parse_mot(
    text: str,
    path: Path | str = "<text>",
    *,
    unique_ids: bool = True,
    zero_based: bool = False,
) -> MotTable:
    """Parse MOT text (see the module docstring for the rules).

    Parameters
    ----------
    text : the file's contents
    path : the name used in error messages
    unique_ids : reject a repeated ``(frame, id)`` with ``id >= 0`` (prediction
        files); detection files pass False, ground truth goes through
        :func:`parse_truth`
    zero_based : the file numbers frames from 0; shift them to 1-based
    """
    path = Path(path)
    table, lines = _parse(text, path, zero_based)
    if unique_ids:
        repeats = _repeats(table, lines)
        if repeats:
            r = repeats[0]
            raise McmotError(
                f"{path}:{r.lines[1]}: {r.describe()}; a prediction file needs one box per id "
                "and frame"
            )
    return table


def parse_truth(
    text: str, path: Path | str = "<text>", *, zero_based: bool = False
) -> tuple[MotTable, list[Repeat]]:
    """Parse ground-truth MOT text, keeping rows that repeat a ``(frame, id)``.

    Every other rule of :func:`parse_mot` applies. Rows keep the file's order
    within a frame, which the metrics' duplicate rules depend on.

    Returns
    -------
    the table and the repeated ``(frame, id)`` (empty when there is none)
    """
    path = Path(path)
    table, lines = _parse(text, path, zero_based)
    return table, _repeats(table, lines)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise McmotError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise McmotError(f"expected a MOT text file, found a folder: {path}") from None
    except UnicodeDecodeError:
        raise McmotError(f"{path}: not a text file") from None
    except OSError as exc:
        raise McmotError(f"cannot read {path}: {exc.strerror}") from None


def read_mot(path: Path | str, *, unique_ids: bool = True, zero_based: bool = False) -> MotTable:
    """Read and validate a MOT file. See :func:`parse_mot` for the options."""
    path = Path(path)
    return parse_mot(_read_text(path), path, unique_ids=unique_ids, zero_based=zero_based)


def read_truth(path: Path | str, *, zero_based: bool = False) -> tuple[MotTable, list[Repeat]]:
    """Read and validate a ground-truth file. See :func:`parse_truth`."""
    path = Path(path)
    return parse_truth(_read_text(path), path, zero_based=zero_based)


def format_mot(table: MotTable, *, precision: int = 2) -> str:
    """MOT text for ``table`` sorted by (frame, id); 10 columns per row."""
    t = table.sorted()
    out = []
    p = precision
    for f, i, b, s, e in zip(t.frames, t.ids, t.boxes, t.scores, t.extra, strict=True):
        out.append(
            f"{f},{i},{b[0]:.{p}f},{b[1]:.{p}f},{b[2]:.{p}f},{b[3]:.{p}f},"
            f"{_num(s)},{_num(e[0])},{_num(e[1])},{_num(e[2])}\n"
        )
    return "".join(out)


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.6g}"


def write_mot(path: Path | str, table: MotTable, *, precision: int = 2) -> None:
    """Atomically write ``table`` as a MOT file (sorted by frame, then id)."""
    with atomic_open(Path(path), "w") as fh:
        fh.write(format_mot(table, precision=precision))
