"""Payload mutations for the probes: each takes a fresh generated payload and changes one thing
(an unknown field, a product variant, odd data, shifted timestamps) the receiver must accept."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from emitter.check._runtime import _ProbeRun
from emitter.check._surgery import (
    _format_time,
    _legs,
    _parse_time,
    _retime,
    _shift_start_to,
    _with_legs,
)


def _unknown_root(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    payload["deliveryAttempt"] = 1
    payload["metadata"] = {"region": "ap-southeast-1", "traceId": run.uuid()}
    return payload


def _unknown_payload(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    payload["payload"]["recordingAvailable"] = False
    payload["payload"]["tags"] = ["campaign-42", "retry"]
    payload["payload"]["billing"] = {"currency": "USD", "units": 2}
    return payload


def _unknown_leg(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    for leg in _legs(payload):
        leg["codec"] = "PCMU"
        leg["sipCallId"] = run.uuid()
        leg["mediaStats"] = {"rtpPacketsSent": 812, "rtpPacketsReceived": 809}
        if isinstance(leg.get("callQuality"), dict):
            leg["callQuality"]["rFactor"] = 88.2
    return payload


def _extra_leg(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    legs = _legs(payload)
    # One more leg than any built-in scenario: a copy of the last one with its own callId,
    # so the session status still agrees with the last leg.
    extra = copy.deepcopy(legs[-1])
    extra["callId"] = run.uuid()
    return _with_legs(payload, [*legs, extra])


def _ivr(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    # IVR's VSS adds a root integer `version` (5 in 8x8's examples) and `clientRequestId`;
    # its inbound legs may carry `destinationRefId` (FACTS.md).
    payload["version"] = 5
    payload["payload"]["clientRequestId"] = run.uuid()
    first = _legs(payload)[0]
    first["callDirection"] = "INBOUND"
    for key in ("sourceRefId", "SourceRefId"):
        first.pop(key, None)
    first["sourceRefId"] = None
    first["destinationRefId"] = "IVR-MAIN-MENU"
    return payload


# --- the product variants (IVR and Number Masking pages): one difference per probe -----------


def _without_source_ref(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    # IVR's and Number Masking's INBOUND legs leave sourceRefId out entirely: `leg["sourceRefId"]`
    # raises. destinationRefId goes too, so a receiver that reads either one is caught here.
    for leg in _legs(payload):
        for key in ("sourceRefId", "SourceRefId", "destinationRefId"):
            leg.pop(key, None)
    return payload


def _with_destination_ref(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    # Number Masking's table: an INBOUND leg's sourceRefId is null and destinationRefId names
    # the virtual number that was called. Only the new field differs from what Voice
    # Messaging sends for an INBOUND leg.
    first = _legs(payload)[0]
    if first.get("callDirection") == "OUTBOUND":
        # Turned around: the far party called the virtual number.
        for a, b in (("source", "destination"), ("sourceCountryCode", "destinationCountryCode")):
            first[a], first[b] = first.get(b), first.get(a)
        first["callDirection"] = "INBOUND"
    reference = first.pop("sourceRefId", None)
    first.pop("SourceRefId", None)
    first["sourceRefId"] = None
    first["destinationRefId"] = reference if isinstance(reference, str) else "PSTN1"
    return payload


def _without_client_request_id(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    # IVR marks clientRequestId optional: two of its three examples have none. Built on an
    # OUTBOUND session (as IVR's scenario 1, which has one) so nothing else differs.
    payload["version"] = 5
    payload["payload"].pop("clientRequestId", None)
    return payload


def _duration_one_second_off(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    # IVR's examples: whole-second stamps of sub-second instants, so callDuration is the
    # rounded real difference, one second away from disconnected - connected (23 for 24).
    for leg in _legs(payload):
        if isinstance(leg.get("callDuration"), int) and "connectedTimestamp" in leg:
            span = _parse_time(leg["disconnectedTimestamp"]) - _parse_time(
                leg["connectedTimestamp"]
            )
            seconds = int(span.total_seconds())
            leg["callDuration"] = seconds - 1 if seconds > 0 else seconds + 1
    return payload


def _error_code_string(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    # Number Masking's field table types errorCode as a String; every example sends an integer.
    details = payload["payload"]["errorDetails"]
    details["errorCode"] = str(details["errorCode"])
    return payload


def _unlisted_last_action(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    # The page documents lastAction with "e.g.": the set is open, new actions can appear.
    payload["payload"]["lastAction"] = "RECORD"
    return payload


def _unlisted_error_code(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    # The page's table points at the complete Voice Error Codes page: other codes exist.
    code = -2011  # next to the table's -2001…-2010, and not in it
    payload["payload"]["errorDetails"] = {
        "errorMsg": "An error not listed on the VSS page has occurred",
        "errorCode": code,
    }
    return payload


def _unicode(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    payload["description"] = "Résumé de la session d'appel — 通話の概要 ✓"
    payload["payload"]["note"] = "Zoë Ångström · Ωmega · 東京 · 📞 · \u2028 line separator"
    return payload


def _large(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    legs = _legs(payload)
    template = next((leg for leg in legs if "callQuality" in leg), legs[-1])
    more = []
    for _ in range(10 - len(legs)):
        leg = copy.deepcopy(template)
        leg["callId"] = run.uuid()
        more.append(leg)
    return _with_legs(payload, [*legs, *more])


def _late(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    return _own_session_id(_shift_start_to(payload, start), start)


def _future(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    # A sender whose clock runs ahead of the receiver's: timestamps a few minutes from now.
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    return _own_session_id(_shift_start_to(payload, start), start)


def _own_session_id(payload: dict[str, Any], start: datetime) -> dict[str, Any]:
    # The contents depend on the clock: a sessionId derived from the seeded one and the new
    # start keeps "same sessionId, same contents" across runs with one --seed, so --verify
    # can compare a session an earlier run left in the receiver (docs/verify.md).
    inner = payload.get("payload")
    if isinstance(inner, dict) and isinstance(inner.get("sessionId"), str):
        base = uuid.uuid5(uuid.NAMESPACE_URL, inner["sessionId"])
        inner["sessionId"] = str(uuid.uuid5(base, start.isoformat()))
    return payload


def _timestamp_variants(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    _retime(payload, style="millis")
    for leg in _legs(payload):
        if isinstance(leg.get("disconnectedTimestamp"), str):
            leg["disconnectedTimestamp"] = _format_time(
                _parse_time(leg["disconnectedTimestamp"]), style="offset"
            )
    return payload
