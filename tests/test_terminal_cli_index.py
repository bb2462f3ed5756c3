"""`pos COMMAND` imports only the modules COMMAND_INDEX names; they must register it."""

from __future__ import annotations

import argparse

import pytest

from terminal.cli import COMMAND_INDEX, build_parser


def _commands(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def test_every_command_is_indexed() -> None:
    assert _commands(build_parser()) == set(COMMAND_INDEX)


@pytest.mark.parametrize("command", sorted(COMMAND_INDEX))
def test_indexed_modules_register_the_command(command: str) -> None:
    assert command in _commands(build_parser([command], full=False))
