"""The reference receiver's HTTP side on aiohttp's low-level server: reading bodies, answering.

aiohttp parses HTTP/1.1 (keep-alive, pipelining, chunked encoding, Content-Length rules); this
module decides the answers: 200 or 400 from the contract, 411 without a length, 413 over the
body cap (decided from Content-Length, the body never read), 405 to every method but POST, and
the read-back `GET /vss/sessions/{sessionId}` when the receiver has a store. Requests aiohttp's
parser refuses (a made-up method, a malformed chunk size, a bad Content-Length) get the same
JSON answers as the rest instead of aiohttp's plain-text page.
"""

from __future__ import annotations

import ast
import asyncio
import logging
import re
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, BadHttpMethod

from emitter._version import __version__
from emitter.contract import Finding
from emitter.receiver._model import Delivery, iso, json_text

if TYPE_CHECKING:
    from emitter.receiver._receiver import ReferenceReceiver

READ_BACK_PREFIX = "/vss/sessions/"
IDLE_TIMEOUT_S = 30  # a keep-alive connection, or a body, that says nothing for this long is closed
_SERVER = f"vss-emitter-receiver/{__version__}"
_JSON = "application/json"
# The offending bytes aiohttp's C parser quotes in its error message: "desc:\n\n  b'...'\n  ^".
_QUOTED = re.compile(r"\n\s*(b'.*'|b\".*\")\n")


class _Abandon(Exception):
    """The sender went away or stalled mid-body: close the connection without an answer."""


def build_server(receiver: ReferenceReceiver) -> web.Server:
    """An aiohttp low-level server answering for `receiver`; call inside the running loop."""

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        if request.method != "POST":
            if request.method == "GET" and request.path.startswith(READ_BACK_PREFIX):
                return await _read_back(receiver, request)
            return _not_allowed(receiver, request.method, request.raw_path)
        return await _delivery(receiver, request)

    logger = logging.Logger("emitter.receiver.http")  # not registered: never reaches root
    logger.addHandler(_OneLine(receiver))
    return _Server(
        receiver,
        handle,
        # Same limits as the hand-written server had: idle keep-alive connections closed after
        # 30 s; a refused, unread body closes the connection at once (no lingering reads).
        keepalive_timeout=IDLE_TIMEOUT_S,
        lingering_time=0,
        # A Content-Encoding: gzip body is judged as sent (not JSON: 400), never inflated past
        # the body cap.
        auto_decompress=False,
        access_log=None,
        logger=logger,
    )


async def _delivery(receiver: ReferenceReceiver, request: web.BaseRequest) -> web.StreamResponse:
    received_at = datetime.now(UTC)
    body = await _read_body(receiver, request)
    if isinstance(body, web.StreamResponse):
        return body
    try:
        status, session_id, duplicate, findings = receiver._judge(body)
    except Exception as exc:  # noqa: BLE001 - a validator bug must answer 500, not hang up
        receiver._say(f"receiver error: {type(exc).__name__}: {exc}")
        return _answer(500, {"status": "error", "error": f"{type(exc).__name__}: {exc}"})
    delivery = Delivery(
        received_at=received_at,
        session_id=session_id,
        status=status,
        duplicate=duplicate,
        findings=findings,
        path=request.raw_path,
        body=body,
        headers=tuple(request.headers.items()),
    )
    receiver._note(delivery)
    answer: dict[str, Any] = {
        "status": "accepted" if status == 200 else "rejected",
        "sessionId": session_id,
    }
    if status == 200:
        answer["duplicate"] = duplicate
    answer["findings"] = [asdict(f) for f in findings]
    response = _answer(status, answer)
    if status == 200 and not duplicate and session_id is not None and receiver.store is not None:
        # Ack first, process afterwards (8x8's advice): the answer is on the wire before the
        # session is handed to the store's writer, which keeps it in arrival order, so a
        # read-back sent after this ack is queued behind the record it asks for. Handed over
        # also when the sender left before its ack: the session counts as seen, so a
        # redelivery would be a duplicate and never stored otherwise.
        try:
            await response.prepare(request)
            await response.write_eof()
        finally:
            receiver.store.submit(session_id, body)
    return response


async def _read_body(
    receiver: ReferenceReceiver, request: web.BaseRequest
) -> bytes | web.StreamResponse:
    """The request body, or the refusal (411, 413, 400) to answer instead."""
    try:
        if request.content.is_eof():
            # The whole body is already parsed (the common case): no stall timer to arm.
            return await _take_body(receiver, request)
        async with asyncio.timeout(IDLE_TIMEOUT_S):
            return await _take_body(receiver, request)
    except web.RequestPayloadError as exc:
        if request.transport is None or request.transport.is_closing():
            raise _Abandon from None
        return _refuse(receiver, request, 400, f"malformed chunked body: {_reason(exc)}")
    except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
        raise _Abandon from None  # the sender went away mid-body, or stalled: nothing to answer


async def _take_body(
    receiver: ReferenceReceiver, request: web.BaseRequest
) -> bytes | web.StreamResponse:
    cap = receiver.body_cap
    if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        chunks: list[bytes] = []
        size = 0
        while chunk := await request.content.readany():
            size += len(chunk)
            if size > cap:
                return _refuse(receiver, request, 413, f"body exceeds the {cap}-byte cap (chunked)")
            chunks.append(chunk)
        return b"".join(chunks)
    raw_length = request.headers.get("Content-Length")
    if raw_length is None:
        return _refuse(receiver, request, 411, "a Content-Length header is required")
    length = int(raw_length)  # aiohttp's parser refused anything but digits
    if length > cap:
        # Decided from the header alone: a huge body is never read.
        return _refuse(receiver, request, 413, f"body of {length} bytes exceeds the {cap}-byte cap")
    return await request.content.readexactly(length)


