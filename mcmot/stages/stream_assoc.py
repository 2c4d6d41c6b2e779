"""Online association fed one timestep of final track rows at a time.

What ``associate --mode online`` does over the whole ``tracks/`` files, done
as the rows arrive, with the same functions: each frame's rows become
:class:`CameraObs` (:func:`make_obs`, features by :func:`features_for_tracks`),
features lose their camera's centre (fitted on the warm-up, see below) and are
smoothed along tracklets by :class:`RunningMeans`, and
:class:`OnlineAssociator` gives the identities. When geometry is to be fitted,
or the appearance model, the rows of the first ``online_warmup`` seconds are
buffered, the models are fitted on them (:func:`fit_geometry`,
:func:`appearance_model`), and the buffered frames are replayed. A frame's
global rows are handed out once every row of it has its identity.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from mcmot.association.config import AssociateConfig, FrameTimes
from mcmot.association.data import CameraObs, concat_obs, features_for_tracks, make_obs
from mcmot.association.online import OnlineAssociator
from mcmot.association.pipeline import (
    Geometry,
    appearance_model,
    feature_centres,
    fit_geometry,
    fused_cues,
)
from mcmot.association.smoothing import RunningMeans, centred_rows
from mcmot.motio import MotTable
from mcmot.stages.stream_track import FrameTracks


@dataclass
class _Waiting:
    """A frame's track rows, per camera, waiting for their global identities."""

    tracks: list[MotTable]
    ids: list[NDArray[np.int64]]
    left: int


