"""The reference receiver over real loopback sockets: 200, 400 with findings, 413, 405, dedupe."""

from __future__ import annotations

import copy
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emitter.deliver import DeliveryConfig, Outcome, deliver_all
from emitter.errors import UsageError
from emitter.receiver import ReferenceReceiver, read_record

# The documentation's success example, as 8x8 publishes it (the golden fixture the contract
# tests use): valid under the default schema, with lint warnings (CallA, "null", leg before start).
DOC_SUCCESS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "fixtures" / "docs" / "success.json").read_text(encoding="utf-8")
)


def clean_payload(session_id: str = "5b0f3c1e-0000-4000-8000-000000000001") -> dict[str, Any]:
    """The success example with its lint warnings fixed: valid even under --strict."""
    payload = copy.deepcopy(DOC_SUCCESS)
    inner = payload["payload"]
    inner["sessionId"] = session_id
    leg = inner["details"].pop("CallA")
    del leg["SourceRefId"]
    leg["sourceRefId"] = "PSTN1"
    leg["initiatedTimestamp"] = "2024-03-25T06:01:30Z"
    inner["details"]["callA"] = leg
    return payload


def dump(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


@pytest.fixture
def receiver() -> Iterator[ReferenceReceiver]:
    with ReferenceReceiver() as running:
        yield running


def post(url: str, body: bytes, **kwargs: Any) -> httpx.Response:
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    return httpx.post(url, content=body, headers=headers, timeout=5, **kwargs)


def raw_exchange(url: str, data: bytes) -> bytes:
    """Send raw bytes, return everything the receiver answers until it closes."""
    port = int(url.rsplit(":", 1)[1].strip("/"))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(data)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_valid_payload_is_acked_200(receiver: ReferenceReceiver) -> None:
    response = post(receiver.url, dump(clean_payload()))
    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    (delivery,) = receiver.deliveries
    assert delivery.status == 200
    assert delivery.session_id == "5b0f3c1e-0000-4000-8000-000000000001"
    assert delivery.findings == ()
    assert not delivery.duplicate


def test_documentation_example_is_acked_with_its_lint_warnings(receiver: ReferenceReceiver) -> None:
    response = post(receiver.url, dump(DOC_SUCCESS))
    assert response.status_code == 200
    warnings = response.json()["findings"]
    assert warnings
    assert {w["severity"] for w in warnings} == {"warning"}


def test_strict_rejects_lint_findings() -> None:
    with ReferenceReceiver(strict=True) as strict:
        doc = post(strict.url, dump(DOC_SUCCESS))
        clean = post(strict.url, dump(clean_payload()))
    assert doc.status_code == 400
    assert clean.status_code == 200


def test_invalid_payload_gets_400_with_its_findings(receiver: ReferenceReceiver) -> None:
    payload = clean_payload()
    del payload["namespace"]
    payload["payload"]["callCount"] = "one"
    response = post(receiver.url, dump(payload))
    assert response.status_code == 400
    answer = response.json()
    assert answer["status"] == "rejected"
    paths = {f["path"] for f in answer["findings"] if f["severity"] == "error"}
    assert any("callCount" in p for p in paths)
    assert receiver.deliveries[0].status == 400


def test_non_json_gets_400(receiver: ReferenceReceiver) -> None:
    response = post(receiver.url, b"hello, not json")
    assert response.status_code == 400
    (finding,) = response.json()["findings"]
    assert finding["rule"] == "json"
    assert receiver.deliveries[0].session_id is None


def test_body_over_the_cap_gets_413_without_being_read() -> None:
    with ReferenceReceiver(body_cap=1000) as small:
        assert post(small.url, b"x" * 1001).status_code == 413
        # Only the header is sent: the receiver answers from Content-Length alone.
        answer = raw_exchange(
            small.url,
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n",
        )
        assert post(small.url, dump(clean_payload())).status_code == 200
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert [d.status for d in small.deliveries] == [413, 413, 200]


def test_duplicate_session_is_acked_and_noted_once(tmp_path: Path) -> None:
    record = tmp_path / "deliveries.ndjson"
    body = dump(clean_payload())
    with ReferenceReceiver(record=record) as running:
        first = post(running.url, body)
        second = post(running.url, body)
        counts = running.counts
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.json()["duplicate"], second.json()["duplicate"]) == (False, True)
    assert counts.deliveries == 2
    assert counts.duplicates == 1
    lines = list(read_record(record))
    assert [line["duplicate"] for line in lines] == [False, True]


