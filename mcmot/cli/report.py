"""Rich tables of evaluation results (the CLI prints them; nothing here prints)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from mcmot.stages.evaluate import EvalResult, detail

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
