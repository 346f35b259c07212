"""A check run on the terminal: one line per probe under its group, then the summary."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from emitter.check import CheckReport, ProbeResult, Verdict

GLYPHS: dict[Verdict, str] = {"passed": "✓", "failed": "✗", "warning": "!"}
_COLOURS: dict[Verdict, str] = {"passed": "green", "failed": "red", "warning": "yellow"}


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def probe_line(result: ProbeResult, *, width: int = 34, color: bool = False) -> str:
    """`✓ scenario/busy      3 ms  acked (HTTP 200)`: verdict, name, slowest answer, reason."""
    glyph = GLYPHS[result.verdict]
    if color:
        import click

        glyph = click.style(glyph, fg=_COLOURS[result.verdict], bold=True)
    slowest = result.slowest_ack_s
    ms = "-" if slowest is None else _ms(slowest)
    return f"{glyph} {result.name:<{width}} {ms:>8}  {result.reason}"


def summary_line(report: CheckReport) -> str:
    """`45 passed, 1 failed, 2 warnings in 1.4 s (seed 42)`."""
    warn = "warning" if report.warnings == 1 else "warnings"
    return (
        f"{report.passed} passed, {report.failed} failed, {report.warnings} {warn} "
        f"in {report.wall_s:.2f} s (seed {report.seed})"
    )


def _groups(results: Sequence[ProbeResult]) -> Iterator[tuple[str, list[ProbeResult]]]:
    order: dict[str, list[ProbeResult]] = {}
    for result in results:
        order.setdefault(result.group, []).append(result)
    yield from order.items()


def terminal_lines(report: CheckReport, *, color: bool = False) -> list[str]:
    """One line per probe under a line per group, then the summary; exit status in words."""
    width = max((len(r.name) for r in report.results), default=10)
    lines: list[str] = []
    for group, results in _groups(report.results):
        bad = sum(not r.passed for r in results)
        note = f" ({bad} not passed)" if bad else ""
        lines.append(f"{group}: {len(results)} probe{'s' if len(results) != 1 else ''}{note}")
        for r in results:
            lines.append("  " + probe_line(r, width=width, color=color))
            if r.verification and not r.passed:
                # Every mismatch, not only the first the reason names (records: --report-json).
                from emitter.report._verify import verification_lines

                lines += ["      " + x for x in verification_lines(r, records=False)[1:]]
    lines.append("")
    verdict = "PASSED" if report.ok else "FAILED"
    if color:
        import click

        verdict = click.style(verdict, fg="green" if report.ok else "red", bold=True)
    lines.append(f"{verdict}: {summary_line(report)}")
    if report.verify:
        from emitter.report._verify import nothing_found_hint

        hint = nothing_found_hint(report)
        lines += [hint] if hint else []
    return lines
