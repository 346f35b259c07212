"""`vss-emitter send`: one line per ack, exit codes 0/1/2, no traceback, secrets never shown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import servers
from click.testing import CliRunner, Result

from emitter.cli import cli
from emitter.generator import dumps, generate
from emitter.receiver import ReferenceReceiver

EXE = str(Path(sys.executable).with_name("vss-emitter"))
EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples"


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin)


def no_traceback(result: Result) -> None:
    assert "Traceback" not in result.output
    assert "Traceback" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> servers.SelfSignedCert:
    return servers.self_signed_cert(tmp_path_factory.mktemp("tls"))


def test_all_acked_exits_0_with_one_line_per_ack(vss_receiver: ReferenceReceiver) -> None:
    result = run("send", vss_receiver.url, "completed", "no-answer", "-n", "2", "--seed", "7")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line[0] for line in lines[:4]] == ["✓"] * 4
    assert "completed" in lines[0]
    assert "no-answer" in lines[2]
    assert lines[-1].startswith(f"4 sent to {vss_receiver.url}: 4 acked")
    sent = [d.session_id for d in vss_receiver.deliveries]
    assert len(sent) == 4
    assert all(sid in result.stdout for sid in sent if sid)


def test_generated_bytes_are_the_generators_canonical_bytes() -> None:
    with servers.answering(200) as server:
        result = run("send", server.url, "completed", "-n", "2", "--seed", "11")
    assert result.exit_code == 0
    expected = [dumps(p) for p in generate("completed", seed=11, n=2)]
    assert [r.body for r in server.requests] == expected


def test_default_is_one_payload_of_the_mixed_scenario(vss_receiver: ReferenceReceiver) -> None:
    result = run("send", vss_receiver.url)
    assert result.exit_code == 0
    assert len(vss_receiver.deliveries) == 1
    assert "  mixed" in result.stdout
    assert "seed:" in result.stderr  # a drawn seed is printed so the run can be repeated


def test_a_rejection_exits_1_with_status_and_excerpt() -> None:
    with servers.answering(500, b'{"error":"database down"}') as server:
        result = run("send", server.url, "busy", "--seed", "1")
    assert result.exit_code == 1
    line = result.stdout.splitlines()[0]
    assert line.startswith("✗")
    assert "rejected  500" in line
    assert "database down" in line
    assert "1 not acked (1 rejected)" in result.stdout


@pytest.mark.parametrize(
    ("factory", "outcome"),
    [
        (servers.resetting, "reset"),
        (lambda: servers.garbage(b"hello\r\n"), "not_http"),
        (lambda: servers.slow(5.0), "timeout"),
        (lambda: servers.redirecting("http://127.0.0.1:9/"), "redirect"),
    ],
    ids=["reset", "not-http", "timeout", "redirect"],
)
def test_hostile_server_exits_1_with_its_outcome(factory: object, outcome: str) -> None:
    with factory() as server:  # type: ignore[operator]
        result = run("send", server.url, "completed", "--seed", "1", "--timeout", "0.3")
    no_traceback(result)
    assert result.exit_code == 1
    assert f"  {outcome}  " in result.stdout


@pytest.mark.parametrize(
    ("url", "outcome"),
    [(servers.closed_port_url(), "refused"), ("http://vss-receiver.invalid/", "dns")],
    ids=["refused", "dns"],
)
def test_dead_host_exits_1_with_its_outcome(url: str, outcome: str) -> None:
    result = run("send", url, "--seed", "1", "--timeout", "0.3")
    no_traceback(result)
    assert result.exit_code == 1
    assert f"  {outcome}  " in result.stdout


@pytest.mark.parametrize(
    "url", ["ftp://example.com/hook", "example.com/hook", "http://", "http://exa mple.com/"]
)
def test_malformed_url_exits_2_with_one_error_line(
    url: str, vss_receiver: ReferenceReceiver
) -> None:
    result = run("send", url, "--seed", "1")
    no_traceback(result)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: invalid URL")
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_unknown_scenario_exits_2_before_sending(vss_receiver: ReferenceReceiver) -> None:
    result = run("send", vss_receiver.url, "completed", "no-such-scenario", "--seed", "1")
    no_traceback(result)
    assert result.exit_code == 2
    assert "no-such-scenario" in result.stderr
    assert vss_receiver.deliveries == []


def test_missing_file_exits_2(tmp_path: Path, vss_receiver: ReferenceReceiver) -> None:
    result = run("send", vss_receiver.url, "-f", str(tmp_path / "absent.ndjson"))
    no_traceback(result)
    assert result.exit_code == 2
    assert "absent.ndjson" in result.stderr


def test_files_are_sent_verbatim_and_reported_by_file_and_line(tmp_path: Path) -> None:
    lines = [b'{"payload":{"sessionId":"a-1"}}', b'{"payload": {"sessionId": "a-2"}}']
    fixture = tmp_path / "captured.ndjson"
    fixture.write_bytes(b"\n".join(lines) + b"\n")
    single = EXAMPLES / "docs-example-success.json"
    with servers.answering(200) as server:
        result = run("send", server.url, "-f", str(fixture), "--file", str(single))
    assert result.exit_code == 0, result.output
    assert [r.body for r in server.requests] == [*lines, single.read_bytes().strip()]
    out = result.stdout
    assert f"a-1  {fixture}:1" in out
    assert f"a-2  {fixture}:2" in out
    assert "1f048a84-ea6d-11ee-911b-078f7290bf52" in out


def test_stdin_is_read_as_ndjson(vss_receiver: ReferenceReceiver) -> None:
    payloads = list(generate("completed", seed=3, n=2))
    stdin = "\n".join(dumps(p).decode() for p in payloads) + "\n"
    result = run("send", vss_receiver.url, "-f", "-", stdin=stdin)
    assert result.exit_code == 0, result.output
    assert [d.body for d in vss_receiver.deliveries] == [dumps(p) for p in payloads]
    assert "-:2" in result.stdout


def test_a_line_that_is_not_json_is_skipped_and_exits_2(tmp_path: Path) -> None:
    fixture = tmp_path / "broken.ndjson"
    fixture.write_text('{"payload":{"sessionId":"ok-1"}}\nnot json at all\n')
    with servers.answering(200) as server:
        result = run("send", server.url, "-f", str(fixture))
    no_traceback(result)
    assert result.exit_code == 2
    assert len(server.requests) == 1
    assert f"{fixture}:2  skipped" in result.stdout


def test_json_output_is_one_object_per_ack(vss_receiver: ReferenceReceiver) -> None:
    result = run("send", vss_receiver.url, "completed", "-n", "3", "--seed", "2", "--json")
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 3
    assert {r["outcome"] for r in records} == {"acked"}
    assert all(r["status"] == 200 and r["session_id"] for r in records)
    assert "3 sent" in result.stderr


def test_secrets_never_appear_in_any_output() -> None:
    args = ["--auth-header", "Bearer s3cr3t", "-H", "X-Api-Key: k3y-k3y", "-H", "X-Tenant: acme"]
    with servers.echoing(500, names=["authorization", "x-api-key"]) as server:
        text = run("send", server.url, "--seed", "1", *args)
        as_json = run("send", server.url, "--seed", "1", "--json", *args)
        retried = run("send", server.url, "--seed", "1", "--retries", "0", *args)
    assert server.requests[0].headers["authorization"] == "Bearer s3cr3t"
    for result in (text, as_json, retried):
        assert result.exit_code == 1
        everything = result.stdout + result.stderr
        assert "s3cr3t" not in everything
        assert "k3y-k3y" not in everything
        assert "***" in everything


def test_retries_resend_the_same_bytes_and_report_the_attempt() -> None:
    with servers.flaky(2) as server:
        result = run("send", server.url, "completed", "--seed", "4", "--retries", "0,0,0")
    assert result.exit_code == 0, result.output
    bodies = [r.body for r in server.requests]
    assert len(bodies) == 3
    assert len(set(bodies)) == 1
    assert "attempt 3" in result.stdout
    assert result.stderr.count("retry in 0 s") == 2


def test_tls_is_verified_unless_told_otherwise(cert: servers.SelfSignedCert) -> None:
    with servers.tls(cert) as server:
        verified = run("send", server.url, "--seed", "1", "--timeout", "2")
        insecure = run("send", server.url, "--seed", "1", "--insecure")
        bundle = run("send", server.url, "--seed", "1", "--ca-bundle", str(cert.cert))
    assert verified.exit_code == 1
    assert "  tls  " in verified.stdout
    assert insecure.exit_code == 0
    assert bundle.exit_code == 0


def test_real_process_never_prints_a_traceback() -> None:
    dead = subprocess.run(
        [EXE, "send", servers.closed_port_url(), "--seed", "1", "--timeout", "0.3"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    bad = subprocess.run(
        [EXE, "send", "not a url", "--seed", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert dead.returncode == 1
    assert "refused" in dead.stdout
    assert bad.returncode == 2
    assert bad.stderr.startswith("Error: invalid URL")
    assert "Traceback" not in dead.stderr + bad.stderr


@pytest.mark.parametrize(
    ("option", "name"),
    [
        (("--auth-header", "Bearer tökén"), "Authorization"),
        (("-H", "X-Api-Key: clé"), "X-Api-Key"),
        (("-H", "X-A: 😀"), "X-A"),
    ],
)
def test_a_non_ascii_header_value_exits_2_naming_the_header_not_the_secret(
    option: tuple[str, str], name: str
) -> None:
    with servers.answering(200) as server:
        result = run("send", server.url, "--seed", "1", *option)
    no_traceback(result)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()  # one line
    assert line.startswith("Error: invalid value ")
    assert repr(name) in line
    assert "tökén" not in result.output
    assert "clé" not in result.output
    assert server.requests == []


def test_an_illegal_header_name_exits_2_as_a_usage_error() -> None:
    with servers.answering(200) as server:
        result = run("send", server.url, "--seed", "1", "-H", "X(y): 1")
    no_traceback(result)
    assert result.exit_code == 2
    assert "invalid header name 'X(y)'" in result.stderr
    assert server.requests == []


def test_a_fifo_is_read_like_a_file(vss_receiver: ReferenceReceiver, tmp_path: Path) -> None:
    # What `send -f <(zcat captured.ndjson.gz)` hands over: a pipe, not a regular file.
    fifo = tmp_path / "captured.ndjson"
    os.mkfifo(fifo)
    payloads = list(generate("completed", seed=8, n=2))

    def write() -> None:
        with open(fifo, "wb") as pipe:
            pipe.write(b"".join(dumps(p) + b"\n" for p in payloads))

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    result = run("send", vss_receiver.url, "-f", str(fifo))
    writer.join(timeout=10)
    assert result.exit_code == 0, result.output
    assert [d.body for d in vss_receiver.deliveries] == [dumps(p) for p in payloads]


def test_a_directory_given_as_a_file_says_it_is_a_directory(tmp_path: Path) -> None:
    result = run("send", "http://127.0.0.1:9/", "-f", str(tmp_path))
    no_traceback(result)
    assert result.exit_code == 2
    assert "is a directory" in result.stderr
    assert "no such file" not in result.stderr


def test_skipped_input_lines_are_not_counted_as_sent(tmp_path: Path) -> None:
    fixture = tmp_path / "broken.ndjson"
    fixture.write_text('{"payload":{"sessionId":"ok-1"}}\nnot json\n[1]\n')
    with servers.answering(200) as server:
        result = run("send", server.url, "-f", str(fixture))
    assert result.exit_code == 2
    summary = result.stdout.splitlines()[-1]
    assert summary.startswith(f"1 sent to {server.url}: 1 acked")
    assert "2 inputs skipped" in summary


def test_a_secret_header_without_its_colon_is_refused_without_printing_the_value() -> None:
    result = run("send", "http://127.0.0.1:9/", "-H", "Authorization Bearer s3cr3t")
    no_traceback(result)
    assert result.exit_code == 2
    assert "invalid header 'Authorization ...'" in result.stderr
    assert "s3cr3t" not in result.output


@pytest.mark.parametrize("schedule", ["nan", "1,inf", "-1", "1,,2", "soon"])
def test_a_retry_schedule_that_is_not_finite_delays_is_a_usage_error(schedule: str) -> None:
    result = run("send", "http://127.0.0.1:9/", "--seed", "1", "--retries", schedule)
    assert result.exit_code == 2
    assert "invalid --retries" in result.output
    assert "Traceback" not in result.output
