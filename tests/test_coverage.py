"""emitter.coverage: what one payload counts for in each dimension, read defensively."""

from __future__ import annotations

import copy
import json
import math
import pickle
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emitter._lint import LEG_KEY
from emitter._payload import dumps
from emitter._timing import aware_instant
from emitter.coverage import (
    _REFUSED,
    DIMENSIONS,
    OPTIONAL_FIELDS,
    Coverage,
    _fast_decode,
    _json_kind,
    mos_band,
    parse_requirements,
    product_of,
    quirks_of,
)
from emitter.errors import UsageError
from emitter.generator import generate
from emitter.scenarios import load_scenario
from emitter.vocabulary import ERROR_CODES, MOS_BANDS, SESSION_STATUSES


def one(scenario: str, seed: int = 1) -> dict[str, Any]:
    return next(iter(generate(load_scenario(scenario), seed=seed, n=1)))


def test_every_scenario_seen_together_covers_every_status_and_error_code() -> None:
    coverage = Coverage()
    from emitter.scenarios import builtin_scenarios

    for scenario in builtin_scenarios():
        coverage.add_all(generate(scenario, seed=5, n=2))
    assert coverage.missing("statuses") == []
    assert coverage.missing("error-codes") == []
    assert coverage.missing("leg-counts") == []
    assert coverage.missing("mos-bands") == []
    counts = coverage.as_dict()["dimensions"]["statuses"]["counts"]
    assert set(counts) == set(SESSION_STATUSES)
    assert sum(counts.values()) == coverage.payloads


def test_product_is_read_from_the_shape() -> None:
    assert product_of(one("ivr-menu")) == "ivr"
    assert product_of(one("masking-completed-busy")) == "masking"
    assert product_of(one("busy")) == "messaging"
    assert product_of({"payload": {"clientRequestId": "x"}}) == "ivr"
    assert product_of({}) == "messaging"


def test_each_quirk_scenario_shows_its_own_quirk() -> None:
    for name in (
        "capitalised-leg-key",
        "string-null-source-ref-id",
        "leg-before-session-start",
        "legs-out-of-order",
    ):
        assert name in quirks_of(one(f"quirk-{name}")), name
    assert quirks_of(one("completed")) == set()


def test_a_duration_one_second_off_whole_second_stamps_is_the_ivr_quirk() -> None:
    doc = one("completed")
    leg = doc["payload"]["details"]["callA"]
    assert quirks_of(doc) == set()
    leg["callDuration"] += 1
    assert quirks_of(doc) == {"duration-one-second-off"}
    leg["callDuration"] += 1
    assert quirks_of(doc) == set()  # two seconds off is a bug, not the platform's rounding


@pytest.mark.parametrize(
    ("mos", "band"),
    [(5.0, "excellent"), (4.3, "excellent"), (4.29, "good"), (3.6, "fair"), (1.0, "bad")],
)
def test_mos_bands_follow_the_documented_table(mos: float, band: str) -> None:
    assert mos_band(mos) == band


@pytest.mark.parametrize("mos", [0.5, 5.1, "5.1", "good", "NaN", None, True, float("nan")])
def test_a_mos_outside_the_table_has_no_band(mos: object) -> None:
    assert mos_band(mos) is None


@pytest.mark.parametrize(("mos", "band"), [("4.5", "excellent"), (" 4 ", "good"), ("1", "bad")])
def test_a_numeric_string_mos_is_banded_as_its_number_as_canonical_reads_it(
    mos: str, band: str
) -> None:
    assert mos_band(mos) == band


def test_optional_fields_count_present_and_absent_per_leg_and_payload() -> None:
    doc = one("no-answer")
    coverage = Coverage()
    coverage.add(doc)
    optional = coverage.counts["optional-fields"]
    legs = len(doc["payload"]["details"])
    assert optional["connectedTimestamp absent"] == legs
    assert optional["callQuality absent"] == legs
    assert optional["errorDetails absent"] == 1
    assert optional["version absent"] == 1


