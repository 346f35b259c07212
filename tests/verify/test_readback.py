"""Read-back over real parts: a storing receiver over HTTP, its SQLite database, a command."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import servers

from emitter import canonical
from emitter.deliver import DeliveryConfig, deliver
from emitter.generator import dumps, generate
from emitter.verify import (
    CallableReadBack,
    ReadBackError,
    VerifyConfigError,
    load_verify_file,
    open_read_back,
    preflight,
    verify_config,
    verify_session,
)
from verify.storing_receiver import StoringReceiver

READ_BACK_SCRIPT = """
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.row_factory = sqlite3.Row
query = "SELECT session_id, session_status FROM calls WHERE session_id = ?"
rows = db.execute(query, (sys.argv[2],))
found = [dict(r) for r in rows]
if found:
    print(json.dumps(found if sys.argv[3] == "array" else found[0]))
"""


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[StoringReceiver]:
    with StoringReceiver(tmp_path / "app.db", delay_s=0.1) as running:
        yield running


def send(receiver: StoringReceiver, scenario: str = "busy", seed: int = 3) -> dict[str, Any]:
    payload = next(iter(generate(scenario, seed=seed, n=1)))
    assert deliver(dumps(payload), url=receiver.url, config=DeliveryConfig()).ok
    return payload


def command_config(tmp_path: Path, receiver: StoringReceiver, shape: str) -> Any:
    script = tmp_path / "read_back.py"
    script.write_text(READ_BACK_SCRIPT)
    argv = [sys.executable, str(script), str(receiver.db_path), "{sessionId}", shape]
    return verify_config({"command": argv, "within": "3s", "settle": "0.3s"}, source="v.yaml")


@pytest.mark.parametrize("kind", ["http", "sql"])
def test_a_stored_session_reads_back_as_its_canonical_record(
    tmp_path: Path, receiver: StoringReceiver, kind: str
) -> None:
    config = load_verify_file(receiver.verify_file(tmp_path, kind=kind))
    payload = send(receiver)
    read_back = open_read_back(config)
    try:
        preflight(read_back, config)
        found = verify_session(
            read_back,
            payload["payload"]["sessionId"],
            mode="once",
            expected=[canonical(payload)],
            within_s=3,
            settle_s=0.3,
        )
    finally:
        read_back.close()
    assert (found.state, found.reason) == ("stored", "stored as expected")
    assert found.reads >= 2  # processing takes 100 ms: the first read finds nothing yet
    assert found.stored[0]["legs"]


@pytest.mark.parametrize("shape", ["array", "object"])
def test_a_command_read_back_prints_an_object_an_array_or_nothing(
    tmp_path: Path, receiver: StoringReceiver, shape: str
) -> None:
    config = command_config(tmp_path, receiver, shape)
    payload = send(receiver)
    read_back = open_read_back(config)
    preflight(read_back, config)  # prints nothing for an unknown session: not stored
    found = verify_session(  # a command holds nothing open: no close needed
        read_back,
        payload["payload"]["sessionId"],
        mode="once",
        expected=[canonical(payload)],
        within_s=3,
        settle_s=0.3,
    )
    assert found.state == ("stored" if shape == "array" else "uncountable")
    assert found.stored == (
        {"session_id": payload["payload"]["sessionId"], "session_status": "BUSY"},
    )


def test_an_http_read_back_of_one_object_cannot_count(tmp_path: Path) -> None:
    with StoringReceiver(tmp_path / "app.db", read_back="object") as receiver:
        config = load_verify_file(receiver.verify_file(tmp_path, kind="http"))
        payload = send(receiver)
        with closing(open_read_back(config)) as read_back:
            found = verify_session(
                read_back,
                payload["payload"]["sessionId"],
                mode="once",
                expected=[canonical(payload)],
                within_s=3,
                settle_s=0.3,
            )
    assert found.state == "uncountable"
    assert not found.ok
    assert not found.failed
    assert "'exactly once' is not verifiable" in found.reason


def test_a_failing_command_is_could_not_verify_with_its_last_error_line(tmp_path: Path) -> None:
    config = verify_config(
        {"command": [sys.executable, "-c", "import sys; sys.exit('db down')", "{sessionId}"]},
        source="v.yaml",
    )
    found = verify_session(open_read_back(config), "s-1", mode="stored", expected=[], within_s=0.1)
    assert found.state == "could_not_verify"
    assert found.reason.endswith("exited with status 1: db down")
    with pytest.raises(VerifyConfigError, match=r"^v\.yaml: key `command`: .*db down$"):
        preflight(open_read_back(config), config)


def test_an_unreachable_read_back_fails_the_preflight_naming_file_and_key() -> None:
    url = servers.closed_port_url().rstrip("/") + "/vss/{sessionId}"
    config = verify_config({"http": url}, source="v.yaml")
    with (
        closing(open_read_back(config)) as read_back,
        pytest.raises(VerifyConfigError, match=r"^v\.yaml: key `http`: GET "),
    ):
        preflight(read_back, config)


def test_an_http_error_mid_run_is_could_not_verify() -> None:
    with servers.answering(500, b"boom") as server:
        config = verify_config({"http": server.url.rstrip("/") + "/{sessionId}"})
        with closing(open_read_back(config)) as read_back:
            found = verify_session(read_back, "s-1", mode="stored", within_s=0.2)
    assert found.state == "could_not_verify"
    assert "answered HTTP 500" in found.reason


def test_an_sql_error_names_the_database_not_its_password(tmp_path: Path) -> None:
    (tmp_path / "x.db").touch()  # an empty database: the query's table is not there
    config = verify_config(
        {
            "sql": f"sqlite:///{tmp_path / 'x.db'}",
            "query": "SELECT * FROM nope WHERE a = :sessionId",
        },
        source="v.yaml",
    )
    with (
        closing(open_read_back(config)) as read_back,
        pytest.raises(VerifyConfigError, match=r"^v\.yaml: key `query`: SQL sqlite:///.*nope"),
    ):
        preflight(read_back, config)


def test_a_query_that_does_not_filter_is_caught_before_sending(
    tmp_path: Path, receiver: StoringReceiver
) -> None:
    send(receiver)
    time.sleep(0.3)
    config = verify_config(
        {
            "sql": receiver.sqlalchemy_url,
            "query": "SELECT * FROM calls WHERE :sessionId IS NOT NULL",
        },
        source="v.yaml",
    )
    with (
        closing(open_read_back(config)) as read_back,
        pytest.raises(VerifyConfigError, match="returned a record for a sessionId never sent"),
    ):
        preflight(read_back, config)


def test_a_missing_driver_names_the_package(tmp_path: Path) -> None:
    config = verify_config(
        {"sql": "mysql+nosuchdriver://u:pw@127.0.0.1/app", "query": "SELECT 1 WHERE :sessionId"},
        source="v.yaml",
    )
    with pytest.raises(VerifyConfigError, match=r"^v\.yaml: key `sql`: ") as caught:
        open_read_back(config)
    assert "pw@" not in str(caught.value)


def test_a_callable_read_back_takes_none_an_object_or_a_list() -> None:
    table: dict[str, Any] = {
        "a": None,
        "b": {"sessionId": "b"},
        "c": [{"sessionId": "c"}] * 2,
        "d": {},
        "e": [],
    }
    read = CallableReadBack(lambda sid: table[sid])
    assert [(len(s.records), s.countable) for s in map(read.read, "abcde")] == [
        (0, True),
        (1, False),
        (2, True),
        (0, True),
        (0, True),
    ]
    with pytest.raises(ReadBackError, match="raised KeyError"):
        read.read("zzz")


def test_not_json_from_the_read_back_is_could_not_verify() -> None:
    with servers.answering(200, b"<html>") as server:
        config = verify_config({"http": server.url.rstrip("/") + "/{sessionId}"})
        with closing(open_read_back(config)) as read_back:
            found = verify_session(read_back, "s-1", mode="stored", within_s=0.2)
    assert "not JSON" in found.reason
    json.dumps(found.as_dict())  # reports can always serialise a verdict


def test_orm_values_from_a_callable_read_back_compare_by_value_and_serialise() -> None:
    # An ORM hands back UUID, Decimal, datetime, date and bytes values: each means its value.
    import datetime as dt
    import uuid
    from decimal import Decimal

    payload = next(generate("busy", seed=3, n=1))
    expected = canonical(payload)
    start = dt.datetime.fromisoformat(expected["startTime"].replace("Z", "+00:00"))
    row = {
        "sessionId": uuid.UUID(expected["sessionId"]),
        "sessionStatus": memoryview(expected["sessionStatus"].encode()),
        "startTime": start,
        "callCount": Decimal(expected["callCount"]),
        "stored_on": start.date(),
    }
    read = CallableReadBack(lambda sid: [row])
    found = verify_session(
        read, expected["sessionId"], mode="once", expected=[expected], within_s=0.5, settle_s=0
    )
    assert found.state == "stored", found.reason
    json.dumps(found.as_dict())  # no default=: every stored value is JSON already
    assert found.stored[0]["sessionId"] == expected["sessionId"]


def test_the_preflight_session_id_is_a_bare_uuid() -> None:
    import uuid

    seen: list[str] = []
    preflight(
        CallableReadBack(lambda sid: seen.append(sid)),
        verify_config({"http": "http://h/{sessionId}"}),
    )
    assert str(uuid.UUID(seen[0])) == seen[0]


def test_a_read_back_returning_neither_objects_nor_nothing_says_what_it_returned() -> None:
    with pytest.raises(ReadBackError) as caught:
        CallableReadBack(lambda sid: [1, 2], description="the vss_read_back fixture").read("s")
    assert str(caught.value) == (
        "the vss_read_back fixture returned an array holding a number (1); expected an object "
        "(the stored record), an array of objects, or nothing"
    )


def test_a_missing_sqlite_file_is_refused_before_sqlite_creates_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = verify_config(
        {"sql": "sqlite:///calls.db", "query": "SELECT 1 WHERE :sessionId = ''"},
        source="v.yaml",
    )
    with pytest.raises(VerifyConfigError) as caught:
        open_read_back(config)
    assert str(caught.value).startswith(
        "v.yaml: key `sql`: the SQLite database 'calls.db' does not exist (a relative "
        f"sqlite:/// path is read from the current directory, {tmp_path})"
    )
    assert not (tmp_path / "calls.db").exists()
