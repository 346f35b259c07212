"""Replay's terminal output: the progress line, the end-of-run summary, the sender-lag verdict."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emitter.replay import Progress, ReplayReport


def rate_text(rate: float | None) -> str:
    """`1000000/s`, `2.5/s`, `0.333333/s`, `max` (`:g` wrote `1e+06/s`)."""
    if rate is None:
        return "max"
    return f"{int(rate)}/s" if float(rate).is_integer() else f"{rate:.6g}/s"


def format_progress(progress: Progress) -> str:
    """One short line: sent, acked, failed, in flight, rate, p99 (from the due time)."""
    return (
        f"sent {progress.sent}  acked {progress.acked}  failed {progress.failed}  "
        f"in flight {progress.in_flight}  late {progress.late}  "
        f"{progress.rate:,.0f} req/s  p99 {progress.p99_ms:,.1f} ms"
    )


def format_summary(report: ReplayReport) -> str:
    """The end-of-run table."""
    lines = [
        f"replay -> {report.target}  rate {rate_text(report.rate)}  "
        f"concurrency {report.concurrency}"
        + (f"  seed {report.seed}" if report.seed is not None else ""),
        f"  sent {report.sent}  acked {report.acked}  failed {report.failed}  "
        f"late {report.late}  skipped {report.skipped}  retried {report.retried}"
        + (f"  bad input {report.bad_input} (not sent)" if report.bad_input else ""),
        f"  duration {report.duration_s:.2f} s  achieved {report.achieved_rate:,.1f} req/s",
        "  latency (ms)          p50      p90      p99    p99.9      max",
    ]
    for name, pct in (
        ("from schedule", report.latency_ms),
        ("from send", report.latency_from_send_ms),
    ):
        if pct.empty:  # nothing answered: a dash, never 0.00 (a fast receiver)
            lines.append(f"  {name:<16}" + f"{'–':>9}" * 5 + "   (no attempt finished)")
            continue
        lines.append(
            f"  {name:<16}{pct.p50:>9.2f}{pct.p90:>9.2f}{pct.p99:>9.2f}"
            f"{pct.p999:>9.2f}{pct.max:>9.2f}"
        )
    if report.outcomes:
        shown = ", ".join(f"{name} {count}" for name, count in sorted(report.outcomes.items()))
        lines.append(f"  outcomes: {shown}")
    lines.extend(
        pace_lines(
            rate=report.rate,
            concurrency=report.concurrency,
            saturated=report.sender_saturated,
            lag=report.sender_lag,
        )
    )
    if report.interrupted:
        lines.append("  interrupted: rerun with --resume to send the rest")
    return "\n".join(lines)


def pace_lines(
    *, rate: float | None, concurrency: int, saturated: bool, lag: Mapping[str, Any] | None
) -> list[str]:
    """Whose fault a late schedule was: the sender's own (CPU) or the receiver's (all busy),
    and the sends the schedule owed that never left. The terminal summary and the HTML page
    say the same lines."""
    if lag is None:
        return []
    behind = lag["max_lag_ms"]
    if saturated:
        since = lag["behind_from_s"]
        when = f"from {since:.1f} s into the run" if since is not None else "during the run"
        lines = [
            f"  SENDER SATURATED: this machine could not keep the rate {rate_text(rate)}: "
            f"{when} its sends fell behind the schedule, up to {behind:,.0f} ms "
            f"({lag['final_lag_ms']:,.0f} ms at the end); {lag['late']:,} sends were late",
        ]
        lines.extend(_unsent_lines(lag))
        sender, receiver = lag["sender_behind_s"], lag["receiver_bound_s"]
        share = (
            f"; the sender was the cause for {sender:.1f} s of the {sender + receiver:.1f} s "
            "behind, all connections waiting for answers for the rest"
            if receiver
            else ""
        )
        lines.append(
            f"  the latency from schedule includes the sender's own lag (up to {behind:,.0f} ms"
            f"{share}); the latency from send is the receiver's part (try --workers, or a "
            "lower rate)"
        )
        return lines
    if lag["receiver_bound_s"]:
        return [
            f"  sends fell up to {behind:,.0f} ms behind the schedule while all "
            f"{concurrency} connections waited for answers: the receiver (or "
            "--concurrency) set the pace, and the latency from schedule shows it",
            *_unsent_lines(lag),
        ]
    return _unsent_lines(lag)


def _unsent_lines(lag: Mapping[str, Any]) -> list[str]:
    if not lag["unsent"]:
        return []
    least = "" if lag.get("unsent_exact", True) else "at least "
    return [f"  {least}{lag['unsent']:,} scheduled sends never left before --duration ended"]


def pace_lines_of(data: Mapping[str, Any]) -> list[str]:
    """pace_lines() from a report's JSON (the HTML page's source), unindented; none for a
    report without `sender_lag`, or one whose figures cannot be read."""
    lag = data.get("sender_lag")
    rate = data.get("rate_per_s")
    if not isinstance(lag, Mapping) or not lag.keys() >= _LAG_KEYS:
        return []
    try:
        lines = pace_lines(
            rate=float(rate) if isinstance(rate, int | float) else None,
            concurrency=int(data.get("concurrency") or 0),
            saturated=bool(data.get("sender_saturated")),
            lag={"unsent": 0, "unsent_exact": True, **lag},  # reports before `unsent` existed
        )
    except (TypeError, ValueError):  # a hand-edited report: the page shows the rest
        return []
    return [line.strip() for line in lines]


_LAG_KEYS = frozenset(
    {
        "behind_from_s",
        "max_lag_ms",
        "final_lag_ms",
        "late",
        "sender_behind_s",
        "receiver_bound_s",
    }
)
