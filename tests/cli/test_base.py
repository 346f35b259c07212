"""The options every delivering command shares (cli/_base.py): one rule, one `Error:` line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from emitter.cli import cli
from emitter.generator import dumps, generate

# Nothing listens on port 9: every case must be refused before anything is sent.
URL = "http://127.0.0.1:9/"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _fixture(tmp_path: Path) -> str:
    path = tmp_path / "one.ndjson"
    path.write_bytes(dumps(next(generate("completed", seed=1, n=1))) + b"\n")
    return str(path)


def _commands(tmp_path: Path) -> dict[str, list[str]]:
    return {
        "send": ["send", URL, "-n", "1", "--seed", "1"],
        "check": ["check", URL, "--seed", "1"],
        "replay": ["replay", URL, _fixture(tmp_path), "--rate", "max"],
    }


def _one_error_line(result: Result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: "), result.output
    assert "Usage:" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return lines[0]


@pytest.mark.parametrize("command", ["send", "check", "replay"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400", "0"])
def test_a_timeout_that_is_not_a_finite_positive_number_is_one_error_line(
    tmp_path: Path, command: str, value: str
) -> None:
    result = run(*_commands(tmp_path)[command], "--timeout", value)
    assert result.exit_code == 2, result.output
    line = _one_error_line(result)
    assert "--timeout" in line
    assert repr(value) in line


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        (["--retries", "1,-2"], "--retries '1,-2'"),
        (["--retries", "nan"], "--retries 'nan'"),
        (["--report-json", "/tmp"], "--report-json"),
        (["--drill", "/tmp"], "--drill"),
        (["-H", "Authorization Bearer s3cr3t"], "invalid header 'Authorization ...'"),
    ],
)
def test_a_bad_option_value_is_one_error_line_without_the_usage_block(
    tmp_path: Path, extra: list[str], names: str
) -> None:
    result = run(*_commands(tmp_path)["replay"], *extra)
    assert result.exit_code == 2, result.output
    assert names in _one_error_line(result)
    assert "s3cr3t" not in result.output


def test_a_missing_argument_still_shows_the_usage() -> None:
    result = run("replay")
    assert result.exit_code == 2
    assert "Usage:" in result.output
    assert "Missing argument 'URL'" in result.output


@pytest.mark.parametrize(
    "option",
    [
        ("replay", "--html"),
        ("replay", "--report-json"),
        ("replay", "--results"),
        ("check", "--html"),
        ("check", "--report-json"),
        ("check", "--junit-xml"),
    ],
)
def test_a_report_in_a_missing_folder_is_created_by_every_option_alike(
    tmp_path: Path, option: tuple[str, str]
) -> None:
    command, flag = option
    missing = tmp_path / "no-such-folder" / "deeper" / "out.file"
    result = run(*_commands(tmp_path)[command], flag, str(missing))
    assert result.exit_code in (0, 1), result.output  # the run's own verdict, not a usage error
    assert "Error:" not in result.output
    assert missing.is_file()
    assert missing.stat().st_size > 0
