"""Turning a probe's acks into a verdict and its one-line reason."""

from __future__ import annotations

import json
from collections.abc import Sequence

from emitter._headers import is_secret_header
from emitter.check._model import _Verdict
from emitter.deliver import Ack, DeliveryConfig, Outcome


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


def auth_change(config: DeliveryConfig, *, removed: bool) -> tuple[str, tuple[str, ...]]:
    """What an auth probe changed, in words, and the credential-looking -H headers it kept.

    The probes touch Authorization only (8x8's httpAuthHeader travels there); every other -H
    header is still sent, and a receiver may authenticate by one of them.
    """
    sources = ["--auth-header"] if config.auth_header else []
    if any(name.lower() == "authorization" for name, _ in config.headers):
        sources.append("-H Authorization")
    verb = "removed" if removed else "replaced by a wrong value"
    text = f"Authorization {verb}" + (f" (from {' and '.join(sources)})" if sources else "")
    kept = [name for name, _ in config.headers if name.lower() != "authorization"]
    if kept:
        text += f"; still sent: -H {', -H '.join(kept)}"
    return text, tuple(name for name in kept if is_secret_header(name))


def _rejected(
    ack: Ack, *, what: str, change: str = "", kept_credentials: Sequence[str] = ()
) -> _Verdict:
    """For auth probes: the receiver must turn the request away with a 4xx."""
    detail = f" ({change})" if change else ""
    if ack.status is not None and 400 <= ack.status < 500:
        return _Verdict(True, f"rejected {what} with HTTP {ack.status}{detail}")
    if ack.ok and kept_credentials:
        # Not proof of a forged webhook accepted: the credential may be in the kept header.
        names = ", ".join(kept_credentials)
        return _Verdict(
            False,
            f"acked a delivery {what}{detail}: right if the receiver authenticates by "
            f"{names}, else it accepts forged webhooks",
        )
    if ack.ok:
        return _Verdict(
            False, f"acked a delivery {what}{detail}: the receiver accepts forged webhooks"
        )
    return _Verdict(False, f"expected 401/403 for a delivery {what}, got {_describe(ack)}")


_FAILED_STATUSES = frozenset({"error", "failed", "failure", "fail"})


def failed_answer(ack: Ack) -> str | None:
    """The body of an ack that says it failed (`"success": false`, `"ok": false`, `"status":
    "error"`/`"failed"`, a non-empty `"error"`), shortened to one line; None otherwise.

    The public receiver that drops every VSS answers `200 {"success": false, ...}`: a 200
    whose body admits failure is worth a warning even when nothing is read back.
    """
    if not ack.ok or not ack.body_excerpt:
        return None
    try:
        body = json.loads(ack.body_excerpt)
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict):
        return None
    status = body.get("status")
    error = body.get("error")
    if (
        body.get("success") is False
        or body.get("ok") is False
        or (isinstance(status, str) and status.strip().lower() in _FAILED_STATUSES)
        or (error is not None and error is not False and error not in ("", [], {}))
    ):
        return " ".join(ack.body_excerpt.split())[:120]
    return None
