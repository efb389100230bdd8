"""Command-line flags declared once, on the config fields they set.

A config dataclass field opts in with ``field(default=..., metadata=flag("--name", "help"))``.
``config_flags(Config)`` finds every such field (nested configs too), ``add_flags`` puts them on
an argparse parser, and ``overrides`` turns what was given back into the nested dict that
``config.build`` merges over the defaults and a TOML file. A setting's name, type, help and
default live in one place, and every command that takes the setting spells it alike.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import typing
from dataclasses import dataclass
from typing import Any, Iterable

#: how help shows a flag's value by its type
METAVARS = {int: "N", float: "X", str: "TEXT"}
#: the words that turn an optional model spec off (``--reader none``)
NONE_WORDS = ("", "none", "off")


def flag(name: str, help: str, *, choices: Iterable[str] | None = None, none_word: bool = False,
         metavar: str | None = None) -> dict[str, Any]:
    """Field metadata that makes a config field a command-line flag.

    ``none_word``: the flag also takes ``none``/``off`` for the empty string (a model turned off)."""
    return {"flag": name, "help": help, "choices": tuple(choices) if choices else None, "none_word": none_word,
            "metavar": metavar}


@dataclass(frozen=True)
class Flag:
    """One flag: the config path it sets, its name, help, type and default."""

    path: tuple[str, ...]
    name: str
    help: str
    kind: Any
    default: Any
    choices: tuple[str, ...] | None = None
    none_word: bool = False
    metavar: str | None = None

    @property
    def dest(self) -> str:
        return "cfg__" + "__".join(self.path)


def config_flags(config: Any, prefix: tuple[str, ...] = (), skip: Iterable[str] = (),
                 only: Iterable[str] | None = None) -> list[Flag]:
    """Every flag declared on a config (a dataclass instance, whose values are the defaults shown)
    and its nested configs. ``skip``: dotted paths (or path prefixes) to leave out; ``only``: the
    dotted paths to keep (all when None)."""
    skipped, kept = set(skip), None if only is None else set(only)
    hints = typing.get_type_hints(type(config))
    out: list[Flag] = []
    for f in dataclasses.fields(config):
        path = (*prefix, f.name)
        dotted = ".".join(path)
        if dotted in skipped:
            continue
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            out += config_flags(value, path, skipped, kept)
        elif "flag" in f.metadata and (kept is None or dotted in kept):
            m = f.metadata
            out.append(Flag(path, m["flag"], m["help"], hints[f.name], value, m.get("choices"),
                            m.get("none_word", False), m.get("metavar")))
    return out


def whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def finite_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    value = whole_number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _list_of(item: type):  # noqa: ANN202
    def parse(text: str) -> tuple:
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if item is int:
            try:
                return tuple(int(p) for p in parts)
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, got {text!r}") from None
        return tuple(parts)

    return parse


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if value == "":
        return "none"
    return str(value)


def add_flags(parser: argparse.ArgumentParser, flags: Iterable[Flag]) -> None:
    """Put ``flags`` on ``parser``; their values stay None unless given, so that a TOML file's
    settings are not overridden by defaults (the help shows the default)."""
    for f in flags:
        text = f"{f.help} (default {_show(f.default)})"
        kw: dict[str, Any] = {"dest": f.dest, "default": None, "help": text}
        if f.kind is bool:
            parser.add_argument(f.name, action=argparse.BooleanOptionalAction, **kw)
            continue
        if not f.choices:
            kw["metavar"] = f.metavar or METAVARS.get(f.kind, "A,B" if typing.get_origin(f.kind) is tuple else "TEXT")
        if f.kind is int:
            kw["type"] = whole_number
        elif f.kind is float:
            kw["type"] = finite_number
        elif typing.get_origin(f.kind) is tuple:
            kw["type"] = _list_of((typing.get_args(f.kind) or (str,))[0])
        if f.choices:
            kw["choices"] = f.choices
        parser.add_argument(f.name, **kw)


def overrides(args: argparse.Namespace, flags: Iterable[Flag]) -> dict[str, Any]:
    """The nested settings given on the command line (``none`` turned into "" where allowed)."""
    out: dict[str, Any] = {}
    for f in flags:
        value = getattr(args, f.dest, None)
        if value is None:
            continue
        if f.none_word and isinstance(value, str) and value.strip().lower() in NONE_WORDS:
            value = ""
        node = out
        for key in f.path[:-1]:
            node = node.setdefault(key, {})
        node[f.path[-1]] = value
    return out
