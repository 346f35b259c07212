"""The VSS contract: golden documentation examples, strict mode, one mutation per rule."""

from __future__ import annotations

import copy
import io
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs
import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emitter import _lint, vocabulary
from emitter._resources import load_schema
from emitter.contract import (
    Finding,
    _engines,
    contract_schema,
    validate,
    validate_bytes,
    validate_inputs,
)
from emitter.errors import UsageError

DOCS = Path(__file__).parent / "fixtures" / "docs"


def valid_payload() -> dict[str, Any]:
    """One answered outbound call, every field consistent with every rule."""
    return {
        "namespace": "VOICE",
        "eventType": "SESSION_SUMMARY",
        "description": "Summary of a completed call session",
        "payload": {
            "sessionId": "1f048a84-ea6d-11ee-911b-078f7290bf52",
            "subAccountId": "8x8_test",
            "sessionStatus": "COMPLETED",
            "startTime": "2024-03-25T06:01:28Z",
            "endTime": "2024-03-25T06:01:50Z",
            "lastAction": "MAKE_CALL",
            "callCount": 1,
            "details": {
                "callA": {
                    "callId": "1f048a83-ea6d-11ee-911b-e9023a97c284",
                    "callDirection": "OUTBOUND",
                    "callType": "PSTN",
                    "initiatedTimestamp": "2024-03-25T06:01:28Z",
                    "connectedTimestamp": "2024-03-25T06:01:37Z",
                    "disconnectedTimestamp": "2024-03-25T06:01:50Z",
                    "source": "+12314377870",
                    "destination": "+6568332048",
                    "sourceFormat": "MSISDN",
                    "destinationFormat": "MSISDN",
                    "sourceCountryCode": "US",
                    "destinationCountryCode": "SG",
                    "sourceRefId": "PSTN1",
                    "callStatus": "COMPLETED",
                    "callDuration": 13,
                    "callQuality": {"mos": 4.5, "packetLossRate": 0, "jitter": 20},
                }
            },
        },
    }


def error_payload() -> dict[str, Any]:
    """The failure example made fully consistent: a call that hit no coverage."""
    doc = valid_payload()
    body = doc["payload"]
    leg = body["details"]["callA"]
    body["sessionStatus"] = "ERROR"
    body["errorDetails"] = {"errorMsg": vocabulary.ERROR_CODES[-2004], "errorCode": -2004}
    leg["callStatus"] = "ERROR"
    leg["callDuration"] = 0
    del leg["connectedTimestamp"]
    del leg["callQuality"]
    return doc


LEG = "$.payload.details.callA"
Mutation = Callable[[dict[str, Any]], None]


def put(dotted: str, value: object) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = dotted.split(".")
        node = doc
        for part in parents:
            node = node[part]
        node[last] = value

    return mutate