class StreamAssociation:
    """Global identities of a stream of final track rows (see the module docstring).

    Parameters
    ----------
    names, sizes : the cameras and their image sizes (width, height)
    cfg, times : the associator's settings (mode online) and its durations in frames
    use_app, use_geo : the cues in use
    geometry : a loaded geometry (``--geometry``), or None to fit one on the warm-up
    forget_after : frames after which a tracklet not seen is over (the tracker's
        ``max_age`` and more): its running mean is dropped
    on_geometry : called with the fitted geometry
    """

    def __init__(
        self,
        names: list[str],
        sizes: list[tuple[float, float]],
        cfg: AssociateConfig,
        times: FrameTimes,
        use: tuple[bool, bool],
        geometry: Geometry | None,
        forget_after: int,
        on_geometry: Callable[[Geometry], None],
    ) -> None:
        self.names, self.image_sizes, self.cfg, self.times = names, sizes, cfg, times
        self.use_app, self.use_geo = use
        self.geometry, self.on_geometry = geometry, on_geometry
        self.forget_after = forget_after
        self.notes: list[str] = []
        self.assoc: OnlineAssociator | None = None
        self.first: int | None = None
        self.buffer: list[tuple[int, list[CameraObs]]] = []
        self.means = [RunningMeans() for _ in names]
        self.centres: list[NDArray[np.float64] | None] = [None] * len(names)
        self.last_seen: list[dict[int, int]] = [{} for _ in names]
        self.waiting: OrderedDict[int, _Waiting] = OrderedDict()
        if len(names) > 1 and not ((self.use_geo and geometry is None) or self.use_app):
            self._start()  # nothing to fit: no warm-up

    def push(self, frame: int, tracks: list[FrameTracks]) -> list[tuple[int, list[MotTable]]]:
        """Observe one final frame of every camera; returns the frames whose global rows
        are all known, in order, as per-camera tables."""
        obs = [self._obs(i, ft) for i, ft in enumerate(tracks)]
        if sum(len(o) for o in obs):
            self.waiting[frame] = _Waiting(
                [ft.tracks for ft in tracks], [np.zeros(len(o), np.int64) for o in obs], 0
            )
            self._observe(frame, obs)
        elif self._warming() and frame >= self._warm_end():
            self._start()
        return self._ready()

    def finish(self) -> list[tuple[int, list[MotTable]]]:
        """Decide every pending tracklet; the remaining frames (the end of the stream)."""
        if self.assoc is None and len(self.names) > 1:
            self._start()
        if self.assoc is not None:
            self._assign(self.assoc.finish())
        return self._ready()

    def sizes(self) -> dict[str, int]:
        """What association holds now (each bounded: see docs/streaming.md)."""
        out = {
            "warmup_frames": len(self.buffer),
            "waiting_frames": len(self.waiting),
            "running_means": sum(len(m.sums) for m in self.means),
        }
        if self.assoc is not None:
            st = self.assoc.state
            out |= {
                "pending": len(st.pending),
                "live_tracklets": len(st.last_seen),
                "identity_sums": len(st.feats),
                "gallery": len(st.gallery),
                "held_rows": sum(len(v) for v in self.assoc.held.values()),
                "geometry_frames": len(f.buffer) if (f := self.assoc.follower) else 0,
            }
        return out

    # ------------------------------------------------------------ steps
    def _obs(self, ci: int, ft: FrameTracks) -> CameraObs:
        feats = None
        if self.use_app and ft.inputs.assoc_feats is not None:
            det, fa = ft.inputs.det, ft.inputs.assoc_feats
            feats, _ = features_for_tracks(ft.tracks, det, fa, self.cfg.feature_iou)
        border = self.cfg.geometry.border_margin
        return make_obs(
            self.names[ci], ft.tracks, self.image_sizes[ci], border_margin=border, feats=feats
        )

    def _warming(self) -> bool:
        return self.assoc is None and len(self.names) > 1 and self.first is not None

    def _warm_end(self) -> int:
        assert self.first is not None
        return self.first + self.times.online_warmup - 1

    def _observe(self, frame: int, obs: list[CameraObs]) -> None:
        if len(self.names) == 1:  # one camera keeps its track ids
            w = self.waiting[frame]
            w.ids = [t.ids.copy() for t in w.tracks]
            return
        if self.assoc is None:
            self.first = frame if self.first is None else self.first
            if frame <= self._warm_end():
                self.buffer.append((frame, obs))
                if frame == self._warm_end():
                    self._start()
                return
            self._start()
        self._step(frame, obs)

    def _start(self) -> None:
        """Fit what is to be fitted on the warm-up buffer, then replay it."""
        buffered = [
            concat_obs([obs[i] for _, obs in self.buffer] or [self._empty(i)])
            for i in range(len(self.names))
        ]
        geometry = self.geometry
        if self.use_geo and geometry is None:
            geometry = fit_geometry(buffered, self.cfg, self.times)
            self.on_geometry(geometry)
        geo = geometry if self.use_geo else None
        model = None
        if self.use_app:
            self.centres = feature_centres(buffered, self.cfg, self.times)
            model = appearance_model(buffered, self.cfg, geo, self.times)[1]
        cues = fused_cues(geo, model, self.cfg, self.notes)
        self.assoc = OnlineAssociator(cues, self.cfg, self.times)
        buffer, self.buffer = self.buffer, []
        for frame, obs in buffer:
            self._step(frame, obs)

    def _empty(self, ci: int) -> CameraObs:
        border = self.cfg.geometry.border_margin
        return make_obs(
            self.names[ci], MotTable.empty(), self.image_sizes[ci], border_margin=border
        )

    def _step(self, frame: int, obs: list[CameraObs]) -> None:
        assert self.assoc is not None
        smoothed = []
        for ci, o in enumerate(obs):
            seen = self.last_seen[ci]
            seen.update(dict.fromkeys(o.tids.tolist(), frame))
            if o.feats is not None and len(o):
                c = self.centres[ci]
                feats = o.feats if c is None else centred_rows(o.feats, c)
                o = replace(o, feats=self.means[ci].smooth(o.tids, feats))
            smoothed.append(o)
            over = {t for t, last in seen.items() if last < frame - self.forget_after}
            self.means[ci].forget(over)
            for t in over:
                del seen[t]
        refs = [[(frame, ci, int(r)) for r in o.order] for ci, o in enumerate(obs)]
        self._assign(self.assoc.step(frame, smoothed, refs))

    def _assign(self, fixed: list[tuple[tuple[int, int, int], int]]) -> None:
        for (frame, ci, row), gid in fixed:
            w = self.waiting[frame]
            w.ids[ci][row] = gid
            w.left += 1

    def _ready(self) -> list[tuple[int, list[MotTable]]]:
        out = []
        while self.waiting:
            frame, w = next(iter(self.waiting.items()))
            total = sum(len(t) for t in w.tracks)
            if len(self.names) > 1 and w.left < total:
                break
            self.waiting.popitem(last=False)
            out.append((frame, [t.with_ids(ids) for t, ids in zip(w.tracks, w.ids, strict=True)]))
        return out
