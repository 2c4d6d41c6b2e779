"""SSAT's online tracker (paper Sec. 3.3): cosine plus box distance, two stages, EMA features.

Each detection is compared with each track by ``D = D_cos + D_bbox``:

- ``D_cos = 1 - cos(f_track, f_det)``, with ``f_track`` the track's
  exponential moving average of its detections' features
  (``f <- ema * f_new + (1 - ema) * f``; 0.4 in the paper);
- ``D_bbox = ||b_track - b_det|| / (alpha * p_track)``, with ``b`` the box's
  corners (x1, y1, x2, y2), ``b_track`` the track's last box and ``p_track``
  its perimeter (alpha = 2 in the paper).

Stage 1 matches the tracks seen in the previous frame ("tracked") to the
detections (Hungarian, pairs with ``D`` above ``tau1`` refused); stage 2
matches the detections left to the tracks missed since ("lost") with
``tau2``; every detection still left starts a track. A track lost for longer
than ``max_age_seconds`` is dropped. The settings are
:class:`mcmot.tracking.config.SsatConfig`. There is no motion model and no
confirmation delay: every matched or new detection is output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from mcmot.timebase import DEFAULT_FPS, frames_rounded
from mcmot.tracking.config import SsatConfig
from mcmot.tracking.matching import min_cost_matching

if TYPE_CHECKING:
    from mcmot.tracking.tracker import Detections

FloatArray = NDArray[np.float64]


def corners(tlwh: FloatArray) -> FloatArray:
    """(N, 4) tlwh boxes -> (N, 4) corners (x1, y1, x2, y2)."""
    tlwh = np.asarray(tlwh, np.float64).reshape(-1, 4)
    return np.column_stack([tlwh[:, :2], tlwh[:, :2] + tlwh[:, 2:]])


def box_distance(track_tlwh: FloatArray, det_tlwh: FloatArray, alpha: float) -> FloatArray:
    """(N, M) ``D_bbox``: corner distance over ``alpha`` times the track box's perimeter."""
    diff = corners(track_tlwh)[:, None, :] - corners(det_tlwh)[None, :, :]
    t = np.asarray(track_tlwh, np.float64).reshape(-1, 4)
    perimeter = 2.0 * (t[:, 2] + t[:, 3])
    return np.linalg.norm(diff, axis=2) / (alpha * np.maximum(perimeter, 1e-9))[:, None]


def cosine_distance(track_feats: FloatArray, det_feats: FloatArray) -> FloatArray:
    """(N, M) ``1 - cos`` between track and detection features (any norms)."""
    a = track_feats / np.maximum(np.linalg.norm(track_feats, axis=1, keepdims=True), 1e-12)
    b = det_feats / np.maximum(np.linalg.norm(det_feats, axis=1, keepdims=True), 1e-12)
    return 1.0 - a @ b.T


@dataclass
class SsatTrack:
    """A track: its id, last box, averaged feature and the frame it was last seen."""

    track_id: int
    tlwh: FloatArray
    feature: FloatArray | None
    last_seen: int
    hits: int = 1


class SsatTracker:
    """SSAT's online tracker over the frames of one camera.

    The same interface as :class:`mcmot.tracking.Tracker`: ``update`` once per
    frame with that frame's :class:`~mcmot.tracking.Detections`, ``skip`` over
    frames without any.
    """

    def __init__(self, cfg: SsatConfig | None = None) -> None:
        self.cfg = cfg or SsatConfig()
        self.max_age = frames_rounded(self.cfg.max_age_seconds, self.cfg.fps or DEFAULT_FPS)
        self.tracks: list[SsatTrack] = []
        self.frame_count = 0
        self._next_id = 1

    def distances(
        self, tracks: list[SsatTrack], tlwh: FloatArray, feats: FloatArray | None
    ) -> FloatArray:
        """(T, M) ``D`` between ``tracks`` and the detections."""
        cost = np.zeros((len(tracks), len(tlwh)))
        if not len(tracks) or not len(tlwh):
            return cost
        if self.cfg.box_cost:
            cost += box_distance(np.stack([t.tlwh for t in tracks]), tlwh, self.cfg.alpha)
        if feats is not None:
            cost += cosine_distance(np.stack([t.feature for t in tracks]), feats)  # type: ignore[misc]
        return cost

    def update(self, detections: Detections) -> list[tuple[int, FloatArray, int]]:
        """Advance one frame; one ``(track_id, tlwh, det_index)`` per detection kept, by id."""
        self.frame_count += 1
        keep = np.flatnonzero(np.asarray(detections.scores) >= self.cfg.min_confidence)
        tlwh = np.asarray(detections.tlwh, np.float64).reshape(-1, 4)[keep]
        raw = detections.features
        feats = None if raw is None else np.asarray(raw, np.float64)[keep]
        tracked = [i for i, t in enumerate(self.tracks) if t.last_seen == self.frame_count - 1]
        lost = [i for i, t in enumerate(self.tracks) if t.last_seen < self.frame_count - 1]
        pairs, free = self._stage(tracked, tlwh, feats, self.cfg.tau1, list(range(len(tlwh))))
        more, free = self._stage(lost, tlwh, feats, self.cfg.tau2, free)
        out = []
        for ti, di in pairs + more:
            self._update_track(self.tracks[ti], tlwh[di], None if feats is None else feats[di])
            out.append((self.tracks[ti].track_id, tlwh[di], int(keep[di])))
        for di in free:
            feat = None if feats is None else feats[di]
            track = SsatTrack(self._next_id, tlwh[di], feat, self.frame_count)
            self._next_id += 1
            self.tracks.append(track)
            out.append((track.track_id, tlwh[di], int(keep[di])))
        self.tracks = [t for t in self.tracks if self.frame_count - t.last_seen <= self.max_age]
        return sorted(out, key=lambda row: row[0])

    def _stage(
        self,
        rows: list[int],
        tlwh: FloatArray,
        feats: FloatArray | None,
        tau: float,
        cols: list[int],
    ) -> tuple[list[tuple[int, int]], list[int]]:
        """Hungarian matching of tracks ``rows`` to detections ``cols`` within ``tau``."""
        if not rows or not cols:
            return [], cols
        tracks = [self.tracks[i] for i in rows]
        sub = self.distances(tracks, tlwh[cols], None if feats is None else feats[cols])
        matches, _, left = min_cost_matching(sub, tau)
        return [(rows[r], cols[c]) for r, c in matches], [cols[c] for c in left]

    def _update_track(self, track: SsatTrack, tlwh: FloatArray, feat: FloatArray | None) -> None:
        track.tlwh = tlwh
        track.last_seen = self.frame_count
        track.hits += 1
        if feat is not None and track.feature is not None:
            track.feature = self.cfg.ema * feat + (1.0 - self.cfg.ema) * track.feature

    def skip(self, frames: int) -> None:
        """Advance over ``frames`` frames without detections (lost tracks age)."""
        self.frame_count += max(frames, 0)
        self.tracks = [t for t in self.tracks if self.frame_count - t.last_seen <= self.max_age]

    def pop_recovered(self) -> list:
        """Nothing: SSAT outputs every detection when it arrives."""
        return []
