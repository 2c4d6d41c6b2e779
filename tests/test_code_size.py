"""The package stays readable: modules of at most 500 lines, functions of at most 60, and
CLI commands whose bodies (after the docstring) hold at most 25 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mcmot"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_MODULE, MAX_FUNCTION, MAX_COMMAND_BODY = 500, 60, 25


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def _body_lines(fn: ast.FunctionDef) -> int:
    """Lines from the first statement after the docstring to the end."""
    first = fn.body[0]
    docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
    start = fn.body[1].lineno if docstring and len(fn.body) > 1 else first.lineno
    return (fn.end_lineno or fn.lineno) - start + 1


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_and_their_functions_stay_short(path: Path):
    source = path.read_text()
    assert len(source.splitlines()) <= MAX_MODULE, f"{path.name}: over {MAX_MODULE} lines"
    long = {
        fn.name: (fn.end_lineno or fn.lineno) - fn.lineno + 1
        for fn in _functions(ast.parse(source))
        if (fn.end_lineno or fn.lineno) - fn.lineno + 1 > MAX_FUNCTION
    }
    assert not long, f"{path.name}: functions over {MAX_FUNCTION} lines: {long}"


def test_cli_command_bodies_stay_thin():
    long = {}
    for path in sorted((PACKAGE / "cli").glob("*.py")):
        commands = [
            n
            for n in ast.parse(path.read_text()).body
            if isinstance(n, ast.FunctionDef) and n.name.endswith("_cmd")
        ]
        for node in commands:
            if _body_lines(node) > MAX_COMMAND_BODY:
                long[f"{path.name}:{node.name}"] = _body_lines(node)
    assert not long, f"command bodies over {MAX_COMMAND_BODY} lines: {long}"


def test_the_measure_counts_a_long_function_and_skips_a_docstring():
    body = "\n".join(f"    x{i} = {i}" for i in range(26))
    fn = ast.parse(f'def f_cmd():\n    """Doc."""\n{body}\n').body[0]
    assert isinstance(fn, ast.FunctionDef)
    assert _body_lines(fn) == 26 and len(_functions(fn)) == 1
