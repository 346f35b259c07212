"""8x8-like delivery faults on purpose: duplicates, reordering, holding back and bursting.

Every decision comes from one `random.Random` per fault, derived from the run seed
(emitter._seeds), and is drawn in source order, never in the order answers arrive: the same
seed picks the same payloads to duplicate, the same delays and the same order on every run,
however fast the receiver answers.
"""

from __future__ import annotations

import math
import random
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from emitter._pacing import parse_duration, parse_rate
from emitter._seeds import derive_seed
from emitter.errors import UsageError

T = TypeVar("T")

DEFAULT_DUPLICATE_DELAY_S = 2.0  # the latest a delayed duplicate follows its ack
DEFAULT_IMMEDIATE_SHARE = 0.5  # of the duplicates, this share goes out right after the ack
DEFAULT_HOLD_AFTER_S = 1.0  # failing this long makes the sender hold sessions back
DEFAULT_PROBE_EVERY_S = 1.0  # while holding, one held session tests the receiver this often
DEFAULT_DRAIN_S = 30.0  # after the schedule ends, how long held sessions wait for a recovery

_FRACTION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$")
_COUNT = re.compile(r"^\s*(\d+)\s*$")


def parse_fraction(text: str, *, option: str = "--duplicates") -> float:
    """`5%` or `0.05` -> 0.05; UsageError (one line, an example) outside 0..100%."""
    match = _FRACTION.match(str(text))
    value = float(match.group(1)) / (100.0 if match.group(2) else 1.0) if match else -1.0
    if not 0.0 <= value <= 1.0:
        raise UsageError(
            f"Invalid {option} `{text}`: expected a fraction between 0 and 1 or a percentage, "
            f"e.g. `{option} 5%` or `{option} 0.05`"
        )
    return value


@dataclass(frozen=True)
class ReorderWindow:
    """Sessions may leave out of order within `sessions` consecutive ones, or `seconds` of
    schedule: both bound how far any session moves from its place."""

    sessions: int | None = None
    seconds: float | None = None

    def describe(self) -> str:
        return f"{self.sessions} sessions" if self.sessions is not None else f"{self.seconds:g}s"


def parse_reorder(text: str) -> ReorderWindow:
    """`20` (sessions) or `2s` (seconds of the schedule)."""
    raw = str(text)
    count = _COUNT.match(raw)
    if count is not None and int(count.group(1)) >= 2:
        return ReorderWindow(sessions=int(count.group(1)))
    try:
        if count is None and raw.strip()[-1:] in {"s", "m", "h"}:
            return ReorderWindow(seconds=parse_duration(raw))
    except UsageError:
        pass
    raise UsageError(
        f"Invalid --reorder `{raw}`: expected a window of 2 or more sessions or a duration, "
        "e.g. `--reorder 20` or `--reorder 2s`"
    )


def parse_burst_rate(text: str | None) -> float | None:
    """`--burst-after-failure` alone or `max`: as fast as concurrency allows; else N/s."""
    if text is None or not str(text).strip():
        return None
    try:
        return parse_rate(str(text))
    except UsageError:
        raise UsageError(
            f"Invalid --burst-after-failure `{text}`: expected a rate or `max`, "
            "e.g. `--burst-after-failure 500/s`"
        ) from None


@dataclass(frozen=True)
class Faults:
    """Which faults a drill injects; the zero value injects none."""

    duplicates: float = 0.0  # fraction of acked payloads sent again
    duplicate_delay_s: float = DEFAULT_DUPLICATE_DELAY_S
    reorder: ReorderWindow | None = None
    burst: bool = False  # --burst-after-failure
    burst_rate: float | None = None  # None: as fast as concurrency allows
    hold_after_s: float = DEFAULT_HOLD_AFTER_S
    probe_every_s: float = DEFAULT_PROBE_EVERY_S
    drain_s: float = DEFAULT_DRAIN_S

    @property
    def any(self) -> bool:
        return self.duplicates > 0 or self.reorder is not None or self.burst

    def as_dict(self) -> dict[str, object]:
        """The faults as the report and the results log's header record them."""
        return {
            "duplicates": self.duplicates,
            "duplicate_delay_s": self.duplicate_delay_s,
            "reorder": None if self.reorder is None else self.reorder.describe(),
            "burst_after_failure": (
                None
                if not self.burst
                else {
                    "rate": "max" if self.burst_rate is None else f"{self.burst_rate:g}/s",
                    "hold_after_s": self.hold_after_s,
                    "probe_every_s": self.probe_every_s,
                }
            ),
        }


def fault_rng(seed: int, fault: str) -> random.Random:
    """The one generator a fault draws from: a stable function of the run seed."""
    return random.Random(derive_seed(seed, f"drill:{fault}"))


