"""`check --verify`: read back what each probe's deliveries left in the receiver, and judge it.

Each probe is verified in the background as soon as it has finished sending, so waiting for
the receiver to process (`within`) and to settle (`settle`) overlaps with the probes still
running. The rule for sessionIds seen before (written down in docs/verify.md):

- before a probe first delivers a sessionId, the read-back is asked what the receiver already
  holds for it (the "baseline"); a session the receiver already held (an earlier run against
  the same database with the same --seed, or a documentation example, whose sessionIds are
  fixed) is judged as an idempotent receiver must behave: still stored, and not stored once
  more (the count must not grow); its contents are not compared, since the receiver rightly
  kept the first delivery;
- a sessionId this run delivers with different contents (8x8's Number Masking examples reuse
  the Voice Messaging examples' sessionIds) may match any of those contents, and its count is
  not judged; every generated probe payload carries its own sessionId, derived from the seed.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from emitter._canonical import canonical_bytes
from emitter._headers import is_secret_header
from emitter._payload import session_id_in
from emitter.check._model import Probe, ProbeResult
from emitter.errors import InputError
from emitter.verify import (
    ReadBack,
    ReadBackError,
    SessionVerdict,
    Stored,
    VerifyConfig,
    verify_session,
)

# Waiting threads cost little: enough that every probe's sessions poll at once.
_WORKERS = 32


class CheckVerifier:
    """Baselines before delivery, background verification after each probe, verdicts at the end."""

    def __init__(
        self,
        config: VerifyConfig,
        read_back: ReadBack,
        *,
        kept_headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.config = config
        self.read_back = read_back
        self._pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="vss-verify")
        self._lock = threading.Lock()
        self._baseline: dict[str, Future[Stored]] = {}
        self._delivered: dict[str, list[Mapping[str, Any]]] = {}
        self._pending: dict[str, list[Future[SessionVerdict]]] = {}
        # Credential-looking -H headers the auth probes keep sending: with one of them, a
        # delivery without Authorization may still be an authenticated one.
        self._kept_credentials = tuple(
            name for name, _ in kept_headers if is_secret_header(name) and _is_other(name)
        )

    # --- before delivery ----------------------------------------------------------------

    def before_delivery(self, bodies: Sequence[bytes]) -> None:
        """Record what each body means and what the receiver held for its sessionId before."""
        waiting = []
        for body in bodies:
            session_id = session_id_in(body)
            if session_id is None:
                continue
            meaning = _canonical_or_none(body)
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

    # --- after the probe -----------------------------------------------------------------

    def start(self, probe: Probe, result: ProbeResult) -> None:
        """Begin verifying the probe's sessions in the background (non-blocking)."""
        mode = probe.verify
        if mode == "none" or not result.exchanges:
            return
        if mode == "absent" and self._kept_credentials:
            # The delivery still carried another credential header: it may be authenticated,
            # and storing it would be right. The auth probe's reason names the header.
            return
        since = time.monotonic()
        if mode == "absent":
            sessions = [x.body for x in result.exchanges]
        else:
            # Only acked deliveries are the receiver's to store: 8x8 retries the others.
            sessions = [x.body for x in result.exchanges if x.ack.ok]
        seen: dict[str, bytes] = {}
        for body in sessions:
            session_id = session_id_in(body)
            if session_id is not None:
                seen.setdefault(session_id, body)
        futures = [
            self._pool.submit(self._verify, session_id, body, mode, since)
            for session_id, body in seen.items()
        ]
        if futures:
            with self._lock:
                self._pending[probe.name] = futures

    def _verify(self, session_id: str, body: bytes, mode: str, since: float) -> SessionVerdict:
        mine = _canonical_or_none(body)
        with self._lock:
            others = [m for m in self._delivered.get(session_id, []) if m != mine]
            baseline = self._baseline.get(session_id)
        expected: list[Mapping[str, Any]] = [m for m in [mine, *others] if m is not None]
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
                    mode=_mode(mode),
                    state="could_not_verify",
                    reason=f"could not verify: reading what was stored before: {exc}",
                    expected=mine,
                )
        if held and mode != "absent":
            notes.append(
                f"the receiver already held {held} record(s) for this sessionId before this "
                "probe delivered it (an earlier run?): contents not compared, the count must "
                "not grow"
            )
            expected = []
            max_count = held if max_count is not None else None
        return verify_session(
            self.read_back,
            session_id,
            mode=_mode(mode),
            expected=expected,
            since=since,
            within_s=self.config.within_s,
            settle_s=self.config.settle_s,
            max_count=max_count,
            note="; ".join(notes),
        )

    # --- the end -------------------------------------------------------------------------

    def finish(self, results: Sequence[ProbeResult]) -> list[ProbeResult]:
        """Every result with its verification folded in; waits for the background work."""
        try:
            judged = []
            for result in results:
                with self._lock:
                    futures = self._pending.pop(result.name, [])
                verdicts = tuple(f.result() for f in futures)
                judged.append(judge(result, verdicts) if verdicts else result)
            return judged
        finally:
            self._pool.shutdown(wait=True)

    def kept_credentials(self) -> tuple[str, ...]:
        return self._kept_credentials


def _is_other(name: str) -> bool:
    return name.strip().lower() != "authorization"


def _mode(mode: str) -> Any:
    return "once" if mode == "once" else "absent" if mode == "absent" else "stored"


def _canonical_or_none(body: bytes) -> dict[str, Any] | None:
    try:
        return canonical_bytes(body)
    except InputError:
        return None


def judge(result: ProbeResult, verdicts: tuple[SessionVerdict, ...]) -> ProbeResult:
    """The probe's result with what verification found: a failure overrides, else a warning."""
    failed = [v for v in verdicts if v.failed]
    if failed:
        first = failed[0]
        of = f" ({len(failed)} of {len(verdicts)} sessions)" if len(verdicts) > 1 else ""
        if first.state == "stored_forged":
            reason = f"the rejected delivery was stored anyway: {first.reason}"
        elif first.state == "could_not_verify":
            reason = first.reason
        elif first.state == "mismatched":
            reason = f"acked, but stored wrong: {first.reason}"
        else:
            reason = f"acked, but {_lower_first(first.reason)}"
        return dataclasses.replace(
            result,
            severity="failure",
            passed=False,
            reason=reason + of,
            verification=verdicts,
        )
    uncounted = [v for v in verdicts if v.state == "uncountable"]
    if uncounted and result.passed:
        return dataclasses.replace(
            result,
            severity="warning",
            passed=False,
            reason=f"{result.reason}; {uncounted[0].reason}",
            verification=verdicts,
        )
    if result.passed:
        absent = all(v.state == "not_stored" for v in verdicts)
        done = "not stored" if absent else "stored as expected"
        return dataclasses.replace(result, reason=f"{result.reason}; {done}", verification=verdicts)
    return dataclasses.replace(result, verification=verdicts)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
