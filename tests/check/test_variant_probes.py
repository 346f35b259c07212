"""The probes issue 7 added: every documented example verbatim, and the IVR / Number Masking
variants one difference at a time, each caught on a receiver with the bug it targets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import buggy_receivers as bug
import pytest

from emitter.check import CheckReport, catalogue, example_bytes, run_check
from emitter.contract import validate, validate_bytes
from emitter.deliver import DeliveryConfig
from emitter.receiver import ReferenceReceiver

DOCS = Path(__file__).resolve().parent.parent / "fixtures" / "docs"
# Probe name -> the documented example it sends.
DOC_PROBES = {
    "docs/example-success": "success",
    "docs/example-failure": "failure",
    "docs/ivr-bridged-answered": "ivr-bridged-answered",
    "docs/ivr-bridged-busy": "ivr-bridged-busy",
    "docs/ivr-menu-hangup": "ivr-menu-hangup",
    "docs/masking-success": "masking-success",
    "docs/masking-failure": "masking-failure",
}
VARIANTS = [
    "variant/no-source-ref-id",
    "variant/destination-ref-id",
    "variant/no-client-request-id",
    "variant/duration-one-second-off",
    "variant/error-code-string",
]


def check(url: str, names: list[str], *, seed: int = 5) -> CheckReport:
    return run_check(
        url=url, config=DeliveryConfig(timeout_s=5.0), seed=seed, only=set(names), burst=2
    )


def verdicts(report: CheckReport) -> dict[str, tuple[bool, str]]:
    return {r.name: (r.passed, r.severity) for r in report.results}


@pytest.fixture(scope="module")
def sent() -> Iterator[CheckReport]:
    with bug.Receiver(bug.always_200) as receiver:
        yield check(receiver.url, [*DOC_PROBES, *VARIANTS])


def payload_of(report: CheckReport, name: str) -> dict[str, Any]:
    [result] = [r for r in report.results if r.name == name]
    [exchange] = result.exchanges
    loaded: dict[str, Any] = json.loads(exchange.body)
    return loaded


# --- every documented example: a golden fixture, valid by default, a probe ------------------


@pytest.mark.parametrize(("probe", "example"), sorted(DOC_PROBES.items()))
def test_every_documented_example_validates_and_is_probed_byte_for_byte(
    sent: CheckReport, probe: str, example: str
) -> None:
    fixture = (DOCS / f"{example}.json").read_bytes()
    # Default mode: no error (the only warnings are the documented quirks; see test_contract).
    assert [f for f in validate_bytes(fixture) if f.severity == "error"] == []
    assert example_bytes(example) == fixture
    [result] = [r for r in sent.results if r.name == probe]
    assert [e.body for e in result.exchanges] == [fixture]
    assert result.passed
    assert result.severity == "failure"


def test_the_catalogue_has_seven_documentation_probes_and_the_variants() -> None:
    names = [p.name for p in catalogue()]
    assert [n for n in names if n.startswith("docs/")] == list(DOC_PROBES)
    assert [n for n in names if n.startswith("variant/")] == VARIANTS
    severities = {p.name: p.severity for p in catalogue() if p.name in VARIANTS}
    assert severities.pop("variant/error-code-string") == "warning"
    assert set(severities.values()) == {"failure"}


# --- the variants send what they claim, and nothing else breaks ------------------------------


def test_no_source_ref_probe_sends_legs_without_either_reference(sent: CheckReport) -> None:
    legs = payload_of(sent, "variant/no-source-ref-id")["payload"]["details"].values()
    for leg in legs:
        assert not {"sourceRefId", "SourceRefId", "destinationRefId"} & set(leg)


def test_destination_ref_probe_sends_an_inbound_leg_naming_the_dialled_number(
    sent: CheckReport,
) -> None:
    first = next(
        iter(payload_of(sent, "variant/destination-ref-id")["payload"]["details"].values())
    )
    assert first["callDirection"] == "INBOUND"
    assert first["sourceRefId"] is None
    assert isinstance(first["destinationRefId"], str)


def test_client_request_id_probe_sends_ivr_without_it(sent: CheckReport) -> None:
    document = payload_of(sent, "variant/no-client-request-id")
    assert document["version"] == 5
    assert "clientRequestId" not in document["payload"]


def test_duration_probe_sends_every_connected_leg_one_second_off(sent: CheckReport) -> None:
    legs = payload_of(sent, "variant/duration-one-second-off")["payload"]["details"].values()
    connected = [leg for leg in legs if "connectedTimestamp" in leg]
    assert connected
    for leg in connected:
        span = datetime.fromisoformat(leg["disconnectedTimestamp"]) - datetime.fromisoformat(
            leg["connectedTimestamp"]
        )
        assert abs(leg["callDuration"] - span.total_seconds()) == 1


def test_error_code_probe_sends_the_code_as_a_numeric_string(sent: CheckReport) -> None:
    code = payload_of(sent, "variant/error-code-string")["payload"]["errorDetails"]["errorCode"]
    assert isinstance(code, str)
    assert int(code) < 0


@pytest.mark.parametrize("name", VARIANTS)
def test_variant_probes_send_what_default_mode_accepts(sent: CheckReport, name: str) -> None:
    findings = validate(payload_of(sent, name))
    assert [f for f in findings if f.severity == "error"] == []
    expected = {"lint.error-code-type"} if name == "variant/error-code-string" else set()
    assert {f.rule for f in findings} == expected


def test_the_reference_receiver_acks_every_new_probe() -> None:
    with ReferenceReceiver() as receiver:
        report = check(receiver.url, [*DOC_PROBES, *VARIANTS])
    assert all(passed for passed, _ in verdicts(report).values()), verdicts(report)


# --- receivers with the bugs these probes exist for ------------------------------------------


def _legs(request: bug.Request) -> list[dict[str, Any]]:
    return request.legs()


def reads_source_ref(request: bug.Request) -> bug.Answer:
    # Built from the Voice Messaging page, where every leg has the key.
    refs = [leg["sourceRefId"] for leg in _legs(request)]
    return 200, json.dumps(refs).encode()


def requires_client_request_id_on_ivr(request: bug.Request) -> bug.Answer:
    if request.json().get("version") is not None:
        return 200, request.payload["clientRequestId"].encode()
    return 200, b"ok"


def rederives_durations(request: bug.Request) -> bug.Answer:
    for leg in _legs(request):
        if "connectedTimestamp" in leg:
            span = datetime.fromisoformat(leg["disconnectedTimestamp"]) - datetime.fromisoformat(
                leg["connectedTimestamp"]
            )
            if leg["callDuration"] != int(span.total_seconds()):
                return 422, b"callDuration does not match the timestamps"
    return 200, b"ok"


def integer_error_codes_only(request: bug.Request) -> bug.Answer:
    details = request.payload.get("errorDetails")
    if details is not None and not isinstance(details["errorCode"], int):
        return 400, b"errorCode must be an integer"
    return 200, b"ok"


def rejects_destination_ref(request: bug.Request) -> bug.Answer:
    # A strict model generated from the Voice Messaging page: unknown leg fields are refused.
    if any("destinationRefId" in leg for leg in _legs(request)):
        return 400, b"unknown field destinationRefId"
    return 200, b"ok"


@pytest.mark.parametrize(
    ("handler", "caught"),
    [
        # (The Voice Messaging success example spells it SourceRefId: caught there already.)
        (reads_source_ref, {"variant/no-source-ref-id", "docs/ivr-bridged-busy",
                            "docs/ivr-menu-hangup", "docs/masking-success",
                            "docs/example-success"}),
        (requires_client_request_id_on_ivr, {"variant/no-client-request-id",
                                             "docs/ivr-bridged-busy", "docs/ivr-menu-hangup"}),
        (rederives_durations, {"variant/duration-one-second-off", "docs/ivr-bridged-answered",
                               "docs/ivr-bridged-busy"}),
        (integer_error_codes_only, {"variant/error-code-string"}),
        (rejects_destination_ref, {"variant/destination-ref-id", "docs/ivr-bridged-busy",
                                   "docs/ivr-menu-hangup", "docs/masking-success"}),
    ],
    ids=["reads-sourceRefId", "requires-clientRequestId", "rederives-durations",
         "integer-errorCode", "rejects-destinationRefId"],
)  # fmt: skip
def test_each_variant_bug_is_caught_by_its_probes(handler: bug.Handler, caught: set[str]) -> None:
    with bug.Receiver(handler) as receiver:
        report = check(receiver.url, [*DOC_PROBES, *VARIANTS])
    failed = {name for name, (passed, _) in verdicts(report).items() if not passed}
    assert failed == caught
    # The string errorCode is a warning: the receiver is told, the check does not fail on it.
    assert report.ok == (failed <= {"variant/error-code-string"})


def test_check_probes_ivr_canceled_failed_and_error_sessions() -> None:
    ivr = {"ivr-inbound-bridged-canceled", "ivr-outbound-failed", "ivr-error-invalid-call-flow"}
    names = [f"scenario/{name}" for name in sorted(ivr)]
    assert set(names) <= {p.name for p in catalogue()}
    with ReferenceReceiver() as receiver:
        report = check(receiver.url, names)
    assert sorted(r.name for r in report.results) == names
    statuses = set()
    for result in report.results:
        assert result.passed, result
        for exchange in result.exchanges:
            doc = json.loads(exchange.body)
            assert validate(doc, strict=True, product="ivr") == [], result.name
            statuses.add(doc["payload"]["sessionStatus"])
    assert statuses == {"CANCELED", "FAILED", "ERROR"}