class DuplicatePlan:
    """Which payloads are sent a second time, and how long after their ack.

    `draw()` is called once per payload, in source order, when it is first scheduled; the
    answer travels with the payload until it is acked (a payload never acked is never
    duplicated: 8x8 only redelivers what it delivered). Half the duplicates follow the ack at
    once, the rest after a delay drawn up to `max_delay_s`.
    """

    def __init__(
        self,
        fraction: float,
        rng: random.Random,
        *,
        max_delay_s: float = DEFAULT_DUPLICATE_DELAY_S,
        immediate_share: float = DEFAULT_IMMEDIATE_SHARE,
    ) -> None:
        self.fraction = fraction
        self.rng = rng
        self.max_delay_s = max_delay_s
        self.immediate_share = immediate_share
        self.planned = 0

    def draw(self) -> float | None:
        """The delay after the ack for this payload's duplicate, or None for no duplicate."""
        rng = self.rng
        # Two draws per payload whatever the outcome keeps later decisions independent of
        # earlier ones.
        pick, when = rng.random(), rng.random()
        if pick >= self.fraction:
            return None
        self.planned += 1
        if when < self.immediate_share:
            return 0.0
        spread = (when - self.immediate_share) / (1.0 - self.immediate_share)
        return spread * self.max_delay_s


def reorder(
    items: Iterable[T],
    window: ReorderWindow,
    rng: random.Random,
    *,
    offset: Callable[[int], float] | None = None,
) -> Iterator[T]:
    """The items in shuffled order within consecutive blocks: no item moves further than the
    window (sessions, or seconds of schedule by `offset(position)`). Streams one block at a
    time, so memory is one window."""
    if window.sessions is not None:
        size = window.sessions

        def block(position: int) -> int:
            return position // size

    else:
        if offset is None:
            raise UsageError(
                f"--reorder {window.describe()} needs a schedule (a --rate or --stages); with "
                "--rate max give a number of sessions, e.g. --reorder 20"
            )
        seconds = window.seconds or 1.0

        def block(position: int) -> int:
            return math.floor(offset(position) / seconds)

    buffer: list[T] = []
    current = 0
    for position, item in enumerate(items):
        here = block(position)
        if here != current and buffer:
            rng.shuffle(buffer)
            yield from buffer
            buffer.clear()
        current = here
        buffer.append(item)
    rng.shuffle(buffer)
    yield from buffer


class BurstGate(Generic[T]):
    """When the receiver has failed for `hold_after_s`, hold sessions back; release them as a
    burst once it answers again (8x8 catching up after the receiver's outage).

    Pure: the engine passes the time in. While holding, one held session goes out every
    `probe_every_s` to test the receiver; its ack ends the hold and `release()` returns every
    held session with its due time, `rate` apart (None: all at once).
    """

    def __init__(
        self,
        *,
        hold_after_s: float = DEFAULT_HOLD_AFTER_S,
        probe_every_s: float = DEFAULT_PROBE_EVERY_S,
        rate: float | None = None,
    ) -> None:
        self.hold_after_s = hold_after_s
        self.probe_every_s = probe_every_s
        self.rate = rate
        self.failing_since: float | None = None
        self.holding = False
        self.held: deque[T] = deque()
        self.next_probe = 0.0
        self.holds = 0  # how many times the gate closed
        self.held_total = 0  # times a session was held back, over the run
        self.released_total = 0
        self._recovered_at: float | None = None

    def result(self, now: float, *, ok: bool) -> None:
        """One delivery ended (`now`): an ack opens the gate, a failure may close it."""
        if ok:
            self.failing_since = None
            if self.holding or self.held:
                self.holding = False
                self._recovered_at = now
            return
        if self.failing_since is None:
            self.failing_since = now
        if not self.holding and now - self.failing_since >= self.hold_after_s:
            self.holding = True
            self.holds += 1
            self.next_probe = now + self.probe_every_s

    @property
    def failing(self) -> bool:
        return self.holding or self.failing_since is not None

    def admit(self, item: T, now: float) -> bool:
        """True: send `item` now. False: the gate keeps it (it goes out in the burst)."""
        if not self.holding:
            return True
        self.hold(item)
        return False

    def hold(self, item: T) -> None:
        """Keeps a session back (one due while holding, or one whose delivery failed)."""
        self.held.append(item)
        self.held_total += 1

    def probe(self, now: float) -> T | None:
        """A held session to send as a probe when one is due (at most one per
        `probe_every_s`, until a recovery releases them all), else None."""
        if not self.held or now < self.next_probe or self._recovered_at is not None:
            return None
        self.next_probe = now + self.probe_every_s
        return self.held.popleft()

    def release(self, now: float) -> list[tuple[float, T]]:
        """After recovery: every held session with its due time, in the order they were held."""
        if self.holding or not self.held or self._recovered_at is None:
            return []
        start = max(self._recovered_at, now)
        self._recovered_at = None
        step = 0.0 if self.rate is None else 1.0 / self.rate
        out = [(start + k * step, item) for k, item in enumerate(self.held)]
        self.released_total += len(out)
        self.held.clear()
        return out
