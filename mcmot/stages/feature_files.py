"""Reading ``features/<cam>.npz`` for the stages that use it, checked against ``det/``.

Imports nothing heavy (no torch): ``track`` and ``associate`` read features
without loading the models that wrote them.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from mcmot.errors import McmotError
from mcmot.motio import MotTable

#: Largest difference (pixels) between a features file's boxes and the det rows.
BOX_TOLERANCE = 1e-3


def load_features(path: Path, det: MotTable, key: str, root: Path) -> NDArray[np.float32]:
    """The ``key`` array of a features file, checked against the det rows it belongs to.

    Returns
    -------
    (N, D) float32, rows L2-normalised, row i <-> row i of ``det``
    """
    fix = f"re-run `mcmot extract-features {root} --overwrite`"
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in (key, "frames", "boxes") if k not in npz.files]
            if missing:
                raise McmotError(f"{path} lacks {', '.join(missing)}: {fix}")
            arr = np.asarray(npz[key], np.float32)
            frames, boxes = np.asarray(npz["frames"]), np.asarray(npz["boxes"], np.float64)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise McmotError(f"cannot read {path} ({type(exc).__name__}): {fix}") from None
    _check_alignment(path, det, arr, frames, boxes, fix)
    return unit_rows(arr)


def unit_rows(arr: NDArray[np.float32]) -> NDArray[np.float32]:
    """``arr`` with every row L2-normalised, as the tracker reads features."""
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return arr / np.maximum(norms, 1e-12)


def _check_alignment(
    path: Path,
    det: MotTable,
    arr: NDArray[np.float32],
    frames: NDArray,
    boxes: NDArray[np.float64],
    fix: str,
) -> None:
    """Error unless the features have one finite row per det row, same frames and boxes."""
    n = len(det)
    if arr.ndim != 2 or len(arr) != n or frames.shape != (n,) or boxes.shape != (n, 4):
        raise McmotError(
            f"{path} has {len(arr)} rows but the det file has {n}: features out of date; {fix}"
        )
    if not np.isfinite(arr).all():
        raise McmotError(f"{path} holds NaN or infinite features: {fix}")
    if n and (np.any(frames != det.frames) or np.abs(boxes - det.boxes).max() > BOX_TOLERANCE):
        raise McmotError(f"{path} rows do not match the det file's frames and boxes: {fix}")
