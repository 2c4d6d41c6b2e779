"""Depth-ordered rendering of posed bodies into one camera, with exact visible boxes.

For each frame a camera starts from its precomputed background, darkens the
ground under every person's shadow, then paints the people from the farthest
to the nearest (and each person's parts from back to front), so nearer people
occlude farther ones. Every primitive is painted three times: anti-aliased
into the colour image, with the person's label into a label image (the
painter's algorithm leaves each pixel labelled by the person seen there), and
into a private mask of the person's whole silhouette (unclipped, so it counts
parts outside the image too). A person's ground-truth box is the bounding box
of their label's pixels, and the visibility ratio is their visible pixels over
their whole silhouette, so occlusion and the image border both lower it.
Finally the camera's blur, noise and colour response are applied.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from mcmot.synth.bodies import BALL, CAPSULE, FACE, BodyModel, shade_faces
from mcmot.synth.cameras import CameraModel

#: Fixed-point bits of drawing coordinates (sub-pixel accuracy 1/4 px).
SHIFT = 2
FP = 1 << SHIFT
#: Points nearer than this to the camera plane (metres) hide the whole person.
NEAR = 0.3
#: A person taller than this many image heights is not drawn (they stand in the lens).
MAX_SCREEN_HEIGHTS = 4.0
#: Blur below this sigma (pixels) is skipped.
MIN_BLUR = 0.3
#: Shadow: ellipse points, longest length (m), width as a fraction of the body height.
SHADOW_POINTS, SHADOW_MAX_LEN, SHADOW_WIDTH = 12, 2.5, 0.13


@dataclass(frozen=True)
class PersonPose:
    """One person at one instant, in world coordinates.

    Attributes
    ----------
    pid : global identity (>= 1)
    body : the person's primitives
    pts : (J, 3) body points in metres
    normals : (F, 3) unit outward normals of the body's faces
    shade : (F,) shading factor of each face
    shadow : (S, 3) ground polygon of the person's shadow
    """

    pid: int
    body: BodyModel
    pts: NDArray[np.float64]
    normals: NDArray[np.float64]
    shade: NDArray[np.float64]
    shadow: NDArray[np.float64]


def pose_person(
    pid: int,
    body: BodyModel,
    xy: NDArray,
    heading: float,
    phase: float,
    amp: float,
    sun: NDArray,
) -> PersonPose:
    """Place a posed body at ground point ``xy`` facing ``heading`` (radians)."""
    c, s = np.cos(heading), np.sin(heading)
    rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    pts = body.points(phase, amp) @ rz.T
    pts[:, 0] += xy[0]
    pts[:, 1] += xy[1]
    normals = body.normals @ rz.T
    return PersonPose(pid, body, pts, normals, shade_faces(normals, sun), _shadow(body, xy, sun))


def _shadow(body: BodyModel, xy: NDArray, sun: NDArray) -> NDArray[np.float64]:
    """(S, 3) ellipse on the ground stretching away from the sun."""
    flat = float(np.hypot(sun[0], sun[1]))
    h = body.app.height
    length = min(SHADOW_MAX_LEN, h * flat / max(sun[2], 1e-3))
    d = -sun[:2] / max(flat, 1e-9)
    side = np.array([-d[1], d[0]])
    a = np.linspace(0, 2 * np.pi, SHADOW_POINTS, endpoint=False)
    centre = np.asarray(xy) + d * 0.45 * length
    ring = (
        centre
        + np.cos(a)[:, None] * d * (0.5 * length + 0.15)
        + np.sin(a)[:, None] * side * SHADOW_WIDTH * h * body.app.build
    )
    return np.column_stack([ring, np.zeros(SHADOW_POINTS)])


@dataclass(frozen=True)
class RenderedFrame:
    """One camera's picture of one instant.

    Attributes
    ----------
    image : (H, W, 3) uint8 BGR image
    labels : (H, W) uint8, 0 background, k = the k-th person drawn
    boxes : (N, 4) float64 tlwh visible extents
    ids : (N,) int64 global identities of the boxes
    visibility : (N,) float64 visible fraction of each silhouette
    """

    image: NDArray[np.uint8]
    labels: NDArray[np.uint8]
    boxes: NDArray[np.float64]
    ids: NDArray[np.int64]
    visibility: NDArray[np.float64]
    label_ids: dict[int, int]


@dataclass
class _Drawn:
    pid: int
    label: int
    full_px: int
    bbox: tuple[int, int, int, int]


class CameraRenderer:
    """Renders frames for one camera.

    Parameters
    ----------
    cam : the camera
    background : (H, W, 3) uint8 empty scene
    shadowed : (H, W, 3) uint8 empty scene with the ground in shadow
    noise : pairs of uint8 noise images (added, subtracted), cycled over frames
    min_visible_px : fewest visible pixels for a box
    """

    def __init__(
        self,
        cam: CameraModel,
        background: NDArray[np.uint8],
        shadowed: NDArray[np.uint8],
        noise: list[tuple[NDArray[np.uint8], NDArray[np.uint8]]],
        min_visible_px: int,
    ) -> None:
        self.cam = cam
        self.background = background
        self.shadowed = shadowed
        self.noise = noise
        self.min_visible_px = min_visible_px
        self._lut = cam.lut()
        self._centre = cam.centre

    def render(
        self, people: list[PersonPose], frame_index: int = 0, *, effects: bool = True
    ) -> RenderedFrame:
        """Render ``people``; ``effects=False`` skips blur, noise and colour response."""
        img = self.background.copy()
        labels = np.zeros(img.shape[:2], np.uint8)
        self._shadows(img, people)
        projected = [(p, *self.cam.project(p.pts)) for p in people]
        projected = [(p, uv, z) for p, uv, z in projected if z.min() >= NEAR]
        projected.sort(key=lambda q: -float(q[2][q[0].body.root]))
        drawn = []
        for p, uv, z in projected:
            d = self._draw_person(img, labels, p, uv, z, len(drawn) + 1)
            if d is not None:
                drawn.append(d)
        frame = self._boxes(img, labels, drawn)
        if effects:
            self._effects(img, frame_index)
        return frame

    # ---------------------------------------------------------------- people
    def _shadows(self, img: NDArray[np.uint8], people: list[PersonPose]) -> None:
        if not people:
            return
        mask = np.zeros(img.shape[:2], np.uint8)
        for p in people:
            uv, z = self.cam.project(p.shadow)
            if z.min() < NEAR:
                continue
            cv2.fillConvexPoly(mask, np.round(uv * FP).astype(np.int32), 255, cv2.LINE_8, SHIFT)
        cv2.copyTo(self.shadowed, mask, img)

    def _draw_person(
        self,
        img: NDArray[np.uint8],
        labels: NDArray[np.uint8],
        p: PersonPose,
        uv: NDArray,
        z: NDArray,
        label: int,
    ) -> _Drawn | None:
        body, f = p.body, self.cam.focal
        pad = body.max_radius * f / float(z.min()) + 2
        x0, y0 = np.floor(uv.min(axis=0) - pad).astype(int)
        x1, y1 = np.ceil(uv.max(axis=0) + pad).astype(int)
        w, h = self.cam.width, self.cam.height
        if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h or (y1 - y0) > MAX_SCREEN_HEIGHTS * h:
            return None
        if label > 255:
            raise ValueError("more than 255 people in one image")
        local = np.zeros((y1 - y0, x1 - x0), np.uint8)
        fp = np.round(uv * FP).astype(np.int32)
        off = np.array([x0 * FP, y0 * FP], np.int32)
        depth = (z[body.depth_a] + z[body.depth_b]) * 0.5 + body.depth_bias
        facing = np.einsum("ij,ij->i", p.normals, self._centre - p.pts[body.face_anchor]) > 0
        for k in np.argsort(-depth, kind="stable"):
            kind, idx, radius, colour, normal = body.draw_list[k]
            if kind == FACE:
                if not facing[normal]:
                    continue
                s = p.shade[normal]
                colour = (colour[0] * s, colour[1] * s, colour[2] * s)
            _paint(img, labels, local, kind, fp, off, idx, radius * f, z, colour, label)
        return _Drawn(p.pid, label, cv2.countNonZero(local), (x0, y0, x1, y1))

    def _boxes(
        self, img: NDArray[np.uint8], labels: NDArray[np.uint8], drawn: list[_Drawn]
    ) -> RenderedFrame:
        w, h = self.cam.width, self.cam.height
        rows, ids, vis = [], [], []
        for d in drawn:
            x0, y0, x1, y1 = d.bbox
            cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
            m = cv2.compare(labels[cy0:cy1, cx0:cx1], d.label, cv2.CMP_EQ)
            n = cv2.countNonZero(m)
            if n < self.min_visible_px:
                continue
            bx, by, bw, bh = cv2.boundingRect(m)
            rows.append((bx + cx0, by + cy0, bw, bh))
            ids.append(d.pid)
            vis.append(min(1.0, n / max(d.full_px, 1)))
        return RenderedFrame(
            image=img,
            labels=labels,
            boxes=np.asarray(rows, np.float64).reshape(-1, 4),
            ids=np.asarray(ids, np.int64),
            visibility=np.asarray(vis, np.float64),
            label_ids={d.label: d.pid for d in drawn},
        )

    # ---------------------------------------------------------------- camera
    def _effects(self, img: NDArray[np.uint8], frame_index: int) -> None:
        """Blur, sensor noise and colour response, in place."""
        if self.cam.blur_sigma >= MIN_BLUR:
            cv2.GaussianBlur(img, (0, 0), self.cam.blur_sigma, dst=img)
        if self.noise:
            add, sub = self.noise[(frame_index * 5 + 1) % len(self.noise)]
            cv2.add(img, add, dst=img)
            cv2.subtract(img, sub, dst=img)
        cv2.LUT(img, self._lut, dst=img)


def _paint(
    img: NDArray[np.uint8],
    labels: NDArray[np.uint8],
    local: NDArray[np.uint8],
    kind: int,
    fp: NDArray[np.int32],
    off: NDArray[np.int32],
    idx: tuple[int, ...],
    radius_fm: float,
    z: NDArray,
    colour: tuple[float, float, float],
    label: int,
) -> None:
    """Paint one primitive into the colour image, the label image and the local mask."""
    if kind == CAPSULE:
        a, b = idx
        th = max(1, int(round(2 * radius_fm / (0.5 * (z[a] + z[b])))))
        pa, pb = fp[a].tolist(), fp[b].tolist()
        cv2.line(img, pa, pb, colour, th, cv2.LINE_AA, SHIFT)
        cv2.line(labels, pa, pb, label, th, cv2.LINE_8, SHIFT)
        cv2.line(local, (fp[a] - off).tolist(), (fp[b] - off).tolist(), 255, th, cv2.LINE_8, SHIFT)
    elif kind == BALL:
        a = idx[0]
        r = max(1, int(round(radius_fm / z[a] * FP)))
        pa = fp[a].tolist()
        cv2.circle(img, pa, r, colour, -1, cv2.LINE_AA, SHIFT)
        cv2.circle(labels, pa, r, label, -1, cv2.LINE_8, SHIFT)
        cv2.circle(local, (fp[a] - off).tolist(), r, 255, -1, cv2.LINE_8, SHIFT)
    else:
        poly = fp[list(idx)]
        if kind != FACE:
            poly = cv2.convexHull(poly).reshape(-1, 2)
        cv2.fillConvexPoly(img, poly, colour, cv2.LINE_AA, SHIFT)
        cv2.fillConvexPoly(labels, poly, label, cv2.LINE_8, SHIFT)
        cv2.fillConvexPoly(local, poly - off, 255, cv2.LINE_8, SHIFT)
