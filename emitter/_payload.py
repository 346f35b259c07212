"""A payload's canonical bytes, and its sessionId read without validating it."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, Final

# allow_nan=False: NaN and Infinity are not JSON; a payload holding one is a bug to report,
# never bytes to send. check_circular=False: a payload is generated or parsed JSON, neither of
# which can contain itself, and skipping the per-container id bookkeeping makes every dump
# faster (the same bytes; a self-containing dict built in Python fails with RecursionError).
_ENCODER: Final = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, check_circular=False
)


def dumps(payload: Mapping[str, Any]) -> bytes:
    """THE canonical compact JSON bytes of a payload: UTF-8, insertion order, no newline.

    Every command that sends a payload it holds as data (generated, or an element of a `.json`
    array) sends these bytes, so the same payload is the same bytes whichever command sends it.
    """
    return _ENCODER.encode(payload).encode()


@cache
def plain_dumps() -> Callable[[Mapping[str, Any]], bytes]:
    """An encoder giving dumps' bytes about 6x faster, for a payload of plain values only.

    Precondition, which the caller proves (nothing checks it per payload): every container is
    an exact dict with str keys, every leaf an `is_plain_leaf` value or a float whose repr has
    no exponent. Under it msgspec writes what json writes: the same escaping of every code point
    (ensure_ascii=False: `"`, `\\` and the C0 controls, each spelled as json spells it), the
    same ints, the same shortest-repr floats. Outside it they differ: msgspec spells 1e16 and
    1e-7 where json writes 1e+16 and 1e-07, encodes the datetime, date, UUID, Decimal, bytes,
    set and dataclass values json refuses, refuses str and int subclasses json accepts, and
    writes NaN as null. tests/test_payload.py checks every code point and every float the
    generator can draw. msgspec is imported here, on first use, not with this module: it adds
    about 14 ms to the start of every command that reads payloads and never generates one.
    """
    import msgspec

    encode: Callable[[Mapping[str, Any]], bytes] = msgspec.json.Encoder().encode
    return encode


def is_plain_leaf(value: object) -> bool:
    """True for a value plain_dumps() encodes as dumps does, whatever else the payload holds.

    An exact str that encodes as UTF-8 (a lone surrogate makes dumps raise; it stays json's to
    report), an exact int, a bool, or None. Floats are not: a float's spelling depends on its
    value, so whoever puts floats in a payload proves their range.
    """
    if type(value) is str:
        try:
            value.encode()
        except UnicodeEncodeError:
            return False
        return True
    return type(value) is int or type(value) is bool or value is None


def session_id_of(document: object) -> str | None:
    """`$.payload.sessionId` when it is there and a string, else None."""
    # dict before Mapping: payloads are dicts, and the Mapping ABC check alone costs a
    # microsecond per call on replay's hot path.
    if isinstance(document, (dict, Mapping)):
        inner = document.get("payload")
        if isinstance(inner, (dict, Mapping)):
            sid = inner.get("sessionId")
            if isinstance(sid, str):
                return sid
    return None


def session_id_in(body: bytes) -> str | None:
    """The sessionId of a raw body, None when it is not JSON or has none."""
    try:
        return session_id_of(json.loads(body))
    except (ValueError, RecursionError):
        return None