def test_concurrent_copies_of_one_session_are_processed_once(receiver: ReferenceReceiver) -> None:
    body = dump(clean_payload())
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def send() -> None:
        barrier.wait()
        statuses.append(post(receiver.url, body).status_code)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 8
    assert [d.duplicate for d in receiver.deliveries].count(False) == 1


def test_record_holds_one_flushed_ndjson_line_per_delivery(tmp_path: Path) -> None:
    record = tmp_path / "deliveries.ndjson"
    with ReferenceReceiver(record=record) as running:
        post(running.url, dump(clean_payload()))
        # Flushed per line: readable while the receiver still runs.
        assert len(record.read_text().splitlines()) == 1
        post(running.url, b"not json")
    first, second = read_record(record)
    assert set(first) >= {"received_at", "session_id", "status", "duplicate", "findings", "payload"}
    assert first["payload"] == clean_payload()
    assert first["status"] == 200
    assert second["status"] == 400
    assert second["payload"] == "not json"
    assert second["findings"][0]["rule"] == "json"


def test_record_never_holds_request_headers(tmp_path: Path) -> None:
    record = tmp_path / "deliveries.ndjson"
    with ReferenceReceiver(record=record) as running:
        post(running.url, dump(clean_payload()), headers={"Authorization": "Bearer s3cr3t"})
        assert ("Authorization", "Bearer s3cr3t") in running.deliveries[0].headers
    assert "s3cr3t" not in record.read_text()


def test_methods_other_than_post_get_405(receiver: ReferenceReceiver) -> None:
    response = httpx.get(receiver.url, timeout=5)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert httpx.head(receiver.url, timeout=5).status_code == 405
    assert receiver.deliveries == []


def test_missing_content_length_gets_411(receiver: ReferenceReceiver) -> None:
    answer = raw_exchange(receiver.url, b"POST / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 411 ")


def test_chunked_body_is_accepted(receiver: ReferenceReceiver) -> None:
    body = dump(clean_payload())
    response = post(receiver.url, iter([body[:100], body[100:]]))  # type: ignore[arg-type]
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 200


def test_keep_alive_serves_several_requests_on_one_connection(receiver: ReferenceReceiver) -> None:
    body = dump(clean_payload())
    request = f"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    port = receiver.port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(request + request)
        seen = b""
        while seen.count(b"HTTP/1.1 200 ") < 2:
            chunk = conn.recv(65536)
            assert chunk, "the receiver closed a keep-alive connection"
            seen += chunk
    assert [d.path for d in receiver.deliveries] == ["/a", "/a"]


def test_client_disconnect_mid_body_leaves_no_traceback(
    receiver: ReferenceReceiver, capfd: pytest.CaptureFixture[str]
) -> None:
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as conn:
        conn.sendall(b'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{"partial')
    assert post(receiver.url, dump(clean_payload())).status_code == 200
    assert "Traceback" not in capfd.readouterr().err
    assert [d.status for d in receiver.deliveries] == [200]


