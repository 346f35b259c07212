"""`check --verify`: read back what each probe's deliveries left in the receiver, and judge it.

Each probe is verified in the background as soon as it has finished sending, so waiting for
the receiver to process (`within`) and to settle (`settle`) overlaps with the probes still
running. Sessions seen before follow the rule in emitter.verify._tracker (docs/verify.md).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future

from emitter._headers import is_secret_header
from emitter._payload import session_id_in
from emitter.check._model import Probe, ProbeResult
from emitter.verify import ReadBack, SessionVerdict, VerifyConfig
from emitter.verify._tracker import DeliveryTracker


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
        self._tracker = DeliveryTracker(config, read_back)
        self._lock = threading.Lock()
        self._pending: dict[str, list[Future[SessionVerdict]]] = {}
        self._unchecked: set[str] = set()  # auth probes whose acked forged delivery was skipped
        # Credential-looking -H headers the auth probes keep sending: with one of them, a
        # delivery without Authorization may still be an authenticated one.
        self._kept_credentials = tuple(
            name for name, _ in kept_headers if is_secret_header(name) and _is_other(name)
        )

    def before_delivery(self, bodies: Sequence[bytes]) -> None:
        """What each body means and what the receiver held for its sessionId before."""
        self._tracker.before_delivery(bodies)

    def start(self, probe: Probe, result: ProbeResult) -> None:
        """Begin verifying the probe's sessions in the background (non-blocking)."""
        mode = probe.verify
        if mode == "none" or not result.exchanges:
            return
        since = time.monotonic()
        if mode == "absent" and self._kept_credentials:
            # The delivery still carried another credential header: one the receiver acked may
            # be authenticated by it, and storing that would be right. One it rejected must
            # still not be stored: the receiver itself called it forged.
            bodies = [x.body for x in result.exchanges if not x.ack.ok]
            if len(bodies) < len(result.exchanges):
                with self._lock:
                    self._unchecked.add(probe.name)
        elif mode == "absent":
            bodies = [x.body for x in result.exchanges]
        else:
            # Only acked deliveries are the receiver's to store: 8x8 retries the others.
            bodies = [x.body for x in result.exchanges if x.ack.ok]
        seen: dict[str, bytes] = {}
        for body in bodies:
            session_id = session_id_in(body)
            if session_id is not None:
                seen.setdefault(session_id, body)
        futures = [
            f
            for f in (self._tracker.submit(b, mode=mode, since=since) for b in seen.values())
            if f is not None
        ]
        if futures:
            with self._lock:
                self._pending[probe.name] = futures

    def finish(self, results: Sequence[ProbeResult]) -> list[ProbeResult]:
        """Every result with its verification folded in; waits for the background work."""
        try:
            judged = []
            for result in results:
                with self._lock:
                    futures = self._pending.pop(result.name, [])
                    unchecked = result.name in self._unchecked
                verdicts = tuple(f.result() for f in futures)
                done = judge(result, verdicts) if verdicts else result
                if unchecked:
                    headers = ", ".join(self._kept_credentials)
                    done = dataclasses.replace(
                        done,
                        reason=f"{done.reason}; 'not stored' not checked for the acked delivery "
                        f"(it still carried {headers}, which may authenticate it)",
                    )
                judged.append(done)
            return judged
        finally:
            self._tracker.close()


def _is_other(name: str) -> bool:
    return name.strip().lower() != "authorization"


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
    flagged = [v for v in verdicts if v.warning]
    if flagged and result.passed:
        return dataclasses.replace(
            result,
            severity="warning",
            passed=False,
            reason=f"{result.reason}; stored, but {flagged[0].warning}",
            verification=verdicts,
        )
    if result.passed:
        absent = all(v.state == "not_stored" for v in verdicts)
        done = "not stored" if absent else "stored as expected"
        return dataclasses.replace(result, reason=f"{result.reason}; {done}", verification=verdicts)
    return dataclasses.replace(result, verification=verdicts)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
