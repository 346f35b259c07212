"""Replay's terminal output: the progress line and the end-of-run summary table."""

from __future__ import annotations

from emitter.replay._types import Progress, ReplayReport, rate_text


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
        f"late {report.late}  skipped {report.skipped}  retried {report.retried}",
        f"  duration {report.duration_s:.2f} s  achieved {report.achieved_rate:,.1f} req/s",
        "  latency (ms)          p50      p90      p99    p99.9      max",
    ]
    for name, pct in (
        ("from schedule", report.latency_ms),
        ("from send", report.latency_from_send_ms),
    ):
        lines.append(
            f"  {name:<16}{pct.p50:>9.2f}{pct.p90:>9.2f}{pct.p99:>9.2f}"
            f"{pct.p999:>9.2f}{pct.max:>9.2f}"
        )
    if report.outcomes:
        shown = ", ".join(f"{name} {count}" for name, count in sorted(report.outcomes.items()))
        lines.append(f"  outcomes: {shown}")
    if report.interrupted:
        lines.append("  interrupted: rerun with --resume to send the rest")
    return "\n".join(lines)
