"""``mcmot demo``: a synthetic scene, the whole pipeline on it, and a video.

The demo shows a new user what mcmot does within minutes on a laptop CPU:
it renders a small multi-camera scene with exact ground truth
(:mod:`mcmot.synth`), runs every stage on it (:func:`run_pipeline`), and
writes a mosaic video of the global identities (:mod:`mcmot.render`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from mcmot.errors import McmotError
from mcmot.models.pretrain_config import PRESETS
from mcmot.progress import ProgressCallback
from mcmot.render import RenderConfig, render_video
from mcmot.scene import Scene
from mcmot.stages.detect import DetectConfig
from mcmot.stages.run import Log, RunConfig, StageReport, run_pipeline
from mcmot.synth import SynthConfig, generate_scene

#: The demo pretrains without a teacher: computing teacher features for every crop
#: would take most of a 1-2 minute CPU budget (see docs/method.md).
DEMO_TEACHER = "none"
#: Detector input size for the demo's 640x360 synthetic cameras: their people are
#: 60-200 px tall, which YOLO finds at 640 (see docs/synth.md) at ~3x the speed of 1440.
DEMO_IMGSZ = 640


@dataclass(frozen=True)
class DemoConfig:
    """The demo's scene and budget (defaults finish in under 5 minutes on 2 cores).

    Attributes
    ----------
    synth : the synthetic scene to render
    pretrain_minutes : wall-clock budget of CalibFree pretraining
    video : write ``demo.mp4`` (a mosaic of all cameras, coloured by global id)
    run : the pipeline's settings (its pretrain budget is ``pretrain_minutes``)
    """

    synth: SynthConfig = SynthConfig(cameras=3, people=6, frames=120, difficulty="easy")
    pretrain_minutes: float = 1.5
    video: bool = True
    run: RunConfig = field(
        default_factory=lambda: RunConfig(
            detect=DetectConfig(imgsz=DEMO_IMGSZ),
            pretrain=dataclasses.replace(PRESETS["cpu"], teacher=DEMO_TEACHER),
        )
    )


@dataclass(frozen=True)
class DemoResult:
    """What the demo made: the scene, the per-stage reports and the video."""

    scene: Scene
    reports: list[StageReport]
    video: Path | None


def run_demo(
    out: Path,
    cfg: DemoConfig = DemoConfig(),
    *,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    log: Log | None = None,
) -> DemoResult:
    """Generate a scene at ``out``, run the pipeline on it and render a video.

    An existing demo folder is reused (stages that are current are skipped);
    ``overwrite`` starts from a fresh scene.
    """
    say = log or (lambda message: None)
    out = Path(out)
    is_demo = (out / "provenance" / "synth.json").is_file()
    if out.is_dir() and not overwrite and not is_demo and any(out.iterdir()):
        raise McmotError(f"{out} exists and is not a demo scene; choose another folder")
    if overwrite or not is_demo:
        say(f"rendering a synthetic scene into {out}")
        scene = generate_scene(out, cfg.synth, overwrite=overwrite, progress=progress)
    else:
        say(f"reusing the demo scene in {out}")
        scene = Scene(out)
    pre = dataclasses.replace(cfg.run.pretrain, minutes=cfg.pretrain_minutes)
    run_cfg = dataclasses.replace(cfg.run, pretrain=pre)
    reports = run_pipeline(scene, run_cfg, progress=progress, log=say)
    video = None
    if cfg.video:
        video = scene.root / "demo.mp4"
        render_video(scene, video, RenderConfig(what="global", tile_width=426), progress=progress)
    return DemoResult(scene, reports, video)
