"""Person crops: a tlwh box cut from a frame and resized to the model's input size."""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

#: Interpolation used to resize crops.
RESIZE = cv2.INTER_LINEAR


def clip_box(box: NDArray, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """A tlwh box clipped to an image of ``size = (w, h)``: integer (x0, y0, x1, y1).

    Always at least one pixel wide and high, inside the image.
    """
    w, h = size
    x0 = int(np.clip(np.floor(box[0]), 0, w - 1))
    y0 = int(np.clip(np.floor(box[1]), 0, h - 1))
    x1 = int(np.clip(np.ceil(box[0] + box[2]), x0 + 1, w))
    y1 = int(np.clip(np.ceil(box[1] + box[3]), y0 + 1, h))
    return x0, y0, x1, y1


def crop_resize(image: NDArray[np.uint8], box: NDArray, height: int, width: int) -> NDArray:
    """Crop a tlwh box from a BGR image and resize it to (height, width, 3) uint8."""
    x0, y0, x1, y1 = clip_box(box, (image.shape[1], image.shape[0]))
    return cv2.resize(image[y0:y1, x0:x1], (width, height), interpolation=RESIZE)
