"""The replay load engine: open-loop paced delivery, honest latency, a results log and resume.

Request i is due at a time fixed in advance (see emitter._pacing), whatever the receiver does;
its latency is measured from that due time as well as from the actual send, so a receiver that
stalls shows its stall (no coordinated omission). The HTTP engine is aiohttp on uvloop: httpx's
AsyncClient fell behind above ~1k req/s and collapsed under 64 concurrent requests on this kit's
benchmark machine (encode/httpx#3215), aiohttp on uvloop held 8k req/s open loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import itertools
import json
import os
import signal
import socket
import ssl
import stat
import tempfile
import threading
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import IO, Any

import aiohttp
import yarl
from hdrh.histogram import HdrHistogram

from emitter import __version__
from emitter._pacing import DEFAULT_LATE_AFTER_S, Pacer, Slot
from emitter._source import FileSource, Item, ScenarioSource
from emitter._timing import check_instant
from emitter.deliver import (
    DeliveryConfig,
    Outcome,
    check_url,
    classify_status,
    config_secrets,
    display_url,
    redact,
    request_headers,
)
from emitter.errors import (
    EXIT_CONTRACT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    InputError,
    UsageError,
    VssEmitterError,
)

__all__ = [
    "BAD_INPUT",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_GRACE_S",
    "INTERRUPTED",
    "Percentiles",
    "Progress",
    "ReplayReport",
    "ReplaySettings",
    "check_report_path",
    "classify_exception",
    "format_progress",
    "format_summary",
    "replay",
    "tls_context",
    "write_report_json",
]

DEFAULT_CONCURRENCY = 256
DEFAULT_GRACE_S = 5.0
DEFAULT_SCENARIO = "mixed"
INTERRUPTED = "interrupted"  # in flight when the grace period after Ctrl-C ran out
BAD_INPUT = "bad_input"  # an input line that is not a JSON object: reported, never sent
_HIST_LOW_US = 1
_HIST_HIGH_US = 3_600_000_000  # 1 h
_FLUSH_EVERY_S = 0.1
_PROGRESS_EVERY_S = 0.25
_MAX_NOTICES = 10
_TIMER_TICK_S = 0.001  # uvloop (libuv) timer resolution
_DENSE_SLACK = 1 << 16  # how far past the dense array an acked index may grow it
_NO_INDEX = float("inf")
_MAX_RESULTS_LINE = 1 << 20  # a results record is ~300 bytes; a longer line is not one


# --------------------------------------------------------------------------- settings and results


@dataclass(frozen=True)
class ReplaySettings:
    """How hard and how long to replay; what to record."""

    rate: float | None  # requests per second; None = `max` (as fast as the receiver allows)
    concurrency: int = DEFAULT_CONCURRENCY  # requests in flight at most
    duration_s: float | None = None  # stop scheduling after this long
    limit: int | None = None  # -n: only the first N payloads of the source
    ramp_s: float = 0.0  # climb linearly from 0 to `rate` over this long
    results: Path | None = None  # NDJSON log, one record per delivery attempt
    resume: bool = False  # skip what `results` says was acked, append to it
    grace_s: float = DEFAULT_GRACE_S  # after Ctrl-C, how long in-flight requests may finish
    late_after_s: float = DEFAULT_LATE_AFTER_S


@dataclass(frozen=True)
class Percentiles:
    """Latency percentiles in milliseconds."""

    p50: float
    p90: float
    p99: float
    p999: float
    max: float

    @classmethod
    def of(cls, hist: HdrHistogram) -> Percentiles:
        if hist.get_total_count() == 0:
            return cls(0.0, 0.0, 0.0, 0.0, 0.0)
        values = hist.get_percentile_to_value_dict([50, 90, 99, 99.9])
        return cls(
            values[50] / 1000.0,
            values[90] / 1000.0,
            values[99] / 1000.0,
            values[99.9] / 1000.0,
            hist.get_max_value() / 1000.0,
        )

    def as_dict(self) -> dict[str, float]:
        return {
            "p50": round(self.p50, 3),
            "p90": round(self.p90, 3),
            "p99": round(self.p99, 3),
            "p999": round(self.p999, 3),
            "max": round(self.max, 3),
        }


@dataclass(frozen=True)
class Progress:
    """A snapshot of a run, a few times a second, for a progress line."""

    elapsed_s: float
    sent: int
    acked: int
    failed: int
    in_flight: int
    late: int
    rate: float  # sends per second so far
    p99_ms: float  # from the scheduled time


@dataclass(frozen=True)
class ReplayReport:
    """The outcome of one replay run; `exit_code` is what the CLI returns."""

    target: str  # secrets redacted
    rate: float | None
    concurrency: int
    seed: int | None
    sent: int  # payloads whose first attempt went out
    acked: int
    failed: int  # payloads not acked in the end (bad input and interrupted included)
    late: int  # first attempts that left after their due time (+ tolerance)
    skipped: int  # acked in an earlier run (--resume)
    retried: int  # attempts beyond the first
    duration_s: float
    achieved_rate: float  # first attempts per second, first send to last send
    latency_ms: Percentiles  # from the scheduled time (corrected for coordinated omission)
    latency_from_send_ms: Percentiles  # from the actual send (what a closed-loop tool shows)
    outcomes: Mapping[str, int]  # final outcome per payload
    interrupted: bool
    results: str | None = None
    source: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None  # why the run stopped early (the results file failed), if it did

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return EXIT_USAGE
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_OK if self.failed == 0 else EXIT_CONTRACT

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "rate": _rate_text(self.rate),
            "rate_per_s": self.rate,
            "concurrency": self.concurrency,
            "seed": self.seed,
            "source": dict(self.source),
            "sent": self.sent,
            "acked": self.acked,
            "failed": self.failed,
            "late": self.late,
            "skipped": self.skipped,
            "retried": self.retried,
            "duration_s": round(self.duration_s, 3),
            "achieved_rate": round(self.achieved_rate, 2),
            "latency_ms": self.latency_ms.as_dict(),
            "latency_from_send_ms": self.latency_from_send_ms.as_dict(),
            "outcomes": dict(sorted(self.outcomes.items())),
            "interrupted": self.interrupted,
            "results": self.results,
            "error": self.error,
            "exit_code": self.exit_code,
            "kit": f"vss-emitter {__version__}",
        }


def write_report_json(report: ReplayReport, path: str | os.PathLike[str]) -> None:
    """Writes the report atomically: a reader never sees half a file."""
    target = Path(path)
    text = json.dumps(report.as_dict(), indent=2) + "\n"
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent or Path("."), prefix=f".{target.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, target)
    except OSError as exc:
        raise InputError(f"cannot write report `{path}`: {exc.strerror or exc}") from None


# --------------------------------------------------------------------------- classification


def classify_exception(exc: BaseException) -> Outcome:
    """The Outcome of an aiohttp failure; mirrors deliver.py's mapping of httpx failures.

    Refused, DNS, TLS, timeout, reset and not-HTTP mean the same here as in `send` and
    `check`, so a receiver's fault reads the same whichever tool met it.
    """
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return Outcome.DNS
    if isinstance(exc, aiohttp.ClientSSLError | aiohttp.ServerFingerprintMismatch):
        return Outcome.TLS
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return Outcome.TIMEOUT
    if isinstance(exc, aiohttp.ClientConnectorError):
        cause = exc.os_error
        if isinstance(cause, ConnectionRefusedError):
            return Outcome.REFUSED
        if isinstance(cause, socket.gaierror):
            return Outcome.DNS
        if isinstance(cause, ssl.SSLError):
            return Outcome.TLS
        if isinstance(cause, ConnectionResetError):
            return Outcome.RESET
        return Outcome.ERROR
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return Outcome.RESET
    if isinstance(exc, aiohttp.ClientOSError):
        # "Can not write request body" carries no errno; the reset is in its cause.
        for link in _causes(exc):
            if isinstance(link, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
                return Outcome.RESET
            if isinstance(link, OSError) and link.errno in _RESET_ERRNOS:
                return Outcome.RESET
        return Outcome.ERROR
    if isinstance(exc, aiohttp.ClientResponseError):
        # aiohttp wraps its HTTP parser's errors (a bad status line, garbage) in this.
        return Outcome.NOT_HTTP
    if isinstance(exc, ssl.SSLError):
        return Outcome.TLS
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return Outcome.RESET
    return Outcome.ERROR


_RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED})


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


# --------------------------------------------------------------------------- results log


class _Acked:
    """Which source indexes an earlier run acked, in 8 bytes per index.

    A set of (index, sessionId) tuples would cost ~200 bytes each, 200 MB for a million; an
    array of sessionId hashes keeps resume of a big file small. 0 means "not acked". An index
    far beyond the ones seen so far (a foreign or corrupt log: 10**12) goes to a dict
    instead, so memory follows the number of records, never the largest index.
    """

    def __init__(self) -> None:
        self._hashes = array("q")
        self._sparse: dict[int, int] = {}
        self._sparse_min = _NO_INDEX  # the smallest index in _sparse
        self.count = 0
        self.max_index = -1

    @staticmethod
    def _key(session_id: str | None) -> int:
        return (hash(session_id) & 0x3FFF_FFFF_FFFF_FFFF) or 1

    def add(self, index: int, session_id: str | None) -> None:
        hashes = self._hashes
        size = len(hashes)
        if size <= index <= 2 * size + _DENSE_SLACK:
            hashes.frombytes(bytes(hashes.itemsize * (index + 1 - size)))
            if index >= self._sparse_min:
                self._densify()
        if index < len(hashes):
            if hashes[index] == 0:
                self.count += 1
            hashes[index] = self._key(session_id)
        else:
            if index not in self._sparse:
                self.count += 1
            self._sparse[index] = self._key(session_id)
            self._sparse_min = min(self._sparse_min, index)
        self.max_index = max(self.max_index, index)

    def _densify(self) -> None:
        """Moves the sparse entries the grown array now covers into it."""
        size = len(self._hashes)
        for index in [i for i in self._sparse if i < size]:
            self._hashes[index] = self._sparse.pop(index)
        self._sparse_min = min(self._sparse, default=_NO_INDEX)

    def recorded(self, index: int) -> int:
        """The stored sessionId hash of `index`, 0 if it was not acked."""
        if index < len(self._hashes):
            return self._hashes[index]
        return self._sparse.get(index, 0) if self._sparse else 0

    def __contains__(self, item: Item) -> bool:
        recorded = self.recorded(item.index)
        if recorded == 0:
            return False
        if recorded != self._key(item.session_id):
            raise UsageError(
                f"--resume: the results file does not match the source: payload {item.index} "
                f"({item.where}, sessionId {item.session_id!r}) was acked with another "
                "sessionId; resume with the same source, or start a new results file"
            )
        return True


@dataclass(frozen=True)
class _Previous:
    header: dict[str, Any] | None
    acked: _Acked
    unreadable: int


def _load_results(path: Path) -> _Previous:
    acked = _Acked()
    header: dict[str, Any] | None = None
    unreadable = 0
    try:
        stream = path.open("rb")
    except FileNotFoundError:
        return _Previous(None, acked, 0)
    except OSError as exc:
        raise InputError(f"cannot read results `{path}`: {exc.strerror}") from None
    with stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            # A device or a pipe (/dev/zero) would never end or could not be appended to.
            raise UsageError(
                f"results `{path}` is not a regular file; expected the NDJSON log of an "
                "earlier run, e.g. --results run1.ndjson --resume"
            )
        try:
            while raw := stream.readline(_MAX_RESULTS_LINE):
                if len(raw) == _MAX_RESULTS_LINE and not raw.endswith(b"\n"):
                    while (rest := stream.readline(_MAX_RESULTS_LINE)) and not rest.endswith(b"\n"):
                        pass
                    unreadable += 1
                    continue
                record = _results_record(raw)
                if record is None:
                    # A crash can leave half a last line; everything before it still counts.
                    unreadable += 1
                    continue
                kind = record.get("type")
                if kind == "header":
                    if header is None:
                        header = record
                elif kind == "delivery" and record.get("outcome") == Outcome.ACKED.value:
                    index = record.get("index")
                    sid = record.get("session_id")
                    if type(index) is int and index >= 0 and (sid is None or isinstance(sid, str)):
                        acked.add(index, sid)
                    else:
                        unreadable += 1
        except OSError as exc:
            raise InputError(f"cannot read results `{path}`: {exc.strerror or exc}") from None
    return _Previous(header, acked, unreadable)


def _results_record(raw: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


class _Discard:
    """Where records go once the results file failed: the run is stopping anyway."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


