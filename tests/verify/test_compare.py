"""Comparing a stored record with the canonical reading: on the fields the record has."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from emitter import canonical
from emitter.verify import NoCanonicalFields, compare
from emitter.verify._readback import jsonable

DOCS = Path(__file__).parent.parent / "fixtures" / "docs"


def expected(name: str = "success") -> dict[str, Any]:
    return canonical(json.loads((DOCS / f"{name}.json").read_text()))


def test_a_record_is_judged_on_the_fields_it_has_only() -> None:
    stored = {"sessionId": expected()["sessionId"], "sessionStatus": "COMPLETED", "extra": 1}
    assert compare(stored, expected()) == []


def test_a_mismatch_reads_like_a_diff() -> None:
    stored = {"sessionStatus": "COMPLETED"}
    assert compare(stored, dict(expected(), sessionStatus="BUSY")) == [
        "sessionStatus: stored 'COMPLETED', expected 'BUSY'"
    ]


def test_names_match_ignoring_case_and_underscores() -> None:
    stored = {"session_status": "BUSY", "SUBACCOUNTID": "8x8_test", "callcount": 1}
    assert compare(stored, dict(expected(), sessionStatus="BUSY")) == []


def test_a_record_with_no_canonical_name_is_an_error_that_says_so() -> None:
    with pytest.raises(NoCanonicalFields, match=r"none of the canonical field names .*status"):
        compare({"id": 1, "status": "BUSY"}, expected())


@pytest.mark.parametrize(
    "stored",
    [
        "2024-03-25T06:01:30Z",
        "2024-03-25T14:01:30+08:00",
        "2024-03-25 06:01:30",
        "2024-03-25T06:01:30.000Z",
        1711346490,
        jsonable(datetime(2024, 3, 25, 6, 1, 30, tzinfo=UTC)),
    ],
)
def test_timestamps_compare_as_instants(stored: object) -> None:
    assert compare({"startTime": stored}, expected()) == []


def test_a_different_instant_is_a_mismatch() -> None:
    assert compare({"startTime": "2024-03-25T06:01:31Z"}, expected()) == [
        "startTime: stored '2024-03-25T06:01:31Z', expected '2024-03-25T06:01:30Z'"
    ]


@pytest.mark.parametrize("stored", [1, 1.0, "1", jsonable(Decimal("1.000"))])
def test_numbers_compare_numerically(stored: object) -> None:
    assert compare({"callCount": stored}, expected()) == []


def test_strings_compare_exactly() -> None:
    assert compare({"sessionStatus": "completed"}, expected()) == [
        "sessionStatus: stored 'completed', expected 'COMPLETED'"
    ]


def test_null_equals_absent_and_the_string_null_is_not_null() -> None:
    assert compare({"errorCode": None, "clientRequestId": None}, expected()) == []
    assert compare({"errorMsg": "null"}, expected()) == ["errorMsg: stored 'null', expected null"]


def test_legs_match_by_key_and_report_fields_by_leg() -> None:
    stored = {"legs": [{"key": "callA", "call_status": "BUSY", "sourceRefId": "null"}]}
    assert compare(stored, expected()) == [
        "legs[callA].callStatus: stored 'BUSY', expected 'COMPLETED'",
        "legs[callA].sourceRefId: stored 'null', expected null",
    ]


def test_legs_without_a_key_match_by_call_id() -> None:
    leg = expected()["legs"][0]
    assert (
        compare({"legs": [{"callId": leg["callId"], "callStatus": "COMPLETED"}]}, expected()) == []
    )


def test_a_canonical_leg_with_no_stored_match_is_a_mismatch() -> None:
    assert compare({"sessionStatus": "COMPLETED", "legs": []}, expected()) == [
        "legs: callA not stored"
    ]


def test_extra_and_twice_stored_legs_are_mismatches() -> None:
    legs = [{"key": "callA"}, {"key": "callA"}, {"key": "callB"}]
    assert compare({"legs": legs}, expected()) == [
        "legs: callA stored 2 times",
        "legs: stored a leg that is not in the payload (callB)",
    ]


def test_legs_as_a_json_text_column_are_read() -> None:
    assert compare({"legs": json.dumps([{"key": "callA", "mos": 4.5}])}, expected()) == []
