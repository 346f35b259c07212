"""Secrets of the verify file stay out of every output: URL passwords holding `/` or `@`, query
values, credentials inside `command` arguments, and a read-back that echoes a header value."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from click.testing import CliRunner

from emitter.cli import cli
from emitter.verify import verify_config


def secrets_and_line(data: dict[str, object]) -> tuple[tuple[str, ...], str]:
    config = verify_config(data, source="v.yaml")
    return config.secrets(), config.describe()


def test_a_database_password_holding_a_slash_or_an_at_sign_is_masked_whole() -> None:
    for password in ("se/cretPW", "p@ssPW9"):
        secrets, line = secrets_and_line(
            {"sql": f"postgresql+psycopg://app:{password}@127.0.0.1:1/app", "query": "q :sessionId"}
        )
        assert password in secrets
        assert line == "SQL postgresql+psycopg://app:***@127.0.0.1:1/app"


def test_query_values_of_read_back_urls_are_masked() -> None:
    secrets, line = secrets_and_line(
        {"http": "http://admin:PASSWORDXYZ@127.0.0.1:9/vss/{sessionId}?api_key=QUERYSECRET&v=1"}
    )
    assert {"PASSWORDXYZ", "QUERYSECRET"} <= set(secrets)
    assert line == "GET http://admin:***@127.0.0.1:9/vss/{sessionId}?api_key=***&v=***"
    secrets, line = secrets_and_line(
        {"sql": "postgresql+psycopg://app@127.0.0.1:1/app?password=QPARAMPW", "query": ":sessionId"}
    )
    assert "QPARAMPW" in secrets
    assert "QPARAMPW" not in line


def test_credentials_inside_command_arguments_are_masked() -> None:
    argv = [
        "curl", "-sf", "-H", "Authorization: Bearer CMDSECRET9", "-u", "reader:USERPASS7",
        "--password=OPTPASS55", "http://me:URLPASS33@127.0.0.1:9/vss/{sessionId}?token=TOK12",
    ]  # fmt: skip
    secrets, line = secrets_and_line({"command": argv})
    for secret in ("CMDSECRET9", "USERPASS7", "OPTPASS55", "URLPASS33", "TOK12"):
        assert secret in secrets
        assert secret not in line
    assert line.startswith("command curl -sf -H 'Authorization: ***'")


def test_a_short_secret_is_never_masked_letter_by_letter() -> None:
    secrets, line = secrets_and_line({"sql": "sqlite://u:p@/x.db", "query": ":sessionId"})
    assert "p" not in secrets
    assert line == "SQL sqlite://u:***@/x.db"


def test_a_database_error_never_shows_a_password_holding_an_at_sign(tmp_path: Path) -> None:
    verify = tmp_path / "v.yaml"
    verify.write_text(
        "sql: postgresql+psycopg://app:p@ssPW9@127.0.0.1:1/app\nquery: SELECT 1 WHERE :sessionId"
        " = ''\n"
    )
    result = CliRunner().invoke(cli, ["check", "http://127.0.0.1:9/", "--verify", str(verify)])
    assert result.exit_code == 2
    assert "ssPW9" not in result.output
    assert "postgresql+psycopg://app:***@127.0.0.1:1/app" in result.stderr


ECHOED = "ECHOSECRET77"


@contextmanager
def echoing_receiver() -> Iterator[str]:
    """Acks every delivery; its read-back stores the X-Internal request header as the status."""
    held: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            held.add(body["payload"]["sessionId"])
            self._answer(200, {})

        def do_GET(self) -> None:
            sid = self.path.rsplit("/", 1)[-1]
            status = self.headers.get("X-Internal", "")
            self._answer(200, [{"sessionId": sid, "sessionStatus": status}] if sid in held else [])

        def _answer(self, status: int, data: object) -> None:
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_read_back_echoing_a_verify_header_never_carries_it_into_any_output(
    tmp_path: Path,
) -> None:
    with echoing_receiver() as base:
        verify = tmp_path / "v.yaml"
        verify.write_text(
            f"http: {base}/vss/{{sessionId}}\nheaders: {{X-Internal: {ECHOED}}}\n"
            "within: 0.5s\nsettle: 0.1s\n"
        )
        out = tmp_path / "out"
        result = CliRunner().invoke(
            cli,
            [
                "check", f"{base}/hook", "--seed", "5", "-k", "scenario/busy",
                "--verify", str(verify), "--report-json", str(out / "r.json"),
                "--junit-xml", str(out / "r.xml"), "--html", str(out / "r.html"),
                "--save-failures", str(out / "failed"),
            ],
        )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "sessionStatus: stored '***', expected 'BUSY'" in result.output
    written = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".verify.json") for p in written)
    for text in [result.output, *(p.read_text() for p in written)]:
        assert ECHOED not in text
