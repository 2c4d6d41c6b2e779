"""People walking on a ground plane: who is where, facing which way, at every frame.

The walking area is a rectangle centred on the origin of the ground plane
(z = 0), sized so that each person has ``area_per_person`` square metres.
At the start ``people`` people stand at random places inside it. Each walks
through a list of random waypoints, turning smoothly and changing speed
smoothly; some pause at waypoints, some stand still for long stretches and
look around. Some leave through a border; a new identity enters through a
random border point a little later, so the crowd stays about ``people``
strong. People keep apart from each other. Identities (1, 2, ...) are
global: the same person keeps the same id in every camera.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from mcmot.synth.bodies import Appearance, sample_appearance
from mcmot.synth.config import SynthConfig

#: Walking speed range (m/s) and how fast speed and heading may change.
SPEED = (0.8, 1.6)
ACCEL = 0.8  # m/s^2
TURN_RATE = 2.2  # rad/s
#: A gait cycle (two steps) covers this many body heights.
CYCLE_HEIGHTS = 0.8
#: People closer than this (metres) are pushed apart.
PERSONAL_SPACE = 0.6
#: People enter and leave this far outside the area's border (metres).
BORDER_OUT = 1.2
#: Longest simulation step (seconds); frames are split into sub-steps.
MAX_STEP = 0.1
#: Probability that a person leaves after their waypoints (else they keep wandering).
LEAVE_PROB = 0.55
#: Mean gap (seconds) before a replacement enters after someone leaves.
REENTRY_GAP = 2.5
#: Smallest area half-sizes (metres).
MIN_HALF = (3.0, 2.2)


@dataclass(frozen=True)
class World:
    """The people and their ground-plane motion.

    Attributes
    ----------
    half_size : (2,) half width (x) and half depth (y) of the walking area in metres
    sun : (3,) unit vector pointing at the sun
    appearances : one per identity; identity i + 1 has ``appearances[i]``
    pos : (T, P, 2) float64 ground position in metres (NaN when absent)
    heading : (T, P) float64 walking direction in radians (0 = +x)
    phase : (T, P) float64 gait phase in radians
    amp : (T, P) float64 gait amplitude (0 standing, about 1 walking)
    present : (T, P) bool, the person is in the world at that frame
    """

    half_size: NDArray[np.float64]
    sun: NDArray[np.float64]
    appearances: tuple[Appearance, ...]
    pos: NDArray[np.float64]
    heading: NDArray[np.float64]
    phase: NDArray[np.float64]
    amp: NDArray[np.float64]
    present: NDArray[np.bool_]

    @property
    def num_people(self) -> int:
        return len(self.appearances)

    @property
    def ids(self) -> NDArray[np.int64]:
        """(P,) global identities, 1-based."""
        return np.arange(1, self.num_people + 1, dtype=np.int64)


@dataclass
class _Agent:
    """Mutable simulation state of one person (local to :func:`simulate_world`)."""

    index: int
    pos: NDArray[np.float64]
    heading: float
    cruise: float
    waypoints: list[tuple[NDArray[np.float64], float]] = field(default_factory=list)
    leaves: bool = False
    speed: float = 0.0
    wait: float = 0.0
    look: float = 0.0
    phase: float = 0.0
    gone: bool = False


def area_half_size(people: int, area_per_person: float) -> NDArray[np.float64]:
    """Half sizes (x, y) of a 4:3 walking area giving each person ``area_per_person`` m^2."""
    area = max(people, 1) * area_per_person
    w = math.sqrt(area * 4 / 3)
    return np.array([max(w / 2, MIN_HALF[0]), max(area / w / 2, MIN_HALF[1])])


def _inside(rng: np.random.Generator, half: NDArray, margin: float = 0.4) -> NDArray:
    return rng.uniform(-(half - margin), half - margin)


def _border_point(rng: np.random.Generator, half: NDArray) -> NDArray:
    """A random point BORDER_OUT metres outside the area's border."""
    side = rng.integers(4)
    u = rng.uniform(-1, 1)
    if side < 2:
        return np.array([(half[0] + BORDER_OUT) * (1 if side else -1), u * half[1]])
    return np.array([u * half[0], (half[1] + BORDER_OUT) * (1 if side == 3 else -1)])


