"""One POST of one VSS payload and its acknowledgement, classified.

The classification (Outcome) is shared by send, check, replay and the Locust user, so a
receiver's answer means the same thing whichever tool delivered it.

The ack deadline is a total deadline for the whole exchange (connect, TLS, request, status
line, headers, body), not a per-read timeout: a receiver that trickles one byte a second must
still time out. httpx only offers per-operation timeouts, so the client built here runs on a
small transport whose network streams read a per-delivery budget (a context variable) and cut
every socket operation to what is left of it. The same streams count the bytes that came, which
is how a peer that answered something (not HTTP) is told from one that answered nothing.
"""

from __future__ import annotations

import contextlib
import enum
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import httpcore
import httpx

from emitter import __version__
from emitter._payload import session_id_in, session_id_of
from emitter.errors import DeliveryConfigError

USER_AGENT = f"vss-emitter/{__version__} (+8x8 VSS contract test kit)"
EXCERPT_CHARS = 200  # how much of a receiver's answer a reason or report shows
_BODY_READ_CAP = 64 * 1024  # an ack body is never needed in full; a huge one is not read
_HEAD_KEPT = 64  # first bytes of an answer kept to show what a non-HTTP peer said
_WRITE_SLICE = 64 * 1024
DEFAULT_MAX_CONNECTIONS = 100  # per client; a burst bigger than this needs a bigger pool

# Header names whose values are credentials. 8x8's httpAuthHeader travels as Authorization;
# the rest are the usual places a receiver's gateway puts keys and sessions.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
_SECRET_NAME_PARTS = ("token", "secret", "password", "api-key", "apikey")
REDACTED = "***"

_E = TypeVar("_E", bound=BaseException)


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


# --------------------------------------------------------------------------- secrets


def is_secret_header(name: str) -> bool:
    """Whether a header's value is a credential that must never be printed."""
    lowered = name.strip().lower()
    return lowered in _SECRET_HEADERS or any(part in lowered for part in _SECRET_NAME_PARTS)


def _with_credential_part(value: str) -> list[str]:
    # "Bearer s3cr3t" is redacted whole, and "s3cr3t" alone too: a receiver that echoes only
    # the token (or a gateway that logs it) must not leak it either.
    out = [value]
    scheme, _, credential = value.strip().partition(" ")
    if scheme and credential.strip() and len(credential.strip()) >= 4:
        out.append(credential.strip())
    return out


def config_secrets(config: DeliveryConfig, *, url: str | None = None) -> tuple[str, ...]:
    """Every string the output must not show: auth header, secret -H values, URL password."""
    found: list[str] = []
    if config.auth_header:
        found += _with_credential_part(config.auth_header)
    for secret in config.secrets:
        if secret:
            found += _with_credential_part(secret)
    for name, value in config.headers:
        if value and is_secret_header(name):
            found += _with_credential_part(value)
    if url:
        with contextlib.suppress(httpx.InvalidURL):
            password = httpx.URL(url).password
            if password:
                found.append(password)
    # Longest first, so a secret that contains another is replaced whole.
    return tuple(sorted({s for s in found if s.strip()}, key=len, reverse=True))


def redact(text: str, secrets: Iterable[str]) -> str:
    """The text with every occurrence of every secret replaced by ***."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def display_url(url: str) -> str:
    """The URL as it may be printed: a password in it is replaced by ***, the user name kept."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return url
    if parsed.password:
        user = parsed.userinfo.partition(b":")[0]
        return str(parsed.copy_with(userinfo=user + b":" + REDACTED.encode()))
    return url


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
        _check_header(name, value)
    return headers


# RFC 9110 token characters: what a header name may be made of.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 field values: visible characters, space and tab only.
_HEADER_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


def is_header_name(name: str) -> bool:
    """Whether `name` can be sent as an HTTP header name (an RFC 9110 token)."""
    return _TOKEN.fullmatch(name) is not None


