"""How one delivery ended (Outcome), the one table of reason texts, and the per-stack mapping.

The kit sends over three HTTP stacks: httpx (send, check, the pytest plugin), aiohttp (replay)
and geventhttpclient (Locust). A receiver's fault must read the same whichever stack met it, so
every stack's exceptions are mapped here onto one `Fault`: an Outcome and a reason text taken
from `_REASONS`. The mapping first asks what the stack itself knows (its timeout, its HTTP
parser failing, the connection closing) and then walks the exception's causes for the operating
system's and OpenSSL's errors, which are the same objects in every stack (`classify_os_error`,
the entry point for an engine on raw sockets).

No HTTP library is imported at module level: the Locust process must not load httpx or
aiohttp, and the replay engine must not load httpx. Each stack's classifier imports its own.
"""

from __future__ import annotations

import enum
import errno
import http
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


class Outcome(enum.StrEnum):
    """How one delivery ended. Only ACKED is an acknowledgement."""

    ACKED = "acked"  # HTTP 200 (or any 2xx with accept_2xx)
    REJECTED = "rejected"  # an HTTP status that is not an ack (4xx, 5xx, non-200 2xx, 1xx)
    REDIRECT = "redirect"  # 3xx: webhook senders never follow redirects
    TIMEOUT = "timeout"  # no complete answer within the ack deadline
    REFUSED = "refused"  # connection refused
    RESET = "reset"  # connection reset or closed before a complete answer
    NOT_HTTP = "not_http"  # the peer answered something that is not HTTP
    DNS = "dns"  # the host name did not resolve
    TLS = "tls"  # TLS handshake or certificate verification failed
    ERROR = "error"  # any other transport failure

    @property
    def ok(self) -> bool:
        return self is Outcome.ACKED


def classify_status(status: int, *, accept_2xx: bool = False) -> Outcome:
    """The documentation asks for HTTP 200; anything else is not an ack unless 2xx is opted in."""
    if status == 200 or (accept_2xx and 200 <= status < 300):
        return Outcome.ACKED
    if 300 <= status < 400:
        return Outcome.REDIRECT
    return Outcome.REJECTED


# The one table of reason texts: key -> (Outcome, template). Every stack's classifier picks a
# key and fills the template; nothing else in the kit writes a reason for a delivery.
_REASONS: dict[str, tuple[Outcome, str]] = {
    "acked": (Outcome.ACKED, "HTTP {status} {phrase}"),
    "rejected": (Outcome.REJECTED, "HTTP {status} {phrase}"),
    "rejected_2xx": (
        Outcome.REJECTED,
        "HTTP {status} {phrase} (the contract asks for 200; --accept-2xx accepts any 2xx)",
    ),
    "redirect": (
        Outcome.REDIRECT,
        "HTTP {status} {phrase}{to} (redirects are not followed; only 200 is an ack)",
    ),
    "timeout": (Outcome.TIMEOUT, "no answer within the {timeout_s:g} s ack deadline"),
    "timeout_mid_answer": (
        Outcome.TIMEOUT,
        "HTTP {status} came but the answer was not complete within the {timeout_s:g} s ack "
        "deadline",
    ),
    "refused": (Outcome.REFUSED, "connection refused (nothing listens on that port)"),
    "closed": (Outcome.RESET, "connection closed without an answer"),
    "closed_mid_answer": (Outcome.RESET, "connection closed mid-answer after HTTP {status}"),
    "not_http": (Outcome.NOT_HTTP, "the answer is not HTTP"),
    "dns": (Outcome.DNS, "host name did not resolve: {detail}"),
    "tls": (Outcome.TLS, "TLS failed: {detail}"),
    "tls_verify": (
        Outcome.TLS,
        "TLS failed: {detail} (--ca-bundle FILE or SSL_CERT_FILE trusts its CA, --insecure "
        "skips verification)",
    ),
    "error": (Outcome.ERROR, "transport error: {detail}"),
}

REASON_KEYS = frozenset(_REASONS)

_RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED})


@dataclass(frozen=True)
class Fault:
    """A classified end of one delivery: the Outcome and its one-line reason from the table."""

    outcome: Outcome
    reason: str


def reason(key: str, **facts: Any) -> Fault:
    """The Fault for a table key, its template filled with `facts` (status, timeout_s, ...)."""
    outcome, template = _REASONS[key]
    return Fault(outcome, template.format(**facts))


