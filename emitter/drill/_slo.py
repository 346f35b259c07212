"""Thresholds that fail the run: the `--slo` grammar and its evaluation against a run's figures.

    --slo 'p99<500ms,failed<0.1%,lost=0,stored_twice=0'

A threshold is METRIC OP LIMIT; OP is `<`, `<=` or `=`. Metrics:

    p50 p90 p99 p99.9 … (any pNN) and max   latency from the schedule; LIMIT in ms or s
    failed  late                              payloads not acked / first sends that left late;
                                              LIMIT a percentage of payloads sent (`0.1%`) or
                                              a count (`0`, `10`)
    lost  stored_twice  mismatched            with --verify: acked sessions not stored, stored
                                              more than once, stored differently; a count or
                                              a percentage of sessions verified
    recovery                                  after a receiver outage: seconds until every
                                              session it held up was acked (0 without one)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from emitter.errors import UsageError

_EXAMPLE = "e.g. `p99<500ms`, `failed<0.1%` or `stored_twice=0`"
_THRESHOLD = re.compile(r"^\s*([a-z_][a-z0-9_.]*)\s*(<=|<|==|=)\s*(\S+)\s*$", re.IGNORECASE)
_PERCENTILE = re.compile(r"^p(\d{1,3}(?:\.\d+)?)$")
_LATENCY_LIMIT = re.compile(r"^(\d+(?:\.\d+)?)(ms|s)$")
_COUNT_LIMIT = re.compile(r"^(\d+(?:\.\d+)?)(%?)$")
_SECONDS_LIMIT = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)$")

RATIO_METRICS = ("failed", "late")
VERIFY_METRICS = ("lost", "stored_twice", "mismatched")
METRICS = ("pNN", "max", *RATIO_METRICS, *VERIFY_METRICS, "recovery")


@dataclass(frozen=True)
class Threshold:
    """One parsed threshold; `limit` is in ms (latency), seconds (recovery), a count, or a
    ratio 0..1 when `percent` is set."""

    text: str
    metric: str  # `p99`, `max`, `failed`, …
    op: str  # `<`, `<=` or `=`
    limit: float
    percent: bool = False
    quantile: float | None = None  # 99.0 for p99

    @property
    def needs_verify(self) -> bool:
        return self.metric in VERIFY_METRICS

    def holds(self, actual: float) -> bool:
        if self.op == "<":
            return actual < self.limit
        if self.op == "<=":
            return actual <= self.limit
        return math.isclose(actual, self.limit, rel_tol=1e-9, abs_tol=1e-12)


def _bad(text: str, why: str) -> UsageError:
    return UsageError(f"Invalid threshold `{text.strip()}`: {why}, {_EXAMPLE}")


def parse_threshold(text: str) -> Threshold:
    """One `METRIC OP LIMIT`; UsageError naming the part that is wrong, with an example."""
    match = _THRESHOLD.match(text)
    if match is None:
        raise _bad(text, "expected METRIC<LIMIT, METRIC<=LIMIT or METRIC=LIMIT")
    metric, op, raw = match.group(1).lower(), match.group(2), match.group(3).lower()
    op = "=" if op == "==" else op
    shown = text.strip()
    pct = _PERCENTILE.match(metric)
    if pct is not None or metric in {"max", "p999"}:
        quantile = 99.9 if metric == "p999" else float(pct.group(1)) if pct else None
        if quantile is not None and not 0 <= quantile <= 100:
            raise _bad(text, f"`{metric}` is not a percentile: expected p0 to p100")
        value = _LATENCY_LIMIT.match(raw)
        if value is None:
            raise _bad(text, f"a latency limit needs a unit, ms or s, not `{raw}`")
        limit = float(value.group(1)) * (1000.0 if value.group(2) == "s" else 1.0)
        return Threshold(shown, metric, op, limit, quantile=quantile)
    if metric in RATIO_METRICS or metric in VERIFY_METRICS:
        value = _COUNT_LIMIT.match(raw)
        if value is None:
            raise _bad(text, f"`{metric}` takes a count or a percentage, not `{raw}`")
        number = float(value.group(1))
        if value.group(2):
            if number > 100:
                raise _bad(text, f"`{raw}` is more than 100%")
            return Threshold(shown, metric, op, number / 100.0, percent=True)
        if not number.is_integer():
            raise _bad(text, f"`{raw}` is not a count; write a ratio as a percentage (`0.1%`)")
        return Threshold(shown, metric, op, number)
    if metric == "recovery":
        value = _SECONDS_LIMIT.match(raw)
        if value is None:
            raise _bad(text, f"a recovery limit is a duration such as `30s`, not `{raw}`")
        scale = {"ms": 0.001, "s": 1.0, "m": 60.0}[value.group(2)]
        return Threshold(shown, metric, op, float(value.group(1)) * scale)
    raise _bad(
        text,
        f"unknown metric `{metric}` (expected pNN, max, failed, late, lost, stored_twice, "
        "mismatched or recovery)",
    )


def parse_slo(text: str | Sequence[str]) -> tuple[Threshold, ...]:
    """A comma-separated threshold list (or a list of thresholds, as a drill file holds them)."""
    parts = text.split(",") if isinstance(text, str) else [str(p) for p in text]
    thresholds = tuple(parse_threshold(part) for part in parts if part.strip())
    if not thresholds:
        raise UsageError(f"Invalid --slo `{text}`: expected at least one threshold, {_EXAMPLE}")
    return thresholds


@dataclass(frozen=True)
class Actuals:
    """What a run measured, in the units thresholds speak."""

    latency_ms: Callable[[float], float]  # percentile (0..100) -> ms, from the schedule
    max_ms: float
    sent: int  # payloads sent (the denominator of failed and late)
    failed: int
    late: int
    verified: int | None = None  # sessions verified; None without --verify
    lost: int = 0
    stored_twice: int = 0
    mismatched: int = 0
    recovery_s: float | None = None  # None: some held-up session was never acked
    answered: int | None = None  # attempts whose latency was measured; 0: none (None: unknown)


@dataclass(frozen=True)
class Verdict:
    """One threshold against the run: the measured value, the limit, whether it held."""

    threshold: Threshold
    actual: float | None  # None: could not be measured (counts as broken)
    ok: bool

    def describe(self) -> str:
        """`p99<50ms: 212.4 ms` — what was measured, in the threshold's own units."""
        return f"{self.threshold.text}: {_shown(self.threshold, self.actual)}"

    def as_dict(self) -> dict[str, object]:
        t = self.threshold
        return {
            "threshold": t.text,
            "metric": t.metric,
            "op": t.op,
            "limit": t.limit,
            "unit": _unit(t),
            "actual": None if self.actual is None else round(self.actual, 6),
            "ok": self.ok,
        }


