"""Verifying while a run delivers: what the receiver held before, what this run sent, and
each session checked in the background once acked (check --verify, send --verify).

The rule for sessionIds seen before (docs/verify.md):

- a sessionId means its contents: every generated payload's sessionId is derived from the seed
  and what the payload says, so a sessionId sent again carries the same contents;
- before a sessionId is first delivered, the read-back is asked what the receiver already
  holds for it (the "baseline"). A session the receiver already held (an earlier run against
  the same database with the same --seed, a fixture file sent again, a documentation example,
  whose sessionIds are fixed) is still compared with the canonical reading, and it must not be
  stored once more (the count must not grow);
- a sessionId the kit knows with different contents (8x8's Number Masking examples reuse the
  Voice Messaging examples' sessionIds) may match any of the canonical readings known for it:
  those this run delivered and every documentation example carrying it. Its count is not
  judged when this run delivered several of them. A user's file re-sent with edited contents
  under the same sessionId is the user's to avoid: changed contents need a fresh sessionId.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Final

from emitter._canonical import canonical_bytes
from emitter._payload import session_id_in
from emitter.errors import InputError
from emitter.verify._config import VerifyConfig
from emitter.verify._readback import ReadBack, ReadBackError, Stored
from emitter.verify._session import Mode, SessionVerdict, verify_session

# A session judged after `settle` holds its worker while it waits, and a rerun against a
# database that kept the last run's sessions waits on every one of them: enough workers that a
# whole check's sessions (about 100) wait side by side. Idle threads cost little; they start
# only when needed.
DEFAULT_WORKERS: Final = 128


class DeliveryTracker:
    """Baselines before delivery, then one background verification per acked session."""

    def __init__(
        self, config: VerifyConfig, read_back: ReadBack, *, workers: int = DEFAULT_WORKERS
    ) -> None:
        self.config = config
        self.read_back = read_back
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vss-verify")
        self._lock = threading.Lock()
        self._baseline: dict[str, Future[Stored]] = {}
        self._delivered: dict[str, list[Mapping[str, Any]]] = {}

    def before_delivery(self, bodies: Sequence[bytes]) -> None:
        """Record what each body means, and read what the receiver held for its sessionId
        (once per sessionId per run); returns when those reads are done."""
        waiting = []
        for body in bodies:
            session_id = session_id_in(body)
            if session_id is None:
                continue
            meaning = canonical_or_none(body)
            with self._lock:
                known = self._delivered.setdefault(session_id, [])
                if meaning is not None and meaning not in known:
                    known.append(meaning)
                future = self._baseline.get(session_id)
                if future is None:
                    future = self._pool.submit(self.read_back.read, session_id)
                    self._baseline[session_id] = future
            waiting.append(future)
        for future in waiting:
            # A failed baseline read is reported when the session is verified, not here.
            future.exception()

    def submit(self, body: bytes, *, mode: Mode, since: float) -> Future[SessionVerdict] | None:
        """Verify the body's session in the background (None: the body has no sessionId)."""
        session_id = session_id_in(body)
        if session_id is None:
            return None
        return self._pool.submit(self._verify, session_id, body, mode, since)

    def _verify(self, session_id: str, body: bytes, mode: Mode, since: float) -> SessionVerdict:
        mine = canonical_or_none(body)
        with self._lock:
            others = [m for m in self._delivered.get(session_id, []) if m != mine]
            baseline = self._baseline.get(session_id)
        expected: list[Mapping[str, Any]] = [m for m in [mine, *others] if m is not None]
        expected += [m for m in documented_readings(session_id) if m not in expected]
        notes = []
        max_count: int | None = 1
        if others:
            notes.append(
                f"this run delivered sessionId {session_id} with {len(others) + 1} different "
                "contents: any of them may be stored, and the count is not judged"
            )
            max_count = None
        held = 0
        if baseline is not None:
            try:
                held = len(baseline.result().records)
            except ReadBackError as exc:
                return SessionVerdict(
                    session_id=session_id,
                    mode=mode,
                    state="could_not_verify",
                    reason=f"could not verify: reading what was stored before: {exc}",
                    expected=mine,
                )
        if held and mode != "absent":
            notes.append(
                f"the receiver already held {held} record(s) for this sessionId before it was "
                "delivered (an earlier run?): compared with the canonical reading as usual, and "
                "the count must not grow"
            )
            max_count = held if max_count is not None else None
            if max_count is not None:
                mode = "once"  # a delivery of a held session is a duplicate: count after settle
        return verify_session(
            self.read_back,
            session_id,
            mode=mode,
            expected=expected,
            since=since,
            within_s=self.config.within_s,
            settle_s=self.config.settle_s,
            max_count=max_count,
            note="; ".join(notes),
        )

    def close(self) -> None:
        """Wait for the background work and stop the workers."""
        self._pool.shutdown(wait=True)


@functools.cache
def _documented() -> dict[str, tuple[dict[str, Any], ...]]:
    """The canonical readings of 8x8's documentation examples, by sessionId (several share
    one: Number Masking's examples reuse Voice Messaging's sessionIds)."""
    from emitter._resources import schemas_dir

    found: dict[str, list[dict[str, Any]]] = {}
    for entry in schemas_dir().joinpath("examples").iterdir():
        if not entry.name.endswith(".json"):
            continue
        body = entry.read_bytes()
        session_id = session_id_in(body)
        meaning = canonical_or_none(body)
        if session_id is not None and meaning is not None:
            found.setdefault(session_id, []).append(meaning)
    return {k: tuple(v) for k, v in found.items()}


def documented_readings(session_id: str) -> tuple[dict[str, Any], ...]:
    """Every canonical reading the documentation examples give this sessionId (usually none)."""
    return _documented().get(session_id, ())


def canonical_or_none(body: bytes) -> dict[str, Any] | None:
    try:
        return canonical_bytes(body)
    except InputError:
        return None
