"""A drill's figures from its per-delivery outcome stream: per stage, per fault, per outage.

The engine calls `Recorder.observe` once per attempt (first sends, retries, duplicates,
releases of held sessions); everything else here is pure arithmetic over what was recorded,
so it can be tested with made-up streams. Attempts are stored in flat arrays (about 40 bytes
each), which keeps a million-request drill under 50 MB.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hdrh.histogram import HdrHistogram

from emitter.drill._stages import Stage, StagePlan

FIRST, RETRY, DUPLICATE, RELEASE = 0, 1, 2, 3
KIND_NAMES = ("first", "retry", "duplicate", "release")
# A lone failed delivery is the receiver's bad moment, not an outage: recovery figures start
# at this many consecutive failed attempts.
MIN_OUTAGE_FAILURES = 3
_NUDGE_S = 1e-7
_HIST_LOW_US = 1
_HIST_HIGH_US = 3_600_000_000


def _hist() -> HdrHistogram:
    return HdrHistogram(_HIST_LOW_US, _HIST_HIGH_US, 3)


def _record(hist: HdrHistogram, seconds: float) -> None:
    hist.record_value(min(max(int(seconds * 1e6), _HIST_LOW_US), _HIST_HIGH_US))


def _ms(hist: HdrHistogram, q: float) -> float:
    return 0.0 if hist.get_total_count() == 0 else hist.get_value_at_percentile(q) / 1000.0


class Recorder:
    """Every attempt of a run, as the engine saw it (times on one clock, in seconds)."""

    def __init__(self) -> None:
        self.index = array("q")
        self.kind = bytearray()
        self.ok = bytearray()
        self.late = bytearray()
        self.scheduled = array("d")
        self.sent = array("d")
        self.done = array("d")

    def __len__(self) -> int:
        return len(self.index)

    def observe(
        self,
        *,
        index: int,
        kind: int,
        scheduled: float,
        sent: float,
        done: float,
        ok: bool,
        late: bool = False,
    ) -> None:
        """One attempt ended: payload `index` (its position in the source), due at
        `scheduled`, sent at `sent`, answered (or failed) at `done`. `kind`: FIRST (the
        payload's first send, on its schedule), RELEASE (the first send of a payload held back
        during an outage; `scheduled` stays its original due time), RETRY (any later send
        after a failure) or DUPLICATE (a deliberate redelivery of an acked payload)."""
        self.index.append(index)
        self.kind.append(kind)
        self.ok.append(ok)
        self.late.append(late)
        self.scheduled.append(scheduled)
        self.sent.append(sent)
        self.done.append(done)


# --------------------------------------------------------------------------- per stage


@dataclass
class StageFigures:
    """One stage's figures: its target and achieved rate, outcomes and latency."""

    stage: Stage
    start_s: float  # from the run's start
    planned: int
    sent: int = 0
    acked: int = 0
    late: int = 0
    retried: int = 0
    achieved_rate: float = 0.0
    latency: HdrHistogram = field(default_factory=_hist)
    verify: dict[str, int] | None = None  # per-stage read-back counts, with --verify

    @property
    def failed(self) -> int:
        return self.sent - self.acked

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "stage": self.stage.text,
            "start_s": round(self.start_s, 3),
            "duration_s": self.stage.duration_s,
            "target_rate": round(self.stage.mean_rate, 3),
            "achieved_rate": round(self.achieved_rate, 3),
            "planned": self.planned,
            "sent": self.sent,
            "acked": self.acked,
            "failed": self.failed,
            "late": self.late,
            "retried": self.retried,
            # null when nothing in the stage was answered (0 ms would read as fast)
            "latency_ms": (
                {
                    "p50": round(_ms(self.latency, 50), 3),
                    "p99": round(_ms(self.latency, 99), 3),
                }
                if self.latency.get_total_count()
                else None
            ),
        }
        if self.verify is not None:
            out["verify"] = dict(self.verify)
        return out


def stage_figures(recorder: Recorder, plan: StagePlan, *, start: float) -> list[StageFigures]:
    """Per-stage figures; a payload belongs to the stage its first send was due in, and so do
    its retries. Achieved rate: the stage's first sends that actually left within its window
    (the stage's length, or the time its sends would take on time when the run ended early),
    divided by that window. A stage the sender kept shows its target; a few sends a
    millisecond late at its end cost a few sends, not the rate of the whole stage; a sender
    that fell behind shows how far."""
    stages = [
        StageFigures(stage, plan.starts[k], plan.planned(k)) for k, stage in enumerate(plan.stages)
    ]
    pending: dict[int, int] = {}  # payload index -> stage, until it is acked
    starts = plan.starts
    for i in range(len(recorder)):
        kind = recorder.kind[i]
        if kind == DUPLICATE:
            continue
        payload = recorder.index[i]
        if kind in (FIRST, RELEASE):
            # A slot due exactly at a stage's start belongs to it; `start + offset - start`
            # can come back a few ulps short, hence the nudge (far below any slot spacing).
            at = recorder.scheduled[i] - start + _NUDGE_S
            k = max(0, bisect.bisect_right(starts, at) - 1)
            figures = stages[k]
            figures.sent += 1
            figures.late += recorder.late[i]
        else:
            k = pending.get(payload, -1)
            if k < 0:
                continue  # a payload acked already (a release after a late ack): not counted
            figures = stages[k]
            figures.retried += kind == RETRY
        _record(figures.latency, recorder.done[i] - recorder.scheduled[i])
        if recorder.ok[i]:
            figures.acked += 1
            pending.pop(payload, None)
        else:
            pending[payload] = k
    windows = [plan.due_span(k, figures.sent) for k, figures in enumerate(stages)]
    in_window = [0] * len(stages)
    for i in range(len(recorder)):
        if recorder.kind[i] in (FIRST, RELEASE):
            k = max(0, bisect.bisect_right(starts, recorder.scheduled[i] - start + _NUDGE_S) - 1)
            if recorder.sent[i] - start - starts[k] < windows[k] + _NUDGE_S:
                in_window[k] += 1
    for k, figures in enumerate(stages):
        if figures.sent and windows[k] > 0:
            figures.achieved_rate = in_window[k] / windows[k]
    return stages


