"""The ``mcmot`` command line: one thin command per pipeline stage.

Each command parses options, builds the stage's frozen config, calls the
library function and reports. :class:`~mcmot.errors.McmotError` anywhere
below becomes a one-line message on stderr and exit code 1.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterator, MutableMapping
from typing import Annotated, Any

import click
import typer
import typer.main
from typer.core import TyperGroup

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


#: Each subcommand: the module of mcmot/cli/ that defines it and the function there,
#: whose Typer-annotated parameters are the command's options.
COMMANDS = {
    "synth": ("synth", "synth_cmd"),
    "info": ("info", "info_cmd"),
    "detect": ("detect", "detect_cmd"),
    "pretrain": ("pretrain", "pretrain_cmd"),
    "extract-features": ("features", "features_cmd"),
    "track": ("track", "track_cmd"),
    "associate": ("associate", "associate_cmd"),
    "evaluate": ("evaluate", "evaluate_cmd"),
    "run": ("run", "run_cmd"),
    "demo": ("run", "demo_cmd"),
    "render": ("render", "render_cmd"),
}


def _build(name: str) -> click.Command:
    """The click command ``name``, its module imported now."""
    module, func = COMMANDS[name]
    one = _App(add_completion=False, pretty_exceptions_show_locals=False)
    one.command(name)(getattr(importlib.import_module(f"mcmot.cli.{module}"), func))
    return typer.main.get_command(one)


class _Commands(MutableMapping[str, click.Command]):
    """The subcommands by name, each built when it is first looked up.

    A command runs with its own module's imports only: ``mcmot --version``
    imports no command, ``mcmot track`` only mcmot/cli/track.py (listing
    them all, ``--help`` imports every module).
    """

    def __init__(self) -> None:
        self._built: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._built:
            if name not in COMMANDS:
                raise KeyError(name)
            self._built[name] = _build(name)
        return self._built[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(COMMANDS | self._built)

    def __len__(self) -> int:
        return len(COMMANDS | self._built)


class _Group(TyperGroup):
    """The root command: its subcommands load on demand (:class:`_Commands`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commands = _Commands()

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # the names only: nothing is imported


app = _App(
    name="mcmot",
    help="Calibration-free multi-camera multi-object tracking of people (CalibFree).",
    cls=_Group,
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


def main() -> None:
    """Console-script entry point."""
    app()
