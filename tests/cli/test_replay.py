"""`vss-emitter replay`: exit codes, reports, bad flags, and Ctrl-C then --resume for real."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import servers
from click.testing import CliRunner, Result

from emitter.cli import _replay as _replay_cli
from emitter.cli import cli
from emitter.errors import InputError
from emitter.generator import dumps, generate
from emitter.receiver import ReferenceReceiver

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
        (("--rate", "5/s", "--start-at", "yesterday"), "Error: invalid --start-at 'yesterday'"),
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


def _file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        # Ignored, SIGXFSZ turns "file too large" into an EFBIG error the kit must handle.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_results_header_that_cannot_be_written_exits_2_before_sending(
    receiver: ReferenceReceiver, fixture_file: Path, tmp_path: Path
) -> None:
    receiver.clear()
    results = tmp_path / "run.ndjson"
    done = subprocess.run(
        [
            VSS_EMITTER,
            "replay",
            receiver.url,
            str(fixture_file),
            "--rate",
            "max",
            "--results",
            str(results),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=_file_size_limit(0),
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"Error: cannot write results file `{results}` (File too large); nothing was sent\n"
    )
    assert receiver.deliveries == []
    assert not results.exists()  # so the rerun is not told "already exists"


def test_results_that_fill_up_mid_run_stop_the_run_with_a_summary(
    receiver: ReferenceReceiver, tmp_path: Path
) -> None:
    source = tmp_path / "captured.ndjson"
    write_fixture(source, 2000)
    results = tmp_path / "run.ndjson"
    done = subprocess.run(
        [
            VSS_EMITTER,
            "replay",
            receiver.url,
            str(source),
            "--rate",
            "4000/s",
            "--results",
            str(results),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=_file_size_limit(16_000),
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1
    assert errors[0].startswith(f"Error: cannot write results file `{results}` (File too large)")
    assert "rerun with --resume" in errors[0]
    assert "from schedule" in done.stdout  # the summary
    sent = int(done.stdout.split("  sent ")[1].split()[0])
    assert 0 < sent < 2000  # stopped early
    assert results.stat().st_size == 16_000


def test_report_json_in_a_missing_folder_creates_the_folder(
    receiver: ReferenceReceiver, fixture_file: Path, tmp_path: Path
) -> None:
    receiver.clear()
    report = tmp_path / "build" / "reports" / "report.json"
    result = invoke(receiver.url, str(fixture_file), "--rate", "max", "--report-json", str(report))
    assert result.exit_code == 0, result.stderr
    assert json.loads(report.read_text())["acked"] == len(receiver.deliveries) > 0


def test_report_json_where_a_folder_cannot_be_made_exits_2_before_sending(
    receiver: ReferenceReceiver, fixture_file: Path, tmp_path: Path
) -> None:
    receiver.clear()
    (tmp_path / "file").write_text("in the way")
    report = tmp_path / "file" / "report.json"
    result = invoke(receiver.url, str(fixture_file), "--rate", "max", "--report-json", str(report))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: cannot write {str(report)!r}")
    assert result.stderr.count("\n") == 1
    assert receiver.deliveries == []


def test_summary_is_printed_even_when_the_report_cannot_be_written(
    receiver: ReferenceReceiver,
    fixture_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fail(report: object, coverage: object, *, report_json: object, html: object) -> None:
        raise InputError(f"cannot write report `{report_json}`: No space left on device")

    monkeypatch.setattr(_replay_cli, "write_reports", fail)
    report = tmp_path / "report.json"
    result = invoke(receiver.url, str(fixture_file), "--rate", "max", "--report-json", str(report))
    assert result.exit_code == 2
    assert "sent 20  acked 20  failed 0" in result.stdout
    assert result.stderr.startswith("Error: cannot write report")


def test_bad_ca_bundle_leaves_no_results_file(fixture_file: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate\n")
    results = tmp_path / "run.ndjson"
    args = ["https://127.0.0.1:9/", str(fixture_file), "--rate", "max"]
    for _ in range(2):  # the rerun gets the same answer, not "already exists"
        result = invoke(*args, "--results", str(results), "--ca-bundle", str(bundle))
        assert result.exit_code == 2
        assert result.stderr.startswith("Error: cannot use CA bundle")
        assert not results.exists()


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"])
def test_start_at_outside_1970_to_9000_exits_2(when: str) -> None:
    result = invoke(
        "http://127.0.0.1:9/", "--scenario", "completed", "-n", "1", "--rate", "max",
        "--start-at", when,
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: invalid --start-at")
    assert "between the years 1970 and 9000, e.g. --start-at 2026-11-24T10:00:00Z" in result.stderr


def test_foreign_results_file_exits_2_with_one_line(fixture_file: Path, tmp_path: Path) -> None:
    results = tmp_path / "run.ndjson"
    results.write_text(
        '{"type":"delivery","index":1000000000000,"session_id":"x","outcome":"acked"}\n'
        '{"type":"delivery","index":2,"session_id":[1],"outcome":"acked"}\n'
    )
    result = invoke(
        "http://127.0.0.1:9/", str(fixture_file), "--rate", "max",
        "--results", str(results), "--resume",
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.count("Error:") == 1
    assert "is not a replay results log" in result.stderr


def test_a_file_with_no_payload_exits_2_like_send(tmp_path: Path) -> None:
    source = tmp_path / "nj.ndjson"
    source.write_text("not json at all\n")
    results = tmp_path / "results.ndjson"
    with servers.answering(200) as server:
        result = invoke(server.url, str(source), "--rate", "max", "--results", str(results))
        assert server.requests == []
    assert result.exit_code == 2
    assert result.stderr.count("Error:") == 1
    assert "Error: no payloads to send" in result.stderr
    assert "nothing was sent" in result.stderr
    assert not results.exists()


def test_nothing_answered_shows_dashes_and_fails_a_latency_threshold(tmp_path: Path) -> None:
    # The one request is still waiting when --duration and its 2 s grace end: no latency was
    # measured, so the table shows dashes (not 0.00), the JSON null, and p99<50ms is not met.
    source = tmp_path / "one.ndjson"
    write_fixture(source, 1)
    report = tmp_path / "report.json"
    with servers.slow(30.0) as server:
        result = invoke(
            server.url, str(source), "--rate", "10/s", "--duration", "0.2s",
            "--slo", "p99<50ms", "--report-json", str(report),
        )  # fmt: skip
    data = json.loads(report.read_text())
    assert data["outcomes"] == {"interrupted": 1}
    assert data["latency_ms"] is None
    assert data["latency_from_send_ms"] is None
    (verdict,) = data["slo"]["thresholds"]
    assert verdict["ok"] is False
    assert verdict["actual"] is None
    assert "from schedule" in result.stdout
    schedule_row = next(line for line in result.stdout.splitlines() if "from schedule" in line)
    assert "–" in schedule_row
    assert "0.00" not in schedule_row
    assert "SLO broken: p99<50ms: not measurable" in result.stderr
    assert result.exit_code == 1


def test_resume_into_the_source_file_exits_2_and_leaves_it_alone(tmp_path: Path) -> None:
    # A results file that is the fixture itself used to grow without end, its own records
    # sent back to the receiver as payloads.
    source = tmp_path / "fx.ndjson"
    write_fixture(source, 3)
    before = source.read_bytes()
    with servers.answering(200) as server:
        result = invoke(
            server.url, str(source), "--rate", "max",
            "--results", str(source), "--resume", "-q",
        )  # fmt: skip
        assert server.requests == []
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"Error: --results `{source}` is the source")
    assert source.read_bytes() == before


@pytest.fixture
def fast_receiver() -> Iterator[str]:
    """bench/fast_receiver.py: a raw uvloop receiver far faster than any one-core sender, so
    the sender is certainly the bottleneck (the reference receiver might be instead)."""
    script = Path(__file__).resolve().parents[2] / "bench" / "fast_receiver.py"
    proc = subprocess.Popen(
        [sys.executable, str(script), "0"],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_on_core(1),  # pytest's main thread; affinity only
    )
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().split()[1]
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def _on_core(core: int) -> Callable[[], None] | None:
    """Pins a child to one core when there are two or more: with the receiver on a core of
    its own, the sender is certainly the bottleneck (unpinned, the scheduler may put both on
    one core, and then the receiver sets the pace and the verdict rightly says so)."""
    if len(os.sched_getaffinity(0)) < 2:
        return None
    cores = sorted(os.sched_getaffinity(0))
    return lambda: os.sched_setaffinity(0, {cores[core]})


def test_a_rate_no_sender_can_keep_ends_on_time_and_says_so(
    fast_receiver: str, tmp_path: Path
) -> None:
    # Run as a real process, as a user would: a million a second for 2 s from a file.
    source = tmp_path / "many.ndjson"
    # More small payloads than any one core sends in 2 s, so the schedule outruns the sender.
    source.write_bytes(b"".join(b'{"payload":{"sessionId":"s-%d"}}\n' % i for i in range(300_000)))
    report = tmp_path / "report.json"
    results = tmp_path / "results.ndjson"
    argv = [VSS_EMITTER, "replay", fast_receiver, str(source), "--rate", "1000000/s"]
    # With a results log, as a staging run keeps one: a record per delivery is the sender's
    # work, which keeps this tiny-payload run sender-bound even when the receiver's core is
    # shared with other work (without it the two sides cost about the same per request).
    done = subprocess.run(
        [*argv, "--duration", "2s", "--report-json", str(report), "--results", str(results)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=_on_core(0),  # pytest's main thread; affinity only
    )
    assert report.exists(), f"exit {done.returncode}: {done.stderr[-2000:]}"
    data = json.loads(report.read_text())
    assert done.returncode == (0 if data["failed"] == 0 else 1), done.stderr
    assert data["sender_saturated"] is True
    assert data["sender_lag"]["max_lag_ms"] > 0
    assert data["sender_lag"]["unsent"] > 0
    # Never more than the file still held (2,000,000 slots were due; the file has 300,000).
    assert data["sender_lag"]["unsent"] <= 300_000 - data["sent"]
    assert f"{data['sender_lag']['unsent']:,} scheduled sends never left" in done.stdout
    assert "SENDER SATURATED" in done.stdout
    assert "the sender's own lag" in done.stdout
    logged = results.read_text().count('"type":"delivery"')
    assert logged == data["sent"]  # every send that left is in the log, nothing more


def test_the_reports_coverage_of_a_whole_file_is_what_the_coverage_command_counts(
    fast_receiver: str, tmp_path: Path
) -> None:
    # 30,000 payloads at `max` on one core: the counting child, in the sender's idle time,
    # gets little during the run, so after it the rest is counted in two shares (this
    # process and the child); the merged figures are those of `vss-emitter coverage FILE`.
    source = tmp_path / "in.ndjson"
    write_fixture(source, 30_000)
    report = tmp_path / "report.json"
    argv = [VSS_EMITTER, "replay", fast_receiver, str(source), "--rate", "max"]
    done = subprocess.run(
        [*argv, "--report-json", str(report)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        preexec_fn=_on_core(0),  # pytest's main thread; affinity only
    )
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads(report.read_text())
    assert data["sent"] == 30_000
    counted = subprocess.run(
        [VSS_EMITTER, "coverage", str(source), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert data["coverage"] == json.loads(counted.stdout)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "Invalid --workers `0`"),
        ("many", "Invalid --workers `many`"),
        ("1000", "Invalid --workers `1000`: expected 1 to "),
        ("65", "never over 64"),
    ],
)
def test_bad_workers_is_one_error_line(fixture_file: Path, value: str, message: str) -> None:
    result = invoke("http://127.0.0.1:9/", str(fixture_file), "--rate", "max", "--workers", value)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
