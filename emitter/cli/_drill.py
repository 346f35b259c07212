"""The drill options of `replay` (--drill, --stages, faults, --slo, --verify) and its verdict.

`drill_options` turns the options and the drill file into a DrillState before the command's
body runs (the command line overrides the file, option by option); `finish_drill` prints the
drill's lines, reads back what the receiver stored, writes the report and exits with the
drill's verdict.
"""

from __future__ import annotations

import dataclasses
import decimal
import functools
import json
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
from click.core import ParameterSource

from emitter.cli._base import resolve_seed
from emitter.errors import EXIT_CONTRACT, EXIT_OK, InputError, UsageError, VssEmitterError

# The drill machinery (faults, stages, the YAML drill file, thresholds) loads only for a run
# that uses it: a plain `replay` starts ~30 ms sooner.
if TYPE_CHECKING:
    from emitter.coverage import Coverage
    from emitter.deliver import DeliveryConfig
    from emitter.drill._file import Drill
    from emitter.drill._run import DrillResult, DrillSettings, DrillState

F = TypeVar("F", bound=Callable[..., Any])


def _given(ctx: click.Context, name: str) -> bool:
    """True when the user set option `name` (command line or environment), not its default."""
    source = ctx.get_parameter_source(name)
    return source in {ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT}


def _plain(number: float) -> str:
    """`number` as plain decimal text that parses back to the same float: the options take
    text, and `:g` would turn 1000000 into `1e+06`, which they refuse (a value never typed)."""
    return format(decimal.Decimal(repr(number)), "f")


def _merge_file(ctx: click.Context, drill: Drill, kwargs: dict[str, Any]) -> None:
    """Fills in what the drill file sets and the command line does not (source, load shape,
    delivery); the command line wins option by option, the source and the load shape as a
    whole (files or a scenario; a rate or stages)."""
    if not (_given(ctx, "files") or _given(ctx, "scenarios")):
        if drill.files:
            kwargs["files"] = drill.files
        if drill.scenarios:
            kwargs["scenarios"] = drill.scenarios
    for key, value in (
        ("seed", drill.seed),
        ("limit", drill.limit),
        ("start_at", drill.start_at),
        ("concurrency", drill.concurrency),
        ("duration", None if drill.duration_s is None else _plain(drill.duration_s)),
        ("ramp", None if drill.ramp_s is None else _plain(drill.ramp_s)),
    ):
        if value is not None and key in kwargs and not _given(ctx, key):
            kwargs[key] = value
    if drill.rate is not None and not (_given(ctx, "rate") or _given(ctx, "stages")):
        kwargs["rate"] = drill.rate
    delivery: DeliveryConfig | None = kwargs.get("delivery")
    if delivery is not None:
        if drill.timeout_s is not None and not _given(ctx, "timeout"):
            delivery = dataclasses.replace(delivery, timeout_s=drill.timeout_s)
        if drill.retries is not None and not _given(ctx, "retries"):
            delivery = dataclasses.replace(delivery, retries=drill.retries)
        kwargs["delivery"] = delivery


