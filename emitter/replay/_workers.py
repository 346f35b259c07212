"""`replay --workers N`: N sender processes share one schedule, one results log and one report.

Worker k sends schedule slots i = k, k+N, k+2N, ... of the one-process schedule and the
payloads at the same positions of the stream to send (after --resume's skips), so the merged
stream is the one a single process would send. Each worker reads the source itself (payload
streams are not shareable between processes), appends whole lines to the shared results log
(O_APPEND), and hands back its counts, histograms and timeline, which add up into one report.
Workers start at one shared instant, run in their own process group and get Ctrl-C from the
parent once, so the grace period means the same as with one process.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import queue
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from emitter.deliver import DeliveryConfig
from emitter.errors import UsageError, VssEmitterError
from emitter.replay._engine import Run
from emitter.replay._loop import loop_factory, quiet_gc, target_tls
from emitter.replay._results import Acked, ResultsWriter, to_send
from emitter.replay._stats import Lag, Latencies, Timeline
from emitter.replay._types import DEFAULT_SCENARIO, Progress, ReplaySettings
from emitter.sources import FileSource, Item, ScenarioSource

_START_AFTER_S = 1.0  # time for every worker to start, import and prime before slot 0


MAX_WORKERS = 64  # each worker is a process with its own loop, source reader and sockets


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def max_workers() -> int:
    """The most --workers this machine takes: twice its usable cores, at most 64.

    A worker is a sender that needs a core of its own; beyond the cores, workers only take
    turns on them (and 1,000 of them spent their run starting up, sending nothing).
    """
    return min(MAX_WORKERS, 2 * _cores())


def workers_count(text: str) -> int:
    """`4` -> 4; `auto` -> one per core but one (at least 1). At most max_workers()."""
    if text.strip().lower() == "auto":
        return max(1, _cores() - 1)
    try:
        count = int(text)
    except ValueError:
        count = 0
    check_workers(count, shown=text)
    return count


def check_workers(count: int, *, shown: object = None) -> None:
    """UsageError unless 1 <= count <= max_workers(), naming the bound and why."""
    top = max_workers()
    if 1 <= count <= top:
        return
    raise UsageError(
        f"Invalid --workers `{count if shown is None else shown}`: expected 1 to {top} "
        f"(at most twice this machine's {_cores()} core(s), and never over {MAX_WORKERS}), "
        "or auto, e.g. --workers 2"
    )


@dataclass
class Tally:
    """What a run adds up to: the engine's counts and figures, mergeable across workers."""

    sent: int = 0
    acked: int = 0
    failed: int = 0
    retried: int = 0
    late: int = 0
    skipped: int = 0
    first_send: float = 0.0
    last_send: float = 0.0
    started: float = 0.0
    ended: float = 0.0
    interrupted: bool = False
    outcomes: Counter[str] = field(default_factory=Counter)
    from_schedule: Latencies = field(default_factory=Latencies)
    from_send: Latencies = field(default_factory=Latencies)
    timeline: Timeline = field(default_factory=Timeline)
    lag: Lag = field(default_factory=Lag)

    def add(self, part: dict[str, Any]) -> None:
        """Adds one worker's figures (as `_part` made them)."""
        if part["sent"]:
            first = part["first_send"]
            self.first_send = first if self.sent == 0 else min(self.first_send, first)
            self.last_send = max(self.last_send, part["last_send"])
        self.started = part["started"] if not self.started else min(self.started, part["started"])
        self.ended = max(self.ended, part["ended"])
        for name in ("sent", "acked", "failed", "retried", "late"):
            setattr(self, name, getattr(self, name) + part[name])
        self.skipped = max(self.skipped, part["skipped"])  # every worker skips the same ones
        self.interrupted = self.interrupted or part["interrupted"]
        self.outcomes.update(part["outcomes"])
        self.from_schedule.merge(part["from_schedule"])
        self.from_send.merge(part["from_send"])
        self.timeline.merge(part["timeline"])
        lag: Lag = part["lag"]
        mine = self.lag
        mine.saturated_s = max(mine.saturated_s, lag.saturated_s)
        mine.receiver_bound_s = max(mine.receiver_bound_s, lag.receiver_bound_s)
        mine.cpu_s += lag.cpu_s
        if lag.behind_from_s is not None:
            mine.behind_from_s = (
                lag.behind_from_s
                if mine.behind_from_s is None
                else min(mine.behind_from_s, lag.behind_from_s)
            )
        mine.max_lag_s = max(mine.max_lag_s, lag.max_lag_s)
        mine.final_lag_s = max(mine.final_lag_s, lag.final_lag_s)
        mine.unsent += lag.unsent
        mine.unsent_exact = mine.unsent_exact and lag.unsent_exact