def test_a_broken_payload_counts_for_what_it_shows_without_raising() -> None:
    doc = copy.deepcopy(one("error-2004-no-coverage"))
    doc["payload"]["details"] = ["not", "legs"]
    doc["payload"]["lastAction"] = "DANCE"
    doc["payload"]["errorDetails"]["errorCode"] = "-2004"
    coverage = Coverage()
    coverage.add(doc)
    coverage.add({"payload": "nonsense"})
    assert coverage.add_body(b"[]") is False
    assert coverage.add_body(b"{oops") is False
    data = coverage.as_dict()
    assert coverage.payloads == 2
    assert data["dimensions"]["error-codes"]["counts"]["-2004"] == 1
    assert data["dimensions"]["last-actions"]["other"] == {"DANCE": 1}
    assert data["dimensions"]["leg-counts"]["counts"]["0"] == 2


def test_unlisted_values_are_shown_apart_and_never_required() -> None:
    doc = one("error-2001-internal-error")
    doc["payload"]["errorDetails"]["errorCode"] = -1234
    coverage = Coverage()
    coverage.add(doc)
    errors = coverage.as_dict()["dimensions"]["error-codes"]
    assert errors["other"] == {"-1234": 1}
    assert errors["covered"] == 0
    assert len(errors["missing"]) == len(ERROR_CODES)


def test_requirements_parse_names_and_all() -> None:
    assert parse_requirements("statuses, error-codes,statuses") == ("statuses", "error-codes")
    assert parse_requirements("all") == tuple(d.name for d in DIMENSIONS)
    with pytest.raises(UsageError, match="unknown coverage dimension `status`"):
        parse_requirements("status")
    with pytest.raises(UsageError, match="unknown coverage dimension ``"):
        parse_requirements(",")


def test_unmet_names_only_the_required_dimensions_with_gaps() -> None:
    coverage = Coverage()
    coverage.add(one("busy"))
    unmet = coverage.unmet(("statuses", "directions"))
    assert "BUSY" not in unmet["statuses"]
    assert "COMPLETED" in unmet["statuses"]
    assert unmet.get("directions") == ["INBOUND"]
    assert json.loads(json.dumps(coverage.as_dict()))["payloads"] == 1


# --- The fast reading counts exactly what the straightforward one counted -----------------
#
# `Reference` is the coverage reading as it was before msgspec and the precomputed keys
# (emitter/coverage.py at 12b2873), kept here verbatim in substance: every test below feeds
# the same input to both and wants the same counts, the same verdict and the same exception.