class _ResultsWriter:
    """Appends one NDJSON record per attempt; flushed every 100 ms and at exit.

    A write that fails (a full disk, a file size limit) never raises into the senders: the
    writer keeps the first error, discards what follows, and calls `on_error` once, so the run
    can stop scheduling and still print its summary.
    """

    def __init__(self, path: Path, *, append: bool) -> None:
        self.path = path
        self.error: str | None = None
        self.on_error: Callable[[], None] | None = None
        try:
            self._file: IO[str] = path.open(
                "a" if append else "x", encoding="utf-8", buffering=1 << 16
            )
        except FileExistsError:
            raise UsageError(
                f"results file `{path}` already exists: pass --resume to continue that run, "
                "or choose a new file, e.g. --results run2.ndjson"
            ) from None
        except OSError as exc:
            raise InputError(f"cannot write results `{path}`: {exc.strerror}") from None
        self._out: IO[str] | _Discard = self._file
        if append and path.stat().st_size > 0:
            with path.open("rb") as check:
                check.seek(-1, os.SEEK_END)
                if check.read(1) != b"\n":
                    self.write("\n")  # a crash left half a line: do not glue onto it

    def write(self, text: str) -> None:
        try:
            self._out.write(text)
        except OSError as exc:
            self._failed(exc)

    def flush(self) -> None:
        try:
            self._out.flush()
        except ValueError:
            pass  # already closed
        except OSError as exc:
            self._failed(exc)

    def close(self) -> None:
        self.flush()
        self.on_error = None
        with contextlib.suppress(OSError, ValueError):
            self._file.close()  # after a failure its buffer still holds what could not go out

    def _failed(self, exc: OSError) -> None:
        if self.error is not None:
            return
        self.error = f"cannot write results file `{self.path}` ({exc.strerror or exc})"
        self._out = _Discard()
        if self.on_error is not None:
            self.on_error()


