"""Imports point one way: cli -> stages -> domain packages -> base modules.

The domain packages are models, training, association, tracking, metrics and synth; the
base modules are the modules directly in mcmot/. Every import counts, also
one inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mcmot"
DOMAIN = ("models", "training", "association", "tracking", "metrics", "synth")
#: Layer of each part of mcmot, lowest first; a module may import its own layer and lower.
RANK = {"base": 0, "domain": 1, "stages": 2, "cli": 3}


def _module_name(path: Path, root: Path = PACKAGE.parent) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    """The layer of a dotted mcmot module name."""
    parts = module.split(".")
    if module == "mcmot.__main__" or parts[1:2] == ["cli"]:
        return "cli"
    if parts[1:2] == ["stages"]:
        return "stages"
    if parts[1:2] and parts[1] in DOMAIN:
        return "domain"
    return "base"


def mcmot_imports(path: Path, root: Path = PACKAGE.parent) -> list[tuple[int, str]]:
    """(line, module) of every mcmot import in ``path`` (a file under ``root``), at any depth."""
    here = path if path.name == "__init__.py" else path.parent
    package = _module_name(here, root)
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            targets = [base] if base != "mcmot" else [f"mcmot.{a.name}" for a in node.names]
            found += [(node.lineno, t) for t in targets]
    return [(line, m) for line, m in found if m == "mcmot" or m.startswith("mcmot.")]


def _upward(path: Path) -> list[str]:
    own = layer(_module_name(path))
    return [
        f"{path.relative_to(PACKAGE.parent)}:{line} ({own}) imports {target} ({layer(target)})"
        for line, target in mcmot_imports(path)
        if RANK[layer(target)] > RANK[own]
    ]


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_the_layers_are_named_as_documented():
    assert layer("mcmot.cli.run") == "cli" and layer("mcmot.__main__") == "cli"
    assert layer("mcmot.stages.detect") == "stages"
    assert layer("mcmot.metrics.detection") == "domain" and layer("mcmot.models") == "domain"
    assert layer("mcmot.scene") == "base" and layer("mcmot") == "base"


def test_an_import_inside_a_function_and_a_relative_import_are_both_seen(tmp_path):
    pkg = tmp_path / "mcmot" / "metrics"
    pkg.mkdir(parents=True)
    src = pkg / "x.py"
    src.write_text("def f():\n    from mcmot.stages import run\n\nfrom ..cli import app\n")
    assert {m for _, m in mcmot_imports(src, tmp_path)} == {"mcmot.stages", "mcmot.cli"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_from_a_higher_layer(path: Path):
    assert _upward(path) == []
