"""``mcmot associate``: one identity per person across all cameras."""

from __future__ import annotations

from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from mcmot.association.config import AssociateConfig
from mcmot.cli.common import Cues, FpsOpt, OverwriteOpt, SceneArg, out, progress_bar, warn
from mcmot.cli.report import geometry_table
from mcmot.config import apply_settings, override
from mcmot.errors import McmotError

if TYPE_CHECKING:
    from mcmot.stages.associate import AssociateResult


class ModeChoice(str, Enum):
    offline = "offline"
    online = "online"


GeometrySetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--geometry-set",
        metavar="KEY=VALUE",
        help="Override a geometry-fitting setting (repeatable), e.g. seed=1, "
        "hypotheses=10000 or windows=1,3 (a tuple); fields in docs/association.md.",
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Override an association setting (repeatable), e.g. link_threshold=0.4 or "
        "online_window=2; read as the field's type; fields in docs/association.md.",
    ),
]


def associate_cmd(
    scene: SceneArg,
    features: Annotated[
        str | None,
        typer.Option("--features", help="Feature array of features/<cam>.npz (default: f_a)."),
    ] = None,
    cues: Annotated[Cues, typer.Option("--cues", help="Cross-view cues to use.")] = Cues.both,
    mode: Annotated[
        ModeChoice,
        typer.Option("--mode", help="offline: whole tracklets; online: frame by frame."),
    ] = ModeChoice.offline,
    static_cameras: Annotated[
        bool,
        typer.Option("--static-cameras", help="All cameras are still: skip the moving check."),
    ] = False,
    geometry: Annotated[
        Path | None,
        typer.Option("--geometry", help="Reuse a geometry.json (same cameras) instead of fitting."),
    ] = None,
    appearance_weight: Annotated[
        float | None,
        typer.Option(
            "--appearance-weight",
            min=0.0,
            max=1.0,
            help="With --cues both: fix appearance's fusion weight (default: calibrated).",
        ),
    ] = None,
    geometry_set: GeometrySetOpt = None,
    settings: SetOpt = None,
    fps: FpsOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Give every track row an identity shared across cameras (writes global/)."""
    from mcmot.stages.associate import run_associate

    cfg = override(
        association_settings(settings or []),
        fps=fps,
        features=features,
        cues=cues.value,
        mode=mode.value,
        static_cameras=static_cameras or None,
        geometry_path=str(geometry) if geometry is not None else None,
        appearance_weight=appearance_weight,
    )
    if geometry_set:
        cfg = replace(cfg, geometry=apply_settings(cfg.geometry, geometry_set))
    with progress_bar() as progress:
        result = run_associate(scene, cfg, overwrite=overwrite, progress=progress)
    for note in result.notes:
        warn(note)
    _report(result)


#: AssociateConfig fields that have an option of their own (``--set`` refuses them).
OWN_OPTIONS = {
    "features": "--features",
    "cues": "--cues",
    "mode": "--mode",
    "static_cameras": "--static-cameras",
    "geometry_path": "--geometry",
    "appearance_weight": "--appearance-weight",
    "fps": "--fps",
    "geometry": "--geometry-set KEY=VALUE",
}


def association_settings(texts: list[str]) -> AssociateConfig:
    """The defaults with ``--set KEY=VALUE`` texts applied. A field with an option of
    its own (:data:`OWN_OPTIONS`) is a one-line error naming that option."""
    for text in texts:
        key = text.partition("=")[0].strip().split(".")[0]
        if key in OWN_OPTIONS:
            raise McmotError(f"{text!r}: {key} is set with {OWN_OPTIONS[key]}, not --set")
    return apply_settings(AssociateConfig(), texts)


def _report(r: AssociateResult) -> None:
    table = Table(title=f"associate ({r.cues})")
    table.add_column("camera")
    table.add_column("rows", justify="right")
    for cam, n in zip(r.cameras, r.rows, strict=True):
        table.add_row(cam, str(n))
    table.add_row("all", f"{sum(r.rows)}")
    out.print(table)
    out.print(f"{r.tracklets} tracklets -> {r.identities} identities")
    if r.geometry:
        out.print(geometry_table(r.geometry))
    if r.appearance is not None:
        m = r.appearance
        out.print(
            f"appearance: threshold {m.threshold:.3f}, separation d' {m.separation:.2f}, "
            f"weight {m.weight:.2f}"
            + (
                f" (from agreement with geometry, d' {m.agreement:.2f};"
                f" {m.weight_alone:.2f} where geometry decides nothing)"
                if m.agreement is not None
                else ""
            )
            + (
                f", known-different pairs called same {m.false_match_rate:.1%}"
                if m.false_match_rate is not None
                else ""
            )
        )
