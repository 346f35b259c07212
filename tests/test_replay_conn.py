"""The replay engine's connection (emitter.replay._conn): an answer whose bytes are those of the
last plain ack is taken as that ack without parsing, and only when parsing would say the same."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from emitter._outcomes import Fault, Outcome
from emitter.replay._conn import Conn, Job
from emitter.sources import Item

ACK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"


class _Transport:
    """Just enough of a transport for Conn: it records what is written and whether it closed."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> Any:
        return None


class _NoParser:
    """Stands in for llhttp to prove an answer was not parsed."""

    def feed_data(self, data: bytes) -> None:
        raise AssertionError(f"parsed {data!r}")


_AT_START = Conn.known_ack  # what a process starts with: no ack seen yet


@pytest.fixture(autouse=True)
def _forget_known_ack() -> Iterator[None]:
    Conn.known_ack = _AT_START
    yield
    Conn.known_ack = _AT_START


def _conn() -> tuple[Conn, list[tuple[Fault | None, int | None]]]:
    answers: list[tuple[Fault | None, int | None]] = []
    conn = Conn(lambda _conn, fault, status: answers.append((fault, status)))
    conn.connection_made(_Transport())  # type: ignore[arg-type]
    return conn, answers


def _ask(conn: Conn) -> None:
    job = Job(Item(0, "s-1", b"{}", "t:1"), 0.0, 1, None)
    conn.job = job
    conn.send(job, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ")


def _answer(conn: Conn, *chunks: bytes) -> None:
    for chunk in chunks:
        conn.data_received(chunk)
    conn.job = None  # the engine's part once an answer is done


def test_a_plain_ack_in_one_piece_becomes_the_known_ack_and_is_then_not_parsed() -> None:
    first, answers = _conn()
    _ask(first)
    _answer(first, ACK)
    assert answers == [(None, 200)]
    assert Conn.known_ack == ACK

    second, answers = _conn()
    second.parser = _NoParser()  # type: ignore[assignment]
    for _ in range(3):  # a fresh connection and a kept-alive one alike
        _ask(second)
        _answer(second, ACK)
    assert answers == [(None, 200)] * 3
    assert second.open
    assert second.reused


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param([ACK[:20], ACK[20:]], id="in two pieces"),
        pytest.param([ACK.replace(b"keep-alive", b"close")], id="connection close"),
        pytest.param([b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"], id="not 200"),
        pytest.param([b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nok"], id="ends at EOF"),
        pytest.param([b"HTTP/1.1 100 Continue\r\n\r\n" + ACK], id="after an interim answer"),
        pytest.param([ACK + b"HTTP/1.1 2"], id="with the start of another"),
        pytest.param(
            [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nLocation: /x\r\n\r\n"], id="a Location"
        ),
    ],
)
def test_only_a_whole_plain_ack_from_its_first_byte_is_remembered(chunks: list[bytes]) -> None:
    conn, answers = _conn()
    _ask(conn)
    for chunk in chunks:
        conn.data_received(chunk)
    if not answers:
        conn.connection_lost(None)  # an answer that ends at EOF
    assert answers[0] == (None, 201 if b" 201 " in chunks[0] else 200)  # parsed, as ever
    assert Conn.known_ack == _AT_START


def test_the_known_ack_after_stray_bytes_is_parsed_and_fails_as_parsing_says() -> None:
    # The first answer carried the start of another after it: llhttp is mid-answer. The known
    # ack's bytes then continue that answer, which is not HTTP; taking them as an ack would
    # hide the receiver's fault.
    outcomes = []
    for known in (_AT_START, ACK):
        conn, answers = _conn()
        _ask(conn)
        _answer(conn, ACK + b"HTTP/1.1 2")
        Conn.known_ack = known
        _ask(conn)
        _answer(conn, ACK)
        fault = answers[1][0]
        assert fault is not None
        outcomes.append((fault.outcome, fault.reason))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] is Outcome.NOT_HTTP


@pytest.mark.parametrize("answer", [b"\x00", b"\n", b"H"])
def test_a_one_byte_answer_before_any_ack_is_not_taken_for_one(answer: bytes) -> None:
    # Before any plain ack was seen, nothing may match the remembered bytes: a receiver that
    # answers one NUL byte is not HTTP, as parsing says (it was taken as 200).
    conn, answers = _conn()
    _ask(conn)
    conn.data_received(answer)
    if not answers:
        conn.connection_lost(None)
    fault = answers[0][0]
    assert fault is not None
    assert fault.outcome in (Outcome.NOT_HTTP, Outcome.RESET)
    assert answers[0][1] is None
