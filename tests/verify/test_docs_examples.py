"""docs/verify.md's examples run as written: the FastAPI + SQLite receiver passes `check --verify`
over HTTP and SQL (and its one-line bug is caught), the PostgreSQL file reads a real server,
and the pytest conftest drives the probes and `assert_stored`."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import emitter.generator
import emitter.report
import emitter.scenarios
import emitter.verify
from emitter.cli import cli
from verify.postgres_server import PASSWORD
from verify.storing_receiver import StoringReceiver

pytest.importorskip("fastapi", reason="the FastAPI example needs fastapi (the test extra)")
pytest.importorskip("uvicorn", reason="the FastAPI example needs uvicorn (the test extra)")

DOCS = Path(__file__).resolve().parent.parent.parent / "docs"
EXAMPLES = DOCS / "examples"
KEEP_LOADED = (emitter.generator, emitter.report, emitter.scenarios, emitter.verify)
INNER = ("-p", "no:cacheprovider", "-W", "default", "--vss-burst", "4", "--vss-timeout", "5")


def example(name: str) -> str:
    """The fenced block right after `<!-- example: NAME -->` in docs/verify.md."""
    text = (DOCS / "verify.md").read_text()
    found = re.search(rf"<!-- example: {re.escape(name)} -->\n```\w+\n(.*?)```", text, re.S)
    assert found, f"docs/verify.md has no example {name}"
    return found.group(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve(app_dir: Path, db: Path) -> Iterator[int]:
    port = free_port()
    env = {**os.environ, "VSS_DB": str(db)}
    argv = [sys.executable, "-m", "uvicorn", "fastapi_receiver:app", "--port", str(port)]
    argv += ["--app-dir", str(app_dir), "--log-level", "warning"]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None:
                pytest.fail(f"the example receiver exited: {process.stdout.read()!r}")  # type: ignore[union-attr]
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()  # type: ignore[union-attr]


@pytest.fixture
def fastapi_receiver(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    db = tmp_path / "calls.db"
    for port in serve(EXAMPLES, db):
        yield port, db


def check(port: int, verify: Path, *extra: str) -> Result:
    url = f"http://127.0.0.1:{port}/webhooks/vss"
    return CliRunner().invoke(cli, ["check", url, "--seed", "2", "--verify", str(verify), *extra])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fastapi-http.yaml", "fastapi-sql.yaml"])
def test_the_fastapi_receiver_passes_check_verify(
    fastapi_receiver: tuple[int, Path], tmp_path: Path, name: str
) -> None:
    port, db = fastapi_receiver
    verify = tmp_path / name
    text = example(name).replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    verify.write_text(text.replace("sqlite:///calls.db", f"sqlite:///{db}"))
    result = check(port, verify)
    assert result.exit_code == 0, result.output
    assert "stored as expected" in result.output


@pytest.mark.slow
def test_the_fastapi_receiver_with_its_status_bug_fails_naming_probe_and_field(
    tmp_path: Path,
) -> None:
    source = (EXAMPLES / "fastapi_receiver.py").read_text()
    buggy = source.replace('body["sessionStatus"],', '"COMPLETED",  # the bug', 1)
    assert buggy != source
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "fastapi_receiver.py").write_text(buggy)
    for port in serve(app_dir, tmp_path / "calls.db"):
        verify = tmp_path / "v.yaml"
        verify.write_text(example("fastapi-http.yaml").replace("8000", str(port)))
        result = check(port, verify, "-k", "scenario/busy")
    assert result.exit_code == 1, result.output
    assert re.search(
        r"✗ scenario/busy .* acked, but stored wrong: sessionStatus: stored 'COMPLETED', "
        "expected 'BUSY'",
        result.output,
    )


def test_the_postgresql_example_reads_a_real_server(postgres: str, tmp_path: Path) -> None:
    port = postgres.rsplit(":", 1)[1].split("/")[0]
    text = example("postgres.yaml").replace("${secret}", PASSWORD).replace("5432", port)
    verify = tmp_path / "postgres.yaml"
    verify.write_text(text)
    with StoringReceiver(tmp_path / "unused.db", postgres=postgres) as receiver:
        result = CliRunner().invoke(
            cli,
            ["check", receiver.url, "--seed", "3", "-k", "scenario/", "--verify", str(verify)],
        )
    assert result.exit_code == 0, result.output
    assert f"postgresql+psycopg://app:***@127.0.0.1:{port}/app" in result.output
    assert PASSWORD not in result.output


@pytest.mark.slow
def test_the_pytest_example_verifies_probes_and_assert_stored(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    db = tmp_path / "calls.db"
    for port in serve(EXAMPLES, db):
        pytester.makeconftest(example("conftest.py").replace('"calls.db"', repr(str(db))))
        # Another module name than the suite's own tests/test_receiver.py, which the full run has
        # imported already (pytester runs in this process).
        pytester.makepyfile(test_example_receiver=example("test_vss_storage.py"))
        url = f"http://127.0.0.1:{port}/webhooks/vss"
        result = pytester.runpytest("--vss-target", url, "-k", "busy", *INNER)
    result.assert_outcomes(passed=5)  # four probes send a BUSY session, and the example test
