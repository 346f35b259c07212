"""`vss-emitter locust`: a real Locust master and workers on loopback against real receivers.

Locust is only ever run in subprocesses: importing it would monkey-patch this pytest process
with gevent.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from emitter.cli import _locust, cli
from emitter.contract import validate_bytes
from emitter.deliver import USER_AGENT
from emitter.generator import dumps, generate

VSS = str(Path(sys.executable).with_name("vss-emitter"))
RUN_TIMEOUT_S = 40
# Every test that runs Locust needs the extra; without it they are skipped, the rest still run.
needs_locust = pytest.mark.skipif(
    importlib.util.find_spec("locust") is None,
    reason="needs the locust extra: pip install 'vss-emitter[locust]'",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[str], deadline_s: float = 15) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"receiver exited early: {process.communicate()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


def _spawn(*args: str, log: Path | None = None) -> subprocess.Popen[str]:
    """`vss-emitter ARGS` in its own process; output to `log` when it may outgrow a pipe."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("VSS_AUTH_HEADER", None)
    if log is None:
        return subprocess.Popen(
            [VSS, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
    with log.open("w") as sink:
        return subprocess.Popen(
            [VSS, *args], stdout=sink, stderr=subprocess.STDOUT, text=True, env=env
        )


def _finish(process: subprocess.Popen[str], timeout: float = RUN_TIMEOUT_S) -> tuple[int, str]:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"still running after {timeout}s:\n{out}\n{err}") from None
    return process.returncode, out + err


@pytest.fixture
def reference_receiver(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`vss-emitter serve` in its own process: (URL of a webhook path, its record file)."""
    port = _free_port()
    record = tmp_path / "received.ndjson"
    server = _spawn(
        "serve", "--quiet", "--host", "127.0.0.1", "--port", str(port), "--record", str(record),
        log=tmp_path / "serve.log",
    )  # fmt: skip
    try:
        _wait_for_port(port, server)
        yield f"http://127.0.0.1:{port}/webhooks/vss", record
    finally:
        server.terminate()
        server.wait(timeout=10)


def _run_cluster(
    host: str, tmp_path: Path, *, workers: int, vss_args: list[str], run_time: str = "3s"
) -> str:
    """A headless master and `workers` workers as separate processes; the master's output."""
    master_port = _free_port()
    master = _spawn(
        "locust", "--master", "--headless", "-u", "4", "-r", "4", "-t", run_time,
        "--expect-workers", str(workers), "--host", host,
        "--master-bind-host", "127.0.0.1", "--master-bind-port", str(master_port),
        "--csv", str(tmp_path / "stats"), "--only-summary", *vss_args,
    )  # fmt: skip
    worker_processes = [
        _spawn("locust", "--worker", "--master-host", "127.0.0.1", "--master-port",
               str(master_port))
        for _ in range(workers)
    ]  # fmt: skip
    try:
        code, output = _finish(master)
        for worker in worker_processes:
            _finish(worker, timeout=15)
    finally:
        for process in [master, *worker_processes]:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert code == 0, output
    return output


def _aggregated(stats_prefix: Path) -> dict[str, str]:
    with Path(f"{stats_prefix}_stats.csv").open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    return next(row for row in rows if row["Name"] == "Aggregated")


def _recorded(record: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in record.read_text().splitlines() if line.strip()]


@pytest.mark.slow
@needs_locust
def test_master_and_workers_deliver_valid_payloads_with_distinct_session_ids(
    reference_receiver: tuple[str, Path], tmp_path: Path
) -> None:
    url, record = reference_receiver
    # A fixed seed: if workers or users did not get seeds of their own, they would replay each
    # other's sessions and the receiver would see the same sessionId twice.
    output = _run_cluster(url, tmp_path, workers=2, vss_args=["--vss-seed", "42"])

    assert "vss-emitter seed: 42" in output
    totals = _aggregated(tmp_path / "stats")
    assert int(totals["Request Count"]) > 0, output
    assert int(totals["Failure Count"]) == 0, output
    deliveries = _recorded(record)
    assert deliveries, output
    for delivery in deliveries:
        assert delivery["status"] == 200, delivery
        assert not [f for f in delivery["findings"] if f["severity"] == "error"], delivery
    session_ids = [d["session_id"] for d in deliveries]
    assert all(session_ids)
    assert len(set(session_ids)) == len(session_ids)


@pytest.mark.slow
@needs_locust
def test_each_fixture_line_is_sent_once_across_the_workers(
    reference_receiver: tuple[str, Path], tmp_path: Path
) -> None:
    url, record = reference_receiver
    fixture = tmp_path / "fixture.ndjson"
    payloads = list(generate("mixed", seed=7, n=25))
    fixture.write_bytes(b"".join(dumps(p) + b"\n" for p in payloads))

    output = _run_cluster(
        url, tmp_path, workers=2, vss_args=["--vss-file", str(fixture), "--vss-file-once"],
        run_time="2s",
    )  # fmt: skip

    assert int(_aggregated(tmp_path / "stats")["Failure Count"]) == 0, output
    received = sorted(d["session_id"] for d in _recorded(record))
    assert received == sorted(p["payload"]["sessionId"] for p in payloads)


def _answers(request: Request) -> Response:
    """500, 302, 201 and a late 200 in turn: none is the timely 200 the contract asks for."""
    count = _answers.calls = getattr(_answers, "calls", 0) + 1  # type: ignore[attr-defined]
    if request.path != "/webhooks/vss":
        return Response("followed a redirect", status=200)
    status = (500, 302, 201, 200)[count % 4]
    if status == 200:
        time.sleep(1.0)  # past the 0.3 s ack deadline given below
    headers = {"Location": "/redirected"} if status == 302 else {}
    return Response("no", status=status, headers=headers)


@pytest.fixture
def threaded_httpserver() -> Iterator[HTTPServer]:
    """A pytest-httpserver that answers while another request is still sleeping."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()


@pytest.mark.slow
@needs_locust
def test_answers_other_than_a_timely_200_are_failures_grouped_by_outcome(
    threaded_httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver = threaded_httpserver
    httpserver.expect_request("/webhooks/vss", method="POST").respond_with_handler(_answers)
    httpserver.expect_request("/redirected").respond_with_handler(_answers)

    process = _spawn(
        "locust", "--headless", "-u", "1", "-r", "1", "-t", "2s",
        "--host", httpserver.url_for("/webhooks/vss"), "--csv", str(tmp_path / "stats"),
        "--only-summary", "--vss-seed", "1", "--vss-timeout", "0.3",
        "--vss-auth-header", "Bearer t0ken",
    )  # fmt: skip
    code, output = _finish(process)

    assert code == 1, output  # Locust's exit code when any request failed
    with Path(f"{tmp_path / 'stats'}_failures.csv").open(newline="") as stream:
        errors = {
            row["Error"].removeprefix("CatchResponseError('").removesuffix("')")
            for row in csv.DictReader(stream)
        }
    # The kit's reason texts (emitter._outcomes), the same as send, check and replay print.
    assert errors == {
        "rejected: HTTP 500 Internal Server Error",
        "redirect: HTTP 302 Found to /redirected (redirects are not followed; only 200 is an ack)",
        "rejected: HTTP 201 Created (the contract asks for 200; --accept-2xx accepts any 2xx)",
        "timeout: no answer within the 0.3 s ack deadline",
    }, output
    requests = [request for request, _ in httpserver.log]
    assert requests
    assert all(request.path == "/webhooks/vss" for request in requests)  # no redirect followed
    first = requests[0]
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers["User-Agent"] == USER_AGENT
    assert first.headers["Authorization"] == "Bearer t0ken"
    assert validate_bytes(first.get_data()) == []


@pytest.mark.slow
@needs_locust
def test_help_is_locusts_own_with_the_vss_options() -> None:
    code, output = _finish(_spawn("locust", "--help"), timeout=30)
    assert code == 0, output
    for option in (
        "--master",
        "--worker",
        "--headless",
        "--vss-scenario",
        "--vss-file",
        "--vss-seed",
        "--vss-auth-header",
        "--vss-timeout",
        "--vss-accept-2xx",
    ):
        assert option in output, option  # fmt: skip


@pytest.mark.slow
@needs_locust
def test_an_unknown_scenario_is_exit_2_with_one_error_line(tmp_path: Path) -> None:
    process = _spawn(
        "locust", "--headless", "-u", "1", "-t", "1s", "--host", "http://127.0.0.1:9/",
        "--vss-scenario", "no-such-scenario",
    )  # fmt: skip
    code, output = _finish(process, timeout=30)
    assert code == 2, output
    assert "Error:" in output
    assert "Traceback" not in output


def test_without_the_locust_extra_the_command_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_locust, "LOCUST_MODULE", "vss_emitter_no_such_locust")
    result = CliRunner().invoke(cli, ["locust", "--headless"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "Error: the locust command needs the locust extra: pip install 'vss-emitter[locust]'"
    )


@needs_locust
def test_locust_runs_in_its_own_interpreter_with_the_kits_locustfile() -> None:
    argv = _locust.locust_argv(["--worker", "--master-host", "10.0.0.5"])
    assert argv[:3] == [sys.executable, "-m", "locust"]
    assert argv[3] == "-f"
    assert Path(argv[4]).name == "locustfile.py"
    assert Path(argv[4]).is_file()
    assert argv[5:] == ["--worker", "--master-host", "10.0.0.5"]
    assert "locust" not in sys.modules  # looking Locust up must not import it (gevent)


@pytest.mark.slow
@needs_locust
def test_a_header_without_its_colon_is_refused_without_printing_the_value() -> None:
    process = _spawn(
        "locust", "--headless", "-u", "1", "-t", "1s", "--host", "http://127.0.0.1:9/",
        "--vss-header", "Authorization Bearer s3cr3t-t0ken",
    )  # fmt: skip
    code, output = _finish(process, timeout=30)
    assert code == 2, output
    assert "Error: invalid header 'Authorization ...': expected 'Name: value'" in output
    assert "s3cr3t" not in output
    assert "Traceback" not in output


@pytest.mark.slow
@needs_locust
def test_a_start_time_the_generator_cannot_use_is_refused_before_any_user_starts() -> None:
    process = _spawn(
        "locust", "--headless", "-u", "1", "-t", "1s", "--host", "http://127.0.0.1:9/",
        "--vss-start-at", "0001-01-01T00:00:00Z",
    )  # fmt: skip
    code, output = _finish(process, timeout=30)
    assert code == 2, output
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert errors == [
        "Error: invalid --vss-start-at 0001-01-01T00:00:00+00:00: expected a time between the "
        "years 1970 and 9000, e.g. --vss-start-at 2026-11-24T10:00:00Z"
    ], output
    assert "Traceback" not in output


@pytest.mark.slow
@needs_locust
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_a_timeout_that_is_not_finite_is_refused_like_the_cli(value: str) -> None:
    process = _spawn(
        "locust", "--headless", "-u", "1", "-t", "1s", "--host", "http://127.0.0.1:9/",
        "--vss-timeout", value,
    )  # fmt: skip
    code, output = _finish(process, timeout=30)
    assert code == 2, output
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, output
    assert "--vss-timeout" in errors[0]
    assert "Traceback" not in output


@pytest.mark.slow
@needs_locust
def test_a_file_without_one_valid_payload_is_refused_before_any_user_starts(
    tmp_path: Path,
) -> None:
    fixture = tmp_path / "nothing.ndjson"
    fixture.write_text("not json at all\n[1, 2]\n", encoding="utf-8")
    process = _spawn(
        "locust", "--headless", "-u", "1", "-r", "1", "-t", "2s",
        "--host", "http://127.0.0.1:9/", "--vss-file", str(fixture),
    )  # fmt: skip
    code, output = _finish(process, timeout=30)
    assert code == 2, output
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, output
    assert "holds no valid payload" in errors[0]
    assert "Traceback" not in output
