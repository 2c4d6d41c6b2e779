"""Pinhole cameras around the walking area, each with its own image response.

A camera sits outside the area's border at some height, looks at an aim
point near the area's centre (yaw and pitch follow from that), and has its
own focal length. World coordinates: x, y on the ground, z up, metres.
Camera coordinates: x right, y down, z forward; a world point X maps to
``K (R X + t)``.

Each camera also has its own colour response (per-channel gain, gamma and
exposure offset, applied by a lookup table), sensor noise and blur, so the
same person looks somewhat different in each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mcmot.synth.config import SynthConfig

#: Height of the aim point above the ground (about a person's middle), metres.
AIM_Z = 0.9
#: Noise frames kept per camera (cycled; making fresh noise per frame is slow).
NOISE_BANK = 6


@dataclass(frozen=True)
class CameraModel:
    """One pinhole camera.

    Attributes
    ----------
    name : camera name (``cam1`` ...)
    K : (3, 3) intrinsics
    R : (3, 3) world-to-camera rotation
    t : (3,) world-to-camera translation
    width, height : image size in pixels
    gains : (3,) per-channel (BGR) colour gains
    gamma : response exponent (output = 255 * (input / 255) ** gamma * gain + exposure)
    exposure : offset in grey levels
    noise_sigma : sensor noise in grey levels
    blur_sigma : Gaussian blur in pixels (0 = none)
    """

    name: str
    K: NDArray[np.float64]
    R: NDArray[np.float64]
    t: NDArray[np.float64]
    width: int
    height: int
    gains: NDArray[np.float64]
    gamma: float
    exposure: float
    noise_sigma: float
    blur_sigma: float

    @property
    def centre(self) -> NDArray[np.float64]:
        """(3,) the camera's position in the world."""
        return -self.R.T @ self.t

    @property
    def focal(self) -> float:
        return float(self.K[0, 0])

    def project(self, pts: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
        """World points (N, 3) -> pixel coordinates (N, 2) and depths (N,)."""
        cam = pts @ self.R.T + self.t
        z = cam[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = cam[:, :2] / z[:, None] * self.focal + self.K[:2, 2]
        return uv, z

    def lut(self) -> NDArray[np.uint8]:
        """(256, 1, 3) uint8 lookup table of the colour response."""
        x = np.arange(256, dtype=np.float64)[:, None] / 255.0
        y = 255.0 * x**self.gamma * self.gains[None, :] + self.exposure
        return np.clip(np.round(y), 0, 255).astype(np.uint8).reshape(256, 1, 3)

    def noise_bank(self, rng: np.random.Generator) -> list[tuple[NDArray, NDArray]]:
        """Pairs (add, subtract) of uint8 noise images to apply with saturation."""
        bank = []
        for _ in range(NOISE_BANK):
            n = rng.normal(0.0, self.noise_sigma, (self.height, self.width, 1))
            n = np.repeat(np.round(n), 3, axis=2) + np.round(
                rng.normal(0.0, self.noise_sigma * 0.4, (self.height, self.width, 3))
            )
            n = np.clip(n, -255, 255)
            bank.append((np.maximum(n, 0).astype(np.uint8), np.maximum(-n, 0).astype(np.uint8)))
        return bank

    def to_json(self) -> dict:
        """The camera as JSON-ready lists (for ``synth/cameras.json``)."""
        return {
            "name": self.name,
            "width": self.width,
            "height": self.height,
            "K": np.round(self.K, 6).tolist(),
            "R": np.round(self.R, 9).tolist(),
            "t": np.round(self.t, 6).tolist(),
            "centre": np.round(self.centre, 6).tolist(),
            "gains_bgr": np.round(self.gains, 6).tolist(),
            "gamma": round(self.gamma, 6),
            "exposure": round(self.exposure, 6),
            "noise_sigma": round(self.noise_sigma, 6),
            "blur_sigma": round(self.blur_sigma, 6),
        }


def look_at(centre: NDArray, target: NDArray) -> tuple[NDArray, NDArray]:
    """Rotation R and translation t of a camera at ``centre`` looking at ``target`` (no roll)."""
    fwd = target - centre
    fwd = fwd / np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    R = np.stack([right, down, fwd])
    return R, -R @ centre


def _on_border(half: NDArray, angle: float) -> NDArray:
    """The point of the area's rectangle border in direction ``angle`` from the centre."""
    c, s = math.cos(angle), math.sin(angle)
    scale = min(half[0] / max(abs(c), 1e-9), half[1] / max(abs(s), 1e-9))
    return np.array([c, s]) * scale


def place_cameras(cfg: SynthConfig, half: NDArray, rng: np.random.Generator) -> list[CameraModel]:
    """Cameras spread around the area, looking inwards (see the module docstring)."""
    k = cfg.knobs
    start = rng.uniform(0, 2 * np.pi)
    cams = []
    for i in range(cfg.cameras):
        angle = start + 2 * np.pi * (i + rng.uniform(-0.2, 0.2)) / cfg.cameras
        ground = _on_border(half, angle) + np.array(
            [math.cos(angle), math.sin(angle)]
        ) * rng.uniform(*k.camera_distance)
        centre = np.array([ground[0], ground[1], rng.uniform(*k.camera_height)])
        aim = np.append(rng.uniform(-1, 1, 2) * k.aim_spread * half, AIM_Z)
        R, t = look_at(centre, aim)
        f = (cfg.width / 2) / math.tan(math.radians(rng.uniform(*k.hfov_deg)) / 2)
        K = np.array([[f, 0, cfg.width / 2], [0, f, cfg.height / 2], [0, 0, 1.0]])
        cams.append(
            CameraModel(
                name=f"cam{i + 1}",
                K=K,
                R=R,
                t=t,
                width=cfg.width,
                height=cfg.height,
                gains=1.0 + rng.normal(0, k.gain_spread, 3),
                gamma=float(math.exp(rng.normal(0, k.gamma_spread))),
                exposure=float(rng.normal(0, k.exposure_spread)),
                noise_sigma=float(rng.uniform(*k.noise_sigma)),
                blur_sigma=float(rng.uniform(*k.blur_sigma)),
            )
        )
    return cams
