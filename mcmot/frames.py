"""Frame sources: video files and image folders, read by 1-based frame number.

Both kinds share one interface (:class:`FrameSource`), so no stage needs to
know how a camera stored its pixels. Frames are BGR ``uint8`` arrays of shape
``(H, W, 3)``, as OpenCV returns them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from mcmot.atomic import os_reason
from mcmot.errors import McmotError
from mcmot.motio import MAX_FRAME
from mcmot.scene import IMAGE_EXTS
from mcmot.timebase import MAX_FPS

Image = NDArray[np.uint8]


class FrameSource:
    """Base class: a camera's frames, numbered from 1 (a subclass sets ``_count`` and
    ``_size``)."""

    path: Path
    _count: int
    _size: tuple[int, int]

    @property
    def num_frames(self) -> int:
        return self._count

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self._size

    @property
    def fps(self) -> float | None:
        """Frames per second stored in the source, or None (frame folders)."""
        return None

    def read(self, frame: int) -> Image:
        """The image of 1-based ``frame``."""
        raise NotImplementedError

    def iter_frames(
        self, start: int = 1, end: int | None = None, step: int = 1
    ) -> Iterator[tuple[int, Image]]:
        """Yield ``(frame, image)`` for ``start <= frame <= end`` in order, every
        ``step``-th frame from ``start``."""
        end = self.num_frames if end is None else min(end, self.num_frames)
        for k in range(max(start, 1), end + 1, max(step, 1)):
            yield k, self.read(k)

    def close(self) -> None:
        """Release any open file."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: A video read this many frames or fewer ahead of the next one skips them without
#: decoding them to images (``grab``) instead of seeking.
MAX_GRAB_AHEAD = 64


class VideoSource(FrameSource):
    """A video file read with OpenCV; reads in order (every frame or every k-th)
    do not seek."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise McmotError(f"video not found: {self.path}")
        try:  # OpenCV says no more than "cannot open" for a file it may not read
            with self.path.open("rb") as fh:
                fh.read(1)
        except OSError as exc:
            raise McmotError(f"cannot read video {self.path}: {os_reason(exc)}") from None
        self._cap = cv2.VideoCapture(str(self.path))
        if not self._cap.isOpened():
            raise McmotError(f"cannot open video {self.path}: unreadable or unsupported codec")
        self._count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        rate = float(self._cap.get(cv2.CAP_PROP_FPS))
        self._fps = rate if np.isfinite(rate) and 0 < rate <= MAX_FPS else None
        w = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        h = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        ok, first = self._cap.read()
        if not ok or first is None:
            raise McmotError(f"cannot decode video {self.path}: no readable frame")
        self._size = (first.shape[1], first.shape[0]) if w <= 0 or h <= 0 else (w, h)
        self._next = 2  # frame number the next cap.read() returns
        self._last: tuple[int, Image] = (1, first)
        if self._count <= 0:
            self._count = self._count_by_decoding()

    def _count_by_decoding(self) -> int:
        n = 1
        while self._cap.grab():
            n += 1
        self._seek(1)
        return n

    def _seek(self, frame: int) -> None:
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, frame - 1)
        self._next = frame

    @property
    def fps(self) -> float | None:
        return self._fps

    def read(self, frame: int) -> Image:
        if not 1 <= frame <= self._count:
            raise McmotError(f"{self.path}: frame {frame} outside 1..{self._count}")
        if self._last[0] == frame:
            return self._last[1]
        if self._next < frame <= self._next + MAX_GRAB_AHEAD:
            while self._next < frame and self._cap.grab():
                self._next += 1
        if frame != self._next:
            self._seek(frame)
        ok, img = self._cap.read()
        if not ok or img is None:
            raise McmotError(f"{self.path}: cannot decode frame {frame} (corrupt video?)")
        self._next = frame + 1
        self._last = (frame, img)
        return img

    def close(self) -> None:
        self._cap.release()


_DIGITS = re.compile(r"(\d+)$")


class FolderSource(FrameSource):
    """A folder of images named by frame number (``000001.jpg``, ...).

    Parameters
    ----------
    path : the folder
    zero_based : the file names count from 0; frame 1 is file 0
    """

    def __init__(self, path: Path | str, zero_based: bool = False) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise McmotError(f"frame folder not found: {self.path}")
        files: dict[int, Path] = {}
        for p in self.path.iterdir():
            if p.suffix.lower() not in IMAGE_EXTS:
                continue
            m = _DIGITS.search(p.stem)
            if m is None:
                raise McmotError(f"{p}: image name must end in its frame number, e.g. 000001.jpg")
            files[int(m.group(1)) + (1 if zero_based else 0)] = p
        if not files:
            raise McmotError(f"no images in frame folder {self.path}")
        if min(files) < 1:
            raise McmotError(
                f"{self.path}: frame numbers start at 0; use the 0-based frames option"
            )
        if max(files) > MAX_FRAME:
            raise McmotError(
                f"{files[max(files)]}: frame {max(files)} is beyond the limit of {MAX_FRAME} frames"
            )
        self._files = files
        self._count = max(files)
        self._size = self._probe_size()

    def _probe_size(self) -> tuple[int, int]:
        img = self._load(self._files[min(self._files)])
        return img.shape[1], img.shape[0]

    def _load(self, p: Path) -> Image:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise McmotError(f"cannot read image {p}")
        return img

    def read(self, frame: int) -> Image:
        p = self._files.get(frame)
        if p is None:
            raise McmotError(f"{self.path}: no image for frame {frame}")
        return self._load(p)


def open_source(path: Path | str, zero_based: bool = False) -> FrameSource:
    """Open a video file or a frame folder as a :class:`FrameSource`."""
    path = Path(path)
    if path.is_dir():
        return FolderSource(path, zero_based=zero_based)
    return VideoSource(path)
