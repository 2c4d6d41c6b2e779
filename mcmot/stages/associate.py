"""The associate stage: ``tracks/<cam>.txt`` -> ``global/<cam>.txt`` (+ ``geometry.json``).

The stage reads the scene's files, hands the observations to
:mod:`mcmot.association.pipeline` and writes the identities; the
algorithm lives there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from mcmot.association.appearance import AppearanceModel
from mcmot.association.config import AssociateConfig, FrameTimes, check_associate_config
from mcmot.association.data import CameraObs, estimate_size, features_for_tracks, make_obs
from mcmot.association.geometry import PairGeometry, load_geometry, save_geometry
from mcmot.association.offline import Assignment
from mcmot.association.pipeline import appearance_model, assign_identities, fit_geometry
from mcmot.config import to_dict
from mcmot.errors import McmotError
from mcmot.frames import open_source
from mcmot.motio import MotTable, read_mot, write_mot
from mcmot.progress import ProgressCallback, ProgressEvent
from mcmot.scene import Scene, stage_lock
from mcmot.timebase import scene_fps

GEOMETRY_FILE = "geometry.json"


@dataclass(frozen=True)
class AssociateResult:
    """What :func:`run_associate` did.

    Attributes
    ----------
    cameras : camera names, in order
    rows : per camera, number of track rows written
    tracklets : number of per-camera tracklets
    identities : number of global identities
    cues : the cues actually used ('none' for one camera)
    geometry : fitted or loaded pair geometry (empty without the geometry cue)
    appearance : the fitted appearance model (its weight the one used in fusion:
        ``cfg.appearance_weight`` when given), or None
    reentry_threshold : calibrated re-entry similarity, or None
    notes : one-line remarks for the user (fallbacks taken)
    seconds : wall time by step
    """

    cameras: list[str]
    rows: list[int]
    tracklets: int
    identities: int
    cues: str
    geometry: dict[tuple[str, str], PairGeometry] = field(default_factory=dict)
    appearance: AppearanceModel | None = None
    reentry_threshold: float | None = None
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def _left_out(scene: Scene, cams: list[str]) -> list[str]:
    """A note naming the scene's cameras without ``tracks/<cam>.txt`` (they get no
    ``global/`` file), and one when fewer than two cameras are left to associate."""
    missing = [c for c in scene.camera_names() if c not in cams]
    notes = []
    if missing:
        notes.append(
            f"{', '.join(missing)}: no tracks/<cam>.txt, left out of the association "
            "(run `mcmot track` on every camera)"
        )
    if len(cams) < 2:
        notes.append(f"only {cams[0]} has tracks: there is no other camera to match it with")
    return notes


def _load_tracks(scene: Scene) -> dict[str, MotTable]:
    files = scene.stage_files("tracks")
    if not files:
        raise McmotError(f"no tracks/<cam>.txt in {scene.root}: run `mcmot track` first")
    tracks = {cam: read_mot(p) for cam, p in files.items()}
    for cam, t in tracks.items():
        if len(t) and (t.ids < 1).any():
            raise McmotError(f"{files[cam]}: track ids must be >= 1 (found {int(t.ids.min())})")
    return tracks


def _load_features(
    scene: Scene, cam: str, tracks: MotTable, cfg: AssociateConfig
) -> NDArray[np.float32]:
    """Each track row's feature (zero rows where no detection matched)."""
    fpath, dpath = scene.path("features", cam), scene.path("det", cam)
    if not fpath.is_file():
        raise McmotError(f"missing {fpath}: run `mcmot extract-features` or use --cues geometry")
    det = read_mot(dpath, unique_ids=False)
    try:
        with np.load(fpath, allow_pickle=False) as z:
            if cfg.features not in z.files:
                raise McmotError(
                    f"{fpath} has no array {cfg.features!r} (has {', '.join(z.files)})"
                )
            feats = np.asarray(z[cfg.features], np.float32)
            frames = np.asarray(z["frames"]) if "frames" in z.files else None
    except (OSError, ValueError) as exc:
        raise McmotError(f"cannot read {fpath}: {exc}") from None
    if feats.ndim != 2 or len(feats) != len(det):
        raise McmotError(
            f"{fpath} has {len(feats)} feature rows but {dpath} has {len(det)} rows: "
            "rerun `mcmot extract-features`"
        )
    if frames is not None and not np.array_equal(frames, det.frames):
        raise McmotError(f"{fpath} frames do not match {dpath}: rerun `mcmot extract-features`")
    out, _ = features_for_tracks(tracks, det, feats, cfg.feature_iou)
    return out


