"""`vss-emitter serve` as a real process: port 0, reached over HTTP, stopped by a signal, exit 0."""

from __future__ import annotations

import json
import re
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from emitter import canonical
from emitter.cli import cli
from emitter.generator import dumps, generate
from emitter.receiver import ReferenceReceiver

EXE = str(Path(sys.executable).with_name("vss-emitter"))


def first_line(proc: subprocess.Popen[str], timeout_s: float = 30) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    assert ready, "serve printed nothing"
    return proc.stdout.readline()


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    record = tmp_path / "deliveries.ndjson"
    proc = subprocess.Popen(
        [EXE, "serve", "--port", "0", "--record", str(record)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = first_line(proc)
        match = re.search(r"http://127\.0\.0\.1:\d+/", banner)
        assert match, banner
        yield proc, match.group(0), record
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_serve_answers_and_stops_cleanly_on_a_signal(
    serving: tuple[subprocess.Popen[str], str, Path], signum: signal.Signals
) -> None:
    proc, url, record = serving
    valid = dumps(next(generate("completed", seed=1)))
    with httpx.Client(timeout=10) as client:
        assert client.post(url, content=valid).status_code == 200
        assert client.post(url, content=valid).status_code == 200
        rejected = client.post(url, content=b"{not json")
        assert client.get(url).status_code == 405
    assert rejected.status_code == 400
    assert rejected.json()["findings"][0]["rule"] == "json"
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "Traceback" not in err
    assert "duplicate" in out
    assert out.strip().splitlines()[-1] == (
        "stopped: 3 deliveries: 2 accepted, 1 rejected, 1 duplicate"
    )
    records = [json.loads(line) for line in record.read_text().splitlines()]
    assert [r["status"] for r in records] == [200, 200, 400]
    assert [r["duplicate"] for r in records] == [False, True, False]


def test_serve_on_a_busy_port_exits_2() -> None:
    with ReferenceReceiver() as taken:
        result = CliRunner().invoke(cli, ["serve", "--port", str(taken.port)])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: cannot listen on 127.0.0.1:")
    assert "Traceback" not in result.output + result.stderr


def test_serve_with_an_unwritable_record_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["serve", "--port", "0", "--record", str(tmp_path / "missing-dir" / "r.ndjson")]
    )
    assert result.exit_code == 2
    assert "cannot write --record" in result.stderr


def test_serve_answers_and_logs_a_lone_surrogate_and_a_hostile_method(
    serving: tuple[subprocess.Popen[str], str, Path],
) -> None:
    proc, url, record = serving
    payload = next(generate("completed", seed=2))
    payload["payload"]["note"] = "\ud800"  # an unknown field, as the escape JSON allows
    with httpx.Client(timeout=10) as client:
        accepted = client.post(url, content=json.dumps(payload).encode())
        trace = client.request("TRACE", url)
        made_up = client.request("FOO", url)
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "accepted"
    for answer in (trace, made_up):
        assert answer.status_code == 405
        assert answer.headers["allow"] == "POST"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "405  FOO /" in out
    (line,) = [json.loads(text) for text in record.read_text(encoding="utf-8").splitlines()]
    assert line["payload"]["payload"]["note"] == "\ud800"


def start_serve(*args: str) -> tuple[subprocess.Popen[str], str, str]:
    """serve with a store: its URL and the banner's second line (the store and read-back)."""
    proc = subprocess.Popen(
        [EXE, "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    match = re.search(r"http://127\.0\.0\.1:\d+/", first_line(proc))
    assert match, proc
    assert proc.stdout is not None
    # Printed with the first line, so it may already sit in the pipe's read buffer: no select.
    return proc, match.group(0), proc.stdout.readline()


def test_serve_store_keeps_each_session_once_across_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "calls.db"
    doc = next(generate("busy", seed=4))
    session_id = doc["payload"]["sessionId"]
    proc, url, banner = start_serve("--store", str(db))
    try:
        assert f"read back: GET {url}vss/sessions/{{sessionId}}" in banner
        with httpx.Client(timeout=10) as client:
            assert client.post(url, content=dumps(doc)).status_code == 200
            assert client.post(url, content=dumps(doc)).json()["duplicate"] is True
            stored = client.get(f"{url}vss/sessions/{session_id}").json()
        assert stored == [canonical(doc)]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert f"stored: 1 session in {db}" in out
    proc, url, banner = start_serve("--store", str(db), "--quiet")
    try:
        assert "(1 already)" in banner
        again = httpx.get(f"{url}vss/sessions/{session_id}", timeout=10)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert again.json() == [canonical(doc)]


def test_serve_with_a_store_that_is_not_sqlite_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "calls.db"
    bad.write_text("not a database\n" * 200)
    result = CliRunner().invoke(cli, ["serve", "--port", "0", "--store", str(bad)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: cannot use --store '{bad}'")
    assert "Traceback" not in result.output + result.stderr


def test_the_readme_verification_example_passes_against_serve_store(tmp_path: Path) -> None:
    # README "Verify what your receiver stored": serve --store in one shell, check --verify
    # with a two-line verify file in the other; nothing but the kit.
    proc, url, _ = start_serve("--store", str(tmp_path / "calls.db"), "--quiet")
    try:
        verify = tmp_path / "v.yaml"
        verify.write_text(f"http: {url}vss/sessions/{{sessionId}}\nsettle: 0.3s\n")
        # Twice: the second run meets the documentation examples' sessionIds already stored
        # by the first, as a team's staging database would hold them.
        selection = ["-k", "docs/", "-k", "delivery/duplicate", "-k", "scenario/busy"]
        runs = [
            subprocess.run(
                [EXE, "check", url, "--verify", str(verify), "--seed", seed, *selection],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            for seed in ("1", "2")
        ]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    for checked in runs:
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert f"verify: GET {url}vss/sessions/{{sessionId}}" in checked.stdout
        assert "stored as expected" in checked.stdout
        assert "Traceback" not in checked.stderr
