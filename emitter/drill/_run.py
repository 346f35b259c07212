"""One drill run's state and verdict: what the replay engine asks while sending, what it reports.

The engine owns the sockets and the clock; it calls in here at four seams: the pacer (the
stage schedule), the item stream (reordering), each attempt's end (`attempt_done`: figures,
duplicates to send, the burst gate) and the end of the run (`result`: per-stage figures,
faults, outages, thresholds). Everything here is synchronous and deterministic given the seed
and the order of calls.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from emitter._pacing import DEFAULT_LATE_AFTER_S
from emitter.drill._faults import BurstGate, DuplicatePlan, Faults, fault_rng, reorder
from emitter.drill._figures import (
    DUPLICATE,
    FIRST,
    RELEASE,
    RETRY,
    Outage,
    Recorder,
    StageFigures,
    fault_counts,
    outages,
    recovery_seconds,
    stage_figures,
)
from emitter.drill._slo import Actuals, Threshold, Verdict, evaluate
from emitter.drill._stages import Stage, StagePacer, StagePlan
from emitter.sources import Item

T = TypeVar("T")


@dataclass(frozen=True)
class DrillSettings:
    """What turns a replay into a drill; the zero value is a plain replay."""

    stages: tuple[Stage, ...] | None = None
    faults: Faults = field(default_factory=Faults)
    slo: tuple[Threshold, ...] = ()
    verify: Path | None = None
    verify_sample: float | None = None

    @property
    def active(self) -> bool:
        return bool(self.stages or self.faults.any or self.slo or self.verify is not None)


class Followup(NamedTuple):
    """A send the drill asks the engine for: `item` at `due`, as attempt `attempt` (0: a
    duplicate; 1 with `slot`: the first send of a held session). `scheduled` is when the
    payload was first due (its latency counts from there); a duplicate's is its `due`."""

    due: float
    item: Item
    attempt: int
    scheduled: float
    slot: int | None


def _due_now(f: Followup, now: float) -> Followup:
    return _due_at(f, now)


def _due_at(f: Followup, due: float) -> Followup:
    # A held payload (a first send, or a retry of a failed one) keeps its original due time:
    # its latency shows the hold. A duplicate (attempt 0) counts from when it is due.
    scheduled = f.scheduled if f.attempt >= 1 else due
    return f._replace(due=due, scheduled=scheduled)