def _image_sizes(scene: Scene, tracks: dict[str, MotTable]) -> dict[str, tuple[float, float]]:
    """Each camera's image size: from its pixels, else estimated from its boxes."""
    sizes: dict[str, tuple[float, float]] = {}
    pix = {c.name: c.source for c in scene.pixel_cameras()}
    for cam, t in tracks.items():
        if pix.get(cam) is not None:
            with open_source(pix[cam]) as src:
                sizes[cam] = tuple(float(v) for v in src.size)  # type: ignore[assignment]
            continue
        tables = [t]
        dpath = scene.path("det", cam)
        if dpath.is_file():
            tables.append(read_mot(dpath, unique_ids=False))
        sizes[cam] = estimate_size(tables)
    return sizes


def _resolve_cues(
    scene: Scene, cams: list[str], cfg: AssociateConfig
) -> tuple[bool, bool, list[str]]:
    """(use appearance, use geometry, notes) given the cues asked and the files present
    (the notes also name the cameras left out for want of tracks)."""
    notes = _left_out(scene, cams)
    have_feats = all(scene.path("features", c).is_file() for c in cams)
    want_app = cfg.cues in ("appearance", "both")
    want_geo = cfg.cues in ("geometry", "both")
    if cfg.cues == "appearance" and not have_feats:
        missing = next(c for c in cams if not scene.path("features", c).is_file())
        raise McmotError(
            f"--cues appearance needs features/{missing}.npz: run `mcmot extract-features` "
            "or use --cues geometry"
        )
    if want_app and not have_feats:
        notes.append("no features/ for every camera: using the geometry cue only")
        want_app = False
    if len(cams) == 1:  # nothing to match across
        want_app = want_geo = False
    return want_app, want_geo, notes


def build_obs(
    scene: Scene, tracks: dict[str, MotTable], cfg: AssociateConfig, with_features: bool
) -> list[CameraObs]:
    """One :class:`CameraObs` per camera with tracks."""
    sizes = _image_sizes(scene, tracks)
    obs = []
    for cam, t in tracks.items():
        feats = _load_features(scene, cam, t, cfg) if with_features else None
        obs.append(
            make_obs(cam, t, sizes[cam], border_margin=cfg.geometry.border_margin, feats=feats)
        )
    return obs


def loaded_geometry(path: str, names: list[str]) -> dict[tuple[str, str], PairGeometry]:
    """The pairs of ``names`` in the geometry file ``path``, each in the scene's camera order."""
    loaded = load_geometry(Path(path))
    out = {}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if (a, b) in loaded:
                out[(a, b)] = loaded[(a, b)]
            elif (b, a) in loaded:
                out[(a, b)] = loaded[(b, a)].reversed()
    return out


def loaded_pairs_cover(
    path: str, cams: list[str], geometry: dict[tuple[str, str], PairGeometry]
) -> list[str]:
    """Notes on camera pairs a ``--geometry`` file lacks; an error when it has none of them."""
    wanted = [(a, b) for i, a in enumerate(cams) for b in cams[i + 1 :]]
    missing = [f"{a}-{b}" for a, b in wanted if (a, b) not in geometry]
    if wanted and len(missing) == len(wanted):
        raise McmotError(
            f"{path} has no geometry for any pair of this scene's cameras "
            f"({', '.join(cams)}): was it made for another scene?"
        )
    if missing:
        return [f"{path} has no geometry for {', '.join(missing)}: no geometric cue there"]
    return []


