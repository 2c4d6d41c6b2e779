"""``mcmot pretrain --objective cross-input``: the options and the run of the learned tracker's
training."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mcmot.cli.training import Session, layered_settings, train_and_report
from mcmot.models.cross_input_config import CrossInputConfig, check_cross_input_config

if TYPE_CHECKING:
    from mcmot.stages.pretrain_cross_input import CrossInputResult

_X = CrossInputConfig()

NMinOpt = Annotated[
    int | None,
    typer.Option(
        "--n-min", help=f"cross-input: fewest frames a sequence spans (default: {_X.n_min})."
    ),
]
NMaxOpt = Annotated[
    int | None,
    typer.Option(
        "--n-max", help=f"cross-input: most frames a sequence spans (default: {_X.n_max})."
    ),
]
MinDetsOpt = Annotated[
    int | None,
    typer.Option(
        "--min-dets",
        help="cross-input: detections a sequence's first and last frames hold at least "
        f"(default: {_X.min_dets}).",
    ),
]


def cross_input_settings(
    config: Path | None, sets: list[str] | None, options: dict[str, Any]
) -> CrossInputConfig:
    """The checked settings: defaults, the ``--config`` file, ``--set`` fields, then the
    options."""
    cfg = layered_settings(CrossInputConfig(), config, sets, options)
    check_cross_input_config(cfg)
    return cfg


def run_cross_input(
    scenes: list[Path], out_dir: Path, cfg: CrossInputConfig, session: Session
) -> None:
    """Train, print the summary table, and exit 130 after Ctrl-C."""
    from mcmot.stages.pretrain_cross_input import run_pretrain_cross_input

    def extra(res: CrossInputResult) -> list[tuple[str, str]]:
        return [
            ("cameras", str(res.cameras)),
            ("detections", str(res.detections)),
            ("sequence starts", str(res.starts)),
        ]

    title = f"pretrain --objective cross-input {out_dir}"
    train_and_report(title, run_pretrain_cross_input, scenes, out_dir, cfg, session, extra)