def _settings(
    ctx: click.Context,
    drill: Drill | None,
    *,
    stages: str | None,
    duplicates: str | None,
    reorder: str | None,
    burst: str | None,
    slo: str | None,
    verify: str | None,
    verify_sample: str | None,
    rate_given: bool,
) -> DrillSettings:
    from emitter.drill._faults import (
        DEFAULT_DRAIN_S,
        DEFAULT_HOLD_AFTER_S,
        DEFAULT_PROBE_EVERY_S,
        Faults,
        parse_burst_rate,
        parse_fraction,
        parse_reorder,
    )
    from emitter.drill._file import Drill
    from emitter.drill._run import DrillSettings
    from emitter.drill._slo import check_thresholds, parse_slo
    from emitter.drill._stages import parse_stages

    d = drill or Drill(path=Path("-"))
    parsed_stages = parse_stages(stages) if stages is not None else None
    if parsed_stages is None and not rate_given:
        parsed_stages = d.stages
    burst_on = burst is not None or bool(d.burst)
    faults = Faults(
        duplicates=parse_fraction(duplicates) if duplicates is not None else d.duplicates or 0.0,
        duplicate_delay_s=d.duplicate_delay_s or Faults.duplicate_delay_s,
        reorder=parse_reorder(reorder) if reorder is not None else d.reorder,
        burst=burst_on,
        burst_rate=parse_burst_rate(burst) if burst is not None else d.burst_rate,
        hold_after_s=d.hold_after_s if d.hold_after_s is not None else DEFAULT_HOLD_AFTER_S,
        probe_every_s=d.probe_every_s if d.probe_every_s is not None else DEFAULT_PROBE_EVERY_S,
        drain_s=d.drain_s if d.drain_s is not None else DEFAULT_DRAIN_S,
    )
    thresholds = parse_slo(slo) if slo is not None else d.slo or ()
    verify_path = Path(verify) if verify is not None else d.verify
    sample = (
        parse_fraction(verify_sample, option="--verify-sample")
        if verify_sample is not None
        else d.verify_sample
    )
    if sample is not None and verify_path is None:
        raise UsageError(
            "--verify-sample needs --verify FILE (where to read back what the receiver "
            "stored), e.g. --verify read-back.yaml --verify-sample 10%"
        )
    if sample == 0.0:
        raise UsageError("Invalid --verify-sample `0`: expected more than 0, e.g. `10%`")
    check_thresholds(thresholds, verify=verify_path is not None)
    return DrillSettings(
        stages=parsed_stages,
        faults=faults,
        slo=thresholds,
        verify=verify_path,
        verify_sample=sample,
    )


_NO_RATE = (
    "replay needs a rate: give --rate R, --stages or a --drill file that sets one, "
    "e.g. --rate 200/s"
)


