"""Configuration of the synthetic scene generator and its difficulty levels.

:class:`SynthConfig` holds what a user chooses (how many cameras, people,
frames, the image size, the seed, the difficulty and the output format).
:class:`Difficulty` holds the knobs that a difficulty level sets: crowd
density, clothing similarity, camera placement (occlusion and overlap) and
camera disagreement (colour response, noise, blur). ``DIFFICULTIES`` maps
``easy``, ``medium`` and ``hard`` to their knobs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mcmot.errors import McmotError
from mcmot.timebase import MAX_FPS

#: Output formats: one mp4 video per camera, or one folder of jpg frames per camera.
FORMATS = ("mp4", "jpg")
#: Most people in the world at one time (the label image is uint8, 0 = background).
MAX_PEOPLE = 200
#: Smallest and largest image side in pixels.
MIN_SIDE, MAX_SIDE = 32, 4096
#: Most cameras (names cam1..camN; each costs one render per frame).
MAX_CAMERAS = 32
#: Most frames per camera (about an hour at 30 frames/s); the simulated world
#: is held in memory, frames x people.
MAX_FRAMES = 100_000
#: Seeds are 0 to this (a numpy seed is a non-negative integer).
MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class Difficulty:
    """The knobs one difficulty level sets.

    Attributes
    ----------
    area_per_person : square metres of walking area per person (smaller = denser crowd)
    camera_height : (low, high) camera height above the ground in metres (lower = more occlusion)
    camera_distance : (low, high) distance of a camera from the area's edge in metres
    hfov_deg : (low, high) horizontal field of view in degrees
    aim_spread : how far (fraction of the area's half-size) a camera's aim point strays
        from the area's centre (larger = views overlap less)
    palette_share : probability that a garment colour comes from a small palette of common
        dull colours rather than from the full palette (larger = people look more alike)
    lookalike : probability that a person copies the clothes of one side of another person
    gain_spread : standard deviation of a camera's per-channel colour gain
    gamma_spread : standard deviation of a camera's gamma around 1
    exposure_spread : standard deviation of a camera's exposure offset (grey levels)
    noise_sigma : (low, high) per-camera sensor noise in grey levels
    blur_sigma : (low, high) per-camera Gaussian blur in pixels
    stand_prob : probability that a person mostly stands still
    props : number of static props (lamp posts, bins, pillars, planters) in the area
    """

    area_per_person: float
    camera_height: tuple[float, float]
    camera_distance: tuple[float, float]
    hfov_deg: tuple[float, float]
    aim_spread: float
    palette_share: float
    lookalike: float
    gain_spread: float
    gamma_spread: float
    exposure_spread: float
    noise_sigma: tuple[float, float]
    blur_sigma: tuple[float, float]
    stand_prob: float
    props: int


DIFFICULTIES: dict[str, Difficulty] = {
    "easy": Difficulty(
        area_per_person=14.0,
        camera_height=(4.5, 6.0),
        camera_distance=(2.0, 3.5),
        hfov_deg=(58.0, 70.0),
        aim_spread=0.1,
        palette_share=0.15,
        lookalike=0.0,
        gain_spread=0.03,
        gamma_spread=0.04,
        exposure_spread=4.0,
        noise_sigma=(1.5, 3.0),
        blur_sigma=(0.0, 0.5),
        stand_prob=0.15,
        props=1,
    ),
    "medium": Difficulty(
        area_per_person=9.0,
        camera_height=(3.6, 5.5),
        camera_distance=(2.0, 3.5),
        hfov_deg=(46.0, 66.0),
        aim_spread=0.6,
        palette_share=0.5,
        lookalike=0.15,
        gain_spread=0.08,
        gamma_spread=0.1,
        exposure_spread=10.0,
        noise_sigma=(2.5, 5.0),
        blur_sigma=(0.3, 0.9),
        stand_prob=0.2,
        props=2,
    ),
    "hard": Difficulty(
        area_per_person=5.5,
        camera_height=(2.6, 4.0),
        camera_distance=(1.0, 3.0),
        hfov_deg=(40.0, 58.0),
        aim_spread=0.85,
        palette_share=0.85,
        lookalike=0.35,
        gain_spread=0.11,
        gamma_spread=0.18,
        exposure_spread=18.0,
        noise_sigma=(4.0, 8.0),
        blur_sigma=(0.5, 1.4),
        stand_prob=0.25,
        props=4,
    ),
}


@dataclass(frozen=True)
class SynthConfig:
    """What to generate.

    Attributes
    ----------
    cameras : number of cameras (named cam1, cam2, ...)
    people : people in the area at a time; one who leaves is replaced later by a new identity
    frames : frames per camera
    fps : frames per second (sets how far people move between frames)
    width : image width in pixels
    height : image height in pixels
    seed : random seed; the same seed gives the same scene, byte for byte in ``gt/``
    difficulty : ``easy``, ``medium`` or ``hard`` (see :data:`DIFFICULTIES`)
    fmt : ``mp4`` (``videos/<cam>.mp4``) or ``jpg`` (``frames/<cam>/<frame:06d>.jpg``)
    min_visible_px : a person gets a ground-truth box in a camera when at least this many
        of their pixels are visible there
    jpeg_quality : quality of jpg frames (0-100)
    """

    cameras: int = 4
    people: int = 8
    frames: int = 300
    fps: float = 10.0
    width: int = 640
    height: int = 360
    seed: int = 0
    difficulty: str = "medium"
    fmt: str = "mp4"
    min_visible_px: int = 20
    jpeg_quality: int = 92

    @property
    def knobs(self) -> Difficulty:
        """The difficulty knobs of :attr:`difficulty`."""
        return DIFFICULTIES[self.difficulty]

    def validate(self) -> None:
        """Raise :class:`McmotError` (one line) for impossible parameters."""
        checks = [
            (1 <= self.cameras <= MAX_CAMERAS, f"--cameras must be 1 to {MAX_CAMERAS}"),
            (0 <= self.people <= MAX_PEOPLE, f"--people must be 0 to {MAX_PEOPLE}"),
            (1 <= self.frames <= MAX_FRAMES, f"--frames must be 1 to {MAX_FRAMES}"),
            (0 < self.fps <= MAX_FPS, f"--fps must be positive, at most {MAX_FPS:g}"),
            (0 <= self.seed <= MAX_SEED, f"--seed must be 0 to {MAX_SEED}"),
            (
                MIN_SIDE <= self.width <= MAX_SIDE and MIN_SIDE <= self.height <= MAX_SIDE,
                f"--size sides must be {MIN_SIDE} to {MAX_SIDE} pixels",
            ),
            (self.difficulty in DIFFICULTIES, "--difficulty must be easy, medium or hard"),
            (self.fmt in FORMATS, "--format must be mp4 or jpg"),
            (
                self.fmt != "mp4" or (self.width % 2 == 0 and self.height % 2 == 0),
                "--size must have even sides for mp4 video (or use --format jpg)",
            ),
            (self.min_visible_px >= 1, "min_visible_px must be at least 1"),
            (0 <= self.jpeg_quality <= 100, "jpeg_quality must be 0 to 100"),
        ]
        got = {
            "--cameras": self.cameras,
            "--people": self.people,
            "--frames": self.frames,
            "--fps": self.fps,
            "--seed": self.seed,
            "--size": f"{self.width}x{self.height}",
            "--difficulty": self.difficulty,
            "--format": self.fmt,
        }
        for ok, message in checks:
            if not ok:
                opt = message.split()[0]
                shown = f", got {got[opt]!r}" if opt in got else ""
                raise McmotError(message + shown)


_SIZE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def parse_size(text: str) -> tuple[int, int]:
    """'640x360' -> (640, 360); anything else is a one-line :class:`McmotError`."""
    m = _SIZE.match(text)
    if not m:
        raise McmotError(f"--size must be WIDTHxHEIGHT (for example 640x360), got {text!r}")
    return int(m.group(1)), int(m.group(2))
