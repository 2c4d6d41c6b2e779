"""Pictures of a scene: a mosaic of all cameras with identity-coloured boxes.

The same identity has the same colour in every camera (colours come from the
id alone), so a person can see at a glance whether cross-camera identities
agree. Library functions return images or write files; they never print.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from mcmot.atomic import atomic_path
from mcmot.errors import McmotError
from mcmot.frames import FrameSource, open_source
from mcmot.motio import PREDICTION_STAGES, MotTable, read_mot
from mcmot.progress import ProgressCallback, ProgressEvent
from mcmot.scene import Scene

Image = NDArray[np.uint8]
GOLDEN = 0.618033988749895
#: Widest camera tile, in pixels.
MAX_TILE_WIDTH = 4096
#: Largest mosaic, in pixels (about 200 MB per frame): tiles x tile size.
MAX_MOSAIC_PIXELS = 8192 * 8192
#: Largest side of the blank canvas of a camera without pixels; boxes beyond
#: it are clipped at its edge.
MAX_CANVAS_SIDE = 8192
#: What ``--out`` may end in: a video, or a still with ``--frame``.
VIDEO_SUFFIXES = (".mp4",)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class RenderConfig:
    """Options of ``mcmot render``.

    Attributes
    ----------
    what : which boxes to draw: ``det``, ``tracks``, ``global``, ``gt`` or ``none``
    tile_width : width in pixels of each camera's tile (height keeps the aspect),
        32 to :data:`MAX_TILE_WIDTH`
    columns : tiles per row (at most the number of cameras); 0 picks a near-square grid
    thickness : box line width in pixels
    fps : frames per second of the written video; 0 uses the first video's rate or 10
    """

    what: str = "global"
    tile_width: int = 480
    columns: int = 0
    thickness: int = 2
    fps: float = 0.0

    def validate(self) -> None:
        """Raise :class:`McmotError` (one line) for an option out of range."""
        if self.what not in ("det", "tracks", "global", "gt", "none"):
            raise McmotError(f"--what must be det, tracks, global, gt or none, got {self.what!r}")
        if not 32 <= self.tile_width <= MAX_TILE_WIDTH:
            raise McmotError(
                f"--tile-width must be 32 to {MAX_TILE_WIDTH} pixels, got {self.tile_width}"
            )
        if self.columns < 0:
            raise McmotError(f"--columns must be 0 or more, got {self.columns}")


def id_colour(identity: int) -> tuple[int, int, int]:
    """A BGR colour for an identity; the same id always gets the same colour.

    Detections without identity (id < 0) are grey.
    """
    if identity < 0:
        return (160, 160, 160)
    hue = (identity * GOLDEN) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(b * 255), int(g * 255), int(r * 255)


def draw_boxes(img: Image, table: MotTable, scale: float = 1.0, thickness: int = 2) -> Image:
    """Draw the rows of ``table`` (one frame's boxes) on ``img`` in place.

    Parameters
    ----------
    img : (H, W, 3) uint8 BGR image
    table : rows to draw; boxes are in the original image's pixels
    scale : factor from original pixels to ``img`` pixels
    """
    for ident, box in zip(table.ids, table.boxes, strict=True):
        x, y, w, h = (box * scale).round().astype(int)
        col = id_colour(int(ident))
        cv2.rectangle(img, (x, y), (x + w, y + h), col, thickness)
        if ident >= 0:
            label = str(int(ident))
            (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
            cv2.rectangle(img, (x, y - th - 4), (x + tw + 4, y), col, -1)
            cv2.putText(img, label, (x + 2, y - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    return img


def grid_shape(n: int, columns: int = 0) -> tuple[int, int]:
    """(rows, columns) of a grid for ``n`` tiles; near-square when ``columns`` is 0.

    More columns than tiles make one row of ``n``.
    """
    cols = min(columns, n) if columns > 0 else math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


def mosaic(tiles: Sequence[Image], columns: int = 0) -> Image:
    """Tile equally sized (H, W, 3) images into one grid image, row by row."""
    if not tiles:
        raise ValueError("mosaic needs at least one tile")
    rows, cols = grid_shape(len(tiles), columns)
    h, w = tiles[0].shape[:2]
    out = np.zeros((rows * h, cols * w, 3), np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        out[r * h : (r + 1) * h, c * w : (c + 1) * w] = tile
    return out


class _CameraView:
    """One camera's pixels (or a blank canvas) and boxes, scaled to a tile."""

    def __init__(self, name: str, source: FrameSource | None, boxes: MotTable, width: int):
        self.name = name
        self.source = source
        self.boxes = boxes
        self.slices = boxes.frame_slices()
        if source is not None:
            self.size = source.size
        else:  # no pixels: a canvas that holds every box, up to MAX_CANVAS_SIDE
            ext = boxes.boxes[:, :2] + boxes.boxes[:, 2:] if len(boxes) else np.ones((1, 2))
            side = np.clip(ext.max(axis=0) + 10, 10, MAX_CANVAS_SIDE).astype(int)
            self.size = (int(side[0]), int(side[1]))
        self.scale = width / self.size[0]
        self.tile_size = (width, max(1, round(self.size[1] * self.scale)))

    def tile(self, frame: int, thickness: int, tile_h: int) -> Image:
        w, h = self.tile_size
        if self.source is not None and frame <= self.source.num_frames:
            img = cv2.resize(self.source.read(frame), (w, h), interpolation=cv2.INTER_AREA)
        else:
            img = np.full((h, w, 3), 40, np.uint8)
        rows = self.boxes.select(self.slices.get(frame, slice(0, 0)))
        draw_boxes(img, rows, self.scale, thickness)
        cv2.putText(
            img,
            f"{self.name}  #{frame}",
            (8, 22),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.6,
            (255, 255, 255),
            2,
        )
        if h != tile_h:
            pad = np.zeros((tile_h, w, 3), np.uint8)
            pad[: min(h, tile_h)] = img[:tile_h]
            img = pad
        return img


def check_out(out: Path, still: bool) -> None:
    """A one-line error unless ``out`` names a file of the kind written (video or still)."""
    if out.is_dir():
        raise McmotError(f"--out {out} is a folder; give a file name")
    suffixes = IMAGE_SUFFIXES if still else VIDEO_SUFFIXES
    if out.suffix.lower() not in suffixes:
        what = "a still image (--frame K)" if still else "a video (a still needs --frame K)"
        raise McmotError(
            f"--out {out}: {what} is written as {' or '.join(suffixes)}, got "
            f"{out.suffix or 'no extension'!r}"
        )


def _check_mosaic(views: list[_CameraView], cfg: RenderConfig) -> int:
    """The tile height; a one-line error when the mosaic would be too large."""
    tile_h = max(v.tile_size[1] for v in views)
    rows, cols = grid_shape(len(views), cfg.columns)
    width, height = cols * cfg.tile_width, rows * tile_h
    if width * height > MAX_MOSAIC_PIXELS:
        raise McmotError(
            f"the mosaic would be {width}x{height} pixels, more than {MAX_MOSAIC_PIXELS}; "
            "use a smaller --tile-width or other --columns"
        )
    return tile_h


def _open_views(scene: Scene, cfg: RenderConfig) -> list[_CameraView]:
    cfg.validate()
    views = []
    files = {} if cfg.what == "none" else scene.stage_files(cfg.what)
    if not files and cfg.what != "none":
        raise McmotError(f"no {cfg.what}/ files in {scene.root}: run that stage first")
    for cam in scene.require_cameras():
        path = files.get(cam.name)
        strict = cfg.what in PREDICTION_STAGES
        boxes = read_mot(path, unique_ids=strict) if path else MotTable.empty()
        src = open_source(cam.source) if cam.source is not None else None
        views.append(_CameraView(cam.name, src, boxes, cfg.tile_width))
    return views


def _frame_count(views: list[_CameraView]) -> int:
    counts = [v.source.num_frames for v in views if v.source is not None]
    if counts:
        return min(counts)
    return max((int(v.boxes.frames.max()) for v in views if len(v.boxes)), default=0)


def render_frame(scene: Scene, frame: int, cfg: RenderConfig = RenderConfig()) -> Image:
    """A mosaic image of all cameras of ``scene`` at 1-based ``frame``."""
    views = _open_views(scene, cfg)
    try:
        n = _frame_count(views)
        if not 1 <= frame <= max(n, 1):
            raise McmotError(f"frame {frame} outside the scene's frames 1..{n}")
        tile_h = _check_mosaic(views, cfg)
        return mosaic([v.tile(frame, cfg.thickness, tile_h) for v in views], cfg.columns)
    finally:
        for v in views:
            if v.source is not None:
                v.source.close()


def write_image(path: Path, img: Image) -> None:
    """Atomically write an image; the format follows ``path``'s extension."""
    path = Path(path)
    with atomic_path(path, suffix=path.suffix) as tmp:
        if not cv2.imwrite(str(tmp), img):
            raise McmotError(f"cannot write image {path}: unsupported extension?")


def render_video(
    scene: Scene,
    out: Path,
    cfg: RenderConfig = RenderConfig(),
    frames: tuple[int | None, int | None] = (None, None),
    progress: ProgressCallback | None = None,
) -> int:
    """Write a mosaic video of all cameras to ``out`` (mp4); returns the frame count."""
    views = _open_views(scene, cfg)
    try:
        n = _frame_count(views)
        start, end = frames[0] or 1, min(frames[1] or n, n)
        if end < start:
            raise McmotError(f"no frames to render in {start}..{end}")
        tile_h = _check_mosaic(views, cfg)
        fps = cfg.fps or _source_fps(views) or 10.0
        first = mosaic([v.tile(start, cfg.thickness, tile_h) for v in views], cfg.columns)
        out = Path(out)
        with atomic_path(out, suffix=out.suffix or ".mp4") as tmp:
            writer = cv2.VideoWriter(
                str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (first.shape[1], first.shape[0])
            )
            if not writer.isOpened():
                raise McmotError(f"cannot write video {out}")
            try:
                writer.write(first)
                for k in range(start + 1, end + 1):
                    writer.write(
                        mosaic([v.tile(k, cfg.thickness, tile_h) for v in views], cfg.columns)
                    )
                    if progress is not None:
                        progress(ProgressEvent("render", k - start + 1, end - start + 1))
            finally:
                writer.release()
        return end - start + 1
    finally:
        for v in views:
            if v.source is not None:
                v.source.close()


def _source_fps(views: list[_CameraView]) -> float:
    for v in views:
        if v.source is not None and v.source.path.is_file():
            cap = cv2.VideoCapture(str(v.source.path))
            fps = cap.get(cv2.CAP_PROP_FPS)
            cap.release()
            if fps and fps > 0:
                return float(fps)
    return 0.0
