"""Real HTTP receivers on 127.0.0.1, each with a bug receiver teams really ship (or none).

Each receiver is a small http.server in a thread, speaking HTTP/1.1 with keep-alive like a
production framework; a bug is a handler function, written the way the buggy code would be.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from emitter.vocabulary import ERROR_CODES, LAST_ACTIONS, LEG_STATUSES, leg_key


@dataclass(frozen=True)
class Request:
    path: str
    headers: Mapping[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = self.json()["payload"]
        return data

    def legs(self) -> list[dict[str, Any]]:
        return list((self.payload.get("details") or {}).values())


Answer = int | tuple[int, bytes] | tuple[int, bytes, dict[str, str]]
Handler = Callable[[Request], Answer]


@dataclass
class Receiver:
    """A threaded HTTP/1.1 server on a free loopback port answering with `handler`."""

    handler: Handler
    read_body: bool = True  # False reproduces the "answer before reading the body" bug
    max_concurrent: int | None = None  # above this many requests at once: 503
    hold_s: float = 0.0  # time each request is held (makes concurrency visible)
    backlog: int = 5  # listen queue; a burst of new connections above it is reset
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        receiver = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                # A slow bug's client may have given up (its ack deadline passed) by now.
                with contextlib.suppress(ConnectionError):
                    receiver._serve(self)

        server_class = type("_Server", (ThreadingHTTPServer,), {"request_queue_size": self.backlog})
        self._server = server_class(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/webhooks/vss"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _serve(self, http: BaseHTTPRequestHandler) -> None:
        length = int(http.headers.get("Content-Length") or 0)
        body = http.rfile.read(length) if self.read_body else b""
        request = Request(
            path=http.path, headers={k.lower(): v for k, v in http.headers.items()}, body=body
        )
        with self._lock:
            self.requests.append(request)
            self._active += 1
            crowded = self.max_concurrent is not None and self._active > self.max_concurrent
        try:
            time.sleep(self.hold_s)
            if crowded:
                answer: Answer = (503, b"too many concurrent requests")
            else:
                try:
                    answer = self.handler(request)
                except Exception as exc:  # noqa: BLE001  (what a framework does: 500 on a crash)
                    answer = (500, f"Internal Server Error: {type(exc).__name__}: {exc}".encode())
        finally:
            with self._lock:
                self._active -= 1
        if isinstance(answer, int):
            answer = (answer, b"")
        status, text, *rest = answer
        http.send_response(status)
        for name, value in (rest[0] if rest else {}).items():
            http.send_header(name, value)
        http.send_header("Content-Length", str(len(text)))
        http.end_headers()
        if status not in (204, 304):
            http.wfile.write(text)


def serve(handler: Handler, **options: Any) -> Iterator[Receiver]:
    """For fixtures: `yield from serve(handler)`."""
    with Receiver(handler, **options) as receiver:
        yield receiver


# --- handlers -------------------------------------------------------------------------------


def always_200(request: Request) -> Answer:
    return 200, b"ok"


def auth_enforcing(token: str) -> Handler:
    def handler(request: Request) -> Answer:
        if request.headers.get("authorization") != token:
            return 401, b"unauthorized"
        return 200, b"ok"

    return handler


def auth_presence_only(request: Request) -> Answer:
    # Checks that the header is there, never its value.
    if "authorization" not in request.headers:
        return 401, b"unauthorized"
    return 200, b"ok"


def answers(status: int) -> Handler:
    def handler(request: Request) -> Answer:
        return status, b"" if status == 204 else b'{"received":true}'

    return handler


def crashes_on_capital_leg_key(request: Request) -> Answer:
    payload = request.payload
    for i in range(payload["callCount"]):
        payload["details"][leg_key(i)]["callStatus"]  # KeyError: 'callA'
    return 200, b"ok"


_DOCUMENTED_ROOT = {"namespace", "eventType", "description", "payload"}
_DOCUMENTED_PAYLOAD = {
    "sessionId", "subAccountId", "sessionStatus", "startTime", "endTime", "lastAction",
    "callCount", "errorDetails", "details",
}  # fmt: skip
_DOCUMENTED_LEG = {
    "callId", "callDirection", "callType", "initiatedTimestamp", "connectedTimestamp",
    "disconnectedTimestamp", "source", "destination", "sourceFormat", "destinationFormat",
    "sourceCountryCode", "destinationCountryCode", "sourceRefId", "SourceRefId", "callStatus",
    "callDuration", "callQuality",
}  # fmt: skip


def rejects_unknown_fields(request: Request) -> Answer:
    # A model with extra="forbid" (pydantic) or additionalProperties: false.
    data = request.json()
    extra = set(data) - _DOCUMENTED_ROOT
    extra |= set(data["payload"]) - _DOCUMENTED_PAYLOAD
    for leg in request.legs():
        extra |= set(leg) - _DOCUMENTED_LEG
    if extra:
        return 422, f"extra fields not permitted: {sorted(extra)}".encode()
    return 200, b"ok"


def conflict_on_duplicate() -> Handler:
    seen: set[str] = set()
    lock = threading.Lock()

    def handler(request: Request) -> Answer:
        session_id = request.payload["sessionId"]
        with lock:
            if session_id in seen:
                return 409, b'{"error":"duplicate sessionId"}'
            seen.add(session_id)
        return 200, b"ok"

    return handler


def crashes_on_error_details(request: Request) -> Answer:
    payload = request.payload
    if "errorDetails" in payload:
        raise TypeError("unsupported type for column error_details: dict")
    return 200, b"ok"


def closed_session_status_enum(request: Request) -> Answer:
    status = request.payload["sessionStatus"]
    if status not in LEG_STATUSES:  # the opt-out statuses were never added
        raise ValueError(f"{status!r} is not a valid SessionStatus")
    return 200, b"ok"


def crashes_on_zero_legs(request: Request) -> Answer:
    first = next(iter(request.payload["details"].values()))  # StopIteration on {}
    return 200, first["callId"].encode()


def crashes_on_null_source_ref(request: Request) -> Answer:
    numbers = {"PSTN1": "+6568332048"}
    for leg in request.legs():
        ref = leg.get("sourceRefId", leg.get("SourceRefId"))
        numbers[ref.upper()]  # AttributeError on null, KeyError on "null"
    return 200, b"ok"


def requires_user_agent(request: Request) -> Answer:
    if "user-agent" not in request.headers:
        return 403, b"blocked by WAF rule: missing User-Agent"
    return 200, b"ok"


def requires_exact_content_type(request: Request) -> Answer:
    if request.headers.get("content-type") != "application/json":
        return 415, b"unsupported media type"
    return 200, b"ok"


def slow(seconds: float) -> Handler:
    def handler(request: Request) -> Answer:
        time.sleep(seconds)  # processes the webhook before answering
        return 200, b"ok"

    return handler


def redirects_to_https(request: Request) -> Answer:
    return 302, b"", {"Location": "https://127.0.0.1/webhooks/vss"}


def ascii_only(request: Request) -> Answer:
    request.body.decode("ascii")
    return 200, b"ok"


def rejects_old_events(request: Request) -> Answer:
    start = datetime.fromisoformat(request.payload["startTime"].replace("Z", "+00:00"))
    if start < datetime.now(UTC) - timedelta(days=1):
        return 422, b"event too old"
    return 200, b"ok"


def rejects_future_events(request: Request) -> Answer:
    start = datetime.fromisoformat(request.payload["startTime"].replace("Z", "+00:00"))
    if start > datetime.now(UTC):
        return 422, b"event in the future"
    return 200, b"ok"


def parses_one_timestamp_format(request: Request) -> Answer:
    payload = request.payload
    for text in (payload["startTime"], payload["endTime"]):
        datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    return 200, b"ok"


def closed_last_action_enum(request: Request) -> Answer:
    if request.payload["lastAction"] not in LAST_ACTIONS:
        return 422, b"invalid lastAction"
    return 200, b"ok"


def looks_up_error_message(request: Request) -> Answer:
    details = request.payload.get("errorDetails")
    if details:
        return 200, ERROR_CODES[details["errorCode"]].encode()
    return 200, b"ok"


def three_leg_table(request: Request) -> Answer:
    columns = ("callA", "callB", "callC")
    for key in request.payload["details"]:
        columns.index(key[0].lower() + key[1:])  # ValueError beyond callC
    return 200, b"ok"


def body_limit(limit: int) -> Handler:
    def handler(request: Request) -> Answer:
        if len(request.body) > limit:
            return 413, b"payload too large"
        return 200, b"ok"

    return handler
