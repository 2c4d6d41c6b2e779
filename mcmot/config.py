"""Helpers for the frozen per-stage configuration dataclasses.

Every stage defines a frozen dataclass of its parameters with documented
defaults. The CLI builds one with :func:`override`, which only replaces the
fields the user actually set, and records it with :func:`to_dict`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from mcmot.errors import McmotError

T = TypeVar("T")


def override(cfg: T, **changes: Any) -> T:
    """Return a copy of the frozen dataclass ``cfg`` with the non-None ``changes``.

    Unknown field names are an error, so a typo in a config file is not
    silently ignored.
    """
    _check_names(cfg, changes)
    kept = {k: v for k, v in changes.items() if v is not None}
    return dataclasses.replace(cfg, **kept)  # type: ignore[type-var]


def _check_names(cfg: Any, changes: dict[str, Any]) -> None:
    """Unknown field names are one clear error."""
    if not dataclasses.is_dataclass(cfg):
        raise TypeError(f"{cfg!r} is not a dataclass")
    names = {f.name for f in dataclasses.fields(cfg)}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise McmotError(
            f"unknown {type(cfg).__name__} field(s): {', '.join(unknown)}; "
            f"valid fields: {', '.join(sorted(names))}"
        )


def parse_setting(text: str) -> tuple[str, Any]:
    """``'seed=2'`` -> ``('seed', 2)``: numbers become int or float,
    true/false bool, none None, comma-separated values a tuple
    (``'windows=1,2.5'`` -> ``('windows', (1, 2.5))``); anything else stays a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise McmotError(f"a setting is KEY=VALUE, got {text!r}")
    if "," in value:
        return key, tuple(_value(v.strip()) for v in value.split(",") if v.strip())
    return key, _value(value)


def _value(value: str) -> Any:
    words = {"true": True, "false": False, "none": None}
    if value.lower() in words:
        return words[value.lower()]
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def apply_settings(cfg: T, texts: list[str]) -> T:
    """A copy of the frozen dataclass ``cfg`` with ``KEY=VALUE`` settings applied
    (parsed by :func:`parse_setting`; unlike :func:`override`, ``none`` sets None)."""
    changes = dict(parse_setting(t) for t in texts)
    _check_names(cfg, changes)
    return dataclasses.replace(cfg, **changes)  # type: ignore[type-var]


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (possibly nested) config dataclass."""
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))


def load_overrides(path: Path) -> dict[str, Any]:
    """Read a JSON object of field overrides from ``path`` (a config file)."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise McmotError(f"config file not found: {path}") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise McmotError(f"cannot read config file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise McmotError(f"config file {path} must hold a JSON object")
    return data


_PLAIN = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _plain_types(hint: Any) -> tuple[type, ...] | None:
    """The plain types a field annotation allows (None among them), or None if not plain."""
    args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if all(a in _PLAIN or a is type(None) for a in args):
        return tuple(args)
    return None


def _fits(value: Any, allowed: tuple[type, ...]) -> bool:
    if value is None:
        return type(None) in allowed
    if isinstance(value, bool):
        return bool in allowed
    if isinstance(value, int) and (int in allowed or float in allowed):
        return True
    return any(a in (float, str) and isinstance(value, a) for a in allowed)


def check_types(cfg: Any) -> None:
    """A one-line error unless every plain field of the dataclass ``cfg`` has its type.

    Plain fields are annotated ``bool``, ``int``, ``float``, ``str`` or a union
    of these with None; an int is a valid float, a bool is no number, and a
    float must be finite. Other fields (tuples, nested configs) are left to
    the stage.
    """
    hints = typing.get_type_hints(type(cfg))
    for field in dataclasses.fields(cfg):
        allowed = _plain_types(hints[field.name])
        if allowed is None:
            continue
        value = getattr(cfg, field.name)
        if not _fits(value, allowed):
            want = " or ".join("none" if a is type(None) else _PLAIN[a] for a in allowed)
            raise McmotError(f"{field.name} must be {want}, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise McmotError(f"{field.name} must be a finite number, got {value}")


def check_ranges(cfg: Any, ranges: list[tuple[str, bool, str]]) -> None:
    """A one-line error for the first ``(field, ok, bounds)`` of ``ranges`` not ``ok``."""
    for name, ok, bounds in ranges:
        if not ok:
            raise McmotError(f"{name} must be {bounds}, got {getattr(cfg, name)!r}")
