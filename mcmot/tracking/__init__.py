"""DeepSORT within one camera: Kalman filter, association, tracks and the online tracker."""

from mcmot.tracking.kalman import KalmanConfig, KalmanFilter, chi2_gate
from mcmot.tracking.track import Track, TrackState
from mcmot.tracking.tracker import Detections, TrackedBox, Tracker, TrackerConfig

__all__ = [
    "Detections",
    "KalmanConfig",
    "KalmanFilter",
    "Track",
    "TrackState",
    "TrackedBox",
    "Tracker",
    "TrackerConfig",
    "chi2_gate",
]
