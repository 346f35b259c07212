"""`vss-emitter coverage`: gating a fixture set, the JSON form, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from emitter.cli import cli

EXE = str(Path(sys.executable).with_name("vss-emitter"))


def run(*args: str, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)


def pipe(generate: list[str], coverage: list[str]) -> subprocess.CompletedProcess[str]:
    """`vss-emitter generate … | vss-emitter coverage …`, as a shell user types it."""
    produced = subprocess.run(
        [EXE, "generate", *generate], capture_output=True, check=True, timeout=120
    )
    return subprocess.run(
        [EXE, "coverage", *coverage],
        input=produced.stdout.decode(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_required_statuses_and_error_codes_fail_on_completed_only_naming_the_gaps() -> None:
    result = pipe(["completed", "-n", "50"], ["--require", "statuses,error-codes"])
    assert result.returncode == 1, result.stderr
    missing = result.stderr.splitlines()
    assert missing[0].startswith("missing statuses: NO_ANSWER, BUSY")
    assert "UNSUBSCRIBED_CONTACT" in missing[0]
    assert missing[1].startswith("missing error-codes: -2001, -2002")
    assert "statuses" in result.stdout


def test_required_statuses_and_error_codes_pass_on_every_scenario() -> None:
    result = pipe(["--all", "-n", "2"], ["--require", "statuses,error-codes"])
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "error-codes            11/11" in result.stdout


def test_json_form_lists_counts_and_gaps_per_dimension(tmp_path: Path) -> None:
    fixtures = tmp_path / "fixtures.ndjson"
    fixtures.write_bytes(run("generate", "busy", "error-2004-no-coverage", "-n", "3").stdout_bytes)
    result = run("coverage", str(fixtures), "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["payloads"] == 6
    statuses = data["dimensions"]["statuses"]
    assert statuses["counts"]["BUSY"] == 3
    assert statuses["counts"]["ERROR"] == 3
    assert "COMPLETED" in statuses["missing"]
    assert data["dimensions"]["error-codes"]["counts"]["-2004"] == 3
    assert data["matrix"]["BUSY"]["messaging"] == 3


def test_pretty_json_fixture_files_count_like_ndjson(tmp_path: Path) -> None:
    folder = tmp_path / "fx"
    folder.mkdir()
    assert run("generate", "canceled", "-n", "2", "--seed", "3", "-o", str(folder)).exit_code == 0
    result = run("coverage", *sorted(str(p) for p in folder.glob("*.json")), "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["dimensions"]["statuses"]["counts"]["CANCELED"] == 2


def test_unknown_dimension_is_a_usage_error_naming_the_choices() -> None:
    body = run("generate", "busy", "-n", "1").stdout_bytes
    result = run("coverage", "-", "--require", "statuses,colours", stdin=body)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: unknown coverage dimension `colours`")
    assert "error-codes" in result.stderr
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "no payload in the input"),
        (b'{"payload": {}}\nnot json\n', "-:2: not JSON"),
        (b"[1, 2]\n", "-:1: not a JSON object"),
        # canonical's rule: junk that is an object still is not a VSS webhook body.
        (b"{}\n", "-:1: not a VSS document: no `payload`"),
        (b'{"payload": 5}\n', "-:1: not a VSS document: `payload` is a number"),
    ],
)
def test_bad_input_exits_2_with_one_line(data: bytes, expected: str) -> None:
    result = run("coverage", stdin=data)
    assert result.exit_code == 2
    assert expected in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = run("coverage", str(tmp_path / "nope.ndjson"))
    assert result.exit_code == 2
    assert "no such file" in result.stderr


def test_every_builtin_scenario_meets_every_requirement() -> None:
    # IVR's page lists CANCELED, FAILED and ERROR sessions: built-in IVR scenarios produce them,
    # so a team gating on `--require all` with `generate --all` fixtures can pass.
    result = pipe(["--all", "-n", "2"], ["--require", "all", "-"])
    assert result.returncode == 0, result.stderr
    assert "missing" not in result.stderr