# --------------------------------------------------------------------------- the engine


class _Latencies:
    """An HDR histogram (1 us .. 1 h, 3 significant digits) fed in batches.

    hdrh's record_value() is pure Python and costs as much as a tenth of a request at full
    speed. The hot path only counts each value, rounded to the 11 significant bits that are
    exactly hdrh's bucket resolution at 3 digits, in a dict; flush() hands the few distinct
    values to hdrh. Nothing is lost: a rounded value lands in the same hdrh bucket.
    """

    __slots__ = ("hist", "pending")

    def __init__(self) -> None:
        self.hist = HdrHistogram(_HIST_LOW_US, _HIST_HIGH_US, 3)
        self.pending: dict[int, int] = {}

    def add(self, seconds: float) -> None:
        us = int(seconds * 1e6)
        shift = us.bit_length() - 11
        if shift > 0:
            us = (us >> shift) << shift
        pending = self.pending
        pending[us] = pending.get(us, 0) + 1

    def flush(self) -> HdrHistogram:
        record = self.hist.record_value
        for value, count in self.pending.items():
            # hdrh drops a value above its 1 h range rather than clamping it.
            record(min(max(value, _HIST_LOW_US), _HIST_HIGH_US), count)
        self.pending.clear()
        return self.hist


class _Run:
    """One replay run on one event loop: the senders, the counters and the results log."""

    def __init__(
        self,
        *,
        url: str,
        items: Iterator[Item],
        settings: ReplaySettings,
        config: DeliveryConfig,
        headers: dict[str, str],
        tls: ssl.SSLContext | bool,
        writer: _ResultsWriter | None,
        on_progress: Callable[[Progress], None] | None,
        notice: Callable[[str], None],
    ) -> None:
        self.url = yarl.URL(url)
        if self.url.user is not None and "authorization" in {h.lower() for h in headers}:
            # aiohttp refuses both; the configured auth header is what 8x8 would send.
            self.url = self.url.with_user(None)
        self.items = items
        self.settings = settings
        self.config = config
        self.headers = headers
        self.secrets = config_secrets(config, url=url)
        self.tls = tls
        self.writer = writer
        if writer is not None:
            # A results file that cannot be written stops the run like Ctrl-C does, without
            # the grace limit: what is in flight finishes, nothing new is scheduled.
            writer.on_error = self._stop
        self.on_progress = on_progress
        self.notice = notice
        self.pacer = Pacer(
            rate=settings.rate,
            ramp_s=settings.ramp_s,
            duration_s=settings.duration_s,
            late_after_s=settings.late_after_s,
        )
        self.from_schedule = _Latencies()
        self.from_send = _Latencies()
        self.outcomes: Counter[str] = Counter()
        self.sent = self.acked = self.failed = self.retried = self.in_flight = 0
        self.first_send = self.last_send = 0.0
        self.started = self.ended = 0.0
        self.stopping = False
        self.interrupted = False
        self.fatal: VssEmitterError | None = None
        self.bad_notices = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy: set[asyncio.Task[None] | None] = set()
        self._retries: set[asyncio.Task[None]] = set()
        # Unix time = monotonic + offset: the schedule runs on the monotonic clock, the
        # results log speaks wall-clock seconds.
        self._wall = time.time() - time.monotonic()

    # ---- lifecycle

    async def main(self) -> None:
        loop = asyncio.get_running_loop()
        signals = threading.current_thread() is threading.main_thread()
        if signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.interrupt)
        try:
            async with self._session() as session:
                self.prime()
                self.started = time.monotonic()
                self.pacer.start(self.started)
                ticker = asyncio.create_task(self._tick())
                workers = [
                    asyncio.create_task(self._worker(session))
                    for _ in range(self.settings.concurrency)
                ]
                self._tasks.update(workers)
                await asyncio.wait(workers)
                while self._retries:
                    await asyncio.wait(set(self._retries))
                self.ended = time.monotonic()
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
                for task in workers:
                    if not task.cancelled() and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
        finally:
            if signals:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)

    def _session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=self.settings.concurrency, ssl=self.tls)
        return aiohttp.ClientSession(
            connector=connector,
            headers=self.headers,
            timeout=aiohttp.ClientTimeout(total=self.config.timeout_s),
            cookie_jar=aiohttp.DummyCookieJar(),  # a webhook sender keeps no cookies
            auto_decompress=False,
            trust_env=False,  # 8x8 connects directly; a proxy would blur connection faults
        )

    def interrupt(self) -> None:
        """SIGINT/SIGTERM: stop scheduling, give in-flight requests the grace period."""
        if self.stopping and self.interrupted:
            self._cancel_all()  # a second Ctrl-C: do not wait out the grace period
            return
        self.interrupted = True
        self._stop()
        asyncio.get_running_loop().call_later(self.settings.grace_s, self._cancel_all)

    def _stop(self) -> None:
        self.stopping = True
        for task in self._tasks | self._retries:
            if task not in self._busy:
                task.cancel()  # waiting for its due time: nothing was sent

    def _cancel_all(self) -> None:
        for task in self._tasks | self._retries:
            task.cancel()

    async def _tick(self) -> None:
        last_progress = 0.0
        while True:
            await asyncio.sleep(_FLUSH_EVERY_S)
            if self.writer is not None:
                self.writer.flush()
            self.from_schedule.flush()
            self.from_send.flush()
            now = time.monotonic()
            if self.on_progress is not None and now - last_progress >= _PROGRESS_EVERY_S:
                last_progress = now
                self.on_progress(self.progress(now))

    def progress(self, now: float) -> Progress:
        elapsed = now - self.started
        return Progress(
            elapsed_s=elapsed,
            sent=self.sent,
            acked=self.acked,
            failed=self.failed,
            in_flight=self.in_flight,
            late=self.pacer.late,
            rate=self.sent / elapsed if elapsed > 0 else 0.0,
            p99_ms=self.from_schedule.flush().get_value_at_percentile(99) / 1000.0,
        )

    # ---- the hot path

    def prime(self) -> None:
        """Draws the first item before the clock starts: a scenario source's set-up (loading,
        planning) would otherwise make the first sends late."""
        first = self._next()
        if first is not None:
            self.items = itertools.chain([first], self.items)

    def _next(self) -> Item | None:
        while True:
            try:
                item = next(self.items, None)
            except VssEmitterError as exc:
                self.fatal = exc
                self._stop()
                return None
            if item is None or item.body is not None:
                return item
            self._bad(item)

    async def _worker(self, session: aiohttp.ClientSession) -> None:
        pacer = self.pacer
        clock = time.monotonic
        me = asyncio.current_task()
        while not self.stopping:
            slot = pacer.claim(clock())
            if slot is None:
                return
            item = self._next()
            if item is None:
                return
            due = slot.scheduled
            while (delay := due - clock()) > 0:
                # uvloop's timers tick in whole milliseconds and may fire up to one early;
                # a send before its due time would show a negative latency. The last
                # fraction of a millisecond is waited out by yielding to the loop.
                await asyncio.sleep(delay if delay > _TIMER_TICK_S else 0)
            self._busy.add(me)
            try:
                await self._attempt(session, item, slot.scheduled, 1, slot)
            finally:
                self._busy.discard(me)

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        item: Item,
        scheduled: float,
        attempt: int,
        slot: Slot | None,
    ) -> None:
        clock = time.monotonic
        sent = clock()
        late = slot is not None and self.pacer.sent(slot, sent)
        if attempt == 1:
            if self.sent == 0:
                self.first_send = sent
            self.sent += 1
            self.last_send = sent
        else:
            self.retried += 1
        self.in_flight += 1
        status: int | None = None
        try:
            async with session.post(self.url, data=item.body, allow_redirects=False) as resp:
                status = resp.status
                await resp.read()  # drain, so the connection goes back to the pool
            outcome = classify_status(status, accept_2xx=self.config.accept_2xx)
        except asyncio.CancelledError:
            self.in_flight -= 1
            self._record(item, scheduled, sent, clock(), INTERRUPTED, status, attempt, late)
            self._final(INTERRUPTED)
            raise
        except Exception as exc:  # noqa: BLE001  (every transport failure is an outcome)
            outcome = classify_exception(exc)
            reason = self._reason(exc)
        else:
            reason = ""
        self.in_flight -= 1
        done = clock()
        self.from_schedule.add(done - scheduled)
        self.from_send.add(done - sent)
        self._record(item, scheduled, sent, done, outcome.value, status, attempt, late, reason)
        retries = self.config.retries
        if outcome is Outcome.ACKED:
            self.acked += 1
            self.outcomes[Outcome.ACKED.value] += 1
        elif attempt <= len(retries) and not self.stopping:
            due = done + retries[attempt - 1]
            task = asyncio.create_task(self._retry(session, item, attempt + 1, due, outcome))
            self._retries.add(task)
            task.add_done_callback(self._retries.discard)
        else:
            self._final(outcome.value)

    async def _retry(
        self,
        session: aiohttp.ClientSession,
        item: Item,
        attempt: int,
        due: float,
        last: Outcome,
    ) -> None:
        me = asyncio.current_task()
        clock = time.monotonic
        try:
            while (delay := due - clock()) > 0:
                await asyncio.sleep(delay if delay > _TIMER_TICK_S else 0)
        except asyncio.CancelledError:
            self._final(last.value)  # the run stopped before this retry was due
            raise
        self._busy.add(me)
        try:
            await self._attempt(session, item, due, attempt, None)
        finally:
            self._busy.discard(me)

    def _final(self, outcome: str) -> None:
        self.failed += 1
        self.outcomes[outcome] += 1

    def _bad(self, item: Item) -> None:
        self._final(BAD_INPUT)
        if self.bad_notices < _MAX_NOTICES:
            self.notice(f"{item.where}: {item.problem}; not sent")
        elif self.bad_notices == _MAX_NOTICES:
            self.notice("more bad input lines: not shown (see the results file)")
        self.bad_notices += 1
        if self.writer is not None:
            where = encode_basestring_ascii(item.where)
            problem = encode_basestring_ascii(item.problem)
            self.writer.write(
                f'{{"type":"delivery","index":{item.index},"session_id":null,"where":{where},'
                f'"outcome":"{BAD_INPUT}","problem":{problem},"attempt":0}}\n'
            )

    def _record(
        self,
        item: Item,
        scheduled: float,
        sent: float,
        done: float,
        outcome: str,
        status: int | None,
        attempt: int,
        late: bool,
        reason: str = "",
    ) -> None:
        if self.writer is None:
            return
        sid = "null" if item.session_id is None else encode_basestring_ascii(item.session_id)
        wall = self._wall
        self.writer.write(
            f'{{"type":"delivery","index":{item.index},"session_id":{sid},'
            f'"scheduled":{scheduled + wall:.6f},"sent":{sent + wall:.6f},'
            f'"latency_ms":{(done - scheduled) * 1000.0:.3f},'
            f'"service_ms":{(done - sent) * 1000.0:.3f},"outcome":"{outcome}",'
            f'"status":{"null" if status is None else status},"attempt":{attempt},'
            f'"late":{"true" if late else "false"}'
            + (f',"reason":{encode_basestring_ascii(reason)}}}\n' if reason else "}\n")
        )

    def _reason(self, exc: BaseException) -> str:
        text = " ".join(str(exc).split()) or "no detail"
        return redact(f"{type(exc).__name__}: {text}"[:300], self.secrets)


