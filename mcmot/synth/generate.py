"""Write a synthetic scene folder: videos or frames, ground truth, cameras, provenance.

The scene is rendered into a hidden temporary folder beside ``out`` and
renamed into place at the end, so a partly written scene never looks
complete; over an earlier synth scene only the files synth wrote are
replaced. The layout::

    OUT/
      videos/<cam>.mp4  or  frames/<cam>/<frame:06d>.jpg
      gt/<cam>.txt            frame,id,x,y,w,h,1,visibility,-1,-1 (ids global)
      synth/cameras.json      cameras (K, R, t) and people's ground tracks: analysis only
      synth/mosaic_<K>.png    optional contact sheet of frame K
      provenance/synth.json   what made the scene
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mcmot.atomic import current_umask, make_dir, write_error
from mcmot.config import to_dict
from mcmot.errors import McmotError
from mcmot.motio import MotTable, write_mot
from mcmot.progress import ProgressCallback, ProgressEvent
from mcmot.scene import Scene
from mcmot.staging import staged
from mcmot.synth.background import camera_background, ground_texture
from mcmot.synth.bodies import BodyModel
from mcmot.synth.cameras import CameraModel, place_cameras
from mcmot.synth.config import SynthConfig
from mcmot.synth.props import PropModel
from mcmot.synth.render import (
    CameraRenderer,
    PersonPose,
    RenderedFrame,
    pose_person,
    pose_prop,
)
from mcmot.synth.world import World, simulate_world

#: Independent random streams, so that e.g. adding a camera does not change the people.
STREAM_WORLD, STREAM_CAMERAS, STREAM_GROUND, STREAM_BACKDROP, STREAM_NOISE = range(5)
#: Marks a folder as made by ``mcmot synth`` (only such a folder may be replaced).
PROVENANCE = Path("provenance") / "synth.json"
CAMERAS_JSON = Path("synth") / "cameras.json"


@dataclass
class SynthWorld:
    """Everything needed to render a scene: the world, its cameras and their renderers."""

    cfg: SynthConfig
    world: World
    cameras: list[CameraModel]
    renderers: list[CameraRenderer]
    bodies: list[BodyModel]

    def poses(self, t: int) -> list[PersonPose]:
        """The posed people present at 0-based frame ``t``."""
        w = self.world
        return [
            pose_person(
                i + 1,
                self.bodies[i],
                w.pos[t, i],
                w.heading[t, i],
                w.phase[t, i],
                w.amp[t, i],
                w.sun,
            )
            for i in np.flatnonzero(w.present[t])
        ]

    def render(self, t: int, *, effects: bool = True) -> list[RenderedFrame]:
        """Every camera's frame at 0-based frame ``t``."""
        people = self.poses(t)
        return [r.render(people, t, effects=effects) for r in self.renderers]


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def build_world(cfg: SynthConfig) -> SynthWorld:
    """Simulate the people and set up the cameras (no files written)."""
    cfg.validate()
    world = simulate_world(cfg, _rng(cfg.seed, STREAM_WORLD))
    cams = place_cameras(cfg, world.half_size, _rng(cfg.seed, STREAM_CAMERAS))
    tex, to_ground = ground_texture(world.half_size, _rng(cfg.seed, STREAM_GROUND))
    back_rng, noise_rng = _rng(cfg.seed, STREAM_BACKDROP), _rng(cfg.seed, STREAM_NOISE)
    renderers = []
    for cam in cams:
        bg, shadowed = camera_background(cam, tex, to_ground, world.half_size, back_rng)
        renderers.append(
            CameraRenderer(cam, bg, shadowed, cam.noise_bank(noise_rng), cfg.min_visible_px)
        )
    props = [pose_prop(PropModel(p), world.sun) for p in world.props]
    for r in renderers:
        r.props = props
    bodies = [BodyModel(a) for a in world.appearances]
    return SynthWorld(cfg, world, cams, renderers, bodies)


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise McmotError(f"{out} is a file; give a folder for the new scene")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not overwrite:
        raise McmotError(f"{out} exists and is not empty; pass --overwrite to replace it")
    if not (out / PROVENANCE).is_file():
        raise McmotError(
            f"refusing to replace {out}: it holds no {PROVENANCE} so was not made by "
            "mcmot synth; remove it yourself or choose another folder"
        )


class _Writer:
    """Writes one camera's frames as an mp4 or as a folder of jpgs."""

    def __init__(self, root: Path, cam: str, cfg: SynthConfig) -> None:
        self.cfg = cfg
        if cfg.fmt == "mp4":
            self.path = root / "videos" / f"{cam}.mp4"
            make_dir(self.path.parent)
            fourcc = cv2.VideoWriter_fourcc(*"mp4v")
            self.video = cv2.VideoWriter(str(self.path), fourcc, cfg.fps, (cfg.width, cfg.height))
            if not self.video.isOpened():
                raise McmotError("OpenCV cannot write mp4 video here; use --format jpg")
        else:
            self.path = root / "frames" / cam
            make_dir(self.path)
            self.video = None
        self.params = [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality]

    def write(self, frame: int, img: np.ndarray) -> None:
        if self.video is not None:
            self.video.write(img)
        elif not cv2.imwrite(str(self.path / f"{frame:06d}.jpg"), img, self.params):
            raise McmotError(f"cannot write {self.path / f'{frame:06d}.jpg'}")

    def close(self) -> None:
        if self.video is not None:
            self.video.release()