@stage_lock("associate")
def run_associate(
    scene: Scene | Path | str,
    cfg: AssociateConfig = AssociateConfig(),
    *,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> AssociateResult:
    """Give every track row a global identity consistent across cameras.

    Reads ``tracks/<cam>.txt`` (and ``det/`` + ``features/`` for appearance),
    writes ``global/<cam>.txt`` and, when geometry is fitted, ``geometry.json``.
    """
    sc = scene if isinstance(scene, Scene) else Scene(scene)
    check_associate_config(cfg)
    tracks = _load_tracks(sc)
    cams = list(tracks)
    outputs = [sc.path("global", c) for c in cams]
    use_app, use_geo, notes = _resolve_cues(sc, cams, cfg)
    fit_geo = use_geo and not cfg.geometry_path
    sc.check_writable(outputs + ([sc.root / GEOMETRY_FILE] if fit_geo else []), overwrite)
    times = frame_times(sc, cfg, notes)
    clock = _Clock()
    obs = build_obs(sc, tracks, cfg, use_app)
    clock.lap("load")
    geometry: dict[tuple[str, str], PairGeometry] = {}
    if use_geo and cfg.geometry_path:
        geometry = loaded_geometry(cfg.geometry_path, cams)
        notes += loaded_pairs_cover(cfg.geometry_path, cams, geometry)
    elif use_geo:
        geometry = fit_geometry(obs, cfg, times, progress)
        clock.lap("geometry")
    geo = geometry if use_geo else None
    model = None
    if use_app:
        obs, model = appearance_model(obs, cfg, geo, times)
    clock.lap("appearance")
    assignment = assign_identities(obs, geo, model, cfg, times, notes)
    clock.lap("associate")
    cues_used = "none" if len(cams) == 1 else _cue_name(use_app, use_geo)
    inputs = _inputs(sc, cams, use_app, cfg)
    with sc.staged("associate") as st:  # every camera's identities land together
        _write(tracks, obs, assignment, [st.path(p) for p in outputs])
        if fit_geo:
            save_geometry(st.path(sc.root / GEOMETRY_FILE), geometry)
            outputs.append(sc.root / GEOMETRY_FILE)
        sc.record("associate", {**to_dict(cfg), "cues_used": cues_used}, inputs, outputs, st)
    if progress is not None:
        progress(ProgressEvent("associate", 1, 1))
    return AssociateResult(
        cameras=cams,
        rows=[len(t) for t in tracks.values()],
        tracklets=assignment.tracklets,
        identities=assignment.identities,
        cues=cues_used,
        geometry=geometry,
        appearance=model,
        reentry_threshold=assignment.reentry_threshold,
        notes=notes,
        seconds=clock.seconds,
    )


def frame_times(sc: Scene, cfg: AssociateConfig, notes: list[str]) -> FrameTimes:
    """The durations of ``cfg`` in frames at the scene's rate (a note when it is assumed)."""
    fps, fps_note = scene_fps(sc, cfg.fps)
    notes += [fps_note] if fps_note else []
    return FrameTimes.of(cfg, fps)


def _inputs(sc: Scene, cams: list[str], use_app: bool, cfg: AssociateConfig) -> list[Path]:
    """The files the stage reads: tracks, with appearance features and det, a geometry file."""
    inputs = [sc.path("tracks", c) for c in cams]
    if use_app:
        inputs += [sc.path("features", c) for c in cams] + [sc.path("det", c) for c in cams]
    if cfg.geometry_path:
        inputs.append(Path(cfg.geometry_path))
    return inputs


class _Clock:
    """Wall time of the steps of one call, by name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = now - self._t
        self._t = now


def _cue_name(app: bool, geo: bool) -> str:
    return {(True, True): "both", (True, False): "appearance", (False, True): "geometry"}.get(
        (app, geo), "none"
    )


def _write(
    tracks: dict[str, MotTable],
    obs: list[CameraObs],
    assignment: Assignment,
    outputs: list[Path],
) -> None:
    for o, ids, path in zip(obs, assignment.ids, outputs, strict=True):
        t = tracks[o.name]
        new = np.empty(len(t), np.int64)
        new[o.order] = ids
        write_mot(path, t.with_ids(new))
