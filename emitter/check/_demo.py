"""The demo: the whole check against the embedded reference receiver."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from emitter.check._model import CheckReport, Probe
from emitter.check._runner import run_check
from emitter.deliver import DeliveryConfig


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
    """Start the reference receiver on a free loopback port and run the whole check against it."""
    from emitter.receiver import ReferenceReceiver

    with ReferenceReceiver() as receiver:
        report = run_check(
            url=receiver.url,
            config=DeliveryConfig(timeout_s=timeout_s),
            seed=seed,
            on_start=None if on_start is None else lambda probes: on_start(receiver.url, probes),
        )
        counts = receiver.counts
    return DemoResult(report=report, receiver_summary=counts.line())
