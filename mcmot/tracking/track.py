"""One tracked person: Kalman state, life-cycle counters and appearance gallery."""

from __future__ import annotations

from enum import Enum

import numpy as np
from numpy.typing import NDArray

from mcmot.boxes import xyah_to_tlwh

FloatArray = NDArray[np.float64]


class TrackState(Enum):
    """Life cycle: a new track is tentative until ``n_init`` consecutive hits."""

    TENTATIVE = 1
    CONFIRMED = 2
    DELETED = 3


class Track:
    """A single target with its own state (the Kalman filter itself is stateless).

    Parameters
    ----------
    track_id : identity, unique within one tracker
    mean : (8,) initial Kalman mean (x, y, a, h and velocities)
    cov : (8, 8) initial Kalman covariance
    n_init : consecutive hits needed to confirm a tentative track
    max_age : a confirmed track missed for more than this many frames is deleted
    feature : (D,) appearance feature of the first detection, or None
    budget : the gallery keeps at most this many most recent features

    Attributes
    ----------
    hits : detections associated so far
    age : frames since the track started
    time_since_update : frames since the last associated detection (0 = this frame)
    gallery : (K, D) float32, the most recent features (K <= budget, in no particular
        order), or None before the first feature
    pending : rows ``(frame, tlwh (4,), det_index)`` of a tentative track's detections,
        kept by the tracker for ``TrackerConfig.emit_tentative`` (else empty)
    """

    def __init__(
        self,
        track_id: int,
        mean: FloatArray,
        cov: FloatArray,
        n_init: int,
        max_age: int,
        feature: FloatArray | None = None,
        budget: int | None = None,
    ) -> None:
        self.track_id = track_id
        self.mean = mean
        self.cov = cov
        self.n_init = n_init
        self.max_age = max_age
        self.budget = budget
        self.hits = 1
        self.age = 1
        self.time_since_update = 0
        self.state = TrackState.CONFIRMED if n_init <= 1 else TrackState.TENTATIVE
        self._buf: NDArray[np.float32] | None = None  # ring buffer of features
        self._count = 0  # features stored so far (all time)
        self.pending: list[tuple[int, FloatArray, int]] = []
        if feature is not None:
            self._add_feature(feature)

    def __repr__(self) -> str:
        return (
            f"Track(id={self.track_id}, {self.state.name.lower()}, hits={self.hits}, "
            f"since_update={self.time_since_update})"
        )

    @property
    def is_tentative(self) -> bool:
        return self.state is TrackState.TENTATIVE

    @property
    def is_confirmed(self) -> bool:
        return self.state is TrackState.CONFIRMED

    @property
    def is_deleted(self) -> bool:
        return self.state is TrackState.DELETED

    def tlwh(self) -> FloatArray:
        """(4,) the current Kalman box as top-left x, y, width, height."""
        return xyah_to_tlwh(self.mean[:4])[0]

    @property
    def gallery(self) -> NDArray[np.float32] | None:
        if self._buf is None:
            return None
        return self._buf[: min(self._count, len(self._buf))]

    def _add_feature(self, feature: FloatArray) -> None:
        """Store ``feature`` (D,), overwriting the oldest once ``budget`` are stored."""
        f = np.asarray(feature, np.float32).reshape(-1)
        if self._buf is None:
            self._buf = np.empty((self.budget or 16, len(f)), np.float32)
        elif self.budget is None and self._count == len(self._buf):
            self._buf = np.concatenate([self._buf, np.empty_like(self._buf)])
        self._buf[self._count % len(self._buf)] = f
        self._count += 1

    def mark_predicted(self, mean: FloatArray, cov: FloatArray) -> None:
        """Take the predicted state for a new frame (one step older, one step unobserved)."""
        self.mean, self.cov = mean, cov
        self.age += 1
        self.time_since_update += 1

    def update(self, mean: FloatArray, cov: FloatArray, feature: FloatArray | None) -> None:
        """A detection was associated: take the corrected state (from
        :meth:`KalmanFilter.update`) and the detection's ``feature`` (D,) or None."""
        self.mean, self.cov = mean, cov
        if feature is not None:
            self._add_feature(feature)
        self.hits += 1
        self.time_since_update = 0
        if self.is_tentative and self.hits >= self.n_init:
            self.state = TrackState.CONFIRMED

    def mark_missed(self) -> None:
        """No detection this frame: a tentative track dies, a confirmed one after ``max_age``."""
        if self.is_tentative or self.time_since_update > self.max_age:
            self.state = TrackState.DELETED
