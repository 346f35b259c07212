"""Contract coverage: which parts of the VSS contract a set of payloads exercised.

A `Coverage` is filled one payload at a time (a fixture set, captured traffic, what a check
or a replay sent) and tells, per dimension (session statuses, products, error codes, leg
counts, directions, call types, MOS bands, lastAction values, the platform's documented
quirks, optional fields present and absent), what was seen, how often, and what was not.
Reading is defensive: a payload that breaks the contract still counts for what it shows.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar

from emitter import vocabulary
from emitter._lint import LEG_KEY
from emitter._timing import aware_instant
from emitter.errors import UsageError

# The product a payload comes from, read from its shape (the payload does not say): IVR adds
# a root `version` and may add `clientRequestId`; Number Masking starts with the caller's
# INBOUND leg to the masked number; Voice Messaging (and Programmable SIP, which cannot be
# told apart by shape) only calls out. Names and per-product statuses are the vocabulary's.
PRODUCTS: Final = vocabulary.PRODUCTS
PRODUCT_STATUSES: Final = vocabulary.PRODUCT_SESSION_STATUSES

LEG_COUNTS: Final = ("0", "1", "2", "3+")

# What the real platform sends that the documentation's tables do not promise, as the
# scenarios (`quirks:`) and the lint name them; each is a shape a receiver must accept.
QUIRKS: Final = (
    "capitalised-leg-key",  # "CallA", in Voice Messaging's success example
    "string-null-source-ref-id",  # "SourceRefId": "null", the same example
    "leg-before-session-start",  # a leg initiated before the session's startTime
    "legs-out-of-order",  # callB listed before callA, in Number Masking's example
    "duration-one-second-off",  # whole-second stamps of sub-second instants, IVR examples
)

# Fields a payload may carry or leave out, where they live: (level, name). "root" is the
# webhook body, "payload" its `payload` object, "leg" each leg under `details`.
OPTIONAL_FIELDS: Final = (
    ("root", "version"),
    ("payload", "clientRequestId"),
    ("payload", "errorDetails"),
    ("leg", "connectedTimestamp"),
    ("leg", "callQuality"),
    ("leg", "sourceRefId"),
    ("leg", "destinationRefId"),
)


class _Body(Protocol):
    @property
    def body(self) -> bytes | None: ...


_HasBody = TypeVar("_HasBody", bound=_Body)


@dataclass(frozen=True)
class Dimension:
    """One part of the contract: the values it can take, and a title for reports."""

    name: str  # the --require name, e.g. "error-codes"
    title: str
    values: tuple[str, ...]  # what full coverage means
    about: str


def _optional_values() -> tuple[str, ...]:
    return tuple(
        f"{name} {state}" for _, name in OPTIONAL_FIELDS for state in ("present", "absent")
    )


def _product_cells() -> tuple[str, ...]:
    return tuple(
        f"{status} × {product}" for product in PRODUCTS for status in PRODUCT_STATUSES[product]
    )


DIMENSIONS: Final = (
    Dimension(
        "statuses",
        "Session statuses",
        vocabulary.SESSION_STATUSES,
        "every sessionStatus the VSS page documents",
    ),
    Dimension("products", "Products", PRODUCTS, "IVR, Number Masking, Voice Messaging"),
    Dimension(
        "statuses-by-product",
        "Session status × product",
        _product_cells(),
        "every status each product documents (IVR and Number Masking have no opt-out)",
    ),
    Dimension(
        "error-codes",
        "Error codes",
        tuple(str(code) for code in vocabulary.ERROR_CODES),
        "every errorDetails.errorCode of the documented table",
    ),
    Dimension("leg-counts", "Leg counts", LEG_COUNTS, "sessions with 0, 1, 2 and 3 or more legs"),
    Dimension("directions", "Call directions", vocabulary.CALL_DIRECTIONS, "callDirection"),
    Dimension("call-types", "Call types", vocabulary.CALL_TYPES, "callType"),
    Dimension(
        "mos-bands",
        "MOS bands",
        tuple(vocabulary.MOS_BANDS),
        "callQuality.mos in each band of the documentation's MOS table",
    ),
    Dimension(
        "last-actions",
        "lastAction values",
        vocabulary.LAST_ACTIONS,
        "the lastAction values seen in 8x8's pages",
    ),
    Dimension("quirks", "Documented quirks", QUIRKS, "shapes the real platform sends"),
    Dimension(
        "optional-fields",
        "Optional fields",
        _optional_values(),
        "each optional field both present and absent",
    ),
)
_BY_NAME: Final = {d.name: d for d in DIMENSIONS}


def parse_requirements(text: str) -> tuple[str, ...]:
    """`statuses,error-codes` -> the dimension names; `all` is every one. UsageError if unknown."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        names = [""]
    if names == ["all"]:
        return tuple(_BY_NAME)
    for name in names:
        if name not in _BY_NAME:
            raise UsageError(
                f"unknown coverage dimension `{name}`: expected a comma-separated list of "
                f"{', '.join(_BY_NAME)} (or all), e.g. --require statuses,error-codes"
            )
    return tuple(dict.fromkeys(names))


