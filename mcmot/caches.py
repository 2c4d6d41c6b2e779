"""On-disk caches of derived arrays: where they live and how they are read or built.

A scene keeps what its footage yields for later runs in ``SCENE/cache/<kind>/``
(docs/layout.md): the exported detector, pretraining crops and teacher
targets, the cross-input objective's crops, the clips objective's images.
Each file's name carries a key of everything it was made from, so a changed
input is a new file, never a stale one. A cache file that cannot be read (a
crash mid-write elsewhere, a disk error) is built again.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from mcmot.atomic import write_npz

#: The scene's folder of caches.
CACHE = "cache"

Arrays = dict[str, NDArray]


def scene_cache(root: Path, kind: str) -> Path:
    """``root/cache/<kind>``: a scene's cache of one kind (not created here)."""
    return Path(root) / CACHE / kind


def load_or_build(path: Path | None, build: Callable[[], Arrays]) -> Arrays:
    """The arrays stored at ``path``, or ``build()``'s, then stored there (atomically).

    ``path`` None: no cache, always ``build()``. A file that cannot be read is
    built again and replaced.
    """
    if path is not None and path.is_file():
        try:
            with np.load(path) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            pass  # unreadable: build it again
    arrays = build()
    if path is not None:
        write_npz(path, **arrays)
    return arrays
