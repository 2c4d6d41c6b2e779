"""Textured ground and backdrop, made once per scene and warped into each camera.

The ground is one world texture (paving stones of random size and tint,
blotches, speckles and a few painted lines) seen by every camera through
its ground-plane homography, so the same spot of ground looks the same from
every camera. Above the ground (far away or above the horizon) each camera
sees its own backdrop of building facades with windows under a sky. A fine
static grain is added to both.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from mcmot.synth.cameras import CameraModel

#: The ground texture covers the area plus this margin (metres) on every side.
GROUND_MARGIN = 20.0
#: Ground texture resolution, metres per texel.
TEXEL = 0.05
#: Darkening of the ground under a shadow.
SHADOW_FACTOR = 0.58
#: Ground colours (BGR) to choose from: concrete, sandstone, asphalt, brick, greyish green.
GROUND_COLOURS = ((128, 132, 135), (120, 150, 170), (88, 90, 92), (85, 100, 140), (95, 120, 110))


def ground_texture(half: NDArray, rng: np.random.Generator) -> tuple[NDArray[np.uint8], NDArray]:
    """The world's ground texture.

    Returns
    -------
    (Ht, Wt, 3) uint8 texture and (3, 3) matrix mapping texel (u, v, 1) to ground (x, y, 1)
    """
    ext = half + GROUND_MARGIN
    wt, ht = (np.ceil(2 * ext / TEXEL)).astype(int)
    base = np.asarray(GROUND_COLOURS[rng.integers(len(GROUND_COLOURS))], np.float32)
    blobs = rng.normal(0, 1, (ht // 64 + 2, wt // 64 + 2, 3)) * (4, 4, 4) + rng.normal(
        0, 11, (ht // 64 + 2, wt // 64 + 2, 1)
    )
    low = cv2.resize(blobs.astype(np.float32), (wt, ht))
    mid = cv2.resize(rng.normal(0, 6, (ht // 8 + 2, wt // 8 + 2, 1)).astype(np.float32), (wt, ht))
    img = base + low + mid[..., None] + rng.normal(0, 7, (ht, wt, 1)).astype(np.float32)
    _paving(img, rng, wt, ht)
    _markings(img, rng, half, wt, ht)
    tex = np.clip(img, 0, 255).astype(np.uint8)
    to_ground = np.array([[TEXEL, 0, -ext[0]], [0, TEXEL, -ext[1]], [0, 0, 1.0]])
    return tex, to_ground


def _paving(img: NDArray, rng: np.random.Generator, wt: int, ht: int) -> None:
    """Grid of slabs with slightly different tints and dark joints (in place)."""
    slab = int(rng.uniform(0.4, 1.0) / TEXEL)
    ny, nx = ht // slab + 1, wt // slab + 1
    tints = rng.normal(0, 6, (ny, nx, 1)).astype(np.float32)
    img += cv2.resize(tints, (nx * slab, ny * slab), interpolation=cv2.INTER_NEAREST)[
        :ht, :wt, None
    ]
    img[::slab, :] *= 0.72
    img[:, ::slab] *= 0.72


def _markings(img: NDArray, rng: np.random.Generator, half: NDArray, wt: int, ht: int) -> None:
    """A few painted lines and dark patches across the area (in place)."""
    for _ in range(int(rng.integers(2, 6))):
        p0 = (rng.uniform(0.3, 0.7, 2) * (wt, ht)).astype(int)
        p1 = (rng.uniform(0.3, 0.7, 2) * (wt, ht)).astype(int)
        colour = (215.0, 215.0, 210.0) if rng.random() < 0.6 else (40.0, 170.0, 210.0)
        cv2.line(img, tuple(map(int, p0)), tuple(map(int, p1)), colour, int(0.1 / TEXEL))
    for _ in range(int(rng.integers(3, 8))):
        c = tuple(map(int, rng.uniform(0.35, 0.65, 2) * (wt, ht)))
        axes = tuple(map(int, rng.uniform(0.3, 1.2, 2) / TEXEL))
        cv2.ellipse(img, c, axes, float(rng.uniform(0, 180)), 0, 360, (70.0, 72.0, 75.0), -1)


def _ground_mask(cam: CameraModel, limit: NDArray) -> NDArray[np.bool_]:
    """(H, W) pixels whose ray meets the ground inside the texture."""
    v, u = np.mgrid[0 : cam.height, 0 : cam.width].astype(np.float64)
    rays = np.stack([u, v, np.ones_like(u)], axis=-1) @ np.linalg.inv(cam.K).T @ cam.R
    c = cam.centre
    down = rays[..., 2] < -1e-6
    s = np.where(down, -c[2] / np.where(down, rays[..., 2], -1.0), np.inf)
    gx, gy = c[0] + s * rays[..., 0], c[1] + s * rays[..., 1]
    return down & (np.abs(gx) < limit[0] - 0.5) & (np.abs(gy) < limit[1] - 0.5)


def _backdrop(cam: CameraModel, rng: np.random.Generator) -> NDArray[np.uint8]:
    """Sky and a row of building facades with windows, standing on the horizon."""
    w, h = cam.width, cam.height
    fwd = cam.R[2]
    pitch = np.arcsin(np.clip(-fwd[2], -1, 1))
    horizon = int(cam.K[1, 2] - cam.focal * np.tan(pitch))
    sky = np.linspace(1.0, 0.8, h, dtype=np.float32)[:, None, None] * np.array(
        [225, 205, 185], np.float32
    )
    img = np.broadcast_to(sky, (h, w, 3)).copy()
    x = 0
    while x < w:
        bw = int(rng.uniform(0.08, 0.3) * w)
        top = horizon - int(rng.uniform(0.1, 0.6) * h)
        colour = rng.uniform(70, 200, 3)
        cv2.rectangle(img, (x, top), (x + bw, h), colour.tolist(), -1)
        step = max(4, int(rng.uniform(0.02, 0.05) * w))
        win = (colour * rng.uniform(0.4, 0.7)).tolist()
        for wy in range(top + step // 2, h, step):
            for wx in range(x + step // 3, x + bw - step // 2, step):
                cv2.rectangle(img, (wx, wy), (wx + step // 2, wy + step // 2), win, -1)
        x += bw
    return np.clip(img, 0, 255).astype(np.uint8)


def camera_background(
    cam: CameraModel,
    tex: NDArray[np.uint8],
    to_ground: NDArray,
    half: NDArray,
    rng: np.random.Generator,
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """The empty scene seen by ``cam``, plus the same with the ground in shadow.

    Returns
    -------
    background (H, W, 3) uint8 and shadowed background (H, W, 3) uint8
    """
    H_ground = cam.K @ np.column_stack([cam.R[:, 0], cam.R[:, 1], cam.t])
    warped = cv2.warpPerspective(
        tex,
        H_ground @ to_ground,
        (cam.width, cam.height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )
    mask = _ground_mask(cam, half + GROUND_MARGIN)
    back = _backdrop(cam, rng)
    img = np.where(mask[..., None], warped, back)
    grain = rng.normal(0, 4, (cam.height, cam.width, 1))
    img = np.clip(img.astype(np.float64) + grain, 0, 255)
    shadow = np.where(mask[..., None], img * SHADOW_FACTOR, img)
    return img.astype(np.uint8), shadow.astype(np.uint8)
