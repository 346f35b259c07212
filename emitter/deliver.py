"""One POST of one VSS payload and its acknowledgement, classified (send, check, pytest plugin).

The classification (Outcome and its reason) comes from emitter._outcomes, which the replay
engine and the Locust user share, so a receiver's answer means the same thing whichever tool
delivered it. TLS trust comes from emitter._tls, header rules from emitter._headers, redaction
from emitter._redact.

The ack deadline is a total deadline for the whole exchange (connect, TLS, request, status
line, headers, body), not a per-read timeout: a receiver that trickles one byte a second must
still time out. The client built here runs on emitter._deadline_transport, whose network
streams read a per-delivery budget and count the bytes that came.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import httpx

from emitter._headers import check_header, is_header_name, is_secret_header
from emitter._outcomes import (
    Fault,
    Outcome,
    classify_httpx,
    classify_status,
    status_fault,
)
from emitter._payload import dumps, session_id_in, session_id_of
from emitter._redact import (
    REDACTED,
    credential_parts,
    display_url,
    one_line,
    redact,
    redact_cut_tail,
    secret_query_values,
    url_password,
)
from emitter._tls import tls_context
from emitter._version import __version__
from emitter.errors import DeliveryConfigError

# The deadline transport (httpcore) loads with the first client: `replay`, which checks its URL
# and settings here but sends with its own engine, starts without it.
if TYPE_CHECKING:
    from emitter._deadline_transport import Budget

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "EXCERPT_CHARS",
    "REDACTED",
    "USER_AGENT",
    "Ack",
    "DeliveryConfig",
    "Outcome",
    "build_client",
    "check_url",
    "classify_status",
    "config_secrets",
    "deliver",
    "deliver_all",
    "display_url",
    "is_header_name",
    "is_secret_header",
    "redact",
    "request_headers",
]

USER_AGENT = f"vss-emitter/{__version__} (+8x8 VSS contract test kit)"
EXCERPT_CHARS = 200  # how much of a receiver's answer a reason or report shows
_BODY_READ_CAP = 64 * 1024  # an ack body is never needed in full; a huge one is not read
DEFAULT_MAX_CONNECTIONS = 100  # per client; a burst bigger than this needs a bigger pool


@dataclass(frozen=True)
class Ack:
    """The classified answer to one delivery attempt (the last one, when retries ran)."""

    outcome: Outcome
    status: int | None  # HTTP status, None when no HTTP answer came
    elapsed_s: float  # from the start of the request to the answer (or the failure)
    reason: str  # one line, secrets redacted: "HTTP 500 Internal Server Error: ...", ...
    body_excerpt: str = ""  # the first few hundred characters of the answer, redacted
    attempt: int = 1  # 1 for the first try; >1 when a retry schedule ran
    session_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome.ok

    def as_dict(self) -> dict[str, Any]:
        """The ack as plain JSON data, as every report of the kit shows it."""
        return {
            "outcome": str(self.outcome),
            "ok": self.ok,
            "status": self.status,
            "elapsed_s": round(self.elapsed_s, 6),
            "reason": self.reason,
            "body_excerpt": self.body_excerpt,
            "attempt": self.attempt,
            "session_id": self.session_id,
        }


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


# --------------------------------------------------------------------------- secrets


def config_secrets(config: DeliveryConfig, *, url: str | None = None) -> tuple[str, ...]:
    """Every string the output must not show: auth header, secret -H values, URL password."""
    found: list[str] = []
    if config.auth_header:
        found += credential_parts(config.auth_header)
    for secret in config.secrets:
        if secret:
            found += credential_parts(secret)
    for name, value in config.headers:
        if value and is_secret_header(name):
            found += credential_parts(value)
    if url:
        password = url_password(url)
        if password:
            found += [password, unquote(password)]
        found += secret_query_values(url)  # ?token=…: masked if a receiver echoes it
    # Longest first, so a secret that contains another is replaced whole.
    return tuple(sorted({s for s in found if s.strip()}, key=len, reverse=True))


# --------------------------------------------------------------------------- configuration

_URL_EXAMPLE = "e.g. https://example.com/webhooks/vss or http://127.0.0.1:8080/"


def check_url(url: str) -> str:
    """The normalised URL, or DeliveryConfigError saying what is wrong, on one line."""
    raw = url.strip()
    shown = display_url(raw)
    try:
        parsed = httpx.URL(raw)
    except httpx.InvalidURL as exc:
        raise DeliveryConfigError(
            f"invalid URL {shown!r}: {exc}; expected http(s)://HOST[:PORT]/PATH, {_URL_EXAMPLE}"
        ) from None
    if parsed.scheme not in ("http", "https"):
        got = f"scheme {parsed.scheme!r}" if parsed.scheme else "no scheme"
        raise DeliveryConfigError(
            f"invalid URL {shown!r}: {got}; expected http:// or https://, {_URL_EXAMPLE}"
        )
    if not parsed.host:
        raise DeliveryConfigError(f"invalid URL {shown!r}: no host; expected {_URL_EXAMPLE}")
    if any(c.isspace() for c in raw) or "%" in parsed.host:
        raise DeliveryConfigError(
            f"invalid URL {shown!r}: it contains a space or a bad host name; {_URL_EXAMPLE}"
        )
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise DeliveryConfigError(
            f"invalid URL {shown!r}: port {parsed.port} is not in 1-65535; {_URL_EXAMPLE}"
        )
    return str(parsed)


def request_headers(config: DeliveryConfig) -> dict[str, str]:
    """The headers of every delivery: Content-Type, User-Agent, Authorization, then each -H.

    An -H header replaces a default of the same name (case-insensitively), so a probe can send
    another Content-Type or User-Agent on purpose.
    """
    headers: dict[str, str] = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if config.auth_header is not None:
        headers["Authorization"] = config.auth_header
    for name, value in config.headers:
        for existing in [k for k in headers if k.lower() == name.lower()]:
            del headers[existing]
        headers[name] = value
    for name, value in headers.items():
        check_header(name, value)
    return headers


def build_client(
    config: DeliveryConfig, *, max_connections: int = DEFAULT_MAX_CONNECTIONS
) -> httpx.Client:
    """A sync client that never follows redirects, verifies TLS per config, enforces the deadline.

    Environment proxies are ignored: 8x8's platform connects to the receiver directly, and a
    proxy would blur refused, DNS and TLS faults into the proxy's own answers. A request that
    waits for a free connection waits on its own deadline, so `max_connections` must cover the
    most deliveries the caller sends at once.
    """
    from emitter._deadline_transport import DeadlineTransport

    return httpx.Client(
        transport=DeadlineTransport(
            ssl_context=tls_context(verify=config.verify_tls, ca_bundle=config.ca_bundle),
            max_connections=max_connections,
        ),
        follow_redirects=False,
        timeout=config.timeout_s,
        trust_env=False,
    )


# --------------------------------------------------------------------------- delivery


def deliver(
    payload: Mapping[str, Any] | bytes,
    *,
    url: str,
    config: DeliveryConfig,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[Ack, float], None] | None = None,
) -> Ack:
    """POST one payload and classify the answer, running config.retries on a failed ack.

    A dict is sent as emitter._payload.dumps(payload); bytes are sent verbatim, identical on every
    attempt. Never raises for a network fault: every one is an Outcome. Raises
    DeliveryConfigError for a URL, header or CA bundle that cannot be used. `on_retry` hears
    each failed attempt and the delay before the next one.
    """
    target = check_url(url)
    headers = request_headers(config)
    body = _body_bytes(payload)
    session_id = _session_id(payload)
    secrets = config_secrets(config, url=target)
    own = client is None
    active = build_client(config) if client is None else client
    try:
        post = _Post(url=target, body=body, headers=headers, config=config, secrets=secrets)
        ack = _attempt_with_retries(active, post, sleep=sleep, on_retry=on_retry)
    finally:
        if own:
            active.close()
    return replace(ack, session_id=session_id)


def deliver_all(
    payloads: Iterable[Mapping[str, Any] | bytes],
    *,
    url: str,
    config: DeliveryConfig,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[Ack, float], None] | None = None,
) -> Iterator[Ack]:
    """Deliver each payload in turn over one client (keep-alive), yielding each ack as it comes.

    The URL and configuration are checked before the first payload is drawn, so a bad URL
    fails before any work is done.
    """
    check_url(url)
    request_headers(config)
    with build_client(config) as client:
        for payload in payloads:
            yield deliver(
                payload, url=url, config=config, client=client, sleep=sleep, on_retry=on_retry
            )


@dataclass(frozen=True)
class _Post:
    """One delivery's request, the same bytes on every attempt."""

    url: str
    body: bytes
    headers: dict[str, str]
    config: DeliveryConfig
    secrets: tuple[str, ...]


