"""Label-free health of a scene's results: what ``mcmot info`` reports.

Reads ``geometry.json`` (each camera pair's fit and why association trusts
it) and ``global/`` (the identities), never ground truth or pixels, so it
serves footage nobody has labelled. Writes nothing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mcmot.association.geometry import PairGeometry, load_geometry
from mcmot.errors import McmotError
from mcmot.metrics.health import IdentityHealth, identity_health
from mcmot.motio import read_mot
from mcmot.scene import Scene
from mcmot.timebase import frames_rounded, scene_fps

#: Default length of one row of the identities-over-time table, in seconds.
DEFAULT_BIN_SECONDS = 10.0


@dataclass(frozen=True)
class SceneHealth:
    """A scene's label-free figures; a part is None when its input is absent.

    Attributes
    ----------
    fps : frame rate used to turn ``bin_seconds`` into frames
    bin_frames : frames per row of ``identities.bins``
    geometry : each camera pair's fit (``geometry.json``)
    identities : the figures of ``global/``
    notes : things the user should know (the frame rate was assumed, ...)
    """

    fps: float
    bin_frames: int
    geometry: dict[tuple[str, str], PairGeometry] | None
    identities: IdentityHealth | None
    notes: list[str] = field(default_factory=list)


def scene_health(
    root: Path | str, bin_seconds: float = DEFAULT_BIN_SECONDS, fps: float | None = None
) -> SceneHealth:
    """The label-free figures of the scene at ``root`` (see the module docstring)."""
    if not bin_seconds > 0:
        raise McmotError(f"bin seconds must be > 0, got {bin_seconds}")
    sc = Scene(root)
    rate, note = scene_fps(sc, fps)
    bin_frames = frames_rounded(bin_seconds, rate)
    geo_path = sc.root / "geometry.json"
    geometry = load_geometry(geo_path) if geo_path.is_file() else None
    files = sc.stage_files("global")
    identities = None
    if files:
        tables = {cam: read_mot(p) for cam, p in files.items()}
        identities = identity_health(tables, bin_frames)
    notes = [note] if note and identities is not None else []
    return SceneHealth(rate, bin_frames, geometry, identities, notes)


def health_to_dict(h: SceneHealth) -> dict[str, Any]:
    """``h`` as plain JSON values."""
    pairs = None
    if h.geometry is not None:
        pairs = [
            {"a": a, "b": b, "moving": g.moving, "why": g.why(), **_finite(asdict(g.quality))}
            for (a, b), g in h.geometry.items()
        ]
    ids = None
    if h.identities is not None:
        ids = asdict(h.identities) | {"per_person": h.identities.per_person}
    return {
        "fps": h.fps,
        "bin_frames": h.bin_frames,
        "pairs": pairs,
        "identities": ids,
        "notes": h.notes,
    }


def _finite(d: dict[str, Any]) -> dict[str, Any]:
    """``d`` with NaN and infinite floats as None (JSON has no NaN)."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in d.items()}
