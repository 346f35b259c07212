"""The reference receiver's store: each accepted session's canonical record, once, in SQLite (WAL).

One writer thread owns the database connection and works through one queue in order: records
handed over after their ack, then read-backs and clears. So processing never delays an ack, and
a read-back asked after an ack is answered after that ack's record is written. A sessionId is
the primary key and records are inserted with INSERT OR IGNORE: a redelivery never makes a
second record, and the first delivery's reading is the one kept (what an idempotent receiver
does, since 8x8 may deliver a session more than once).
"""

from __future__ import annotations

import asyncio
import json
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from emitter._canonical import canonical_bytes
from emitter.errors import UsageError
from emitter.receiver._model import json_text

MEMORY = ":memory:"
_BATCH = 512  # records written per transaction at most: one commit for a burst, not one each
_COLUMNS = ["session_id", "record", "received_at"]
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id  TEXT PRIMARY KEY,   -- payload.sessionId as delivered
    record      TEXT NOT NULL,      -- the canonical record (emitter.canonical), JSON
    received_at TEXT NOT NULL       -- when the first delivery of the session was acked (UTC)
)
"""
_EXAMPLE = "e.g. --store calls.db (a new or existing store file) or --store :memory:"

T = TypeVar("T")


@dataclass(frozen=True)
class _Record:
    session_id: str
    body: bytes
    received_at: str


@dataclass(frozen=True)
class _Call:
    fn: Callable[[sqlite3.Connection], Any]
    future: Future[Any]


class SessionStore:
    """Canonical session records in SQLite (a file in WAL mode, or ':memory:'); thread-safe."""

    def __init__(self, path: str | Path, *, on_error: Callable[[str], None] | None = None) -> None:
        self.path = str(path)
        self._on_error = on_error
        self._jobs: queue.SimpleQueue[_Record | _Call | None] = queue.SimpleQueue()
        self._db: sqlite3.Connection | None = None
        self._thread: threading.Thread | None = None
        self._size = 0

    @property
    def size(self) -> int:
        """How many sessions the store holds (as of the last write; also after close)."""
        return self._size

    # ----------------------------------------------------------------- lifecycle

    def open(self) -> set[str]:
        """Open (or create) the store; returns the sessionIds it already holds.

        UsageError, naming the file, when it cannot be opened or is not a store.
        """
        if self._db is not None:
            return set()
        folder = Path(self.path).parent
        if self.path != MEMORY and not folder.is_dir():
            # As for every file the kit writes (--report-json, --html, --record, -o): a missing
            # folder is refused, never made (a typo must not grow a folder tree). SQLite alone
            # would only say "unable to open database file".
            found = "is not a folder" if folder.exists() else "does not exist"
            raise UsageError(
                f"cannot open --store {self.path!r}: its folder {str(folder)!r} {found}; {_EXAMPLE}"
            )
        try:
            # The connection is made here and then used by the writer thread alone.
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            raise UsageError(f"cannot open --store {self.path!r}: {exc}; {_EXAMPLE}") from None
        try:
            db.execute("PRAGMA busy_timeout = 5000")  # another process reading it (sqlite3 CLI)
            if self.path != MEMORY:
                # WAL: readers (the user's own SQL) never block the writer, nor it them.
                # synchronous=NORMAL is durable across a crash of the process in WAL mode.
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = NORMAL")
            db.execute(_SCHEMA)
            columns = [row[1] for row in db.execute("PRAGMA table_info(sessions)")]
            if columns != _COLUMNS:
                raise UsageError(
                    f"cannot use --store {self.path!r}: its table `sessions` has columns "
                    f"{', '.join(columns)}, not {', '.join(_COLUMNS)} (not a vss-emitter store); "
                    f"{_EXAMPLE}"
                )
            held = {row[0] for row in db.execute("SELECT session_id FROM sessions")}
        except sqlite3.Error as exc:
            db.close()
            raise UsageError(f"cannot use --store {self.path!r}: {exc}; {_EXAMPLE}") from None
        except UsageError:
            db.close()
            raise
        self._db = db
        self._size = len(held)
        self._thread = threading.Thread(target=self._work, name="vss-receiver-store", daemon=True)
        self._thread.start()
        return held

    def close(self) -> None:
        """Write every record handed over so far, then close. Idempotent."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(None)
            thread.join()
        if self._db is not None:
            self._db.close()
            self._db = None

    # ----------------------------------------------------------------- writing

    def submit(self, session_id: str, body: bytes) -> None:
        """Hand over an acked delivery; its canonical record is written soon, in order."""
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self._jobs.put(_Record(session_id, body, stamp))

    def clear(self) -> None:
        """Forget every stored session (after everything handed over before)."""
        self._call(_delete_all).result()
        self._size = 0

    # ----------------------------------------------------------------- reading

    def records(self, session_id: str) -> list[dict[str, Any]]:
        """Every record stored for `session_id` (at most one), after what was handed over."""
        return self._call(lambda db: _select(db, session_id)).result()

    async def records_async(self, session_id: str) -> list[dict[str, Any]]:
        """`records` for the event loop: waits without blocking it."""
        return await asyncio.wrap_future(self._call(lambda db: _select(db, session_id)))

    # ----------------------------------------------------------------- the writer thread

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> Future[T]:
        future: Future[T] = Future()
        if self._thread is None:
            future.set_exception(UsageError(f"the store {self.path!r} is not open"))
        else:
            self._jobs.put(_Call(fn, future))
        return future

    def _work(self) -> None:
        db = self._db
        assert db is not None
        while True:
            job = self._jobs.get()
            batch: list[_Record | _Call | None] = [job]
            while job is not None and len(batch) < _BATCH:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                batch.append(job)
            records: list[_Record] = []
            for item in batch:
                if isinstance(item, _Record):
                    records.append(item)
                    continue
                # Everything handed over before a read-back or a stop is written first.
                self._write(db, records)
                records = []
                if item is None:
                    return
                self._run(db, item)
            self._write(db, records)

    def _write(self, db: sqlite3.Connection, records: list[_Record]) -> None:
        rows = []
        for item in records:
            try:
                record = canonical_bytes(item.body)
            except Exception as exc:  # noqa: BLE001 - one unreadable body must not stop the store
                self._error(f"store: session {item.session_id!r} not stored: {exc}")
                continue
            rows.append((item.session_id, json_text(record), item.received_at))
        if not rows:
            return
        try:
            with db:  # one transaction
                db.execute("BEGIN")
                cursor = db.executemany(
                    "INSERT OR IGNORE INTO sessions (session_id, record, received_at) "
                    "VALUES (?, ?, ?)",
                    rows,
                )
            self._size += max(cursor.rowcount, 0)  # rows inserted: redeliveries are ignored
        except (sqlite3.Error, UnicodeEncodeError) as exc:
            self._error(f"store: {len(rows)} session(s) not stored in {self.path!r}: {exc}")

    def _run(self, db: sqlite3.Connection, call: _Call) -> None:
        if not call.future.set_running_or_notify_cancel():
            return
        try:
            call.future.set_result(call.fn(db))
        except Exception as exc:  # noqa: BLE001 - handed to whoever waits on the future
            call.future.set_exception(exc)

    def _error(self, text: str) -> None:
        if self._on_error is not None:
            self._on_error(text)


def _select(db: sqlite3.Connection, session_id: str) -> list[dict[str, Any]]:
    rows = db.execute("SELECT record FROM sessions WHERE session_id = ?", (session_id,))
    return [json.loads(row[0]) for row in rows]


def _delete_all(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM sessions")