def _attempt_with_retries(
    client: httpx.Client,
    post: _Post,
    *,
    sleep: Callable[[float], None],
    on_retry: Callable[[Ack, float], None] | None,
) -> Ack:
    # Like 8x8's messaging webhooks: everything that is not an ack is retried (connection
    # error, timeout, 4xx, 5xx), with the same bytes, so the sessionId stays the same.
    attempt = 1
    while True:
        ack = replace(_attempt(client, post), attempt=attempt)
        if ack.ok or attempt > len(post.config.retries):
            return ack
        delay = post.config.retries[attempt - 1]
        if on_retry is not None:
            on_retry(ack, delay)
        sleep(delay)
        attempt += 1


def _attempt(client: httpx.Client, post: _Post) -> Ack:
    from emitter._deadline_transport import BUDGET, Budget

    config, secrets = post.config, post.secrets
    started = time.monotonic()
    budget = Budget(deadline=started + config.timeout_s)
    token = BUDGET.set(budget)
    status: int | None = None
    try:
        request = client.build_request(
            "POST", post.url, content=post.body, headers=post.headers, timeout=config.timeout_s
        )
        response = client.send(request, stream=True, follow_redirects=False)
        try:
            status = response.status_code
            raw = _read_capped(response)
        finally:
            response.close()
        elapsed = time.monotonic() - started
        return _classify_answer(response, raw, elapsed=elapsed, config=config, secrets=secrets)
    except (httpx.HTTPError, OSError) as exc:  # OSError: the backstop, httpx maps socket errors
        fault = classify_httpx(
            exc, timeout_s=config.timeout_s, status=status, received=budget.received
        )
        return _failed(fault, status=status, started=started, budget=budget, secrets=secrets)
    finally:
        BUDGET.reset(token)


