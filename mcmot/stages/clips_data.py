"""SSAT's training data: short clips, each its own class.

Sources are video files, plain folders of videos or frames, or scene folders
(their cameras). Two kinds of classes (``ClipsConfig.inputs``):

- ``frames`` (the paper): a video is cut at shot cuts (a jump of the
  colour-histogram distance between consecutive frames, :func:`shot_cuts`)
  and every ``clip_seconds``; each piece is a class and keeps
  ``frames_per_clip`` whole frames, evenly spaced, resized so that the random
  crop of the input size fits (``load_scale`` times it, aspect kept);
- ``tracklets`` (a marked variant, the domain the features are used in): each
  track of a scene's ``tracks/<cam>.txt``, cut every ``clip_seconds``, is a
  class of person crops resized to ``load_scale`` times the input.

The images of every source are decoded once and cached, keyed by the source
files and the settings they depend on: a scene's cameras in the scene
(``SCENE/cache/clips/``, for every later run), a video file given alone in
the run's ``RUN/cache``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from mcmot.caches import Arrays, load_or_build, scene_cache
from mcmot.crops import RESIZE, clip_box, crop_resize
from mcmot.errors import McmotError
from mcmot.frames import open_source
from mcmot.models.clips_config import ClipsConfig
from mcmot.motio import read_mot
from mcmot.progress import ProgressCallback, ProgressEvent
from mcmot.scene import VIDEO_EXTS, Camera, Scene
from mcmot.timebase import DEFAULT_FPS, frames_rounded
from mcmot.training.clip_images import ClipImages

#: Histogram bins (hue, saturation) of the shot-cut test, on frames shrunk to this width.
HIST_BINS = (16, 8)
HIST_WIDTH = 160


@dataclass(frozen=True)
class Source:
    """One video (or frame folder) to cut into classes.

    Attributes
    ----------
    name : "scene/camera" or the file's stem, for messages
    path : the video file or frame folder
    tracks : with ``tracklets``: the camera's ``tracks/`` file
    cache : the folder its images are cached in; None = the run's
    """

    name: str
    path: Path
    tracks: Path | None = None
    cache: Path | None = None


#: A scene's cache folder of clip images (mcmot.caches).
CACHE_KIND = "clips"


# ----------------------------------------------------------------- sources
def find_sources(paths: list[Path], tracklets: bool) -> list[Source]:
    """The videos of ``paths`` (video files, folders of videos, scene folders), or an error.

    With ``tracklets`` every source must be a camera of a scene with ``tracks/``.
    """
    out: list[Source] = []
    for p in map(Path, paths):
        if not p.exists():
            raise McmotError(f"not found: {p}")
        if p.is_file():
            if tracklets:
                raise McmotError(f"--inputs tracklets needs scene folders with tracks/, got {p}")
            if p.suffix.lower() not in VIDEO_EXTS:
                raise McmotError(f"{p} is not a video ({', '.join(VIDEO_EXTS)})")
            out.append(Source(p.stem, p))
            continue
        scene = Scene(p)
        cams = scene.pixel_cameras()
        if not cams:
            raise McmotError(f"{p} holds no videos or frame folders")
        out.extend(_camera_source(scene, c, tracklets) for c in cams)
    if not out:
        raise McmotError("give at least one video, folder of videos or scene")
    return out


def _camera_source(scene: Scene, cam: Camera, tracklets: bool) -> Source:
    tracks = scene.path("tracks", cam.name)
    if tracklets and not tracks.is_file():
        raise McmotError(
            f"{scene.root}: no tracks/{cam.name}.txt for --inputs tracklets: "
            f"run `mcmot track {scene.root}` first"
        )
    assert cam.source is not None
    cache = scene_cache(scene.root, CACHE_KIND)
    return Source(f"{scene.name}/{cam.name}", cam.source, tracks if tracklets else None, cache)


# ----------------------------------------------------------------- cutting
def frame_histogram(image: NDArray[np.uint8]) -> NDArray[np.float32]:
    """The normalised hue-saturation histogram of a BGR frame (shrunk first)."""
    scale = HIST_WIDTH / max(image.shape[1], 1)
    small = cv2.resize(image, None, fx=min(scale, 1.0), fy=min(scale, 1.0))
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, list(HIST_BINS), [0, 180, 0, 256])
    return (hist / max(float(hist.sum()), 1.0)).astype(np.float32)


def shot_cuts(hists: list[NDArray[np.float32]], threshold: float) -> list[int]:
    """0-based frame indices that start a new shot: the histogram distance
    (Bhattacharyya) to the previous frame exceeds ``threshold``."""
    return [
        i
        for i in range(1, len(hists))
        if cv2.compareHist(hists[i - 1], hists[i], cv2.HISTCMP_BHATTACHARYYA) > threshold
    ]


def cut_clips(n_frames: int, cuts: list[int], clip_frames: int) -> list[tuple[int, int]]:
    """[start, end) 0-based frame ranges: shots between ``cuts``, each cut every ``clip_frames``."""
    bounds = [0, *sorted(c for c in set(cuts) if 0 < c < n_frames), n_frames]
    out: list[tuple[int, int]] = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        out.extend((s, min(s + clip_frames, b)) for s in range(a, b, clip_frames))
    return out


def spaced(n: int, k: int) -> NDArray[np.int64]:
    """At most ``k`` of ``range(n)``, evenly spaced, first and last included."""
    return np.unique(np.linspace(0, n - 1, min(n, k)).round().astype(np.int64))


def _clip_frames(fps: float | None, seconds: float) -> int:
    return frames_rounded(seconds, fps or DEFAULT_FPS)


# ----------------------------------------------------------------- images
def _fit(image: NDArray[np.uint8], cfg: ClipsConfig) -> NDArray[np.uint8]:
    """A whole frame resized (aspect kept) to cover ``load_scale`` times the input."""
    lh, lw = (round(v * cfg.load_scale) for v in cfg.input_size)
    scale = max(lh / image.shape[0], lw / image.shape[1])
    size = (max(lw, round(image.shape[1] * scale)), max(lh, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=RESIZE)


def _frame_classes(
    src: Source, cfg: ClipsConfig, report: ProgressCallback
) -> tuple[NDArray[np.uint8], list[tuple[str, NDArray[np.int64]]]]:
    """A video's sampled frames and its classes (name, rows of those frames)."""
    with open_source(src.path) as video:
        n, fps = video.num_frames, video.fps
        hists = []
        for i, (_, img) in enumerate(video.iter_frames()):
            hists.append(frame_histogram(img))
            report(ProgressEvent(f"cuts {src.name}", i + 1, n))
        span = _clip_frames(fps, cfg.clip_seconds)
        clips = cut_clips(len(hists), shot_cuts(hists, cfg.cut_threshold), span)
        picks = [a + spaced(b - a, cfg.frames_per_clip) for a, b in clips]
        wanted = sorted({int(f) for p in picks for f in p})
        images = {f: _fit(video.read(f + 1), cfg) for f in wanted}
    row = {f: i for i, f in enumerate(wanted)}
    stacked = np.stack([images[f] for f in wanted]) if wanted else np.zeros((0, 1, 1, 3), np.uint8)
    classes = [
        (f"{src.name}@{a + 1}-{b}", np.array([row[int(f)] for f in p], np.int64))
        for (a, b), p in zip(clips, picks, strict=True)
    ]
    return stacked, classes


