"""The `replay` command: load-ish traffic at a controlled rate, with honest latency figures."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from emitter._pacing import parse_duration, parse_rate
from emitter._timing import parse_instant
from emitter.cli._base import cli, delivery_options, resolve_seed, seed_option
from emitter.cli._drill import drill_options, finish_drill
from emitter.coverage import Coverage
from emitter.deliver import DeliveryConfig
from emitter.errors import InputError
from emitter.replay import (
    DEFAULT_CONCURRENCY,
    Progress,
    ReplaySettings,
    check_report_path,
    format_progress,
    format_summary,
    replay,
)
from emitter.replay._workers import workers_count
from emitter.report._html import write_reports

if TYPE_CHECKING:
    from emitter.drill import DrillState  # a drill's run imports it


def _start_at(raw: str | None) -> datetime | None:
    return None if raw is None else parse_instant(raw)


@cli.command("replay")
@click.argument("url")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--scenario",
    "scenarios",
    multiple=True,
    metavar="NAME",
    help="Generate payloads from this scenario instead of reading files (repeatable, "
    "interleaved). Default when no FILE is given: mixed.",
)
@click.option(
    "--rate",
    default=None,
    metavar="R",
    help="Requests per second or minute, e.g. 50/s or 3000/m, or `max` (as fast as the "
    "receiver and --concurrency allow). Open loop: sends keep their schedule whatever the "
    "receiver does. Required unless --stages or a --drill file sets the load.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    metavar="C",
    default=DEFAULT_CONCURRENCY,
    show_default=True,
    help="Requests in flight at most; a send that must wait for a free slot is counted late.",
)
@click.option(
    "--duration",
    metavar="D",
    default=None,
    help="Stop scheduling after D: 30s, 5m, 1h or seconds (90).",
)
@click.option(
    "-n",
    "limit",
    type=click.IntRange(min=1),
    metavar="N",
    default=None,
    help="Send only the first N payloads of the source (with --duration, whichever ends first).",
)
@click.option(
    "--ramp",
    metavar="D",
    default=None,
    help="Climb linearly from 0 to the rate over D (e.g. 30s) before holding it.",
)
@click.option(
    "--results",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Log one NDJSON record per delivery attempt here, as it happens (needed by --resume).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Skip what --results says was acked by an earlier run of the same source; append to it.",
)
@click.option(
    "--report-json",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the run's figures (counts, rate, latency percentiles, outcomes) as JSON.",
)
@click.option(
    "--html",
    "html",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="PATH",
    help="Write a self-contained HTML report: summary, HDR latency plot, rate, p99 and "
    "outcomes over time, contract coverage (needs the `report` extra: matplotlib).",
)
@click.option(
    "--start-at",
    default=None,
    metavar="TIME",
    help="Scenario sources: first session's start time (ISO 8601), for fresh timestamps.",
)
@click.option(
    "--workers",
    default="1",
    show_default=True,
    metavar="N",
    help="Sender processes sharing the schedule (worker k sends slots k, k+N, ...) and one "
    "report; `auto` = one per core but one. For rates one core cannot keep.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress line and no summary table.")
@seed_option
@delivery_options
@drill_options
@click.pass_context
def replay_command(
    ctx: click.Context,
    url: str,
    files: tuple[str, ...],
    scenarios: tuple[str, ...],
    rate: str,
    concurrency: int,
    duration: str | None,
    limit: int | None,
    ramp: str | None,
    results: Path | None,
    resume: bool,
    report_json: Path | None,
    html: Path | None,
    start_at: str | None,
    quiet: bool,
    workers: str,
    seed: int | None,
    delivery: DeliveryConfig,
    drill: DrillState | None,
) -> None:
    """Replay fixture files (NDJSON, streamed) or generated payloads to URL at a steady rate.

    \b
    Examples:
      vss-emitter replay https://staging.example/webhooks/vss captured.ndjson \\
          --rate 200/s --results run1.ndjson
      vss-emitter replay https://staging.example/webhooks/vss --scenario mixed \\
          --rate 50/s --duration 30m
      vss-emitter replay URL captured.ndjson --rate 200/s --results run1.ndjson --resume

    Latency is measured from each request's scheduled time (corrected for coordinated
    omission) and from its actual send. Exit 0 when every payload was acked, 1 when any was
    not, 2 for a usage error or a results file that cannot be written (the summary is
    still printed), 130 when interrupted (rerun with --resume to finish).
    """
    settings = ReplaySettings(
        rate=parse_rate(rate),
        concurrency=concurrency,
        duration_s=parse_duration(duration) if duration is not None else None,
        limit=limit,
        ramp_s=parse_duration(ramp) if ramp is not None else 0.0,
        results=results,
        resume=resume,
        workers=workers_count(workers),
    )
    if report_json is not None:
        check_report_path(report_json)  # before the run: a typo must not lose its figures
    if html is not None:
        from emitter.report._html import check_html_path
        from emitter.report._plots import require_plotting

        require_plotting()  # so is a missing plotting library
        check_html_path(html)
    # Counting what was sent costs ~7 us a payload: only for a report that shows it.
    coverage = Coverage() if report_json is not None or html is not None else None
    progress = _progress_printer(enabled=not quiet and sys.stderr.isatty())
    report = replay(
        url=url,
        settings=settings,
        config=delivery,
        files=files,
        scenarios=scenarios,
        seed=seed,
        start_at=_start_at(start_at),
        draw_seed=resolve_seed,
        on_progress=progress,
        on_notice=lambda text: click.echo(f"warning: {text}", err=True),
        drill=drill,
        coverage=coverage,
    )
    if progress is not None:
        click.echo("\r\033[K", nl=False, err=True)
    if drill is not None:  # stages, faults, thresholds, read-back: see docs/drills.md
        finish_drill(
            ctx, report, drill, quiet=quiet, report_json=report_json, html=html, coverage=coverage
        )
    if not quiet:
        click.echo(format_summary(report))
    page = write_reports(report.as_dict(), coverage, report_json=report_json, html=html)
    if page is not None:
        click.echo(f"HTML report: {page}")
    if report.error is not None:
        raise InputError(report.error)
    ctx.exit(report.exit_code)


def _progress_printer(*, enabled: bool) -> Callable[[Progress], None] | None:
    if not enabled:
        return None

    def show(progress: Progress) -> None:
        click.echo(f"\r\033[K{format_progress(progress)}", nl=False, err=True)

    return show
