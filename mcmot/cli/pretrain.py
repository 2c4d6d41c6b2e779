"""``mcmot pretrain``: self-supervised CalibFree pretraining (thin CLI)."""

from __future__ import annotations

import dataclasses
import json
import os
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mcmot.cli.common import OverwriteOpt, ScenesArg, err, info, out, progress_bar, warn
from mcmot.config import load_overrides, override
from mcmot.errors import McmotError
from mcmot.scene import Scene
from mcmot.stages.pretrain import PRESETS, run_pretrain
from mcmot.stages.run import ensure_detections


class Preset(str, Enum):
    cpu = "cpu"
    paper = "paper"


class Boxes(str, Enum):
    det = "det"
    gt = "gt"


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    """``["depth=6", "teacher=none"]`` -> ``{"depth": 6, "teacher": "none"}`` (JSON values)."""
    out_: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise McmotError(f"--set takes FIELD=VALUE, got {item!r}")
        try:
            out_[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out_[key.strip()] = value
    return out_


def pretrain_cmd(
    scenes: ScenesArg,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Run folder for checkpoints and logs.", show_default=False)
    ],
    preset: Annotated[
        Preset,
        typer.Option(
            help="Starting settings: cpu (small ViT, cross-view options on, see docs/method.md) "
            "or paper (the paper's Appendix D, unchanged)."
        ),
    ] = Preset.cpu,
    config: Annotated[
        Path | None, typer.Option("--config", help="JSON file of setting overrides.")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Passes over all timesteps.")] = None,
    minutes: Annotated[
        float | None, typer.Option(help="Wall-clock budget; the schedule is planned for it.")
    ] = None,
    teacher: Annotated[
        str | None, typer.Option(help="auto | none | PATH (ONNX or timm checkpoint).")
    ] = None,
    teacher_arch: Annotated[
        str | None, typer.Option(help="timm architecture of a checkpoint teacher.")
    ] = None,
    boxes: Annotated[
        Boxes | None, typer.Option(help="Train on detections (det) or ground truth (gt).")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Timesteps per step.")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Any other setting, FIELD=VALUE (repeatable).", metavar="F=V"),
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
    overwrite: OverwriteOpt = False,
) -> None:
    """Pretrain the CalibFree encoder on scenes (self-supervised; no labels, no calibration)."""
    if epochs is not None and minutes is not None:
        raise McmotError("give --epochs or --minutes, not both")
    cfg = PRESETS[preset.value]
    if config is not None:
        cfg = override(cfg, **load_overrides(config))
    cfg = override(cfg, **parse_sets(set_))
    if minutes is not None:
        cfg = override(cfg, minutes=minutes)
    if epochs is not None:
        cfg = dataclasses.replace(cfg, epochs=epochs, minutes=None)
    cfg = override(
        cfg,
        teacher=teacher,
        teacher_arch=teacher_arch,
        boxes=boxes.value if boxes else None,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        device=device,
    )
    main = int(os.environ.get("RANK", "0")) == 0
    if cfg.boxes == "det" and int(os.environ.get("WORLD_SIZE", "1")) == 1:
        with progress_bar() as bar:
            for sc in scenes:
                ensure_detections(Scene(sc), progress=bar, log=info)
    with progress_bar(enabled=main) as bar:
        res = run_pretrain(
            list(scenes),
            out_dir,
            cfg,
            resume=resume,
            overwrite=overwrite,
            progress=bar,
            log=(lambda m: warn(m.removeprefix("warning: "))) if main else None,
        )
    if not main:
        return
    table = Table(title=f"pretrain {out_dir}")
    table.add_column("field")
    table.add_column("value", justify="right")
    rows = [
        ("steps", f"{res.step} / {res.total_steps}"),
        ("epochs", f"{res.epoch:.2f}"),
        ("timesteps", str(res.timesteps)),
        ("teacher", res.teacher or "none"),
        ("samples/s", f"{res.samples_per_s:.2f}"),
        ("seconds", f"{res.seconds:.1f}"),
        *((k, f"{v:.4g}") for k, v in res.losses.items()),
        ("checkpoint", str(res.checkpoint)),
        ("status", "finished" if res.finished else f"stopped ({res.stopped}); --resume continues"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    out.print(table)
    if res.stopped == "interrupted":
        err.print("[red]interrupted[/red]: checkpoint saved; continue with --resume")
        raise typer.Exit(130)