# --------------------------------------------------------------------------- the entry point


def _rate_text(rate: float | None) -> str:
    return "max" if rate is None else f"{rate:g}/s"


def _to_send(
    source: Iterable[Item], *, limit: int | None, acked: _Acked, skipped: list[int]
) -> Iterator[Item]:
    for item in source:
        if limit is not None and item.index >= limit:
            return
        if acked.count and item.body is not None and item in acked:
            skipped[0] += 1
            continue
        yield item


@contextlib.contextmanager
def _quiet_gc() -> Iterator[None]:
    """Keeps the cyclic GC from scanning the interpreter's long-lived objects mid-run.

    Measured at 5k req/s: with default GC settings, full collections (which walk every object
    of aiohttp, the generator and the stdlib) stalled the loop for tens of milliseconds, made a
    third of the sends late and cut throughput at `max` by a third. Freezing what exists at
    the start and collecting young objects less often removes both; the run's own garbage is
    still collected. Everything is restored afterwards.
    """
    threshold = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


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
) -> ReplayReport:
    """Replays fixture files, or payloads generated from scenarios, against `url`.

    Files are streamed; with no files the `mixed` scenario is used. A scenario source is
    endless, so it needs settings.limit or settings.duration_s. With --resume, the seed and
    start time default to the ones stored in the results file. `draw_seed` picks a seed when
    none is given or stored (the CLI's prints it). Raises the kit's errors for anything that
    stops the run from starting; network faults are outcomes in the report.
    """
    notice = on_notice or (lambda _text: None)
    target = check_url(url)
    headers = request_headers(config)
    if files and scenarios:
        raise UsageError("give fixture files or --scenario, not both")
    if settings.concurrency < 1:
        raise UsageError(f"Invalid concurrency `{settings.concurrency}`: expected 1 or more")
    if settings.rate is None and settings.ramp_s > 0:
        raise UsageError("--ramp needs a rate to climb to, e.g. --rate 200/s --ramp 30s")
    if settings.resume and settings.results is None:
        raise UsageError("--resume needs --results FILE: the file tells what was already acked")
    # Everything that can refuse the run is checked before the results file is touched, so
    # a refused run leaves no header behind (and its rerun is not told "already exists").
    tls = tls_context(config)
    previous = _Previous(None, _Acked(), 0)
    if settings.resume and settings.results is not None:
        previous = _load_results(settings.results)
        if previous.unreadable:
            notice(f"{settings.results}: {previous.unreadable} unreadable line(s) ignored")
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
            start_at = _stored_start(stored["start_at"], settings.results)
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
        _verify_acked(FileSource(source.paths), previous.acked, settings.results)

    skipped = [0]
    items = _to_send(source, limit=settings.limit, acked=previous.acked, skipped=skipped)
    # The first item is drawn now: a source that cannot start (a scenario file whose override
    # cannot be set, a changed stdin source) fails here, before the results file is opened.
    first = next(items, None)
    if first is not None:
        items = itertools.chain([first], items)

    shown = redact(display_url(target), config_secrets(config, url=target))
    writer: _ResultsWriter | None = None
    if settings.results is not None:
        existed = settings.results.exists()
        writer = _ResultsWriter(settings.results, append=settings.resume)
        header = {
            "type": "header",
            "kit": f"vss-emitter {__version__}",
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "resumed": previous.header is not None,
            "target": shown,
            "source": described,
            "rate": _rate_text(settings.rate),
            "concurrency": settings.concurrency,
            "duration_s": settings.duration_s,
            "limit": settings.limit,
            "ramp_s": settings.ramp_s,
            "retries": list(config.retries),
        }
        writer.write(json.dumps(header) + "\n")
        writer.flush()
        if writer.error is not None:
            writer.close()
            if not existed:
                # Only this run made it; left behind, the rerun would be told it exists.
                settings.results.unlink(missing_ok=True)
            raise InputError(f"{writer.error}; nothing was sent")

    run = _Run(
        url=target,
        items=items,
        settings=settings,
        config=config,
        headers=headers,
        tls=tls,
        writer=writer,
        on_progress=on_progress,
        notice=notice,
    )
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner, _quiet_gc():
            runner.run(run.main())
    finally:
        if writer is not None:
            writer.close()
    if run.fatal is not None:
        raise run.fatal
    error = None
    if writer is not None and writer.error is not None:
        error = (
            f"{writer.error}; the run stopped early and the log misses some deliveries: "
            "free space, then rerun with --resume (payloads acked but not logged are sent "
            "again)"
        )

    span = run.last_send - run.first_send
    achieved = (run.sent - 1) / span if run.sent > 1 and span > 0 else float(run.sent)
    return ReplayReport(
        target=shown,
        rate=settings.rate,
        concurrency=settings.concurrency,
        seed=seed if isinstance(source, ScenarioSource) else None,
        sent=run.sent,
        acked=run.acked,
        failed=run.failed,
        late=run.pacer.late,
        skipped=skipped[0],
        retried=run.retried,
        duration_s=max(0.0, run.ended - run.started),
        achieved_rate=achieved,
        latency_ms=Percentiles.of(run.from_schedule.flush()),
        latency_from_send_ms=Percentiles.of(run.from_send.flush()),
        outcomes=dict(run.outcomes),
        interrupted=run.interrupted,
        results=str(settings.results) if settings.results is not None else None,
        source=described,
        error=error,
    )