def test_many_deliveries_over_concurrent_connections_are_all_acked(
    receiver: ReferenceReceiver,
) -> None:
    results: list[list[Outcome]] = []

    def sender(worker: int) -> None:
        bodies = [
            dump(clean_payload(f"5b0f3c1e-0000-4000-8000-{worker:04d}{i:08d}")) for i in range(25)
        ]
        acks = deliver_all(bodies, url=receiver.url, config=DeliveryConfig(timeout_s=10))
        results.append([ack.outcome for ack in acks])

    threads = [threading.Thread(target=sender, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [o for outcomes in results for o in outcomes] == [Outcome.ACKED] * 150
    assert receiver.counts.accepted == 150
    assert receiver.counts.duplicates == 0


def test_log_gets_one_line_per_delivery(tmp_path: Path) -> None:
    lines: list[str] = []
    with ReferenceReceiver(log=lines.append) as running:
        body = dump(clean_payload())
        post(running.url, body)
        post(running.url, body)
        post(running.url, b"nope")
    assert len(lines) == 3
    assert "200" in lines[0]
    assert "5b0f3c1e-0000-4000-8000-000000000001" in lines[0]
    assert "duplicate" in lines[1]
    assert "400" in lines[2]
    assert "not JSON" in lines[2]


def test_port_in_use_is_a_usage_error(receiver: ReferenceReceiver) -> None:
    with pytest.raises(UsageError, match="cannot listen"):
        ReferenceReceiver(port=receiver.port).start()


def test_clear_forgets_sessions(receiver: ReferenceReceiver) -> None:
    body = dump(clean_payload())
    post(receiver.url, body)
    receiver.clear()
    assert post(receiver.url, body).json()["duplicate"] is False
    assert receiver.counts.deliveries == 1


# --- hostile bodies and requests: always an answer, never a dropped connection ---------------


def status_of(answer: bytes) -> int:
    # A request the HTTP parser could not read (a made-up method, a bad chunk size) is answered
    # with an HTTP/1.0 status line: the parser never learnt the request's version.
    assert answer.startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")), answer[:200]
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize(
    ("field", "status"),
    [
        ("note", 200),
        ("subAccountId", 400),
    ],  # unknown fields are ignored; subAccountId has a pattern
)
def test_a_lone_surrogate_in_a_payload_is_answered_recorded_and_logged(
    tmp_path: Path, field: str, status: int
) -> None:
    record = tmp_path / "deliveries.ndjson"
    logged: list[bytes] = []
    payload = clean_payload()
    payload["payload"][field] = "\ud800"
    body = json.dumps(payload).encode()  # ensure_ascii: the surrogate travels as "\ud800"
    assert b"\\ud800" in body
    # A strict UTF-8 log, like a terminal's: a surrogate that reaches it raises.
    with ReferenceReceiver(record=record, log=lambda line: logged.append(line.encode())) as rx:
        response = post(rx.url, body)
    assert response.status_code == status
    assert response.json()["status"] == ("accepted" if status == 200 else "rejected")
    (line,) = read_record(record)
    assert line["status"] == status
    assert line["payload"]["payload"][field] == "\ud800"
    assert len(logged) == 1


def test_a_lone_surrogate_sessionid_gets_an_answer_and_a_record(tmp_path: Path) -> None:
    record = tmp_path / "deliveries.ndjson"
    logged: list[bytes] = []
    with ReferenceReceiver(record=record, log=lambda line: logged.append(line.encode())) as rx:
        answer = raw_exchange(
            rx.url,
            b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 34\r\n\r\n"
            b'{"payload":{"sessionId":"\\ud800"}}',
        )
    assert status_of(answer) == 400
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["sessionId"] == "\ud800"
    (line,) = read_record(record)
    assert line["session_id"] == "\ud800"
    assert b"\\ud800" in logged[0]


def test_a_deeply_nested_body_with_record_is_answered_400_and_recorded_as_text(
    tmp_path: Path,
) -> None:
    record = tmp_path / "deliveries.ndjson"
    body = b"[" * 100_000 + b"]" * 100_000
    with ReferenceReceiver(record=record) as rx:
        response = post(rx.url, body)
    assert response.status_code == 400
    (line,) = read_record(record)
    assert line["status"] == 400
    assert line["payload"] == body.decode()


def test_a_nan_body_is_recorded_as_text_so_the_record_stays_strict_json(tmp_path: Path) -> None:
    record = tmp_path / "deliveries.ndjson"
    body = b'{"payload":{"sessionId":"n1","callCount":NaN}}'
    with ReferenceReceiver(record=record) as rx:
        response = post(rx.url, body)
    assert response.status_code == 400

    def refuse(name: str) -> None:
        raise ValueError(name)

    (text,) = record.read_text(encoding="utf-8").splitlines()
    line = json.loads(text, parse_constant=refuse)
    assert line["payload"] == body.decode()


@pytest.mark.parametrize("size", [b"-1", b"+5", b"0x5", b"1_0", b" ", b"zz"])
def test_a_chunk_size_that_is_not_plain_hex_is_refused_400(
    receiver: ReferenceReceiver, size: bytes
) -> None:
    port = int(receiver.url.rsplit(":", 1)[1].strip("/"))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        # Only the size line, and the connection stays open for writing: a receiver that
        # reads the body to EOF never answers.
        conn.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + size + b"\r\n"
        )
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    assert status_of(answer) == 400
    assert b"malformed chunked body" in answer
    (delivery,) = receiver.deliveries
    assert delivery.status == 400


def test_a_chunk_cut_short_by_the_sender_is_not_judged(receiver: ReferenceReceiver) -> None:
    port = int(receiver.url.rsplit(":", 1)[1].strip("/"))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\na\r\n{}")
        conn.shutdown(socket.SHUT_WR)
        assert conn.recv(65536) == b""
    assert receiver.deliveries == []


def test_chunk_extensions_and_upper_case_hex_are_read(receiver: ReferenceReceiver) -> None:
    body = dump(clean_payload())
    half = len(body) // 2
    chunks = [body[:half], body[half:]]
    data = b"".join(b"%X;ext=1\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    answer = raw_exchange(
        receiver.url,
        b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
        + data,
    )
    assert status_of(answer) == 200
    assert receiver.deliveries[0].body == body


@pytest.mark.parametrize("method", [b"TRACE", b"CONNECT", b"FOO"])
def test_every_method_but_post_is_answered_405_with_allow_post(
    receiver: ReferenceReceiver, method: bytes
) -> None:
    answer = raw_exchange(receiver.url, method + b" / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(answer) == 405
    head = answer.partition(b"\r\n\r\n")[0].lower()
    assert b"\r\nallow: post" in head


def test_a_log_line_never_carries_terminal_control_characters() -> None:
    logged: list[str] = []
    with ReferenceReceiver(log=logged.append) as rx:
        raw_exchange(rx.url, b"GET /\x1b[2J HTTP/1.1\r\nHost: x\r\n\r\n")
        post(rx.url, b'{"payload":{"sessionId":"\\u001b[31mred"}}')
    assert len(logged) == 2
    assert all("\x1b" not in line for line in logged)
    assert "\\x1b[2J" in logged[0]


def test_a_chunked_body_over_the_cap_gets_413() -> None:
    with ReferenceReceiver(body_cap=1000) as small:
        response = post(small.url, iter([b"x" * 600, b"x" * 600]))  # type: ignore[arg-type]
        assert response.request.headers["transfer-encoding"] == "chunked"
        assert response.status_code == 413
        assert "cap (chunked)" in response.json()["error"]
        assert post(small.url, dump(clean_payload())).status_code == 200
    assert [d.status for d in small.deliveries] == [413, 200]


def test_a_body_that_stalls_is_dropped_without_an_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import emitter.receiver._http as http_side

    monkeypatch.setattr(http_side, "IDLE_TIMEOUT_S", 0.2)
    with ReferenceReceiver() as rx:
        with socket.create_connection(("127.0.0.1", rx.port), timeout=10) as conn:
            conn.sendall(b'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{"partial')
            assert conn.recv(65536) == b""  # closed by the receiver, nothing answered
        assert post(rx.url, dump(clean_payload())).status_code == 200
        assert [d.status for d in rx.deliveries] == [200]


def test_stop_returns_while_clients_hold_connections_open() -> None:
    rx = ReferenceReceiver().start()
    idle = socket.create_connection(("127.0.0.1", rx.port), timeout=10)
    midway = socket.create_connection(("127.0.0.1", rx.port), timeout=10)
    try:
        with httpx.Client(timeout=5) as client:
            assert client.post(rx.url, content=dump(clean_payload())).status_code == 200
        midway.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        stopper = threading.Thread(target=rx.stop)
        stopper.start()
        stopper.join(timeout=30)
        assert not stopper.is_alive(), "stop() hung on open connections"
        assert idle.recv(65536) == b""  # the idle keep-alive connection was closed
    finally:
        idle.close()
        midway.close()
    with pytest.raises(httpx.ConnectError):
        httpx.post(rx.url, content=dump(clean_payload()), timeout=5)


def test_a_gzip_body_is_judged_as_sent_not_inflated(receiver: ReferenceReceiver) -> None:
    import gzip

    body = gzip.compress(dump(clean_payload()))
    response = post(receiver.url, body, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert response.json()["findings"][0]["rule"] == "json"


def test_a_content_length_that_is_not_a_number_is_refused_400_in_json(
    receiver: ReferenceReceiver,
) -> None:
    request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"
    answer = raw_exchange(receiver.url, request)
    assert status_of(answer) == 400
    error = json.loads(answer.partition(b"\r\n\r\n")[2])["error"]
    assert error.startswith("Content-Length is not a byte count")
    (delivery,) = receiver.deliveries
    assert (delivery.status, delivery.path) == (400, "-")
