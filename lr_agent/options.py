"""Options dataclasses shared by the CLI, TOML configs and Python: one list of defaults and help texts."""

from __future__ import annotations

import argparse
import dataclasses
import json
import tomllib
import typing
from pathlib import Path
from typing import Any, TypeVar

from lr_agent.errors import SpecError

T = TypeVar("T")

MISSING = dataclasses.MISSING


def option(default: Any = MISSING, help: str = "", factory: Any = MISSING, **meta: Any) -> Any:
    """A dataclass field with its ``--help`` text (``positional=True`` makes it a positional argument)."""
    if factory is not MISSING:
        return dataclasses.field(default_factory=factory, metadata={"help": help, **meta})
    return dataclasses.field(default=default, metadata={"help": help, **meta})


def _converter(annotation: Any) -> tuple[Any, str]:
    """A function that parses a command-line string into the field's type, and a metavar."""
    text = str(annotation)
    if text.startswith(("list[", "tuple[")):
        item = float if "float" in text else int if "int" in text else str
        return (lambda s: [item(x) for x in s.split(",") if x.strip()]), "A,B,..."
    if text.startswith("dict["):
        return json.loads, "JSON"
    for name, kind in (("Path", Path), ("float", float), ("int", int)):
        if name in text:
            return kind, name.upper()
    return str, "TEXT"


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one argument per field of the options dataclass ``cls``; only given ones reach the namespace."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        help_text = f.metadata.get("help", "")
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        if f.metadata.get("positional"):
            parser.add_argument(f.name, type=_converter(hints[f.name])[0], help=help_text)
            continue
        flag = f"--{f.name.replace('_', '-')}"
        if hints[f.name] is bool:
            parser.add_argument(flag, action="store_true", default=argparse.SUPPRESS, help=help_text)
            continue
        convert, metavar = _converter(hints[f.name])
        shown = ",".join(map(str, default)) if isinstance(default, list | tuple) else default
        kwargs: dict[str, Any] = {"type": convert, "metavar": metavar, "default": argparse.SUPPRESS}
        if "choices" in f.metadata:
            kwargs["choices"], kwargs["metavar"] = f.metadata["choices"], None
        parser.add_argument(flag, help=f"{help_text} (default: {shown})", **kwargs)


def from_toml(cls: type[T], path: str | Path, **overrides: Any) -> T:
    """An options dataclass read from a TOML file of its fields; ``overrides`` win.

    A missing file, a syntax error, an unknown key or a bad value raises
    :class:`~lr_agent.errors.SpecError` naming the file (and the key).
    """
    try:
        raw = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise SpecError(str(path), "(file)", "no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(str(path), "(syntax)", str(exc)) from None
    names = [f.name for f in dataclasses.fields(cls)]
    for key in raw:
        if key not in names:
            raise SpecError(str(path), key, f"unknown key; valid: {', '.join(names)}")
    try:
        return cls(**{**raw, **overrides})
    except (TypeError, ValueError) as exc:
        if isinstance(exc, SpecError):
            raise
        raise SpecError(str(path), "(options)", str(exc)) from None
