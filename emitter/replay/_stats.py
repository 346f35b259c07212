"""Replay's running figures: HDR latencies fed in batches, the per-second timeline, the lag.

Both are built to merge: a `--workers N` run adds up each worker's histograms and buckets.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from typing import Any

from hdrh.histogram import HdrHistogram

HIST_LOW_US = 1
HIST_HIGH_US = 3_600_000_000  # 1 h
# Enough points for a latency-by-percentile plot on a "nines" axis.
DISTRIBUTION_PERCENTILES = (
    0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999, 100.0,
)  # fmt: skip


def rounded_us(seconds: float) -> int:
    """Microseconds rounded to the 11 significant bits that are hdrh's bucket at 3 digits."""
    us = int(seconds * 1e6)
    shift = us.bit_length() - 11
    if shift > 0:
        us = (us >> shift) << shift
    return us


class Latencies:
    """An HDR histogram (1 us .. 1 h, 3 significant digits) fed in batches.

    hdrh's record_value() is pure Python and costs as much as a tenth of a request at full
    speed. The hot path only counts each value, rounded to the 11 significant bits that are
    exactly hdrh's bucket resolution at 3 digits, in a dict; flush() hands the few distinct
    values to hdrh. Nothing is lost: a rounded value lands in the same hdrh bucket.
    """

    __slots__ = ("hist", "pending")

    def __init__(self) -> None:
        self.hist = HdrHistogram(HIST_LOW_US, HIST_HIGH_US, 3)
        self.pending: dict[int, int] = {}

    def add(self, seconds: float) -> int:
        """Counts one latency; returns it as counted (rounded microseconds), to reuse."""
        us = int(seconds * 1e6)
        shift = us.bit_length() - 11
        if shift > 0:
            us = (us >> shift) << shift
        pending = self.pending
        pending[us] = pending.get(us, 0) + 1
        return us

    def add_us(self, us: int) -> None:
        """Counts a latency `add` already rounded (the same value in two histograms)."""
        pending = self.pending
        pending[us] = pending.get(us, 0) + 1

    def flush(self) -> HdrHistogram:
        record = self.hist.record_value
        for value, count in self.pending.items():
            # hdrh drops a value above its 1 h range rather than clamping it.
            record(min(max(value, HIST_LOW_US), HIST_HIGH_US), count)
        self.pending.clear()
        return self.hist

    def merge(self, encoded: bytes) -> None:
        """Adds another histogram, as `encode()` gave it (from another worker)."""
        self.flush()
        self.hist.add(HdrHistogram.decode(encoded))

    def encode(self) -> bytes:
        encoded: bytes = self.flush().encode()
        return encoded


def distribution(hist: HdrHistogram) -> list[list[float]]:
    """[[percentile, ms], ...] at DISTRIBUTION_PERCENTILES; empty for an empty histogram."""
    if hist.get_total_count() == 0:
        return []
    values = hist.get_percentile_to_value_dict(list(DISTRIBUTION_PERCENTILES))
    return [[p, round(values[p] / 1000.0, 3)] for p in DISTRIBUTION_PERCENTILES]