# --------------------------------------------------------------------------- faults


def fault_counts(recorder: Recorder) -> dict[str, int]:
    """Duplicates sent, acked and not acked; releases of held sessions."""
    counts = {"duplicates_sent": 0, "duplicates_acked": 0, "released": 0}
    for i in range(len(recorder)):
        kind = recorder.kind[i]
        if kind == DUPLICATE:
            counts["duplicates_sent"] += 1
            counts["duplicates_acked"] += recorder.ok[i]
        elif kind == RELEASE:
            counts["released"] += 1
    counts["duplicates_not_acked"] = counts["duplicates_sent"] - counts["duplicates_acked"]
    return counts


# --------------------------------------------------------------------------- outages


@dataclass(frozen=True)
class Outage:
    """A period in which the receiver failed every delivery, and how the run recovered."""

    started: float  # send time of the first failed attempt (run clock)
    ended: float  # send time of the first acked attempt after it (None-like: inf if never)
    failed_attempts: int
    affected: int  # payloads with a failed attempt in the window (duplicates excluded)
    recovered: float | None  # when the last affected payload was acked; None if one never was
    unrecovered: int  # affected payloads never acked
    backlog_p99_ms: float  # latency from schedule of attempts answered while catching up

    @property
    def recovery_s(self) -> float | None:
        """From the receiver's return until every session it held up was acked."""
        if self.recovered is None or self.ended == float("inf"):
            return None
        return max(0.0, self.recovered - self.ended)

    def as_dict(self, *, start: float, wall: float) -> dict[str, Any]:
        def at(t: float | None) -> str | None:
            if t is None or t == float("inf"):
                return None
            stamp = datetime.fromtimestamp(t + wall, UTC)
            return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")

        def rel(t: float | None) -> float | None:
            return None if t is None or t == float("inf") else round(t - start, 3)

        recovery = self.recovery_s
        ended = self.ended if self.ended != float("inf") else None
        return {
            "started_at": at(self.started),
            "ended_at": at(ended),
            "start_s": rel(self.started),
            "end_s": rel(ended),
            "duration_s": None if ended is None else round(ended - self.started, 3),
            "failed_attempts": self.failed_attempts,
            "deliveries_affected": self.affected,
            "recovered_at": at(self.recovered),
            "recovery_s": None if recovery is None else round(recovery, 3),
            "unrecovered": self.unrecovered,
            "backlog_p99_ms": round(self.backlog_p99_ms, 3),
        }


def outages(recorder: Recorder, *, min_failures: int = MIN_OUTAGE_FAILURES) -> list[Outage]:
    """Failure periods: runs of at least `min_failures` failed attempts in send order with no
    ack between them. Duplicates are left out: a redelivery answered 409 is not an outage."""
    order = sorted(
        (i for i in range(len(recorder)) if recorder.kind[i] != DUPLICATE),
        key=recorder.sent.__getitem__,
    )
    periods: list[tuple[int, int]] = []  # (first, last) positions in `order`, inclusive
    run_start = -1
    for pos, i in enumerate(order):
        if not recorder.ok[i]:
            if run_start < 0:
                run_start = pos
        elif run_start >= 0:
            periods.append((run_start, pos - 1))
            run_start = -1
    if run_start >= 0:
        periods.append((run_start, len(order) - 1))

    first_ack: dict[int, float] = {}
    for i in range(len(recorder)):
        if recorder.ok[i] and recorder.kind[i] != DUPLICATE:
            payload = recorder.index[i]
            done = recorder.done[i]
            if done < first_ack.get(payload, float("inf")):
                first_ack[payload] = done

    found = []
    for first, last in periods:
        if last - first + 1 < min_failures:
            continue
        started = recorder.sent[order[first]]
        ended = recorder.sent[order[last + 1]] if last + 1 < len(order) else float("inf")
        affected = {recorder.index[order[p]] for p in range(first, last + 1)}
        acks = [first_ack.get(payload) for payload in affected]
        never = sum(1 for t in acks if t is None)
        recovered = None if never else max(t for t in acks if t is not None)
        backlog = _hist()
        if ended != float("inf"):
            until = recovered if recovered is not None else float("inf")
            for i in order[last + 1 :]:
                if ended <= recorder.done[i] <= until:
                    _record(backlog, recorder.done[i] - recorder.scheduled[i])
        found.append(
            Outage(
                started=started,
                ended=ended,
                failed_attempts=last - first + 1,
                affected=len(affected),
                recovered=recovered,
                unrecovered=never,
                backlog_p99_ms=_ms(backlog, 99),
            )
        )
    return found


def recovery_seconds(found: Sequence[Outage]) -> float | None:
    """The longest recovery of the run (0.0 without an outage); None if one never recovered."""
    longest = 0.0
    for outage in found:
        if outage.recovery_s is None:
            return None
        longest = max(longest, outage.recovery_s)
    return longest
