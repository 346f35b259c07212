"""Verifying one session: poll the read-back within `within`, decide counts after `settle`."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from emitter._redact import redact
from emitter.verify._compare import NoCanonicalFields, canonical_names, closest
from emitter.verify._readback import ReadBack, ReadBackError, Stored
from emitter.verify._redaction import redact_value

Mode = Literal["stored", "once", "absent"]
State = Literal[
    "stored",  # stored, matching the canonical reading (and as often as it may be)
    "not_stored",  # absent mode: nothing stored, as it should be
    "missing",  # not stored within `within`
    "mismatched",  # stored, but not what the payload means
    "stored_twice",  # more records than deliveries may leave (after `settle`)
    "stored_forged",  # absent mode: a delivery that should have been rejected was stored
    "uncountable",  # stored and matching, but the read-back cannot count: "once" not verifiable
    "could_not_verify",  # the read-back failed
]
FAILED_STATES: Final = frozenset(
    {"missing", "mismatched", "stored_twice", "stored_forged", "could_not_verify"}
)
ID_ONLY: Final = "judged on sessionId only: the read-back returns no other canonical field"
_FIRST_POLL_S: Final = 0.02
_MAX_POLL_S: Final = 0.25


@dataclass(frozen=True)
class SessionVerdict:
    """What verification found for one sessionId: the state, what was expected and stored."""

    session_id: str
    mode: Mode
    state: State
    reason: str  # one line: "sessionStatus: stored 'COMPLETED', expected 'BUSY'"
    expected: Mapping[str, Any] | None = None  # the canonical record compared against
    stored: tuple[dict[str, Any], ...] = ()  # what the read-back returned last
    mismatches: tuple[str, ...] = ()
    note: str = ""  # why the expectation is what it is (a reused sessionId, …)
    warning: str = ""  # stored as expected, but the verdict proves little (sessionId only)
    reads: int = 0
    elapsed_s: float = 0.0  # from `since` to the verdict
    alternatives: tuple[Mapping[str, Any], ...] = field(default=(), repr=False)

    @property
    def ok(self) -> bool:
        """Stored as expected (or, for a forged delivery, not stored)."""
        return self.state in ("stored", "not_stored")

    @property
    def failed(self) -> bool:
        """A failure (uncountable is neither ok nor a failure: it is not verifiable)."""
        return self.state in FAILED_STATES

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "sessionId": self.session_id,
            "mode": self.mode,
            "state": self.state,
            "reason": self.reason,
            "expected": dict(self.expected) if self.expected is not None else None,
            "stored": list(self.stored),
            "mismatches": list(self.mismatches),
        }
        if self.note:
            out["note"] = self.note
        if self.warning:
            out["warning"] = self.warning
        return out


def verify_session(
    read_back: ReadBack,
    session_id: str,
    *,
    mode: Mode,
    expected: Sequence[Mapping[str, Any]] = (),
    since: float | None = None,
    within_s: float = 5.0,
    settle_s: float = 1.0,
    max_count: int | None = 1,
    note: str = "",
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> SessionVerdict:
    """Verify one session against its canonical reading(s).

    `since` is when the last delivery of the session was acked (monotonic clock; default now):
    `within_s` and `settle_s` count from it. `expected` lists the canonical records a correct
    receiver may hold (the first is this delivery's; more when the sessionId was delivered
    with other contents too). `mode` is "stored" (stored and matching within `within_s`),
    "once" (that, and exactly `max_count` record(s) after `settle_s`) or "absent" (nothing
    stored after `settle_s`). `max_count` None means the count is not judged in "stored" mode.
    """
    started = clock() if since is None else since
    primary = expected[0] if expected else None
    poll = _Poller(read_back, session_id, clock=clock, sleep=sleep)
    # The verify file's secrets: a read-back that echoes one (a header value stored as a field)
    # must not carry it into a report.
    secrets: tuple[str, ...] = tuple(getattr(read_back, "secrets", ()) or ())

    def verdict(state: State, reason: str, **extra: Any) -> SessionVerdict:
        mismatches = tuple(redact(m, secrets) for m in extra.pop("mismatches", ()))
        return SessionVerdict(
            session_id=session_id,
            mode=mode,
            state=state,
            reason=redact(reason, secrets),
            expected=extra.pop("expected", primary),
            stored=tuple(redact_value(r, secrets) for r in poll.last.records),
            mismatches=mismatches,
            note=note,
            reads=poll.reads,
            elapsed_s=clock() - started,
            alternatives=tuple(expected[1:]),
            **extra,
        )

    try:
        if mode == "absent":
            poll.wait_until(started + settle_s)
            found = poll.read()
            if found.records:
                return verdict(
                    "stored_forged",
                    f"stored {_times(len(found.records))} after {settle_s:g} s, though the "
                    "delivery should have been rejected",
                )
            return verdict("not_stored", f"not stored after {settle_s:g} s, as it should not be")
        return _stored(poll, verdict, mode, expected, started, within_s, settle_s, max_count)
    except ReadBackError as exc:
        return verdict("could_not_verify", f"could not verify: {exc}")
    except NoCanonicalFields as exc:
        return verdict("could_not_verify", f"could not verify: {exc}")


def _stored(
    poll: _Poller,
    verdict: Callable[..., SessionVerdict],
    mode: Mode,
    expected: Sequence[Mapping[str, Any]],
    started: float,
    within_s: float,
    settle_s: float,
    max_count: int | None,
) -> SessionVerdict:
    deadline = started + within_s
    first_mismatch: float | None = None
    while True:
        found = poll.read()
        now = poll.clock()
        if found.countable and max_count is not None and len(found.records) > max_count:
            # More records than may ever be there: no later read can make that right.
            return _twice(verdict, len(found.records), max_count, "")
        if found.records and not expected:
            break  # contents not compared (a session the receiver held before): stored is all
        if found.records:
            _, problems = closest(found.records, expected)
            if not problems:
                break
            first_mismatch = now if first_mismatch is None else first_mismatch
            # A receiver may write a session in steps: give a mismatching record `settle`
            # (at most `within`) to become right before calling it wrong.
            if now >= min(deadline, first_mismatch + settle_s):
                more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
                return verdict("mismatched", problems[0] + more, mismatches=tuple(problems))
        elif now >= deadline:
            return verdict("missing", f"not stored within {within_s:g} s of the ack")
        poll.pause(deadline)
    if mode == "once":
        poll.wait_until(started + settle_s)
        found = poll.read()
        if not found.countable:
            return verdict(
                "uncountable",
                "stored as expected, but 'exactly once' is not verifiable: the read-back "
                "returns one object (return an array of every stored record to count them)",
            )
    limit = max_count if found.countable else None
    if limit is not None and len(found.records) > limit:
        return _twice(verdict, len(found.records), limit, f" after {settle_s:g} s")
    if not found.records:
        return verdict("missing", "stored, then gone when read again")
    if expected and all(set(canonical_names(r)) <= {"sessionId"} for r in found.records):
        # "judged on the fields the record has" with only the id: a row exists, nothing more
        # (status, legs and error codes were never looked at).
        return verdict("stored", f"stored as expected ({ID_ONLY})", warning=ID_ONLY)
    return verdict("stored", "stored as expected")


def _twice(
    verdict: Callable[..., SessionVerdict], count: int, limit: int, after: str
) -> SessionVerdict:
    expected = "exactly once" if limit == 1 else f"at most the {limit} records held before"
    return verdict("stored_twice", f"stored {_times(count)}{after}; expected {expected}")


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


class _Poller:
    def __init__(
        self,
        read_back: ReadBack,
        session_id: str,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self.read_back = read_back
        self.session_id = session_id
        self.clock = clock
        self.sleep = sleep
        self.reads = 0
        self.last = Stored(records=(), countable=True)
        self._interval = _FIRST_POLL_S

    def read(self) -> Stored:
        self.reads += 1
        self.last = self.read_back.read(self.session_id)
        return self.last

    def pause(self, deadline: float) -> None:
        """Sleep before the next poll: short at first, backing off, never past `deadline`."""
        left = deadline - self.clock()
        self.sleep(max(0.0, min(self._interval, left)) if left > 0 else self._interval)
        self._interval = min(self._interval * 1.5, _MAX_POLL_S)

    def wait_until(self, moment: float) -> None:
        left = moment - self.clock()
        if left > 0:
            self.sleep(left)
