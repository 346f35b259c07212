"""The canonical reading of a VSS payload: what a correct receiver must have understood and kept.

`canonical(doc)` turns one webhook document into a flat session record with a list of flat leg
records, named as 8x8's documentation names the fields and independent of how the platform
spelled them in a given delivery:

    session: sessionId, subAccountId, sessionStatus, startTime, endTime, lastAction, callCount,
             errorCode, errorMsg, clientRequestId, legs
    leg:     key, callId, callDirection, callType, initiatedTimestamp, connectedTimestamp,
             disconnectedTimestamp, source, destination, sourceCountryCode,
             destinationCountryCode, sourceRefId, destinationRefId, callStatus, callDuration,
             mos, packetLossRate, jitter

Quirks resolved (each one seen in 8x8's own pages):

- a leg key or leg field spelled with an upper-case first letter (`CallA`, `SourceRefId`) is
  read as the documented name (`callA`, `sourceRefId`); `key` is the leg's name with its first
  letter lower-cased;
- the string `"null"` (the success example's `"SourceRefId": "null"`) is null, in any field;
- an absent optional field is null (the record always has every field, so a row can be
  compared with it column by column);
- legs are ordered by key (`callA`, `callB`, …, `callZ`, `callAA`), whatever their order in the
  object (Number Masking's example lists `callB` first);
- `errorCode` is an integer also when sent as an integer-looking string (one Number Masking
  table types it String); any other string is kept as it is. The same holds for the other
  numeric fields (`callCount`, `callDuration`, `jitter`; `mos` and `packetLossRate` may be
  fractional);
- `"NO ANSWER"` (with a space, as older status tables wrote it) is `NO_ANSWER`;
- timestamps are instants written in UTC as `YYYY-MM-DDTHH:MM:SSZ` (fractional seconds kept
  when present); a value that is not an ISO 8601 instant is kept as it was sent.

Fields outside the list (the root `version`, `namespace`, `eventType`, `description`,
`sourceFormat`, `destinationFormat`, unknown additions) are not part of the record: they do
not describe the session.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from emitter.errors import InputError

SESSION_FIELDS: Final = (
    "sessionId",
    "subAccountId",
    "sessionStatus",
    "startTime",
    "endTime",
    "lastAction",
    "callCount",
    "errorCode",
    "errorMsg",
    "clientRequestId",
    "legs",
)
LEG_FIELDS: Final = (
    "key",
    "callId",
    "callDirection",
    "callType",
    "initiatedTimestamp",
    "connectedTimestamp",
    "disconnectedTimestamp",
    "source",
    "destination",
    "sourceCountryCode",
    "destinationCountryCode",
    "sourceRefId",
    "destinationRefId",
    "callStatus",
    "callDuration",
    "mos",
    "packetLossRate",
    "jitter",
)
TIMESTAMP_FIELDS: Final = frozenset(
    {"startTime", "endTime", "initiatedTimestamp", "connectedTimestamp", "disconnectedTimestamp"}
)
INTEGER_FIELDS: Final = frozenset({"callCount", "errorCode", "callDuration", "jitter"})
NUMBER_FIELDS: Final = frozenset({"mos", "packetLossRate"})
STATUS_FIELDS: Final = frozenset({"sessionStatus", "callStatus"})

_QUALITY_FIELDS: Final = ("mos", "packetLossRate", "jitter")
# Read straight off the leg object (the key is the object's name, quality sits in callQuality).
_PLAIN_LEG_FIELDS: Final = tuple(f for f in LEG_FIELDS if f != "key" and f not in _QUALITY_FIELDS)
_INTEGER_TEXT = re.compile(r"[+-]?\d+")
_EXAMPLE = '{"payload": {"sessionId": "…", "details": {"callA": {…}}}, "namespace": "VOICE", …}'


def canonical(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical record of one VSS document (the whole webhook body, `payload` inside).

    Raises InputError when `doc` is not an object with a `payload` object; every other
    irregularity (a missing field, a field of the wrong type) is carried into the record as
    it is, or as null, so the reading never hides what was sent.
    """
    if not isinstance(doc, Mapping):
        raise InputError(
            f"not a VSS document: a JSON {_json_type(doc)}; expected an object like {_EXAMPLE}"
        )
    body = doc.get("payload")
    if not isinstance(body, Mapping):
        found = "no `payload`" if body is None else f"`payload` is a {_json_type(body)}"
        raise InputError(f"not a VSS document: {found}; expected an object like {_EXAMPLE}")
    errors = _field(body, "errorDetails")
    errors = errors if isinstance(errors, Mapping) else {}
    record: dict[str, Any] = {}
    for name in SESSION_FIELDS[:-1]:
        source = errors if name in ("errorCode", "errorMsg") else body
        record[name] = _value(name, _field(source, name))
    record["legs"] = _legs(_field(body, "details"))
    return record


def canonical_bytes(body: bytes | str) -> dict[str, Any]:
    """`canonical` of a raw webhook body; InputError when it is not JSON or not a VSS document."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise InputError(f"not JSON ({exc}); expected a VSS document like {_EXAMPLE}") from None
    return canonical(doc)


def leg_order(key: str) -> tuple[int, str]:
    """Sort key of leg names: callA … callZ, then callAA (shorter names first)."""
    return (len(key), key)


def _legs(details: object) -> list[dict[str, Any]]:
    if not isinstance(details, Mapping):
        return []
    legs: list[dict[str, Any]] = []
    for name, leg in details.items():
        if not isinstance(name, str) or not isinstance(leg, Mapping):
            continue
        record: dict[str, Any] = {"key": name[:1].lower() + name[1:]}
        for field in _PLAIN_LEG_FIELDS:
            record[field] = _value(field, _field(leg, field))
        quality = _field(leg, "callQuality")
        quality = quality if isinstance(quality, Mapping) else {}
        for field in _QUALITY_FIELDS:
            record[field] = _value(field, _field(quality, field))
        legs.append(record)
    legs.sort(key=lambda leg: leg_order(leg["key"]))
    return legs


def _field(obj: Mapping[str, Any], name: str) -> Any:
    """`obj[name]`, else its capitalised spelling (`SourceRefId`), else None.

    When both spellings are there the documented one wins unless it is null.
    """
    value = obj.get(name)
    if value is None or value == "null":
        capitalised = obj.get(name[:1].upper() + name[1:])
        if capitalised is not None and capitalised != "null":
            return capitalised
    return value


def _value(name: str, value: Any) -> Any:
    if value is None or value == "null":
        return None
    if name in TIMESTAMP_FIELDS:
        return normalise_instant(value)
    if name in INTEGER_FIELDS:
        return _integer(value)
    if name in NUMBER_FIELDS:
        return _number(value)
    if name in STATUS_FIELDS and isinstance(value, str):
        return value.replace(" ", "_")
    return value


def normalise_instant(value: Any) -> Any:
    """An ISO 8601 instant as `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` in UTC; anything else unchanged."""
    instant = parse_instant(value)
    if instant is None:
        return value
    text = instant.strftime("%Y-%m-%dT%H:%M:%S")
    if instant.microsecond:
        text += f".{instant.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_instant(value: Any) -> datetime | None:
    """An aware UTC datetime from an ISO 8601 string or a datetime (no zone: UTC), else None."""
    if isinstance(value, datetime):
        instant = value
    elif isinstance(value, str):
        try:
            instant = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def _integer(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()):
        return int(value.strip())
    return value


def _number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return value
        if not math.isfinite(number):
            return value
        return int(number) if number.is_integer() and "." not in value else number
    return value


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "number",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)
