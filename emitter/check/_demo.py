"""The demo: the whole check against the embedded reference receiver."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from emitter.check._model import CheckReport, Probe
from emitter.check._runner import run_check
from emitter.deliver import DeliveryConfig

DEMO_SETTLE_S = 0.2  # the wait before "stored exactly once" or "not stored" is concluded


@dataclass(frozen=True)
class DemoResult:
    """A check run against the embedded reference receiver, and what that receiver saw."""

    report: CheckReport
    receiver_summary: str  # "57 deliveries: 57 accepted, 0 rejected, 3 duplicates"


def run_demo(
    *,
    seed: int,
    timeout_s: float = 5.0,
    on_start: Callable[[str, Sequence[Probe]], None] | None = None,
) -> DemoResult:
    """Start the reference receiver on a free loopback port and run the whole check against it.

    The receiver keeps each accepted session's canonical record in memory and the check reads
    it back at the receiver's read-back path (`check --verify` with an `http:` read-back), so
    the demo shows every probe proving what was stored, not only what was answered.
    """
    from emitter.receiver import MEMORY, ReferenceReceiver
    from emitter.verify import VerifyConfig

    with ReferenceReceiver(store=MEMORY) as receiver:
        verify = VerifyConfig(
            kind="http",
            source="the demo",
            http=receiver.read_back_url,
            # The reference receiver answers a read-back after the records of every ack sent
            # before it, so short waits are enough (a real receiver gets the defaults).
            within_s=2.0,
            settle_s=DEMO_SETTLE_S,
        )
        report = run_check(
            url=receiver.url,
            config=DeliveryConfig(timeout_s=timeout_s),
            seed=seed,
            on_start=None if on_start is None else lambda probes: on_start(receiver.url, probes),
            verify=verify,
        )
        counts = receiver.counts
    return DemoResult(report=report, receiver_summary=counts.line())