def _check_header(name: str, value: str) -> None:
    if not is_header_name(name):
        raise DeliveryConfigError(
            f"invalid header name {name!r}: expected letters, digits and !#$%&'*+-.^_`|~ only, "
            "e.g. -H 'X-Tenant: acme'"
        )
    shown = REDACTED if is_secret_header(name) else repr(value)
    if any(c in value for c in "\r\n\0"):
        raise DeliveryConfigError(
            f"invalid value {shown} for header {name!r}: it contains a line break or NUL; "
            "expected one line, e.g. -H 'X-Tenant: acme'"
        )
    if not value.isascii():
        # Header values travel as bytes: httpx encodes str values as ASCII (and crashes
        # mid-delivery on anything else), aiohttp as UTF-8; only ASCII means the same bytes
        # whichever command of the kit sends it.
        example = (
            "--auth-header 'Bearer abc123'"
            if name.lower() == "authorization"
            else "-H 'X-Tenant: acme'"
        )
        raise DeliveryConfigError(
            f"invalid value {shown} for header {name!r}: it has non-ASCII characters, which "
            f"an HTTP header cannot carry as text; expected ASCII, e.g. {example} "
            "(percent- or base64-encode other characters)"
        )
    if _HEADER_CONTROL.search(value):
        raise DeliveryConfigError(
            f"invalid value {shown} for header {name!r}: it contains a control character; "
            "expected printable text, e.g. -H 'X-Tenant: acme'"
        )


