"""One delivery in a user's test, with assertions on what the receiver stored (`vss_send`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from emitter.verify._config import VerifyConfig
from emitter.verify._readback import ReadBack
from emitter.verify._session import Mode, SessionVerdict, verify_session
from emitter.verify._tracker import canonical_or_none

if TYPE_CHECKING:
    from emitter.deliver import Ack


class StoredAssertionError(AssertionError):
    """What the receiver stored is not what the payload means (the message shows both)."""


@dataclass(frozen=True)
class Delivery:
    """The classified ack of one delivery (every Ack attribute: `.ok`, `.status`, …) and the
    means to assert what the receiver did with it.

        delivery = vss_send(payload)
        delivery.assert_stored()                  # stored, matching its canonical reading
        delivery.assert_stored(exactly_once=True) # and only once, after `settle`
        delivery.assert_not_stored()              # e.g. a forged delivery, after `settle`
    """

    ack: Ack
    body: bytes
    read_back: ReadBack | None = field(default=None, repr=False)
    config: VerifyConfig = field(default_factory=lambda: VerifyConfig(kind="callable"))
    acked_at: float = field(default_factory=time.monotonic)

    def __getattr__(self, name: str) -> Any:
        if name in ("ack", "__setstate__"):  # not set yet (copying): never recurse
            raise AttributeError(name)
        return getattr(self.ack, name)

    def assert_stored(
        self,
        *,
        exactly_once: bool = False,
        within: float | None = None,
        settle: float | None = None,
    ) -> SessionVerdict:
        """Fail the test unless the session is stored within `within` seconds of the ack,
        matching the canonical reading of what was sent (and, with `exactly_once`, once)."""
        return self._check("once" if exactly_once else "stored", within, settle)

    def assert_not_stored(self, *, settle: float | None = None) -> SessionVerdict:
        """Fail the test if anything is stored for the session `settle` seconds after the ack."""
        return self._check("absent", None, settle)

    def _check(self, mode: Mode, within: float | None, settle: float | None) -> SessionVerdict:
        from emitter._payload import session_id_in

        __tracebackhide__ = True
        if self.read_back is None:
            raise StoredAssertionError(
                "assert_stored needs a read-back: override the vss_read_back fixture "
                "(def vss_read_back(db): return lambda session_id: [...]) or run pytest "
                "with --vss-verify FILE"
            )
        session_id = session_id_in(self.body)
        if session_id is None:
            raise StoredAssertionError("the payload sent has no $.payload.sessionId to read back")
        config = replace(
            self.config,
            within_s=self.config.within_s if within is None else within,
            settle_s=self.config.settle_s if settle is None else settle,
        )
        expected = canonical_or_none(self.body)
        verdict = verify_session(
            self.read_back,
            session_id,
            mode=mode,
            expected=[expected] if expected is not None else [],
            since=self.acked_at,
            within_s=config.within_s,
            settle_s=config.settle_s,
            max_count=1,
        )
        if verdict.ok:
            return verdict
        raise StoredAssertionError(_explain(verdict))


def _explain(verdict: SessionVerdict) -> str:
    import json

    lines = [f"session {verdict.session_id}: {verdict.state}: {verdict.reason}"]
    lines += [f"  {m}" for m in verdict.mismatches[1:]]
    if verdict.mode != "absent":
        lines += ["expected (canonical reading):", json.dumps(verdict.expected, indent=2)]
    lines += [
        f"stored ({len(verdict.stored)} record(s)):",
        json.dumps(list(verdict.stored), indent=2, default=str),
    ]
    return "\n".join(lines)
