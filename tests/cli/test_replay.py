"""`vss-emitter replay`: exit codes, reports, bad flags, and Ctrl-C then --resume for real."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from emitter.cli import cli
from emitter.generator import dumps, generate
from emitter.receiver import ReferenceReceiver
from tests import servers

VSS_EMITTER = str(Path(sys.executable).parent / "vss-emitter")


def write_fixture(path: Path, count: int, *, seed: int = 11) -> list[str]:
    ids = []
    with path.open("wb") as out:
        for payload in generate("mixed", seed=seed, n=count):
            ids.append(payload["payload"]["sessionId"])
            out.write(dumps(payload) + b"\n")
    return ids


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, ["replay", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def receiver() -> Iterator[ReferenceReceiver]:
    with ReferenceReceiver() as running:
        yield running


@pytest.fixture
def fixture_file(tmp_path: Path) -> Path:
    path = tmp_path / "captured.ndjson"
    write_fixture(path, 20)
    return path


def test_all_acked_exits_0_with_a_summary(
    receiver: ReferenceReceiver, fixture_file: Path, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    result = invoke(receiver.url, str(fixture_file), "--rate", "max", "--report-json", str(report))
    assert result.exit_code == 0, result.output
    assert "sent 20  acked 20  failed 0" in result.stdout
    assert "from schedule" in result.stdout
    assert "from send" in result.stdout
    data = json.loads(report.read_text())
    assert (data["sent"], data["acked"], data["failed"], data["exit_code"]) == (20, 20, 0, 0)
    for key in ("late", "duration_s", "achieved_rate", "latency_ms", "latency_from_send_ms"):
        assert key in data
    assert data["outcomes"] == {"acked": 20}
    assert data["target"] == receiver.url


def test_a_receiver_that_does_not_ack_exits_1(fixture_file: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    with servers.answering(503, b"busy") as server:
        result = invoke(
            server.url, str(fixture_file), "--rate", "100/s", "--report-json", str(report), "-q"
        )
    assert result.exit_code == 1
    assert result.stdout == ""  # --quiet
    assert json.loads(report.read_text())["outcomes"] == {"rejected": 20}


def test_scenario_source_draws_and_prints_a_seed(receiver: ReferenceReceiver) -> None:
    result = invoke(receiver.url, "--scenario", "mixed", "-n", "5", "--rate", "max")
    assert result.exit_code == 0, result.output
    assert "seed: " in result.stderr
    assert "pass --seed" in result.stderr
    assert "acked 5" in result.stdout


def test_duration_bounds_a_scenario_run(receiver: ReferenceReceiver, tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    result = invoke(
        receiver.url,
        *("--rate", "20/s", "--duration", "0.5", "--seed", "3", "--report-json", str(report)),
        *("--start-at", "2026-01-01T00:00:00Z"),
    )
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert data["sent"] == 10
    assert data["seed"] == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--rate", "10x"), "Error: Invalid rate `10x`: expected N/s, N/m or max, e.g. `50/s`"),
        (("--rate", "5/s", "--duration", "soon"), "Error: Invalid duration `soon`"),
        (("--rate", "5/s", "--ramp", "x"), "Error: Invalid duration `x`"),
        (("--rate", "5/s", "--scenario", "mixed"), "Error: give fixture files or --scenario"),
        (("--rate", "5/s", "--resume"), "Error: --resume needs --results FILE"),
        (("--rate", "max", "--ramp", "5s"), "Error: --ramp needs a rate"),
        (("--rate", "5/s", "--start-at", "yesterday"), "Error: Invalid --start-at `yesterday`"),
    ],
    ids=["rate", "duration", "ramp", "files-and-scenario", "resume", "ramp-max", "start-at"],
)
def test_bad_flags_exit_2_with_one_line(
    fixture_file: Path, args: tuple[str, ...], message: str
) -> None:
    result = invoke("http://127.0.0.1:9/", str(fixture_file), *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "http://", "example.com/hook"])
def test_malformed_url_exits_2(fixture_file: Path, url: str) -> None:
    result = invoke(url, str(fixture_file), "--rate", "5/s")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: invalid URL")


def test_unbounded_scenario_and_missing_file_exit_2(tmp_path: Path) -> None:
    endless = invoke("http://127.0.0.1:9/", "--rate", "5/s")
    assert endless.exit_code == 2
    assert "never ends" in endless.stderr
    missing = invoke("http://127.0.0.1:9/", str(tmp_path / "nope.ndjson"), "--rate", "5/s")
    assert missing.exit_code == 2
    assert "no such file" in missing.stderr


def test_concurrency_must_be_positive(fixture_file: Path) -> None:
    result = invoke("http://127.0.0.1:9/", str(fixture_file), "--rate", "5/s", "--concurrency", "0")
    assert result.exit_code == 2


def read_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.slow
def test_ctrl_c_then_resume_delivers_each_payload_once(
    receiver: ReferenceReceiver, tmp_path: Path
) -> None:
    receiver.clear()
    source = tmp_path / "captured.ndjson"
    ids = write_fixture(source, 2000)
    results = tmp_path / "run1.ndjson"
    args = [VSS_EMITTER, "replay", receiver.url, str(source), "--results", str(results)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    first = subprocess.Popen(
        [*args, "--rate", "200/s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    # Once the run is under way (its log exists), let it work for a second, then Ctrl-C it.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not results.exists():
        time.sleep(0.05)
    time.sleep(1.0)
    first.send_signal(signal.SIGINT)
    out, err = first.communicate(timeout=30)
    assert first.returncode == 130, err
    assert "interrupted" in out
    acked_first = {r["session_id"] for r in read_records(results) if r.get("outcome") == "acked"}
    assert 0 < len(acked_first) < 2000

    second = subprocess.run(
        [*args, "--rate", "1000/s", "--resume"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert second.returncode == 0, second.stderr
    seen = [d.session_id for d in receiver.deliveries]
    assert sorted(seen) == sorted(ids)  # each exactly once across both runs
    assert receiver.counts.duplicates == 0
    acked = [r for r in read_records(results) if r.get("outcome") == "acked"]
    assert sorted(r["session_id"] for r in acked) == sorted(ids)
    headers = [r for r in read_records(results) if r["type"] == "header"]
    assert [h["resumed"] for h in headers] == [False, True]