def tls_context(config: DeliveryConfig) -> ssl.SSLContext | bool:
    """What aiohttp verifies the receiver with; UsageError for a CA bundle it cannot use."""
    if not config.verify_tls:
        return False
    if not config.ca_bundle:
        return True
    try:
        return ssl.create_default_context(cafile=config.ca_bundle)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise UsageError(
            f"cannot use CA bundle `{config.ca_bundle}`: {exc}; expected a PEM "
            "file, e.g. --ca-bundle ./receiver-ca.pem"
        ) from None


def _stored_start(text: str, results: Path | None) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise UsageError(
            f"--resume: `{results}` stores an unreadable start_at {text!r}; pass --start-at, "
            "e.g. --start-at 2026-11-24T10:00:00Z, or start a new results file"
        )
    return value


def _verify_acked(source: Iterable[Item], acked: _Acked, results: Path | None) -> None:
    """Refuses a resume whose file source changed, before anything is sent.

    Every index the results log says was acked must still hold the payload with the same
    sessionId; checking only as the run reaches each one would send the payloads before the
    first changed one and then stop. Reads the source once, up to the last acked index.
    """
    left = acked.count
    for item in source:
        if item.index > acked.max_index:
            break
        if acked.recorded(item.index):
            item in acked  # noqa: B015  (raises UsageError when the sessionId differs)
            left -= 1
            if left == 0:
                return
    if left:
        raise UsageError(
            f"--resume: `{results}` records {left} acked payload(s) beyond the end of the "
            "source (the last at index "
            f"{acked.max_index}); resume with the same files, or start a new results file"
        )


def check_report_path(path: str | os.PathLike[str]) -> None:
    """InputError unless a report can be written at `path`: its folder exists and is writable.

    Checked before a run starts, so a typo in the path does not throw away the run's figures.
    """
    target = Path(path)
    folder = target.parent
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.")
    except OSError as exc:
        raise InputError(
            f"cannot write report `{path}` ({exc.strerror or exc}); expected a path in an "
            "existing, writable folder, e.g. --report-json ./replay-report.json"
        ) from None
    os.close(fd)
    os.unlink(probe)


# --------------------------------------------------------------------------- output


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
        f"replay -> {report.target}  rate {_rate_text(report.rate)}  "
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
