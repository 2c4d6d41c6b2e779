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


def parse_settings(cfg: Any, texts: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` texts -> ``{field: value}`` for the frozen dataclass ``cfg``, each
    value read as its field's type: ``true``/``false`` for a bool, an int, a number,
    ``none`` for None where the field allows it (a plain string field keeps the word),
    comma-separated values (or ``[a, b]``) for a tuple; anything else stays a string.

    Unknown fields, a missing ``=`` and a value that is not of its field's type are
    one-line errors, so the one override mechanism behaves the same on every command.
    """
    hints = typing.get_type_hints(type(cfg))
    out: dict[str, Any] = {}
    for text in texts:
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise McmotError(f"a setting is KEY=VALUE, got {text!r}")
        _check_names(cfg, {key: None})
        out[key] = _typed(hints[key], value.strip(), key)
    return out


def _typed(hint: Any, text: str, key: str) -> Any:
    """``text`` read as a value of the annotation ``hint`` (see :func:`parse_settings`)."""
    args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    kinds = [a for a in args if a is not type(None)]
    if type(None) in args and text.lower() in ("none", "null"):
        return None
    if len(kinds) == 1 and typing.get_origin(kinds[0]) is tuple:
        (item, *_) = typing.get_args(kinds[0]) or (str,)
        parts = [t.strip() for t in text.strip("[]()").split(",") if t.strip()]
        return tuple(_typed(item, t, key) for t in parts)
    for kind in kinds:
        value = _cast(kind, text)
        if value is not _NO:
            return value
    want = " or ".join(_PLAIN.get(k, getattr(k, "__name__", str(k))) for k in kinds)
    raise McmotError(f"{key} must be {want}, got {text!r}")


_NO = object()


def _cast(kind: Any, text: str) -> Any:
    """``text`` as ``kind`` (bool, int, float or str), or ``_NO``."""
    if kind is bool:
        words = {"true": True, "false": False, "1": True, "0": False}
        return words.get(text.lower(), _NO)
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            return _NO
    return text if kind is str else _NO


def apply_settings(cfg: T, texts: list[str]) -> T:
    """A copy of the frozen dataclass ``cfg`` with ``KEY=VALUE`` settings applied
    (:func:`parse_settings`; unlike :func:`override`, ``none`` sets None)."""
    return dataclasses.replace(cfg, **parse_settings(cfg, texts))  # type: ignore[type-var]


def apply_json(cfg: T, data: Any, section: str = "") -> T:
    """A copy of the frozen dataclass ``cfg`` with the fields of the JSON object ``data``
    (a ``--config`` file or one of its sections): a list becomes a tuple where the
    field is a tuple, an object for a field that is itself a config is applied to it,
    None keeps a field as it is (:func:`override`). ``section`` names ``data`` in errors."""
    if not isinstance(data, dict):
        raise McmotError(f"config section {section!r} must be an object of fields")
    names = {f.name for f in dataclasses.fields(cfg)}  # type: ignore[arg-type]
    out = {}
    for k, v in data.items():
        current = getattr(cfg, k) if k in names else None
        if dataclasses.is_dataclass(current):
            v = apply_json(current, v, f"{section}.{k}" if section else k)
        elif isinstance(current, tuple) and isinstance(v, list):
            v = tuple(v)
        out[k] = v
    return override(cfg, **out)


def config_from_saved(
    cls: type[T], data: Any, what: str, absent: dict[str, Any] | None = None
) -> T:
    """A ``cls`` (a frozen config dataclass) from a dict saved with :func:`to_dict`.

    Unknown keys and values of the wrong type are one-line errors naming ``what``;
    a JSON list is a tuple where the field's default is one; a field missing from
    ``data`` takes its value from ``absent``, else today's default.
    """
    if not isinstance(data, dict):
        raise McmotError(f"the {what} config must be a dict, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise McmotError(f"unknown {what} config field(s): {', '.join(unknown)}")
    values = {**(absent or {}), **data}
    for k, v in values.items():
        if isinstance(v, list) and isinstance(fields[k].default, tuple):
            values[k] = tuple(v)
    cfg = cls(**values)
    check_types(cfg)
    return cfg


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
