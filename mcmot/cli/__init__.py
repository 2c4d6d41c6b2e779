"""The ``mcmot`` command line: one thin command per pipeline stage.

Each command parses options, builds the stage's frozen config, calls the
library function and reports. :class:`~mcmot.errors.McmotError` anywhere
below becomes a one-line message on stderr and exit code 1.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any

import typer

from mcmot import __version__
from mcmot.errors import McmotError


def _one_line_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn McmotError into a one-line message on stderr and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except McmotError as exc:
            from rich.markup import escape

            from mcmot.cli.common import err

            # escape: a path or value in the message may hold [brackets]
            err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            from mcmot.cli.common import err

            err.print("[red]interrupted[/red]")
            raise typer.Exit(130) from None

    return wrapper


class _App(typer.Typer):
    """A Typer app whose commands report McmotError as one line and exit 1."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
        register = super().command(*args, **kwargs)

        def decorator(func: Callable[..., Any]) -> Any:
            register(_one_line_errors(func))
            return func

        return decorator


app = _App(
    name="mcmot",
    help="Calibration-free multi-camera multi-object tracking of people (CalibFree).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mcmot {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Calibration-free multi-camera multi-object tracking of people."""


def _register() -> None:
    # One line per subcommand; each module in mcmot/cli/ defines a plain function
    # whose Typer-annotated parameters are the command's options.
    import importlib

    for name, module, func in (
        ("synth", "synth", "synth_cmd"),
        ("info", "info", "info_cmd"),
        ("detect", "detect", "detect_cmd"),
        ("pretrain", "pretrain", "pretrain_cmd"),
        ("extract-features", "features", "features_cmd"),
        ("track", "track", "track_cmd"),
        ("associate", "associate", "associate_cmd"),
        ("evaluate", "evaluate", "evaluate_cmd"),
        ("run", "run", "run_cmd"),
        ("demo", "run", "demo_cmd"),
        ("render", "render", "render_cmd"),
    ):
        app.command(name)(getattr(importlib.import_module(f"mcmot.cli.{module}"), func))


_register()


def main() -> None:
    """Console-script entry point."""
    app()