def drill_options(func: F) -> F:
    """Adds the drill options to `replay`; the command receives `drill: DrillState | None`."""

    @click.option(
        "--drill",
        "drill_file",
        type=click.Path(dir_okay=False),
        default=None,
        metavar="FILE",
        help="Run the drill in this YAML file (source, stages, faults, slo, verify); "
        "options given on the command line override the file's. See docs/drills.md.",
    )
    @click.option(
        "--stages",
        default=None,
        metavar="STAGES",
        help="Load in stages instead of one --rate: DURATION:RATE, comma-separated; a ramp is "
        "DURATION:FROM->TO, e.g. '2m:200/s,30s:200->2000/s,2m:2000/s'.",
    )
    @click.option(
        "--duplicates",
        default=None,
        metavar="FRACTION",
        help="Send this fraction of acked payloads again (same bytes), half at once, half "
        "up to 2 s later, as 8x8 may: 5% or 0.05.",
    )
    @click.option(
        "--reorder",
        default=None,
        metavar="WINDOW",
        help="Deliver sessions out of order within WINDOW: a number of sessions (20) or a "
        "span of the schedule (2s).",
    )
    @click.option(
        "--burst-after-failure",
        "burst",
        is_flag=False,
        flag_value="max",
        default=None,
        metavar="[RATE]",
        help="After the receiver has failed for 1 s, hold sessions back (probing once a "
        "second) and deliver them as a burst when it recovers, at RATE (default max).",
    )
    @click.option(
        "--slo",
        default=None,
        metavar="THRESHOLDS",
        help="Fail the run (exit 1) when a threshold breaks, e.g. "
        "'p99<500ms,failed<0.1%,lost=0,stored_twice=0'. See docs/drills.md.",
    )
    @click.option(
        "--verify",
        "verify",
        type=click.Path(dir_okay=False),
        default=None,
        metavar="FILE",
        help="After the run, read back what the receiver stored (see docs/verify.md): every "
        "acked session stored exactly once and as meant.",
    )
    @click.option(
        "--verify-sample",
        default=None,
        metavar="FRACTION",
        help="With --verify: read back only this seeded share of the acked sessions (10%).",
    )
    @functools.wraps(func)
    def wrapper(
        *args: Any,
        drill_file: str | None,
        stages: str | None,
        duplicates: str | None,
        reorder: str | None,
        burst: str | None,
        slo: str | None,
        verify: str | None,
        verify_sample: str | None,
        **kwargs: Any,
    ) -> Any:
        ctx = click.get_current_context()
        drill_given = (drill_file, stages, duplicates, reorder, burst, slo, verify, verify_sample)
        if all(value is None for value in drill_given):
            # No drill: the same checks as below, without loading the drill machinery.
            if kwargs.get("rate") is None:
                raise UsageError(_NO_RATE)
            return func(*args, drill=None, **kwargs)
        from emitter.drill._file import load_drill
        from emitter.drill._run import DrillState
        from emitter.drill._stages import StagePlan

        drill = load_drill(drill_file) if drill_file is not None else None
        if drill is not None:
            _merge_file(ctx, drill, kwargs)
        if _given(ctx, "rate") and stages is not None:
            raise UsageError("give --rate or --stages, not both, e.g. --stages '1m:200/s'")
        settings = _settings(
            ctx,
            drill,
            stages=stages,
            duplicates=duplicates,
            reorder=reorder,
            burst=burst,
            slo=slo,
            verify=verify,
            verify_sample=verify_sample,
            rate_given=_given(ctx, "rate"),
        )
        if settings.stages:
            for option in ("duration", "ramp"):
                if kwargs.get(option) is not None:
                    raise UsageError(
                        f"--stages sets the run's length and shape; drop --{option}, "
                        "e.g. --stages '30s:0->200/s,5m:200/s'"
                    )
            peak = max(max(s.start_rate, s.end_rate) for s in settings.stages)
            kwargs["rate"] = f"{_plain(peak)}/s"
            # The stages hold a fixed number of sends: that bounds a scenario source too.
            total = StagePlan(settings.stages).total
            kwargs["limit"] = min(kwargs.get("limit") or total, total)
        if kwargs.get("rate") is None:
            raise UsageError(_NO_RATE)
        window = settings.faults.reorder
        if window is not None and window.seconds is not None and kwargs["rate"] == "max":
            raise UsageError(
                f"--reorder {window.describe()} needs a schedule, and --rate max has none; "
                "give a number of sessions, e.g. --reorder 20"
            )
        state = None
        if settings.active or drill is not None:
            if kwargs.get("seed") is None:
                if kwargs.get("resume"):
                    raise UsageError(
                        "a drill with --resume needs the first run's --seed (its faults are "
                        "drawn from it; it was printed when drawn), e.g. --seed 1234"
                    )
                kwargs["seed"] = resolve_seed(None)
            state = DrillState(settings, seed=kwargs["seed"])
            if settings.verify is not None:
                state.verify_config = _checked_verify_file(settings.verify)
        return func(*args, drill=state, **kwargs)

    return wrapper  # type: ignore[return-value]


def _checked_verify_file(path: Path) -> Any:
    """The verify file, loaded and its read-back tried once (an unknown sessionId must read
    as not stored): a bad file or an unreachable read-back is exit 2 before anything is sent."""
    from emitter.verify import load_verify_file, open_read_back, preflight

    config = load_verify_file(path)
    reader = open_read_back(config)
    try:
        preflight(reader, config)
    finally:
        reader.close()
    return config


def _verify(state: DrillState) -> tuple[dict[str, Any], list[dict[str, int]]]:
    """Reads back every sampled acked session: the counts, overall and per stage."""
    from emitter.verify import verify_sessions

    assert state.verify_config is not None
    acked = state.acked_to_verify()
    stage_of = {item.session_id: stage for stage, item in acked}
    stages = len(state.plan.stages) if state.plan is not None else 0
    per_stage: list[Counter[str]] = [Counter() for _ in range(stages)]

    def count(verdict: Any) -> None:
        k = stage_of.get(verdict.session_id, -1)
        if 0 <= k < stages:
            per_stage[k][verdict.state] += 1

    summary = verify_sessions(
        state.verify_config,
        [(item.session_id, item.body) for _, item in acked if item.session_id and item.body],
        on_result=count,
    )
    counts = summary.as_dict()
    counts["verified"] = summary.checked
    counts["sample"] = state.settings.verify_sample or 1.0
    counts["skipped"] = state.not_sampled
    counts["line"] = summary.line()
    keys = ("stored", "missing", "mismatched", "stored_twice", "could_not_verify")
    return counts, [{key: c.get(key, 0) for key in keys} for c in per_stage]


