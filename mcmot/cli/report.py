"""Rich tables of results: evaluation, geometry, identities (the CLI prints them;
nothing here prints)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rich.table import Table

if TYPE_CHECKING:
    from mcmot.association.geometry import PairGeometry
    from mcmot.metrics.health import IdentityHealth
    from mcmot.stages.evaluate import EvalResult
    from mcmot.training.loop import TrainResult

#: Over-time columns: (header, key, kind) with kind "pct" (fraction shown as %) or "int",
#: in two tables so that each fits an 80-column terminal.
IDENTITY_COLUMNS = (
    ("IDF1", "IDF1", "pct"),
    ("IDP", "IDP", "pct"),
    ("IDR", "IDR", "pct"),
    ("Rcll", "recall", "pct"),
    ("Prcn", "precision", "pct"),
    ("MT", "MT", "int"),
    ("ML", "ML", "int"),
)
CLEAR_HOTA_COLUMNS = (
    ("FP", "FP", "int"),
    ("FN", "FN", "int"),
    ("IDSW", "IDSW", "int"),
    ("MOTA", "MOTA", "pct"),
    ("MOTP", "MOTP", "pct"),
    ("HOTA", "HOTA", "pct"),
    ("DetA", "DetA", "pct"),
    ("AssA", "AssA", "pct"),
)
#: Cross-view and overall columns (keys of the summaries).
CROSS_VIEW_COLUMNS = ("AIDP", "AIDR", "AIDF1", "MHAA", "MOTA", "IDF1", "A", "F")


def _cell(value: Any, kind: str = "pct") -> str:
    if value is None:
        return "-"
    if kind == "int":
        return str(int(value))
    return f"{100.0 * float(value):.1f}"


def _over_time(result: EvalResult, title: str, columns: tuple[tuple[str, str, str], ...]) -> Table:
    from mcmot.stages.evaluate import detail

    table = Table(title=title)
    table.add_column("scene / camera")
    for header, _, _ in columns:
        table.add_column(header, justify="right")

    def cells(row: dict[str, Any]) -> list[str]:
        return [_cell(row[key], kind) for _, key, kind in columns]

    for name, sc in result.scenes.items():
        for cam, (clear, hota) in sc.cameras.items():
            table.add_row(f"  {cam}", *cells(detail(clear, hota)))
        label = f"[bold]{name}[/bold] {sc.start}:{sc.end}"
        table.add_row(label, *cells(detail(*sc.pooled())), end_section=True)
    if len(result.scenes) > 1:
        table.add_row("[bold]combined[/bold]", *cells(detail(*result.pooled())))
    return table


def over_time_tables(result: EvalResult) -> list[Table]:
    """Per camera, per scene (pooled over cameras) and combined: identity, then CLEAR and HOTA."""
    return [
        _over_time(result, "identity over time (IoU 0.5; rates in %)", IDENTITY_COLUMNS),
        _over_time(result, "CLEAR MOT and HOTA over time (rates in %)", CLEAR_HOTA_COLUMNS),
    ]


def cross_view_table(result: EvalResult) -> Table:
    """AIDP, AIDR, AIDF1, MHAA and the overall A, F per scene and combined; in %."""
    table = Table(title="across views and overall (rates in %)")
    table.add_column("scene")
    for key in CROSS_VIEW_COLUMNS:
        table.add_column(key, justify="right")
    rows = [(name, result.scene_summary(name)) for name in result.scenes]
    if len(result.scenes) > 1:
        rows.append(("[bold]combined[/bold]", result.combined()))
    for name, s in rows:
        table.add_row(name, *(_cell(s[k]) for k in CROSS_VIEW_COLUMNS))
    return table


def _number(value: float, digits: int) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "-"


def geometry_table(pairs: Mapping[tuple[str, str], PairGeometry]) -> Table:
    """Each camera pair's fit: matches, inlier rate, error, synchronization gap,
    persistence, the weight association gives it, and why."""
    table = Table(title="geometry (per camera pair)")
    for col in ("pair", "matches", "inliers", "err", "gap", "persist", "weight"):
        table.add_column(col, justify="right")
    table.add_column("why", justify="left")
    for (a, b), g in pairs.items():
        q = g.quality
        w = sum(s[3].weight for s in g.segments()) / len(g.segments())
        table.add_row(
            f"{a}-{b}", str(q.matches), f"{q.inlier_rate:.2f}", _number(q.median_error, 3),
            f"{q.sync_gap:.2f}", f"{q.persistence:.2f}", f"{w:.2f}", g.why(),
        )  # fmt: skip
    return table


def identity_tables(h: IdentityHealth, fps: float) -> list[Table]:
    """The identities of ``global/``: a summary, and their counts over time."""
    summary = Table(title="identities (global/)")
    for col in ("identities", "by 1, 2, ... cameras", "multi-camera", "of rows", "per person"):
        summary.add_column(col, justify="right")
    summary.add_row(
        str(h.identities),
        ", ".join(str(n) for n in h.by_cameras),
        _cell(h.multi_camera),
        _cell(h.multi_camera_rows),
        f"{h.per_person:.2f}",
    )
    over_time = Table(title="identities over time")
    for col in ("seconds", "frames", "in view", "in one camera", "active", "new"):
        over_time.add_column(col, justify="right")
    for b in h.bins:
        over_time.add_row(
            f"{(b.start - 1) / fps:.0f}-{b.end / fps:.0f}", f"{b.start}-{b.end}",
            str(b.in_view), str(b.in_one_camera), str(b.active), str(b.new),
        )  # fmt: skip
    return [summary, over_time]


def train_table(title: str, res: TrainResult, extra: list[tuple[str, str]]) -> Table:
    """A training session's summary: steps and epochs, the objective's ``extra`` rows,
    speed, time (``res.seconds``), the last losses, the checkpoint and the status."""
    table = Table(title=title)
    table.add_column("field")
    table.add_column("value", justify="right")
    rows = [
        ("steps", f"{res.step} / {res.total_steps}"),
        ("epochs", f"{res.epoch:.2f}"),
        *extra,
        ("samples/s", f"{res.samples_per_s:.2f}"),
        ("seconds", f"{getattr(res, 'seconds', float('nan')):.1f}"),
        *((k, f"{v:.4g}") for k, v in res.losses.items()),
        ("checkpoint", str(res.checkpoint)),
        ("status", "finished" if res.finished else f"stopped ({res.stopped}); --resume continues"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    return table
