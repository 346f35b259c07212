"""Turning a probe's acks into a verdict and its one-line reason."""

from __future__ import annotations

from collections.abc import Sequence

from emitter.check._model import _Verdict
from emitter.deliver import Ack, Outcome


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _describe(ack: Ack) -> str:
    text = ack.reason
    if ack.body_excerpt and ack.outcome is not Outcome.ACKED:
        excerpt = " ".join(ack.body_excerpt.split())[:120]
        text += f" (body: {excerpt})"
    return text


def _all_acked(acks: Sequence[Ack], *, what: str = "delivery") -> _Verdict:
    bad = [(i, a) for i, a in enumerate(acks) if not a.ok]
    if not bad:
        slowest = max(a.elapsed_s for a in acks)
        if len(acks) == 1:
            return _Verdict(True, f"acked (HTTP {acks[0].status})")
        return _Verdict(True, f"all {len(acks)} acked, slowest in {_ms(slowest)}")
    i, first = bad[0]
    where = f"{_ordinal(i + 1)} {what}: " if len(acks) > 1 else ""
    more = f" ({len(bad)} of {len(acks)} not acked)" if len(acks) > 1 else ""
    return _Verdict(False, f"{where}{_describe(first)}{more}")


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _rejected(ack: Ack, *, what: str) -> _Verdict:
    """For auth probes: the receiver must turn the request away with a 4xx."""
    if ack.status is not None and 400 <= ack.status < 500:
        return _Verdict(True, f"rejected {what} with HTTP {ack.status}")
    if ack.ok:
        return _Verdict(False, f"acked a delivery {what}: the receiver accepts forged webhooks")
    return _Verdict(False, f"expected 401/403 for a delivery {what}, got {_describe(ack)}")
