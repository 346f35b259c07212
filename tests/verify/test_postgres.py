"""SQL read-back from a real PostgreSQL server: started for the session on a free loopback port
in a temporary directory (as the `postgres` user when the tests run as root), stopped at the
end; skipped with the reason when no server can be started here (`make test` installs one)."""

from __future__ import annotations

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
