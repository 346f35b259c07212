"""Every CLI command and option is documented, with an example, and has --help text.

Documented means in the README or in a `docs/*.md` page the README links: areas keep their
reference in docs/ and a short README section pointing there.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from emitter.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
LINKED = sorted(set(re.findall(r"\]\((docs/[^)#\s]+\.md)(?:#[^)]*)?\)", README)))
DOCS = README + "".join((ROOT / page).read_text(encoding="utf-8") for page in LINKED)
COMMANDS = sorted(cli.load_all())


def _documented(flag: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", DOCS) is not None


def test_the_cli_has_the_commands_users_scripts_depend_on() -> None:
    expected = {"scenarios", "generate", "validate", "schema", "send", "check", "serve", "demo"}
    expected |= {"replay", "locust"}
    assert expected <= set(COMMANDS)


def test_every_docs_page_the_readme_links_exists() -> None:
    assert LINKED, "the README links no docs/ page"
    for page in LINKED:
        assert (ROOT / page).is_file(), f"README.md links {page}, which does not exist"


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_an_example_in_the_readme_or_a_linked_page(name: str) -> None:
    assert re.search(rf"^\s*\$?\s*vss-emitter {name}\b", DOCS, re.MULTILINE), (
        f"neither README.md nor a docs page it links has an example line `vss-emitter {name}`"
    )


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_is_documented_in_the_readme_or_a_linked_page(name: str) -> None:
    for param in cli.commands[name].params:
        if isinstance(param, click.Option) and not param.hidden:
            flags = [*param.opts, *param.secondary_opts]
            assert any(_documented(flag) for flag in flags), (
                f"`vss-emitter {name}` option {'/'.join(flags)} is not in README.md or a "
                "docs page it links"
            )


def test_every_locust_option_of_the_kit_is_documented() -> None:
    # Read from the source: importing the locustfile would import Locust (gevent patching).
    source = (ROOT / "emitter" / "locustfile.py").read_text(encoding="utf-8")
    options = sorted(set(re.findall(r'"(--vss-[a-z0-9-]+)"', source)))
    assert options
    missing = [option for option in options if not _documented(option)]
    assert not missing, f"Locust options missing from the docs: {missing}"


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
