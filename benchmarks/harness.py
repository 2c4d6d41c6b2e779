"""What every benchmark shares: its parser, the machine header, the data folder, the result table.

A benchmark builds its parser with :func:`make_parser` (description from its
docstring, plus ``--json PATH``), prints :func:`print_machine` first, finds the
shared data with :func:`find_data` (or :func:`data_or_exit`), and prints its
results through a :class:`Results`: an aligned text table on stdout and, when
``--json`` was given, every table so far (with the machine) as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcmot.association.config import AssociateConfig, GeometryConfig
from mcmot.config import apply_settings

#: The repository root (the folder holding ``benchmarks/``).
ROOT = Path(__file__).resolve().parents[1]
#: Environment variables naming the shared data folder, first set wins.
DATA_ENV = ("MCMOT_DATA", "MCMOT_SHARED_DATA")

Row = Mapping[str, Any]


def make_parser(doc: str | None, *, full_help: bool = False) -> argparse.ArgumentParser:
    """An argument parser described by ``doc``'s first line (all of it with ``full_help``).

    Every benchmark's parser has ``--json PATH``: the result tables are also
    written there as JSON (see :class:`Results`).
    """
    text = (doc or "").strip()
    ap = argparse.ArgumentParser(
        description=text if full_help else text.splitlines()[0] if text else None,
        formatter_class=argparse.RawTextHelpFormatter if full_help else argparse.HelpFormatter,
    )
    ap.add_argument(
        "--json", type=Path, default=None, metavar="PATH", help="also write the results here"
    )
    return ap


def add_geometry_settings(ap: argparse.ArgumentParser) -> None:
    """``--set KEY=VALUE`` (repeatable): a ``GeometryConfig`` field for mcmot's fits, so a
    trust rule or budget is measured with the benchmark's own command
    (:func:`geometry_config`)."""
    ap.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="a GeometryConfig field for mcmot's geometry (repeatable; default: the defaults)",
    )  # fmt: skip


def geometry_config(args: argparse.Namespace) -> GeometryConfig:
    """The defaults with ``args.set`` applied (:func:`add_geometry_settings`); printed, so
    the output says what was measured."""
    print(f"geometry: defaults{' + ' + ' '.join(args.set) if args.set else ''}")
    return apply_settings(GeometryConfig(), args.set)


def add_association_settings(ap: argparse.ArgumentParser) -> None:
    """``--associate KEY=VALUE`` (repeatable): an ``AssociateConfig`` field for every row,
    e.g. ``mode=online`` (:func:`association_config`)."""
    ap.add_argument(
        "--associate", action="append", default=[], metavar="KEY=VALUE",
        help="an AssociateConfig field for every row (repeatable), e.g. mode=online",
    )  # fmt: skip


def association_config(args: argparse.Namespace, base: AssociateConfig) -> AssociateConfig:
    """``base`` with ``args.associate`` applied (:func:`add_association_settings`); printed,
    so the output says what was measured."""
    print(f"association: {' '.join(args.associate) or 'defaults'}")
    return apply_settings(base, args.associate)


def _cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """The machine a benchmark runs on; torch's version and threads only when it is loaded.

    Nothing is imported here: a benchmark that measures a child process's
    memory (``bench_startup``) must not hold numpy or torch itself.
    """
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
    }
    for name in ("numpy", "torch"):
        module = sys.modules.get(name)
        if module is not None:
            info[name] = getattr(module, "__version__", "?")
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    return info


def print_machine(*notes: str) -> dict[str, Any]:
    """Print the machine header (one or two lines, ``notes`` appended); return it."""
    m = machine()
    print(
        f"machine: {m['platform']}, {m['cpu']}, {m['cpus']} CPUs ({m['usable_cpus']} usable), "
        f"load average {m['load_average']}"
    )
    parts = [f"python {m['python']}"]
    if "numpy" in m:
        parts.append(f"numpy {m['numpy']}")
    if "torch" in m:
        parts.append(f"torch {m['torch']}, {m['torch_threads']} threads")
        parts.append(m.get("gpu", "no GPU"))
    print(", ".join(parts + list(notes)))
    return m


def find_data() -> Path | None:
    """The shared data folder: ``$MCMOT_DATA`` if set, else ``<repo>/../shared/data``.

    ``$MCMOT_SHARED_DATA`` (the name the tests read) is used when ``$MCMOT_DATA``
    is not set. None when the folder does not exist.
    """
    named = next((os.environ[v] for v in DATA_ENV if os.environ.get(v)), None)
    path = Path(named) if named else ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None


def data_or_exit(given: Path | None = None, sub: str = "") -> Path:
    """``given`` if set, else the shared data folder's ``sub``; exits with one line if missing."""
    if given is None:
        base = find_data()
        if base is None:
            default = ROOT.parent / "shared" / "data"
            raise SystemExit(f"no shared data folder: set MCMOT_DATA or put it at {default}")
        given = base / sub
    if not given.is_dir():
        raise SystemExit(f"needs the data folder {given}")
    return given


def _plain(value: Any) -> Any:
    """``value`` as JSON: numpy scalars as numbers, NaN as null, paths as text."""
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _cell(value: Any, spec: str | None) -> str:
    if hasattr(value, "tolist"):  # numpy scalars
        value = value.tolist()
    if value is None:
        return "-"
    if spec is not None:
        return format(value, spec)
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _numeric(value: Any) -> bool:
    return not isinstance(value, (str, bool)) and hasattr(value, "__float__")


def format_table(rows: Sequence[Row], formats: Mapping[str, str] | None = None) -> str:
    """``rows`` as an aligned Markdown table: one column per key (first seen, first placed).

    ``formats`` maps a column to a format spec (``".3f"``, ``"+.2f"``, ``".1%"``);
    other floats get three decimals. Numeric columns are right-aligned.
    """
    formats = formats or {}
    columns = list(dict.fromkeys(k for r in rows for k in r))
    cells = [[_cell(r.get(c), formats.get(c)) for c in columns] for r in rows]
    right = [all(_numeric(r.get(c)) or r.get(c) is None for r in rows) for c in columns]
    widths = [max([len(c), 3, *(len(line[i]) for line in cells)]) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        parts = (
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True)
        )
        return "| " + " | ".join(parts) + " |"

    marks = zip(widths, right, strict=True)
    rule = "|" + "|".join("-" * (w + 1) + (":" if r else "-") for w, r in marks) + "|"
    return "\n".join([line(columns), rule, *(line(c) for c in cells)])


@dataclass
class Results:
    """A benchmark's result tables: printed as they come, kept as JSON in ``path`` if given."""

    path: Path | None = None
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def table(
        self,
        name: str,
        rows: Sequence[Row],
        formats: Mapping[str, str] | None = None,
        title: bool = True,
    ) -> None:
        """Print ``rows`` (under ``name`` when ``title``) and record them as table ``name``."""
        if title:
            print(f"\n{name}\n")
        print(format_table(rows, formats), flush=True)
        self.tables[name] = [dict(r) for r in rows]
        self.save()

    def save(self) -> None:
        """Write every table so far, with the machine and ``info``, to ``path`` (if any)."""
        if self.path is None:
            return
        doc = {"machine": machine(), **self.info, "tables": self.tables}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(_plain(doc), indent=1) + "\n")