def _part(run: Run, skipped: int) -> dict[str, Any]:
    return {
        "sent": run.sent,
        "acked": run.acked,
        "failed": run.failed,
        "retried": run.retried,
        "late": run.late,
        "skipped": skipped,
        "first_send": run.first_send,
        "last_send": run.last_send,
        "started": run.started,
        "ended": run.ended,
        "interrupted": run.interrupted,
        "outcomes": dict(run.outcomes),
        "from_schedule": run.from_schedule.encode(),
        "from_send": run.from_send.encode(),
        "timeline": run.timeline.buckets,
        "lag": run.lag,
    }


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker process needs to rebuild its share of the run (all picklable)."""

    url: str
    settings: ReplaySettings
    config: DeliveryConfig
    headers: dict[str, str]
    files: tuple[str, ...]
    scenarios: tuple[str, ...]
    seed: int | None
    start_at: datetime | None
    acked: Acked
    workers: int
    start_wall: float


def run_workers(
    spec: WorkerSpec,
    *,
    on_progress: Callable[[Progress], None] | None,
    notice: Callable[[str], None],
) -> tuple[Tally, str | None, VssEmitterError | None]:
    """Runs the workers to the end; returns the merged tally, a results-file error, a fatal."""
    context = multiprocessing.get_context("spawn")  # no fork: the caller may run threads
    results: multiprocessing.queues.Queue[Any] = context.Queue()
    procs = [
        context.Process(target=_worker, args=(spec, k, results), daemon=True)
        for k in range(spec.workers)
    ]
    for proc in procs:
        proc.start()
    tally = Tally()
    error: str | None = None
    fatal: VssEmitterError | None = None
    progress: dict[int, Progress] = {}
    done = 0
    with _forwarding_signals(procs):
        while done < len(procs):
            try:
                kind, k, payload = results.get(timeout=0.25)
            except queue.Empty:
                if not any(proc.is_alive() for proc in procs) and results.empty():
                    raise UsageError("a --workers process died without a report") from None
                continue
            if kind == "progress":
                progress[k] = payload
                if on_progress is not None:
                    on_progress(_sum_progress(progress.values()))
            elif kind == "notice":
                notice(payload)
            elif kind == "done":
                done += 1
                part, worker_error, worker_fatal = payload
                tally.add(part)
                error = error or worker_error
                fatal = fatal or worker_fatal
    for proc in procs:
        proc.join(timeout=10)
    return tally, error, fatal


def _sum_progress(parts: Any) -> Progress:
    parts = list(parts)
    return Progress(
        elapsed_s=max(p.elapsed_s for p in parts),
        sent=sum(p.sent for p in parts),
        acked=sum(p.acked for p in parts),
        failed=sum(p.failed for p in parts),
        in_flight=sum(p.in_flight for p in parts),
        late=sum(p.late for p in parts),
        rate=sum(p.rate for p in parts),
        p99_ms=max(p.p99_ms for p in parts),
    )


@contextlib.contextmanager
def _forwarding_signals(procs: list[Any]) -> Iterator[None]:
    """Ctrl-C and SIGTERM reach the workers once, from here (they run in their own group)."""

    def forward(signum: int, _frame: FrameType | None) -> None:
        for proc in procs:
            if proc.pid is not None and proc.is_alive():
                with contextlib.suppress(OSError):
                    os.kill(proc.pid, signum)

    try:
        previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: the workers get signals only directly
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _worker(spec: WorkerSpec, k: int, results: Any) -> None:
    """One worker process: its share of the stream, on its own event loop."""
    os.setpgid(0, 0)  # the terminal's Ctrl-C goes to the parent, which forwards it once
    import asyncio

    writer: ResultsWriter | None = None
    run: Run | None = None
    skipped = [0]
    try:
        settings = spec.settings
        if settings.results is not None:
            writer = ResultsWriter(Path(settings.results), append=True)
        source: FileSource | ScenarioSource
        if spec.files:
            source = FileSource(list(spec.files))
        else:
            scenarios = list(spec.scenarios) or [DEFAULT_SCENARIO]
            source = ScenarioSource(scenarios, seed=spec.seed or 0, start_at=spec.start_at)
        stream: Iterator[Item] = to_send(
            source, limit=settings.limit, acked=spec.acked, skipped=skipped
        )
        items = itertools.islice(stream, k, None, spec.workers)
        last_progress = [0.0]

        def progress(snapshot: Progress) -> None:
            now = time.monotonic()
            if now - last_progress[0] >= 0.25:
                last_progress[0] = now
                results.put(("progress", k, snapshot))

        run = Run(
            url=spec.url,
            items=items,
            settings=settings,
            config=spec.config,
            headers=spec.headers,
            tls=target_tls(spec.url, spec.config),
            writer=writer,
            on_progress=progress,
            notice=lambda text: results.put(("notice", k, text)),
            stride=spec.workers,
            phase=k,
            start_wall=spec.start_wall,
        )
        with asyncio.Runner(loop_factory=loop_factory()) as runner, quiet_gc():
            runner.run(run.main())
    except VssEmitterError as exc:
        results.put(("done", k, (_part(run, skipped[0]) if run else _empty(), None, exc)))
        return
    finally:
        if writer is not None:
            writer.close()
    error = writer.error if writer is not None else None
    results.put(("done", k, (_part(run, skipped[0]), error, run.fatal)))


def _empty() -> dict[str, Any]:
    tally = Tally()
    return {
        **dict.fromkeys(("sent", "acked", "failed", "retried", "late", "skipped"), 0),
        **dict.fromkeys(("first_send", "last_send", "started", "ended"), 0.0),
        "interrupted": False,
        "outcomes": {},
        "from_schedule": tally.from_schedule.encode(),
        "from_send": tally.from_send.encode(),
        "timeline": {},
        "lag": Lag(),
    }


def start_wall() -> float:
    """The shared instant slot 0 is due, in unix seconds."""
    return time.time() + _START_AFTER_S