def _unit(t: Threshold) -> str:
    if t.quantile is not None or t.metric == "max":
        return "ms"
    if t.metric == "recovery":
        return "s"
    return "ratio" if t.percent else "count"


def _shown(t: Threshold, actual: float | None) -> str:
    if actual is None:
        if t.metric == "recovery":
            return "some session held up by an outage was never acked"
        if _unit(t) == "ms":
            return f"not measurable: no attempt finished (limit {t.op} {t.limit:g} ms)"
        return "not measured"
    unit = _unit(t)
    if unit == "ms":
        return f"{actual:,.1f} ms (limit {t.op} {t.limit:g} ms)"
    if unit == "s":
        return f"{actual:,.2f} s (limit {t.op} {t.limit:g} s)"
    if unit == "ratio":
        return f"{actual * 100:.3g}% (limit {t.op} {t.limit * 100:g}%)"
    return f"{actual:g} (limit {t.op} {t.limit:g})"


def measure(threshold: Threshold, actuals: Actuals) -> float | None:
    """The value a threshold is judged on, in its own units; None when it was not measured."""
    t = threshold
    if t.quantile is not None or t.metric == "max":
        if actuals.answered == 0:
            return None  # no answer to measure: a latency limit is not met, never "ok" at 0 ms
        return actuals.latency_ms(t.quantile) if t.quantile is not None else actuals.max_ms
    if t.metric == "recovery":
        return actuals.recovery_s
    if t.metric in RATIO_METRICS:
        count = float(getattr(actuals, t.metric))
        total = actuals.sent
    else:
        if actuals.verified is None:
            return None
        count = float(getattr(actuals, t.metric))
        total = actuals.verified
    if not t.percent:
        return count
    return count / total if total else 0.0


def evaluate(thresholds: Sequence[Threshold], actuals: Actuals) -> tuple[Verdict, ...]:
    """Every threshold with its measured value; a value that could not be measured breaks it."""
    out = []
    for t in thresholds:
        actual = measure(t, actuals)
        out.append(Verdict(t, actual, actual is not None and t.holds(actual)))
    return tuple(out)


def check_thresholds(thresholds: Sequence[Threshold], *, verify: bool) -> None:
    """UsageError before the run for a threshold it could never measure."""
    for t in thresholds:
        if t.needs_verify and not verify:
            raise UsageError(
                f"Invalid threshold `{t.text}`: `{t.metric}` is counted by reading back what "
                "the receiver stored; add --verify FILE, e.g. --verify read-back.yaml"
            )
