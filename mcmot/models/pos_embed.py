"""Fixed sinusoidal positional embeddings.

The single-view encoder of CalibFree sees the visible patches of ALL
detections of one view in one sequence. Because every detection of a timestep
shares the same mask, the same patch position occurs once per detection, so a
plain 2-D embedding would give those tokens identical positions. The paper
asks for embeddings that are "distinct across all detection patches within a
view"; :func:`detection_sincos` makes them so by giving a quarter of the
channels to a 1-D sinusoid of the detection index and the rest to the usual
2-D (row, column) sinusoid of MAE. The encoder puts the detection-index block
in the view-specific half of its channels (``det_channel``): an index is a
position within one view's sequence, so it must not reach the view-agnostic
half directly, and training shuffles it per view anyway.

Detection 0's embedding does not depend on how many detections follow it, so
the encoder's ``pos_embed`` parameter (kept for timm compatibility) is exactly
detection 0's table.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def sincos_1d(dim: int, positions: NDArray) -> NDArray[np.float64]:
    """Transformer sinusoids of integer or real positions.

    Parameters
    ----------
    dim : output channels, even
    positions : (L,) positions

    Returns
    -------
    (L, dim) float64: ``[sin(pos * w_k) for k] ++ [cos(pos * w_k) for k]`` with
    ``w_k = 1 / 10000^(k / (dim / 2))``.
    """
    if dim % 2:
        raise ValueError(f"sinusoid dimension must be even, got {dim}")
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
    out = np.outer(np.asarray(positions, np.float64).reshape(-1), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def split_dims(dim: int) -> tuple[int, int, int]:
    """Channels given to (detection, row, column); each even, summing to ``dim``."""
    if dim % 2 or dim < 8:
        raise ValueError(f"embedding dimension must be even and >= 8, got {dim}")
    d_det = max(2, (dim // 4) // 2 * 2)
    rest = dim - d_det
    d_row = (rest // 2) // 2 * 2
    return d_det, d_row, rest - d_row


def grid_sincos(dim: int, grid: tuple[int, int]) -> NDArray[np.float32]:
    """The 2-D (row, column) embedding of a ``grid = (gh, gw)`` patch grid.

    Returns
    -------
    (gh * gw, dim) float32, patches in row-major order; the same table as
    detection 0 of :func:`detection_sincos` without the detection channels
    set to their index-0 values.
    """
    return detection_sincos(dim, grid, 1)[0]


def detection_sincos(
    dim: int, grid: tuple[int, int], num_dets: int, det_channel: int = 0
) -> NDArray[np.float32]:
    """Positional embeddings distinct for every patch of every detection.

    Parameters
    ----------
    dim : embedding channels (even, >= 8)
    grid : (gh, gw) patches per detection
    num_dets : detections in the sequence
    det_channel : first channel of the detection-index block

    Returns
    -------
    (num_dets, gh * gw, dim) float32. Channels ``[det_channel, det_channel +
    d_det)`` encode the detection index, the others (cyclically after them)
    the patch's row and column (see :func:`split_dims`).
    """
    d_det, d_row, d_col = split_dims(dim)
    gh, gw = grid
    rows, cols = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
    spatial = np.concatenate(
        [sincos_1d(d_row, rows.reshape(-1)), sincos_1d(d_col, cols.reshape(-1))], axis=1
    )
    det = sincos_1d(d_det, np.arange(num_dets))
    out = np.concatenate(
        [
            np.broadcast_to(det[:, None, :], (num_dets, gh * gw, d_det)),
            np.broadcast_to(spatial[None], (num_dets, gh * gw, d_row + d_col)),
        ],
        axis=2,
    )
    return np.roll(out, det_channel, axis=2).astype(np.float32)
