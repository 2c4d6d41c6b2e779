"""An online DeepSORT tracker for one camera: one frame in, the tracked boxes out.

Per frame (Wojke, Bewley and Paulus, "Simple online and realtime tracking
with a deep association metric", ICIP 2017):

1. predict every track one frame ahead (Kalman, all tracks at once; on footage
   below 7 frames/s, one frame counts as several of the filter's reference
   frames, ``KalmanConfig.reference_fps``);
2. matching cascade over the confirmed tracks, most recently updated first:
   cost = smallest cosine distance between the detection's feature and the
   track's gallery of recent features, pairs beyond the Mahalanobis gate
   (chi-square 0.95 quantile, 4 dof) ruled out, pairs above
   ``max_cosine_distance`` rejected. Without features (motion only) the
   cost is ``1 - IoU`` with the predicted box (or, with ``motion_cost =
   "mahalanobis"``, the squared Mahalanobis distance divided by the gate).
   With an appearance weight below 1 (``appearance_weight``, calibrated per
   camera by ``mcmot.stages.track``) the cost is the motion cost shifted by
   at most that weight by appearance;
3. IoU matching (``1 - IoU <= max_iou_distance``) of the tentative tracks
   and the confirmed tracks missed for exactly one frame against the
   detections left;
4. optional (``low_confidence``), as in BYTE (Zhang et al., "ByteTrack",
   ECCV 2022): IoU matching of the confirmed tracks still unmatched and
   seen in the previous frame against the detections scoring in
   ``[low_confidence, min_confidence)``, which never start tracks;
5. Kalman update of matched tracks; unmatched tentative tracks are deleted,
   confirmed ones after ``max_age`` missed frames; every unmatched
   (high-score) detection starts a tentative track, confirmed after
   ``n_init`` consecutive hits. With ``emit_tentative``, the rows of a
   track's tentative frames are handed out (``pop_recovered``) once it is
   confirmed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mcmot.boxes import tlwh_to_xyah, xyah_to_tlwh
from mcmot.timebase import DEFAULT_FPS, frames_at_least_one, frames_rounded
from mcmot.tracking.config import TrackerConfig
from mcmot.tracking.kalman import KalmanFilter
from mcmot.tracking.matching import (
    GATED,
    GATING_THRESHOLD,
    cosine_cost,
    gate,
    iou_cost,
    matching_cascade,
    min_cost_matching,
)
from mcmot.tracking.track import Track

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Detections:
    """The detections of one frame.

    Attributes
    ----------
    tlwh : (N, 4) boxes
    scores : (N,) confidences
    features : (N, D) L2-normalised appearance features, or None (motion only)
    """

    tlwh: FloatArray
    scores: FloatArray
    features: FloatArray | None = None

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4)), np.zeros(0))

    def __len__(self) -> int:
        return len(self.tlwh)


#: One output row: (track id, the matched detection's tlwh box (4,), its index in the input).
TrackedBox = tuple[int, FloatArray, int]
#: A row recovered from a track's tentative frames: (frame number, track id, tlwh (4,),
#: detection index within that frame's input).
RecoveredBox = tuple[int, int, FloatArray, int]


class Tracker:
    """DeepSORT for one camera, fed one frame at a time.

    Identities start at 1 and count up per tracker instance; an identity is
    never given out twice, so a deleted track's id is never reused.

    Parameters
    ----------
    cfg : parameters (see :class:`TrackerConfig`)
    frames_per_step : video frames between two calls of :meth:`update` (a detector
        run on every k-th frame: ``mcmot.tracking.stride``); everything but the filter
        counts steps (``cfg.fps`` is then the steps' rate). The filter predicts each
        video frame as ``round(kalman.reference_fps / video fps)`` reference frames
        (at least one), so its uncertainty grows with the time that passed
    """

    def __init__(self, cfg: TrackerConfig | None = None, frames_per_step: int = 1) -> None:
        self.cfg = cfg or TrackerConfig()
        self.frames_per_step = frames_per_step
        fps = self.cfg.fps or DEFAULT_FPS  # the steps' rate
        reference = self.cfg.kalman.reference_fps
        per_frame = max(1, round(reference / (fps * frames_per_step)))
        #: the filter's predictions per step: reference frames per video frame, per step
        self.predictions = frames_per_step * per_frame
        #: the motion cost in use ("auto" resolved: steps more than ~0.15 s apart, where
        #: one walker's boxes rarely overlap, take "mahalanobis")
        self.motion_cost = self.cfg.motion_cost
        if self.motion_cost == "auto":
            self.motion_cost = "mahalanobis" if round(reference / fps) > 1 else "iou"
        #: frames of ``n_init_seconds`` and ``max_age_seconds`` at the config's rate
        self.n_init = frames_at_least_one(self.cfg.n_init_seconds, fps)
        self.max_age = frames_rounded(self.cfg.max_age_seconds, fps)
        self.kf = KalmanFilter(self.cfg.kalman)
        self.tracks: list[Track] = []
        self.frame_count = 0
        self._next_id = 1
        self._recovered: list[RecoveredBox] = []

    def update(self, detections: Detections) -> list[TrackedBox]:
        """Advance one frame with its detections.

        Returns
        -------
        One ``(track_id, tlwh, det_index)`` per confirmed track updated in this
        frame, sorted by id: the matched detection's box and its row in
        ``detections``.
        """
        self.frame_count += 1
        high, low = self._admissible(detections)
        keep = np.concatenate([high, low])
        boxes = np.asarray(detections.tlwh, np.float64).reshape(-1, 4)[keep]
        use_feats = detections.features is not None and self.appearance_weight > 0
        feats = np.asarray(detections.features)[keep] if use_feats else None
        xyah = tlwh_to_xyah(boxes)
        means, covs = self._predict()
        matches, missed, new = self._associate(means, covs, boxes, xyah, feats, len(high))
        out: list[TrackedBox] = []
        new_means, new_covs = self._correct(means, covs, matches, xyah)
        for (ti, di), m, c in zip(matches, new_means, new_covs, strict=True):
            track = self.tracks[ti]
            was_tentative = track.is_tentative
            track.update(m, c, None if feats is None or di >= len(high) else feats[di])
            self._emit(track, boxes[di], int(keep[di]), out, was_tentative)
        for ti in missed:
            self.tracks[ti].mark_missed()
        for di in new:
            track = self._start(xyah[di], None if feats is None else feats[di])
            self._emit(track, boxes[di], int(keep[di]), out, True)
        self.tracks = [t for t in self.tracks if not t.is_deleted]
        return sorted(out, key=lambda row: row[0])

    @property
    def appearance_weight(self) -> float:
        """The appearance cue's share of the cascade cost (``cfg.appearance_weight``, None = 1)."""
        w = self.cfg.appearance_weight
        return 1.0 if w is None else w

    def predicted_boxes(self, track_ids: list[int], fraction: float) -> FloatArray:
        """Where the filter puts the boxes of ``track_ids`` ``fraction`` of a step after
        their last update, at their estimated velocity: (len(track_ids), 4) tlwh.

        The frames a detector with a stride skips lie at fractions of the tracker's
        step; this is the filter's prediction of them (no state changes).
        """
        by_id = {t.track_id: t for t in self.tracks}
        if not track_ids:
            return np.zeros((0, 4))
        means = np.stack([by_id[i].mean for i in track_ids])
        ahead = fraction * self.predictions * self.kf.cfg.dt
        return xyah_to_tlwh(means[:, :4] + ahead * means[:, 4:])

    def skip(self, frames: int) -> None:
        """Advance over ``frames`` frames without detections.

        The same as ``frames`` calls of ``update(Detections.empty())``, at the cost
        of at most ``max_age + 1`` of them: a track unmatched for that long is
        deleted, and with no track alive the frame count just jumps.
        """
        end = self.frame_count + max(frames, 0)
        while self.tracks and self.frame_count < end:
            self.update(Detections.empty())
        self.frame_count = end

    def pop_recovered(self) -> list[RecoveredBox]:
        """The tentative-frame rows of tracks confirmed since the last call (then forgotten).

        Empty unless ``cfg.emit_tentative``. Frame numbers count ``update`` calls from 1.
        """
        rows, self._recovered = self._recovered, []
        return rows

    def _emit(
        self, track: Track, box: FloatArray, index: int, out: list[TrackedBox], was_tentative: bool
    ) -> None:
        """Report a confirmed track's row, or keep a tentative one's for ``emit_tentative``."""
        if track.is_confirmed:
            out.append((track.track_id, box.copy(), index))
            if was_tentative and self.cfg.emit_tentative:
                self._recovered += [(f, track.track_id, b, i) for f, b, i in track.pending]
            track.pending = []
        elif self.cfg.emit_tentative:
            track.pending.append((self.frame_count, box.copy(), index))

    # ------------------------------------------------------------ steps
    def _admissible(self, detections: Detections) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Indices of the high-score detections (at least ``min_confidence``) and of the
        low-score ones (``[low_confidence, min_confidence)``, empty when off), both at
        least ``min_height`` tall and of positive size."""
        tlwh = np.asarray(detections.tlwh, np.float64).reshape(-1, 4)
        scores = np.asarray(detections.scores, np.float64).reshape(-1)
        ok = (tlwh[:, 3] >= self.cfg.min_height) & (tlwh[:, 2] > 0) & (tlwh[:, 3] > 0)
        high = ok & (scores >= self.cfg.min_confidence)
        low_min = self.cfg.low_confidence
        low = ok & ~high & (scores >= low_min) if low_min is not None else np.zeros_like(ok)
        return np.flatnonzero(high), np.flatnonzero(low)

    def _predict(self) -> tuple[FloatArray, FloatArray]:
        """Predict every track one step (``predictions`` reference frames) ahead at once;
        returns the stacked (T, 8), (T, 8, 8)."""
        if not self.tracks:
            return np.zeros((0, 8)), np.zeros((0, 8, 8))
        means = np.stack([t.mean for t in self.tracks])
        covs = np.stack([t.cov for t in self.tracks])
        for _ in range(self.predictions):
            means, covs = self.kf.predict_many(means, covs)
        for track, m, c in zip(self.tracks, means, covs, strict=True):
            track.mark_predicted(m, c)
        return means, covs

    def _correct(
        self,
        means: FloatArray,
        covs: FloatArray,
        matches: list[tuple[int, int]],
        xyah: FloatArray,
    ) -> tuple[FloatArray, FloatArray]:
        """Kalman-update the matched tracks at once: (K, 8), (K, 8, 8) for K matches."""
        if not matches:
            return np.zeros((0, 8)), np.zeros((0, 8, 8))
        ti, di = (np.array(v, np.int64) for v in zip(*matches, strict=True))
        return self.kf.update_many(means[ti], covs[ti], xyah[di])

    def _cascade_cost(
        self, means: FloatArray, covs: FloatArray, xyah: FloatArray, feats: FloatArray | None
    ) -> tuple[FloatArray, float]:
        """The gated (T, M) cost of the matching cascade and its largest accepted value."""
        sq_maha = self.kf.gating_distance_many(means, covs, xyah)
        if feats is None:
            return self._motion_cost(means, xyah, sq_maha)
        confirmed = np.array([t.is_confirmed for t in self.tracks])
        inside = (sq_maha <= GATING_THRESHOLD) & confirmed[:, None]  # what the cascade reads
        cost = gate(cosine_cost([t.gallery for t in self.tracks], feats, needed=inside), sq_maha)
        lam, max_cos = self.cfg.motion_weight, self.cfg.max_cosine_distance
        w = self.appearance_weight
        if lam == 0.0 and w == 1.0:
            return cost, max_cos
        motion, max_motion = self._motion_cost(means, xyah, sq_maha)
        if lam == 0.0:
            # appearance moves the motion cost by at most w threshold units either way:
            # -w for an identical look, 0 at the gate, +w from twice the gate
            shift = w * (np.minimum(cost / max(max_cos, 1e-9), 2.0) - 1.0)
            fused = motion / max_motion + shift
            fused[(cost >= GATED) | (motion >= GATED)] = GATED
            return fused, 1.0
        mixed = lam * np.minimum(motion / max_motion, 1.0) + (1.0 - lam) * cost
        # admissible as without the mix: inside both gates; the mix only reorders them
        mixed[(cost > max_cos) | (cost >= GATED)] = GATED
        return mixed, lam + (1.0 - lam) * max_cos

    def _motion_cost(
        self, means: FloatArray, xyah: FloatArray, sq_maha: FloatArray
    ) -> tuple[FloatArray, float]:
        """The motion-only cascade's gated (T, M) cost and its largest accepted value."""
        maha = np.where(sq_maha > GATING_THRESHOLD, GATED, sq_maha / GATING_THRESHOLD)
        if self.motion_cost == "mahalanobis":
            return maha, self.cfg.motion_max_distance
        track_boxes = xyah_to_tlwh(means[:, :4])
        cost = gate(iou_cost(track_boxes, xyah_to_tlwh(xyah)), sq_maha)
        if self.motion_cost == "hybrid":
            # tracks missed for 2+ frames: Mahalanobis, rescaled so that the accepted
            # motion_max_distance lands on max_iou_distance (the cascade has one threshold)
            lost = np.array([t.time_since_update >= 2 for t in self.tracks])
            scale = self.cfg.max_iou_distance / self.cfg.motion_max_distance
            cost[lost] = np.where(maha[lost] >= GATED, GATED, maha[lost] * scale)
        return cost, self.cfg.max_iou_distance

    def _associate(
        self,
        means: FloatArray,
        covs: FloatArray,
        boxes: FloatArray,
        xyah: FloatArray,
        feats: FloatArray | None,
        n_high: int,
    ) -> tuple[list[tuple[int, int]], list[int], list[int]]:
        """Matches (track, detection), unmatched tracks and unmatched high-score detections.

        Detections ``0 .. n_high - 1`` are the high-score ones, the rest low-score.
        """
        n_det = len(boxes)
        if not self.tracks or n_det == 0:
            return [], list(range(len(self.tracks))), list(range(n_high))
        confirmed = np.array([i for i, t in enumerate(self.tracks) if t.is_confirmed], np.int64)
        tsu = np.array([t.time_since_update for t in self.tracks], np.int64)
        high = np.arange(n_high)
        cost, max_dist = self._cascade_cost(means, covs, xyah, feats)
        matches_a, left_a, free = matching_cascade(
            cost, tsu, max_dist, self.max_age, rows=confirmed, cols=high
        )
        unconfirmed = [i for i, t in enumerate(self.tracks) if not t.is_confirmed]
        iou_rows = unconfirmed + [i for i in left_a if tsu[i] == 1]
        left_a = [i for i in left_a if tsu[i] != 1]
        track_boxes = xyah_to_tlwh(means[:, :4])
        cost_iou = iou_cost(track_boxes, boxes)
        matches_b, left_b, free = min_cost_matching(
            cost_iou,
            self.cfg.max_iou_distance,
            np.asarray(iou_rows, np.int64),
            np.asarray(free, np.int64),
        )
        matches_c: list[tuple[int, int]] = []
        if n_det > n_high:
            recent = np.array(
                [i for i in left_b if self.tracks[i].is_confirmed and tsu[i] == 1], np.int64
            )
            left_b = [i for i in left_b if i not in set(recent.tolist())]
            cost_low = np.full_like(cost_iou, GATED)
            sq_maha = self.kf.gating_distance_many(means[recent], covs[recent], xyah)
            cost_low[recent] = gate(cost_iou[recent], sq_maha)
            matches_c, left_c, _ = min_cost_matching(
                cost_low, self.cfg.low_max_iou_distance, recent, np.arange(n_high, n_det)
            )
            left_b += left_c
        return matches_a + matches_b + matches_c, left_a + left_b, free

    def _start(self, xyah: FloatArray, feature: FloatArray | None) -> Track:
        """A new tentative track with the next unused identity."""
        mean, cov = self.kf.initiate(xyah)
        track = Track(
            self._next_id,
            mean,
            cov,
            self.n_init,
            self.max_age,
            feature=feature,
            budget=self.cfg.nn_budget,
        )
        self._next_id += 1
        self.tracks.append(track)
        return track