def _plan(rng: np.random.Generator, half: NDArray, stands: bool) -> list[tuple[NDArray, float]]:
    """Waypoints with the pause (seconds) to make at each."""
    if stands:
        return [(_inside(rng, half), rng.uniform(15.0, 60.0))]
    n = int(rng.integers(2, 6))
    return [
        (_inside(rng, half), rng.uniform(1.0, 6.0) if rng.random() < 0.25 else 0.0)
        for _ in range(n)
    ]


class _Population:
    """Agents, their appearances and the schedule of new arrivals."""

    def __init__(self, cfg: SynthConfig, rng: np.random.Generator, half: NDArray) -> None:
        self.cfg, self.rng, self.half = cfg, rng, half
        self.knobs = cfg.knobs
        self.agents: list[_Agent] = []
        self.appearances: list[Appearance] = []
        self.arrivals: list[float] = []
        for p in self._spread_starts(cfg.people):
            self._spawn(p, entering=False)

    def _spread_starts(self, n: int) -> list[NDArray]:
        starts: list[NDArray] = []
        for _ in range(n):
            best, best_d = None, -1.0
            for _try in range(20):
                c = _inside(self.rng, self.half)
                d = min((float(np.linalg.norm(c - s)) for s in starts), default=9.0)
                if d > best_d:
                    best, best_d = c, d
                if d > 1.2:
                    break
            starts.append(best)  # type: ignore[arg-type]
        return starts

    def _spawn(self, pos: NDArray, *, entering: bool) -> None:
        rng = self.rng
        app = sample_appearance(
            rng, self.knobs.palette_share, self.appearances, self.knobs.lookalike
        )
        self.appearances.append(app)
        stands = (not entering) and rng.random() < self.knobs.stand_prob
        agent = _Agent(
            index=len(self.agents),
            pos=np.array(pos, float),
            heading=float(rng.uniform(-np.pi, np.pi)),
            cruise=float(rng.uniform(*SPEED)),
            waypoints=_plan(rng, self.half, stands),
            leaves=bool(rng.random() < LEAVE_PROB),
            phase=float(rng.uniform(0, 2 * np.pi)),
        )
        if entering:
            agent.heading = float(np.arctan2(-pos[1], -pos[0]))
            agent.speed = agent.cruise
        if agent.leaves:
            agent.waypoints.append((_border_point(rng, self.half), -1.0))
        agent.look = agent.heading
        self.agents.append(agent)

    def arrive(self, now: float) -> None:
        """Spawn the replacements whose time has come."""
        due = [t for t in self.arrivals if t <= now]
        self.arrivals = [t for t in self.arrivals if t > now]
        for _ in due:
            if len(self.agents) < 10_000:
                self._spawn(_border_point(self.rng, self.half), entering=True)

    def active(self) -> list[_Agent]:
        return [a for a in self.agents if not a.gone]


def _steer(agent: _Agent, rng: np.random.Generator, half: NDArray, dt: float) -> bool:
    """Advance one agent by ``dt`` seconds. Returns True when it has left the world."""
    if agent.wait > 0:
        agent.wait -= dt
        agent.speed = max(0.0, agent.speed - ACCEL * dt)
        if rng.random() < 0.3 * dt:
            agent.look = agent.heading + rng.uniform(-1.5, 1.5)
        agent.heading += float(np.clip(_wrap(agent.look - agent.heading), -1, 1)) * dt
        return False
    if not agent.waypoints:
        agent.waypoints = _plan(rng, half, stands=False)
    target, pause = agent.waypoints[0]
    delta = target - agent.pos
    dist = float(np.hypot(*delta))
    if dist < 0.3:
        agent.waypoints.pop(0)
        if pause < 0:
            return True
        agent.wait = pause
        agent.cruise = float(np.clip(agent.cruise * rng.uniform(0.85, 1.15), *SPEED))
        return False
    want = float(np.arctan2(delta[1], delta[0]))
    turn = np.clip(_wrap(want - agent.heading), -TURN_RATE * dt, TURN_RATE * dt)
    agent.heading = _wrap(agent.heading + float(turn))
    if rng.random() < 0.1 * dt:
        agent.cruise = float(rng.uniform(*SPEED))
    goal = agent.cruise if pause <= 0 else min(agent.cruise, math.sqrt(2 * ACCEL * dist))
    agent.speed += float(np.clip(goal - agent.speed, -ACCEL * dt, ACCEL * dt))
    agent.pos = agent.pos + agent.speed * dt * np.array(
        [np.cos(agent.heading), np.sin(agent.heading)]
    )
    return False


