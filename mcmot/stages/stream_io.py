"""Files the streaming run writes as it goes: MOT rows appended, arrays gathered in parts.

Both write into the run's staging folder (:mod:`mcmot.staging`), never into
the scene's final places: a run that is killed leaves the outputs as they
were, and the next run discards what it left.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from mcmot.atomic import write_error
from mcmot.motio import MotTable, format_mot, parse_mot

#: Bytes copied at a time from a part into the ``.npz``.
CHUNK = 1 << 20


class RowsFile:
    """A MOT file whose rows are appended in frame order and flushed as they are final."""

    def __init__(self, path: Path, precision: int = 2) -> None:
        self.path, self.precision = Path(path), precision
        self.rows = 0
        try:
            self._fh: IO[str] = open(self.path, "w")  # noqa: SIM115 - open for the run
        except OSError as exc:
            raise write_error(self.path, exc) from exc

    def append(self, table: MotTable) -> MotTable:
        """Write ``table``'s rows (one frame, or frames after all written ones) and return
        them as a reader of the file gets them (boxes rounded, scores as written)."""
        text = format_mot(table, precision=self.precision)
        try:
            self._fh.write(text)
        except OSError as exc:
            raise write_error(self.path, exc) from exc
        self.rows += len(table)
        return parse_mot(text, self.path, unique_ids=False) if text else MotTable.empty()

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        """Flush to disk and close."""
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as exc:
            raise write_error(self.path, exc) from exc
        finally:
            self._fh.close()


class ArraysFile:
    """An ``.npz`` of arrays that grow by rows: each array's rows go to a raw part file as
    they come, and :meth:`close` copies the parts into the ``.npz`` (what ``np.load``
    reads), so memory does not grow with the rows.

    ``specs`` gives each array's dtype and row shape (so an array with no rows has its shape).
    """

    def __init__(self, path: Path, specs: dict[str, tuple[DTypeLike, tuple[int, ...]]]) -> None:
        self.path = Path(path)
        self.specs = {k: (np.dtype(d), tuple(s)) for k, (d, s) in specs.items()}
        self.rows = dict.fromkeys(specs, 0)
        self._parts = {k: self.path.with_name(f".{self.path.name}.{k}.part") for k in specs}
        try:
            self._fhs = {k: open(p, "wb") for k, p in self._parts.items()}  # noqa: SIM115
        except OSError as exc:
            raise write_error(self.path, exc) from exc

    def append(self, **arrays: NDArray) -> None:
        """Append rows to each named array (every array of ``specs``, same row count)."""
        for name, arr in arrays.items():
            dtype, shape = self.specs[name]
            a = np.ascontiguousarray(arr, dtype).reshape((-1, *shape))
            self._fhs[name].write(a.tobytes())
            self.rows[name] += len(a)

    def close(self, **scalars: NDArray) -> None:
        """Write the ``.npz`` (the grown arrays and ``scalars``) and delete the parts."""
        for fh in self._fhs.values():
            fh.close()
        try:
            with zipfile.ZipFile(self.path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
                for name, (dtype, shape) in self.specs.items():
                    with zf.open(f"{name}.npy", "w", force_zip64=True) as out:
                        _write_member(out, self._parts[name], dtype, (self.rows[name], *shape))
                for name, value in scalars.items():
                    with zf.open(f"{name}.npy", "w", force_zip64=True) as out:
                        np.lib.format.write_array(out, np.asanyarray(value), allow_pickle=False)
        except OSError as exc:
            raise write_error(self.path, exc) from exc
        finally:
            for p in self._parts.values():
                p.unlink(missing_ok=True)


def _write_member(out: Any, part: Path, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    """One ``.npy`` member: the header, then the part's bytes in chunks."""
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(out, header)
    with open(part, "rb") as fh:
        while chunk := fh.read(CHUNK):
            out.write(chunk)
