"""One POST of one VSS payload and its acknowledgement, classified.

The classification (Outcome) is shared by send, check, replay and the Locust user, so a
receiver's answer means the same thing whichever tool delivered it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


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


@dataclass(frozen=True)
class Ack:
    """The classified answer to one delivery attempt (the last one, when retries ran)."""

    outcome: Outcome
    status: int | None  # HTTP status, None when no HTTP answer came
    elapsed_s: float  # from the start of the request to the answer (or the failure)
    reason: str  # one line, secrets redacted: "HTTP 500: Internal Server Error", "refused: ..."
    body_excerpt: str = ""  # the first few hundred characters of the answer, redacted
    attempt: int = 1  # 1 for the first try; >1 when a retry schedule ran
    session_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome.ok


@dataclass(frozen=True)
class DeliveryConfig:
    """Everything about how to deliver, independent of what is delivered."""

    timeout_s: float = 10.0  # the ack deadline
    headers: tuple[tuple[str, str], ...] = ()  # extra -H headers, in order
    auth_header: str | None = None  # sent verbatim as Authorization (8x8's httpAuthHeader)
    accept_2xx: bool = False
    verify_tls: bool = True
    ca_bundle: str | None = None
    retries: tuple[float, ...] = ()  # delays in seconds before each retry, e.g. (1, 10, 30, 90)
    secrets: tuple[str, ...] = field(default=(), repr=False)  # extra strings to redact
