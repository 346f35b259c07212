"""The reference receiver's store over real HTTP on 127.0.0.1 and real SQLite: once, first wins."""

from __future__ import annotations

import copy
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emitter import canonical
from emitter.errors import UsageError
from emitter.generator import dumps, generate
from emitter.receiver import ReferenceReceiver


def payload(scenario: str = "completed", seed: int = 1) -> dict[str, Any]:
    return next(generate(scenario, seed=seed))


def session_of(doc: dict[str, Any]) -> str:
    return str(doc["payload"]["sessionId"])


def read_back(receiver: ReferenceReceiver, session_id: str) -> httpx.Response:
    return httpx.get(receiver.read_back_url.format(sessionId=session_id), timeout=5)


@pytest.fixture
def storing() -> Iterator[ReferenceReceiver]:
    with ReferenceReceiver(store=":memory:") as running:
        yield running


def test_an_acked_session_is_read_back_over_http_as_its_canonical_record(
    storing: ReferenceReceiver,
) -> None:
    doc = payload("busy", seed=3)
    assert httpx.post(storing.url, content=dumps(doc), timeout=5).status_code == 200
    answer = read_back(storing, session_of(doc))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == [canonical(doc)]
    assert storing.stored(session_of(doc)) == [canonical(doc)]


def test_a_read_back_right_after_each_ack_sees_the_record(storing: ReferenceReceiver) -> None:
    # No polling: a read-back asked after the ack is answered after the record is written.
    with httpx.Client(timeout=5) as client:
        for seed in range(30):
            doc = payload("completed", seed=seed)
            assert client.post(storing.url, content=dumps(doc)).status_code == 200
            url = storing.read_back_url.format(sessionId=session_of(doc))
            assert client.get(url).json() == [canonical(doc)]


def test_a_session_never_delivered_reads_back_as_an_empty_array(
    storing: ReferenceReceiver,
) -> None:
    answer = read_back(storing, "5b0f3c1e-0000-4000-8000-00000000dead")
    assert answer.status_code == 200
    assert answer.json() == []


def test_a_rejected_delivery_is_not_stored(storing: ReferenceReceiver) -> None:
    doc = payload()
    del doc["namespace"]
    assert httpx.post(storing.url, content=dumps(doc), timeout=5).status_code == 400
    assert read_back(storing, session_of(doc)).json() == []


def test_a_redelivery_with_other_contents_keeps_the_first_record(
    storing: ReferenceReceiver,
) -> None:
    first = payload("completed", seed=5)
    later = copy.deepcopy(first)
    later["payload"]["lastAction"] = "HANGUP_BY_SOMEONE_ELSE"
    with httpx.Client(timeout=5) as client:
        assert client.post(storing.url, content=dumps(first)).json()["duplicate"] is False
        assert client.post(storing.url, content=dumps(later)).json()["duplicate"] is True
    assert read_back(storing, session_of(first)).json() == [canonical(first)]


def test_concurrent_copies_of_one_session_are_stored_once(storing: ReferenceReceiver) -> None:
    body = dumps(payload("no-answer", seed=9))
    barrier = threading.Barrier(12)
    statuses: list[int] = []

    def send() -> None:
        barrier.wait()
        statuses.append(httpx.post(storing.url, content=body, timeout=10).status_code)

    threads = [threading.Thread(target=send) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 12
    session_id = session_of(payload("no-answer", seed=9))
    assert len(read_back(storing, session_id).json()) == 1
    assert storing.store is not None
    assert storing.store.size == 1


def test_a_restart_on_the_same_file_keeps_the_records_and_still_dedupes(tmp_path: Path) -> None:
    db = tmp_path / "calls.db"
    doc = payload("failed", seed=2)
    with ReferenceReceiver(store=db) as first:
        assert httpx.post(first.url, content=dumps(doc), timeout=5).status_code == 200
    with ReferenceReceiver(store=db) as again:
        assert read_back(again, session_of(doc)).json() == [canonical(doc)]
        redelivered = httpx.post(again.url, content=dumps(doc), timeout=5)
        assert redelivered.json()["duplicate"] is True
        assert again.stored(session_of(doc)) == [canonical(doc)]
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 1


def test_stop_writes_every_acked_record_before_closing(tmp_path: Path) -> None:
    db = tmp_path / "calls.db"
    docs = [payload("completed", seed=s) for s in range(40)]
    with ReferenceReceiver(store=db) as running, httpx.Client(timeout=5) as client:
        for doc in docs:
            assert client.post(running.url, content=dumps(doc)).status_code == 200
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 40


def test_clear_forgets_stored_records(storing: ReferenceReceiver) -> None:
    doc = payload()
    httpx.post(storing.url, content=dumps(doc), timeout=5)
    storing.clear()
    assert storing.stored(session_of(doc)) == []
    assert httpx.post(storing.url, content=dumps(doc), timeout=5).json()["duplicate"] is False
    assert storing.stored(session_of(doc)) == [canonical(doc)]


def test_read_back_without_a_store_is_refused_with_the_option_to_use() -> None:
    with ReferenceReceiver() as plain:
        answer = read_back(plain, "anything")
        assert answer.status_code == 405
        assert "--store" in answer.json()["error"]
        with pytest.raises(UsageError, match="keeps no records"):
            plain.stored("anything")


def test_a_read_back_path_without_a_session_is_404(storing: ReferenceReceiver) -> None:
    assert httpx.get(storing.url + "vss/sessions/", timeout=5).status_code == 404


def test_a_file_that_is_not_a_store_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    not_db = tmp_path / "notes.txt"
    not_db.write_text("hello, this is not SQLite\n" * 100)
    with pytest.raises(UsageError, match=r"cannot use --store .*notes\.txt"):
        ReferenceReceiver(store=not_db).start()
    foreign = tmp_path / "other.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE sessions (id INTEGER, name TEXT)")
    with pytest.raises(UsageError, match="not a vss-emitter store"):
        ReferenceReceiver(store=foreign).start()
    with pytest.raises(UsageError, match="cannot open --store"):
        ReferenceReceiver(store=tmp_path / "missing-dir" / "calls.db").start()


def test_the_demo_verifies_every_probe_through_the_read_back_path() -> None:
    from emitter.check import run_demo

    result = run_demo(seed=5)
    report = result.report
    assert report.exit_code == 0
    assert report.verify.endswith("/vss/sessions/{sessionId}")
    verified = [r for r in report.results if r.verification]
    # Every probe that delivers a session proves it was stored (the auth probes need
    # --auth-header and are not in the demo's catalogue).
    assert len(verified) == len(report.results)
    assert all(v.ok for r in verified for v in r.verification)


@pytest.mark.parametrize("in_the_way", [False, True])
def test_a_store_in_a_missing_folder_is_refused_naming_the_folder(
    tmp_path: Path, in_the_way: bool
) -> None:
    folder = tmp_path / "nodir"
    if in_the_way:
        folder.write_text("")
    store = folder / "calls.db"
    found = "is not a folder" if in_the_way else "does not exist"
    with pytest.raises(UsageError) as caught:
        ReferenceReceiver(store=str(store)).start()
    assert str(caught.value) == (
        f"cannot open --store {str(store)!r}: its folder {str(folder)!r} {found}; "
        "e.g. --store calls.db (a new or existing store file) or --store :memory:"
    )
    assert [p.name for p in tmp_path.iterdir()] == (["nodir"] if in_the_way else [])
