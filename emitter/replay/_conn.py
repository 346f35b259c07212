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
import errno
import socket
import ssl
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import httptools

from emitter.deliver import Outcome

if TYPE_CHECKING:
    from emitter.replay._engine import Job

# (connection, outcome, status, reason); outcome None means "answered": classify the status.
Done = Callable[["Conn", Outcome | None, int | None, str], None]

_RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED})


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
    """One connection; carries at most one request at a time (no pipelining)."""

    __slots__ = (
        "_complete",
        "_eof_body",
        "_headers_done",
        "_keep",
        "_status",
        "connecting",
        "deadline",
        "done",
        "heard",
        "job",
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
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._answered(keep=False)
            return
        except httptools.HttpParserError as exc:
            self.abort()
            self.done(self, Outcome.NOT_HTTP, None, f"not an HTTP answer: {exc}")
            return
        if self._complete:
            # Handled here, not in the parser's callback: the engine may send the next
            # request on this connection, and an error it raised would pass for a parse error.
            self._answered(keep=self._keep)

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if self.job is None:
            return
        if self._headers_done and self._eof_body and exc is None and self._status is not None:
            self.done(self, None, self._status, "")  # an answer delimited by the close
            return
        if exc is None:
            reason = (
                "the receiver closed the connection mid-answer"
                if self._headers_done
                else "the receiver closed the connection without answering"
            )
        else:
            reason = f"connection reset: {_text(exc)}"
        self.done(self, Outcome.RESET, None, reason)

    # ---- httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name)
        if size == 14 or size == 17:  # cheaper than a set lookup
            lower = name.lower()
            if lower == b"content-length" or lower == b"transfer-encoding":
                self._eof_body = False

    def on_headers_complete(self) -> None:
        self._status = self.parser.get_status_code()
        self._headers_done = True

    def on_message_complete(self) -> None:
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
        self.done(self, None, self._status, "")


def connect_failure(exc: BaseException) -> tuple[Outcome, str]:
    """The Outcome and reason of a failed connect (refused, DNS, TLS, reset, other)."""
    for link in _causes(exc):
        if isinstance(link, ssl.SSLError | ssl.CertificateError):
            return Outcome.TLS, f"TLS handshake failed: {_text(link)}"
        if isinstance(link, socket.gaierror):
            return Outcome.DNS, f"host name did not resolve: {_text(link)}"
        if isinstance(link, ConnectionRefusedError):
            return Outcome.REFUSED, f"connection refused: {_text(link)}"
        if isinstance(link, ConnectionResetError | BrokenPipeError | ConnectionAbortedError) or (
            isinstance(link, OSError) and link.errno in _RESET_ERRNOS
        ):
            return Outcome.RESET, f"connection reset: {_text(link)}"
        if isinstance(link, TimeoutError):
            return Outcome.TIMEOUT, "no answer within the deadline"
    return Outcome.ERROR, f"{type(exc).__name__}: {_text(exc)}"


def classify_exception(exc: BaseException) -> Outcome:
    """The Outcome of a transport failure the engine met (socket, TLS and timeout errors)."""
    return connect_failure(exc)[0]


def _text(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__
