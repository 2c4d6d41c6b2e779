"""Per-crop training targets computed on first use, kept, and cached across runs.

A teacher's patch features cost far more than a training step on a CPU
(DINOv2 ViT-S: about 13 crops/s on two cores). Computing them for every crop
before training would spend a short time budget before the first step, so
:class:`LazyTargets` computes the rows a step asks for when it asks, remembers
them, and measures what a row costs, so the trainer can plan how many steps
(with their new rows) fit a budget. Rows already computed by an earlier run
on the same crops are read from a cache file, so a second run pays nothing
for them.

The cache file is an ``.npz`` with ``rows`` (k,) int64 crop indices and
``values`` (k, M, Dt) float16; saving merges with what the file holds.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from mcmot.atomic import write_npz

#: Rows computed in one call of the teacher.
CHUNK = 64
#: Rows computed to estimate the cost of a row when nothing was computed yet.
PROBE_ROWS = 16
#: Rows of the probe computed first and not timed.
WARMUP_ROWS = 4


class LazyTargets:
    """Targets of a scene's crops, row ``i`` computed the first time it is read.

    Indexing (``targets[rows]``) returns (k, M, Dt) float16, computing the
    missing rows first, so it stands in for a precomputed array.

    Parameters
    ----------
    crops : (R, H, W, 3) uint8 crops
    compute : (k, H, W, 3) uint8 -> (k, M, Dt) targets
    row_shape : (M, Dt)
    cache : the cache file (read now if it exists, written by :meth:`save`), or None
    """

    def __init__(
        self,
        crops: NDArray[np.uint8],
        compute: Callable[[NDArray[np.uint8]], NDArray],
        row_shape: tuple[int, int],
        cache: Path | None = None,
    ) -> None:
        self.crops = crops
        self.compute = compute
        self.cache = cache
        self.values = np.zeros((len(crops), *row_shape), np.float16)
        self.done = np.zeros(len(crops), bool)
        self.seconds = 0.0  # time spent computing in this process
        self.computed = 0  # rows computed in this process
        self._timed_s, self._timed_rows = 0.0, 0  # what the cost of a row is measured on
        self.loaded = self._read() if cache is not None else 0

    @property
    def shape(self) -> tuple[int, ...]:
        return self.values.shape

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, rows: NDArray[np.integer]) -> NDArray[np.float16]:
        self.ensure(rows)
        return self.values[rows]

    def missing(self, rows: NDArray[np.integer] | None = None) -> NDArray[np.int64]:
        """The sorted distinct rows of ``rows`` (default: all) not computed yet."""
        if rows is None:
            return np.flatnonzero(~self.done)
        rows = np.unique(np.asarray(rows, np.int64))
        return rows[~self.done[rows]]

    def ensure(self, rows: NDArray[np.integer]) -> int:
        """Compute the missing ones of ``rows``; returns how many were computed."""
        todo = self.missing(rows)
        for s in range(0, len(todo), CHUNK):
            part = todo[s : s + CHUNK]
            t0 = time.perf_counter()
            self.values[part] = self.compute(self.crops[part])
            spent = time.perf_counter() - t0
            self.seconds += spent
            self._timed_s += spent
            self._timed_rows += len(part)
            self.done[part] = True
            self.computed += len(part)
        return len(todo)

    def seconds_per_row(self) -> float:
        """The measured cost of a row; probes :data:`PROBE_ROWS` missing rows if none
        was computed yet (0 when every row is done).

        The probe's first :data:`WARMUP_ROWS` rows are not timed: a runtime's first
        call pays for setting itself up (ONNX Runtime: about half again a row's cost).
        """
        if self.computed == 0:
            todo = self.missing()
            if len(todo) == 0:
                return 0.0
            self.ensure(todo[:WARMUP_ROWS])
            self._timed_s, self._timed_rows = 0.0, 0
            self.ensure(todo[WARMUP_ROWS:PROBE_ROWS])
        if self._timed_rows == 0:  # fewer rows than the warm-up were missing
            return self.seconds / self.computed
        return self._timed_s / self._timed_rows

    def _read(self) -> int:
        assert self.cache is not None
        if not self.cache.is_file():
            return 0
        try:
            with np.load(self.cache) as z:
                rows, values = z["rows"], z["values"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            return 0  # unreadable: the rows are computed again and the file rewritten
        if values.shape[1:] != self.values.shape[1:] or (len(rows) and rows.max() >= len(self)):
            return 0  # written for other crops or another teacher: recompute
        self.values[rows] = values
        self.done[rows] = True
        return len(rows)

    def save(self) -> None:
        """Write every computed row to the cache file, merged with what it holds."""
        if self.cache is None or self.computed == 0:
            return
        self._read()  # rows another run wrote meanwhile
        rows = np.flatnonzero(self.done)
        write_npz(self.cache, rows=rows, values=self.values[rows])
