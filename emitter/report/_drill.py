"""A drill's lines in replay's terminal summary: stages, faults, outages, thresholds."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emitter.drill import DrillResult


def format_drill(result: DrillResult) -> list[str]:
    """Lines for the end-of-run summary, after replay's own table: one per stage (with its
    read-back counts), the faults injected, each outage, each threshold's verdict."""
    lines: list[str] = []
    if result.stages:
        lines.append(
            "  stage                      target  achieved     sent    acked   failed"
            "     late   p50 ms   p99 ms"
        )
        for s in result.stages:
            if s.latency.get_total_count():
                p50 = f"{s.latency.get_value_at_percentile(50) / 1000.0:>9.1f}"
                p99 = f"{s.latency.get_value_at_percentile(99) / 1000.0:>9.1f}"
            else:  # nothing answered in this stage: a dash, never 0.0 ms
                p50 = p99 = f"{'–':>9}"
            lines.append(
                f"  {s.stage.text:<24}{s.stage.mean_rate:>9,.1f}{s.achieved_rate:>10,.1f}"
                f"{s.sent:>9}{s.acked:>9}{s.failed:>9}{s.late:>9}{p50}{p99}"
            )
            if s.verify is not None:
                shown = ", ".join(f"{k} {v}" for k, v in s.verify.items())
                lines.append(f"    verify: {shown}")
    f = result.faults
    if result.settings.faults.duplicates > 0:
        lines.append(
            f"  duplicates: {f.get('duplicates_sent', 0)} sent, "
            f"{f.get('duplicates_acked', 0)} acked, "
            f"{f.get('duplicates_not_acked', 0)} not acked"
        )
    if result.settings.faults.reorder is not None:
        lines.append(f"  reordered within {result.settings.faults.reorder.describe()}")
    if result.settings.faults.burst:
        lines.append(
            f"  burst after failure: held {f.get('held', 0)} session(s) over "
            f"{f.get('holds', 0)} hold(s), released {f.get('released', 0)}"
        )
    for o in result.outages:
        d = o.as_dict(start=result.start, wall=result.wall)
        end = "never" if d["end_s"] is None else f"{d['end_s']:.2f}s"
        recovery = (
            f"recovered {d['recovery_s']:.2f}s after it ended"
            if d["recovery_s"] is not None
            else f"{o.unrecovered} session(s) never acked"
        )
        lines.append(
            f"  outage {d['start_s']:.2f}s-{end} ({d['started_at']}): "
            f"{o.failed_attempts} failed attempt(s), {o.affected} session(s) affected; "
            f"{recovery}; backlog p99 {o.backlog_p99_ms:,.1f} ms"
        )
    for v in result.verdicts:
        mark = "ok    " if v.ok else "BROKEN"
        lines.append(f"  slo {mark} {v.describe()}")
    return lines