def drop(dotted: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = dotted.split(".")
        node = doc
        for part in parents:
            node = node[part]
        del node[last]

    return mutate


def leg(field: str, value: object) -> Mutation:
    return put(f"payload.details.callA.{field}", value)


def both(*mutations: Mutation) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(doc)

    return mutate


def rename_leg(new_key: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        details = doc["payload"]["details"]
        details[new_key] = details.pop("callA")

    return mutate


def second_leg(key: str, *, listed_first: bool = False) -> Mutation:
    """Adds a copy of callA with a fresh callId, after it (or listed before it)."""

    def mutate(doc: dict[str, Any]) -> None:
        details = doc["payload"]["details"]
        first = details.pop("callA")
        second = copy.deepcopy(first)
        second["callId"] = "2f048a83-ea6d-11ee-911b-e9023a97c284"
        doc["payload"]["callCount"] = 2
        if listed_first:
            details.update({key: second, "callA": first})
        else:
            details.update({"callA": first, key: second})

    return mutate


# (id, mutation, rule, path): each breaks exactly the contract rule named.
SCHEMA_MUTATIONS: list[tuple[str, Mutation, str, str]] = [
    ("namespace", put("namespace", "TEXT"), "schema.const", "$.namespace"),
    ("event-type", put("eventType", "CALL_STATUS"), "schema.const", "$.eventType"),
    ("session-status-enum", put("payload.sessionStatus", "DONE"), "schema.enum",
     "$.payload.sessionStatus"),
    ("call-status-space", leg("callStatus", "NO ANSWER"), "schema.enum", f"{LEG}.callStatus"),
    ("call-direction", leg("callDirection", "SIDEWAYS"), "schema.enum", f"{LEG}.callDirection"),
    ("call-type", leg("callType", "SIP"), "schema.enum", f"{LEG}.callType"),
    ("number-format", leg("sourceFormat", "E164"), "schema.enum", f"{LEG}.sourceFormat"),
    ("country-unassigned", leg("sourceCountryCode", "ZZ"), "schema.enum",
     f"{LEG}.sourceCountryCode"),
    ("country-lower-case", leg("destinationCountryCode", "sg"), "schema.enum",
     f"{LEG}.destinationCountryCode"),
    ("session-uuid", put("payload.sessionId", "1f048a84-ea6d-11ee-911b"), "schema.format",
     "$.payload.sessionId"),
    ("call-uuid-hex", leg("callId", "1f048a83-ea6d-11ee-911b-e9023a97c28g"), "schema.format",
     f"{LEG}.callId"),
    ("date-time-space", put("payload.startTime", "2024-03-25 06:01:28Z"), "schema.format",
     "$.payload.startTime"),
    ("date-time-no-offset", leg("initiatedTimestamp", "2024-03-25T06:01:28"), "schema.format",
     f"{LEG}.initiatedTimestamp"),
    ("date-time-calendar", put("payload.endTime", "2024-02-30T06:01:50Z"), "schema.format",
     "$.payload.endTime"),
    ("e164-no-plus", leg("source", "12314377870"), "schema.pattern", f"{LEG}.source"),
    ("e164-too-long", leg("destination", "+6568332048123456"), "schema.pattern",
     f"{LEG}.destination"),
    ("e164-trailing-newline", leg("destination", "+6568332048\n"), "schema.pattern",
     f"{LEG}.destination"),
    ("mos-high", leg("callQuality", {"mos": 5.4, "packetLossRate": 0, "jitter": 20}),
     "schema.maximum", f"{LEG}.callQuality.mos"),
    ("mos-low", leg("callQuality", {"mos": 0.9, "packetLossRate": 0, "jitter": 20}),
     "schema.minimum", f"{LEG}.callQuality.mos"),
    ("packet-loss-high", leg("callQuality", {"mos": 4.5, "packetLossRate": 1.5, "jitter": 20}),
     "schema.maximum", f"{LEG}.callQuality.packetLossRate"),
    ("packet-loss-negative", leg("callQuality", {"mos": 4.5, "packetLossRate": -0.1,
                                                 "jitter": 20}),
     "schema.minimum", f"{LEG}.callQuality.packetLossRate"),
    ("jitter-negative", leg("callQuality", {"mos": 4.5, "packetLossRate": 0, "jitter": -1}),
     "schema.minimum", f"{LEG}.callQuality.jitter"),
    ("jitter-fraction", leg("callQuality", {"mos": 4.5, "packetLossRate": 0, "jitter": 2.5}),
     "schema.type", f"{LEG}.callQuality.jitter"),
    ("quality-incomplete", leg("callQuality", {"mos": 4.5, "jitter": 20}), "schema.required",
     f"{LEG}.callQuality"),
    ("duration-negative", leg("callDuration", -1), "schema.minimum", f"{LEG}.callDuration"),
    ("duration-string", leg("callDuration", "13"), "schema.type", f"{LEG}.callDuration"),
    ("call-count-fraction", put("payload.callCount", 1.5), "schema.type", "$.payload.callCount"),
    ("call-count-bool", put("payload.callCount", True), "schema.type", "$.payload.callCount"),
    ("last-action-empty", put("payload.lastAction", ""), "schema.minLength",
     "$.payload.lastAction"),
    ("sub-account", put("payload.subAccountId", "x"), "schema.pattern", "$.payload.subAccountId"),
    ("details-list", put("payload.details", []), "schema.type", "$.payload.details"),
    ("source-ref-number", leg("sourceRefId", 1), "schema.type", f"{LEG}.sourceRefId"),
    ("error-code-fraction", put("payload.errorDetails", {"errorMsg": "x", "errorCode": -2004.5}),
     "schema.type", "$.payload.errorDetails.errorCode"),
    ("destination-ref-number", leg("destinationRefId", 7), "schema.type",
     f"{LEG}.destinationRefId"),
    ("client-request-id-number", put("payload.clientRequestId", 7), "schema.type",
     "$.payload.clientRequestId"),
    ("version-string", put("version", "5"), "schema.type", "$.version"),
    ("payload-missing", drop("payload"), "schema.required", "$"),
    ("description-missing", drop("description"), "schema.required", "$"),
    *[
        (f"missing-{field}", drop(f"payload.{field}"), "schema.required", "$.payload")
        for field in ("sessionId", "subAccountId", "sessionStatus", "startTime", "endTime",
                      "lastAction", "callCount", "details")
    ],
    *[
        (f"missing-leg-{field}", drop(f"payload.details.callA.{field}"), "schema.required", LEG)
        for field in ("callId", "callDirection", "callType", "initiatedTimestamp",
                      "disconnectedTimestamp", "source", "destination", "sourceFormat",
                      "destinationFormat", "sourceCountryCode", "destinationCountryCode",
                      "callStatus", "callDuration")
    ],
]  # fmt: skip

LINT_MUTATIONS: list[tuple[str, Mutation, str, str]] = [
    ("call-count", put("payload.callCount", 2), "lint.call-count", "$.payload.callCount"),
    ("capitalised-leg-key", rename_leg("CallA"), "lint.leg-key", "$.payload.details.CallA"),
    ("leg-key-gap", rename_leg("callB"), "lint.leg-order", "$.payload.details.callB"),
    ("legs-out-of-order", second_leg("callB", listed_first=True), "lint.leg-order",
     "$.payload.details.callB"),
    ("connected-before-initiated", leg("connectedTimestamp", "2024-03-25T06:01:27Z"),
     "lint.timestamp-order", f"{LEG}.connectedTimestamp"),
    ("disconnected-before-connected", leg("disconnectedTimestamp", "2024-03-25T06:01:36Z"),
     "lint.timestamp-order", f"{LEG}.disconnectedTimestamp"),
    ("duration-off", leg("callDuration", 11), "lint.call-duration", f"{LEG}.callDuration"),
    ("duration-never-connected",
     both(leg("callStatus", "NO_ANSWER"), put("payload.sessionStatus", "NO_ANSWER"),
          drop("payload.details.callA.connectedTimestamp"),
          drop("payload.details.callA.callQuality")),
     "lint.call-duration", f"{LEG}.callDuration"),
    ("completed-not-connected", drop("payload.details.callA.connectedTimestamp"),
     "lint.connected-timestamp", LEG),
    ("unanswered-but-connected",
     both(leg("callStatus", "BUSY"), put("payload.sessionStatus", "BUSY")),
     "lint.connected-timestamp", f"{LEG}.connectedTimestamp"),
    ("unanswered-with-quality",
     both(leg("callStatus", "BUSY"), put("payload.sessionStatus", "BUSY")),
     "lint.call-quality", f"{LEG}.callQuality"),
    ("session-status", put("payload.sessionStatus", "BUSY"), "lint.session-status",
     "$.payload.sessionStatus"),
    ("unsubscribed-contact-with-leg", put("payload.sessionStatus", "UNSUBSCRIBED_CONTACT"),
     "lint.session-status", "$.payload.sessionStatus"),
    ("error-without-details",
     both(put("payload.sessionStatus", "ERROR"), leg("callStatus", "ERROR")),
     "lint.error-details", "$.payload"),
    ("details-without-error",
     put("payload.errorDetails", {"errorMsg": vocabulary.ERROR_CODES[-2001],
                                  "errorCode": -2001}),
     "lint.error-details", "$.payload.errorDetails"),
    ("end-before-start", put("payload.endTime", "2024-03-25T06:01:00Z"), "lint.session-time",
     "$.payload.endTime"),
    ("leg-starts-early", leg("initiatedTimestamp", "2024-03-25T06:01:27Z"),
     "lint.session-window", f"{LEG}.initiatedTimestamp"),
    ("leg-ends-late", put("payload.endTime", "2024-03-25T06:01:49Z"), "lint.session-window",
     f"{LEG}.disconnectedTimestamp"),
    ("number-of-other-country", leg("sourceCountryCode", "SG"), "lint.phone-number",
     f"{LEG}.source"),
    ("number-not-assigned", leg("destination", "+6500000000"), "lint.phone-number",
     f"{LEG}.destination"),
    ("outbound-ref-null", leg("sourceRefId", None), "lint.source-ref", f"{LEG}.sourceRefId"),
    ("outbound-ref-null-string", leg("sourceRefId", "null"), "lint.source-ref",
     f"{LEG}.sourceRefId"),
    ("inbound-ref-set", leg("callDirection", "INBOUND"), "lint.source-ref",
     f"{LEG}.sourceRefId"),
    ("outbound-destination-ref", leg("destinationRefId", "PSTN1"), "lint.destination-ref",
     f"{LEG}.destinationRefId"),
    ("call-id-repeats-session-id", leg("callId", "1F048A84-EA6D-11EE-911B-078F7290BF52"),
     "lint.unique-uuid", f"{LEG}.callId"),
    ("call-ids-repeat",
     both(second_leg("callB"),
          put("payload.details.callB.callId", "1f048a83-ea6d-11ee-911b-e9023a97c284")),
     "lint.unique-uuid", "$.payload.details.callB.callId"),
]  # fmt: skip

ERROR_LINT_MUTATIONS: list[tuple[str, Mutation, str, str]] = [
    ("unknown-error-code", put("payload.errorDetails.errorCode", -1234), "lint.error-code",
     "$.payload.errorDetails.errorCode"),
    ("wrong-error-message", put("payload.errorDetails.errorMsg", "Busy"), "lint.error-message",
     "$.payload.errorDetails.errorMsg"),
    ("error-code-string", put("payload.errorDetails.errorCode", "-2004"),
     "lint.error-code-type", "$.payload.errorDetails.errorCode"),
]  # fmt: skip


def mutated(base: dict[str, Any], mutation: Mutation) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    mutation(doc)
    return doc


def found(findings: list[Finding], rule: str, path: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule and f.path == path]


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize(
    "doc",
    [valid_payload(), error_payload(), mutated(valid_payload(), second_leg("callB"))],
    ids=["completed", "error", "two-legs"],
)
def test_consistent_payload_has_no_finding(doc: dict[str, Any], strict: bool) -> None:
    assert validate(doc, strict=strict) == []


# Every example 8x8 documents (Voice Messaging, IVR, Number Masking), verbatim, with the only
# findings default mode may report on it: the quirks the lint names.
DOCUMENTED_EXAMPLES: dict[str, tuple[str | None, set[tuple[str, str]]]] = {
    "success": ("messaging", {
        ("lint.leg-key", "$.payload.details.CallA"),
        ("lint.source-ref", "$.payload.details.CallA.SourceRefId"),
        ("lint.session-window", "$.payload.details.CallA.initiatedTimestamp"),
    }),
    "failure": ("messaging", {
        ("lint.session-window", "$.payload.details.callA.initiatedTimestamp"),
    }),
    "ivr-bridged-answered": ("ivr", set()),
    "ivr-bridged-busy": ("ivr", set()),
    "ivr-menu-hangup": ("ivr", set()),
    "masking-success": ("masking", {
        ("lint.leg-order", "$.payload.details.callB"),
        ("lint.leg-order", "$.payload.details.callA"),
        ("lint.session-window", "$.payload.details.callA.initiatedTimestamp"),
    }),
    "masking-failure": ("masking", set()),
}  # fmt: skip


def test_every_documented_example_is_a_golden_fixture_shipped_with_the_kit() -> None:
    assert {p.stem for p in DOCS.glob("*.json")} == set(DOCUMENTED_EXAMPLES)
    shipped = Path(__file__).parent.parent / "schemas" / "examples"
    for name in DOCUMENTED_EXAMPLES:
        fixture = (DOCS / f"{name}.json").read_bytes()
        assert (shipped / f"docs-example-{name}.json").read_bytes() == fixture, name


@pytest.mark.parametrize("name", sorted(DOCUMENTED_EXAMPLES))
@pytest.mark.parametrize("product", [None, "own"])
def test_every_documented_example_passes_default_mode_with_only_its_named_quirks(
    name: str, product: str | None
) -> None:
    own, quirks = DOCUMENTED_EXAMPLES[name]
    body = (DOCS / f"{name}.json").read_bytes()
    findings = validate_bytes(body, product=own if product else None)
    assert {(f.rule, f.path) for f in findings} == quirks
    assert {f.severity for f in findings} <= {"warning"}
    # Strict mode of its own page objects to the quirks only, never to a documented field.
    strict = validate_bytes(body, strict=True, product=own)
    assert {f.rule for f in strict} - {"schema.additionalProperties"} <= {r for r, _ in quirks}


@pytest.mark.parametrize("name", ["success", "failure"])
def test_documentation_example_validates_without_error(name: str) -> None:
    body = (DOCS / f"{name}.json").read_bytes()
    findings = validate_bytes(body)
    assert [f for f in findings if f.severity == "error"] == []


def test_documentation_quirks_are_reported_as_warnings() -> None:
    success = validate_bytes((DOCS / "success.json").read_bytes())
    failure = validate_bytes((DOCS / "failure.json").read_bytes())
    assert {(f.rule, f.path) for f in success} == {
        ("lint.leg-key", "$.payload.details.CallA"),
        ("lint.source-ref", "$.payload.details.CallA.SourceRefId"),
        ("lint.session-window", "$.payload.details.CallA.initiatedTimestamp"),
    }
    assert {(f.rule, f.path) for f in failure} == {
        ("lint.session-window", "$.payload.details.callA.initiatedTimestamp"),
    }
    assert {f.severity for f in success + failure} == {"warning"}


@pytest.mark.parametrize(("name", "mutation", "rule", "path"), SCHEMA_MUTATIONS,
                         ids=[m[0] for m in SCHEMA_MUTATIONS])  # fmt: skip
def test_schema_mutation_is_an_error_at_its_path(
    name: str, mutation: Mutation, rule: str, path: str
) -> None:
    for strict in (False, True):
        findings = validate(mutated(valid_payload(), mutation), strict=strict)
        hits = found(findings, rule, path)
        assert hits, f"{name}: expected {rule} at {path}, got {findings}"
        assert {f.severity for f in hits} == {"error"}


@pytest.mark.parametrize(("name", "mutation", "rule", "path"),
                         LINT_MUTATIONS + ERROR_LINT_MUTATIONS,
                         ids=[m[0] for m in LINT_MUTATIONS + ERROR_LINT_MUTATIONS])  # fmt: skip
def test_lint_mutation_is_a_warning_and_a_strict_error(
    name: str, mutation: Mutation, rule: str, path: str
) -> None:
    base = error_payload() if (name, mutation, rule, path) in ERROR_LINT_MUTATIONS else None
    doc = mutated(base or valid_payload(), mutation)
    default = found(validate(doc), rule, path)
    assert default, f"{name}: expected {rule} at {path}, got {validate(doc)}"
    assert {f.severity for f in default} == {"warning"}
    if name == "error-code-string":
        # Strict mode's schema wants the integer: the schema reports it, the lint stays quiet.
        strict = [f for f in validate(doc, strict=True) if f.path == path]
        assert [(f.rule, f.severity) for f in strict] == [("schema.type", "error")]
        return
    # A lint finding is never disguised as a schema error (the rule stays a lint rule).
    assert {f.rule for f in found(validate(doc, strict=True), rule, path)} == {rule}
    assert {f.severity for f in found(validate(doc, strict=True), rule, path)} == {"error"}


def test_every_lint_rule_has_a_mutation() -> None:
    covered = {m[2] for m in LINT_MUTATIONS + ERROR_LINT_MUTATIONS}
    assert covered == set(_lint.RULES)


@pytest.mark.parametrize(
    ("mutation", "product", "rule", "path"),
    [
        (rename_leg("CallA"), None, "schema.additionalProperties", "$.payload.details"),
        (
            both(drop("payload.details.callA.sourceRefId"),
                 leg("SourceRefId", "PSTN1")),
            None,
            "schema.additionalProperties",
            LEG,
        ),
        (put("clientRequestId", "abc"), None, "schema.additionalProperties", "$"),
        (put("payload.details.callA.callQuality.rtt", 12), None, "schema.additionalProperties",
         f"{LEG}.callQuality"),
        # Fields one product's page lists and another's does not.
        (put("version", 5), "messaging", "schema.additionalProperties", "$"),
        (put("version", 5), "masking", "schema.additionalProperties", "$"),
        (put("payload.clientRequestId", "r-1"), "masking", "schema.additionalProperties",
         "$.payload"),
        (leg("destinationRefId", None), "messaging", "schema.additionalProperties", LEG),
        (drop("payload.details.callA.sourceRefId"), "messaging", "schema.required", LEG),
        (put("payload.errorDetails", {"errorMsg": "x", "errorCode": "-2004"}), None,
         "schema.type", "$.payload.errorDetails.errorCode"),
        # What the product's page does not list.
        (leg("callType", "VOIP"), "messaging", "schema.enum", f"{LEG}.callType"),
        (leg("callType", "VOIP"), "masking", "schema.enum", f"{LEG}.callType"),
        (put("payload.sessionStatus", "COMPLETED_UNSUBSCRIBED"), "ivr", "schema.enum",
         "$.payload.sessionStatus"),
        (put("payload.sessionStatus", "UNSUBSCRIBED_CONTACT"), "masking", "schema.enum",
         "$.payload.sessionStatus"),
        (both(put("version", 5), leg("callStatus", "ERROR")), "ivr", "schema.enum",
         f"{LEG}.callStatus"),
        (drop("version"), "ivr", "schema.required", "$"),
    ],
    ids=["CallA", "SourceRefId", "root-clientRequestId", "rtt", "version-messaging",
         "version-masking", "clientRequestId-masking", "destinationRefId-messaging",
         "sourceRefId-messaging", "errorCode-string", "voip-messaging", "voip-masking",
         "opt-out-ivr", "opt-out-masking", "error-leg-ivr", "version-missing-ivr"],
)  # fmt: skip
def test_strict_rejects_what_default_tolerates(
    mutation: Mutation, product: str | None, rule: str, path: str
) -> None:
    base = valid_payload()
    if product == "ivr":
        base["version"] = 5
    doc = mutated(base, mutation)
    assert [f for f in validate(doc) if f.severity == "error"] == []
    assert [f for f in validate(doc, product=product) if f.severity == "error"] == []
    assert found(validate(doc, strict=True, product=product), rule, path)


@pytest.mark.parametrize(
    ("mutation", "product"),
    [
        (put("version", 5), None),
        (put("version", 5), "ivr"),
        (put("payload.clientRequestId", "Request-Id-Client-Confirmation-1200"), None),
        (both(put("version", 5), put("payload.clientRequestId", "r-1")), "ivr"),
        (drop("payload.details.callA.sourceRefId"), None),
        (both(put("version", 5), drop("payload.details.callA.sourceRefId")), "ivr"),
        (drop("payload.details.callA.sourceRefId"), "masking"),
        (both(leg("callDirection", "INBOUND"), drop("payload.details.callA.sourceRefId"),
              leg("destinationRefId", "PSTN1")), "masking"),
        (leg("callType", "VOIP"), None),
        (both(put("version", 5), leg("callType", "VOIP")), "ivr"),
    ],
    ids=["version", "version-ivr", "clientRequestId", "clientRequestId-ivr", "no-sourceRefId",
         "no-sourceRefId-ivr", "no-sourceRefId-masking", "inbound-destinationRefId-masking",
         "voip", "voip-ivr"],
)  # fmt: skip
def test_strict_accepts_what_the_products_page_lists(
    mutation: Mutation, product: str | None
) -> None:
    doc = mutated(valid_payload(), mutation)
    assert validate(doc, strict=True, product=product) == []


def test_error_code_as_a_string_is_number_maskings_typing() -> None:
    doc = mutated(error_payload(), put("payload.errorDetails.errorCode", "-2004"))
    assert [f.rule for f in validate(doc)] == ["lint.error-code-type"]
    assert validate(doc, product="masking") == []
    assert validate(doc, strict=True, product="masking") == []
    for product in (None, "ivr", "messaging"):
        strict = validate(doc, strict=True, product=product)
        at_code = [f.rule for f in strict if f.path == "$.payload.errorDetails.errorCode"]
        assert at_code == ["schema.type"]
    # Not a number at all: the table says String, but of an error code.
    doc["payload"]["errorDetails"]["errorCode"] = "NO_COVERAGE"
    assert [f.rule for f in validate(doc, product="masking")] == ["schema.pattern"]


def test_an_unknown_product_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown product 'sip': expected one of messaging"):
        validate(valid_payload(), product="sip")


def test_unsubscribed_contact_places_no_call() -> None:
    doc = valid_payload()
    doc["payload"].update(sessionStatus="UNSUBSCRIBED_CONTACT", callCount=0, details={})
    assert validate(doc, strict=True) == []


def test_legs_may_be_listed_in_any_key_order_only_with_a_warning() -> None:
    # Number Masking's example lists callB before callA.
    doc = mutated(valid_payload(), second_leg("callB", listed_first=True))
    findings = validate(doc)
    assert [f for f in findings if f.severity == "error"] == []
    assert {f.rule for f in findings} == {"lint.leg-order"}


def test_a_leg_without_source_ref_is_accepted_outside_voice_messagings_strict_mode() -> None:
    # IVR and Number Masking INBOUND legs leave it out; only Voice Messaging's page requires it.
    doc = mutated(valid_payload(), drop("payload.details.callA.sourceRefId"))
    assert validate(doc) == []
    [finding] = validate(doc, strict=True, product="messaging")
    assert (finding.rule, finding.path) == ("schema.required", LEG)
    assert "'sourceRefId' is a required property" in finding.message


def test_mos_message_says_found_and_expected() -> None:
    doc = mutated(valid_payload(), put("payload.details.callA.callQuality.mos", 5.4))
    [finding] = validate(doc)
    assert finding.line("captured.ndjson:12") == (
        "captured.ndjson:12: $.payload.details.callA.callQuality.mos: 5.4 is greater than the "
        "maximum of 5.0 [schema.maximum] error"
    )


def test_bad_uuid_is_reported_once() -> None:
    doc = mutated(valid_payload(), put("payload.sessionId", "nope"))
    assert [(f.rule, f.path) for f in validate(doc)] == [("schema.format", "$.payload.sessionId")]


@pytest.mark.parametrize(
    "body",
    [b"{x", b"", b"NaN", b'{"a": Infinity}', b"\xff\xfe\x00garbage", "{"],
    ids=["broken", "empty", "nan", "infinity", "not-utf8", "str"],
)
def test_body_that_is_not_json_is_one_json_error(body: bytes | str) -> None:
    [finding] = validate_bytes(body)
    assert (finding.rule, finding.path, finding.severity) == ("json", "$", "error")
    assert finding.message.startswith("not JSON")


def test_validate_bytes_accepts_text() -> None:
    assert validate_bytes(json.dumps(valid_payload())) == []


def test_schema_is_loaded_through_resources() -> None:
    assert contract_schema() == load_schema("vss.schema.json")
    assert contract_schema(strict=True)["$id"] != contract_schema()["$id"]


def test_contract_schema_returns_a_copy() -> None:
    schema = contract_schema()
    schema["properties"].clear()
    assert contract_schema()["properties"]


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("product", [None, *vocabulary.PRODUCTS])
def test_schema_is_valid_draft_2020_12(strict: bool, product: str | None) -> None:
    jsonschema.Draft202012Validator.check_schema(contract_schema(strict=strict, product=product))


def test_schema_enums_agree_with_vocabulary() -> None:
    defs = contract_schema()["$defs"]
    props = contract_schema()["properties"]
    leg_props = defs["leg"]["properties"]
    assert props["namespace"]["const"] == vocabulary.NAMESPACE
    assert props["eventType"]["const"] == vocabulary.EVENT_TYPE
    assert defs["payload"]["properties"]["sessionStatus"]["enum"] == list(
        vocabulary.SESSION_STATUSES
    )
    assert leg_props["callStatus"]["enum"] == list(vocabulary.LEG_STATUSES)
    assert leg_props["callDirection"]["enum"] == list(vocabulary.CALL_DIRECTIONS)
    assert leg_props["callType"]["enum"] == list(vocabulary.CALL_TYPES)
    assert leg_props["sourceFormat"]["enum"] == list(vocabulary.NUMBER_FORMATS)
    assert leg_props["destinationFormat"]["enum"] == list(vocabulary.NUMBER_FORMATS)
    quality = defs["callQuality"]["properties"]
    low = min(band[0] for band in vocabulary.MOS_BANDS.values())
    high = max(band[1] for band in vocabulary.MOS_BANDS.values())
    assert (quality["mos"]["minimum"], quality["mos"]["maximum"]) == (low, high)


def test_country_codes_cover_every_libphonenumber_region() -> None:
    codes = set(contract_schema()["$defs"]["countryCode"]["enum"])
    regions = set(phonenumbers.SUPPORTED_REGIONS)
    assert regions <= codes
    # ISO 3166-1 assigns 249 codes; libphonenumber adds AC, TA and XK.
    assert len(codes) == 249 + len(regions - codes | {"AC", "TA", "XK"})
    assert {"US", "SG", "GB", "AQ", "BV", "HM", "UM"} <= codes


EDGE_STRINGS = [
    "1f048a84-ea6d-11ee-911b-078f7290bf52",
    "1F048A84-EA6D-11EE-911B-078F7290BF52",
    "{1f048a84-ea6d-11ee-911b-078f7290bf52}",
    "urn:uuid:1f048a84-ea6d-11ee-911b-078f7290bf52",
    "1f048a84ea6d11ee911b078f7290bf52",
    "1f048a84-ea6d-11ee-911b-078f7290bf52\n",
    "1f048a84-ea6d-11ee-911b-078f7290b-f52",
    "2024-03-25T06:01:30Z",
    "2024-03-25T06:01:30.123456+08:00",
    "2024-03-25T06:01:30-05:30",
    "2024-03-25t06:01:30z",
    "2024-02-29T06:01:30Z",
    "2023-02-29T06:01:30Z",
    "2024-03-25T24:00:00Z",
    "2024-03-25T06:01:60Z",
    "2024-03-25T06:01Z",
    "2024-03-25",
    "+12314377870",
    "+12314377870\n",
    "+0123",
]


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("value", EDGE_STRINGS)
@pytest.mark.parametrize("field", ["callId", "initiatedTimestamp", "source"])
def test_both_schema_engines_agree_on_formats(field: str, value: str, strict: bool) -> None:
    doc = mutated(valid_payload(), leg(field, value))
    engines = _engines(strict)
    fast = engines.fast.is_valid(doc)
    detailed = not list(engines.detailed.iter_errors(doc))
    if value.endswith("\n") and field == "source":
        # Python's `$` accepts a trailing newline; validate() falls back to jsonschema-rs's errors.
        assert not fast
        assert found(validate(doc, strict=strict), "schema.pattern", f"{LEG}.source")
    else:
        assert fast == detailed


def test_plain_jsonschema_agrees_on_valid_payloads() -> None:
    # The benchmark's baseline validator must see the same schema as valid.
    plain = jsonschema.Draft202012Validator(
        contract_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    for doc in (valid_payload(), error_payload()):
        assert list(plain.iter_errors(doc)) == []
        assert jsonschema_rs.validator_for(contract_schema(), validate_formats=True).is_valid(doc)


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
JSON = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
FIELDS = [
    "payload",
    "payload.details",
    "payload.details.callA",
    "payload.callCount",
    "payload.sessionStatus",
    "payload.startTime",
    "payload.errorDetails",
    *[
        f"payload.details.callA.{k}"
        for k in ("callStatus", "connectedTimestamp", "callDuration", "callQuality",
                  "source", "sourceCountryCode", "sourceRefId", "callDirection", "callId")
    ],
]  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=JSON, strict=st.booleans())
def test_arbitrary_json_never_crashes_validate(doc: object, strict: bool) -> None:
    findings = validate(doc, strict=strict)
    if not isinstance(doc, dict):
        assert any(f.rule == "schema.type" and f.path == "$" for f in findings)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    replacements=st.lists(st.tuples(st.sampled_from(FIELDS), JSON), min_size=1, max_size=3),
    strict=st.booleans(),
)
def test_garbage_in_any_field_never_crashes_the_lint(
    replacements: list[tuple[str, object]], strict: bool
) -> None:
    doc = valid_payload()
    for dotted, value in replacements:
        try:
            put(dotted, value)(doc)
        except (KeyError, TypeError):
            continue  # an earlier replacement removed the parent: nothing to put
    findings = validate(doc, strict=strict)
    assert all(f.path.startswith("$") for f in findings)
    # The two engines agree on every such payload (or validate() used jsonschema-rs's report).
    engines = _engines(strict)
    schema_errors = [f for f in findings if f.rule.startswith("schema")]
    assert engines.fast.is_valid(doc) == (not schema_errors)


def test_phone_verdicts_are_cached() -> None:
    _lint.phone_verdict.cache_clear()
    doc = valid_payload()
    for _ in range(3):
        validate(doc)
    info = _lint.phone_verdict.cache_info()
    assert (info.misses, info.hits) == (2, 4)
    assert info.maxsize is not None


@pytest.mark.parametrize(
    ("duration", "ok"), [(11, False), (12, True), (13, True), (14, True), (15, False)]
)
def test_whole_second_stamps_allow_one_second_either_way(duration: int, ok: bool) -> None:
    # IVR's examples: 23 s for 09 -> 33 (24 s), 37 s for 07 -> 43 (36 s): the stamps are
    # truncated sub-second instants, the duration the rounded real difference.
    doc = mutated(valid_payload(), leg("callDuration", duration))
    findings = [f for f in validate(doc) if f.rule == "lint.call-duration"]
    assert (findings == []) is ok
    if not ok:
        assert "expected them within one second" in findings[0].message


@pytest.mark.parametrize(("duration", "ok"), [(12, True), (13, True), (11, False), (14, False)])
def test_fractional_call_time_allows_truncated_or_rounded_duration(duration: int, ok: bool) -> None:
    doc = valid_payload()
    leg_data = doc["payload"]["details"]["callA"]
    leg_data["connectedTimestamp"] = "2024-03-25T06:01:37.400Z"
    leg_data["callDuration"] = duration
    rules = {f.rule for f in validate(doc)}
    assert ("lint.call-duration" not in rules) is ok


def test_phone_verdict_names_the_number_country() -> None:
    assert _lint.phone_verdict("+12314377870", "US") is None
    assert _lint.phone_verdict("+12314377870", "SG") == "is a number of US, not of SG"
    assert _lint.phone_verdict("+6500000000", "SG") == "is not a valid number per libphonenumber"


def test_lint_reads_only_what_it_can() -> None:
    doc = valid_payload()
    doc["payload"]["details"]["callA"] = "not a leg"
    doc["payload"]["startTime"] = 5
    findings = validate(doc)
    # callCount still matches one leg key; the leg itself is a schema error, not a lint crash.
    assert [(f.rule, f.path) for f in findings] == [
        ("schema.type", "$.payload.details.callA"),
        ("schema.type", "$.payload.startTime"),
    ]


def _full_parse_valid(number: str, country: str) -> bool:
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(parsed) and phonenumbers.is_valid_number_for_region(
        parsed, country
    )


def _literal_valid(code: int, national: str, region: str) -> bool:
    """phonenumbers' own region check on the number exactly as written (no trunk stripping)."""
    parsed = phonenumbers.PhoneNumber(country_code=code, national_number=int(national or "0"))
    zeros = len(national) - len(national.lstrip("0"))
    if zeros and len(national) > 1:
        parsed.italian_leading_zero = True
        parsed.number_of_leading_zeros = min(zeros, len(national) - 1)
    return bool(national) and phonenumbers.is_valid_number_for_region(parsed, region)


def test_fast_phone_reading_mirrors_libphonenumber() -> None:
    rng = random.Random(7)
    kinds = (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE)
    checked = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        code = str(phonenumbers.country_code_for_region(region))
        for kind in kinds:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            national = phonenumbers.national_significant_number(example)
            assert _lint.phone_verdict(f"+{code}{national}", region) is None
            for _ in range(8):
                digits = [rng.choice("0123456789") if rng.random() < 0.3 else d for d in national]
                for variant in ("".join(digits), "0" + "".join(digits), "".join(digits)[:-1]):
                    number = f"+{code}{variant}"
                    fast = _lint._valid_as_e164(number, region)
                    assert fast == _literal_valid(int(code), variant, region), number
                    if fast:
                        assert _full_parse_valid(number, region), number
                    checked += 1
            # Whatever the fast reading says, the verdict is libphonenumber's full parse's.
            trunk = f"+{code}0{national}"
            assert (_lint.phone_verdict(trunk, region) is None) == _full_parse_valid(trunk, region)
    assert checked > 5000


def test_an_output_error_is_not_reported_as_an_unreadable_input(tmp_path: Path) -> None:
    path = tmp_path / "in.ndjson"
    path.write_text("{}\n{}\n")

    def closed_pipe(_line: str) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    with pytest.raises(BrokenPipeError):
        validate_inputs([str(path)], emit=closed_pipe)


def test_stdin_ndjson_with_a_corrupt_first_line_is_streamed_line_by_line() -> None:
    good = json.dumps(valid_payload(), separators=(",", ":"))
    stream = io.BytesIO(("{corrupt\n" + (good + "\n") * 4).encode())
    found: list[str] = []
    summary = validate_inputs(["-"], emit=found.append, stdin=stream)
    assert (summary.payloads, summary.errors) == (5, 1)
    assert found == [
        "<stdin>:1: $: not JSON (Expecting property name enclosed in double quotes at column 2); "
        "expected a JSON object [json] error"
    ]


def ivr_call_flow_error() -> dict[str, Any]:
    """An IVR session that ended in ERROR (-2003) while its one leg was answered: the IVR page
    lists ERROR as a session status but not as a leg status."""
    doc = mutated(valid_payload(), both(put("version", 5), leg("callDirection", "INBOUND")))
    body = doc["payload"]
    body["sessionStatus"] = "ERROR"
    body["errorDetails"] = {"errorMsg": vocabulary.ERROR_CODES[-2003], "errorCode": -2003}
    leg_a = body["details"]["callA"]
    del leg_a["sourceRefId"]
    leg_a["destinationRefId"] = "VN-1"
    return doc


def test_an_ivr_error_session_needs_no_error_leg() -> None:
    doc = ivr_call_flow_error()
    assert validate(doc, strict=True, product="ivr") == []
    assert validate(doc) == []
    for product in ("messaging", "masking"):
        rules = [f.rule for f in validate(doc, strict=True, product=product)]
        assert "lint.session-status" in rules, product


def test_an_ivr_error_session_with_an_error_leg_is_still_refused_by_its_page() -> None:
    doc = ivr_call_flow_error()
    doc["payload"]["details"]["callA"].update(callStatus="ERROR", callDuration=0)
    del doc["payload"]["details"]["callA"]["connectedTimestamp"]
    del doc["payload"]["details"]["callA"]["callQuality"]
    rules = [f.rule for f in validate(doc, strict=True, product="ivr")]
    assert rules == ["schema.enum"]  # IVR's leg statuses have no ERROR
