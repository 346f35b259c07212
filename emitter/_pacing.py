"""Open-loop pacing for replay: when request i is due, whether it went out late, when to stop.

Pure arithmetic over times the caller passes in (seconds on a monotonic clock), so the whole
schedule can be tested with a fake clock and no event loop.
"""

from __future__ import annotations

import math
import re

from emitter.errors import UsageError

# A send that leaves more than this after its scheduled time counts as late: event-loop timers
# have ~1 ms granularity, so anything under this is jitter, not a client falling behind.
DEFAULT_LATE_AFTER_S = 0.010

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*([sm])\s*$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")
_UNIT_S = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_rate(text: str) -> float | None:
    """`50/s` -> 50.0 per second, `3000/m` -> 50.0, `max` -> None (as fast as allowed)."""
    if text.strip().lower() == "max":
        return None
    match = _RATE.match(text)
    rate = float(match.group(1)) / _UNIT_S[match.group(2)] if match else 0.0
    if rate <= 0 or not math.isfinite(rate):
        raise UsageError(f"Invalid rate `{text}`: expected N/s, N/m or max, e.g. `50/s`")
    return rate


def parse_duration(text: str) -> float:
    """`30s`, `5m`, `1h` or a bare number of seconds (`90`) -> seconds."""
    match = _DURATION.match(text)
    seconds = float(match.group(1)) * _UNIT_S[match.group(2)] if match else 0.0
    if seconds <= 0:
        raise UsageError(
            f"Invalid duration `{text}`: expected seconds or a number with s, m or h, e.g. `30s`"
        )
    return seconds


class Slot:
    """One claimed send: its position in the stream and when it is due.

    A plain slotted class, not a frozen dataclass: replay builds one per request, and a frozen
    dataclass's __init__ (object.__setattr__ per field) cost three times as much.
    """

    __slots__ = ("index", "scheduled")

    def __init__(self, index: int, scheduled: float) -> None:
        self.index = index
        self.scheduled = scheduled

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Slot):
            return NotImplemented
        return (self.index, self.scheduled) == (other.index, other.scheduled)

    def __hash__(self) -> int:
        return hash((self.index, self.scheduled))

    def __repr__(self) -> str:
        return f"Slot(index={self.index}, scheduled={self.scheduled})"


class Pacer:
    """Request i is due at start + offset(i), whatever the receiver does (open loop).

    With a ramp of T seconds the rate climbs linearly from 0 to R, so the count sent by time
    t < T is R*t^2/(2T); after the ramp it is R*T/2 + R*(t - T). offset() inverts that.
    With rate None (`max`) nothing is scheduled ahead: a request is due when a sender is free,
    so it can never be late and its latency from schedule equals its latency from send.
    """

    def __init__(
        self,
        *,
        rate: float | None,
        ramp_s: float = 0.0,
        duration_s: float | None = None,
        late_after_s: float = DEFAULT_LATE_AFTER_S,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        self.ramp_s = max(0.0, ramp_s) if rate is not None else 0.0
        self.duration_s = duration_s
        self.late_after_s = late_after_s
        self.start_at = 0.0
        self.claimed = 0
        self.late = 0
        self._ramp_count = (rate or 0.0) * self.ramp_s / 2.0

    def start(self, now: float) -> None:
        self.start_at = now
        self.claimed = 0
        self.late = 0

    def offset(self, index: int) -> float:
        """Seconds from the start at which request `index` (0-based) is due."""
        rate = self.rate
        if rate is None:
            return 0.0
        if index < self._ramp_count:
            return math.sqrt(2.0 * self.ramp_s * index / rate)
        return self.ramp_s + (index - self._ramp_count) / rate

    def next_due(self) -> float:
        """The absolute time the next unclaimed request is due (the start for `max`)."""
        return self.start_at + self.offset(self.claimed)

    def exhausted(self, now: float) -> bool:
        """True once the next request would fall after the duration (or, for `max`, now does)."""
        if self.duration_s is None:
            return False
        end = self.start_at + self.duration_s
        return (now if self.rate is None else self.next_due()) >= end

    def claim(self, now: float) -> Slot | None:
        """Claims the next request, or None when the run is over. `now` is when it is claimed.

        The caller waits until slot.scheduled, sends, then calls sent() with the send time.
        """
        if self.exhausted(now):
            return None
        index = self.claimed
        self.claimed += 1
        if self.rate is None:
            return Slot(index, now)
        return Slot(index, self.start_at + self.offset(index))

    def sent(self, slot: Slot, now: float) -> bool:
        """Records that `slot` went out at `now`; True (and counted) when that was late.

        Late means after its due time plus the tolerance: every sender was busy (the
        concurrency cap was full) or the loop fell behind. A late send still goes out, never
        dropped, and its latency is measured from the due time.
        """
        if self.rate is None or now <= slot.scheduled + self.late_after_s:
            return False
        self.late += 1
        return True
