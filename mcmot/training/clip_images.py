"""The images of SSAT's training, each with its class (built by mcmot.stages.clips_data)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class ClipImages:
    """Every training image and its class.

    Attributes
    ----------
    images : per source, (n_s, H_s, W_s, 3) uint8 BGR images (at least the input size)
    source_of : (R,) the source of each image (images are numbered over all sources)
    index_in_source : (R,) its row in that source's array
    labels : (R,) its class
    names : per class, "source@first-last" (frames of the source)
    """

    images: list[NDArray[np.uint8]]
    source_of: NDArray[np.int64]
    index_in_source: NDArray[np.int64]
    labels: NDArray[np.int64]
    names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def crops(
        self, rows: NDArray[np.int64], size: tuple[int, int], rng: np.random.Generator
    ) -> NDArray[np.uint8]:
        """A random ``size`` = (h, w) crop of each image ``rows``: (B, h, w, 3) uint8."""
        h, w = size
        out = np.empty((len(rows), h, w, 3), np.uint8)
        for k, r in enumerate(rows):
            img = self.images[self.source_of[r]][self.index_in_source[r]]
            y = int(rng.integers(0, img.shape[0] - h + 1))
            x = int(rng.integers(0, img.shape[1] - w + 1))
            out[k] = img[y : y + h, x : x + w]
        return out
