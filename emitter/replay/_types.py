"""Replay's data: settings, the run report and its JSON, latency percentiles, progress snapshots."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from emitter._atomic import atomic_write, check_writable
from emitter._pacing import DEFAULT_LATE_AFTER_S
from emitter._version import __version__
from emitter.errors import EXIT_CONTRACT, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from emitter.report._replay import rate_text

DEFAULT_CONCURRENCY = 256
DEFAULT_GRACE_S = 5.0
DEFAULT_SCENARIO = "mixed"
INTERRUPTED = "interrupted"  # in flight when the grace period after Ctrl-C ran out
BAD_INPUT = "bad_input"  # an input line that is not a JSON object: reported, never sent


@dataclass(frozen=True)
class ReplaySettings:
    """How hard and how long to replay; what to record."""

    rate: float | None  # requests per second; None = `max` (as fast as the receiver allows)
    concurrency: int = DEFAULT_CONCURRENCY  # requests in flight at most
    duration_s: float | None = None  # stop scheduling after this long
    limit: int | None = None  # -n: only the first N payloads of the source
    ramp_s: float = 0.0  # climb linearly from 0 to `rate` over this long
    results: Path | None = None  # NDJSON log, one record per delivery attempt
    resume: bool = False  # skip what `results` says was acked, append to it
    grace_s: float = DEFAULT_GRACE_S  # after Ctrl-C, how long in-flight requests may finish
    late_after_s: float = DEFAULT_LATE_AFTER_S
    workers: int = 1  # sender processes sharing the schedule (--workers)


@dataclass(frozen=True)
class Percentiles:
    """Latency percentiles in milliseconds."""

    p50: float
    p90: float
    p99: float
    p999: float
    max: float
    empty: bool = False  # nothing was measured (no attempt finished): the zeros mean nothing

    @classmethod
    def of(cls, hist: HdrHistogram) -> Percentiles:
        if hist.get_total_count() == 0:
            return cls(0.0, 0.0, 0.0, 0.0, 0.0, empty=True)
        values = hist.get_percentile_to_value_dict([50, 90, 99, 99.9])
        return cls(
            values[50] / 1000.0,
            values[90] / 1000.0,
            values[99] / 1000.0,
            values[99.9] / 1000.0,
            hist.get_max_value() / 1000.0,
        )

    def as_dict(self) -> dict[str, float]:
        return {
            "p50": round(self.p50, 3),
            "p90": round(self.p90, 3),
            "p99": round(self.p99, 3),
            "p999": round(self.p999, 3),
            "max": round(self.max, 3),
        }


@dataclass(frozen=True)
class Progress:
    """A snapshot of a run, a few times a second, for a progress line."""

    elapsed_s: float
    sent: int
    acked: int
    failed: int
    in_flight: int
    late: int
    rate: float  # sends per second so far
    p99_ms: float  # from the scheduled time


@dataclass(frozen=True)
class ReplayReport:
    """The outcome of one replay run; `exit_code` is what the CLI returns."""

    target: str  # secrets redacted
    rate: float | None
    concurrency: int
    seed: int | None
    sent: int  # payloads whose first attempt went out
    acked: int
    failed: int  # payloads sent and not acked in the end (interrupted included)
    late: int  # first attempts that left after their due time (+ tolerance)
    skipped: int  # acked in an earlier run (--resume)
    retried: int  # attempts beyond the first
    duration_s: float
    achieved_rate: float  # first attempts per second, first send to last send
    latency_ms: Percentiles  # from the scheduled time (corrected for coordinated omission)
    latency_from_send_ms: Percentiles  # from the actual send (what a closed-loop tool shows)
    outcomes: Mapping[str, int]  # final outcome per payload
    interrupted: bool
    results: str | None = None
    source: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None  # why the run stopped early (the results file failed), if it did
    # The sender itself could not keep the schedule (CPU-bound), with the lag figures.
    sender_saturated: bool = False
    sender_lag: Mapping[str, Any] | None = None
    timeline: Sequence[Mapping[str, Any]] = ()  # per-second buckets, for plots
    latency_percentiles: Mapping[str, Any] = field(default_factory=dict)  # HDR distribution
    workers: int = 1
    cpu_s: float = 0.0  # the sender processes' CPU time during the run
    bad_input: int = 0  # input lines that are not a payload: reported, never sent

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return EXIT_USAGE
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_OK if self.failed == 0 and self.bad_input == 0 else EXIT_CONTRACT

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "rate": rate_text(self.rate),
            "rate_per_s": self.rate,
            "concurrency": self.concurrency,
            "seed": self.seed,
            "source": dict(self.source),
            "sent": self.sent,
            "acked": self.acked,
            "failed": self.failed,
            "bad_input": self.bad_input,
            "late": self.late,
            "skipped": self.skipped,
            "retried": self.retried,
            "duration_s": round(self.duration_s, 3),
            "achieved_rate": round(self.achieved_rate, 2),
            # null, not zeros, when no attempt finished: 0.00 ms would read as a fast receiver.
            "latency_ms": None if self.latency_ms.empty else self.latency_ms.as_dict(),
            "latency_from_send_ms": (
                None if self.latency_from_send_ms.empty else self.latency_from_send_ms.as_dict()
            ),
            "outcomes": dict(sorted(self.outcomes.items())),
            "interrupted": self.interrupted,
            "results": self.results,
            "error": self.error,
            "sender_saturated": self.sender_saturated,
            "sender_lag": dict(self.sender_lag) if self.sender_lag is not None else None,
            "workers": self.workers,
            "sender_cpu_s": round(self.cpu_s, 3),
            "cpu_per_request_us": round(self.cpu_s / self.sent * 1e6, 1) if self.sent else None,
            "timeline": [dict(row) for row in self.timeline],
            "latency_percentiles": dict(self.latency_percentiles),
            "exit_code": self.exit_code,
            "kit": f"vss-emitter {__version__}",
        }


_REPORT_EXAMPLE = "--report-json ./replay-report.json"


def write_report_json(report: ReplayReport, path: str | os.PathLike[str]) -> None:
    """Writes the report whole or not at all (emitter._atomic's rules)."""
    text = json.dumps(report.as_dict(), indent=2) + "\n"
    atomic_write(path, text.encode("utf-8"), example=_REPORT_EXAMPLE)


def check_report_path(path: str | os.PathLike[str]) -> None:
    """UsageError unless a report can be written at `path`, checked before a run starts, so a
    typo in the path does not throw away the run's figures."""
    check_writable(path, example=_REPORT_EXAMPLE)