class DrillState:
    """The live side of a drill, for one run (one process, one event loop)."""

    def __init__(self, settings: DrillSettings, *, seed: int) -> None:
        self.settings = settings
        self.seed = seed
        self.plan = StagePlan(settings.stages) if settings.stages else None
        self.recorder = Recorder()
        faults = settings.faults
        self.duplicates = (
            DuplicatePlan(
                faults.duplicates,
                fault_rng(seed, "duplicates"),
                max_delay_s=faults.duplicate_delay_s,
            )
            if faults.duplicates > 0
            else None
        )
        self.gate: BurstGate[Any] | None = (
            BurstGate(
                hold_after_s=faults.hold_after_s,
                probe_every_s=faults.probe_every_s,
                rate=faults.burst_rate,
            )
            if faults.burst
            else None
        )
        self._sample = settings.verify_sample if settings.verify_sample is not None else 1.0
        self._skipped = 0
        self._to_verify: dict[int, tuple[int, Item]] = {}  # sampled, not yet acked
        self._acked: dict[int, tuple[int, Item]] = {}  # sampled and acked: (stage, item)
        self._duplicate_after: dict[int, float] = {}  # payload index -> delay after its ack
        self._held_first: set[int] = set()  # held before their first send
        self._idle_since: float | None = None
        self.run: Any = None  # the engine's run, once attached
        self.verify_config: Any = None  # emitter.verify.VerifyConfig, with --verify
        self.start = 0.0  # the run's start on the engine's clock, set by started()
        self.wall = 0.0  # Unix time = engine clock + wall

    def pacer(
        self, *, duration_s: float | None = None, late_after_s: float = DEFAULT_LATE_AFTER_S
    ) -> StagePacer | None:
        """The stage schedule as a Pacer, or None when the run keeps its one --rate."""
        if self.plan is None:
            return None
        return StagePacer(self.plan, duration_s=duration_s, late_after_s=late_after_s)

    def attach(self, run: Any) -> None:
        """Plugs the drill into a replay engine's run (emitter.replay._engine.Run): the stage
        schedule replaces its pacer, and the run calls this state at its seams."""
        self.run = run
        pacer = self.pacer(late_after_s=run.pacer.late_after_s)
        if pacer is not None:
            run.pacer = pacer
        run.hooks = self

    def items(self, items: Iterable[T], *, rate: float | None = None) -> Iterator[T]:
        """The source as the drill delivers it: as many payloads as the stages hold (a
        scenario source is endless), reordered within the window."""
        if self.plan is not None:
            items = itertools.islice(items, self.plan.total)
        window = self.settings.faults.reorder
        if window is None:
            return iter(items)
        offset: Callable[[int], float] | None = None
        if self.plan is not None:
            offset = self.plan.offset
        elif rate is not None:
            step = 1.0 / rate
            offset = step.__mul__  # a steady rate: position i is due at i/rate
        return reorder(items, window, fault_rng(self.seed, "reorder"), offset=offset)

    def started(self, now: float, *, wall: float) -> None:
        self.start = now
        self.wall = wall

    def duplicate_delay(self) -> float | None:
        """Called once per payload in source order as it is first scheduled: how long after
        its ack a duplicate should follow, or None."""
        return None if self.duplicates is None else self.duplicates.draw()

    def attempt_done(
        self,
        *,
        index: int,
        kind: int,
        scheduled: float,
        sent: float,
        done: float,
        ok: bool,
        late: bool = False,
    ) -> None:
        """One attempt ended (any kind); feeds the figures."""
        self.recorder.observe(
            index=index, kind=kind, scheduled=scheduled, sent=sent, done=done, ok=ok, late=late
        )

    # ---- the engine's seams (DrillHooks): called by emitter.replay's engine

    def admit(self, item: Item, *, scheduled: float, slot: int, now: float) -> bool:
        """A fresh slot claimed `item` (in source order): True to send it now, False when the
        drill holds it back (the receiver has been failing; it goes out in the burst)."""
        delay = self.duplicate_delay()
        if delay is not None:
            self._duplicate_after[item.index] = delay
        if self.settings.verify is not None:
            if self._sampled(item):
                stage = self.plan.stage_of(slot) if self.plan is not None else 0
                self._to_verify[item.index] = (stage, item)
            else:
                self._skipped += 1
        if self.gate is not None and self.gate.holding:
            self._held_first.add(item.index)
            self.gate.hold(Followup(0.0, item, 1, scheduled, slot))
            return False
        return True

    def finished(
        self,
        item: Item,
        *,
        attempt: int,
        scheduled: float,
        sent: float,
        now: float,
        ok: bool,
        late: bool,
        final: bool,
    ) -> tuple[list[Followup], bool]:
        """An attempt ended (`attempt` 0 is a drill's duplicate). Returns the sends it causes
        (a duplicate after an ack, the burst after a recovery) and whether the drill holds
        this failed payload instead of the engine giving up on it (`final` failures only)."""
        if attempt == 0:
            kind = DUPLICATE
        elif attempt == 1:
            kind = RELEASE if item.index in self._held_first else FIRST
            self._held_first.discard(item.index)
        else:
            kind = RETRY
        self.attempt_done(
            index=item.index, kind=kind, scheduled=scheduled, sent=sent, done=now, ok=ok, late=late
        )
        out: list[Followup] = []
        if kind == DUPLICATE:
            return out, False
        if ok:
            self._acked_once(item)
            delay = self._duplicate_after.pop(item.index, None)
            if delay is not None:
                out.append(Followup(now + delay, item, 0, now + delay, None))
        held = False
        gate = self.gate
        if gate is not None:
            gate.result(now, ok=ok)
            if not ok and final and gate.failing:
                gate.hold(Followup(0.0, item, attempt + 1, scheduled, None))
                held = True
            out.extend(self._released(now))
        return out, held

    def poll(self, now: float) -> list[Followup]:
        """Called every tick: a held session to send as a probe, when one is due."""
        gate = self.gate
        if gate is None:
            return []
        probe = gate.probe(now)
        if probe is None:
            return self._released(now)
        return [_due_now(probe, now)]

    @property
    def holding(self) -> bool:
        """True while the drill holds sessions back (the run must not end yet)."""
        return self.gate is not None and bool(self.gate.held)

    def expired(self, now: float, *, idle: bool) -> bool:
        """True when held sessions have waited `drain_s` since the schedule ended (`idle`:
        nothing new is scheduled) without the receiver coming back."""
        if not idle or not self.holding:
            return False
        if self._idle_since is None:
            self._idle_since = now
        return now - self._idle_since >= self.settings.faults.drain_s

    def abandon(self) -> list[Followup]:
        """The run ends with sessions still held: the engine counts each as failed."""
        if self.gate is None:
            return []
        left = list(self.gate.held)
        self.gate.held.clear()
        return left

    def _released(self, now: float) -> list[Followup]:
        gate = self.gate
        if gate is None:
            return []
        return [_due_at(f, due) for due, f in gate.release(now)]

    def _sampled(self, item: Item) -> bool:
        if self._sample >= 1.0:
            return True
        if item.session_id is None:
            return False
        # The verify package's own rule (a stable function of seed and sessionId), so the
        # sample is the same whichever side draws it.
        from emitter.verify import sampled

        return sampled(item.session_id, seed=self.seed, sample=self._sample)

    def _acked_once(self, item: Item) -> None:
        if item.index in self._to_verify and item.index not in self._acked:
            self._acked[item.index] = self._to_verify.pop(item.index)

    def acked_to_verify(self) -> list[tuple[int, Item]]:
        """The sampled payloads that were acked, with the stage each was due in."""
        return [self._acked[index] for index in sorted(self._acked)]

    @property
    def not_sampled(self) -> int:
        """Payloads left out of verification by --verify-sample."""
        return self._skipped

    def result(
        self,
        *,
        latency_ms: Any,
        max_ms: float,
        sent: int,
        failed: int,
        late: int,
        verify: Mapping[str, int] | None = None,
        verify_by_stage: Sequence[Mapping[str, int]] | None = None,
    ) -> DrillResult:
        """The drill's figures and verdicts, once the run is over."""
        if self.run is not None:
            self.started(self.run.started, wall=self.run._wall)
        stages = (
            stage_figures(self.recorder, self.plan, start=self.start)
            if self.plan is not None
            else []
        )
        if verify_by_stage is not None:
            for figures, counts in zip(stages, verify_by_stage, strict=False):
                figures.verify = dict(counts)
        found = outages(self.recorder)
        counts = fault_counts(self.recorder)
        if self.duplicates is not None:
            counts["duplicates_planned"] = self.duplicates.planned
        if self.gate is not None:
            counts["held"] = self.gate.held_total
            counts["holds"] = self.gate.holds
            counts["still_held"] = len(self.gate.held)
        actuals = Actuals(
            latency_ms=latency_ms,
            max_ms=max_ms,
            sent=sent,
            failed=failed,
            late=late,
            verified=None if verify is None else verify.get("verified", 0),
            lost=0 if verify is None else verify.get("missing", 0),
            stored_twice=0 if verify is None else verify.get("stored_twice", 0),
            mismatched=0 if verify is None else verify.get("mismatched", 0),
            recovery_s=recovery_seconds(found),
            answered=self._answered(),
        )
        return DrillResult(
            settings=self.settings,
            seed=self.seed,
            stages=tuple(stages),
            faults=counts,
            outages=tuple(found),
            verdicts=evaluate(self.settings.slo, actuals),
            start=self.start,
            wall=self.wall,
            verify=verify,
        )

    def _answered(self) -> int | None:
        """How many attempts the run's latency from the schedule measured (None: no run)."""
        if self.run is None:
            return None
        return int(self.run.from_schedule.flush().get_total_count())


