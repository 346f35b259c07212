"""One keep-alive HTTP/1.1 connection of the replay engine: send a POST, parse, classify.

The engine owns no request or response objects: a connection is an asyncio.Protocol with the
request prefix built once, an httptools (llhttp) response parser, and a callback into the engine
when the answer is complete or the attempt failed. Measured on this kit's 2-core benchmark
machine, aiohttp spent ~70% of replay's CPU on its per-request objects; this path does a few
Python calls per request (see bench/README.md for the alternatives measured).
"""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import httptools

from emitter._outcomes import Fault, Outcome, classify_os_error, closed_fault

if TYPE_CHECKING:
    from emitter._pacing import Slot
    from emitter.sources import Item

# (connection, fault, status); fault None means "answered": the engine classifies the status.
Done = Callable[["Conn", Fault | None, int | None], None]


class Job:
    """One attempt to come: the payload, when it is due, which attempt.

    `scheduled` is when the payload's first attempt was due: every attempt's latency from
    the schedule counts from it, so the wait for retries shows. `due` is when this attempt
    falls due (a retry: the failed answer plus the delay); the sender's lag counts from it.
    """

    __slots__ = ("attempt", "due", "item", "last", "late", "resent", "scheduled", "sent", "slot")

    def __init__(
        self,
        item: Item,
        scheduled: float,
        attempt: int,
        slot: Slot | None,
        due: float | None = None,
    ) -> None:
        self.item = item
        self.scheduled = scheduled
        self.due = scheduled if due is None else due
        self.attempt = attempt
        self.slot = slot
        self.sent = 0.0
        self.late = False
        self.resent = False  # sent again after a kept-alive connection closed under it
        self.last = ""  # the outcome of the previous attempt (a retry's fallback)


class Target:
    """Where every request goes and the bytes that start each one, built once per run."""

    def __init__(self, url: str, headers: dict[str, str], tls: ssl.SSLContext | None) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.tls = tls if parts.scheme == "https" else None
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        default_port = (parts.scheme == "https" and self.port == 443) or (
            parts.scheme == "http" and self.port == 80
        )
        host = f"[{self.host}]" if ":" in self.host else self.host
        authority = host if default_port else f"{host}:{self.port}"
        lines = [f"POST {path} HTTP/1.1", f"Host: {authority}"]
        names = {name.lower() for name in headers}
        if parts.username is not None and "authorization" not in names:
            # Credentials in the URL become Basic auth, as every HTTP client does; a configured
            # Authorization header (8x8's httpAuthHeader) wins over them.
            user = unquote(parts.username)
            password = unquote(parts.password or "")
            token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            lines.append(f"Authorization: Basic {token}")
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        if "accept" not in names:
            lines.append("Accept: */*")
        lines.append("Content-Length: ")
        self.prefix = "\r\n".join(lines).encode("latin-1")


