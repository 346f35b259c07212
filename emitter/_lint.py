"""The VSS consistency lint: rules JSON Schema cannot express, each with a rule id and JSON path.

Every rule reads the payload defensively: a payload that failed the schema (missing keys, wrong
types) is linted as far as it can be read, and a rule skips what it cannot read, never raising.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from functools import cache, lru_cache
from typing import Any, NamedTuple

import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata

from emitter import vocabulary
from emitter._timing import aware_instant

LEG_KEY = vocabulary.LEG_KEY
_NUMERAL = re.compile(r"-?[0-9]+")

RULES: dict[str, str] = {
    "lint.call-count": "callCount equals the number of legs in details",
    "lint.leg-key": "leg keys are lower-case (callA, not CallA)",
    "lint.leg-order": "legs are keyed callA, callB, ... in order, without gaps",
    "lint.timestamp-order": "initiated <= connected <= disconnected",
    "lint.call-duration": "callDuration = disconnected - connected, within a second for "
    "whole-second stamps (they hide the sub-second instants), 0 if never connected",
    "lint.connected-timestamp": "a COMPLETED leg has connectedTimestamp, no other leg has one",
    "lint.call-quality": "only COMPLETED legs carry callQuality",
    "lint.session-status": "sessionStatus agrees with the legs' callStatus values",
    "lint.error-details": "errorDetails is present exactly when sessionStatus is ERROR",
    "lint.error-code": "errorDetails.errorCode is in the documented table",
    "lint.error-code-type": "errorDetails.errorCode is an integer, as in every example (Number "
    "Masking's table types it String: not reported for --product masking)",
    "lint.error-message": "errorDetails.errorMsg is the documented message for its code",
    "lint.session-time": "startTime <= endTime",
    "lint.session-window": "every leg lies inside the session (startTime <= initiated, "
    "disconnected <= endTime)",
    "lint.phone-number": "source/destination are valid numbers of their stated country "
    "(libphonenumber)",
    "lint.source-ref": "OUTBOUND legs carry a sourceRefId string, INBOUND legs null or none",
    "lint.destination-ref": "destinationRefId is a reference on INBOUND legs, null or absent on "
    "OUTBOUND legs",
    "lint.unique-uuid": "sessionId and every callId are distinct",
}


class Issue(NamedTuple):
    """One lint finding before a severity is attached: (path, message, rule)."""

    path: str
    message: str
    rule: str


def _str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) else None


def _int(obj: Mapping[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value)


def _time(obj: Mapping[str, Any], key: str) -> datetime | None:
    """An aware datetime, or None for anything the schema would reject (comparing needs offsets)."""
    return aware_instant(obj.get(key))


@lru_cache(maxsize=1 << 16)
def phone_verdict(number: str, country: str) -> str | None:
    """None if libphonenumber holds `number` valid for `country`, else what is wrong.

    Cached because real traffic repeats the same virtual numbers and callers; bounded so a
    stream of distinct numbers cannot grow memory.
    """
    if _valid_as_e164(number, country):
        return None
    # The full parse is lenient (it strips a trunk prefix written after the country code), so
    # it has the last word on a number the fast reading rejects, and names the real region.
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return "is not a phone number libphonenumber can parse"
    if not phonenumbers.is_valid_number(parsed):
        return "is not a valid number per libphonenumber"
    if phonenumbers.is_valid_number_for_region(parsed, country):
        return None
    region = phonenumbers.region_code_for_number(parsed)
    return f"is a number of {region}, not of {country}"


def _valid_as_e164(number: str, country: str) -> bool:
    """libphonenumber's region check on `+<country code><national number>`, read literally.

    Skipping phonenumbers.parse (its lenient normalisation is most of its cost) and matching
    precompiled patterns makes this several times faster; a number it accepts is one the
    parse accepts too (tests compare the two over every region), so only rejections need it.
    """
    matcher = _region_matcher(country)
    if matcher is None:
        return False
    prefix, general, kinds = matcher
    if not number.startswith(prefix):
        return False
    national = number[len(prefix) :]
    if not national.isascii() or not national.isdigit():
        return False
    return _matches(national, general) and any(_matches(national, kind) for kind in kinds)


# (possible lengths, or empty for any; the pattern's fullmatch) of one libphonenumber desc.
_Desc = tuple[frozenset[int], Callable[[str], object]]
# The number types libphonenumber's _number_type_helper tries, in its order.
_KINDS = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
)


def _matches(national: str, desc: _Desc) -> bool:
    lengths, fullmatch = desc
    return (not lengths or len(national) in lengths) and fullmatch(national) is not None


@cache
def _region_matcher(country: str) -> tuple[str, _Desc, tuple[_Desc, ...]] | None:
    """libphonenumber's validity test for one region, compiled once: mirrors
    is_valid_number_for_region (the general description, then any number type)."""
    metadata = PhoneMetadata.metadata_for_region(country, None)
    if metadata is None or metadata.country_code is None:
        return None

    def desc(raw: Any) -> _Desc | None:
        if raw is None or not raw.national_number_pattern:
            return None
        return frozenset(raw.possible_length or ()), re.compile(
            raw.national_number_pattern
        ).fullmatch

    general = desc(metadata.general_desc)
    if general is None:
        return None
    names = _KINDS if metadata.same_mobile_and_fixed_line_pattern else (*_KINDS, "mobile")
    kinds = tuple(d for d in (desc(getattr(metadata, name)) for name in names) if d is not None)
    return f"+{metadata.country_code}", general, kinds


class _Leg(NamedTuple):
    key: str
    path: str
    data: Mapping[str, Any]


def lint(payload: object, *, product: str | None = None) -> list[Issue]:
    """All consistency issues of one VSS document (the whole webhook body).

    `product` ("messaging", "ivr", "masking"; None: any) tunes the rules where the pages
    disagree: only Number Masking's table types errorCode as a String.
    """
    if not isinstance(payload, dict):
        return []
    body = payload.get("payload")
    if not isinstance(body, dict):
        return []
    issues: list[Issue] = []
    details = body.get("details")
    legs: list[_Leg] = []
    leg_keys: list[str] = []
    if isinstance(details, dict):
        for key, leg in details.items():
            if isinstance(key, str) and LEG_KEY.fullmatch(key):
                leg_keys.append(key)
                if isinstance(leg, dict):
                    legs.append(_Leg(key, f"$.payload.details.{key}", leg))
        issues.extend(_call_count(body, leg_keys))
        issues.extend(_leg_keys(leg_keys))
    for leg in legs:
        issues.extend(_leg_times(leg))
        issues.extend(_leg_connection(leg))
        issues.extend(_phones(leg))
        issues.extend(_source_ref(leg))
        issues.extend(_destination_ref(leg))
    issues.extend(_session_times(body, legs))
    if isinstance(details, dict) and len(legs) == len(leg_keys):
        issues.extend(_session_status(body, legs, product))
    issues.extend(_error_details(body, product))
    issues.extend(_unique_uuids(body, legs))
    return issues


def _call_count(body: Mapping[str, Any], leg_keys: list[str]) -> Iterator[Issue]:
    count = _int(body, "callCount")
    if count is not None and count != len(leg_keys):
        yield Issue(
            "$.payload.callCount",
            f"callCount is {count} but details has {len(leg_keys)} leg(s); expected them equal",
            "lint.call-count",
        )


def _leg_keys(leg_keys: list[str]) -> Iterator[Issue]:
    for index, key in enumerate(leg_keys):
        path = f"$.payload.details.{key}"
        lower = "c" + key[1:]
        if key[0] == "C":
            # 8x8's own success example writes "CallA"; receivers must accept it.
            yield Issue(path, f"capitalised leg key {key!r}; expected {lower!r}", "lint.leg-key")
        expected = vocabulary.leg_key(index)
        if lower != expected:
            yield Issue(
                path,
                f"leg {index + 1} is keyed {key!r}; expected {expected!r} (legs are keyed "
                "callA, callB, ... in order)",
                "lint.leg-order",
            )


def _leg_times(leg: _Leg) -> Iterator[Issue]:
    initiated = _time(leg.data, "initiatedTimestamp")
    connected = _time(leg.data, "connectedTimestamp")
    disconnected = _time(leg.data, "disconnectedTimestamp")
    if initiated and connected and connected < initiated:
        yield Issue(
            f"{leg.path}.connectedTimestamp",
            f"connected at {leg.data['connectedTimestamp']} before it was initiated at "
            f"{leg.data['initiatedTimestamp']}; expected initiated <= connected",
            "lint.timestamp-order",
        )
    before = connected or initiated
    if before and disconnected and disconnected < before:
        name = "connectedTimestamp" if connected else "initiatedTimestamp"
        yield Issue(
            f"{leg.path}.disconnectedTimestamp",
            f"disconnected at {leg.data['disconnectedTimestamp']} before {name} "
            f"{leg.data[name]}; expected {name} <= disconnectedTimestamp",
            "lint.timestamp-order",
        )
    duration = _int(leg.data, "callDuration")
    if duration is None:
        return
    path = f"{leg.path}.callDuration"
    if leg.data.get("connectedTimestamp") is None:
        if duration != 0:
            yield Issue(
                path,
                f"callDuration is {duration} for a leg never connected (no "
                "connectedTimestamp); expected 0",
                "lint.call-duration",
            )
        return
    if connected and disconnected:
        seconds = (disconnected - connected).total_seconds()
        if seconds.is_integer():
            # Whole-second stamps of sub-second instants: the platform rounds the real
            # difference, so it may be one second either side (23 for 09 -> 33 in IVR's examples).
            low, high, expected = int(seconds) - 1, int(seconds) + 1, "within one second"
        else:
            # Truncated or rounded up are both honest readings of fractional stamps.
            low, high = math.floor(seconds), math.ceil(seconds)
            expected = "equal in whole seconds"
        if not low <= duration <= high:
            yield Issue(
                path,
                f"callDuration is {duration} but disconnected - connected is {seconds:g} s; "
                f"expected them {expected}",
                "lint.call-duration",
            )


def _leg_connection(leg: _Leg) -> Iterator[Issue]:
    status = _str(leg.data, "callStatus")
    if status is None:
        return
    has_connected = leg.data.get("connectedTimestamp") is not None
    if status == "COMPLETED" and not has_connected:
        yield Issue(
            leg.path,
            "a COMPLETED leg has no connectedTimestamp; expected the time it was answered",
            "lint.connected-timestamp",
        )
    elif status != "COMPLETED" and has_connected:
        yield Issue(
            f"{leg.path}.connectedTimestamp",
            f"a {status} leg has a connectedTimestamp; expected none (only COMPLETED legs "
            "were answered)",
            "lint.connected-timestamp",
        )
    if status != "COMPLETED" and "callQuality" in leg.data:
        yield Issue(
            f"{leg.path}.callQuality",
            f"a {status} leg has callQuality; expected none (only COMPLETED legs carry media)",
            "lint.call-quality",
        )


def _phones(leg: _Leg) -> Iterator[Issue]:
    for field in ("source", "destination"):
        number = _str(leg.data, field)
        country = _str(leg.data, f"{field}CountryCode")
        if number is None or country is None:
            continue
        verdict = phone_verdict(number, country)
        if verdict is not None:
            yield Issue(
                f"{leg.path}.{field}",
                f"{number!r} {verdict}; expected a valid number of {field}CountryCode {country!r}",
                "lint.phone-number",
            )


def _source_ref(leg: _Leg) -> Iterator[Issue]:
    direction = _str(leg.data, "callDirection")
    key = next((k for k in ("sourceRefId", "SourceRefId") if k in leg.data), None)
    if direction is None or key is None:
        return
    value = leg.data[key]
    path = f"{leg.path}.{key}"
    if direction == "OUTBOUND" and (not isinstance(value, str) or value in ("", "null")):
        # 8x8's success example sends the string "null": a serialisation bug, not a reference.
        yield Issue(
            path,
            f"an OUTBOUND leg has {key} {_show(value)}; expected the reference id of the "
            "virtual number used as caller ID, e.g. 'PSTN1'",
            "lint.source-ref",
        )
    elif direction == "INBOUND" and value is not None:
        yield Issue(
            path, f"an INBOUND leg has {key} {_show(value)}; expected null", "lint.source-ref"
        )


def _destination_ref(leg: _Leg) -> Iterator[Issue]:
    direction = _str(leg.data, "callDirection")
    if direction is None or "destinationRefId" not in leg.data:
        return
    value = leg.data["destinationRefId"]
    path = f"{leg.path}.destinationRefId"
    if direction == "OUTBOUND" and value is not None:
        yield Issue(
            path,
            f"an OUTBOUND leg has destinationRefId {_show(value)}; expected null or no "
            "destinationRefId (it names the virtual number an INBOUND call dialled)",
            "lint.destination-ref",
        )
    elif direction == "INBOUND" and isinstance(value, str) and value in ("", "null"):
        yield Issue(
            path,
            f"an INBOUND leg has destinationRefId {_show(value)}; expected the reference id of "
            "the virtual number that was called, e.g. 'PSTN1', or null",
            "lint.destination-ref",
        )


def _show(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"the string {value!r}" if value == "null" else repr(value)
    return repr(value)


def _session_times(body: Mapping[str, Any], legs: list[_Leg]) -> Iterator[Issue]:
    start = _time(body, "startTime")
    end = _time(body, "endTime")
    if start and end and end < start:
        yield Issue(
            "$.payload.endTime",
            f"endTime {body['endTime']} is before startTime {body['startTime']}; "
            "expected startTime <= endTime",
            "lint.session-time",
        )
    for leg in legs:
        initiated = _time(leg.data, "initiatedTimestamp")
        disconnected = _time(leg.data, "disconnectedTimestamp")
        if start and initiated and initiated < start:
            yield Issue(
                f"{leg.path}.initiatedTimestamp",
                f"leg initiated at {leg.data['initiatedTimestamp']}, before the session's "
                f"startTime {body['startTime']}; expected startTime <= initiatedTimestamp",
                "lint.session-window",
            )
        if end and disconnected and disconnected > end:
            yield Issue(
                f"{leg.path}.disconnectedTimestamp",
                f"leg disconnected at {leg.data['disconnectedTimestamp']}, after the "
                f"session's endTime {body['endTime']}; expected disconnectedTimestamp <= endTime",
                "lint.session-window",
            )


def _session_status(
    body: Mapping[str, Any], legs: list[_Leg], product: str | None
) -> Iterator[Issue]:
    session = _str(body, "sessionStatus")
    if session is None:
        return
    ordered = sorted(legs, key=lambda leg: leg.key[4])
    statuses = [_str(leg.data, "callStatus") for leg in ordered]
    known = [s for s in statuses if s is not None]
    if len(known) != len(statuses):
        return
    if not vocabulary.session_status_agrees(session, known, product=product):
        shown = ", ".join(f"{leg.key} {s}" for leg, s in zip(ordered, known, strict=True))
        yield Issue(
            "$.payload.sessionStatus",
            f"sessionStatus {session} disagrees with the legs ({shown or 'no legs'}); "
            "expected the status the legs imply (the last leg decides; COMPLETED needs the "
            "first and last legs COMPLETED; UNSUBSCRIBED_CONTACT has no legs; an IVR "
            "ERROR session, whose page has no ERROR leg status, may have none)",
            "lint.session-status",
        )


def _error_details(body: Mapping[str, Any], product: str | None) -> Iterator[Issue]:
    session = _str(body, "sessionStatus")
    present = "errorDetails" in body
    if session == "ERROR" and not present:
        yield Issue(
            "$.payload",
            "sessionStatus is ERROR but errorDetails is missing; expected "
            "{errorCode, errorMsg} from the documented table",
            "lint.error-details",
        )
    elif session is not None and session != "ERROR" and present:
        yield Issue(
            "$.payload.errorDetails",
            f"errorDetails is present but sessionStatus is {session}; expected it only with ERROR",
            "lint.error-details",
        )
    details = body.get("errorDetails")
    if not isinstance(details, dict):
        return
    code = _int(details, "errorCode")
    raw = details.get("errorCode")
    if code is None and isinstance(raw, str) and _NUMERAL.fullmatch(raw):
        code = int(raw)
        if product != "masking":
            yield Issue(
                "$.payload.errorDetails.errorCode",
                f"errorCode is the string {raw!r}; expected the integer {code} as in every "
                "example (only Number Masking's table types it String: accept both)",
                "lint.error-code-type",
            )
    if code is None:
        return
    if code not in vocabulary.ERROR_CODES:
        known = ", ".join(str(c) for c in vocabulary.ERROR_CODES)
        yield Issue(
            "$.payload.errorDetails.errorCode",
            f"errorCode {code} is not in the documented table; expected one of {known}",
            "lint.error-code",
        )
        return
    message = _str(details, "errorMsg")
    documented = vocabulary.ERROR_CODES[code]
    if message is not None and message != documented:
        yield Issue(
            "$.payload.errorDetails.errorMsg",
            f"errorMsg {message!r} for errorCode {code}; expected {documented!r}",
            "lint.error-message",
        )


def _unique_uuids(body: Mapping[str, Any], legs: list[_Leg]) -> Iterator[Issue]:
    seen: dict[str, str] = {}
    session_id = _str(body, "sessionId")
    if session_id is not None:
        seen[session_id.lower()] = "$.payload.sessionId"
    for leg in legs:
        call_id = _str(leg.data, "callId")
        if call_id is None:
            continue
        path = f"{leg.path}.callId"
        first = seen.setdefault(call_id.lower(), path)
        if first != path:
            yield Issue(
                path,
                f"callId {call_id!r} repeats the UUID at {first}; expected every UUID unique",
                "lint.unique-uuid",
            )
