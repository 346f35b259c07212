"""Replay's sender: aiohttp on uvloop, open-loop paced workers, retries, latency histograms.

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
import signal
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from json.encoder import encode_basestring_ascii

import aiohttp
import yarl
from hdrh.histogram import HdrHistogram

from emitter._pacing import Pacer, Slot
from emitter._source import Item
from emitter.deliver import DeliveryConfig, Outcome, classify_status, config_secrets, redact
from emitter.errors import UsageError, VssEmitterError
from emitter.replay._results import ResultsWriter
from emitter.replay._types import BAD_INPUT, INTERRUPTED, Progress, ReplaySettings

_HIST_LOW_US = 1
_HIST_HIGH_US = 3_600_000_000  # 1 h
_FLUSH_EVERY_S = 0.1
_PROGRESS_EVERY_S = 0.25
_MAX_NOTICES = 10
_TIMER_TICK_S = 0.001  # uvloop (libuv) timer resolution


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


class Run:
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
        writer: ResultsWriter | None,
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


@contextlib.contextmanager
def quiet_gc() -> Iterator[None]:
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


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


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