def finish_drill(
    ctx: click.Context,
    report: Any,
    state: DrillState,
    *,
    quiet: bool,
    report_json: Path | None,
    html: Path | None = None,
    coverage: Coverage | None = None,
) -> NoReturn:
    """After a drill's run: read back, judge, print, write the report and the results log's
    drill record, and exit with the drill's verdict."""
    from emitter.replay import format_summary
    from emitter.report._drill import format_drill

    verify: dict[str, Any] | None = None
    by_stage: list[dict[str, int]] | None = None
    failure: VssEmitterError | None = None
    if state.verify_config is not None and report.error is None and not report.interrupted:
        try:
            verify, by_stage = _verify(state)
        except VssEmitterError as exc:  # the read-back broke after the run: figures first
            failure = exc
    percentiles = state.run.from_schedule.flush()
    result = state.result(
        latency_ms=lambda q: percentiles.get_value_at_percentile(q) / 1000.0,
        max_ms=report.latency_ms.max,
        sent=report.sent,
        failed=report.failed,
        late=report.late,
        verify=verify,
        verify_by_stage=by_stage,
    )
    code = drill_exit_code(report.exit_code, result)
    if not quiet:
        click.echo(format_summary(report))
        for line in format_drill(result):
            click.echo(line)
    if verify is not None:
        click.echo(f"  {verify['line']}" if not quiet else verify["line"], err=quiet)
        details = verify.get("details", [])
        for detail in details[:10]:
            shown = f"{detail['sessionId']}: {detail['state']}: {detail['reason']}"
            click.echo(f"    {shown}", err=quiet)
        if len(details) > 10:
            more = f"{len(details) - 10} more (every one is in the report JSON's `verify`)"
            click.echo(f"    ... {more}", err=quiet)
    for verdict in result.broken:
        click.echo(f"SLO broken: {verdict.describe()}", err=True)
    if report_json is not None or html is not None:
        from emitter.report._html import write_reports

        merged = json.loads(merged_report(report.as_dict(), result, code))
        page = write_reports(merged, coverage, report_json=report_json, html=html)
        if page is not None:
            click.echo(f"HTML report: {page}")
    if report.results is not None:
        _append_drill_record(Path(report.results), result)
    if report.error is not None:
        raise InputError(report.error)
    if failure is not None:
        raise failure
    ctx.exit(code)


def _append_drill_record(path: Path, result: DrillResult) -> None:
    """The results log ends with the drill's record: faults and their seed, outages, stages,
    thresholds and read-back counts (a resume ignores it)."""
    record = {"type": "drill", **result.as_dict()}
    record.get("verify", {}).pop("details", None)
    try:
        with path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
    except OSError as exc:
        raise InputError(f"cannot write results `{path}`: {exc.strerror or exc}") from None


def drill_exit_code(replay_exit: int, result: DrillResult) -> int:
    """The run's exit code with the drill's verdict: a broken threshold (or a duplicate not
    acked) turns a clean run into 1; usage errors and interruptions keep their own code."""
    if replay_exit != EXIT_OK:
        return replay_exit
    return EXIT_CONTRACT if result.failed else EXIT_OK


def merged_report(report: Mapping[str, Any], result: DrillResult, exit_code: int) -> str:
    """The replay report JSON with the drill's sections and the drill's exit code."""
    data = dict(report)
    data.update(result.as_dict())
    data["exit_code"] = exit_code
    return json.dumps(data, indent=2) + "\n"
