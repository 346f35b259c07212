"""The canonical reading of a payload: documented names, quirks resolved, for every input."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import emitter
from emitter import canonical
from emitter._canonical import LEG_FIELDS, SESSION_FIELDS, leg_order
from emitter.cli import cli
from emitter.errors import InputError
from emitter.generator import dumps, generate
from emitter.scenarios import builtin_names, load_scenario

ROOT = Path(__file__).parent.parent
DOC_EXAMPLES = sorted(
    [
        *(ROOT / "tests" / "fixtures" / "docs").glob("*.json"),
        *(ROOT / "schemas" / "examples").glob("*.json"),
    ]
)
TIMESTAMPS = ("initiatedTimestamp", "connectedTimestamp", "disconnectedTimestamp")


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def success() -> dict[str, Any]:
    return load(ROOT / "tests" / "fixtures" / "docs" / "success.json")


def assert_shape(record: dict[str, Any]) -> None:
    """What holds for the canonical record of any payload."""
    assert tuple(record) == SESSION_FIELDS
    keys = [leg["key"] for leg in record["legs"]]
    assert keys == sorted(keys, key=leg_order)
    for leg in record["legs"]:
        assert tuple(leg) == LEG_FIELDS
        assert leg["key"][0].islower()
    values = [*record.values(), *(v for leg in record["legs"] for v in leg.values())]
    assert "null" not in values
    assert not any(isinstance(v, str) and " " in v for v in (record["sessionStatus"],))


def test_the_success_example_reads_as_documented_names_with_its_quirks_resolved() -> None:
    assert canonical(success()) == {
        "sessionId": "1f048a84-ea6d-11ee-911b-078f7290bf52",
        "subAccountId": "8x8_test",
        "sessionStatus": "COMPLETED",
        "startTime": "2024-03-25T06:01:30Z",
        "endTime": "2024-03-25T06:01:50Z",
        "lastAction": "MAKE_CALL",
        "callCount": 1,
        "errorCode": None,
        "errorMsg": None,
        "clientRequestId": None,
        "legs": [
            {
                "key": "callA",
                "callId": "1f048a83-ea6d-11ee-911b-e9023a97c284",
                "callDirection": "OUTBOUND",
                "callType": "PSTN",
                "initiatedTimestamp": "2024-03-25T06:01:28Z",
                "connectedTimestamp": "2024-03-25T06:01:37Z",
                "disconnectedTimestamp": "2024-03-25T06:01:50Z",
                "source": "+12314377870",
                "destination": "+6568332048",
                "sourceCountryCode": "US",
                "destinationCountryCode": "SG",
                "sourceRefId": None,
                "destinationRefId": None,
                "callStatus": "COMPLETED",
                "callDuration": 13,
                "mos": 4.5,
                "packetLossRate": 0,
                "jitter": 20,
            }
        ],
    }


def test_the_failure_example_carries_its_error_details_and_no_quality() -> None:
    record = canonical(load(ROOT / "tests" / "fixtures" / "docs" / "failure.json"))
    assert (record["sessionStatus"], record["errorCode"], record["errorMsg"]) == (
        "ERROR",
        -2004,
        "No coverage available for requested area",
    )
    (leg,) = record["legs"]
    assert (leg["key"], leg["sourceRefId"], leg["connectedTimestamp"], leg["mos"]) == (
        "callA",
        "PSTN1",
        None,
        None,
    )


@pytest.mark.parametrize("path", DOC_EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_documentation_example_has_a_complete_canonical_record(path: Path) -> None:
    doc = load(path)
    record = canonical(doc)
    assert_shape(record)
    details = doc["payload"]["details"]
    assert sorted(leg["key"] for leg in record["legs"]) == sorted(
        k[0].lower() + k[1:] for k in details
    )
    assert record["sessionId"] == doc["payload"]["sessionId"]


@pytest.mark.parametrize("name", builtin_names())
def test_every_scenario_reads_back_the_values_it_sent(name: str) -> None:
    scenario = load_scenario(name)
    for payload in generate(scenario, seed=11, n=5):
        body = payload["payload"]
        record = canonical(json.loads(dumps(payload)))
        assert_shape(record)
        assert record["callCount"] == len(record["legs"]) == len(body["details"])
        for field in SESSION_FIELDS[:-1]:
            source = body.get("errorDetails", {}) if field.startswith("error") else body
            sent = source.get(field)
            if field == "errorCode" and isinstance(sent, str):
                sent = int(sent)  # Number Masking's table types it String
            assert record[field] == sent, (name, field)
        if scenario.includes_quirks:
            continue
        # Generated data outside the quirk scenarios uses the documented spelling only, so the
        # canonical reading must be exactly what was sent.
        for leg in record["legs"]:
            sent = body["details"][leg["key"]]
            for field in LEG_FIELDS[1:]:
                where = (
                    sent.get("callQuality", {})
                    if field in ("mos", "packetLossRate", "jitter")
                    else sent
                )
                assert leg[field] == where.get(field), (name, leg["key"], field)


def test_capitalised_leg_key_and_ref_id_are_read_as_documented() -> None:
    doc = success()
    record = canonical(doc)
    leg = doc["payload"]["details"]["CallA"]
    leg["SourceRefId"] = "VN-1"
    assert canonical(doc)["legs"][0]["sourceRefId"] == "VN-1"
    assert record["legs"][0]["key"] == "callA"


def test_the_string_null_is_null_in_any_field() -> None:
    doc = success()
    doc["payload"]["lastAction"] = "null"
    doc["payload"]["details"]["CallA"]["destinationRefId"] = "null"
    record = canonical(doc)
    assert record["lastAction"] is None
    assert record["legs"][0]["destinationRefId"] is None


def test_legs_are_ordered_by_key_whatever_their_order_in_the_object() -> None:
    doc = success()
    leg = doc["payload"]["details"].pop("CallA")
    doc["payload"]["details"] = {
        "callAA": dict(leg, callId="x-27"),
        "callB": dict(leg, callId="x-2"),
        "CallA": leg,
    }
    assert [leg["key"] for leg in canonical(doc)["legs"]] == ["callA", "callB", "callAA"]


def test_number_masking_inbound_leg_keeps_destination_ref_id_and_has_no_source_ref_id() -> None:
    doc = success()
    leg = doc["payload"]["details"].pop("CallA")
    del leg["SourceRefId"]
    leg.update(callDirection="INBOUND", destinationRefId="PSTN1")
    doc["payload"]["details"]["callA"] = leg
    (read,) = canonical(doc)["legs"]
    assert (read["sourceRefId"], read["destinationRefId"]) == (None, "PSTN1")


@pytest.mark.parametrize(
    ("sent", "read"),
    [(-2004, -2004), ("-2004", -2004), (" -2004 ", -2004), ("E-42", "E-42"), (None, None)],
)
def test_error_code_is_an_integer_when_it_looks_like_one(sent: object, read: object) -> None:
    doc = load(ROOT / "tests" / "fixtures" / "docs" / "failure.json")
    doc["payload"]["errorDetails"]["errorCode"] = sent
    assert canonical(doc)["errorCode"] == read


def test_no_answer_written_with_a_space_is_the_documented_status() -> None:
    doc = success()
    doc["payload"]["sessionStatus"] = "NO ANSWER"
    doc["payload"]["details"]["CallA"]["callStatus"] = "NO ANSWER"
    record = canonical(doc)
    assert (record["sessionStatus"], record["legs"][0]["callStatus"]) == ("NO_ANSWER", "NO_ANSWER")


@pytest.mark.parametrize(
    ("sent", "read"),
    [
        ("2024-03-25T14:01:30+08:00", "2024-03-25T06:01:30Z"),
        ("2024-03-25T06:01:30.250Z", "2024-03-25T06:01:30.25Z"),
        ("2024-03-25T06:01:30", "2024-03-25T06:01:30Z"),
        ("yesterday", "yesterday"),
    ],
)
def test_timestamps_are_utc_instants(sent: str, read: str) -> None:
    doc = success()
    doc["payload"]["startTime"] = sent
    assert canonical(doc)["startTime"] == read


def test_ivr_additions_keep_client_request_id_and_drop_the_root_version() -> None:
    doc = success()
    doc["version"] = 5
    doc["payload"]["clientRequestId"] = "req-1"
    record = canonical(doc)
    assert record["clientRequestId"] == "req-1"
    assert "version" not in record


def test_reading_does_not_change_the_document() -> None:
    doc = success()
    before = copy.deepcopy(doc)
    canonical(doc)
    assert doc == before


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([1], "a JSON array"),
        ({"sessionId": "x"}, "no `payload`"),
        ({"payload": "x"}, "is a string"),
    ],
)
def test_a_document_that_is_not_vss_is_an_input_error(doc: Any, message: str) -> None:
    with pytest.raises(InputError, match=message):
        canonical(doc)


def test_the_public_name_is_the_function() -> None:
    from emitter._canonical import canonical as defined

    assert emitter.canonical is defined


def test_cli_prints_one_ndjson_line_per_payload() -> None:
    lines = "\n".join(json.dumps(load(p)) for p in DOC_EXAMPLES)
    result = CliRunner().invoke(cli, ["canonical", "-"], input=lines)
    assert result.exit_code == 0, result.output
    assert [json.loads(out) for out in result.stdout.splitlines()] == [
        canonical(load(p)) for p in DOC_EXAMPLES
    ]


def test_cli_reads_json_files() -> None:
    path = ROOT / "tests" / "fixtures" / "docs" / "success.json"
    result = CliRunner().invoke(cli, ["canonical", str(path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == canonical(success())


def test_cli_names_the_line_that_is_not_a_vss_document() -> None:
    result = CliRunner().invoke(cli, ["canonical", "-"], input=json.dumps(success()) + "\n[1]\n")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: -:2: not a JSON object")
    assert len(result.stderr.splitlines()) == 1
