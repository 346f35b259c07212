"""Contract coverage: which parts of the VSS contract a set of payloads exercised.

A `Coverage` is filled one payload at a time (a fixture set, captured traffic, what a check
or a replay sent) and tells, per dimension (session statuses, products, error codes, leg
counts, directions, call types, MOS bands, lastAction values, the platform's documented
quirks, optional fields present and absent), what was seen, how often, and what was not.
Reading is defensive: a payload that breaks the contract still counts for what it shows.
Speed (add_body, ~1 KB generator bodies, one core, min-max of 3 runs): 20.0-20.1 us per payload
with json.loads and the plain reading, 7.0-7.2 us (2.8x) with msgspec and the one-pass `add`.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar

import msgspec

from emitter import vocabulary
from emitter._timing import aware_instant
from emitter.errors import UsageError
from emitter.vocabulary import LEG_KEY

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


# The optional-fields keys, made once: (name, "name present", "name absent") for the body and
# for its payload; each leg's also names the capitalised spelling of the same field (quirk
# string-null-source-ref-id) that counts as it.
def _keys(level: str) -> tuple[tuple[str, str, str], ...]:
    return tuple(
        (name, f"{name} present", f"{name} absent") for at, name in OPTIONAL_FIELDS if at == level
    )


_ROOT_FIELDS: Final = _keys("root")
_PAYLOAD_FIELDS: Final = _keys("payload")
_LEG_FIELDS: Final = tuple(
    (name, "SourceRefId" if name == "sourceRefId" else None, present, absent)
    for name, present, absent in _keys("leg")
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
_OPTIONAL: Final = list(_BY_NAME).index("optional-fields")


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


# Reading is on the hot path of replay's census (every payload sent) and of `coverage`: a body
# read from JSON is all dicts, so `isinstance(x, _MAPS)` settles on dict at once and asks the
# Mapping ABC (several times slower) only about values that are not one; `add` still takes any
# Mapping. tests/test_coverage.py compares every count with the plain reading this replaced.
_MAPS: Final = (dict, Mapping)

_decode: Final = msgspec.json.Decoder().decode
# msgspec and json refuse deep nesting (RecursionError) a few levels apart (3.11: msgspec is
# reached through three fewer Python frames; 3.12: one level apart), so near the limit one
# could accept what the other refuses: a body with more brackets than this (far more than a
# VSS document nests) is json's alone, and fails or not exactly as before.
_FAST_BRACKETS: Final = 64
_REFUSED: Final[Any] = object()


def _fast_decode(body: bytes) -> Any:
    """`json.loads(body)`'s value, faster, or _REFUSED for json to read or refuse as before.

    What msgspec accepts it decodes to the same values as json, and it accepts less (no NaN or
    Infinity, no lone surrogates, UTF-8 only, no BOM, no integer past json's digit limit):
    tests/test_coverage.py holds the edge cases. json.loads stays in the caller's frame so a
    body nested to the recursion limit fails exactly where it failed before.
    """
    # A VSS body has no array: find (memchr) spares counting the brackets it does not have.
    if (
        type(body) is bytes
        and (body.count(b"{") if body.find(b"[") < 0 else body.count(b"{") + body.count(b"["))
        <= _FAST_BRACKETS
    ):
        try:
            return _decode(body)
        except (msgspec.MsgspecError, RecursionError):
            pass  # refused: json decides
    return _REFUSED


# Small memos for the reading's repeated work, cleared when full (each is a pure function of
# its key): whether a `details` key names a leg (LEG_KEY), and a float MOS's band.
_MEMO_SIZE: Final = 4096
_leg_keys: dict[str, bool] = {}
_float_bands: dict[float, str | None] = {}
_BANDS: Final = tuple((band, low, high) for band, (low, high) in vocabulary.MOS_BANDS.items())
_UNSET: Final[Any] = object()


def _is_leg_key(key: object) -> bool:
    if type(key) is str:
        known = _leg_keys.get(key)
        if known is None:
            if len(_leg_keys) >= _MEMO_SIZE:
                _leg_keys.clear()
            known = _leg_keys[key] = LEG_KEY.fullmatch(key) is not None
        return known
    return isinstance(key, str) and LEG_KEY.fullmatch(key) is not None


def product_of(document: Mapping[str, Any]) -> str:
    """ivr, masking or messaging, from a webhook body's shape (see PRODUCTS)."""
    coverage = Coverage()  # one reading of the shape: the one that counts it
    coverage.add(document)
    return next(iter(coverage.counts["products"]))


def mos_band(mos: object) -> str | None:
    """The MOS table's band of a score, None for a value outside 1.0-5.0 or not a number.

    A numeric string ("4.5") is read as its number, as `canonical` reads it.
    """
    if type(mos) is float:
        band = _float_bands.get(mos, _UNSET)
        if band is not _UNSET:
            return band  # type: ignore[no-any-return]
        band = _band(mos)
        if math.isfinite(mos):  # NaN is never found again (nan != nan): do not keep it
            if len(_float_bands) >= _MEMO_SIZE:
                _float_bands.clear()
            _float_bands[mos] = band
        return band
    return _band(mos)


def _band(mos: object) -> str | None:
    if isinstance(mos, str):
        try:
            mos = float(mos.strip())
        except ValueError:
            return None
    if isinstance(mos, bool) or not isinstance(mos, int | float):
        return None
    # An int is finite, and compares exactly with the bands' floats even past float's range
    # (math.isfinite would raise OverflowError for 10**400 and end the whole count).
    if isinstance(mos, float) and not math.isfinite(mos):
        return None
    for band, low, high in _BANDS:
        if low <= mos < high or (mos == high == 5.0):
            return band
    return None


def quirks_of(document: Mapping[str, Any]) -> set[str]:
    """The documented quirks one webhook body shows (names as in QUIRKS)."""
    coverage = Coverage()  # one reading of the quirks: the one that counts them
    coverage.add(document)
    return set(coverage.counts["quirks"])


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
        # Why these counts are not a run's coverage, when they are not (replay's counting process
        # stopped, or Ctrl-C during its count): reports then leave the coverage out and say why.
        self.unavailable: str | None = None
        self._counts: dict[str, Counter[str]] = {d.name: Counter() for d in DIMENSIONS}
        # `add` counts into plain dicts, one per dimension in DIMENSIONS' order (an increment
        # costs a third of a Counter's), and `counts` moves them into the Counters whenever it
        # is read. Optional fields are counted where present: the bodies and legs added since
        # give the absent ones.
        self._tally: tuple[dict[str, int], ...] = tuple({} for _ in DIMENSIONS)
        self._bodies = self._legs = 0

    @property
    def counts(self) -> dict[str, Counter[str]]:
        """Dimension name -> value -> how many payloads (or legs) showed it."""
        optional = self._tally[_OPTIONAL]
        if self._bodies:
            for _, present, absent in _ROOT_FIELDS + _PAYLOAD_FIELDS:
                if without := self._bodies - optional.get(present, 0):
                    optional[absent] = without
        if self._legs:
            for _, _, present, absent in _LEG_FIELDS:
                if without := self._legs - optional.get(present, 0):
                    optional[absent] = without
        self._bodies = self._legs = 0
        for name, tally in zip(_BY_NAME, self._tally, strict=True):
            if tally:
                self._counts.setdefault(name, Counter()).update(tally)
                tally.clear()
        return self._counts

    def add_body(self, body: bytes) -> bool:
        """Count one raw webhook body; False (and nothing counted) when it is not a VSS
        document (see `read_body`)."""
        return self.read_body(body) is None

    def read_body(self, body: bytes) -> str | None:
        """Count one raw webhook body, or say why it is not counted: not JSON, not a JSON
        object, or an object without a `payload` object (`canonical`'s rule), so junk such as
        `{}` never shows a leg count or an absent optional field as covered."""
        try:
            document = _fast_decode(body)
            if document is _REFUSED:
                document = json.loads(body)
        except (ValueError, RecursionError):
            return "not JSON"
        if not isinstance(document, dict):
            return "not a JSON object"
        inner = document.get("payload")
        if not isinstance(inner, dict):
            found = "no `payload`" if inner is None else f"`payload` is {_json_kind(inner)}"
            return f"not a VSS document: {found}"
        self._add(document, inner)
        return None

    def add_all(self, documents: Iterable[Mapping[str, Any]]) -> Coverage:
        for document in documents:
            self.add(document)
        return self

    def add(self, document: Mapping[str, Any]) -> None:
        """Count one webhook body (the whole JSON object)."""
        payload = document.get("payload")
        self._add(document, payload if isinstance(payload, _MAPS) else {})

    def _add(self, document: Mapping[str, Any], payload: Mapping[str, Any]) -> None:
        self.payloads += 1
        self._bodies += 1
        (  # DIMENSIONS' order
            statuses,
            products,
            cells,
            codes,
            leg_counts,
            directions,
            call_types,
            bands,
            actions,
            quirks,
            optional,
        ) = self._tally
        # The legs: (key, leg) for each leg-named key of `details` holding an object, and the
        # first one (the lowest letter, the earliest listed among equals) for the product.
        legs: list[tuple[str, Mapping[str, Any]]] = []
        first: Mapping[str, Any] | None = None
        details = payload.get("details")
        if details is not None and isinstance(details, _MAPS):
            letter = ""
            for key, leg in details.items():
                is_leg = _leg_keys.get(key) if type(key) is str else None
                if is_leg is None:
                    is_leg = _is_leg_key(key)
                if is_leg and isinstance(leg, _MAPS):
                    legs.append((key, leg))
                    if first is None or key[4] < letter:
                        first, letter = leg, key[4]
        if "version" in document or "clientRequestId" in payload:
            product = "ivr"
        elif first is not None and first.get("callDirection") == "INBOUND":
            product = "masking"
        else:
            product = "messaging"
        products[product] = products.get(product, 0) + 1
        status = payload.get("sessionStatus")
        if isinstance(status, str):
            statuses[status] = statuses.get(status, 0) + 1
            cell = f"{status} × {product}"
            cells[cell] = cells.get(cell, 0) + 1
        errors = payload.get("errorDetails")
        if errors is not None and isinstance(errors, _MAPS) and "errorCode" in errors:
            # The Number Masking table types errorCode as a string; "-2004" counts as -2004.
            code = str(errors["errorCode"])
            codes[code] = codes.get(code, 0) + 1
        action = payload.get("lastAction")
        if isinstance(action, str):
            actions[action] = actions.get(action, 0) + 1
        legs_key = LEG_COUNTS[min(len(legs), 3)]
        leg_counts[legs_key] = leg_counts.get(legs_key, 0) + 1
        for name, present, _ in _ROOT_FIELDS:
            if name in document:
                optional[present] = optional.get(present, 0) + 1
        for name, present, _ in _PAYLOAD_FIELDS:
            if name in payload:
                optional[present] = optional.get(present, 0) + 1
        if not legs:
            return
        self._legs += len(legs)
        # The quirks (QUIRKS), each counted once per payload: these flags say which were seen.
        capitalised = disordered = null_ref = early = off = False
        previous = ""
        start_text = payload.get("startTime")
        start: Any = _UNSET  # parsed once a leg starts at another text than the session
        for key, leg in legs:
            if key[0] == "C":
                capitalised = True
            if key[4] < previous:  # the listed letters are not in sorted order
                disordered = True
            previous = key[4]
            value = leg.get("callDirection")
            if isinstance(value, str):
                directions[value] = directions.get(value, 0) + 1
            value = leg.get("callType")
            if isinstance(value, str):
                call_types[value] = call_types.get(value, 0) + 1
            quality = leg.get("callQuality")
            if quality is not None and isinstance(quality, _MAPS):
                mos = quality.get("mos")
                band = _float_bands.get(mos) if type(mos) is float else None  # mos_band's memo
                if band is None:
                    band = mos_band(mos) or f"out of range ({mos!r})"
                bands[band] = bands.get(band, 0) + 1
            for name, alias, present, _ in _LEG_FIELDS:
                if name in leg or (alias is not None and alias in leg):
                    optional[present] = optional.get(present, 0) + 1
            if not null_ref and (
                leg.get("sourceRefId") == "null" or leg.get("SourceRefId") == "null"
            ):
                null_ref = True
            if not early:
                value = leg.get("initiatedTimestamp")
                # The same text is the same instant: only another one is parsed and compared.
                if not (type(value) is str and type(start_text) is str and value == start_text):
                    if start is _UNSET:
                        start = aware_instant(start_text)
                    if start is not None:
                        initiated = aware_instant(value)
                        early = initiated is not None and initiated < start
            if not off:
                duration = leg.get("callDuration")
                if isinstance(duration, int):
                    connected = aware_instant(leg.get("connectedTimestamp"))
                    if connected is not None:
                        disconnected = aware_instant(leg.get("disconnectedTimestamp"))
                        if disconnected is not None:
                            seconds = (disconnected - connected).total_seconds()
                            try:
                                off = seconds.is_integer() and abs(duration - seconds) == 1
                            except OverflowError:  # an int past float's range: not 1 s off
                                off = False
        if capitalised or disordered or null_ref or early or off:
            for seen, quirk in (
                (capitalised, "capitalised-leg-key"),
                (null_ref, "string-null-source-ref-id"),
                (early, "leg-before-session-start"),
                (disordered, "legs-out-of-order"),
                (off, "duration-one-second-off"),
            ):
                if seen:
                    quirks[quirk] = quirks.get(quirk, 0) + 1

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
