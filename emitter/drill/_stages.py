"""Load stages: the `--stages` grammar, the send instant of every request, a Pacer over stages.

A stage list `2m:200/s,30s:200->2000/s,2m:200/s` is a rate that is a function of time: flat
within a steady stage, linear within a ramp. The count of requests due by time t is the
integral of that rate, C(t); request i (0-based) is due at the instant C(t) = i. That one rule
makes the schedule continuous across stage boundaries, exact per stage (a 2 min stage at
200/s holds 24,000 requests) and a pure function of the stage list.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from emitter._pacing import DEFAULT_LATE_AFTER_S, Slot, parse_duration, parse_rate
from emitter.errors import UsageError

_EXAMPLE = "e.g. `2m:200/s` or `30s:200->2000/s`"
# A ramp may start or end at zero (`30s:0->500/s`, a warm-up), which parse_rate refuses for a
# steady rate; the endpoint without a unit takes the other endpoint's unit.
_ENDPOINT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*([sm]))?\s*$")
_PER = {"s": 1.0, "m": 1.0 / 60.0}


@dataclass(frozen=True)
class Stage:
    """One stage: `duration_s` long, its rate moving linearly from `start_rate` to `end_rate`."""

    duration_s: float
    start_rate: float  # requests per second at the stage's start
    end_rate: float  # ... and at its end (equal for a steady stage)
    text: str  # as the user wrote it, for messages and the report

    @property
    def is_ramp(self) -> bool:
        return self.start_rate != self.end_rate

    @property
    def mean_rate(self) -> float:
        """The stage's target rate: requests it holds divided by its length."""
        return (self.start_rate + self.end_rate) / 2.0

    @property
    def count(self) -> float:
        """Requests the stage holds (not rounded: the schedule carries fractions over)."""
        return self.mean_rate * self.duration_s

    def time_at(self, n: float) -> float:
        """Seconds into the stage at which its n-th request (counted from 0.0) is due.

        Inverts a*t + (b-a)*t^2/(2T) = n in the form 2n / (a + sqrt(a^2 + 2(b-a)n/T)), which
        stays exact for a steady stage and for a ramp starting at zero.
        """
        if n <= 0:
            return 0.0
        a, b, span = self.start_rate, self.end_rate, self.duration_s
        root = math.sqrt(max(0.0, a * a + 2.0 * (b - a) * n / span))
        return 2.0 * n / (a + root)

    def as_dict(self) -> dict[str, object]:
        return {
            "stage": self.text,
            "duration_s": self.duration_s,
            "start_rate": self.start_rate,
            "end_rate": self.end_rate,
            "target_rate": round(self.mean_rate, 3),
        }


def _bad(text: str, why: str = "expected DURATION:RATE") -> UsageError:
    return UsageError(f"Invalid stage `{text.strip()}`: {why}, {_EXAMPLE}")


def _endpoint(raw: str, unit: str | None, stage: str) -> tuple[float, str | None]:
    match = _ENDPOINT.match(raw)
    if match is None:
        raise _bad(stage, f"`{raw.strip()}` is not a rate (N/s or N/m)")
    return float(match.group(1)), match.group(2) or unit


def parse_stage(text: str) -> Stage:
    """`2m:200/s` (steady) or `30s:200->2000/s` (a linear ramp); UsageError with an example."""
    duration_text, sep, rate_text = text.partition(":")
    if not sep or not duration_text.strip() or not rate_text.strip():
        raise _bad(text)
    try:
        duration = parse_duration(duration_text)
    except UsageError:
        raise _bad(text, f"`{duration_text.strip()}` is not a duration (30s, 2m, 1h)") from None
    if not math.isfinite(duration):
        raise _bad(text, f"`{duration_text.strip()}` is not a duration (30s, 2m, 1h)")
    if "->" in rate_text:
        first, _, second = rate_text.partition("->")
        # Each end keeps its own unit (`60/m->10/s` is 1 to 10 per second); an end without one
        # takes the other's (`200->2000/s`).
        end, end_unit = _endpoint(second, None, text)
        start, start_unit = _endpoint(first, end_unit, text)
        end_unit = end_unit or start_unit
        if start_unit is None or end_unit is None:
            raise _bad(text, "a ramp needs a unit (/s or /m)")
        start, end = start * _PER[start_unit], end * _PER[end_unit]
        if not (math.isfinite(start) and math.isfinite(end)) or start + end <= 0:
            raise _bad(text, "a ramp needs a rate above zero at one end at least")
    else:
        if rate_text.strip().lower() == "max":
            raise _bad(text, "a stage needs a rate, not `max`")
        try:
            rate = parse_rate(rate_text)
        except UsageError:
            raise _bad(text, f"`{rate_text.strip()}` is not a rate (N/s or N/m)") from None
        assert rate is not None  # `max` was refused above
        start = end = rate
    return Stage(duration, start, end, text.strip())