def _wrap(a: float) -> float:
    return (a + np.pi) % (2 * np.pi) - np.pi


def _keep_apart(agents: list[_Agent]) -> None:
    """Push apart people closer than PERSONAL_SPACE (half the overlap each)."""
    if len(agents) < 2:
        return
    pos = np.array([a.pos for a in agents])
    d = pos[:, None, :] - pos[None, :, :]
    dist = np.hypot(d[..., 0], d[..., 1]) + np.eye(len(agents))
    overlap = np.clip(PERSONAL_SPACE - dist, 0, None)
    np.fill_diagonal(overlap, 0)
    if not overlap.any():
        return
    push = (d / dist[..., None] * (0.5 * overlap)[..., None]).sum(axis=1)
    for a, p in zip(agents, push, strict=True):
        a.pos = a.pos + p


def simulate_world(cfg: SynthConfig, rng: np.random.Generator) -> World:
    """Simulate ``cfg.frames`` frames of people walking (see the module docstring)."""
    half = area_half_size(cfg.people, cfg.knobs.area_per_person)
    az, el = rng.uniform(0, 2 * np.pi), rng.uniform(0.6, 1.0)
    sun = np.array([np.cos(az) * np.cos(el), np.sin(az) * np.cos(el), np.sin(el)])
    pop = _Population(cfg, rng, half)
    substeps = max(1, math.ceil(1.0 / (cfg.fps * MAX_STEP)))
    dt = 1.0 / (cfg.fps * substeps)
    records: list[dict[int, tuple[float, float, float, float, float]]] = []
    for t in range(cfg.frames):
        if t > 0:
            for _ in range(substeps):
                _advance(pop, rng, half, dt, now=(t - 1) / cfg.fps)
        records.append(
            {
                a.index: (a.pos[0], a.pos[1], a.heading, a.phase, min(a.speed / 1.3, 1.1))
                for a in pop.active()
            }
        )
    return _to_world(half, sun, pop.appearances, records)


def _advance(
    pop: _Population, rng: np.random.Generator, half: NDArray, dt: float, now: float
) -> None:
    pop.arrive(now)
    active = pop.active()
    for a in active:
        if _steer(a, rng, half, dt):
            a.gone = True
            pop.arrivals.append(now + REENTRY_GAP * rng.exponential() + 0.5)
        h = pop.appearances[a.index].height
        a.phase = (a.phase + 2 * np.pi * a.speed * dt / (CYCLE_HEIGHTS * h)) % (2 * np.pi)
    _keep_apart(pop.active())


def _to_world(
    half: NDArray,
    sun: NDArray,
    appearances: list[Appearance],
    records: list[dict[int, tuple[float, float, float, float, float]]],
) -> World:
    T, P = len(records), len(appearances)
    rows = np.full((T, P, 5), np.nan)
    for t, rec in enumerate(records):
        for i, values in rec.items():
            rows[t, i] = values
    present = ~np.isnan(rows[..., 0])
    return World(
        half_size=half,
        sun=sun,
        appearances=tuple(appearances),
        pos=rows[..., :2],
        heading=np.nan_to_num(rows[..., 2]),
        phase=np.nan_to_num(rows[..., 3]),
        amp=np.nan_to_num(rows[..., 4]),
        present=present,
    )
