"""Comparing a stored record with the canonical reading, on the fields the record has.

Field names match the canonical ones ignoring case and underscores (`session_status` and the
PostgreSQL-folded `sessionstatus` are `sessionStatus`); unknown columns are ignored. Timestamps
compare as instants (any offset, SQL datetimes, Unix seconds), numbers numerically, strings
exactly, and null equals absent. Legs match by `key`, else by `callId`.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from emitter._canonical import (
    INTEGER_FIELDS,
    LEG_FIELDS,
    NUMBER_FIELDS,
    SESSION_FIELDS,
    TIMESTAMP_FIELDS,
    leg_order,
    parse_instant,
)


class NoCanonicalFields(ValueError):
    """A stored record with none of the canonical field names: nothing can be compared."""


def _norm(name: str) -> str:
    return name.replace("_", "").lower()


_SESSION_NAMES: Final = {_norm(n): n for n in SESSION_FIELDS}
_LEG_NAMES: Final = {_norm(n): n for n in LEG_FIELDS}
_NUMERIC: Final = INTEGER_FIELDS | NUMBER_FIELDS


def canonical_names(record: Mapping[str, Any], *, leg: bool = False) -> dict[str, Any]:
    """The record's values under their canonical names; fields outside the list are dropped."""
    names = _LEG_NAMES if leg else _SESSION_NAMES
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = names.get(_norm(str(key)))
        if name is not None and name not in out:
            out[name] = value
    return out


def compare(stored: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    """Mismatch lines, `sessionStatus: stored 'COMPLETED', expected 'BUSY'`; [] when it matches.

    Raises NoCanonicalFields when the record has none of the canonical names.
    """
    fields = canonical_names(stored)
    if not fields:
        shown = ", ".join(list(map(str, stored))[:6]) or "no fields at all"
        raise NoCanonicalFields(
            f"the stored record has none of the canonical field names (it has: {shown}); "
            'name them as the canonical reading does, e.g. SELECT status AS "sessionStatus"'
        )
    problems = []
    for name, value in fields.items():
        if name == "legs":
            problems += _compare_legs(value, expected.get("legs") or [])
        elif not same_value(name, value, expected.get(name)):
            problems.append(f"{name}: stored {show(value)}, expected {show(expected.get(name))}")
    return problems


def closest(
    records: Sequence[Mapping[str, Any]], candidates: Sequence[Mapping[str, Any]]
) -> tuple[int, list[str]]:
    """The record that matches a candidate best, and its mismatches against the first candidate
    it comes closest to (an empty list: some record matches some candidate)."""
    best: tuple[int, list[str]] | None = None
    for index, record in enumerate(records):
        for candidate in candidates:
            found = compare(record, candidate)
            if best is None or len(found) < len(best[1]):
                best = (index, found)
            if not found:
                return best
    assert best is not None, "closest() needs at least one record and one candidate"
    return best


def _compare_legs(value: Any, expected: Sequence[Mapping[str, Any]]) -> list[str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [f"legs: stored {show(value)}, expected a list of {len(expected)} leg(s)"]
    if value is None:
        value = []
    if isinstance(value, Mapping):
        # A `details`-style object keyed by leg name.
        value = [{"key": k, **v} for k, v in value.items() if isinstance(v, Mapping)]
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        return [f"legs: stored {show(value)}, expected a list of {len(expected)} leg(s)"]
    stored = [canonical_names(leg, leg=True) for leg in value]
    problems: list[str] = []
    unmatched = list(range(len(stored)))
    for leg in expected:
        key = leg.get("key")
        found = [i for i in unmatched if stored[i].get("key") == key]
        if not found and leg.get("callId") is not None:
            found = [i for i in unmatched if stored[i].get("callId") == leg.get("callId")]
        if not found:
            keys = ", ".join(str(stored[i].get("key", stored[i].get("callId"))) for i in unmatched)
            problems.append(f"legs: {key} not stored" + (f" (stored: {keys})" if keys else ""))
            continue
        if len(found) > 1:
            problems.append(f"legs: {key} stored {len(found)} times")
        for i in found:
            unmatched.remove(i)
        for name, got in stored[found[0]].items():
            if not same_value(name, got, leg.get(name)):
                problems.append(
                    f"legs[{key}].{name}: stored {show(got)}, expected {show(leg.get(name))}"
                )
    extra = sorted(
        (str(stored[i].get("key", stored[i].get("callId", "?"))) for i in unmatched),
        key=leg_order,
    )
    problems += [f"legs: stored a leg that is not in the payload ({k})" for k in extra]
    return problems


def same_value(name: str, stored: Any, expected: Any) -> bool:
    """Whether a stored value means the canonical one (see the module docstring)."""
    if expected is None or stored is None:
        return expected is None and stored is None
    if isinstance(stored, uuid.UUID):
        stored = str(stored)  # a uuid column or an ORM's UUID means its string form
    if name in TIMESTAMP_FIELDS:
        left, right = _instant(stored), _instant(expected)
        if left is not None and right is not None:
            return left == right
    if name in _NUMERIC and _is_number(expected):
        got = _number(stored)
        return got is not None and math.isclose(got, float(expected), rel_tol=1e-9, abs_tol=1e-9)
    return type(stored) is type(expected) and bool(stored == expected)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: Any) -> float | None:
    if _is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _instant(value: Any) -> datetime | None:
    if _is_number(value) and math.isfinite(value):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and value.strip().endswith(("z", "Z")):
        value = value.strip()[:-1] + "+00:00"
    return parse_instant(value)


def show(value: Any) -> str:
    """A value as a mismatch line shows it: 'text', 42, null, [..]."""
    if value is None:
        return "null"
    if isinstance(value, str):
        text = value if len(value) <= 80 else value[:77] + "..."
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_number(value):
        return repr(value)
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:77] + "..."