def generate_scene(
    out: Path,
    cfg: SynthConfig,
    *,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    mosaic_frame: int | None = None,
) -> Scene:
    """Render a synthetic scene into the folder ``out`` (see the module docstring).

    Parameters
    ----------
    out : the scene folder to create (its parent is created when missing)
    cfg : what to generate
    overwrite : replace an existing non-empty ``out`` made by ``mcmot synth``
    progress : called after each frame with task "render"
    mosaic_frame : also write ``synth/mosaic_<K>.png`` of this 1-based frame

    Returns
    -------
    the new :class:`~mcmot.scene.Scene`
    """
    cfg.validate()
    given = Path(out)
    out = given.resolve()  # so that "." or "scene/" name a folder that can be renamed
    if mosaic_frame is not None and not 1 <= mosaic_frame <= cfg.frames:
        raise McmotError(f"--mosaic must be a frame from 1 to {cfg.frames}, got {mosaic_frame}")
    _check_out(out, overwrite)
    make_dir(out.parent)
    sw = build_world(cfg)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.synth-", dir=out.parent))
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700; the scene follows the umask
    except OSError as exc:
        raise write_error(out, exc) from exc
    try:
        _render_all(sw, tmp, progress)
        _write_cameras_json(sw, tmp / CAMERAS_JSON)
        scene = Scene(tmp)
        if mosaic_frame is not None:
            from mcmot.synth.mosaic import write_mosaic

            write_mosaic(scene, mosaic_frame, tmp / "synth" / f"mosaic_{mosaic_frame}.png")
        outputs = sorted(p for p in tmp.rglob("*") if p.is_file())
        scene.record("synth", to_dict(cfg), inputs=[], outputs=outputs)
        _swap_into_place(tmp, out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise write_error(out, exc) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Scene(given)


def _render_all(sw: SynthWorld, root: Path, progress: ProgressCallback | None) -> None:
    cfg = sw.cfg
    writers = [_Writer(root, cam.name, cfg) for cam in sw.cameras]
    rows: list[list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in sw.cameras]
    try:
        for t in range(cfg.frames):
            for c, frame in enumerate(sw.render(t)):
                writers[c].write(t + 1, frame.image)
                rows[c].append((t + 1, frame.ids, frame.boxes, frame.visibility))
            if progress is not None:
                progress(ProgressEvent("render", t + 1, cfg.frames))
    finally:
        for w in writers:
            w.close()
    for cam, cam_rows in zip(sw.cameras, rows, strict=True):
        write_mot(root / "gt" / f"{cam.name}.txt", _gt_table(cam_rows))


def _gt_table(frames: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]) -> MotTable:
    """MOT rows ``frame,id,x,y,w,h,1,visibility,-1,-1`` of one camera.

    ``frames`` holds (1-based frame, (N,) ids, (N, 4) tlwh boxes, (N,) visibility) tuples.
    """
    if not frames:
        return MotTable.empty()
    nums = np.concatenate([np.full(len(ids), k, np.int64) for k, ids, _, _ in frames])
    ids = np.concatenate([f[1] for f in frames])
    boxes = np.concatenate([f[2] for f in frames]).reshape(-1, 4)
    vis = np.round(np.concatenate([f[3] for f in frames]), 3)
    extra = np.column_stack([vis, np.full(len(vis), -1.0), np.full(len(vis), -1.0)])
    return MotTable.from_arrays(nums, ids, boxes, np.ones(len(ids)), extra)


def _write_cameras_json(sw: SynthWorld, path: Path) -> None:
    from mcmot.atomic import write_json

    w = sw.world
    people = []
    for i, app in enumerate(w.appearances):
        frames = np.flatnonzero(w.present[:, i])
        track = np.column_stack(
            [frames + 1, np.round(w.pos[frames, i], 4), np.round(w.heading[frames, i], 4)]
        )
        people.append(
            {
                "id": i + 1,
                "appearance": to_dict(app),
                "track": [[int(r[0]), r[1], r[2], 0.0, r[3]] for r in track.tolist()],
            }
        )
    write_json(
        path,
        {
            "note": "for analysis only: no tracker stage may read this file",
            "track_columns": ["frame", "x", "y", "z", "heading_rad"],
            "world": "x, y on the ground plane, z up, metres; track points are ground points",
            "fps": sw.cfg.fps,
            "area_half_size": w.half_size.round(4).tolist(),
            "sun": w.sun.round(6).tolist(),
            "cameras": [c.to_json() for c in sw.cameras],
            "props": [to_dict(p) for p in w.props],
            "people": people,
        },
    )


def _swap_into_place(tmp: Path, out: Path) -> None:
    """Put the finished scene ``tmp`` at ``out``.

    A missing or empty ``out`` becomes ``tmp`` in one rename. Over an earlier
    synth scene, only what synth wrote there (the files its provenance
    record lists) is replaced or removed, all together (see
    :mod:`mcmot.staging`); every other file stays: the user's own, and the
    outputs of later stages, which their provenance then shows to be stale.
    """
    if not out.is_dir() or not any(out.iterdir()):
        os.replace(tmp, out)
        return
    rec = Scene(out).read_record("synth") or {}
    old = set(rec.get("outputs", {})) | {str(PROVENANCE)}
    new = {str(p.relative_to(tmp)): p for p in sorted(tmp.rglob("*")) if p.is_file()}
    foreign = [rel for rel in new if rel not in old and (out / rel).exists()]
    if foreign:
        raise McmotError(
            f"refusing to replace {out / foreign[0]}: mcmot synth did not write it; "
            "move it away or choose another folder"
        )
    gone = sorted(old - set(new))
    with staged(out, "synth") as st:
        for rel, src in new.items():
            os.replace(src, st.path(out / rel))
        for rel in gone:
            st.remove(out / rel)
    for rel in gone:  # folders emptied by the removals (an old camera's frames/)
        for folder in (out / rel).parents:
            if folder == out:
                break
            with contextlib.suppress(OSError):
                folder.rmdir()
    shutil.rmtree(tmp, ignore_errors=True)
