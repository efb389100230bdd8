"""The parsers are built from the flags declared on the config fields: every flag has help, each
is declared once, and the README's synopsis is the parsers' own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from storyspace.cli.parser import HELP, SOURCES, _actions, build_parser, command_flags, settings, synopsis

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_synopsis_is_the_parsers_own() -> None:
    text = README.read_text(encoding="utf-8")
    block = text.split("## What it does", 1)[1].split("```", 2)[1].strip("\n")
    assert block == synopsis(), "README synopsis differs: paste storyspace.cli.parser.synopsis() into README.md"


@pytest.mark.parametrize("command", list(HELP))
def test_every_flag_has_help(command: str) -> None:
    for action in _actions(command):
        assert action.help and action.help.strip(), f"{command} {action.option_strings or action.dest}: no help"


def test_each_setting_is_declared_once_and_named_alike_everywhere() -> None:
    names: dict[str, set[str]] = {}
    for command in SOURCES:
        flags = command_flags(command)
        assert len({f.name for f in flags}) == len(flags), f"{command}: a flag twice"
        for f in flags:
            names.setdefault(f.name, set()).add(f.path[-1])
    # one flag name never sets two differently named fields (e.g. --beta is ORPO's, --value-beta the value's)
    assert {n: p for n, p in names.items() if len(p) > 1} == {}


def test_flags_reach_the_config_paths_they_declare() -> None:
    args = build_parser().parse_args(["eval", "--out", "x", "--depth", "3", "--reader", "none", "--curve", "1,2",
                                      "--no-plan", "--systems", "single,mcts"])
    assert settings(args) == {"eval": {"explore": {"search": {"depth": 3}, "policy": {"plan": False}},
                                       "reader": "", "curve": (1, 2), "systems": ("single", "mcts")}}
    args = build_parser().parse_args(["loop", "--out", "x", "--beta", "1.0", "--value-beta", "2", "--config", "c.toml"])
    assert settings(args) == {"loop": {"train": {"beta": 1.0}, "explore": {"value": {"beta": 2.0}}}}


def test_loop_help_shows_the_loops_own_defaults(capsys) -> None:  # noqa: ANN001
    with pytest.raises(SystemExit):
        build_parser().parse_args(["loop", "--help"])
    out = capsys.readouterr().out
    assert re.search(r"--simulations N\s+MCTS simulations \(the search budget\) \(default 12\)", out)
