"""Each command's module is imported only when that command runs."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import emitter.cli
from emitter.cli._base import COMMAND_MODULES, cli


def test_the_command_map_names_the_module_that_defines_each_command() -> None:
    for info in pkgutil.iter_modules(emitter.cli.__path__):
        import_module(f"emitter.cli.{info.name}")
    assert set(cli.commands) == set(COMMAND_MODULES)
    for name, module in COMMAND_MODULES.items():
        callback = cli.commands[name].callback
        assert callback is not None
        assert callback.__module__ == f"emitter.cli.{module}", name


def test_validate_runs_without_importing_the_http_stacks(tmp_path: Path) -> None:
    example = Path(__file__).parents[1] / "fixtures" / "docs" / "success.json"
    probe = (
        "import sys\n"
        "from emitter.cli import cli\n"
        "try:\n"
        f"    cli(['validate', '-q', {str(example)!r}], prog_name='vss-emitter')\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "heavy = sorted(m for m in ('aiohttp', 'httpx', 'emitter.replay', 'emitter.receiver')"
        " if m in sys.modules)\n"
        "print(code, heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert done.stdout.strip() == "0 []"


def test_help_lists_every_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "emitter.cli", "--help"], capture_output=True, text=True
    )
    if done.returncode != 0:  # no __main__ module: go through the console entry point
        done = subprocess.run(
            [sys.executable, "-c", "from emitter.cli import main; main()", "--help"],
            capture_output=True,
            text=True,
            check=True,
        )
    for name in COMMAND_MODULES:
        assert f"  {name}" in done.stdout


def test_a_plain_replay_loads_neither_the_drill_the_page_renderer_nor_the_http_client(
    tmp_path: Path,
) -> None:
    # What only a drill, an HTML page, send/check or the lint need stays out of replay's
    # start-up (a report JSON still writes; the run delivers with its own engine).
    import servers

    fixture = tmp_path / "in.ndjson"
    fixture.write_bytes(b'{"payload":{"sessionId":"lazy-1"}}\n')
    report = tmp_path / "report.json"
    with servers.answering(200) as server:
        probe = (
            "import sys\n"
            "from emitter.cli import cli\n"
            "try:\n"
            f"    cli(['replay', {server.url!r}, {str(fixture)!r}, '--rate', 'max', '-q',"
            f" '--report-json', {str(report)!r}], prog_name='vss-emitter')\n"
            "except SystemExit as exc:\n"
            "    code = exc.code\n"
            "heavy = sorted(m for m in ('emitter.drill', 'jinja2', 'httpcore', 'phonenumbers',"
            " 'yaml', 'emitter._lint') if m in sys.modules)\n"
            "print(code, heavy)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path
        )
    assert done.stdout.strip() == "0 []", done.stderr
    assert report.exists()
