"""Frame rate of a scene: the clock that turns durations (seconds) into frames.

Every time constant of ``track`` and ``associate`` is a duration in seconds
(or is chosen by motion); a stage turns it into frames with the scene's frame
rate: ``--fps`` when given, else the rate stored in the first camera's video,
else :data:`DEFAULT_FPS` (frame folders and scenes of boxes only).
"""

from __future__ import annotations

import math

from mcmot.errors import McmotError

#: Frame rate assumed when neither ``--fps`` nor a video gives one.
DEFAULT_FPS = 10.0
#: Largest frame rate accepted (from a user or from a video's header).
MAX_FPS = 1000.0


def check_fps(fps: float | None) -> None:
    """A one-line error for a frame rate that is not a positive number up to MAX_FPS."""
    if fps is None:
        return
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not 0 < fps <= MAX_FPS:
        raise McmotError(f"fps must be a number in (0, {MAX_FPS:g}], got {fps!r}")


def scene_fps(scene: object, given: float | None = None) -> tuple[float, str | None]:
    """(frames per second, a note for the user or None).

    ``given`` wins; else the first camera video's stored rate; else
    :data:`DEFAULT_FPS` with a note saying so.
    """
    from mcmot.frames import open_source
    from mcmot.scene import Scene

    check_fps(given)
    if given is not None:
        return float(given), None
    assert isinstance(scene, Scene)
    for cam in scene.pixel_cameras():
        if cam.source is None or not cam.source.is_file():
            continue
        with open_source(cam.source) as src:
            if src.fps is not None:
                return float(src.fps), None
        break
    return DEFAULT_FPS, f"no frame rate in the scene: assuming {DEFAULT_FPS:g} frames/s (--fps)"


def frames_at_least_one(seconds: float, fps: float) -> int:
    """``seconds`` as a whole number of frames, rounded up, at least 1
    (a duration that must be reached: a track confirmed after 0.3 s needs
    3 frames at 10 frames/s, 1 at 2 frames/s)."""
    return max(1, math.ceil(seconds * fps - 1e-9))


def frames_rounded(seconds: float, fps: float) -> int:
    """``seconds`` as the nearest whole number of frames, at least 1."""
    return max(1, int(round(seconds * fps)))