@dataclass(frozen=True)
class DrillResult:
    """A finished drill: figures per stage, faults injected, outages seen, thresholds judged."""

    settings: DrillSettings
    seed: int
    stages: tuple[StageFigures, ...]
    faults: Mapping[str, int]
    outages: tuple[Outage, ...]
    verdicts: tuple[Verdict, ...]
    start: float
    wall: float
    verify: Mapping[str, Any] | None = None  # the read-back's counts, with --verify

    @property
    def verify_failed(self) -> bool:
        """A session lost, stored wrong, stored twice, or not verifiable because a read
        failed: the drill fails whatever the thresholds say."""
        v = self.verify or {}
        keys = ("missing", "mismatched", "stored_twice", "could_not_verify")
        return any(v.get(key, 0) for key in keys)

    @property
    def broken(self) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if not v.ok)

    @property
    def failed(self) -> bool:
        """True when the drill fails the run: a threshold broken, a duplicate not acked (8x8
        expects a 200 for every redelivery, as for the first delivery), or with --verify a
        session not stored exactly once as meant."""
        if self.verify_failed:
            return True
        return bool(self.broken) or self.faults.get("duplicates_not_acked", 0) > 0

    def as_dict(self) -> dict[str, Any]:
        """The report JSON's drill sections: `stages`, `faults`, `outages`, `slo`."""
        faults: dict[str, Any] = dict(self.settings.faults.as_dict())
        faults["seed"] = self.seed
        faults.update(self.faults)
        out: dict[str, Any] = {
            "stages": [s.as_dict() for s in self.stages],
            "faults": faults,
            "outages": [o.as_dict(start=self.start, wall=self.wall) for o in self.outages],
            "slo": {
                "ok": not self.broken,
                "thresholds": [v.as_dict() for v in self.verdicts],
            },
        }
        if self.verify is not None:
            out["verify"] = dict(self.verify)
        return out
