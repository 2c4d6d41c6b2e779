"""DeepSORT within one camera: Kalman filter, association, tracks and the online tracker.

The names below load their module on first use, so that importing
``mcmot.tracking.config`` (the settings, which ``mcmot track`` needs for its
option defaults) does not load the filter's scipy and filterpy.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Each public name and the module that defines it.
_HOMES = {
    "Detections": "tracker",
    "KalmanConfig": "config",
    "KalmanFilter": "kalman",
    "Track": "track",
    "TrackState": "track",
    "TrackedBox": "tracker",
    "Tracker": "tracker",
    "TrackerConfig": "config",
    "chi2_gate": "kalman",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