def product_of(document: Mapping[str, Any]) -> str:
    """ivr, masking or messaging, from a webhook body's shape (see PRODUCTS)."""
    payload = document.get("payload")
    payload = payload if isinstance(payload, Mapping) else {}
    if "version" in document or "clientRequestId" in payload:
        return "ivr"
    first = _first_leg(payload)
    if first is not None and first.get("callDirection") == "INBOUND":
        return "masking"
    return "messaging"


def _legs(payload: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    details = payload.get("details")
    if not isinstance(details, Mapping):
        return []
    return [
        (key, leg)
        for key, leg in details.items()
        if isinstance(key, str) and LEG_KEY.fullmatch(key) and isinstance(leg, Mapping)
    ]


def _first_leg(payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    legs = _legs(payload)
    if not legs:
        return None
    return min(legs, key=lambda pair: pair[0][4])[1]


def mos_band(mos: object) -> str | None:
    """The MOS table's band of a score, None for a value outside 1.0-5.0 or not a number.

    A numeric string ("4.5") is read as its number, as `canonical` reads it.
    """
    if isinstance(mos, str):
        try:
            mos = float(mos.strip())
        except ValueError:
            return None
    if isinstance(mos, bool) or not isinstance(mos, int | float) or not math.isfinite(mos):
        return None
    for band, (low, high) in vocabulary.MOS_BANDS.items():
        if low <= mos < high or (mos == high == 5.0):
            return band
    return None


def quirks_of(document: Mapping[str, Any]) -> set[str]:
    """The documented quirks one webhook body shows (names as in QUIRKS)."""
    payload = document.get("payload")
    if not isinstance(payload, Mapping):
        return set()
    found: set[str] = set()
    legs = _legs(payload)
    keys = [key for key, _ in legs]
    if any(key[0] == "C" for key in keys):
        found.add("capitalised-leg-key")
    letters = [key[4] for key in keys]
    if letters != sorted(letters):
        found.add("legs-out-of-order")
    start = aware_instant(payload.get("startTime"))
    for _, leg in legs:
        if leg.get("sourceRefId") == "null" or leg.get("SourceRefId") == "null":
            found.add("string-null-source-ref-id")
        initiated = aware_instant(leg.get("initiatedTimestamp"))
        if start is not None and initiated is not None and initiated < start:
            found.add("leg-before-session-start")
        connected = aware_instant(leg.get("connectedTimestamp"))
        disconnected = aware_instant(leg.get("disconnectedTimestamp"))
        duration = leg.get("callDuration")
        if connected and disconnected and isinstance(duration, int):
            seconds = (disconnected - connected).total_seconds()
            if seconds.is_integer() and abs(duration - seconds) == 1:
                found.add("duration-one-second-off")
    return found


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "null"


class Coverage:
    """Counts per dimension value over the payloads added so far (see DIMENSIONS)."""

    def __init__(self) -> None:
        self.payloads = 0
        self.counts: dict[str, Counter[str]] = {d.name: Counter() for d in DIMENSIONS}

    def add_body(self, body: bytes) -> bool:
        """Count one raw webhook body; False (and nothing counted) when it is not a VSS
        document (see `read_body`)."""
        return self.read_body(body) is None

    def read_body(self, body: bytes) -> str | None:
        """Count one raw webhook body, or say why it is not counted: not JSON, not a JSON
        object, or an object without a `payload` object (`canonical`'s rule), so junk such as
        `{}` never shows a leg count or an absent optional field as covered."""
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            return "not JSON"
        if not isinstance(document, dict):
            return "not a JSON object"
        inner = document.get("payload")
        if not isinstance(inner, dict):
            found = "no `payload`" if inner is None else f"`payload` is {_json_kind(inner)}"
            return f"not a VSS document: {found}"
        self.add(document)
        return None

    def add_all(self, documents: Iterable[Mapping[str, Any]]) -> Coverage:
        for document in documents:
            self.add(document)
        return self

    def add(self, document: Mapping[str, Any]) -> None:
        """Count one webhook body (the whole JSON object)."""
        self.payloads += 1
        counts = self.counts
        payload = document.get("payload")
        payload = payload if isinstance(payload, Mapping) else {}
        product = product_of(document)
        counts["products"][product] += 1
        status = payload.get("sessionStatus")
        if isinstance(status, str):
            counts["statuses"][status] += 1
            counts["statuses-by-product"][f"{status} × {product}"] += 1
        errors = payload.get("errorDetails")
        if isinstance(errors, Mapping) and "errorCode" in errors:
            # The Number Masking table types errorCode as a string; "-2004" counts as -2004.
            counts["error-codes"][str(errors["errorCode"])] += 1
        action = payload.get("lastAction")
        if isinstance(action, str):
            counts["last-actions"][action] += 1
        legs = _legs(payload)
        counts["leg-counts"][str(len(legs)) if len(legs) < 3 else "3+"] += 1
        for quirk in quirks_of(document):
            counts["quirks"][quirk] += 1
        optional = counts["optional-fields"]
        for level, name in OPTIONAL_FIELDS:
            if level == "leg":
                continue
            holder = document if level == "root" else payload
            optional[f"{name} {'present' if name in holder else 'absent'}"] += 1
        for _, leg in legs:
            for field in ("callDirection", "callType"):
                value = leg.get(field)
                if isinstance(value, str):
                    counts["directions" if field == "callDirection" else "call-types"][value] += 1
            quality = leg.get("callQuality")
            if isinstance(quality, Mapping):
                band = mos_band(quality.get("mos"))
                counts["mos-bands"][band or f"out of range ({quality.get('mos')!r})"] += 1
            for level, name in OPTIONAL_FIELDS:
                if level != "leg":
                    continue
                there = name in leg or (name == "sourceRefId" and "SourceRefId" in leg)
                optional[f"{name} {'present' if there else 'absent'}"] += 1

    def missing(self, name: str) -> list[str]:
        """The values of dimension `name` no payload showed."""
        seen = self.counts[name]
        return [value for value in _BY_NAME[name].values if not seen[value]]

    def unmet(self, required: Sequence[str]) -> dict[str, list[str]]:
        """For each required dimension with a gap, what is missing (empty when all are met)."""
        gaps = {name: self.missing(name) for name in required}
        return {name: values for name, values in gaps.items() if values}

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON data: per dimension what full coverage means, the counts and the gaps."""
        dimensions: dict[str, Any] = {}
        for dim in DIMENSIONS:
            seen = self.counts[dim.name]
            expected = set(dim.values)
            dimensions[dim.name] = {
                "title": dim.title,
                "about": dim.about,
                "covered": sum(1 for v in dim.values if seen[v]),
                "total": len(dim.values),
                "counts": {v: seen[v] for v in dim.values},
                "missing": self.missing(dim.name),
                # Values outside the documented set (an unlisted lastAction, a code not in the
                # table): shown, never required.
                "other": {v: n for v, n in sorted(seen.items()) if v not in expected},
            }
        return {"payloads": self.payloads, "dimensions": dimensions, "matrix": self.matrix()}

    def matrix(self) -> dict[str, dict[str, int]]:
        """Session status -> product -> payloads, every documented status a row."""
        cells = self.counts["statuses-by-product"]
        statuses = list(vocabulary.SESSION_STATUSES)
        statuses += sorted(
            {key.split(" × ")[0] for key in cells} - set(vocabulary.SESSION_STATUSES)
        )
        return {s: {p: cells[f"{s} × {p}"] for p in PRODUCTS} for s in statuses}


def summary_lines(coverage: Coverage) -> list[str]:
    """The terminal view: one line per dimension with its figure, then what it is missing."""
    lines = [f"contract coverage of {coverage.payloads} payload(s)"]
    width = max(len(d.name) for d in DIMENSIONS)
    for dim in DIMENSIONS:
        missing = coverage.missing(dim.name)
        covered = len(dim.values) - len(missing)
        figure = f"{covered}/{len(dim.values)}"
        tail = f"  missing: {', '.join(missing)}" if missing else ""
        lines.append(f"  {dim.name:<{width}}  {figure:>7}{tail}")
    return lines


def coverage_of_bodies(bodies: Iterable[bytes]) -> Coverage:
    """The coverage of raw bodies; those that are not JSON objects are left out."""
    coverage = Coverage()
    for body in bodies:
        coverage.add_body(body)
    return coverage


def observe(items: Iterator[_HasBody], coverage: Coverage) -> Iterator[_HasBody]:
    """Pass `items` (payload source items) through, counting each body in `coverage`."""
    for item in items:
        if item.body is not None:
            coverage.add_body(item.body)
        yield item
