"""Every CLI command is documented in the README with an example and has --help text."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from emitter.cli import cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
COMMANDS = sorted(cli.commands)


def test_the_cli_has_the_commands_users_scripts_depend_on() -> None:
    expected = {"scenarios", "generate", "validate", "schema", "send", "check", "serve", "demo"}
    expected |= {"replay", "locust"}
    assert expected <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_an_example_in_the_readme(name: str) -> None:
    assert re.search(rf"^\s*\$?\s*vss-emitter {name}\b", README, re.MULTILINE), (
        f"README.md has no example line starting with `vss-emitter {name}`"
    )


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_and_option_has_help_text(name: str) -> None:
    command = cli.commands[name]
    assert command.help, f"{name} has no docstring/help"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help, f"{name} {param.opts} has no help text"


@pytest.mark.parametrize("name", [c for c in COMMANDS if c != "locust"])
def test_help_runs_for_every_command(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert f"Usage: cli {name}" in result.output or f"Usage: vss-emitter {name}" in result.output


def test_make_demo_and_make_test_are_in_the_readme() -> None:
    assert "make demo" in README
    assert "make test" in README
