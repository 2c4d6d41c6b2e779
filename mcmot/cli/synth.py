"""``mcmot synth``: render a synthetic multi-camera scene with exact ground truth."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mcmot.cli.common import OverwriteOpt, out, progress_bar
from mcmot.config import override
from mcmot.scene import Scene
from mcmot.synth import SynthConfig, generate_scene, parse_size
from mcmot.synth.config import MAX_FRAMES
from mcmot.synth.stats import scene_stats


class Difficulty(str, Enum):
    easy = "easy"
    medium = "medium"
    hard = "hard"


class Format(str, Enum):
    mp4 = "mp4"
    jpg = "jpg"


OutSceneArg = Annotated[
    Path, typer.Argument(help="Folder to create for the new scene.", show_default=False)
]
CameraCountOpt = Annotated[int, typer.Option(help="Number of cameras.")]
PeopleOpt = Annotated[int, typer.Option(help="People in the world at a time.")]
FramesOpt = Annotated[int, typer.Option(help=f"Frames per camera (1 to {MAX_FRAMES}).")]
RateOpt = Annotated[float, typer.Option(help="Frames per second.")]
SizeOpt = Annotated[str, typer.Option(help="Image size WIDTHxHEIGHT.")]
SeedOpt = Annotated[int, typer.Option(help="Random seed (0 or more).")]
DifficultyOpt = Annotated[
    Difficulty, typer.Option(help="Crowd density, look-alikes, occlusion, camera spread.")
]
FormatOpt = Annotated[
    Format, typer.Option("--format", help="videos/<cam>.mp4 or frames/<cam>/*.jpg.")
]
MosaicOpt = Annotated[
    int | None,
    typer.Option(help="Also write synth/mosaic_K.png of 1-based frame K.", metavar="K"),
]


def synth_cmd(
    out_scene: OutSceneArg,
    cameras: CameraCountOpt = SynthConfig.cameras,
    people: PeopleOpt = SynthConfig.people,
    frames: FramesOpt = SynthConfig.frames,
    fps: RateOpt = SynthConfig.fps,
    size: SizeOpt = "640x360",
    seed: SeedOpt = SynthConfig.seed,
    difficulty: DifficultyOpt = Difficulty.medium,
    fmt: FormatOpt = Format.mp4,
    mosaic: MosaicOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Render a synthetic multi-camera scene: videos, global-id ground truth, cameras."""
    width, height = parse_size(size)
    cfg = override(
        SynthConfig(),
        cameras=cameras,
        people=people,
        frames=frames,
        fps=fps,
        width=width,
        height=height,
        seed=seed,
        difficulty=difficulty.value,
        fmt=fmt.value,
    )
    start = time.perf_counter()
    with progress_bar() as progress:
        scene = generate_scene(
            out_scene, cfg, overwrite=overwrite, progress=progress, mosaic_frame=mosaic
        )
    _report(scene, cfg, time.perf_counter() - start, mosaic)


def _report(scene: Scene, cfg: SynthConfig, seconds: float, mosaic: int | None) -> None:
    stats = scene_stats(scene)
    table = Table(title=f"synthetic scene {scene.root} ({cfg.difficulty}, seed {cfg.seed})")
    for col in ("camera", "frames", "gt boxes", "ids", "mean visibility"):
        table.add_column(col, justify="left" if col == "camera" else "right")
    for cam in stats.cameras:
        table.add_row(
            cam.name, str(cfg.frames), str(cam.boxes), str(cam.ids), f"{cam.mean_visibility:.2f}"
        )
    out.print(table)
    out.print(
        f"{stats.identities} identities; person-frames seen by >= 2 cameras: "
        f"{stats.multi_view:.0%}; {cfg.cameras * cfg.frames / seconds:.0f} frames/s "
        f"({seconds:.1f} s)"
    )
    if mosaic is not None:
        out.print(f"mosaic: {scene.root / 'synth' / f'mosaic_{mosaic}.png'}")
