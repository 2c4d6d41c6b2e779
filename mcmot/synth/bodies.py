"""People's looks and 3D bodies made of simple primitives.

A person's :class:`Appearance` holds attributes shared by every view (height,
build, skin, hair, trousers, shoes) and attributes that depend on the side
seen (a front colour and print that differ from the back, a bag on one side
or a backpack). :class:`BodyModel` turns an appearance into 3D primitives in
the person's own frame (x forward, y left, z up, metres, feet on z = 0):
capsules for limbs and neck, spheres for head, hair and hands, flat faces for
an eight-sided torso and pelvis (so the front and back can differ), and convex
boxes for bags. :meth:`BodyModel.points` poses it: legs and arms swing with
the gait phase, the knee bends in the swing phase and the body bobs so the
lowest foot touches the ground.

Colours are BGR in 0-255, as OpenCV draws them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Colour = tuple[float, float, float]

#: Part kinds.
CAPSULE, BALL, FACE, HULL = 0, 1, 2, 3

#: Dull colours that most clothes in a crowd share (BGR).
COMMON_COLOURS: tuple[Colour, ...] = (
    (28, 26, 26),  # black
    (58, 56, 55),  # charcoal
    (112, 110, 108),  # grey
    (82, 44, 32),  # navy
    (132, 96, 66),  # denim
    (38, 52, 76),  # dark brown
    (140, 168, 188),  # beige
    (55, 92, 86),  # olive
    (205, 208, 210),  # off-white
)
#: Vivid colours that make people easy to tell apart (BGR).
VIVID_COLOURS: tuple[Colour, ...] = (
    (40, 40, 190),  # red
    (170, 90, 30),  # blue
    (60, 140, 50),  # green
    (40, 185, 215),  # yellow
    (30, 115, 230),  # orange
    (175, 140, 230),  # pink
    (120, 50, 110),  # purple
    (130, 130, 30),  # teal
    (45, 30, 115),  # maroon
    (220, 180, 120),  # light blue
)
SKIN_TONES: tuple[Colour, ...] = (
    (170, 195, 228),
    (140, 172, 215),
    (105, 145, 195),
    (78, 112, 160),
    (55, 80, 118),
    (42, 58, 85),
)
HAIR_COLOURS: tuple[Colour, ...] = (
    (22, 22, 26),
    (30, 44, 66),
    (45, 75, 115),
    (95, 160, 200),
    (165, 168, 172),
    (40, 70, 140),
)
SHOE_COLOURS: tuple[Colour, ...] = (
    (25, 25, 25),
    (220, 222, 225),
    (40, 60, 90),
    (100, 100, 100),
    (60, 60, 170),
)

# Proportions as fractions of the body height H (build b widens the body).
HEAD_R = 0.062
SHOULDER_Z, WAIST_Z, PELVIS_Z, HIP_Z = 0.80, 0.53, 0.44, 0.50
TORSO_HALF_W, TORSO_HALF_D = 0.125, 0.07
WAIST_HALF_W = 0.105
HIP_HALF_W = 0.05
UPPER_ARM, FOREARM, ARM_R, FOREARM_R = 0.175, 0.16, 0.03, 0.026
THIGH, SHIN, THIGH_R, SHIN_R = 0.235, 0.225, 0.044, 0.034
SHOE_R = 0.02
NECK_R = 0.026
HAND_R = 0.024
#: Gait amplitudes in radians (at full walking speed).
ARM_SWING, LEG_SWING, KNEE_FLEX = 0.38, 0.40, 0.6
#: Walls of the eight-sided torso: normals at multiples of 45 degrees, 0 = forward.
RING = 8
#: Shading: a face's colour is base * (AMBIENT + DIFFUSE * max(0, n . sun)).
AMBIENT, DIFFUSE, LIMB_SHADE = 0.6, 0.45, 0.9


@dataclass(frozen=True)
class Appearance:
    """How one person looks; colours BGR 0-255.

    ``top_front`` and ``front_print`` are seen from the front, ``top_back`` and
    ``back_print`` from behind and from the sides; ``bag`` is 0 (none), 1 (a bag
    on the left hip), 2 (on the right hip) or 3 (a backpack).
    """

    height: float
    build: float
    skin: Colour
    hair: Colour | None
    long_hair: bool
    top_front: Colour
    top_back: Colour
    front_print: int
    front_print_colour: Colour
    back_print: int
    back_print_colour: Colour
    long_sleeves: bool
    trousers: Colour
    shorts: bool
    shoes: Colour
    bag: int
    bag_colour: Colour


def _jitter(rng: np.random.Generator, c: Colour, amount: float) -> Colour:
    v = np.clip(np.asarray(c, float) + rng.uniform(-amount, amount, 3), 0, 255)
    return (float(v[0]), float(v[1]), float(v[2]))


def _garment(rng: np.random.Generator, palette_share: float) -> Colour:
    if rng.random() < palette_share:
        return _jitter(rng, COMMON_COLOURS[rng.integers(len(COMMON_COLOURS))], 10)
    pool = COMMON_COLOURS + VIVID_COLOURS
    return _jitter(rng, pool[rng.integers(len(pool))], 22)


def _pick(rng: np.random.Generator, pool: tuple[Colour, ...], amount: float) -> Colour:
    return _jitter(rng, pool[rng.integers(len(pool))], amount)


def sample_appearance(
    rng: np.random.Generator, palette_share: float, others: list[Appearance], lookalike: float
) -> Appearance:
    """Draw a random appearance.

    Parameters
    ----------
    rng : the random stream
    palette_share : probability that a garment colour is a common dull one
    others : people already made; with probability ``lookalike`` the new person copies
        the front or the back of one of them (so two people look alike from one side)
    lookalike : see ``others``
    """
    top_back = _garment(rng, palette_share)
    open_jacket = rng.random() < 0.4
    app = Appearance(
        height=float(np.clip(rng.normal(1.72, 0.09), 1.5, 1.98)),
        build=float(rng.uniform(0.9, 1.18)),
        skin=_pick(rng, SKIN_TONES, 8),
        hair=None if rng.random() < 0.07 else _pick(rng, HAIR_COLOURS, 8),
        long_hair=bool(rng.random() < 0.3),
        top_front=_garment(rng, palette_share) if open_jacket else top_back,
        top_back=top_back,
        front_print=int(rng.choice(3, p=[0.45, 0.3, 0.25])),
        front_print_colour=_garment(rng, 0.0),
        back_print=int(rng.choice(3, p=[0.7, 0.15, 0.15])),
        back_print_colour=_garment(rng, 0.0),
        long_sleeves=bool(rng.random() < 0.6),
        trousers=_garment(rng, min(1.0, palette_share + 0.3)),
        shorts=bool(rng.random() < 0.12),
        shoes=_pick(rng, SHOE_COLOURS, 10),
        bag=int(rng.choice(4, p=[0.5, 0.14, 0.14, 0.22])),
        bag_colour=_garment(rng, palette_share),
    )
    if others and rng.random() < lookalike:
        model = others[rng.integers(len(others))]
        if rng.random() < 0.5:
            fields = {"top_front": model.top_front, "front_print": model.front_print}
            fields["front_print_colour"] = model.front_print_colour
        else:
            fields = {"top_back": model.top_back, "back_print": model.back_print, "bag": model.bag}
            fields["back_print_colour"] = model.back_print_colour
            fields["bag_colour"] = model.bag_colour
        fields["trousers"] = model.trousers
        app = _replace(app, **fields)
    return app


def _replace(app: Appearance, **fields: object) -> Appearance:
    import dataclasses

    return dataclasses.replace(app, **fields)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Part:
    """One primitive of a body.

    Attributes
    ----------
    kind : CAPSULE (idx = two end points), BALL (one centre), FACE (a convex polygon,
        drawn only when its outward ``normal`` faces the camera), HULL (convex hull of points)
    idx : indices into the pose's point array
    radius : capsule or ball radius in metres (0 for faces and hulls)
    colour : BGR colour before shading
    normal : index into :attr:`BodyModel.normals` for a FACE, else -1
    bias : added to the part's depth when ordering (negative = drawn later)
    """

    kind: int
    idx: tuple[int, ...]
    radius: float
    colour: Colour
    normal: int = -1
    bias: float = 0.0


# Indices of the posed (moving) points; static points follow them.
(HEAD, HAIR, HAIR2, NECK_LO, NECK_HI, SH_L, SH_R, EL_L, EL_R, HA_L, HA_R) = range(11)
(HIP_L, HIP_R, KN_L, KN_R, AN_L, AN_R, HEEL_L, HEEL_R, TOE_L, TOE_R, ROOT) = range(11, 22)
N_MOVING = 22


class BodyModel:
    """The primitives of one person, posed by :meth:`points`.

    Parameters
    ----------
    app : the person's appearance
    """

    def __init__(self, app: Appearance) -> None:
        self.app = app
        h, b = app.height, app.build
        self._static: list[NDArray[np.float64]] = []
        normals: list[NDArray[np.float64]] = []
        self.parts: list[Part] = []
        self._rings(h, b, normals)
        self._prints(h, b, normals)
        self._bag(h, b)
        self._limbs_and_head(h, b)
        self.normals = np.asarray(normals, np.float64).reshape(-1, 3)
        self.template = np.zeros((N_MOVING + len(self._static), 3))
        if self._static:
            self.template[N_MOVING:] = np.asarray(self._static)
        self._index_parts()

    def _index_parts(self) -> None:
        """Arrays the renderer needs: depth points, face anchors, a compact draw list."""
        a, b = [], []
        for part in self.parts:
            i = part.idx
            if part.kind == FACE:
                pa, pb = i[0], i[len(i) // 2]
            else:  # capsule ends, ball centre twice, opposite corners of a bag box
                pa, pb = i[0], i[-1]
            a.append(pa)
            b.append(pb)
        #: (n,) indices of two points whose mean depth orders each part
        self.depth_a = np.asarray(a, np.int64)
        self.depth_b = np.asarray(b, np.int64)
        #: (n,) depth bias of each part
        self.depth_bias = np.asarray([p.bias for p in self.parts], np.float64)
        anchors = np.zeros(len(self.normals), np.int64)
        for part in self.parts:
            if part.kind == FACE:
                anchors[part.normal] = part.idx[0]
        #: (F,) a point on each face (for back-face culling)
        self.face_anchor = anchors
        #: the point whose depth orders whole people
        self.root = ROOT
        #: largest capsule or ball radius in metres
        self.max_radius = max((p.radius for p in self.parts), default=0.0)
        self.draw_list = [(p.kind, p.idx, p.radius, p.colour, p.normal) for p in self.parts]

    # ------------------------------------------------------------ building
    def _add(self, p: tuple[float, float, float] | NDArray) -> int:
        self._static.append(np.asarray(p, float))
        return N_MOVING + len(self._static) - 1

    def _ring(self, z: float, half_w: float, half_d: float) -> list[int]:
        angles = (np.arange(RING) + 0.5) * 2 * np.pi / RING
        return [self._add((half_d * np.cos(a), half_w * np.sin(a), z)) for a in angles]

    def _band(
        self, top: list[int], bottom: list[int], colours: list[Colour], normals: list
    ) -> None:
        pts = self.template_static()
        for k in range(RING):
            k2 = (k + 1) % RING
            a, b = pts[top[k]], pts[top[k2]]
            edge = b - a
            n = np.array([edge[1], -edge[0], 0.0])
            n /= np.linalg.norm(n) + 1e-12
            normals.append(n)
            self.parts.append(
                Part(
                    FACE,
                    (top[k], top[k2], bottom[k2], bottom[k]),
                    0.0,
                    colours[k],
                    len(normals) - 1,
                )
            )

    def template_static(self) -> dict[int, NDArray[np.float64]]:
        return {N_MOVING + i: p for i, p in enumerate(self._static)}

    def _rings(self, h: float, b: float, normals: list) -> None:
        app = self.app
        top = self._ring(SHOULDER_Z * h, TORSO_HALF_W * h * b, TORSO_HALF_D * h * np.sqrt(b))
        waist = self._ring(WAIST_Z * h, WAIST_HALF_W * h * b, TORSO_HALF_D * h * np.sqrt(b))
        waist2 = self._ring(WAIST_Z * h, WAIST_HALF_W * h * b, 0.98 * TORSO_HALF_D * h * np.sqrt(b))
        pelvis = self._ring(PELVIS_Z * h, WAIST_HALF_W * h * b, TORSO_HALF_D * h * np.sqrt(b))
        # wall k has its normal at angle (k + 1) * 45 degrees: walls 7, 0 face forward-ish
        front = {RING - 1, 0, RING - 2}
        shirt = [app.top_front if k in front else app.top_back for k in range(RING)]
        self._band(top, waist, shirt, normals)
        self._band(waist2, pelvis, [app.trousers] * RING, normals)
        normals.append(np.array([0.0, 0.0, 1.0]))
        self.parts.append(Part(FACE, tuple(top), 0.0, app.top_back, len(normals) - 1, 0.0))

    def _prints(self, h: float, b: float, normals: list) -> None:
        app = self.app
        x = TORSO_HALF_D * h * np.sqrt(b) * np.cos(np.pi / RING) + 0.004
        half = 0.36 * TORSO_HALF_W * h * b
        for sign, kind, colour in (
            (1.0, app.front_print, app.front_print_colour),
            (-1.0, app.back_print, app.back_print_colour),
        ):
            if kind == 0:
                continue
            z0, z1 = (0.655 * h, 0.705 * h) if kind == 1 else (0.63 * h, 0.73 * h)
            w = half if kind == 1 else 0.6 * half
            idx = tuple(
                self._add((sign * x, sign * y, z))
                for y, z in ((w, z0), (-w, z0), (-w, z1), (w, z1))
            )
            normals.append(np.array([sign, 0.0, 0.0]))
            self.parts.append(Part(FACE, idx, 0.0, colour, len(normals) - 1, -0.05))

    def _bag(self, h: float, b: float) -> None:
        app = self.app
        if app.bag == 0:
            return
        if app.bag == 3:  # backpack
            x0 = -TORSO_HALF_D * h * np.sqrt(b)
            xs, ys, zs = (x0 - 0.08 * h, x0 + 0.01), (-0.085 * h, 0.085 * h), (0.56 * h, 0.77 * h)
        else:
            side = 1.0 if app.bag == 1 else -1.0
            y0 = side * (WAIST_HALF_W * h * b + 0.025 * h)
            xs, ys, zs = (-0.07 * h, 0.06 * h), (y0, y0 + side * 0.035 * h), (0.40 * h, 0.52 * h)
        idx = tuple(self._add((x, y, z)) for x in xs for y in ys for z in zs)
        self.parts.append(Part(HULL, idx, 0.0, _shade(app.bag_colour, 0.85)))

    def _limbs_and_head(self, h: float, b: float) -> None:
        app = self.app
        sleeve = app.top_back if app.long_sleeves else app.skin
        legs_low = app.skin if app.shorts else app.trousers
        arm = _shade(app.top_back, LIMB_SHADE)
        caps = [
            (NECK_LO, NECK_HI, NECK_R, _shade(app.skin, 0.85), 0.0),
            (SH_L, EL_L, ARM_R * b, arm, 0.0),
            (SH_R, EL_R, ARM_R * b, arm, 0.0),
            (EL_L, HA_L, FOREARM_R * b, _shade(sleeve, LIMB_SHADE), 0.0),
            (EL_R, HA_R, FOREARM_R * b, _shade(sleeve, LIMB_SHADE), 0.0),
            (HIP_L, KN_L, THIGH_R * b, _shade(app.trousers, LIMB_SHADE), 0.0),
            (HIP_R, KN_R, THIGH_R * b, _shade(app.trousers, LIMB_SHADE), 0.0),
            (KN_L, AN_L, SHIN_R * b, _shade(legs_low, LIMB_SHADE), 0.0),
            (KN_R, AN_R, SHIN_R * b, _shade(legs_low, LIMB_SHADE), 0.0),
            (HEEL_L, TOE_L, SHOE_R, app.shoes, -0.03),
            (HEEL_R, TOE_R, SHOE_R, app.shoes, -0.03),
        ]
        for i, j, r, c, bias in caps:
            self.parts.append(Part(CAPSULE, (i, j), r * h, c, -1, bias))
        self.parts.append(Part(BALL, (HA_L,), HAND_R * h, app.skin))
        self.parts.append(Part(BALL, (HA_R,), HAND_R * h, app.skin))
        self.parts.append(Part(BALL, (HEAD,), HEAD_R * h, app.skin))
        if app.hair is not None:
            self.parts.append(Part(BALL, (HAIR,), HEAD_R * h * 1.04, app.hair))
            if app.long_hair:
                self.parts.append(Part(BALL, (HAIR2,), HEAD_R * h * 0.9, app.hair))

    # ------------------------------------------------------------ posing
    def points(self, phase: float, amp: float) -> NDArray[np.float64]:
        """All points of the body in its own frame for a gait phase.

        Parameters
        ----------
        phase : gait phase in radians (one cycle = two steps)
        amp : gait amplitude, 0 (standing) to about 1 (walking briskly)

        Returns
        -------
        (J, 3) float64 points, x forward, y left, z up, in metres
        """
        h, b = self.app.height, self.app.build
        p = self.template.copy()
        s, c = np.sin(phase), np.cos(phase)
        sh_y = TORSO_HALF_W * h * b + 0.55 * ARM_R * h * b
        hip_y = HIP_HALF_W * h * b
        for side, sign in ((0, 1.0), (1, -1.0)):
            # legs: left leg angle = amp*LEG_SWING*sin(phase); right leg opposite
            leg_phase_cos = c if side == 0 else -c
            beta = sign * amp * LEG_SWING * s
            flex = amp * KNEE_FLEX * max(0.0, leg_phase_cos) + 0.05
            hip = np.array([0.0, sign * hip_y, HIP_Z * h])
            knee = hip + THIGH * h * _down(beta)
            ankle = knee + SHIN * h * _down(beta - flex)
            p[HIP_L + side], p[KN_L + side], p[AN_L + side] = hip, knee, ankle
            p[HEEL_L + side] = ankle + np.array([-0.025 * h, 0.0, -0.02 * h])
            p[TOE_L + side] = ankle + np.array([0.085 * h, 0.0, -0.025 * h])
            # arms swing against the leg of the same side
            alpha = -sign * amp * ARM_SWING * s
            shoulder = np.array([0.0, sign * sh_y, SHOULDER_Z * h])
            elbow = shoulder + UPPER_ARM * h * _down(alpha) + [0, sign * 0.006 * h, 0]
            hand = elbow + FOREARM * h * _down(alpha + 0.12 + 0.3 * max(alpha, 0.0))
            p[SH_L + side], p[EL_L + side], p[HA_L + side] = (
                shoulder,
                elbow,
                hand + [0, 0.01 * sign * h, 0],
            )
        head_z = h * (1 - HEAD_R)
        p[HEAD] = (0.012 * h, 0.0, head_z)
        p[HAIR] = (-0.008 * h, 0.0, head_z + 0.01 * h)
        p[HAIR2] = (-0.03 * h, 0.0, head_z - 0.035 * h)
        p[NECK_LO] = (0.0, 0.0, SHOULDER_Z * h - 0.01 * h)
        p[NECK_HI] = (0.006 * h, 0.0, head_z - 0.5 * HEAD_R * h)
        p[ROOT] = (0.0, 0.0, HIP_Z * h)
        lowest = min(p[HEEL_L, 2], p[HEEL_R, 2], p[TOE_L, 2], p[TOE_R, 2])
        p[:, 2] += SHOE_R * h - lowest
        return p


def _down(angle: float) -> NDArray[np.float64]:
    """Unit vector in the x-z plane ``angle`` radians forward from straight down."""
    return np.array([np.sin(angle), 0.0, -np.cos(angle)])


def _shade(c: Colour, k: float) -> Colour:
    return (c[0] * k, c[1] * k, c[2] * k)


def shade_faces(normals_world: NDArray[np.float64], sun: NDArray[np.float64]) -> NDArray:
    """Lambert shading factor per face: (F, 3) unit normals, (3,) unit sun -> (F,)."""
    return AMBIENT + DIFFUSE * np.maximum(normals_world @ sun, 0.0)
