"""A colour histogram per crop: appearance with no network and no training.

Each crop (resized to :data:`SIZE`) is split into its upper and lower half
(roughly clothes above and below the waist); each half gets a joint
histogram of its pixels' blue, green and red levels, 8 levels per channel
(512 bins). The two are concatenated, square-rooted (so that the cosine of
two features is their Bhattacharyya coefficient, the Hellinger kernel) and
L2-normalised. The position of a detection in its frame, its row and its
neighbours play no part: a crop's feature is its pixels' alone.

It is the baseline every learned appearance feature must beat (a user could
write it in ten lines), and on footage where people differ by their
clothes' colours it is a usable cue on its own (docs/method.md).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: (height, width) each crop is resized to before counting.
SIZE = (128, 64)
#: Levels per colour channel.
LEVELS = 8
#: Feature width: two halves of LEVELS**3 bins.
DIM = 2 * LEVELS**3


def colour_histograms(crops: NDArray[np.uint8]) -> NDArray[np.float32]:
    """(B, H, W, 3) uint8 crops -> (B, :data:`DIM`) float32, L2-normalised rows.

    Row i depends on crop i alone. A uniform crop gets all its mass in one
    bin of each half.
    """
    if crops.ndim != 4 or crops.shape[-1] != 3:
        raise ValueError(f"crops must be (B, H, W, 3), got {crops.shape}")
    b, h = len(crops), crops.shape[1]
    lv = (crops // (256 // LEVELS)).astype(np.int64)
    code = (lv[..., 0] * LEVELS + lv[..., 1]) * LEVELS + lv[..., 2]  # (B, H, W)
    bins = LEVELS**3
    half = np.where(np.arange(h) < h // 2, 0, 1)[None, :, None]  # upper 0, lower 1
    flat = (np.arange(b)[:, None, None] * 2 + half) * bins + code
    hist = np.bincount(flat.ravel(), minlength=b * 2 * bins).astype(np.float32)
    feats = np.sqrt(hist.reshape(b, DIM))
    return feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