def _tracklet_pieces(src: Source, cfg: ClipsConfig, fps: float | None) -> list[tuple[str, NDArray]]:
    """(name, (k, 5) rows [frame, x, y, w, h]) of each class cut from the tracks."""
    assert src.tracks is not None
    table = read_mot(src.tracks, unique_ids=False)
    ok = (table.scores >= cfg.min_score) & (table.boxes[:, 2:].min(axis=1) >= cfg.min_box_px)
    span = _clip_frames(fps, cfg.clip_seconds)
    out = []
    for tid in np.unique(table.ids[ok]):
        rows = np.flatnonzero(ok & (table.ids == tid))
        rows = rows[np.argsort(table.frames[rows], kind="stable")]
        start = table.frames[rows[0]]
        piece = (table.frames[rows] - start) // span
        for p in np.unique(piece):
            sel = rows[piece == p][spaced(int((piece == p).sum()), cfg.frames_per_clip)]
            first, last = table.frames[sel[0]], table.frames[sel[-1]]
            data = np.column_stack([table.frames[sel], table.boxes[sel]])
            out.append((f"{src.name}#{tid}@{first}-{last}", data))
    return out


def _tracklet_classes(
    src: Source, cfg: ClipsConfig, report: ProgressCallback
) -> tuple[NDArray[np.uint8], list[tuple[str, NDArray[np.int64]]]]:
    """A camera's tracklet crops and its classes (name, rows of those crops)."""
    lh, lw = cfg.load_size
    with open_source(src.path) as video:
        pieces = _tracklet_pieces(src, cfg, video.fps)
        by_frame: dict[int, list[tuple[int, NDArray]]] = {}
        for c, (_, data) in enumerate(pieces):
            for r in data:
                by_frame.setdefault(int(r[0]), []).append((c, r[1:]))
        crops: list[NDArray[np.uint8]] = []
        owner: list[int] = []
        for i, f in enumerate(sorted(by_frame)):
            if f > video.num_frames:
                raise McmotError(f"{src.tracks} has frame {f} but the video has {video.num_frames}")
            img = video.read(f)
            for c, box in by_frame[f]:
                x0, y0, x1, y1 = clip_box(box, (img.shape[1], img.shape[0]))
                if min(x1 - x0, y1 - y0) >= cfg.min_box_px:
                    crops.append(crop_resize(img, box, lh, lw))
                    owner.append(c)
            report(ProgressEvent(f"crops {src.name}", i + 1, len(by_frame)))
    owners = np.asarray(owner, np.int64)
    stacked = np.stack(crops) if crops else np.zeros((0, lh, lw, 3), np.uint8)
    return stacked, [(name, np.flatnonzero(owners == c)) for c, (name, _) in enumerate(pieces)]


