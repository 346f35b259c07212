"""Replay's sender: one event loop, keep-alive connections, a scheduler tick, retries, the figures.

Request i is due at a time fixed in advance (see emitter._pacing), whatever the receiver does;
its latency is measured from that due time as well as from the actual send, so a receiver that
stalls shows its stall (no coordinated omission). Design, chosen by measurement (bench/):
no task, future or timer per request. A timer armed for the next due time hands every due
request to an idle connection (`_pump`); a finished answer hands its connection the next due
request from its own callback; one periodic tick flushes the log, reports progress, sweeps
deadlines and samples whether the sender keeps its schedule.

Two seams for callers that shape a run (drills): `items` is the stream of payloads in slot
order (insert, duplicate or reorder there), and `observe`, when set, is called once per
finished attempt with (item, attempt, outcome, status, reason); a drill's `hooks` get the
stage schedule, admissions, follow-ups and the burst gate.

Over 600 lines on purpose: one class holds the scheduler's state (free and busy connections,
the due queue, retries, deadlines, the lag), and its methods keep invariants over all of it
together; the connection, the figures and the process set-up are in modules of their own.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import signal
import ssl
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING

from emitter._outcomes import Fault, Outcome, status_fault, timeout_fault
from emitter._pacing import Pacer, Slot
from emitter.deliver import DeliveryConfig, config_secrets, redact
from emitter.errors import VssEmitterError
from emitter.replay._conn import Conn, Job, Target, connect_failure
from emitter.replay._results import ResultsWriter
from emitter.replay._stats import Demand, Lag, Latencies, Timeline
from emitter.replay._types import BAD_INPUT, INTERRUPTED, Progress, ReplaySettings
from emitter.sources import Item

if TYPE_CHECKING:
    from emitter.drill import DrillState
    from emitter.drill._run import Followup

HELD = "held"  # a drill held it back for a burst and the receiver never came back

_TICK_S = 0.1  # flush the log, progress, saturation sample
_PROGRESS_EVERY_S = 0.25
_MAX_NOTICES = 10
_TIMER_SLACK_S = 0.001  # libuv's timers count whole milliseconds and may fire up to one early
DURATION_GRACE_S = 2.0  # after --duration, how long answers in flight may still come
# The sender is the bottleneck in a 100 ms tick when sends are behind the schedule and the
# process was busy at least this share of the tick (or a connection was free to send on).
_BUSY_SHARE = 0.6
_LOOP_LAG_S = 0.005  # a tick this late means the loop itself could not keep up
_COUNT_LEFT_S = 0.3  # after the run, how long counting the source's unsent payloads may take

Observer = Callable[[Item, int, str, "int | None", str], None]


class Run:
    """One replay run on one event loop: connections, the scheduler, counters, results log."""

    def __init__(
        self,
        *,
        url: str,
        items: Iterator[Item],
        settings: ReplaySettings,
        config: DeliveryConfig,
        headers: dict[str, str],
        tls: ssl.SSLContext | None,
        writer: ResultsWriter | None,
        on_progress: Callable[[Progress], None] | None,
        notice: Callable[[str], None],
        stride: int = 1,
        phase: int = 0,
        start_wall: float | None = None,
    ) -> None:
        self.target = Target(url, headers, tls)
        self.items = items
        self._source = items  # before any wrapper: what is left of it is counted, never sent
        self.settings = settings
        self.config = config
        self.secrets = config_secrets(config, url=url)
        self.writer = writer
        if writer is not None:
            # A results file that cannot be written stops the run like Ctrl-C does, without
            # the grace limit: what is in flight finishes, nothing new is scheduled.
            writer.on_error = self._stop
        self.on_progress = on_progress
        self.notice = notice
        self.observe: Observer | None = None
        self.hooks: DrillState | None = None  # a drill's seams (emitter.drill), when set
        self.pacer = Pacer(
            rate=settings.rate,
            ramp_s=settings.ramp_s,
            duration_s=settings.duration_s,
            late_after_s=settings.late_after_s,
        )
        self.stride, self.phase = stride, phase  # --workers: this one sends slots phase + k*stride
        self.start_wall = start_wall  # --workers: the shared start, unix seconds
        self.from_schedule = Latencies()
        self.from_send = Latencies()
        self.timeline = Timeline()
        self.lag = Lag()
        self.outcomes: Counter[str] = Counter()
        self.sent = self.acked = self.failed = self.retried = 0
        self.first_send = self.last_send = 0.0
        self.started = self.ended = 0.0
        self.stopping = False  # nothing new is scheduled
        self.interrupted = False
        self.fatal: VssEmitterError | None = None
        self.bad_notices = 0
        # The scheduler's state.
        self._claimed = 0  # slots claimed by this worker
        self._next_due = 0.0  # when the next slot is due: _due(_claimed), kept up to date
        self._source_done = False
        self._ready: deque[Job] = deque()  # due (or retrying) and waiting for a connection
        self._retries: list[tuple[float, int, Job]] = []  # heap of (due, seq, job)
        self._seq = itertools.count()
        self._idle: list[Conn] = []
        self._busy: set[Conn] = set()
        self._conns = 0  # open or opening
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        self._tick_timer: asyncio.TimerHandle | None = None
        self._end = math.inf  # --duration: no slot is claimed at or after this instant
        self._hard_end = math.inf  # ... and nothing is waited for after this one
        self._loop: asyncio.AbstractEventLoop | None = None
        self._finished: asyncio.Future[None] | None = None
        self._demand: Callable[[], float] = time.process_time  # main() reads the loop's thread
        self._cpu = (0.0, 0.0)  # (when, demand then)
        self._cpu_start = 0.0
        self._tick_due = 0.0
        # Unix time = monotonic + offset: the schedule runs on the monotonic clock, the
        # results log speaks wall-clock seconds.
        self._wall = time.time() - time.monotonic()

    @property
    def in_flight(self) -> int:
        return len(self._busy)

    @property
    def late(self) -> int:
        """First attempts that left after their due time (plus the tolerance)."""
        return self.pacer.late

    # ---- lifecycle

    async def main(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        signals = threading.current_thread() is threading.main_thread()
        if signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.interrupt)
        self._finished = loop.create_future()
        try:
            self.prime()
            now = time.monotonic()
            if self.start_wall is not None:
                now = max(now, self.start_wall - self._wall)
                await asyncio.sleep(max(0.0, now - time.monotonic()))
            self.started = now
            self.pacer.start(now)
            self._next_due = self._due(0)
            if self.settings.duration_s is not None:
                self._end = now + self.settings.duration_s
                self._hard_end = self._end + DURATION_GRACE_S
            demand = Demand()  # run + runqueue wait of this, the loop's, thread: _sample_lag
            self._demand = demand
            self._cpu = (now, demand())
            self._cpu_start = time.process_time()
            self._tick_due = now + _TICK_S
            self._tick_timer = loop.call_later(_TICK_S, self._tick, 0.0)
            self._pump()
            self._maybe_finish()
            try:
                await self._finished
            finally:
                if self._tick_timer is not None:
                    self._tick_timer.cancel()
                self.lag.cpu_s = time.process_time() - self._cpu_start
                demand.close()
                if self._timer is not None:
                    self._timer.cancel()
                self.ended = time.monotonic()
                for conn in [*self._idle, *self._busy]:
                    conn.abort()
                if self.lag.unsent:
                    self._cap_unsent()
        finally:
            if signals:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)

    def interrupt(self) -> None:
        """SIGINT/SIGTERM: stop scheduling, give in-flight requests the grace period."""
        if self.stopping and self.interrupted:
            self._abort_in_flight()  # a second Ctrl-C: do not wait out the grace period
            return
        self.interrupted = True
        self._stop()
        assert self._loop is not None
        self._loop.call_later(self.settings.grace_s, self._abort_in_flight)

    def _stop(self) -> None:
        """Nothing new is scheduled; waiting retries end with their last outcome."""
        if self.stopping:
            return
        self.stopping = True
        # A first attempt still waiting for a connection was never sent: it is left for a
        # resume. A retry waiting for its time ends with the outcome of its last attempt.
        waiting = [job for job in self._ready if job.attempt > 1]
        waiting += [job for _, _, job in self._retries if job.attempt > 1]
        # A drill's duplicates still to come (attempt 0) are dropped; sessions it held back
        # and never sent end as held.
        held = sum(1 for _, _, job in self._retries if job.attempt == 1)
        held += len(self.hooks.abandon()) if self.hooks is not None else 0
        self._ready.clear()
        self._retries.clear()
        for job in waiting:
            self._final(job.last)
        for _ in range(held):
            self._final(HELD)
        self._maybe_finish()

    def _kill(self, conn: Conn, fault: Fault | None) -> None:
        """Ends the attempt on `conn` now: the deadline passed (`fault`), or the grace did."""
        conn.abort()
        if conn.connecting is not None:
            conn.connecting.cancel()
            conn.connecting = None
        self._done(conn, fault, None, interrupted=fault is None)

    def _abort_in_flight(self) -> None:
        for conn in list(self._busy):
            self._kill(conn, None)
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        if self._finished is None or self._finished.done():
            return
        if self._busy or self._retries or self._ready:
            return
        if not (self.stopping or self._source_done):
            return
        if self.hooks is not None and self.hooks.holding:
            return  # a drill holds sessions back until the receiver recovers (or drain_s)
        self._finished.set_result(None)

    def _tick(self, last_progress: float) -> None:
        assert self._loop is not None
        now = time.monotonic()
        if self.writer is not None:
            self.writer.flush()
        # The histograms are not flushed here: their pending counts are bounded by hdrh's
        # buckets, and flushing ten times a second cost a tenth of the CPU at `max`.
        self._sample_lag(now)
        self._sweep(now)
        if self.hooks is not None:
            self._drill_tick(now)
        paced = self.pacer.rate is not None
        # Past the end, a paced run stops once no slot due before the end can still leave on
        # time (see _claim_one): its next slot is not before the end, or would leave late.
        over = (
            not paced
            or self._next_due >= self._end
            or now > self._next_due + self.settings.late_after_s
        )
        if now >= self._end and over and not self.stopping:
            if paced and not self._source_done:
                self.lag.unsent = self._unsent()  # slots due before the end, never claimed
            self._stop()
        if now >= self._hard_end:
            self._abort_in_flight()
        if self.on_progress is not None and now - last_progress >= _PROGRESS_EVERY_S:
            last_progress = now
            self.on_progress(self.progress(now))
        sweep = min(_TICK_S, max(0.005, self.config.timeout_s / 10))
        self._tick_due = now + sweep
        self._tick_timer = self._loop.call_later(sweep, self._tick, last_progress)
        self._pump()

    def _drill_tick(self, now: float) -> None:
        """A drill's probe of a receiver that failed, or its burst after the recovery; held
        sessions that waited too long once the schedule ended are given up."""
        assert self.hooks is not None
        for followup in self.hooks.poll(now):
            self._push(followup, now)
        if self.hooks.expired(now, idle=self.stopping or self._source_done):
            for _ in self.hooks.abandon():
                self._final(HELD)
            self._maybe_finish()

    def _push(self, f: Followup, now: float) -> None:
        """Queues a send a drill asked for (a duplicate, a probe, a released session)."""
        slot = Slot(f.slot, f.scheduled) if f.slot is not None else None
        job = Job(f.item, f.scheduled, f.attempt, slot, due=f.due)
        heapq.heappush(self._retries, (f.due, next(self._seq), job))
        self._arm(now)

    def _sweep(self, now: float) -> None:
        """Ends every attempt past its total deadline (connect, send and answer together)."""
        for conn in [c for c in self._busy if c.deadline <= now]:
            fault = timeout_fault(self.config.timeout_s, status=conn.answer_status())
            self._kill(conn, fault)

    def _sample_lag(self, now: float) -> None:
        started, cpu_before = self._cpu
        cpu_now = self._demand()
        self._cpu = (now, cpu_now)
        if self.pacer.rate is None or self.stopping or self._source_done:
            return
        lag = now - self._next_due
        if self._ready:
            lag = max(lag, now - self._ready[0].due)
        self.lag.final_lag_s = max(0.0, lag)
        if lag <= self.settings.late_after_s:
            return
        span = max(now - started, 1e-6)
        busy = (cpu_now - cpu_before) / span
        self.lag.max_lag_s = max(self.lag.max_lag_s, lag)
        at_cap = self._conns >= self.settings.concurrency and not self._idle
        # Behind with every connection waiting for an answer and the process mostly idle: the
        # receiver (or --concurrency) sets the pace, whether or not this tick came late (a
        # late tick holds back no send when no connection could take one). Busy: the sender.
        # A free connection while behind counts as the sender's only with the loop itself
        # late; otherwise it is a passing moment (a connection the receiver closed, being
        # replaced) that says nothing about who sets the pace.
        starved = now - self._tick_due > _LOOP_LAG_S
        if busy >= _BUSY_SHARE or (not at_cap and starved):
            self.lag.saturated_s += span
            if self.lag.behind_from_s is None:
                self.lag.behind_from_s = max(0.0, started - self.started)
        elif at_cap:
            self.lag.receiver_bound_s += span

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

    # ---- the scheduler

    def prime(self) -> None:
        """Draws the first item before the clock starts: a scenario source's set-up (loading,
        planning) would otherwise make the first sends late."""
        first = self._next()
        if first is not None:
            self.items = itertools.chain([first], self.items)
        else:
            self._source_done = True

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

    def _due(self, claimed: int) -> float:
        return self.started + self.pacer.offset(self.phase + claimed * self.stride)

    def _claim(self, now: float) -> Job | None:
        """The next slot due by `now` whose payload goes out (a drill may hold some back
        while the receiver fails: their slots pass, and the next due one is taken)."""
        while True:
            job = self._claim_one(now)
            if job is None or self.hooks is None:
                return job
            assert job.slot is not None
            if self.hooks.admit(job.item, scheduled=job.scheduled, slot=job.slot.index, now=now):
                return job

    def _claim_one(self, now: float) -> Job | None:
        """The next slot if it is due by `now` (always, at `max`), with its payload."""
        if self.stopping or self._source_done:
            return None
        if self.pacer.rate is None:
            if now >= self._end:
                self._stop()
                return None
            scheduled = now
        else:
            scheduled = self._next_due
            if scheduled > now:
                return None
            # A slot due before the end still leaves after it while it would not be late (the
            # timer fires up to a couple of milliseconds after its due time); a late one does
            # not: the rest of the schedule is the sender's shortfall, counted as unsent.
            late = now > scheduled + self.settings.late_after_s
            if scheduled >= self._end or (now >= self._end and late):
                if scheduled < self._end:
                    self.lag.unsent = self._unsent()
                self._stop()
                return None
        item = self._next()
        if item is None:
            self._source_done = True
            self._maybe_finish()
            return None
        index = self.phase + self._claimed * self.stride
        self._claimed += 1
        if self.pacer.rate is not None:
            self._next_due = self._due(self._claimed)
        return Job(item, scheduled, 1, Slot(index, scheduled))

    def _cap_unsent(self) -> None:
        """Caps the unsent slots at the payloads the source still held: a schedule of a
        million a second outruns a 60,000-line file, and only what exists was not sent.
        Counted after the run (its figures are final), within _COUNT_LEFT_S; past that the
        count is a lower bound (`unsent_exact` false)."""
        most = self.lag.unsent
        deadline = time.monotonic() + _COUNT_LEFT_S
        left = 0
        try:
            for item in self._source:
                if item.body is None:
                    continue  # a bad line would never have been sent
                left += 1
                if left >= most:
                    return
                if not left % 1024 and time.monotonic() > deadline:
                    self.lag.unsent, self.lag.unsent_exact = left, False
                    return
        except VssEmitterError:
            pass  # the source broke further on: what was counted is what it held
        self.lag.unsent = left

    def _unsent(self) -> int:
        """Slots of this worker due before --duration ended that were never claimed."""
        low, high = self._claimed, self._claimed + 1
        while self._due(high) < self._end:
            low, high = high, high * 2
        while low < high:
            mid = (low + high) // 2
            if self._due(mid) < self._end:
                low = mid + 1
            else:
                high = mid
        return low - self._claimed

    def _pump(self) -> None:
        """Hands every due attempt to a free connection; arms the timer for the next one."""
        now = time.monotonic()
        retries = self._retries
        while retries and retries[0][0] <= now:
            self._ready.append(heapq.heappop(retries)[2])
        concurrency = self.settings.concurrency
        while True:
            conn = self._take_idle()
            if conn is None and self._conns >= concurrency:
                break
            job = self._ready.popleft() if self._ready else self._claim(now)
            if job is None:
                if conn is not None:
                    self._idle.append(conn)
                break
            if conn is not None:
                self._send(conn, job, now)
            else:
                self._open(job, now)
        self._arm(now)

    def _take_idle(self) -> Conn | None:
        """An idle connection still open; the receiver may have closed some while idle."""
        idle = self._idle
        while idle:
            conn = idle.pop()
            if conn.open:
                return conn
            self._conns -= 1
        return None

    def _arm(self, now: float) -> None:
        """Sets the timer for the next due slot or retry, if a connection could take it."""
        when = math.inf
        if self._retries:
            when = self._retries[0][0]
        if (
            not self.stopping
            and not self._source_done
            and self.pacer.rate is not None
            and (self._idle or self._conns < self.settings.concurrency)
        ):
            when = min(when, self._next_due)
        if when == math.inf or when >= self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        assert self._loop is not None
        # Whole milliseconds, plus one: the timer must never fire before the due time, or
        # a send could leave early (a negative latency) or the loop spin until it is due.
        delay = math.ceil(max(0.0, when - now) * 1000.0) / 1000.0 + _TIMER_SLACK_S
        self._timer_at = when
        self._timer = self._loop.call_later(delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = math.inf
        self._pump()

    def _open(self, job: Job, now: float) -> None:
        assert self._loop is not None
        conn = Conn(self._done)
        self._conns += 1
        self._start(conn, job, now)
        conn.connecting = self._loop.create_task(self._connect(conn))

    async def _connect(self, conn: Conn) -> None:
        assert self._loop is not None
        target = self.target
        try:
            await self._loop.create_connection(
                lambda: conn,
                target.host,
                target.port,
                ssl=target.tls,
                server_hostname=target.host if target.tls is not None else None,
            )
        except asyncio.CancelledError:
            return  # the deadline sweep or the grace period ended this attempt
        except Exception as exc:  # noqa: BLE001  (every connect failure is an outcome)
            conn.connecting = None
            if conn.job is not None:
                fault = connect_failure(exc, timeout_s=self.config.timeout_s)
                self._done(conn, Fault(fault.outcome, redact(fault.reason, self.secrets)), None)
            return
        conn.connecting = None
        if conn.job is None:
            conn.abort()
            return
        conn.send(conn.job, target.prefix)

    def _start(self, conn: Conn, job: Job, now: float) -> None:
        """Books the attempt: counters, late accounting, its deadline."""
        conn.job = job
        self._busy.add(conn)
        if job.resent:
            conn.deadline = job.sent + self.config.timeout_s
            return
        job.sent = now
        if job.attempt == 1:
            assert job.slot is not None
            late = self.pacer.sent(job.slot, now)
            if self.sent == 0:
                self.first_send = now
            self.sent += 1
            self.last_send = now
            self.timeline.sent(int(now - self.started), late)
            job.late = late
        elif job.attempt > 1:  # attempt 0: a drill's duplicate, not a retry
            self.retried += 1
        conn.deadline = now + self.config.timeout_s

    def _send(self, conn: Conn, job: Job, now: float) -> None:
        self._start(conn, job, now)
        conn.send(job, self.target.prefix)

    # ---- completions (called by the connections)

    def _done(
        self,
        conn: Conn,
        fault: Fault | None,
        status: int | None,
        *,
        interrupted: bool = False,
    ) -> None:
        job = conn.job
        if job is None:
            return
        conn.job = None
        self._busy.discard(conn)
        now = time.monotonic()
        late = job.late
        if interrupted:
            self._record(job, now, INTERRUPTED, status, late)
            self._final(INTERRUPTED)
            self._conns -= 1
            if self.observe is not None:
                self.observe(job.item, job.attempt, INTERRUPTED, status, "")
            return
        if fault is not None and fault.outcome is Outcome.RESET and conn.reused:
            resend = not conn.heard and not job.resent
        else:
            resend = False
        if resend:
            # The receiver closed a kept-alive connection as this request went out on it (an
            # idle timeout racing the send): the request was not read. Sent once more on a new
            # connection, as HTTP clients do; a receiver that resets again gets `reset`.
            job.resent = True
            self._conns -= 1
            self._open(job, now)
            return
        if fault is not None:
            outcome, reason = fault.outcome, fault.reason
        elif status == 200:
            outcome, reason = Outcome.ACKED, ""  # the hot path: no reason text for an ack
        else:
            answer = status_fault(
                status or 0, accept_2xx=self.config.accept_2xx, location=conn.location
            )
            outcome = answer.outcome
            reason = "" if outcome is Outcome.ACKED else redact(answer.reason, self.secrets)
        waited = self.from_schedule.add(now - job.scheduled)
        if job.sent == job.scheduled:  # at `max`: the same latency, rounded once
            self.from_send.add_us(waited)
        else:
            self.from_send.add(now - job.sent)
        if self.writer is not None:
            self._record(job, now, outcome.value, status, late, reason)
        acked = outcome is Outcome.ACKED
        self.timeline.done(int(now - self.started), acked, waited)
        if self.observe is not None:
            self.observe(job.item, job.attempt, outcome.value, status, reason)
        retries = self.config.retries
        retry = not acked and job.attempt <= len(retries) and not self.stopping
        held = False
        if self.hooks is not None:
            followups, held = self.hooks.finished(
                job.item,
                attempt=job.attempt,
                scheduled=job.scheduled,
                sent=job.sent,
                now=now,
                ok=acked,
                late=late,
                final=not retry,
            )
            for followup in followups:
                self._push(followup, now)
        if job.attempt == 0:
            pass  # a drill's duplicate: the payload's own outcome is already counted
        elif acked:
            self.acked += 1
            self.outcomes["acked"] += 1
        elif retry:
            # The retry keeps the payload's first due time: its latency from the schedule
            # counts the outage it waited through, as 8x8's sender would see it.
            due = now + retries[job.attempt - 1]
            retry_job = Job(job.item, job.scheduled, job.attempt + 1, None, due=due)
            retry_job.last = outcome.value
            heapq.heappush(self._retries, (due, next(self._seq), retry_job))
        elif not held:  # a held session goes out again in the drill's burst
            self._final(outcome.value)
        if conn.open:
            next_job = self._ready.popleft() if self._ready else self._claim(now)
            if next_job is not None:
                self._send(conn, next_job, now)
            else:
                self._idle.append(conn)
                self._arm(now)
        else:
            self._conns -= 1
            self._pump()
        self._maybe_finish()

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
        job: Job,
        done: float,
        outcome: str,
        status: int | None,
        late: bool,
        reason: str = "",
    ) -> None:
        if self.writer is None:
            return
        item = job.item
        scheduled, sent = job.scheduled, job.sent
        sid = "null" if item.session_id is None else encode_basestring_ascii(item.session_id)
        wall = self._wall
        self.writer.write(
            f'{{"type":"delivery","index":{item.index},"session_id":{sid},'
            f'"scheduled":{scheduled + wall:.6f},"sent":{sent + wall:.6f},'
            f'"latency_ms":{(done - scheduled) * 1000.0:.3f},'
            f'"service_ms":{(done - sent) * 1000.0:.3f},"outcome":"{outcome}",'
            f'"status":{"null" if status is None else status},"attempt":{job.attempt},'
            f'"late":{"true" if late else "false"}'
            + (',"fault":"duplicate"' if job.attempt == 0 else "")
            + (f',"reason":{encode_basestring_ascii(reason)}}}\n' if reason else "}\n")
        )
