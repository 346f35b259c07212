"""Fast whole-second UTC timestamps in 8x8's format, and version-1 UUIDs that match them."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Final

from emitter.errors import UsageError

# Sessions are anchored inside 2024-2025 by default (the documentation's examples are from
# 2023-2024), so the default output looks like recorded traffic and never like the future.
DEFAULT_EPOCH: Final = 1704067200  # 2024-01-01T00:00:00Z
DEFAULT_SPAN_S: Final = (2 * 365 - 60) * 86400

# 100-ns intervals between the Gregorian reform (UUID v1's epoch) and the Unix epoch.
_GREGORIAN_OFFSET: Final = 0x01B21DD213814000
# RFC 9562: a random node id has the multicast bit set; 8x8's own ids (e.g. ...-078f7290bf52)
# show the same bit, so theirs are random nodes too.
_MULTICAST: Final = 0x010000000000

# Formatted minutes by Unix time in minutes (see minute_prefix).
MINUTE_PREFIXES: dict[int, str] = {}
# "00Z" .. "59Z": a tuple index instead of a "02d" format per stamp.
SECOND_SUFFIXES: Final = tuple(f"{s:02d}Z" for s in range(60))


def iso(epoch_s: int) -> str:
    """'YYYY-MM-DDTHH:MM:SSZ' for a Unix time in whole seconds, as in the documentation."""
    # Timestamps of one session share their minute, so formatting the minute once and the
    # seconds each time keeps this off the generator's profile.
    minute, second = divmod(epoch_s, 60)
    return (MINUTE_PREFIXES.get(minute) or minute_prefix(minute)) + SECOND_SUFFIXES[second]


def minute_prefix(minute: int) -> str:
    """'YYYY-MM-DDTHH:MM:' of a Unix time in minutes, kept in MINUTE_PREFIXES. Callers look
    there first (`MINUTE_PREFIXES.get(m) or minute_prefix(m)`, as iso() does)."""
    if len(MINUTE_PREFIXES) > 4096:
        MINUTE_PREFIXES.clear()
    text = MINUTE_PREFIXES[minute] = datetime.fromtimestamp(minute * 60, UTC).strftime(
        "%Y-%m-%dT%H:%M:"
    )
    return text


def uuid1_at(rng: random.Random, epoch_s: int, clock_seq: int) -> str:
    """A version-1 UUID whose timestamp is `epoch_s` (plus random sub-second ticks).

    The node and sub-second bits come from `rng`, so ids are unique in practice (71 random
    bits) and still a pure function of the seed. `clock_seq` carries the variant bits already.
    generator._SessionPlan.build draws the same inline (as clock_seq): change them together.
    """
    bits = rng.getrandbits(71)
    ts = epoch_s * 10_000_000 + _GREGORIAN_OFFSET + (bits & 0x7FFFFF)
    # time_mid and time_hi (the timestamp's top 28 of 60 bits) change every 429 s, so they are
    # formatted once per 429 s; time_low, clock_seq and node in one %-format (f-string format
    # specs cost more on the generator's hot path).
    high = ts >> 32
    middle = _middles.get(high) or _middle(high)
    return "%08x%s%04x-%012x" % (  # noqa: UP031
        ts & 0xFFFFFFFF,
        middle,
        clock_seq,
        (bits >> 23) | _MULTICAST,
    )


# "-time_mid-1time_hi-" by the timestamp's bits above the low 32.
_middles: dict[int, str] = {}


def _middle(high: int) -> str:
    if len(_middles) > 4096:
        _middles.clear()
    # & 0xFFF: a UUID's timestamp is 60 bits; beyond them (after the year 5236) it wraps.
    text = _middles[high] = "-%04x-1%03x-" % (high & 0xFFFF, (high >> 16) & 0xFFF)  # noqa: UP031
    return text


def clock_seq(rng: random.Random) -> int:
    """A random 14-bit clock sequence with the RFC variant bits (10xx)."""
    return 0x8000 | rng.getrandbits(14)


# Start times the generator can format: before 1970 a Unix time is negative and strftime
# drops the year's leading zeros ("1-01-01"); far past 9000 a long stream would overflow
# datetime's year 9999.
MIN_YEAR: Final = 1970
MAX_YEAR: Final = 9000


def parse_instant(text: str, *, option: str = "--start-at") -> datetime:
    """An ISO 8601 instant ('2026-11-24T10:00:00Z'); no zone means UTC. UsageError otherwise.

    The one parser of a start time on the command line: generate, replay and Locust
    (`--vss-start-at`) accept and refuse the same values with the same message.
    """
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"invalid {option} {text!r}: expected an ISO 8601 time, e.g. {option} "
            "2026-11-24T10:00:00Z"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return check_instant(value, option=option)


def check_instant(value: datetime, *, option: str = "--start-at") -> datetime:
    """`value` if its year is within MIN_YEAR..MAX_YEAR, else UsageError (one line, example)."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise UsageError(
            f"invalid {option} {value.isoformat()}: expected a time between the years "
            f"{MIN_YEAR} and {MAX_YEAR}, e.g. {option} 2026-11-24T10:00:00Z"
        )
    return value


def aware_instant(value: object) -> datetime | None:
    """An ISO 8601 text with an offset as an aware datetime; None for anything else (a naive
    time cannot be compared with an aware one, and the schema rejects it anyway)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