def phrase(status: int) -> str:
    """The standard reason phrase of a status ("" for an unknown one), the same in every stack."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def status_fault(status: int, *, accept_2xx: bool = False, location: str | None = None) -> Fault:
    """The Fault of a complete HTTP answer: an ack, a redirect or a rejection."""
    outcome = classify_status(status, accept_2xx=accept_2xx)
    facts: dict[str, Any] = {"status": status, "phrase": phrase(status)}
    if outcome is Outcome.ACKED:
        key = "acked"
    elif outcome is Outcome.REDIRECT:
        key = "redirect"
        facts["to"] = f" to {location}" if location else ""
    else:
        key = "rejected_2xx" if 200 <= status < 300 else "rejected"
    fault = reason(key, **facts)
    # An unknown status has no phrase: no trailing space before what follows.
    return Fault(fault.outcome, fault.reason.replace(f"HTTP {status}  ", f"HTTP {status} ", 1))


def timeout_fault(timeout_s: float, *, status: int | None = None) -> Fault:
    """No complete answer within the deadline (`status` when the status line had come)."""
    if status is not None:
        return reason("timeout_mid_answer", status=status, timeout_s=timeout_s)
    return reason("timeout", timeout_s=timeout_s)


def closed_fault(*, status: int | None = None) -> Fault:
    """The connection ended before a complete answer."""
    if status is not None:
        return reason("closed_mid_answer", status=status)
    return reason("closed")


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, its causes and contexts, and the OS / certificate errors stacks keep aside."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        link = todo.pop(0)
        if id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        for attr in ("certificate_error", "os_error", "original"):
            inner = getattr(link, attr, None)
            if isinstance(inner, BaseException):
                todo.append(inner)
        nxt = link.__cause__ or link.__context__
        if nxt is not None:
            todo.append(nxt)


def ssl_text(exc: ssl.SSLError | ssl.CertificateError) -> str:
    """OpenSSL's own words for a TLS failure, e.g. `certificate verify failed: self-signed ...`."""
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc)
    return str(exc)


def _detail(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def classify_os_error(
    exc: BaseException,
    *,
    timeout_s: float,
    status: int | None = None,
    received: int = 0,
    not_http: bool = False,
) -> Fault:
    """The stack-neutral classification: OS and OpenSSL errors anywhere in the cause chain.

    For any HTTP client, including one on raw sockets. `status` is the HTTP status when the
    status line had come, `received` how many answer bytes had come, `not_http` whether the
    client's HTTP parser rejected what came (then a peer that said nothing is `closed`).
    """
    chain = list(_causes(exc))
    for link in chain:
        if isinstance(link, ssl.SSLCertVerificationError | ssl.CertificateError):
            return reason("tls_verify", detail=ssl_text(link))
    for link in chain:
        if isinstance(link, ssl.SSLError):
            return reason("tls", detail=ssl_text(link))
    for link in chain:
        if isinstance(link, socket.gaierror):
            return reason("dns", detail=link.strerror or str(link))
    for link in chain:
        if isinstance(link, ConnectionRefusedError):
            return reason("refused")
    for link in chain:
        if isinstance(link, TimeoutError):
            return timeout_fault(timeout_s, status=status)
    for link in chain:
        if isinstance(link, ConnectionResetError | BrokenPipeError | ConnectionAbortedError) or (
            isinstance(link, OSError) and link.errno in _RESET_ERRNOS
        ):
            return closed_fault(status=status)
    if not_http:
        if status is not None or received == 0:
            return closed_fault(status=status)
        return reason("not_http")
    # The innermost OS error says most (an engine's or library's wrapper around it, least).
    oserrors = [link for link in chain if isinstance(link, OSError)]
    return reason("error", detail=_detail(oserrors[-1] if oserrors else exc))


def classify_httpx(
    exc: BaseException, *, timeout_s: float, status: int | None = None, received: int = 0
) -> Fault:
    """An httpx/httpcore failure (send, check, the pytest plugin)."""
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return timeout_fault(timeout_s, status=status)
    fault = classify_os_error(
        exc,
        timeout_s=timeout_s,
        status=status,
        received=received,
        not_http=isinstance(exc, httpx.RemoteProtocolError),
    )
    if fault.outcome is Outcome.ERROR and isinstance(exc, httpx.NetworkError):
        return closed_fault(status=status)  # a read or write that failed without an errno
    return fault


def classify_aiohttp(exc: BaseException, *, timeout_s: float, status: int | None = None) -> Fault:
    """An aiohttp client failure (replay)."""
    import aiohttp

    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return timeout_fault(timeout_s, status=status)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return closed_fault(status=status)
    fault = classify_os_error(exc, timeout_s=timeout_s, status=status)
    if fault.outcome is not Outcome.ERROR:
        return fault
    if isinstance(exc, aiohttp.ClientResponseError):
        # aiohttp wraps its HTTP parser's errors (a bad status line, garbage) in this.
        return reason("not_http")
    return fault


def classify_gevent(exc: BaseException, *, timeout_s: float, status: int | None = None) -> Fault:
    """A geventhttpclient failure (the Locust user); needs the locust extra."""
    import gevent
    from geventhttpclient._parser import HTTPParseError
    from geventhttpclient.response import HTTPConnectionClosed
    from geventhttpclient.useragent import EmptyResponse

    chain = list(_causes(exc))
    if any(isinstance(link, gevent.Timeout) for link in chain):
        return timeout_fault(timeout_s, status=status)
    fault = classify_os_error(exc, timeout_s=timeout_s, status=status)
    if fault.outcome is not Outcome.ERROR:
        return fault
    if any(isinstance(link, HTTPConnectionClosed | EmptyResponse) for link in chain):
        return closed_fault(status=status)
    if any(isinstance(link, HTTPParseError) for link in chain):
        return reason("not_http")
    return fault
