"""The ack deadline for httpx: a transport whose socket operations share one per-delivery budget.

httpx only offers per-operation timeouts; a receiver that trickles one byte a second would
never time out. This transport runs httpcore's connection pool on network streams that read a
per-delivery budget (a context variable set by emitter.deliver) and cut every socket operation
to what is left of it. The same streams count the bytes that came and keep the first ones, which
is how a peer that answered something (not HTTP) is told from one that answered nothing.

Adapted from httpx 0.28.1 (`httpx/_transports/default.py`: `HTTPTransport.handle_request`, the
`map_httpcore_exceptions` table and `ResponseStream`) and httpcore 1.0.9
(`httpcore/_backends/base.py`: the `NetworkStream` / `NetworkBackend` interface, wrapping
`httpcore/_backends/sync.py`'s `SyncBackend`), both
BSD-3-Clause, Copyright (c) 2019 Encode OSS Ltd. Re-check these when upgrading either library:
they rely on httpcore's backend interface and httpx's transport contract.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

HEAD_KEPT = 64  # first bytes of an answer kept to show what a non-HTTP peer said
_WRITE_SLICE = 64 * 1024


@dataclass
class Budget:
    """What is left of one delivery's deadline, and what the peer has said so far."""

    deadline: float
    received: int = 0
    head: bytes = b""


BUDGET: ContextVar[Budget | None] = ContextVar("vss_emitter_budget", default=None)


def _left(timeout: float | None, expired: type[Exception]) -> float | None:
    budget = BUDGET.get()
    if budget is None:
        return timeout
    left = budget.deadline - time.monotonic()
    if left <= 0:
        raise expired("the ack deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = self._inner.read(max_bytes, timeout=_left(timeout, httpcore.ReadTimeout))
        budget = BUDGET.get()
        if budget is not None and data:
            budget.received += len(data)
            if len(budget.head) < HEAD_KEPT:
                budget.head += data[: HEAD_KEPT - len(budget.head)]
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        for start in range(0, len(buffer), _WRITE_SLICE):
            piece = buffer[start : start + _WRITE_SLICE]
            self._inner.write(piece, timeout=_left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(
            host,
            port,
            timeout=_left(timeout, httpcore.ConnectTimeout),
            local_address=local_address,
            socket_options=socket_options,
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(
            path, timeout=_left(timeout, httpcore.ConnectTimeout), socket_options=socket_options
        )
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


# Most specific first: the first match wins.
_EXCEPTIONS: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for source, target in _EXCEPTIONS:
            if isinstance(exc, source):
                raise target(str(exc)) from exc
        raise


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, inner: Iterable[bytes]) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        with _httpx_errors():
            yield from self._inner

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


# h11 refuses an answer head over httpcore's 100 KB as a protocol error, which send would call
# `not_http`, while replay's parser and Locust's accept it and judge the status. One rule for
# every stack (docs/send.md): a head up to this size is HTTP and its status decides.
MAX_HEAD_BYTES = 1024 * 1024


class DeadlineTransport(httpx.BaseTransport):
    """httpx's HTTP/1.1 transport, on network streams that honour the delivery's deadline."""

    def __init__(self, *, ssl_context: ssl.SSLContext, max_connections: int) -> None:
        # httpcore reads the limit from this class attribute when it opens a connection; it can
        # only be raised, so other httpx clients in the process lose nothing.
        http11 = httpcore._sync.http11.HTTP11Connection
        http11.MAX_INCOMPLETE_EVENT_SIZE = max(http11.MAX_INCOMPLETE_EVENT_SIZE, MAX_HEAD_BYTES)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=max_connections,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_DeadlineBackend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, httpx.SyncByteStream):  # pragma: no cover
            raise TypeError("the delivery transport is synchronous")
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            core_response = self._pool.handle_request(core_request)
        return httpx.Response(
            status_code=core_response.status,
            headers=core_response.headers,
            stream=_ResponseStream(core_response.stream),  # type: ignore[arg-type]
            extensions=core_response.extensions,
        )

    def close(self) -> None:
        self._pool.close()
