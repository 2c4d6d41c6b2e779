"""Pretraining data: timesteps of multi-view detection crops, padded to N per view.

For every scene, each camera is decoded once (frames in increasing order),
every kept detection is cropped and resized to (H, W), and the crops are
stored in one uint8 array with an index ``slots[t, v, n]`` (-1 = padded
slot). The arrays are cached on disk (``SCENE/cache/pretrain/``), keyed by everything
they depend on, so resuming or re-running does not decode again; the
teacher's patch features of the same crops are cached beside them
(mcmot.training.targets). Batches of these timesteps are
mcmot.training.timesteps'.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from mcmot.caches import Arrays, load_or_build, scene_cache
from mcmot.crops import clip_box, crop_resize
from mcmot.errors import McmotError
from mcmot.frames import open_source
from mcmot.motio import MotTable, read_mot
from mcmot.progress import ProgressCallback, ProgressEvent
from mcmot.scene import Camera, Scene
from mcmot.training.timesteps import SceneCrops

#: The most of a time budget that preparing the crops may take.
PREPARATION_SHARE = 0.9


@dataclass(frozen=True)
class CropSpec:
    """What the crops of a scene depend on.

    Attributes
    ----------
    boxes : "det" (detections) or "gt" (ground truth, the paper's ablation)
    height, width : crop size
    max_dets : N, detections kept per view and timestep (highest scores first)
    min_score : detections scoring below are ignored
    min_box_px : boxes narrower or lower than this after clipping are ignored
    """

    boxes: str = "det"
    height: int = 128
    width: int = 64
    max_dets: int = 10
    min_score: float = 0.0
    min_box_px: int = 4


def keep_rows(table: MotTable, spec: CropSpec, size: tuple[int, int]) -> dict[int, NDArray]:
    """Rows used for training, by frame: at most N per frame, highest scores first.

    Parameters
    ----------
    table : a camera's boxes
    spec : the crop settings
    size : the camera's (w, h)

    Returns
    -------
    frame -> (k,) row indices (k <= N) in file order.
    """
    ok = np.ones(len(table), bool)
    if spec.boxes == "det":
        ok &= table.scores >= spec.min_score
    for i in np.flatnonzero(ok):
        x0, y0, x1, y1 = clip_box(table.boxes[i], size)
        ok[i] = (x1 - x0) >= spec.min_box_px and (y1 - y0) >= spec.min_box_px
    out: dict[int, NDArray] = {}
    for f in np.unique(table.frames[ok]):
        rows = np.flatnonzero(ok & (table.frames == f))
        if len(rows) > spec.max_dets:
            best = np.argsort(-table.scores[rows], kind="stable")[: spec.max_dets]
            rows = np.sort(rows[best])
        out[int(f)] = rows
    return out


# ----------------------------------------------------------------- budget
@dataclass(frozen=True)
class BudgetGuard:
    """Refuses, early, preparation that would not leave a time budget room to train.

    Attributes
    ----------
    deadline : the budget's end (``time.perf_counter()`` seconds)
    share : the most of the time left that preparation may take
    probe_s : how long preparation runs before its total is projected
    """

    deadline: float
    share: float = PREPARATION_SHARE
    probe_s: float = 2.0

    def watch(self, what: str) -> Callable[[int, int], None]:
        """A progress check for one piece of preparation (``what``), started now.

        The returned ``check(done, total)`` projects the total time once, after
        ``probe_s`` seconds, and raises a one-line McmotError if it takes more
        than ``share`` of the time that was left when the piece started.
        """
        t0 = time.perf_counter()
        left = self.deadline - t0
        checked = False

        def check(done: int, total: int) -> None:
            nonlocal checked
            spent = time.perf_counter() - t0
            if checked or done <= 0 or spent < self.probe_s:
                return
            checked = True
            need = spent / done * total
            if need > self.share * left:
                raise McmotError(
                    f"{what} would take about {need:.0f} s of the {left:.0f} s left of the "
                    f"budget: give --minutes {math.ceil(need / 60 / self.share) + 1} or more "
                    "(the crops are cached in the scene, so later runs skip this)"
                )

        return check


def pretrain_cache(scene: Scene) -> Path:
    """Where a scene's pretraining crops and teacher targets are cached, for every run."""
    return scene_cache(scene.root, "pretrain")


# ----------------------------------------------------------------- scenes
def require_boxes(scene: Scene, cams: list[Camera], boxes: str) -> dict[str, Path]:
    """The box file of every camera, or a one-line error saying how to get them."""
    if boxes not in ("det", "gt"):
        raise McmotError(f"--boxes must be det or gt, got {boxes!r}")
    files = {c.name: scene.path(boxes, c.name) for c in cams}
    missing = [n for n, p in files.items() if not p.is_file()]
    if missing:
        if boxes == "gt":
            raise McmotError(f"{scene.root}: no gt/ file for camera(s) {', '.join(missing)}")
        raise McmotError(
            f"{scene.root} has no det/ for camera(s) {', '.join(missing)}: "
            "run `mcmot detect` first or pass --boxes gt"
        )
    return files


def pixel_cameras(scene: Scene) -> list[Camera]:
    """Cameras with pixels, or a one-line error."""
    cams = scene.pixel_cameras()
    if not cams:
        raise McmotError(f"{scene.root} has no videos or frame folders to crop detections from")
    return cams


def cache_key(scene: Scene, spec: CropSpec) -> str:
    """A hash of everything a scene's crops depend on."""
    parts: dict[str, object] = {"root": str(scene.root.resolve()), "spec": spec.__dict__}
    for cam in pixel_cameras(scene):
        for p in (cam.source, scene.path(spec.boxes, cam.name)):
            st = Path(p).stat() if p is not None and Path(p).exists() else None
            parts[str(Path(p).resolve()) if p is not None else "None"] = (
                None if st is None else [st.st_size, st.st_mtime_ns]
            )
    return hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def camera_crops(
    cam: Camera, rows: dict[int, NDArray], table: MotTable, spec: CropSpec, report: Callable
) -> dict[int, NDArray[np.uint8]]:
    """frame -> (k, H, W, 3) crops of the kept rows, decoding the camera once in order."""
    out: dict[int, NDArray[np.uint8]] = {}
    with open_source(cam.source) as src:  # type: ignore[arg-type]
        for i, frame in enumerate(sorted(rows)):
            if frame > src.num_frames:
                break
            img = src.read(frame)
            out[frame] = np.stack(
                [crop_resize(img, table.boxes[r], spec.height, spec.width) for r in rows[frame]]
            )
            report(i + 1, len(rows))
    return out


def build_scene_crops(
    scene: Scene,
    spec: CropSpec,
    progress: ProgressCallback | None = None,
    guard: BudgetGuard | None = None,
) -> SceneCrops:
    """Decode and crop every kept detection of a scene (see the module docstring);
    ``guard`` refuses, early, a scene whose cropping would not fit the budget."""
    cams = pixel_cameras(scene)
    files = require_boxes(scene, cams, spec.boxes)
    tables = {c.name: read_mot(files[c.name], unique_ids=False) for c in cams}
    kept = []
    for cam in cams:
        with open_source(cam.source) as src:  # type: ignore[arg-type]
            kept.append(keep_rows(tables[cam.name], spec, src.size))
    all_frames, before = sum(len(r) for r in kept), 0
    check = guard.watch(f"cropping the detections of {scene.name}") if guard else None
    per_cam: list[dict[int, NDArray[np.uint8]]] = []
    for cam, rows in zip(cams, kept, strict=True):

        def report(done: int, total: int, name: str = cam.name, start: int = before) -> None:
            if check is not None:
                check(start + done, all_frames)
            if progress is not None:
                progress(ProgressEvent(f"crops {scene.name}/{name}", done, total))

        per_cam.append(camera_crops(cam, rows, tables[cam.name], spec, report))
        before += len(rows)
    frames = sorted(set().union(*[set(c) for c in per_cam]))
    crops: list[NDArray[np.uint8]] = []
    slots = np.full((len(frames), len(cams), spec.max_dets), -1, np.int32)
    for t, f in enumerate(frames):
        for v, cam_crops in enumerate(per_cam):
            got = cam_crops.get(f)
            if got is None:
                continue
            start = sum(len(c) for c in crops)
            slots[t, v, : len(got)] = np.arange(start, start + len(got))
            crops.append(got)
    stacked = (
        np.concatenate(crops) if crops else np.zeros((0, spec.height, spec.width, 3), np.uint8)
    )
    return SceneCrops(scene.name, tuple(c.name for c in cams), stacked, slots, np.asarray(frames))


def load_scene_crops(
    scene: Scene,
    spec: CropSpec,
    cache_dir: Path | None,
    progress: ProgressCallback | None = None,
    guard: BudgetGuard | None = None,
) -> SceneCrops:
    """:func:`build_scene_crops`, through an on-disk cache when ``cache_dir`` is given."""
    path = None if cache_dir is None else Path(cache_dir) / f"crops-{cache_key(scene, spec)}.npz"

    def build() -> Arrays:
        sc = build_scene_crops(scene, spec, progress, guard)
        return {
            "name": np.array(sc.name),
            "cameras": np.array(sc.cameras),
            "crops": sc.crops,
            "slots": sc.slots,
            "frames": sc.frames,
        }

    z = load_or_build(path, build)
    return SceneCrops(
        str(z["name"]), tuple(str(c) for c in z["cameras"]), z["crops"], z["slots"], z["frames"]
    )
