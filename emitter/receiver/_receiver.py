"""The reference receiver's lifecycle and state: judging deliveries, dedupe, counts, start/stop.

It serves on aiohttp (emitter/receiver/_http.py) in an event loop of its own (uvloop where
installed): in a background thread for tests and the demo (`start()` / a `with` block), or in
the calling thread for `vss-emitter serve` (`run_until_signalled`, SIGINT/SIGTERM stop it).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from aiohttp import web

from emitter._payload import session_id_in
from emitter._redact import printable
from emitter.contract import Finding, validate_bytes
from emitter.errors import UsageError
from emitter.receiver._http import READ_BACK_PREFIX, build_server
from emitter.receiver._model import Delivery, ReceiverCounts, json_text
from emitter.receiver._store import SessionStore

DEFAULT_BODY_CAP = 1 << 20
_STOP_GRACE_S = 3.0  # how long a stop waits for requests in progress before closing them


class ReferenceReceiver:
    """The reference receiver; a context manager that serves in a background thread.

    `.url` accepts POST on any path. `.deliveries` is a thread-safe snapshot of the last
    `keep` deliveries; `.counts` counts all of them. A delivery is recorded (and logged)
    before it is answered, so once a sender has its ack the delivery is visible here.

    With `store` (a SQLite file, or ":memory:") each accepted session's canonical record is
    kept once, after its ack, and read back with `.stored(session_id)` or over HTTP at
    `GET {url}vss/sessions/{sessionId}` (a JSON array: one record, or none).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        record: Path | None = None,
        body_cap: int = DEFAULT_BODY_CAP,
        strict: bool = False,
        log: Callable[[str], None] | None = None,
        keep: int = 100_000,
        store: str | Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.record_path = record
        self.body_cap = body_cap
        self.strict = strict
        self._log = log
        self._lock = threading.Lock()
        self._deliveries: deque[Delivery] = deque(maxlen=keep)
        self._seen: set[str] = set()
        self._counts = ReceiverCounts()
        self._record: IO[str] | None = None
        self.store: SessionStore | None = (
            None if store is None else SessionStore(store, on_error=self._say)
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.ServerRunner | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> ReferenceReceiver:
        """Bind and serve in a background thread. UsageError if the address cannot be used."""
        if self._loop is not None:
            return self
        loop = _new_loop()
        try:
            self._open(loop)
        except BaseException:
            loop.close()
            raise
        self._thread = threading.Thread(
            target=loop.run_forever, name=f"vss-receiver:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: finish requests in progress, close connections, the store, the record.

        Idempotent; callable from any thread but the receiver's own.
        """
        loop, self._loop = self._loop, None
        if loop is None:
            return
        if self._thread is not None:
            future = asyncio.run_coroutine_threadsafe(self._close_server(), loop)
            future.result(timeout=_STOP_GRACE_S + 5)
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout=5)
            self._thread = None
        else:
            loop.run_until_complete(self._close_server())
        loop.close()
        self._close_files()

    def __enter__(self) -> ReferenceReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _open(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.record_path is not None:
            try:
                # Line-buffered and flushed per delivery: `tail -f` sees each one at once.
                self._record = open(self.record_path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
            except OSError as exc:
                raise UsageError(
                    f"cannot write --record {str(self.record_path)!r}: {exc.strerror}; "
                    "expected a writable file path, e.g. --record deliveries.ndjson"
                ) from None
        try:
            if self.store is not None:
                # A restarted receiver still knows what it stored: a redelivery is a duplicate.
                self._seen |= self.store.open()
            loop.run_until_complete(self._listen())
        except OSError as exc:
            self._close_files()
            raise UsageError(
                f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}; "
                "expected a free port on a local address, e.g. --port 0 for any free port"
            ) from None
        except BaseException:
            self._close_files()
            raise
        self._loop = loop

    async def _listen(self) -> None:
        runner = web.ServerRunner(
            build_server(self), handle_signals=False, shutdown_timeout=_STOP_GRACE_S
        )
        await runner.setup()
        # backlog: bursts of new connections from a load run are not refused.
        site = web.TCPSite(runner, self.host, self.port, backlog=1024, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def _close_server(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def _close_files(self) -> None:
        if self.store is not None:
            self.store.close()  # every record acked so far is written first
        if self._record is not None:
            with self._lock:
                self._record.close()
                self._record = None

    # ----------------------------------------------------------------- state

    @property
    def url(self) -> str:
        # A wildcard bind is reached on loopback; the URL must be one a client can connect to.
        wildcard = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}  # noqa: S104
        host = wildcard.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    @property
    def read_back_url(self) -> str:
        """The read-back URL template: `{sessionId}` is the session to read (needs a store)."""
        return self.url.rstrip("/") + READ_BACK_PREFIX + "{sessionId}"

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    @property
    def counts(self) -> ReceiverCounts:
        with self._lock:
            return self._counts

    def stored(self, session_id: str) -> list[dict[str, Any]]:
        """The canonical records stored for a session (at most one), as the read-back path gives.

        Waits for every delivery acked before the call to be processed. UsageError without a store.
        """
        if self.store is None:
            raise UsageError("this receiver keeps no records: start it with store=':memory:'")
        return self.store.records(session_id)

    def clear(self) -> None:
        """Forget every delivery, every sessionId seen and every stored record (same socket)."""
        with self._lock:
            self._deliveries.clear()
            self._seen.clear()
            self._counts = ReceiverCounts()
        if self.store is not None and self._loop is not None:
            self.store.clear()

    # ----------------------------------------------------------------- judging (event loop)

    def _judge(self, body: bytes) -> tuple[int, str | None, bool, tuple[Finding, ...]]:
        session_id = session_id_in(body)
        if session_id is not None:
            with self._lock:
                if session_id in self._seen:
                    return 200, session_id, True, ()
        findings = tuple(validate_bytes(body, strict=self.strict))
        # Default mode: only schema errors reject (lint warnings still get their 200).
        # --strict: every finding rejects, whatever severity the validator gave it.
        rejecting = findings if self.strict else [f for f in findings if f.severity == "error"]
        if rejecting:
            return 400, session_id, False, findings
        duplicate = False
        if session_id is not None:
            with self._lock:
                # Checked again under the lock: of two copies judged at once, the second to
                # get here is the duplicate, so the session is still processed exactly once.
                duplicate = session_id in self._seen
                self._seen.add(session_id)
        return 200, session_id, duplicate, () if duplicate else findings

    def _note(self, delivery: Delivery) -> None:
        with self._lock:
            self._deliveries.append(delivery)
            self._counts = self._counts.plus(delivery)
            if self._record is not None:
                self._record.write(json_text(delivery.record()) + "\n")
            if self._log is not None:
                self._log(printable(delivery.line()))

    def _say(self, text: str) -> None:
        if self._log is not None:
            with self._lock:
                self._log(printable(text))


def run_until_signalled(
    receiver: ReferenceReceiver, *, on_ready: Callable[[str], None] | None = None
) -> ReceiverCounts:
    """Serve in the calling thread until SIGINT (Ctrl-C) or SIGTERM, then stop cleanly.

    Returns the final counts. Must run in the main thread (signal handlers); the previous
    handlers are restored.
    """
    loop = _new_loop()
    try:
        receiver._open(loop)
    except BaseException:
        loop.close()
        raise
    stopping = asyncio.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for sig in previous:
            try:
                loop.add_signal_handler(sig, stopping.set)
            except NotImplementedError:  # Windows' event loops: a plain handler wakes the loop
                signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stopping.set))
        if on_ready is not None:
            on_ready(receiver.url)
        loop.run_until_complete(stopping.wait())
    finally:
        for sig, handler in previous.items():
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
            signal.signal(sig, handler)
        receiver.stop()
    return receiver.counts


def _new_loop() -> asyncio.AbstractEventLoop:
    """An event loop of the receiver's own: uvloop where installed (faster), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop
