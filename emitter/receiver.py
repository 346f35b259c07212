"""The reference VSS receiver: validates each delivery, acks 200 or explains a 400, dedupes.

It is what a good receiver does, per 8x8's advice: answer 200 quickly to a valid summary, be
idempotent (8x8 says duplicate deliveries can occur; a sessionId seen and accepted before is
acked again but not processed twice), and refuse what it cannot use with a reason. It runs on
the standard library's threading HTTP server (HTTP/1.1 keep-alive, one thread per connection),
which is enough for the kit's demo, tests and a few thousand requests a second on loopback.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import socket
import socketserver
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any

from emitter import __version__
from emitter._payload import session_id_in
from emitter.contract import Finding, validate_bytes
from emitter.errors import UsageError

__all__ = [
    "Delivery",
    "ReceiverCounts",
    "ReferenceReceiver",
    "read_record",
    "run_until_signalled",
]

DEFAULT_BODY_CAP = 1 << 20
_IDLE_TIMEOUT_S = 30  # a keep-alive connection that says nothing for this long is closed
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]+")


@dataclass(frozen=True)
class Delivery:
    """One POST the receiver answered, as it judged it."""

    received_at: datetime
    session_id: str | None  # payload.sessionId, when the body had one
    status: int  # the HTTP status answered: 200, 400, 411 or 413
    duplicate: bool  # a sessionId already accepted: acked 200, not processed again
    findings: tuple[Finding, ...]  # contract problems (warnings on a 200, errors on a 400)
    path: str = "/"
    body: bytes = field(default=b"", repr=False)  # empty when the body was not read (413)
    # Kept in memory for tests of what a sender sent; never written to --record (credentials).
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @property
    def accepted(self) -> bool:
        return self.status == 200

    def record(self) -> dict[str, Any]:
        """The --record NDJSON object: no headers, the payload parsed when it is JSON.

        A body that is not strict JSON (not JSON, NaN or Infinity, nested too deep to parse)
        is recorded as text, so every line of the record stays valid JSON.
        """
        payload: Any = None
        if self.body:
            try:
                payload = json.loads(self.body, parse_constant=_no_constant)
            except (ValueError, RecursionError):
                payload = self.body.decode("utf-8", errors="replace")
        return {
            "received_at": _iso(self.received_at),
            "session_id": self.session_id,
            "status": self.status,
            "duplicate": self.duplicate,
            "findings": [asdict(f) for f in self.findings],
            "path": self.path,
            "payload": payload,
        }

    def line(self) -> str:
        """The one-line log form: time, status, sessionId, duplicate marker, first problem."""
        parts = [_iso(self.received_at), str(self.status), self.session_id or "-"]
        if self.duplicate:
            parts.append("duplicate")
        if self.findings:
            first = self.findings[0]
            more = f" (+{len(self.findings) - 1} more)" if len(self.findings) > 1 else ""
            parts.append(f"{first.severity}: {first.path}: {first.message}{more}")
        return "  ".join(parts)


@dataclass(frozen=True)
class ReceiverCounts:
    """Totals since the receiver started (not bounded by how many deliveries are kept)."""

    deliveries: int = 0
    accepted: int = 0  # 200s, duplicates included
    rejected: int = 0  # 400, 411, 413
    duplicates: int = 0

    def line(self) -> str:
        noun = "delivery" if self.deliveries == 1 else "deliveries"
        return (
            f"{self.deliveries} {noun}: {self.accepted} accepted, {self.rejected} rejected, "
            f"{self.duplicates} duplicate{'' if self.duplicates == 1 else 's'}"
        )


class ReferenceReceiver:
    """The reference receiver, run in a background thread; a context manager.

    `.url` accepts POST on any path. `.deliveries` is a thread-safe snapshot of the last
    `keep` deliveries; `.counts` counts all of them. A delivery is recorded (and logged)
    before it is answered, so once a sender has its ack the delivery is visible here.
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
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> ReferenceReceiver:
        """Bind and serve in a background thread. UsageError if the address cannot be used."""
        if self._server is not None:
            return self
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
            server = _Server(self)
        except OSError as exc:
            self._close_record()
            raise UsageError(
                f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}; "
                "expected a free port on a local address, e.g. --port 0 for any free port"
            ) from None
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"vss-receiver:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open keep-alive connections and the record file. Idempotent."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._close_record()

    def __enter__(self) -> ReferenceReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

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
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    @property
    def counts(self) -> ReceiverCounts:
        with self._lock:
            return self._counts

    def clear(self) -> None:
        """Forget every delivery and every sessionId seen (a fresh receiver, same socket)."""
        with self._lock:
            self._deliveries.clear()
            self._seen.clear()
            self._counts = ReceiverCounts()

    # ----------------------------------------------------------------- handling

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
                # Two copies racing in on two connections: the second one to get here is the
                # duplicate, so the delivery is still processed exactly once.
                duplicate = session_id in self._seen
                self._seen.add(session_id)
        return 200, session_id, duplicate, () if duplicate else findings

    def _note(self, delivery: Delivery) -> None:
        with self._lock:
            self._deliveries.append(delivery)
            c = self._counts
            self._counts = ReceiverCounts(
                deliveries=c.deliveries + 1,
                accepted=c.accepted + (delivery.status == 200),
                rejected=c.rejected + (delivery.status != 200),
                duplicates=c.duplicates + delivery.duplicate,
            )
            if self._record is not None:
                self._record.write(_json_text(delivery.record()) + "\n")
            if self._log is not None:
                self._log(_printable(delivery.line()))

    def _say(self, text: str) -> None:
        if self._log is not None:
            with self._lock:
                self._log(_printable(text))

    def _close_record(self) -> None:
        if self._record is not None:
            with self._lock:
                self._record.close()
                self._record = None


def run_until_signalled(
    receiver: ReferenceReceiver, *, on_ready: Callable[[str], None] | None = None
) -> ReceiverCounts:
    """Serve until SIGINT (Ctrl-C) or SIGTERM, then stop cleanly; returns the final counts.

    Must run in the main thread (signal handlers); the previous handlers are restored.
    """
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        receiver.start()
        if on_ready is not None:
            on_ready(receiver.url)
        while not stopping.wait(0.2):
            pass
    finally:
        receiver.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return receiver.counts


# --------------------------------------------------------------------------- HTTP plumbing


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # bursts of new connections from a load run are not refused
    allow_reuse_address = True

    def __init__(self, receiver: ReferenceReceiver) -> None:
        self.receiver = receiver
        self._conn_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        if ":" in receiver.host:
            self.address_family = socket.AF_INET6
        super().__init__((receiver.host, receiver.port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN (a reverse DNS query that can hang
        # for seconds on a machine without DNS); the receiver never needs it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def track(self, conn: socket.socket, *, open_: bool) -> None:
        with self._conn_lock:
            if open_:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_connections(self) -> None:
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that disconnects mid-request is routine for a webhook receiver under load:
        # never a traceback. Anything else is one line on the log.
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError) or exc is None:
            return
        self.receiver._say(f"receiver error from {client_address[0]}: {type(exc).__name__}: {exc}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: senders reuse connections
    server_version = f"vss-emitter-receiver/{__version__}"
    sys_version = ""
    disable_nagle_algorithm = True  # headers and body go in two writes; no 40 ms Nagle stall
    timeout = _IDLE_TIMEOUT_S
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, open_=True)

    def finish(self) -> None:
        self.server.track(self.connection, open_=False)
        with contextlib.suppress(OSError):
            super().finish()

    def do_POST(self) -> None:
        receiver = self.server.receiver
        received_at = datetime.now(UTC)
        body = self._read_body(receiver)
        if body is None:
            return
        try:
            status, session_id, duplicate, findings = receiver._judge(body)
        except Exception as exc:  # noqa: BLE001 - a validator bug must answer 500, not hang up
            receiver._say(f"receiver error: {type(exc).__name__}: {exc}")
            self._answer(500, {"status": "error", "error": f"{type(exc).__name__}: {exc}"})
            return
        delivery = Delivery(
            received_at=received_at,
            session_id=session_id,
            status=status,
            duplicate=duplicate,
            findings=findings,
            path=self.path,
            body=body,
            headers=tuple(self.headers.items()),
        )
        receiver._note(delivery)
        answer: dict[str, Any] = {
            "status": "accepted" if status == 200 else "rejected",
            "sessionId": session_id,
        }
        if status == 200:
            answer["duplicate"] = duplicate
        answer["findings"] = [asdict(f) for f in findings]
        self._answer(status, answer)

    def _read_body(self, receiver: ReferenceReceiver) -> bytes | None:
        """The request body, or None when an answer (411, 413, 400) was already sent."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(receiver)
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            self._refuse(receiver, 411, "a Content-Length header is required")
            return None
        try:
            length = int(raw_length)
            if length < 0:
                raise ValueError(raw_length)
        except ValueError:
            self._refuse(receiver, 400, f"Content-Length {raw_length!r} is not a byte count")
            return None
        if length > receiver.body_cap:
            # Decided from the header alone: a huge body is never read.
            self._refuse(
                receiver, 413, f"body of {length} bytes exceeds the {receiver.body_cap}-byte cap"
            )
            return None
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True  # the sender went away mid-body: nothing to answer
            return None
        return body

    def _read_chunked(self, receiver: ReferenceReceiver) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            line = self.rfile.readline(1024)
            # Only plain hex counts as a chunk size: int(b"-1", 16) and int(b"0x10", 16) are
            # accepted by Python, and a negative size would read to EOF past --body-cap.
            digits = line.split(b";", 1)[0].strip()
            if not line.endswith(b"\n") or _CHUNK_SIZE.fullmatch(digits) is None:
                self._refuse(receiver, 400, "malformed chunked body: bad chunk size line")
                return None
            chunk_size = int(digits, 16)
            if chunk_size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            size += chunk_size
            if size > receiver.body_cap:
                self._refuse(
                    receiver, 413, f"body exceeds the {receiver.body_cap}-byte cap (chunked)"
                )
                return None
            chunk = self.rfile.read(chunk_size)
            if len(chunk) < chunk_size:
                self.close_connection = True  # the sender went away mid-body: nothing to answer
                return None
            chunks.append(chunk)
            if self.rfile.readline(1024) not in (b"\r\n", b"\n"):
                self._refuse(receiver, 400, "malformed chunked body: no line break after a chunk")
                return None

    def _refuse(self, receiver: ReferenceReceiver, status: int, message: str) -> None:
        # The unread body makes the connection unusable for a next request: close it.
        self.close_connection = True
        receiver._note(
            Delivery(
                received_at=datetime.now(UTC),
                session_id=None,
                status=status,
                duplicate=False,
                findings=(Finding("$", message, "error", "http"),),
                path=self.path,
                headers=tuple(self.headers.items()),
            )
        )
        self._answer(status, {"status": "rejected", "error": message})

    def _not_allowed(self) -> None:
        self.server.receiver._say(f"{_iso(datetime.now(UTC))}  405  {self.command} {self.path}")
        self.close_connection = True
        body = {"status": "rejected", "error": f"{self.command} is not allowed; POST a payload"}
        self._answer(405, body, extra=(("Allow", "POST"),))

    def __getattr__(self, name: str) -> Any:
        # http.server answers 501 without an Allow header to a method it has no do_X for
        # (TRACE, CONNECT, anything made up); every method but POST gets the same 405.
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def _answer(
        self, status: int, body: dict[str, Any], *, extra: tuple[tuple[str, str], ...] = ()
    ) -> None:
        data = _json_text(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        # The receiver logs one line per delivery itself; http.server's access log is noise.
        return

    def handle(self) -> None:
        with contextlib.suppress(ConnectionError, TimeoutError):
            super().handle()


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_text(document: Any) -> str:
    """JSON text that always encodes as UTF-8: readable non-ASCII, \\u escapes when needed."""
    text = json.dumps(document, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate ("\ud800" in the body) is valid JSON but not UTF-8: only an
        # escape can carry it, into the answer and the record alike.
        text = json.dumps(document, ensure_ascii=True)
    return text


# C0/C1 control characters and DEL: a body's "\u001b[2J" must not drive the terminal.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    """A log line safe for any terminal: control characters and lone surrogates escaped."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def read_record(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a --record NDJSON file, in order."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)