class Timeline:
    """Per-second buckets of a run, by the second (from the start) an attempt finished in.

    Each bucket keeps its counts and its from-schedule latencies rounded like the histogram,
    in a dict (a few hundred distinct values a second at most), so p50/p99 per second are
    exact to hdrh's resolution and buckets from several workers add up.
    """

    __slots__ = ("buckets",)

    def __init__(self) -> None:
        # second -> [sent, acked, failed, late, {rounded us: count}]
        self.buckets: dict[int, list[Any]] = {}

    def _bucket(self, second: int) -> list[Any]:
        bucket = self.buckets.get(second)
        if bucket is None:
            bucket = self.buckets[second] = [0, 0, 0, 0, {}]
        return bucket

    def sent(self, second: int, late: bool) -> None:
        bucket = self.buckets.get(second) or self._bucket(second)
        bucket[0] += 1
        if late:
            bucket[3] += 1

    def done(self, second: int, acked: bool, latency_us: int) -> None:
        """An attempt finished in `second`, `latency_us` after its schedule (as rounded_us
        gives it). Positional: it runs once per request."""
        bucket = self.buckets.get(second) or self._bucket(second)
        bucket[1 if acked else 2] += 1
        values = bucket[4]
        values[latency_us] = values.get(latency_us, 0) + 1

    def failed(self, second: int) -> None:
        self._bucket(second)[2] += 1

    def merge(self, other: dict[int, list[Any]]) -> None:
        for second, (sent, acked, failed, late, values) in other.items():
            bucket = self._bucket(second)
            bucket[0] += sent
            bucket[1] += acked
            bucket[2] += failed
            bucket[3] += late
            mine = bucket[4]
            for us, count in values.items():
                mine[us] = mine.get(us, 0) + count

    def as_list(self) -> list[dict[str, Any]]:
        rows = []
        for second in sorted(self.buckets):
            sent, acked, failed, late, values = self.buckets[second]
            rows.append(
                {
                    "t": second,
                    "sent": sent,
                    "acked": acked,
                    "failed": failed,
                    "late": late,
                    "p50_ms": _percentile(values, 50.0),
                    "p99_ms": _percentile(values, 99.0),
                }
            )
        return rows


def _percentile(values: dict[int, int], percentile: float) -> float:
    total = sum(values.values())
    if total == 0:
        return 0.0
    wanted = max(1, -(-total * percentile // 100))  # the rank, rounded up
    seen = 0
    for us in sorted(values):
        seen += values[us]
        if seen >= wanted:
            return round(us / 1000.0, 3)
    return 0.0  # not reached: the ranks add up to total


class Demand:
    """What the sender asked of its machine, in seconds: the process's CPU time plus, on Linux,
    the time the calling (event loop's) thread waited to run (/proc/thread-self/schedstat).

    A sender kept off its core by another process cannot keep the rate any more than a busy
    one: counting CPU time alone judged such a sender idle, and blamed the receiver for the
    lag, whenever the machine was shared.
    """

    def __init__(self) -> None:
        self._fd: int | None = None
        with contextlib.suppress(OSError):
            self._fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        if self._fd is not None and self._waited() is None:
            self.close()

    def _waited(self) -> float | None:
        assert self._fd is not None
        try:
            return int(os.pread(self._fd, 128, 0).split()[1]) / 1e9
        except (OSError, ValueError, IndexError):
            return None

    def __call__(self) -> float:
        waited = self._waited() if self._fd is not None else None
        return time.process_time() + (waited or 0.0)

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


# How long the sender must be the cause of the lag before the run says it was saturated: a
# 0.2 s hiccup (a GC pause, another process on the core) is not a sender that cannot keep up.
SATURATED_S = 0.5


@dataclass
class Lag:
    """How far the sends fell behind the schedule, and whether the sender was the cause."""

    saturated_s: float = 0.0  # time behind the schedule with the sender the cause
    behind_from_s: float | None = None  # when the sender first fell behind, from the start
    max_lag_s: float = 0.0
    final_lag_s: float = 0.0
    unsent: int = 0  # payloads due before --duration ended that never left (at most the source's)
    unsent_exact: bool = True  # False: counting the source's rest ran out of time (a lower bound)
    receiver_bound_s: float = 0.0  # time behind while every connection waited for an answer
    cpu_s: float = 0.0  # the sender's CPU time over the run (user + system)

    @property
    def saturated(self) -> bool:
        """The sender could not keep the rate: behind with itself the cause for a sustained
        SATURATED_S or more, and for at least as long as the receiver (or --concurrency) held
        the sends back. A receiver that sets the pace is never blamed on the sender."""
        return self.saturated_s >= SATURATED_S and self.saturated_s >= self.receiver_bound_s