# ----------------------------------------------------------------- all sources, cached
def _key(src: Source, cfg: ClipsConfig) -> str:
    fields = [
        "inputs", "clip_seconds", "cut_threshold", "frames_per_clip",
        "input_height", "input_width", "load_scale", "min_score", "min_box_px",
    ]  # fmt: skip
    parts: dict[str, object] = {f: getattr(cfg, f) for f in fields}
    for p in (src.path, src.tracks):
        if p is not None:
            st = Path(p).stat()
            parts[str(Path(p).resolve())] = [st.st_size, st.st_mtime_ns]
    return hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def source_classes(
    src: Source, cfg: ClipsConfig, cache: Path | None, report: ProgressCallback
) -> tuple[NDArray[np.uint8], list[tuple[str, NDArray[np.int64]]]]:
    """One source's images and classes, through its scene's cache, else ``cache``
    (None with neither: no cache)."""
    folder = src.cache or cache
    path = None if folder is None else folder / f"clips-{_key(src, cfg)}.npz"

    def build() -> Arrays:
        make = _tracklet_classes if cfg.inputs == "tracklets" else _frame_classes
        images, classes = make(src, cfg, report)
        arrays = {f"class{i}": rows for i, (_, rows) in enumerate(classes)}
        return {"images": images, "names": np.array([n for n, _ in classes]), **arrays}

    z = load_or_build(path, build)
    names = [str(n) for n in z["names"]]
    return z["images"], [(n, z[f"class{i}"]) for i, n in enumerate(names)]


def load_clip_images(
    sources: list[Source],
    cfg: ClipsConfig,
    cache: Path | None,
    progress: ProgressCallback | None = None,
) -> ClipImages:
    """Every source's classes with at least ``min_frames`` images, numbered in source order."""
    report = progress or (lambda ev: None)
    images, src_of, idx, labels, names = [], [], [], [], []
    for s, src in enumerate(sources):
        imgs, classes = source_classes(src, cfg, cache, report)
        images.append(imgs)
        for name, rows in classes:
            if len(rows) < cfg.min_frames:
                continue
            src_of.append(np.full(len(rows), s))
            idx.append(rows)
            labels.append(np.full(len(rows), len(names)))
            names.append(name)
    if len(names) < 2:
        raise McmotError(
            f"{len(names)} clip(s) of at least {cfg.min_frames} images in the sources: "
            "SSAT needs at least 2 classes (more footage, or a shorter --clip-seconds)"
        )
    cat = lambda a: np.concatenate(a).astype(np.int64)  # noqa: E731
    return ClipImages(images, cat(src_of), cat(idx), cat(labels), tuple(names))