def parse_stages(text: str | Sequence[str]) -> tuple[Stage, ...]:
    """A comma-separated stage list (or a list of stage texts, as a drill file holds them)."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    stages = tuple(parse_stage(part) for part in parts if part.strip())
    if not stages:
        raise UsageError(f"Invalid --stages `{text}`: expected DURATION:RATE,…, {_EXAMPLE}")
    return stages


class StagePlan:
    """The schedule of a stage list: when request i is due and which stage it belongs to."""

    def __init__(self, stages: Sequence[Stage]) -> None:
        if not stages:
            raise ValueError("a plan needs at least one stage")
        self.stages = tuple(stages)
        self.starts: list[float] = []  # seconds from the run's start to each stage's start
        self.bounds: list[float] = []  # requests due before each stage (fractional)
        at = due = 0.0
        for stage in self.stages:
            self.starts.append(at)
            self.bounds.append(due)
            at += stage.duration_s
            due += stage.count
        self.duration_s = at
        self._total_due = due
        # Request i is due within the plan when i < total (a stage's last fraction of a
        # request is carried into the next stage, and dropped after the last one).
        self.total = math.ceil(due - 1e-9)

    def stage_of(self, index: int) -> int:
        """The stage (0-based) request `index` is due in; the last stage for one past the end."""
        # The bounds are float sums (121.00000000000001 for 1.1 s at 110/s); the tolerance
        # matches first_index(), so request 121 opens stage 1 in both.
        return max(0, bisect.bisect_right(self.bounds, index + 1e-9) - 1)

    def offset(self, index: int) -> float:
        """Seconds from the run's start at which request `index` is due."""
        k = self.stage_of(index)
        return self.starts[k] + self.stages[k].time_at(index - self.bounds[k])

    def first_index(self, stage: int) -> int:
        """The first request due in `stage`."""
        return math.ceil(self.bounds[stage] - 1e-9)

    def planned(self, stage: int) -> int:
        """How many requests `stage` holds."""
        end = self.total if stage + 1 == len(self.stages) else self.first_index(stage + 1)
        return end - self.first_index(stage)

    def due_span(self, stage: int, sent: int) -> float:
        """Seconds from `stage`'s start until its `sent`-th request would be due: the time
        `sent` on-time requests need (the stage's full length once all were sent)."""
        if sent >= self.planned(stage):
            return self.stages[stage].duration_s
        return self.offset(self.first_index(stage) + sent) - self.starts[stage]


def send_instants(stages: Sequence[Stage]) -> Iterator[float]:
    """Every request's due time in seconds from the start, in order (a pure function)."""
    plan = StagePlan(stages)
    for index in range(plan.total):
        yield plan.offset(index)


class StagePacer:
    """A Pacer (emitter._pacing) whose schedule is a stage list instead of one steady rate.

    Same interface and the same meaning of late; the run ends when the last stage does.
    """

    def __init__(
        self,
        plan: StagePlan,
        *,
        duration_s: float | None = None,
        late_after_s: float = DEFAULT_LATE_AFTER_S,
    ) -> None:
        self.plan = plan
        # For figures that expect one rate (the summary header): the peak the plan reaches.
        self.rate: float | None = max(max(s.start_rate, s.end_rate) for s in plan.stages)
        self.ramp_s = 0.0
        self.duration_s = plan.duration_s if duration_s is None else duration_s
        self.late_after_s = late_after_s
        self.start_at = 0.0
        self.claimed = 0
        self.late = 0

    def start(self, now: float) -> None:
        self.start_at = now
        self.claimed = 0
        self.late = 0

    def offset(self, index: int) -> float:
        return self.plan.offset(index)

    def next_due(self) -> float:
        return self.start_at + self.plan.offset(self.claimed)

    def exhausted(self, now: float) -> bool:
        if self.claimed >= self.plan.total:
            return True
        return self.plan.offset(self.claimed) >= self.duration_s

    def claim(self, now: float) -> Slot | None:
        if self.exhausted(now):
            return None
        index = self.claimed
        self.claimed += 1
        return Slot(index, self.start_at + self.plan.offset(index))

    def sent(self, slot: Slot, now: float) -> bool:
        if now <= slot.scheduled + self.late_after_s:
            return False
        self.late += 1
        return True
