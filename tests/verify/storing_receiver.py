"""A receiver built as 8x8 advises: ack 200 at once, process later into a real SQLite database.

    with StoringReceiver(tmp_path / "app.db", bugs={"status-wrong"}) as receiver:
        receiver.url             # POST webhooks here
        receiver.read_back_url   # GET .../{sessionId}: every stored record, legs included
        receiver.sqlalchemy_url  # sqlite:///… for a `sql:` verify file

A background worker stores each accepted payload `delay_s` after its ack, into tables with
snake_case columns (`calls`, `legs`) in WAL mode, so reads see a consistent database while it
writes. `postgres=DSN` stores into a PostgreSQL database instead (timestamps as timestamptz).
Each bug in `bugs` seeds one processing fault that a 200 hides:

    status-wrong       NO_ANSWER, BUSY and ERROR sessions stored as COMPLETED
    calla-lost         legs keyed `CallA` (the documentation's spelling) are dropped
    duplicates-twice   no idempotency: a duplicate delivery is stored again
    null-string        `"SourceRefId": "null"` kept as the string 'null'
    store-nothing      reads sessionId from the root, stores nothing, answers
                       200 {"success": false, "message": "Missing call id"}
    forged-stored      answers 401 to a bad Authorization but stores the delivery anyway
    small-queue        a 4-slot queue worked off slowly: a burst overflows it, silently
"""

from __future__ import annotations

import contextlib
import json
import queue
import sqlite3
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote

BUGS = (
    "status-wrong",
    "calla-lost",
    "duplicates-twice",
    "null-string",
    "store-nothing",
    "forged-stored",
    "small-queue",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    sub_account_id TEXT,
    session_status TEXT,
    start_time TEXT,
    end_time TEXT,
    last_action TEXT,
    call_count INTEGER,
    error_code INTEGER,
    error_msg TEXT,
    client_request_id TEXT,
    stored_at TEXT
);
CREATE TABLE IF NOT EXISTS legs (
    session_id TEXT NOT NULL,
    leg TEXT,
    call_id TEXT,
    call_direction TEXT,
    call_status TEXT,
    source_ref_id TEXT,
    destination_ref_id TEXT,
    call_duration INTEGER,
    connected_at TEXT,
    mos REAL
);
"""
_UNIQUE = "CREATE UNIQUE INDEX IF NOT EXISTS calls_session ON calls(session_id)"

SESSION_QUERY = (
    "SELECT session_id, sub_account_id, session_status, start_time, end_time, last_action, "
    "call_count, error_code, error_msg, client_request_id FROM calls WHERE session_id = :sessionId"
)
LEGS_QUERY = (
    "SELECT leg AS key, call_id, call_direction, call_status, source_ref_id, "
    "destination_ref_id, call_duration, connected_at AS connected_timestamp, mos "
    "FROM legs WHERE session_id = :sessionId ORDER BY leg"
)


def _sql_time(text: Any) -> str | None:
    """8x8's ISO 8601 instant as an SQL datetime in UTC (`2024-03-25 06:01:30`)."""
    if not isinstance(text, str):
        return None
    moment = datetime.fromisoformat(text).astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(sep=" ")


def _null(value: Any) -> Any:
    return None if value == "null" else value


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the burst probe connects 20 at once; the default backlog is 5


