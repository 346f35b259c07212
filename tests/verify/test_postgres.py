"""SQL read-back from a real PostgreSQL server: started for the session on a free loopback port
in a temporary directory (as the `postgres` user when the tests run as root), stopped at the
end; skipped with the reason when no server can be started here (`make test` installs one)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from emitter.cli import cli
from verify.postgres_server import PASSWORD
from verify.storing_receiver import LEGS_QUERY, SESSION_QUERY, StoringReceiver


def verify_file(path: Path, dsn: str) -> Path:
    url = dsn.replace("postgresql://", "postgresql+psycopg://")
    path.write_text(
        f"sql: {url}\nquery: {SESSION_QUERY}\nlegs_query: {LEGS_QUERY}\nwithin: 2s\nsettle: 0.4s\n"
    )
    return path


@pytest.mark.parametrize("bugs", [(), ("status-wrong",)], ids=["correct", "status-wrong"])
def test_check_verify_reads_back_from_postgresql(
    postgres: str, tmp_path: Path, bugs: tuple[str, ...]
) -> None:
    with StoringReceiver(tmp_path / "unused.db", bugs=bugs, postgres=postgres) as receiver:
        verify = verify_file(tmp_path / "v.yaml", postgres)
        result = CliRunner().invoke(
            cli,
            [
                "check",
                receiver.url,
                "--seed",
                "5",
                "-k",
                "scenario/",
                "-k",
                "docs/",
                "-k",
                "data/timestamp",
                "-k",
                "delivery/dup",
                "--verify",
                str(verify),
            ],
        )
    assert PASSWORD not in result.output
    assert "postgresql+psycopg://app:***@127.0.0.1:" in result.output
    if bugs:
        assert result.exit_code == 1, result.output
        assert "sessionStatus: stored 'COMPLETED', expected 'BUSY'" in result.output
    else:
        assert result.exit_code == 0, result.output
        assert "stored as expected" in result.output


def test_a_postgresql_error_is_one_line_naming_file_and_key(postgres: str, tmp_path: Path) -> None:
    verify = tmp_path / "v.yaml"
    url = postgres.replace("postgresql://", "postgresql+psycopg://")
    query = "SELECT * FROM no_such_table WHERE id = :sessionId"
    verify.write_text(f"sql: {url}\nquery: {query}\n")
    result = CliRunner().invoke(
        cli, ["check", "http://127.0.0.1:9/vss", "--seed", "1", "--verify", str(verify)]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {verify}: key `query`: SQL postgresql+psycopg://")
    assert "no_such_table" in result.stderr
    assert PASSWORD not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


class _UuidReceiver:
    """A correct receiver keeping sessionIds in a PostgreSQL `uuid` column (stored, then acked)."""

    def __init__(self, dsn: str) -> None:
        import psycopg

        from emitter import canonical

        self.dsn = dsn
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS uuid_calls")
            conn.execute(
                "CREATE TABLE uuid_calls (session_id uuid PRIMARY KEY, status text, "
                "started_at timestamptz)"
            )

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                record = canonical(json.loads(body))
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(
                        "INSERT INTO uuid_calls VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                        (record["sessionId"], record["sessionStatus"], record["startTime"]),
                    )
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/vss"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_uuid_column_compared_with_a_typed_query_passes_and_reports_json(
    postgres: str, tmp_path: Path
) -> None:
    # `WHERE session_id = :sessionId` on a uuid column: the pre-flight's unknown sessionId must
    # be a UUID too, the uuid values must equal the sessionId strings, and the JSON report
    # must hold them.
    url = postgres.replace("postgresql://", "postgresql+psycopg://")
    verify = tmp_path / "v.yaml"
    query = (
        'SELECT session_id AS "sessionId", status AS "sessionStatus", started_at AS "startTime"'
        " FROM uuid_calls WHERE session_id = :sessionId"
    )
    verify.write_text(f"sql: {url}\nquery: >-\n  {query}\nwithin: 2s\nsettle: 0.3s\n")
    receiver = _UuidReceiver(postgres)
    report = tmp_path / "report.json"
    try:
        args = ["check", receiver.url, "--seed", "5", "-k", "scenario/busy", "-k", "scenario/com"]
        args += ["--verify", str(verify), "--report-json", str(report)]
        result = CliRunner().invoke(cli, args)
    finally:
        receiver.close()
    assert result.exit_code == 0, result.output
    assert "stored as expected" in result.output
    data = json.loads(report.read_text())
    stored = [
        v["stored"][0]["sessionId"] for p in data["probes"] for v in p.get("verification", [])
    ]
    assert stored
    assert all(isinstance(s, str) for s in stored)
