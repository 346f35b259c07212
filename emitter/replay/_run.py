"""Replay's orchestration: check the settings, open the source and the results log, run, report."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emitter._timing import check_instant
from emitter._version import __version__
from emitter.coverage import Coverage, observe
from emitter.deliver import (
    DeliveryConfig,
    check_url,
    config_secrets,
    display_url,
    redact,
    request_headers,
)
from emitter.errors import InputError, UsageError
from emitter.replay._census import Census, CensusSpec
from emitter.replay._engine import Run
from emitter.replay._feed import fed, worth_feeding
from emitter.replay._loop import loop_factory, quiet_gc, target_tls
from emitter.replay._results import (
    Acked,
    Previous,
    ResultsWriter,
    load_results,
    stored_start,
    to_send,
    verify_acked,
)
from emitter.replay._stats import distribution
from emitter.replay._types import (
    BAD_INPUT,
    DEFAULT_SCENARIO,
    Percentiles,
    Progress,
    ReplayReport,
    ReplaySettings,
)
from emitter.replay._workers import Tally, WorkerSpec, check_workers, run_workers, start_wall
from emitter.report._replay import rate_text
from emitter.sources import FileSource, Item, ScenarioSource

if TYPE_CHECKING:
    from emitter.drill import DrillState  # a drill's run imports it

# A child counting coverage costs ~0.3 s to start (off the sender's core): worth it from about
# this many payloads. Fewer are counted inline, at ~7 us each of the sender's time.
_CENSUS_MIN_BYTES = 4 << 20
_CENSUS_MIN_PAYLOADS = 5_000
# Bad lines kept while looking for a file's first payload (~200 bytes each).
_PEEK_BAD = 10_000


def replay(
    *,
    url: str,
    settings: ReplaySettings,
    config: DeliveryConfig,
    files: Sequence[str | os.PathLike[str]] = (),
    scenarios: Sequence[str] = (),
    seed: int | None = None,
    start_at: datetime | None = None,
    draw_seed: Callable[[int | None], int] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_notice: Callable[[str], None] | None = None,
    drill: DrillState | None = None,
    coverage: Coverage | None = None,
) -> ReplayReport:
    """Replays fixture files, or payloads generated from scenarios, against `url`.

    Files are streamed; with no files the `mixed` scenario is used. A scenario source is
    endless, so it needs settings.limit or settings.duration_s. With --resume, the seed and
    start time default to the ones stored in the results file. `draw_seed` picks a seed when
    none is given or stored (the CLI's prints it). Raises the kit's errors for anything that
    stops the run from starting; network faults are outcomes in the report. `drill` (see
    emitter.drill) shapes the run: stages, faults, and the figures its verdict needs. A
    `coverage` given is filled with every payload the run draws from its source.
    """
    notice = on_notice or (lambda _text: None)
    target = check_url(url)
    headers = request_headers(config)
    _check_settings(settings, files=files, scenarios=scenarios)
    if settings.workers > 1 and drill is not None:
        raise UsageError("--workers does not combine with a drill; drop one of them")
    # Everything that can refuse the run is checked before the results file is touched, so
    # a refused run leaves no header behind (and its rerun is not told "already exists").
    tls = target_tls(target, config)
    previous = _previous_run(settings, notice)
    plan = _open_source(settings, previous, files, scenarios, seed, start_at, draw_seed)
    shown = redact(display_url(target), config_secrets(config, url=target))
    writer = _open_results(settings, config, plan, previous, shown)
    if settings.workers > 1:
        if writer is not None:
            writer.close()  # the header is written; the workers append their records
        spec = WorkerSpec(
            url=target,
            settings=settings,
            config=config,
            headers=headers,
            files=tuple(str(path) for path in files),
            scenarios=tuple(scenarios),
            seed=plan.seed,
            start_at=plan.start_at,
            acked=previous.acked,
            workers=settings.workers,
            start_wall=start_wall(),
        )
        census = _census(coverage, settings, plan, previous, always=True)
        try:
            tally, error, fatal = run_workers(spec, on_progress=on_progress, notice=notice)
        except BaseException:
            if census is not None:
                census.abandon()
            raise
        if census is not None and coverage is not None:
            drawn = tally.sent + tally.outcomes.get(BAD_INPUT, 0)
            census.finish(coverage, drawn=drawn, notice=notice)
        if fatal is not None:
            raise fatal
        return _report(tally, settings, plan, shown, error, skipped=tally.skipped)
    run = Run(
        url=target,
        items=plan.items,
        settings=settings,
        config=config,
        headers=headers,
        tls=tls,
        writer=writer,
        on_progress=on_progress,
        notice=notice,
    )
    census = _census(coverage, settings, plan, previous)
    if census is not None:
        run.items = census.counted(run.items)
    elif coverage is not None:  # opt-in: reading every body costs ~7 us of the sender's time
        run.items = observe(run.items, coverage)
    if drill is not None:
        run.items = drill.items(run.items, rate=settings.rate)
        drill.attach(run)
    try:
        _execute(run, writer)
    finally:
        if census is not None and coverage is not None:
            census.finish(coverage, notice=notice)
    error = writer.error if writer is not None else None
    return _report(run, settings, plan, shown, error, skipped=plan.skipped[0])


def _census(
    coverage: Coverage | None,
    settings: ReplaySettings,
    plan: _Plan,
    previous: Previous,
    *,
    always: bool = False,
) -> Census | None:
    """A child process counting coverage beside the run, when that is worth its start-up."""
    if coverage is None or "-" in plan.files:
        return None
    if not always and _expected_payloads(settings, plan) < _CENSUS_MIN_PAYLOADS:
        return None
    return Census(
        CensusSpec(
            files=plan.files,
            scenarios=plan.scenarios,
            seed=plan.seed,
            start_at=plan.start_at,
            limit=settings.limit,
            acked=previous.acked,
        )
    )


def _expected_payloads(settings: ReplaySettings, plan: _Plan) -> float:
    """At most how many payloads the run can draw: -n, the rate times --duration, and for
    files their size (a payload is at least ~1 KB, so 4 MB is taken for ~5,000)."""
    most = math.inf if settings.limit is None else float(settings.limit)
    if settings.rate is not None and settings.duration_s is not None:
        most = min(most, settings.rate * settings.duration_s + settings.rate)
    if plan.files:
        big = sum(_size(path) for path in plan.files) >= _CENSUS_MIN_BYTES
        most = min(most, math.inf if big else 0.0)
    return most


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


@dataclass
class _Plan:
    """What will be sent: the items still to send, how the source describes itself, its seed."""

    items: Iterator[Item]
    described: dict[str, Any]
    seed: int | None  # the scenario seed; None for files
    start_at: datetime | None  # the scenario start time, as given or stored
    skipped: list[int]  # a one-element counter the filter bumps for each payload resume skips
    files: tuple[str, ...] = ()  # the files as given (empty for a scenario source)
    scenarios: tuple[str, ...] = ()  # the scenarios generated (empty for files)


def _check_settings(
    settings: ReplaySettings,
    *,
    files: Sequence[str | os.PathLike[str]],
    scenarios: Sequence[str],
) -> None:
    if files and scenarios:
        raise UsageError("give fixture files or --scenario, not both")
    if settings.concurrency < 1:
        raise UsageError(f"Invalid concurrency `{settings.concurrency}`: expected 1 or more")
    check_workers(settings.workers)
    if settings.rate is None and settings.ramp_s > 0:
        raise UsageError("--ramp needs a rate to climb to, e.g. --rate 200/s --ramp 30s")
    if settings.resume and settings.results is None:
        raise UsageError("--resume needs --results FILE: the file tells what was already acked")
    if settings.workers > 1 and any(str(path) == "-" for path in files):
        raise UsageError("--workers needs files or --scenario: stdin can be read only once")
    if settings.results is not None:
        _check_results_not_a_source(settings.results, files)


def _check_results_not_a_source(results: Path, files: Sequence[str | os.PathLike[str]]) -> None:
    """UsageError when the results log is one of the files to send (a link or another name
    for it included): its records would be appended to the source and read back as payloads,
    a run that never ends and a fixture that grows by thousands of lines a second."""
    try:
        log = os.stat(results)
    except OSError:
        return  # not there yet: it cannot be a source that exists
    for path in files:
        try:
            source = os.fstat(0) if str(path) == "-" else os.stat(path)
        except OSError:
            continue  # a missing source is the source's own error, reported where it is read
        if (source.st_dev, source.st_ino) == (log.st_dev, log.st_ino):
            shown = "stdin" if str(path) == "-" else f"`{path}`"
            raise UsageError(
                f"--results `{results}` is the source {shown}: the log would be appended to "
                "the file being sent; choose another results file, e.g. --results run1.ndjson"
            )


def _previous_run(settings: ReplaySettings, notice: Callable[[str], None]) -> Previous:
    """What an earlier run's results log says (empty unless --resume)."""
    if not settings.resume or settings.results is None:
        return Previous(None, Acked(), 0)
    previous = load_results(settings.results)
    if previous.unreadable:
        notice(f"{settings.results}: {previous.unreadable} unreadable line(s) ignored")
    return previous


def _open_source(
    settings: ReplaySettings,
    previous: Previous,
    files: Sequence[str | os.PathLike[str]],
    scenarios: Sequence[str],
    seed: int | None,
    start_at: datetime | None,
    draw_seed: Callable[[int | None], int] | None,
) -> _Plan:
    """The source to send, checked against a resumed run's, minus what that run acked."""
    stored_source = (previous.header or {}).get("source")
    stored: dict[str, Any] = stored_source if isinstance(stored_source, dict) else {}
    source: FileSource | ScenarioSource
    if files:
        source = FileSource(files)
    else:
        if settings.limit is None and settings.duration_s is None:
            raise UsageError(
                "a scenario source never ends: give -n N or --duration D, e.g. --duration 30m"
            )
        if seed is None and type(stored.get("seed")) is int:
            seed = stored["seed"]
        if start_at is None and isinstance(stored.get("start_at"), str):
            start_at = stored_start(stored["start_at"], settings.results)
        if start_at is not None:
            check_instant(start_at)
        if seed is None:
            seed = draw_seed(None) if draw_seed else int.from_bytes(os.urandom(4), "big")
        source = ScenarioSource(list(scenarios) or [DEFAULT_SCENARIO], seed=seed, start_at=start_at)
    described = source.describe()
    if previous.header is not None and stored_source != described:
        raise UsageError(
            f"--resume: `{settings.results}` was written for another source "
            f"({json.dumps(stored_source)}), not {json.dumps(described)}; resume with the same "
            "files, or the same --scenario, --seed and --start-at"
        )
    if (
        previous.acked.count
        and isinstance(source, FileSource)
        and "-" not in source.paths  # stdin cannot be read twice: it is checked as it is sent
    ):
        verify_acked(FileSource(source.paths), previous.acked, settings.results)

    skipped = [0]
    stream: Iterable[Item] = source
    if isinstance(source, FileSource):
        stream = _with_a_payload(source, settings.limit)
    if isinstance(source, ScenarioSource) and worth_feeding(
        rate=settings.rate, limit=settings.limit
    ):
        stream = fed(source.names, seed=source.seed, start_at=source.start_at)
    items = to_send(stream, limit=settings.limit, acked=previous.acked, skipped=skipped)
    # The first item is drawn now: a source that cannot start (a scenario file whose override
    # cannot be set, a changed stdin source) fails here, before the results file is opened.
    first = next(items, None)
    if first is not None:
        items = itertools.chain([first], items)
    return _Plan(
        items=items,
        described=described,
        seed=seed if isinstance(source, ScenarioSource) else None,
        start_at=start_at,
        skipped=skipped,
        files=tuple(str(path) for path in files),
        scenarios=() if files else tuple(scenarios or [DEFAULT_SCENARIO]),
    )


def _with_a_payload(source: FileSource, limit: int | None) -> Iterator[Item]:
    """The files' items, once it is known that at least one of them (within -n) is a payload.

    Files that hold no payload at all (empty, or every line bad) are refused like `send`
    refuses them: InputError (exit 2), before the results file is opened or anything is sent.
    The bad lines met before the first payload are kept to be reported as the run reaches
    them; past _PEEK_BAD of them the rest is scanned without keeping anything, and the files
    are read again from the start (stdin, which cannot be, is then sent as it comes).
    """
    items = iter(source)
    bad: list[Item] = []
    for item in items:
        if limit is not None and item.index >= limit:
            break
        if item.body is not None:
            if item.index > len(bad):  # some bad lines were not kept: read again from the start
                return iter(FileSource(source.paths))
            return itertools.chain(bad, [item], items)
        if len(bad) < _PEEK_BAD:
            bad.append(item)
        elif "-" in source.paths:
            return itertools.chain(bad, [item], items)  # stdin cannot be read again
    if not bad:
        raise InputError("no payloads to send: the input files hold none; nothing was sent")
    first = bad[0]
    within = f" within -n {limit}" if limit is not None else ""
    raise InputError(
        f"no payloads to send: no line of the input files{within} is a payload (the first: "
        f"{first.where}: {first.problem}); nothing was sent"
    )


def _open_results(
    settings: ReplaySettings,
    config: DeliveryConfig,
    plan: _Plan,
    previous: Previous,
    shown: str,
) -> ResultsWriter | None:
    """Opens the results log and writes its header; InputError (nothing sent) if it cannot."""
    if settings.results is None:
        return None
    existed = settings.results.exists()
    writer = ResultsWriter(settings.results, append=settings.resume)
    header = {
        "type": "header",
        "kit": f"vss-emitter {__version__}",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "resumed": previous.header is not None,
        "target": shown,
        "source": plan.described,
        "rate": rate_text(settings.rate),
        "concurrency": settings.concurrency,
        "duration_s": settings.duration_s,
        "limit": settings.limit,
        "ramp_s": settings.ramp_s,
        "retries": list(config.retries),
        "workers": settings.workers,
    }
    writer.write(json.dumps(header) + "\n")
    writer.flush()
    if writer.error is not None:
        writer.close()
        if not existed:
            # Only this run made it; left behind, the rerun would be told it exists.
            settings.results.unlink(missing_ok=True)
        raise InputError(f"{writer.error}; nothing was sent")
    return writer


def _execute(run: Run, writer: ResultsWriter | None) -> None:
    """Runs the engine on its own event loop; re-raises what stopped the source."""
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner, quiet_gc():
            runner.run(run.main())
    finally:
        if writer is not None:
            writer.close()
    if run.fatal is not None:
        raise run.fatal


def _report(
    run: Run | Tally,
    settings: ReplaySettings,
    plan: _Plan,
    shown: str,
    writer_error: str | None,
    *,
    skipped: int,
) -> ReplayReport:
    error = None
    if writer_error is not None:
        error = (
            f"{writer_error}; the run stopped early and the log misses some deliveries: "
            "free space, then rerun with --resume (payloads acked but not logged are sent "
            "again)"
        )
    lag = run.lag
    saturated = lag.saturated
    sender_lag = None
    # Behind the schedule, whoever's the cause, or slots due before --duration ended unsent.
    if lag.saturated_s or lag.receiver_bound_s or lag.unsent:
        sender_lag = {
            "behind_from_s": None if lag.behind_from_s is None else round(lag.behind_from_s, 2),
            "max_lag_ms": round(lag.max_lag_s * 1000.0, 1),
            "final_lag_ms": round(lag.final_lag_s * 1000.0, 1),
            "late": run.late,
            "unsent": lag.unsent,
            "unsent_exact": lag.unsent_exact,
            "sender_behind_s": round(lag.saturated_s, 2),
            "receiver_bound_s": round(lag.receiver_bound_s, 2),
        }
    bad_input = run.outcomes.get(BAD_INPUT, 0)  # counted with the failures, never sent
    span = run.last_send - run.first_send
    achieved = (run.sent - 1) / span if run.sent > 1 and span > 0 else float(run.sent)
    return ReplayReport(
        target=shown,
        rate=settings.rate,
        concurrency=settings.concurrency,
        seed=plan.seed,
        sent=run.sent,
        acked=run.acked,
        failed=run.failed - bad_input,
        late=run.late,
        skipped=skipped,
        retried=run.retried,
        duration_s=max(0.0, run.ended - run.started),
        achieved_rate=achieved,
        latency_ms=Percentiles.of(run.from_schedule.flush()),
        latency_from_send_ms=Percentiles.of(run.from_send.flush()),
        outcomes=dict(run.outcomes),
        interrupted=run.interrupted,
        results=str(settings.results) if settings.results is not None else None,
        source=plan.described,
        error=error,
        sender_saturated=saturated,
        sender_lag=sender_lag,
        timeline=run.timeline.as_list(),
        latency_percentiles={
            "from_schedule": distribution(run.from_schedule.flush()),
            "from_send": distribution(run.from_send.flush()),
        },
        workers=settings.workers,
        cpu_s=lag.cpu_s,
        bad_input=bad_input,
    )