async def _read_back(receiver: ReferenceReceiver, request: web.BaseRequest) -> web.StreamResponse:
    session_id = unquote(request.raw_path[len(READ_BACK_PREFIX) :].split("?", 1)[0])
    if receiver.store is None:
        return _not_allowed(
            receiver,
            request.method,
            request.raw_path,
            note="GET /vss/sessions/{sessionId} reads stored sessions back only when the "
            "receiver keeps them: start it with --store FILE (or --store :memory:)",
        )
    if not session_id or "/" in session_id:
        return _answer(
            404,
            {
                "status": "error",
                "error": "expected GET /vss/sessions/{sessionId}, "
                "e.g. /vss/sessions/1f048a84-ea6d-11ee-911b-078f7290bf52",
            },
        )
    records = await receiver.store.records_async(session_id)
    return web.Response(
        body=json_text(records).encode("utf-8"),
        headers={"Content-Type": _JSON, "Server": _SERVER},
    )


def _refuse(
    receiver: ReferenceReceiver, request: web.BaseRequest, status: int, message: str
) -> web.StreamResponse:
    receiver._note(
        Delivery(
            received_at=datetime.now(UTC),
            session_id=None,
            status=status,
            duplicate=False,
            findings=(Finding("$", message, "error", "http"),),
            path=request.raw_path,
            headers=tuple(request.headers.items()),
        )
    )
    # The unread body makes the connection unusable for a next request: close it.
    return _answer(status, {"status": "rejected", "error": message}, close=True)


def _not_allowed(
    receiver: ReferenceReceiver, method: str, path: str, note: str | None = None
) -> web.StreamResponse:
    receiver._say(f"{iso(datetime.now(UTC))}  405  {method} {path}")
    error = note or f"{method} is not allowed; POST a payload"
    return _answer(405, {"status": "rejected", "error": error}, close=True, allow=True)


def _answer(
    status: int, body: dict[str, Any], *, close: bool = False, allow: bool = False
) -> web.Response:
    headers = {"Content-Type": _JSON, "Server": _SERVER}
    if allow:
        headers["Allow"] = "POST"
    response = web.Response(status=status, body=json_text(body).encode("utf-8"), headers=headers)
    if close:
        response.force_close()
    return response


def _reason(exc: BaseException) -> str:
    """aiohttp's parser message on one line: its description, then the bytes it quotes."""
    message = getattr(exc, "message", None) or str(exc)
    head = message.split("\n", 1)[0].rstrip(":").strip()
    quoted = _QUOTED.search(message)
    return f"{head} ({quoted.group(1)})" if quoted else head


def _request_line(exc: BaseException) -> tuple[str, str] | None:
    """(method, target) of the request line aiohttp quotes in a bad-method error."""
    quoted = _QUOTED.search(getattr(exc, "message", "") or "")
    if quoted is None:
        return None
    try:
        line = ast.literal_eval(quoted.group(1))
    except (ValueError, SyntaxError):
        return None
    parts = line.decode("latin-1").split(" ")
    return (parts[0], parts[1]) if len(parts) >= 2 else None


class _Server(web.Server):
    """aiohttp's low-level server whose connections answer parse errors the receiver's way."""

    def __init__(self, receiver: ReferenceReceiver, handler: Any, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.receiver = receiver

    def __call__(self) -> _Connection:
        connection = _Connection(self, loop=self._loop, **self._kwargs)
        connection.receiver = self.receiver
        return connection


class _Connection(web.RequestHandler):
    receiver: ReferenceReceiver

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if isinstance(exc, _Abandon | ConnectionError):
            if self.transport is not None:
                self.transport.close()
            return web.Response(status=500)  # never written: the connection is closed
        receiver = self.receiver
        if isinstance(exc, BadHttpMethod):
            # Every method but POST gets the same 405, also one the parser does not know.
            method, target = _request_line(exc) or ("?", "-")
            return _not_allowed(receiver, method, target)
        if isinstance(exc, BadHttpMessage):
            reason = _reason(exc)
            if "chunk" in reason.lower():
                reason = f"malformed chunked body: {reason}"
            elif "content-length" in reason.lower():
                reason = f"Content-Length is not a byte count: {reason}"
            else:
                reason = f"malformed HTTP request: {reason}"
            receiver._note(
                Delivery(
                    received_at=datetime.now(UTC),
                    session_id=None,
                    status=400,
                    duplicate=False,
                    findings=(Finding("$", reason, "error", "http"),),
                    path="-",  # the request was not understood far enough to have a path
                )
            )
            return _answer(400, {"status": "rejected", "error": reason}, close=True)
        receiver._say(f"receiver error: {type(exc).__name__}: {exc}")
        return _answer(
            status, {"status": "error", "error": f"{type(exc).__name__}: {exc}"}, close=True
        )


class _OneLine(logging.Handler):
    """aiohttp's own log records, as one line on the receiver's log (never a traceback)."""

    def __init__(self, receiver: ReferenceReceiver) -> None:
        super().__init__(logging.WARNING)
        self.receiver = receiver

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, ConnectionError):
            return  # a client that went away is routine under load
        detail = f": {type(exc).__name__}: {exc}" if exc is not None else ""
        self.receiver._say(f"receiver error: {record.getMessage()}{detail}")
