"""Cross-camera association from loaded observations to global identities.

The associate stage (``mcmot.stages.associate``) reads the scene's files into
one :class:`~mcmot.association.data.CameraObs` per camera and writes the
result; everything in between is here:

1. :func:`fit_geometry`: the camera pairs' ground-plane geometry, fitted on
   the whole recording (offline) or on the first frames (online,
   :func:`warmup_window`; moving pairs are then followed frame by frame,
   :mod:`~mcmot.association.follow`), checked around camera loops, switched-off
   windows of moving pairs falling back on a trusted whole-recording fit;
2. :func:`appearance_model`: features smoothed along each tracklet, the
   same-versus-different similarity model (online: fitted on the warm-up
   window too), and its weight beside geometry;
3. :func:`assign_identities`: offline clustering or online assignment with
   the cues chosen.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from mcmot.association.affinity import Cues
from mcmot.association.appearance import (
    AppearanceModel,
    agreement_weight,
    cross_view_similarities,
    fit_appearance_model,
    geometry_agreement,
    known_negative_similarities,
    tracklet_similarities,
)
from mcmot.association.config import AssociateConfig, FrameTimes
from mcmot.association.data import CameraObs
from mcmot.association.geometry import Geometry, PairGeometry, fit_scene
from mcmot.association.loops import check_loops
from mcmot.association.offline import Assignment, associate_offline
from mcmot.association.smoothing import (
    camera_centres,
    causal_smooth_features,
    centre_features,
    smooth_features,
)
from mcmot.association.windows import FOREVER
from mcmot.progress import ProgressCallback

#: Below this appearance weight, an appearance-only run warns.
LOW_APPEARANCE_WEIGHT = 0.3

#: Cross-view similarities sampled to fit the appearance model (online mode).
APPEARANCE_SAMPLE = 200_000


def fit_geometry(
    obs: list[CameraObs],
    cfg: AssociateConfig,
    times: FrameTimes,
    progress: ProgressCallback | None = None,
) -> Geometry:
    """Each camera pair's geometry, fitted on ``obs`` (see the module docstring)."""
    if cfg.mode == "online":
        obs = warmup_window(obs, times)
    pairs = fit_scene(
        obs, cfg.geometry, static=cfg.static_cameras, fps=times.fps, progress=progress
    )
    pairs = {k: g.with_fallbacks() for k, g in check_loops(obs, pairs, cfg.geometry).items()}
    if cfg.mode == "online":
        return {k: carried_forward(g) for k, g in pairs.items()}
    return pairs


def carried_forward(g: PairGeometry) -> PairGeometry:
    """A moving pair whose last window also covers every later frame (online mode:
    frames after the warm-up keep the last homography it found)."""
    if not g.windows:
        return g
    last = g.windows[-1]
    return replace(g, windows=(*g.windows[:-1], replace(last, end=FOREVER)))


def warmup_window(obs: list[CameraObs], times: FrameTimes) -> list[CameraObs]:
    """The rows of the online warm-up: ``times.online_warmup`` frames from the first
    frame with a row, the bounded buffer online mode fits its models on."""
    starts = [int(o.frames[0]) for o in obs if len(o)]
    first = min(starts) if starts else 1
    return [o.window(first, first + times.online_warmup - 1) for o in obs]


def feature_centres(
    obs: list[CameraObs], cfg: AssociateConfig, times: FrameTimes
) -> list[NDArray[np.float64] | None]:
    """Per camera, the centre removed from its features before they are compared
    (``cfg.centre_features``; None = none): the mean feature of the camera's rows,
    over the whole recording offline and over the warm-up window online."""
    if not cfg.centre_features:
        return [None] * len(obs)
    return camera_centres(obs if cfg.mode == "offline" else warmup_window(obs, times))


def appearance_model(
    obs: list[CameraObs],
    cfg: AssociateConfig,
    geometry: Geometry | None,
    times: FrameTimes,
) -> tuple[list[CameraObs], AppearanceModel]:
    """``obs`` with centred and smoothed features, and the appearance model with its
    fusion weight.

    ``geometry`` is None when the geometric cue is not used. With it, the
    weight is ``cfg.appearance_weight`` when given, else (offline, several
    cameras) appearance's agreement with geometry-only association, which
    sets it where geometry decides; where geometry decides nothing the
    mixture's own weight stays (``AppearanceModel.alone_weight``).
    """
    obs = centre_features(obs, feature_centres(obs, cfg, times))
    if cfg.mode == "offline":
        obs = smooth_features(obs)
        sims = tracklet_similarities(obs)
    else:
        obs = causal_smooth_features(obs)
        sims = cross_view_similarities(warmup_window(obs, times), APPEARANCE_SAMPLE)
    fitted_on = obs if cfg.mode == "offline" else warmup_window(obs, times)
    negatives = known_negative_similarities(fitted_on)
    model = fit_appearance_model(sims, cfg.appearance_full_separation, negatives=negatives)
    if geometry is not None and cfg.appearance_weight is not None:
        model = replace(model, weight=cfg.appearance_weight)
    elif geometry is not None and cfg.mode == "offline" and len(obs) > 1:
        model = _calibrate_on_geometry(obs, model, geometry, cfg, times)
    return obs, model


def assign_identities(
    obs: list[CameraObs],
    geometry: Geometry | None,
    model: AppearanceModel | None,
    cfg: AssociateConfig,
    times: FrameTimes,
    notes: list[str],
) -> Assignment:
    """Global identities of every tracklet from the cues given (None = cue not used).

    One camera keeps its track ids. Appearance alone decides whatever its
    weight (the weight only ranks it against geometry); a low weight then
    adds a note to ``notes``.
    """
    if len(obs) == 1:
        n = len(np.unique(obs[0].tids))
        return Assignment([o.tids.copy() for o in obs], n, n)
    cues = fused_cues(geometry, model, cfg, notes)
    if cfg.mode == "online":
        from mcmot.association.online import associate_online

        return associate_online(obs, cues, cfg, times)
    return associate_offline(obs, cues, cfg, times)


def fused_cues(
    geometry: Geometry | None, model: AppearanceModel | None, cfg: AssociateConfig, notes: list[str]
) -> Cues:
    """The cues association fuses: appearance alone decides whatever its weight (the
    weight only ranks it against geometry); a low weight then adds a note."""
    used = model
    if model is not None and geometry is None:
        used = replace(model, weight=1.0)
        if model.weight < LOW_APPEARANCE_WEIGHT:
            notes.append(
                f"appearance looks unreliable here (weight {model.weight:.2f}): "
                "consider --cues both"
            )
    return Cues(geometry, used, cfg.gate_scale)


def _calibrate_on_geometry(
    obs: list[CameraObs],
    model: AppearanceModel,
    geometry: Geometry,
    cfg: AssociateConfig,
    times: FrameTimes,
) -> AppearanceModel:
    """Offline, both cues: the appearance weight from appearance's agreement with
    geometry-only association (see ``appearance.geometry_agreement``); the
    mixture's own check stays when geometry decides too little to compare."""
    alone = associate_offline(obs, Cues(geometry, None, cfg.gate_scale), cfg, times)
    agreement = geometry_agreement(obs, alone.ids)
    if agreement is None:
        return model
    return agreement_weight(model, agreement[0], cfg.appearance_full_separation)