class StoringReceiver:
    """Acks first, stores later (see the module docstring); a context manager on 127.0.0.1."""

    def __init__(
        self,
        db_path: str | Path,
        *,
        bugs: Iterable[str] = (),
        delay_s: float = 0.05,
        auth: str | None = None,
        read_back: str = "array",  # or "object": one record, not countable
        postgres: str | None = None,  # a libpq DSN: store there instead of in SQLite
    ) -> None:
        self.db_path = Path(db_path)
        self.postgres = postgres
        self.bugs = frozenset(bugs)
        unknown = self.bugs - set(BUGS)
        assert not unknown, f"unknown bugs {unknown}"
        self.delay_s = delay_s
        self.auth = auth
        self.read_back = read_back
        size = 4 if "small-queue" in self.bugs else 0
        self._queue: queue.Queue[tuple[float, dict[str, Any]] | None] = queue.Queue(size)
        self.dropped = 0
        self.acked = 0
        self._setup()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # one answer, two writes: no 40 ms delayed-ACK stall

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, answer = receiver._accept(body, self.headers.get("Authorization"))
                self._answer(status, answer)

            def do_GET(self) -> None:
                prefix = "/internal/vss/"
                if not self.path.startswith(prefix):
                    self._answer(404, {"error": "not found"})
                    return
                records = receiver.records(unquote(self.path[len(prefix) :]))
                if receiver.read_back == "object":
                    if not records:
                        self._answer(404, {"error": "not stored"})
                    else:
                        self._answer(200, records[0])
                    return
                self._answer(200, records)

            def _answer(self, status: int, data: Any) -> None:
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{port}/vss"
        self.read_back_url = f"http://127.0.0.1:{port}/internal/vss/{{sessionId}}"
        self.sqlalchemy_url = f"sqlite:///{self.db_path}"
        self._threads = [
            threading.Thread(target=self._server.serve_forever, daemon=True),
            threading.Thread(target=self._work, daemon=True),
        ]

    # --- lifecycle -----------------------------------------------------------------------

    def _connect(self) -> Any:
        if self.postgres is None:
            return sqlite3.connect(self.db_path)
        import psycopg

        return psycopg.connect(self.postgres)

    def _sql(self, text: str) -> str:
        if self.postgres is None:
            return text
        return text.replace("?", "%s").replace("INSERT OR IGNORE", "INSERT")

    def _time(self, text: Any) -> str | None:
        value = _sql_time(text)
        # PostgreSQL reads a zone-less literal in the session's TimeZone: say it is UTC.
        return value + "+00:00" if value is not None and self.postgres is not None else value

    def _setup(self) -> None:
        with contextlib.closing(self._connect()) as db:
            if self.postgres is None:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(_SCHEMA)
            else:
                schema = _SCHEMA.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "SERIAL PRIMARY KEY")
                for name in ("start_time", "end_time", "connected_at"):
                    schema = schema.replace(f"{name} TEXT", f"{name} TIMESTAMPTZ")
                db.execute("DROP TABLE IF EXISTS calls, legs")
                db.execute(schema)
            if "duplicates-twice" not in self.bugs:
                db.execute(_UNIQUE)
            db.commit()

    def __enter__(self) -> StoringReceiver:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._queue.put(None)
        self._threads[1].join(5)

    def verify_file(self, directory: Path, *, kind: str, **extra: str) -> Path:
        """A verify file reading this receiver back over `http` or `sql`."""
        lines = {
            "http": [f"http: {self.read_back_url}"],
            "sql": [
                f"sql: {self.sqlalchemy_url}",
                f"query: {SESSION_QUERY}",
                f"legs_query: {LEGS_QUERY}",
            ],
        }[kind]
        lines += [f"{k}: {v}" for k, v in {"within": "3s", "settle": "0.4s", **extra}.items()]
        path = directory / f"verify-{kind}.yaml"
        path.write_text("\n".join(lines) + "\n")
        return path

    # --- the webhook ---------------------------------------------------------------------

    def _accept(self, body: bytes, authorization: str | None) -> tuple[int, dict[str, Any]]:
        try:
            doc = json.loads(body)
        except ValueError:
            return 400, {"error": "not JSON"}
        forged = self.auth is not None and authorization != self.auth
        if forged and "forged-stored" not in self.bugs:
            return 401, {"error": "unauthorized"}
        if "store-nothing" in self.bugs and not (isinstance(doc, dict) and doc.get("sessionId")):
            return 200, {"success": False, "message": "Missing call id"}
        item = (time.monotonic() + self.delay_s, doc)
        if "small-queue" in self.bugs:
            try:
                self._queue.put_nowait(item)
            except queue.Full:
                self.dropped += 1
        else:
            self._queue.put(item)
        if forged:
            return 401, {"error": "unauthorized"}
        self.acked += 1
        return 200, {"success": True}

    def _work(self) -> None:
        db = self._connect()
        if self.postgres is None:
            # WAL's usual setting: no fsync per commit, so storing keeps up with a burst.
            db.execute("PRAGMA synchronous=NORMAL")
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                due, doc = item
                wait = due - time.monotonic()
                if "small-queue" in self.bugs:
                    wait = self.delay_s  # a slow consumer: every item takes the full delay
                if wait > 0:
                    time.sleep(wait)
                try:
                    self._store(db, doc)
                except Exception:  # noqa: BLE001  (a receiver that drops what it cannot store)
                    db.rollback()
        finally:
            db.close()

    def _store(self, db: Any, doc: dict[str, Any]) -> None:
        body = doc["payload"]
        status = body.get("sessionStatus")
        if "status-wrong" in self.bugs and status in ("NO_ANSWER", "BUSY", "ERROR"):
            status = "COMPLETED"
        errors = body.get("errorDetails") or {}
        code = errors.get("errorCode")
        verb = "INSERT" if "duplicates-twice" in self.bugs else "INSERT OR IGNORE"
        conflict = ""
        if self.postgres is not None and verb == "INSERT OR IGNORE":
            conflict = " ON CONFLICT (session_id) DO NOTHING"
        cursor = db.execute(
            self._sql(
                f"{verb} INTO calls (session_id, sub_account_id, session_status, start_time, "
                "end_time, last_action, call_count, error_code, error_msg, client_request_id, "
                "stored_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" + conflict
            ),
            (
                body["sessionId"],
                body.get("subAccountId"),
                status,
                self._time(body.get("startTime")),
                self._time(body.get("endTime")),
                body.get("lastAction"),
                body.get("callCount"),
                int(code) if code is not None else None,
                errors.get("errorMsg"),
                body.get("clientRequestId"),
                datetime.now(UTC).isoformat(),
            ),
        )
        if cursor.rowcount == 1:
            for name, leg in (body.get("details") or {}).items():
                if "calla-lost" in self.bugs and not name.startswith("call"):
                    continue
                ref = leg.get("sourceRefId", leg.get("SourceRefId"))
                quality = leg.get("callQuality") or {}
                db.execute(
                    self._sql("INSERT INTO legs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                    (
                        body["sessionId"],
                        name[:1].lower() + name[1:],
                        leg.get("callId"),
                        leg.get("callDirection"),
                        leg.get("callStatus"),
                        ref if "null-string" in self.bugs else _null(ref),
                        _null(leg.get("destinationRefId")),
                        leg.get("callDuration"),
                        self._time(leg.get("connectedTimestamp")),
                        quality.get("mos"),
                    ),
                )
        db.commit()

    # --- the read-back -------------------------------------------------------------------

    def records(self, session_id: str) -> list[dict[str, Any]]:
        """Every stored record of the session, camelCase like an API would serve it."""
        with contextlib.closing(sqlite3.connect(self.db_path)) as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(SESSION_QUERY.replace(":sessionId", "?"), (session_id,)).fetchall()
            legs = db.execute(LEGS_QUERY.replace(":sessionId", "?"), (session_id,)).fetchall()
        leg_records = [
            {
                "key": leg["key"],
                "callId": leg["call_id"],
                "callDirection": leg["call_direction"],
                "callStatus": leg["call_status"],
                "sourceRefId": leg["source_ref_id"],
                "destinationRefId": leg["destination_ref_id"],
                "callDuration": leg["call_duration"],
                "connectedTimestamp": leg["connected_timestamp"],
                "mos": leg["mos"],
            }
            for leg in legs
        ]
        return [
            {
                "sessionId": row["session_id"],
                "subAccountId": row["sub_account_id"],
                "sessionStatus": row["session_status"],
                "startTime": row["start_time"],
                "endTime": row["end_time"],
                "lastAction": row["last_action"],
                "callCount": row["call_count"],
                "errorCode": row["error_code"],
                "errorMsg": row["error_msg"],
                "clientRequestId": row["client_request_id"],
                "legs": leg_records,
                "storedAt": "ignored by verification: not a canonical field",
            }
            for row in rows
        ]