def _ref_legs(payload: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    details = payload.get("details")
    if not isinstance(details, Mapping):
        return []
    return [
        (key, leg)
        for key, leg in details.items()
        if isinstance(key, str) and LEG_KEY.fullmatch(key) and isinstance(leg, Mapping)
    ]


def _ref_first_leg(payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    legs = _ref_legs(payload)
    if not legs:
        return None
    return min(legs, key=lambda pair: pair[0][4])[1]


def _ref_product_of(document: Mapping[str, Any]) -> str:
    payload = document.get("payload")
    payload = payload if isinstance(payload, Mapping) else {}
    if "version" in document or "clientRequestId" in payload:
        return "ivr"
    first = _ref_first_leg(payload)
    if first is not None and first.get("callDirection") == "INBOUND":
        return "masking"
    return "messaging"


def _ref_mos_band(mos: object) -> str | None:
    if isinstance(mos, str):
        try:
            mos = float(mos.strip())
        except ValueError:
            return None
    if isinstance(mos, bool) or not isinstance(mos, int | float) or not math.isfinite(mos):
        return None
    for band, (low, high) in MOS_BANDS.items():
        if low <= mos < high or (mos == high == 5.0):
            return band
    return None


def _ref_quirks_of(document: Mapping[str, Any]) -> set[str]:
    payload = document.get("payload")
    if not isinstance(payload, Mapping):
        return set()
    found: set[str] = set()
    legs = _ref_legs(payload)
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


class Reference:
    def __init__(self) -> None:
        self.payloads = 0
        self.counts: dict[str, Counter[str]] = {d.name: Counter() for d in DIMENSIONS}

    def read_body(self, body: bytes) -> str | None:
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

    def add(self, document: Mapping[str, Any]) -> None:
        self.payloads += 1
        counts = self.counts
        payload = document.get("payload")
        payload = payload if isinstance(payload, Mapping) else {}
        product = _ref_product_of(document)
        counts["products"][product] += 1
        status = payload.get("sessionStatus")
        if isinstance(status, str):
            counts["statuses"][status] += 1
            counts["statuses-by-product"][f"{status} × {product}"] += 1
        errors = payload.get("errorDetails")
        if isinstance(errors, Mapping) and "errorCode" in errors:
            counts["error-codes"][str(errors["errorCode"])] += 1
        action = payload.get("lastAction")
        if isinstance(action, str):
            counts["last-actions"][action] += 1
        legs = _ref_legs(payload)
        counts["leg-counts"][str(len(legs)) if len(legs) < 3 else "3+"] += 1
        for quirk in _ref_quirks_of(document):
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
                band = _ref_mos_band(quality.get("mos"))
                counts["mos-bands"][band or f"out of range ({quality.get('mos')!r})"] += 1
            for level, name in OPTIONAL_FIELDS:
                if level != "leg":
                    continue
                there = name in leg or (name == "sourceRefId" and "SourceRefId" in leg)
                optional[f"{name} {'present' if there else 'absent'}"] += 1


def _outcome(reader: Coverage | Reference, body: bytes) -> tuple[object, ...]:
    """What one body does to a fresh reader: its verdict (or exception) and every count."""
    try:
        verdict: object = reader.read_body(body)
    except Exception as error:  # noqa: BLE001 - the exception is part of what must match
        verdict = ("raised", type(error))
    counts = {name: dict(counter) for name, counter in reader.counts.items() if counter}
    return verdict, reader.payloads, counts


def assert_same(body: bytes) -> None:
    assert _outcome(Coverage(), body) == _outcome(Reference(), body), body[:200]


def _scenario_documents() -> list[dict[str, Any]]:
    from emitter.scenarios import builtin_scenarios

    # What `vss-emitter generate --all -n 30 --seed 7` writes.
    return [
        doc
        for scenario in sorted(builtin_scenarios(), key=lambda s: s.name)
        for doc in generate(scenario, seed=7, n=30)
    ]


def test_every_builtin_scenario_payload_counts_the_same_as_the_reference() -> None:
    documents = _scenario_documents()
    fast, reference, summed = Coverage(), Reference(), Coverage()
    for doc in documents:
        body = dumps(doc)
        assert fast.read_body(body) is None
        reference.read_body(body)
        summed.add(doc)
    assert fast.payloads == reference.payloads == summed.payloads == len(documents)
    assert fast.counts == reference.counts == summed.counts
    assert sum(fast.counts["quirks"].values()) > 0  # the quirk scenarios are in there
    # Read (and pickled, as the census child sends it) now and then while counting: the counts
    # `add` keeps pending come out the same however often they are read.
    interleaved = Coverage()
    for index, doc in enumerate(documents):
        interleaved.add_body(dumps(doc))
        if index % 7 == 0:
            assert interleaved.counts["optional-fields"]
        if index % 50 == 0:
            interleaved = pickle.loads(pickle.dumps(interleaved))  # noqa: S301 - our own bytes
    assert interleaved.counts == reference.counts
    # One payload at a time as well: a count that only matched in total would not pass.
    for doc in documents:
        assert_same(dumps(doc))
        assert_same(json.dumps(doc, indent=2, ensure_ascii=True).encode())


def _frozen(value: Any) -> Any:
    """The same JSON value with every object a read-only Mapping that is not a dict."""
    if isinstance(value, dict):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_frozen(v) for v in value]
    return value


def test_add_takes_any_mapping_and_counts_it_as_the_same_dict() -> None:
    documents = _scenario_documents()[::7]
    documents.append({"payload": {"details": {"callB": {}, "CallA": {"callQuality": {}}}}})
    as_dicts, as_mappings, reference = Coverage(), Coverage(), Reference()
    for doc in documents:
        as_dicts.add(doc)
        as_mappings.add(_frozen(doc))
        reference.add(_frozen(doc))
    assert as_dicts.counts == as_mappings.counts == reference.counts


class _ListKeyed(Mapping[Any, Any]):
    """A Mapping whose keys need not be hashable (only a dict's must be)."""

    def __init__(self, pairs: list[tuple[Any, Any]]) -> None:
        self.pairs = pairs

    def __getitem__(self, key: Any) -> Any:
        return next(value for k, value in self.pairs if k == key)

    def __iter__(self) -> Iterator[Any]:
        return (k for k, _ in self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)


def test_a_mapping_with_unhashable_keys_counts_as_the_reference_counts_it() -> None:
    details = _ListKeyed([(["callA"], {}), ("callB", {"callDirection": "INBOUND"})])
    document = {"payload": {"details": details}}
    fast, reference = Coverage(), Reference()
    fast.add(document)
    reference.add(document)
    assert fast.counts == reference.counts


def _doc_with(**payload: Any) -> bytes:
    base = one("completed", seed=3)
    base["payload"].update(payload)
    return dumps(base)


BIG = "1" + "0" * 30
EDGE_BODIES: list[bytes] = [
    # Duplicate keys: the last one wins, in the first one's place, in both readers.
    b'{"payload":{"sessionStatus":"BUSY","sessionStatus":"COMPLETED"}}',
    b'{"payload":5,"payload":{"lastAction":"HANGUP"}}',
    b'{"payload":{"lastAction":"HANGUP"},"payload":[]}',
    b'{"payload":{"details":{"callA":{},"callB":{"callDirection":"INBOUND"},"callA":{}}}}',
    b'{"payload":{"details":{"callB":{},"callA":{"callDirection":"INBOUND"},"callB":5}}}',
    # Integers past 64 bits, and json's 4300-digit limit on either side.
    b'{"payload":{"errorDetails":{"errorCode":' + BIG.encode() + b"}}}",
    b'{"payload":{"errorDetails":{"errorCode":-' + BIG.encode() + b"}}}",
    b'{"payload":{"errorDetails":{"errorCode":18446744073709551616}}}',
    b'{"payload":{"errorDetails":{"errorCode":' + b"9" * 4300 + b"}}}",
    b'{"payload":{"errorDetails":{"errorCode":' + b"9" * 4301 + b"}}}",
    # NaN and the infinities: json reads them, msgspec refuses them (json then decides).
    b'{"payload":{"details":{"callA":{"callQuality":{"mos":NaN}}}}}',
    b'{"payload":{"details":{"callA":{"callQuality":{"mos":Infinity}}}}}',
    b'{"payload":{"details":{"callA":{"callQuality":{"mos":-Infinity}}}}}',
    b'{"payload":{"details":{"callA":{"callQuality":{"mos":1e400}}}}}',
    b'{"payload":{"details":{"callA":{"callQuality":{"mos":-0.0}}}}}',
    b'{"payload":{"details":{"callA":{"callQuality":{"mos":4.2999999999999999999}}}}}',
    b'{"payload":{"details":{"callA":{"callQuality":{"mos":43e-1}}}}}',
    b'{"payload":{"details":{"callA":{"callQuality":{"mos":5}}}}}',
    b'{"payload":{"details":{"callA":{"callQuality":{"mos":true}}}}}',
    b'{"payload":{"details":{"callA":{"callQuality":{"mos":" 4.5 "}}}}}',
    # Lone and paired surrogates, escaped and raw (json reads UTF-8 with surrogatepass).
    b'{"payload":{"sessionStatus":"\\ud800"}}',
    b'{"payload":{"sessionStatus":"\\udc00\\ud800"}}',
    b'{"payload":{"sessionStatus":"\\ud83d\\ude00"}}',
    b'{"payload":{"sessionStatus":"\xed\xa0\x80"}}',
    b'{"payload":{"\\ud800":1,"lastAction":"x"}}',
    # Not UTF-8, a BOM, other encodings json detects.
    b'{"payload":{"sessionStatus":"\xff"}}',
    b'{"payload":{"sessionStatus":"\xc0\x80"}}',
    b'\xef\xbb\xbf{"payload":{"sessionStatus":"BUSY"}}',
    '{"payload":{"sessionStatus":"BUSY"}}'.encode("utf-16"),
    '{"payload":{"sessionStatus":"BUSY"}}'.encode("utf-16-le"),
    '{"payload":{"sessionStatus":"BUSY"}}'.encode("utf-32"),
    # Whitespace around and inside, and what is not JSON whitespace.
    b' \t\r\n{ "payload" : { "sessionStatus" : "BUSY" } } \n',
    b'\x0c{"payload":{}}',
    b'{"payload":{}}\x0b',
    b'\xc2\xa0{"payload":{}}',
    # Control characters in strings, and other things json refuses.
    b'{"payload":{"sessionStatus":"BU\x01SY"}}',
    b'{"payload":{"sessionStatus":"BU\x7fSY"}}',
    b'{"payload":{"sessionStatus":"a\\u0000b"}}',
    b'{"payload":{},}',
    b'{"payload":{"a":01}}',
    b'{"payload":{}} x',
    b"",
    b"   ",
    b"null",
    b"[]",
    b"{}",
    b'{"payload":null}',
    b'{"payload":"x"}',
    b'{"payload":[1]}',
    b'{"payload":true}',
    b'{"payload":1.5}',
    # Deep nesting, on either side of the bracket threshold and of the recursion limit.
    *(
        b'{"payload":{"lastAction":"x"},"deep":' + b"[" * depth + b"]" * depth + b"}"
        for depth in (10, 62, 63, 64, 65, 500, 990, 1000, 5000)
    ),
    b'{"payload":{"lastAction":"x","s":"' + b"{" * 100 + b'"}}',
    # Whole documents with the edges where the counts read them.
    _doc_with(startTime="2024-01-01T00:00:00+01:00"),
    _doc_with(startTime="2024-01-01T00:00:00"),
    _doc_with(startTime=12),
    _doc_with(details={"callA": {"callDuration": True}}),
]


@pytest.mark.parametrize("body", EDGE_BODIES)
def test_an_edge_case_body_counts_as_the_reference_counts_it(body: bytes) -> None:
    assert_same(body)


@pytest.mark.parametrize("body", EDGE_BODIES)
def test_the_fast_decoder_gives_json_loads_value_or_error(body: bytes) -> None:
    fast = _fast_decode(body)
    if fast is not _REFUSED:  # what msgspec takes, json takes to the same value
        assert repr(fast) == repr(json.loads(body))  # repr: -0.0 is not 0.0


def _deep(depth: int) -> bytes:
    return b'{"payload":{"lastAction":"x"},"deep":' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("field", ["mos", "callDuration"])
def test_a_number_past_float_range_counts_where_the_old_reading_crashed(field: str) -> None:
    huge = "1" + "0" * 400
    leg = {
        "connectedTimestamp": "2024-01-01T00:00:00Z",
        "disconnectedTimestamp": "2024-01-01T00:00:05Z",
        "callDuration": 5,
        "callQuality": {"mos": 4.5},
    }
    body = json.dumps({"payload": {"details": {"callA": leg}}}).replace(
        f'"{field}": {leg[field] if field == "callDuration" else 4.5}', f'"{field}": {huge}'
    )
    assert huge in body
    with pytest.raises(OverflowError):  # math.isfinite(10**400), 10**400 - 5.0
        Reference().read_body(body.encode())
    coverage = Coverage()
    assert coverage.read_body(body.encode()) is None
    bands = coverage.counts["mos-bands"]
    assert bands == ({f"out of range ({huge})": 1} if field == "mos" else {"excellent": 1})
    assert not coverage.counts["quirks"]
    assert mos_band(int(huge)) is None
    assert mos_band(-int(huge)) is None


def test_nesting_at_the_recursion_limit_is_refused_exactly_where_it_was() -> None:
    low, high = 1, sys.getrecursionlimit() + 100  # the deepest body the reference reads here
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (
            (middle, high) if Reference().read_body(_deep(middle)) is None else (low, middle - 1)
        )
    assert 10 < low < sys.getrecursionlimit()
    for depth in range(low - 6, low + 7):
        assert_same(_deep(depth))


def test_a_lower_integer_digit_limit_is_json_s_limit_in_the_fast_path_too() -> None:
    body = b'{"payload":{"errorDetails":{"errorCode":' + b"7" * 700 + b"}}}"
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        assert_same(body)
        assert Coverage().read_body(body) == "not JSON"
    finally:
        sys.set_int_max_str_digits(before)


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6)
    | st.sampled_from(
        [
            "null",
            "INBOUND",
            "OUTBOUND",
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:00:01Z",
            "2023-12-31T23:59:59Z",
            "2024-01-01T01:00:00+01:00",
            "2024-01-01T00:00:00",
            "4.5",
        ]
    )
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
_PLACES = (
    ("version",),
    ("payload",),
    ("payload", "sessionStatus"),
    ("payload", "lastAction"),
    ("payload", "clientRequestId"),
    ("payload", "startTime"),
    ("payload", "details"),
    ("payload", "errorDetails"),
    ("payload", "errorDetails", "errorCode"),
    *(
        ("payload", "details", leg, *field)
        for leg in ("callA", "callB", "CallA", "callZ", "calla", "callAB")
        for field in (
            (),
            ("callDirection",),
            ("callType",),
            ("callDuration",),
            ("initiatedTimestamp",),
            ("connectedTimestamp",),
            ("disconnectedTimestamp",),
            ("sourceRefId",),
            ("SourceRefId",),
            ("destinationRefId",),
            ("callQuality",),
            ("callQuality", "mos"),
        )
    ),
)


