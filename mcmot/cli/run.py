"""``mcmot run`` and ``mcmot demo``: the whole pipeline in one command."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from mcmot.cli.common import (
    Boxes,
    Cues,
    FpsOpt,
    OverwriteOpt,
    SceneArg,
    TrackFeatures,
    err,
    info,
    out,
    progress_bar,
    warn,
)
from mcmot.config import load_overrides
from mcmot.detectors import DEFAULT_IMGSZ
from mcmot.errors import McmotError
from mcmot.scene import Scene

if TYPE_CHECKING:
    from mcmot.stages.run import RunConfig, StageReport

ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="CalibFree checkpoint (or 'teacher', or 'histogram': colour, no network); "
        "default: pretrain one into SCENE/model/.",
    ),
]
PretrainMinutesOpt = Annotated[
    float, typer.Option("--pretrain-minutes", min=0.01, help="Pretraining budget (no --model).")
]
BoxesOpt = Annotated[
    Boxes, typer.Option("--boxes", help="det: run the detector; gt: use gt/ boxes.")
]
ImgszOpt = Annotated[
    int | None,
    typer.Option(
        "--imgsz",
        help="Detector input size (default: per camera, 1.875x the frame's long side, "
        f"at most {DEFAULT_IMGSZ}).",
    ),
]
CuesOpt = Annotated[Cues, typer.Option("--cues", help="Cross-camera cues of associate.")]
TrackFeaturesOpt = Annotated[
    TrackFeatures, typer.Option("--track-features", help="Features the tracker uses.")
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        exists=True,
        dir_okay=False,
        help='JSON of overrides per stage, e.g. {"pretrain": {"depth": 2}} '
        "(sections: detect, pretrain, features, tracker, associate, evaluate).",
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON summary on stdout (logs on stderr).")
]
RedoOpt = Annotated[bool, typer.Option("--overwrite", help="Redo every stage, even current ones.")]
OnlineOpt = Annotated[
    bool,
    typer.Option(
        "--online",
        help="Stream: read every camera frame by frame and write rows as they are final "
        "(needs --model unless --track-features none --cues geometry; docs/streaming.md).",
    ),
]


def _reports_table(reports: list[StageReport], title: str) -> Table:
    table = Table(title=title)
    for col in ("stage", "status", "seconds", "result"):
        table.add_column(col, justify="right" if col == "seconds" else "left")
    for rep in reports:
        secs = f"{rep.seconds:.1f}" if rep.status == "ran" else "-"
        table.add_row(rep.stage, rep.status, secs, rep.note)
    return table


def _print_eval(scene: Scene) -> None:
    if not scene.eval_path.is_file():
        return
    data = json.loads(scene.eval_path.read_text())
    summary = data.get("metrics", {})
    keys = ("IDF1", "MOTA", "HOTA", "AIDF1", "MHAA", "A", "F")
    table = Table(title=f"evaluation of {scene.root} (global identities vs gt)")
    for k in keys:
        table.add_column(k, justify="right")
    table.add_row(*[_fmt(summary.get(k)) for k in keys])
    out.print(table)


def _fmt(v: object) -> str:
    return f"{100 * v:.1f}" if isinstance(v, float) else "-"


def _json_summary(scene: Scene, reports: list[StageReport]) -> str:
    metrics = None
    if scene.eval_path.is_file():
        data = json.loads(scene.eval_path.read_text())
        metrics = data.get("metrics")
    return json.dumps(
        {
            "scene": str(scene.root),
            "stages": [dataclasses.asdict(r) for r in reports],
            "metrics": metrics,
        }
    )


def run_cmd(
    scene: SceneArg,
    model: ModelOpt = None,
    pretrain_minutes: PretrainMinutesOpt = 5.0,
    boxes: BoxesOpt = Boxes.det,
    imgsz: ImgszOpt = None,
    cues: CuesOpt = Cues.both,
    track_features: TrackFeaturesOpt = TrackFeatures.f_s,
    fps: FpsOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    overwrite: RedoOpt = False,
    online: OnlineOpt = False,
) -> None:
    """Run every stage that is not current: detect, pretrain, extract-features, track,
    associate, evaluate (when gt/ exists); with --online, as one stream."""
    from mcmot.stages.run import RunConfig, apply_overrides, run_pipeline

    sc, base = Scene(scene), RunConfig()
    cfg = dataclasses.replace(
        base,
        model=model,
        boxes=boxes.value,
        track_features=track_features.value,
        detect=dataclasses.replace(base.detect, imgsz=imgsz or base.detect.imgsz),
        pretrain=dataclasses.replace(base.pretrain, minutes=pretrain_minutes),
        tracker=dataclasses.replace(base.tracker, fps=fps),
        associate=dataclasses.replace(base.associate, cues=cues.value, fps=fps),
    )
    if config is not None:
        cfg = apply_overrides(cfg, load_overrides(config))
    if online:
        _run_online(sc, cfg, overwrite, as_json)
        return
    with progress_bar(enabled=not as_json) as bar:
        reports = run_pipeline(sc, cfg, overwrite=overwrite, progress=bar, log=info)
    if as_json:
        out.print_json(_json_summary(sc, reports))
        return
    err.print(_reports_table(reports, f"mcmot run {sc.root}"))
    _print_eval(sc)


def _run_online(sc: Scene, cfg: RunConfig, overwrite: bool, as_json: bool) -> None:
    """``run --online``: the stream, then the evaluation when gt/ exists."""
    from mcmot.stages.evaluate import run_evaluate
    from mcmot.stages.stream import run_streaming

    with progress_bar(enabled=not as_json) as bar:
        res = run_streaming(sc, cfg, overwrite=overwrite, progress=bar, log=info)
    for note in res.notes:
        info(note)
    if sc.stage_files("gt"):
        run_evaluate([sc], cfg.evaluate)
    if as_json:
        summary = {"scene": str(sc.root), "stream": dataclasses.asdict(res)}
        metrics = (
            json.loads(sc.eval_path.read_text()).get("metrics") if sc.stage_files("gt") else None
        )
        out.print_json(json.dumps(summary | {"metrics": metrics}))
        return
    table = Table(title=f"mcmot run --online {sc.root}")
    for col in ("cameras", "frames", "seconds", "det rows", "track rows", "global rows", "ids"):
        table.add_column(col, justify="right")
    table.add_row(
        str(len(res.cameras)),
        str(res.frames),
        f"{res.seconds:.1f}",
        *(str(res.rows[k]) for k in ("det", "tracks", "global")),
        str(res.identities),
    )
    err.print(table)
    _print_eval(sc)


def demo_cmd(
    out_dir: Annotated[
        Path, typer.Argument(help="Folder for the demo scene.", show_default=True)
    ] = Path("mcmot-demo"),
    pretrain_minutes: Annotated[
        float, typer.Option("--pretrain-minutes", min=0.01, help="Pretraining budget.")
    ] = 1.5,
    frames: Annotated[int, typer.Option("--frames", min=2, help="Frames per camera.")] = 120,
    cameras: Annotated[int, typer.Option("--cameras", min=1, help="Cameras.")] = 3,
    people: Annotated[int, typer.Option("--people", min=1, help="People.")] = 6,
    seed: Annotated[int, typer.Option("--seed", help="Scene seed.")] = 0,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", exists=True, dir_okay=False, help="JSON of pipeline overrides (as run)."
        ),
    ] = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Render a small synthetic scene, run the whole pipeline on it, print the scores and
    write a video (OUT/demo.mp4)."""
    from mcmot.stages.demo import DemoConfig, run_demo
    from mcmot.stages.run import apply_overrides

    base = DemoConfig()
    cfg = dataclasses.replace(
        base,
        synth=dataclasses.replace(
            base.synth, frames=frames, cameras=cameras, people=people, seed=seed
        ),
        pretrain_minutes=pretrain_minutes,
    )
    if config is not None:
        cfg = dataclasses.replace(cfg, run=apply_overrides(cfg.run, load_overrides(config)))
    with progress_bar() as bar:
        res = run_demo(out_dir, cfg, overwrite=overwrite, progress=bar, log=info)
    err.print(_reports_table(res.reports, f"mcmot demo {res.scene.root}"))
    _print_eval(res.scene)
    if res.video is not None:
        info(f"video: {res.video}  (mcmot render {res.scene.root} --frame K for a still)")
    if not res.scene.eval_path.is_file():
        warn("no evaluation was written")
        raise McmotError("the demo did not finish its evaluation")
