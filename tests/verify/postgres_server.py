"""A real PostgreSQL server for the verification tests (see `postgres`)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PASSWORD = "pg-s3cret-pw"  # noqa: S105  (the throwaway test server's own password)


def _bindir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A libpq DSN of a fresh server's `app` database (user app, password auth over TCP)."""
    bindir = _bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (initdb) here: `make test` installs them")
    run_as: list[str] = []
    owner = None
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to run the server as")
        run_as = ["runuser", "-u", "postgres", "--"]
    home = Path(tempfile.mkdtemp(prefix="vss-pg-"))
    data, pwfile = home / "data", home / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if owner is not None:
        for path in (home, pwfile):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    port = _free_port()

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*run_as, *argv], capture_output=True, text=True, check=False)

    started = False
    try:
        init = run(
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "app",
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "-E",
            "UTF8",
        )
        if init.returncode != 0:
            pytest.skip(f"initdb failed: {init.stderr.strip().splitlines()[-1:]}")
        options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off"
        start = run(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(home / "log"),
            "-w",
            "-t",
            "30",
            "start",
        )
        if start.returncode != 0:
            pytest.skip(f"PostgreSQL did not start: {start.stdout.strip()[-200:]}")
        started = True
        dsn = f"postgresql://app:{PASSWORD}@127.0.0.1:{port}/postgres"
        import psycopg

        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE DATABASE app")
        yield dsn.rsplit("/", 1)[0] + "/app"
    finally:
        if started:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(home, ignore_errors=True)