def _failed(
    fault: Fault, *, status: int | None, started: float, budget: Budget, secrets: tuple[str, ...]
) -> Ack:
    from emitter._deadline_transport import HEAD_KEPT

    # What a non-HTTP peer said is evidence, not part of the reason: it goes in the excerpt.
    shown = _excerpt(budget.head[:HEAD_KEPT], secrets) if fault.outcome is Outcome.NOT_HTTP else ""
    return Ack(
        outcome=fault.outcome,
        status=status,
        elapsed_s=time.monotonic() - started,
        reason=one_line(redact(fault.reason, secrets)),
        body_excerpt=shown,
    )


def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= _BODY_READ_CAP:
            break
    return b"".join(chunks)


def _classify_answer(
    response: httpx.Response,
    raw: bytes,
    *,
    elapsed: float,
    config: DeliveryConfig,
    secrets: tuple[str, ...],
) -> Ack:
    status = response.status_code
    fault = status_fault(
        status, accept_2xx=config.accept_2xx, location=response.headers.get("location")
    )
    excerpt = _excerpt(raw, secrets)
    text = fault.reason
    if fault.outcome is Outcome.REJECTED and excerpt:
        text += f": {excerpt}"
    return Ack(
        outcome=fault.outcome,
        status=status,
        elapsed_s=elapsed,
        reason=one_line(redact(text, secrets)),
        body_excerpt=excerpt,
    )


def _excerpt(raw: bytes, secrets: Iterable[str]) -> str:
    # Redact the whole body before anything is cut: a secret straddling the cut would
    # otherwise leak its first characters. Whitespace is collapsed after redaction too, since
    # a pretty-printed body can push a secret far past the shown part.
    shown = raw[:_BODY_READ_CAP]
    text = redact(shown.decode("utf-8", errors="replace"), secrets)
    if len(raw) >= _BODY_READ_CAP:
        text = redact_cut_tail(text, secrets)
    text = one_line(text)
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def _body_bytes(payload: Mapping[str, Any] | bytes) -> bytes:
    if isinstance(payload, bytes | bytearray | memoryview):
        return bytes(payload)
    return dumps(payload)


def _session_id(payload: Mapping[str, Any] | bytes) -> str | None:
    if isinstance(payload, bytes | bytearray | memoryview):
        return session_id_in(bytes(payload))
    return session_id_of(payload)