def _put(document: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    holder: Any = document
    for key in path[:-1]:
        if not isinstance(holder.get(key), dict):
            holder[key] = {}
        holder = holder[key]
    holder[path[-1]] = value


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_scenario_documents()),
    st.lists(st.tuples(st.sampled_from(_PLACES), _VALUES), max_size=4),
    st.booleans(),
)
def test_a_mutated_payload_counts_the_same_as_the_reference(
    document: dict[str, Any], changes: list[tuple[tuple[str, ...], Any]], pretty: bool
) -> None:
    document = copy.deepcopy(document)
    for path, value in changes:
        _put(document, path, value)
    # allow_nan: NaN and Infinity go in as json writes them, for json to read (msgspec refuses).
    body = json.dumps(document, indent=1 if pretty else None, ensure_ascii=pretty).encode()
    assert_same(body)
    fast, reference = Coverage(), Reference()
    try:
        reference.add(document)
    except OverflowError:  # see the huge-number test: the reference crashed on those
        return
    fast.add(document)
    assert fast.counts == reference.counts


_NUMBER = st.from_regex(r"\A-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,25})?([eE][-+]?[0-9]{1,3})?\Z")


@settings(max_examples=300, deadline=None)
@given(_NUMBER, st.sampled_from(["mos", "errorCode", "callDuration"]))
def test_any_json_number_text_counts_the_same_as_the_reference(number: str, field: str) -> None:
    values = {"mos": "4.5", "errorCode": "1", "callDuration": "10", field: number}
    leg = (
        '{"connectedTimestamp":"2024-01-01T00:00:00Z",'
        '"disconnectedTimestamp":"2024-01-01T00:00:10Z",'
        f'"callDuration":{values["callDuration"]},"callQuality":{{"mos":{values["mos"]}}}}}'
    )
    errors = f'{{"errorCode":{values["errorCode"]}}}'
    body = f'{{"payload":{{"errorDetails":{errors},"details":{{"callA":{leg}}}}}}}'.encode()
    assert_same(body)
    fast = _fast_decode(number.encode())
    assert fast is _REFUSED or repr(fast) == repr(json.loads(number))
