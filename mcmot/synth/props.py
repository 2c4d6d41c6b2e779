"""Static street furniture that occludes people: lamp posts, bins, pillars, planters.

Props stand on the ground inside the walking area; people walk around them.
Each is built from the same primitives as the bodies (shaded flat faces,
capsules, balls) and is painted in depth order together with the people, with
label 0 in the label image, so a prop in front of a person hides those pixels
from the person's visible box and lowers their visibility ratio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mcmot.synth.bodies import BALL, CAPSULE, FACE, Colour, Part, index_parts

#: Kinds of prop, their footprint radius (metres, for placement and avoidance).
KINDS = {"pole": 0.15, "bin": 0.3, "pillar": 0.3, "planter": 0.65}
#: Colours (BGR) per kind.
PROP_COLOURS = {
    "pole": ((50, 55, 50), (70, 80, 40), (90, 90, 95)),
    "bin": ((40, 90, 40), (60, 60, 60), (40, 40, 120)),
    "pillar": ((150, 160, 170), (120, 125, 130), (110, 140, 175)),
    "planter": ((90, 100, 110), (70, 90, 120)),
}
#: Props stand at least this far (metres) inside the area's border, away from the cameras.
PROP_MARGIN = 2.0
LEAVES = (50.0, 110.0, 60.0)
LAMP = (200.0, 235.0, 240.0)
#: Height of the point whose depth orders a prop among people (about hip height).
ROOT_Z = 0.9


@dataclass(frozen=True)
class Prop:
    """One prop: its kind, ground position (metres), rotation (radians) and colour."""

    kind: str
    x: float
    y: float
    angle: float
    colour: Colour

    @property
    def radius(self) -> float:
        """Footprint radius in metres."""
        return KINDS[self.kind]


def sample_props(
    rng: np.random.Generator, half: NDArray, count: int, spacing: float = 2.5
) -> list[Prop]:
    """Up to ``count`` props at random places inside the area, ``spacing`` metres apart."""
    props: list[Prop] = []
    kinds = list(KINDS)
    for _ in range(count * 10):
        if len(props) == count:
            break
        xy = rng.uniform(-(half - PROP_MARGIN), half - PROP_MARGIN)
        if any(np.hypot(xy[0] - p.x, xy[1] - p.y) < spacing for p in props):
            continue
        kind = kinds[rng.integers(len(kinds))]
        pal = PROP_COLOURS[kind]
        colour = tuple(float(v) for v in pal[rng.integers(len(pal))])
        props.append(Prop(kind, float(xy[0]), float(xy[1]), float(rng.uniform(0, np.pi)), colour))
    return props


class PropModel:
    """A prop's primitives in world coordinates (same interface as a posed body).

    Parameters
    ----------
    prop : the prop
    """

    def __init__(self, prop: Prop) -> None:
        self.prop = prop
        self._pts: list[tuple[float, float, float]] = []
        self._normals: list[NDArray[np.float64]] = []
        self.parts: list[Part] = []
        base = self._add(0.0, 0.0, ROOT_Z)  # orders the prop among people (like a hip)
        build = {
            "pole": self._pole,
            "bin": self._bin,
            "pillar": self._pillar,
            "planter": self._planter,
        }
        build[prop.kind]()
        c, s = np.cos(prop.angle), np.sin(prop.angle)
        local = np.asarray(self._pts, np.float64)
        rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        #: (J, 3) points in world coordinates
        self.pts = local @ rz.T + [prop.x, prop.y, 0.0]
        self.normals = np.asarray(self._normals, np.float64).reshape(-1, 3) @ rz.T
        index_parts(self, base)

    def _add(self, x: float, y: float, z: float) -> int:
        self._pts.append((x, y, z))
        return len(self._pts) - 1

    def _prism(self, sides: int, hx: float, hy: float, z0: float, z1: float, col: Colour) -> None:
        """Vertical prism with ``sides`` walls and a top cap."""
        ang = (np.arange(sides) + 0.5) * 2 * np.pi / sides
        ring = [(hx * np.cos(a), hy * np.sin(a)) for a in ang]
        lo = [self._add(x, y, z0) for x, y in ring]
        hi = [self._add(x, y, z1) for x, y in ring]
        for k in range(sides):
            k2 = (k + 1) % sides
            ex, ey = ring[k2][0] - ring[k][0], ring[k2][1] - ring[k][1]
            n = np.array([ey, -ex, 0.0]) / (np.hypot(ex, ey) + 1e-12)
            self._normals.append(n)
            quad = (hi[k], hi[k2], lo[k2], lo[k])
            self.parts.append(Part(FACE, quad, 0.0, col, len(self._normals) - 1))
        self._normals.append(np.array([0.0, 0.0, 1.0]))
        self.parts.append(Part(FACE, tuple(hi), 0.0, col, len(self._normals) - 1, -0.01))

    def _pole(self) -> None:
        a, b = self._add(0, 0, 0.0), self._add(0, 0, 3.4)
        self.parts.append(Part(CAPSULE, (a, b), 0.06, self.prop.colour))
        lamp = self._add(0.0, 0.0, 3.55)
        self.parts.append(Part(BALL, (lamp,), 0.17, LAMP, -1, -0.01))

    def _bin(self) -> None:
        self._prism(8, 0.28, 0.28, 0.0, 0.95, self.prop.colour)

    def _pillar(self) -> None:
        self._prism(4, 0.3, 0.3, 0.0, 3.8, self.prop.colour)

    def _planter(self) -> None:
        self._prism(4, 0.65, 0.4, 0.0, 0.6, self.prop.colour)
        bush = self._add(0.0, 0.0, 1.0)
        self.parts.append(Part(BALL, (bush,), 0.5, LEAVES, -1, -0.3))

    def to_json(self) -> dict:
        p = self.prop
        return {"kind": p.kind, "x": round(p.x, 4), "y": round(p.y, 4), "angle": round(p.angle, 4)}