class Conn(asyncio.Protocol):
    """One connection; carries at most one request at a time (no pipelining).

    `known_ack` (shared by every connection) holds the bytes of the last answer that came in
    one piece and parsed as a whole plain ack: one message, 200, keep-alive, framed by its
    length. The same bytes again are that same answer, for llhttp starts every answer from the
    same state, so they are taken as it without parsing: a receiver's acks are byte-identical
    (or change once a second, with a Date header), and parsing was a fifth of the engine's
    time per request. Any other answer is parsed.
    """

    known_ack = b""  # none yet: data_received is never handed empty bytes

    __slots__ = (
        "_begun",
        "_complete",
        "_ended",
        "_eof_body",
        "_headers_done",
        "_inside",
        "_keep",
        "_status",
        "connecting",
        "deadline",
        "done",
        "heard",
        "job",
        "location",
        "open",
        "parser",
        "reused",
        "transport",
    )

    def __init__(self, done: Done) -> None:
        self.done = done
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.job: Job | None = None
        self.deadline = 0.0
        self.open = False
        self.connecting: asyncio.Task[Any] | None = None
        self._status: int | None = None
        self._headers_done = False
        self._eof_body = True  # an answer with neither Content-Length nor chunking ends at EOF
        self._complete = False
        self._keep = False
        self._begun = self._ended = 0  # messages begun / ended in the chunk being parsed
        self._inside = 0  # messages begun and not ended: 0 when llhttp waits for a new one
        self.location: str | None = None  # the answer's Location header (a redirect's target)
        self.reused = False  # it carried an earlier request
        self.heard = False  # a byte of the current answer arrived

    # ---- the engine's side

    def send(self, job: Job, prefix: bytes) -> None:
        body = job.item.body
        assert body is not None
        assert self.transport is not None
        self._status = None
        self._headers_done = False
        self._eof_body = True
        self._complete = False
        self.heard = False
        self.location = None
        self.transport.write(b"%b%d\r\n\r\n%b" % (prefix, len(body), body))

    def abort(self) -> None:
        self.open = False
        if self.transport is not None:
            self.transport.abort()

    # ---- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        self.open = True
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if self.job is None:
            self.abort()  # bytes nobody asked for: this connection cannot be trusted again
            return
        self.heard = True
        if data == Conn.known_ack and not self._inside:
            self._status = 200
            self._headers_done = True
            self.reused = True
            self.done(self, None, 200)
            return
        self._begun = self._ended = 0
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._answered(keep=False)
            return
        except httptools.HttpParserError as exc:
            self.abort()
            status = self._status if self._headers_done else None
            fault = classify_os_error(exc, timeout_s=0.0, status=status, not_http=True, received=1)
            self.done(self, fault, None)
            return
        self._inside += self._begun - self._ended
        if self._complete:
            if (
                self._begun == 1
                and self._ended == 1
                and not self._inside
                and self._keep
                and self._status == 200
                and not self._eof_body
                and self.location is None
            ):
                Conn.known_ack = data  # the whole of one plain ack, from its first byte
            # Handled here, not in the parser's callback: the engine may send the next
            # request on this connection, and an error it raised would pass for a parse error.
            self._answered(keep=self._keep)

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if self.job is None:
            return
        status = self._status if self._headers_done else None
        if self._headers_done and self._eof_body and exc is None:
            self.done(self, None, status)  # an answer delimited by the close
            return
        if exc is None:
            self.done(self, closed_fault(status=status), None)
        else:
            self.done(self, classify_os_error(exc, timeout_s=0.0, status=status), None)

    def answer_status(self) -> int | None:
        """The status of the answer under way, once its head has come."""
        return self._status if self._headers_done else None

    # ---- httptools callbacks

    def on_message_begin(self) -> None:
        self._begun += 1

    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name)
        if size == 14 or size == 17:  # cheaper than a set lookup
            lower = name.lower()
            if lower == b"content-length" or lower == b"transfer-encoding":
                self._eof_body = False
        elif size == 8 and name.lower() == b"location":
            self.location = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._status = self.parser.get_status_code()
        self._headers_done = True

    def on_message_complete(self) -> None:
        self._ended += 1
        status = self._status
        if status is not None and 100 <= status < 200 and status != 101:
            # An interim answer (100 Continue, 103 Early Hints): the final one follows.
            self._headers_done = False
            self._eof_body = True
            return
        self._complete = True
        # Asked here: once feed_data() returns, llhttp has reset and no longer knows.
        self._keep = status != 101 and self.parser.should_keep_alive()

    def _answered(self, *, keep: bool) -> None:
        self._complete = False
        self.reused = True
        if not keep:
            self.open = False
            if self.transport is not None:
                self.transport.close()
        self.done(self, None, self._status)


def connect_failure(exc: BaseException, *, timeout_s: float) -> Fault:
    """The Fault of a failed connect (refused, DNS, TLS, reset, other), from the kit's table."""
    return classify_os_error(exc, timeout_s=timeout_s)


def classify_exception(exc: BaseException) -> Outcome:
    """The Outcome of a transport failure the engine met (socket, TLS and timeout errors)."""
    return classify_os_error(exc, timeout_s=0.0).outcome


__all__ = ["Conn", "Job", "Target", "classify_exception", "connect_failure"]