def _ssl_context(config: DeliveryConfig) -> ssl.SSLContext:
    if not config.verify_tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if config.ca_bundle:
        try:
            return ssl.create_default_context(cafile=config.ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise DeliveryConfigError(
                f"cannot use CA bundle {config.ca_bundle!r}: {_one_line(str(exc))}; expected a "
                "PEM file of certificates, e.g. --ca-bundle ./receiver-ca.pem"
            ) from None
    # Verified against certifi's roots, like httpx does by default.
    return httpx.create_ssl_context()


def build_client(
    config: DeliveryConfig, *, max_connections: int = DEFAULT_MAX_CONNECTIONS
) -> httpx.Client:
    """A sync client that never follows redirects, verifies TLS per config, enforces the deadline.

    Environment proxies are ignored: 8x8's platform connects to the receiver directly, and a
    proxy would blur refused, DNS and TLS faults into the proxy's own answers. A request that
    waits for a free connection waits on its own deadline, so `max_connections` must cover the
    most deliveries the caller sends at once.
    """
    return httpx.Client(
        transport=_DeadlineTransport(
            ssl_context=_ssl_context(config), max_connections=max_connections
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

    A dict is sent as generate.dumps(payload); bytes are sent verbatim, identical on every
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
        ack = _attempt_with_retries(
            active,
            url=target,
            body=body,
            headers=headers,
            config=config,
            secrets=secrets,
            sleep=sleep,
            on_retry=on_retry,
        )
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


def _attempt_with_retries(
    client: httpx.Client,
    *,
    url: str,
    body: bytes,
    headers: dict[str, str],
    config: DeliveryConfig,
    secrets: tuple[str, ...],
    sleep: Callable[[float], None],
    on_retry: Callable[[Ack, float], None] | None,
) -> Ack:
    # Like 8x8's messaging webhooks: everything that is not an ack is retried (connection
    # error, timeout, 4xx, 5xx), with the same bytes, so the sessionId stays the same.
    attempt = 1
    while True:
        ack = replace(
            _attempt(client, url=url, body=body, headers=headers, config=config, secrets=secrets),
            attempt=attempt,
        )
        if ack.ok or attempt > len(config.retries):
            return ack
        delay = config.retries[attempt - 1]
        if on_retry is not None:
            on_retry(ack, delay)
        sleep(delay)
        attempt += 1


def _attempt(
    client: httpx.Client,
    *,
    url: str,
    body: bytes,
    headers: dict[str, str],
    config: DeliveryConfig,
    secrets: tuple[str, ...],
) -> Ack:
    started = time.monotonic()
    budget = _Budget(deadline=started + config.timeout_s)
    token = _BUDGET.set(budget)
    status: int | None = None
    try:
        request = client.build_request(
            "POST", url, content=body, headers=headers, timeout=config.timeout_s
        )
        response = client.send(request, stream=True, follow_redirects=False)
        try:
            status = response.status_code
            raw = _read_capped(response)
        finally:
            response.close()
        elapsed = time.monotonic() - started
        return _classify_answer(response, raw, elapsed=elapsed, config=config, secrets=secrets)
    except httpx.HTTPError as exc:
        outcome, reason = _classify_fault(exc, budget=budget, status=status, config=config)
        return Ack(
            outcome=outcome,
            status=status,
            elapsed_s=time.monotonic() - started,
            reason=_one_line(redact(reason, secrets)),
            body_excerpt=_excerpt(budget.head, secrets) if outcome is Outcome.NOT_HTTP else "",
        )
    except OSError as exc:  # pragma: no cover - httpx maps socket errors; this is the backstop
        return Ack(
            outcome=Outcome.ERROR,
            status=status,
            elapsed_s=time.monotonic() - started,
            reason=_one_line(redact(f"transport error: {exc}", secrets)),
        )
    finally:
        _BUDGET.reset(token)


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
    outcome = classify_status(status, accept_2xx=config.accept_2xx)
    excerpt = _excerpt(raw, secrets)
    reason = f"HTTP {status} {response.reason_phrase}".rstrip()
    if outcome is Outcome.REDIRECT:
        location = response.headers.get("location")
        target = f" to {location}" if location else ""
        reason += f"{target} (redirects are not followed; only 200 is an ack)"
    elif outcome is Outcome.REJECTED:
        if 200 <= status < 300:
            reason += " (the contract asks for 200; --accept-2xx accepts any 2xx)"
        if excerpt:
            reason += f": {excerpt}"
    return Ack(
        outcome=outcome,
        status=status,
        elapsed_s=elapsed,
        reason=_one_line(redact(reason, secrets)),
        body_excerpt=excerpt,
    )


def _classify_fault(
    exc: httpx.HTTPError, *, budget: _Budget, status: int | None, config: DeliveryConfig
) -> tuple[Outcome, str]:
    deadline = f"{config.timeout_s:g} s ack deadline"
    if isinstance(exc, httpx.TimeoutException):
        if status is not None:
            return Outcome.TIMEOUT, f"HTTP {status} came but the answer was not complete " + (
                f"within the {deadline}"
            )
        return Outcome.TIMEOUT, f"no answer within the {deadline}"
    chain = _cause_chain(exc)
    if isinstance(exc, httpx.ConnectError):
        return _classify_connect(exc, chain)
    if isinstance(exc, httpx.RemoteProtocolError):
        if status is not None:
            return Outcome.RESET, f"connection closed mid-answer after HTTP {status}: {exc}"
        if budget.received == 0:
            return Outcome.RESET, "connection closed without an answer"
        return Outcome.NOT_HTTP, f"the answer is not HTTP (first bytes: {_show_bytes(budget.head)})"
    if isinstance(exc, httpx.NetworkError):
        tls = _first(chain, ssl.SSLError)
        if tls is not None:
            return Outcome.TLS, f"TLS failed: {_ssl_text(tls)}"
        if _first(chain, ConnectionResetError) is not None:
            return Outcome.RESET, "connection reset by the receiver"
        return Outcome.RESET, f"connection broken: {exc or type(exc).__name__}"
    return Outcome.ERROR, f"{type(exc).__name__}: {exc}"


def _classify_connect(exc: httpx.ConnectError, chain: list[BaseException]) -> tuple[Outcome, str]:
    dns = _first(chain, socket.gaierror)
    if dns is not None:
        return Outcome.DNS, f"host name did not resolve: {dns.strerror or dns}"
    tls = _first(chain, ssl.SSLError)
    if tls is not None:
        hint = ""
        if isinstance(tls, ssl.SSLCertVerificationError):
            hint = " (--ca-bundle FILE trusts its CA, --insecure skips verification)"
        return Outcome.TLS, f"TLS failed: {_ssl_text(tls)}{hint}"
    if _first(chain, ConnectionRefusedError) is not None:
        return Outcome.REFUSED, "connection refused (nothing listens on that port)"
    if _first(chain, ConnectionResetError) is not None:
        return Outcome.RESET, "connection reset while connecting"
    if _first(chain, TimeoutError) is not None:
        return Outcome.TIMEOUT, "connect timed out"
    return Outcome.ERROR, f"cannot connect: {exc or type(exc).__name__}"


def _cause_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _first(chain: list[BaseException], kind: type[_E]) -> _E | None:
    for item in chain:
        if isinstance(item, kind):
            return item
    return None


def _ssl_text(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"certificate verify failed: {exc.verify_message}"
    return str(exc.reason or exc)


def _show_bytes(raw: bytes) -> str:
    return repr(raw[:_HEAD_KEPT])[1:]


def _excerpt(raw: bytes, secrets: Iterable[str]) -> str:
    # Redact the whole body before anything is cut: a secret straddling the cut would
    # otherwise leak its first characters. Whitespace is collapsed after redaction too, since
    # a pretty-printed body can push a secret far past the shown part.
    shown = raw[:_BODY_READ_CAP]
    text = redact(shown.decode("utf-8", errors="replace"), secrets)
    if len(raw) >= _BODY_READ_CAP:
        text = _redact_cut_tail(text, secrets)
    text = _one_line(text)
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def _redact_cut_tail(text: str, secrets: Iterable[str]) -> str:
    """Mask the start of a secret that the body read cap cut in two."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        for size in range(len(secret) - 1, 0, -1):
            if text.endswith(secret[:size]):
                return text[:-size] + REDACTED
    return text


# C0 and C1 control characters (ESC starts a terminal escape sequence) and DEL.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _one_line(text: str) -> str:
    """One printable line: whitespace collapsed, control characters shown as U+FFFD.

    A hostile receiver's answer is printed on the user's terminal; its control characters
    (ANSI escapes, backspaces, bells) must not reach it.
    """
    return _CONTROL.sub("\ufffd", " ".join(text.split()))


def _body_bytes(payload: Mapping[str, Any] | bytes) -> bytes:
    if isinstance(payload, bytes | bytearray | memoryview):
        return bytes(payload)
    from emitter.generator import dumps  # the one canonical serialisation of a payload

    return dumps(payload)


def _session_id(payload: Mapping[str, Any] | bytes) -> str | None:
    if isinstance(payload, bytes | bytearray | memoryview):
        return session_id_in(bytes(payload))
    return session_id_of(payload)


# --------------------------------------------------------------------------- transport


@dataclass
class _Budget:
    """What is left of one delivery's deadline, and what the peer has said so far."""

    deadline: float
    received: int = 0
    head: bytes = b""


_BUDGET: ContextVar[_Budget | None] = ContextVar("vss_emitter_budget", default=None)


def _left(timeout: float | None, expired: type[Exception]) -> float | None:
    budget = _BUDGET.get()
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
        budget = _BUDGET.get()
        if budget is not None and data:
            budget.received += len(data)
            if len(budget.head) < _HEAD_KEPT:
                budget.head += data[: _HEAD_KEPT - len(budget.head)]
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


class _DeadlineTransport(httpx.BaseTransport):
    """httpx's HTTP/1.1 transport, on network streams that honour the delivery's deadline."""

    def __init__(self, *, ssl_context: ssl.SSLContext, max_connections: int) -> None:
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
