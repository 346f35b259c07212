"""What a check run produces: probes, their exchanges and results, and the whole report."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from emitter.deliver import Ack

if TYPE_CHECKING:
    from emitter.check._runtime import _ProbeRun
    from emitter.verify import SessionVerdict

Severity = Literal["failure", "warning"]
Verdict = Literal["passed", "failed", "warning"]
VerifyMode = Literal["stored", "once", "absent", "none"]

DEFAULT_CONCURRENCY = 8
DEFAULT_BURST = 20
# 8x8 asks receivers to answer 200 quickly and process afterwards; WhatsApp's webhooks (the only
# 8x8 product that states a number) allow 5 s. An ack slower than this is worth a warning.
QUICK_ACK_S = 1.0


@dataclass(frozen=True)
class Exchange:
    """One request a probe sent and the classified answer it got."""

    body: bytes  # exactly the bytes sent
    ack: Ack
    note: str = ""  # what was special about the request, e.g. "without Authorization"

    def payload(self) -> Any:
        """The body parsed as JSON (every probe sends JSON)."""
        return json.loads(self.body)


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of one probe: a named test case with a severity."""

    name: str
    severity: Severity
    passed: bool
    reason: str  # one line: why it passed or what went wrong
    exchanges: tuple[Exchange, ...]
    elapsed_s: float
    proves: str = ""
    # With --verify: what the read-back found for each of the probe's sessions.
    verification: tuple[SessionVerdict, ...] = ()

    @property
    def group(self) -> str:
        return self.name.split("/", 1)[0]

    @property
    def slowest_ack_s(self) -> float | None:
        """The longest the receiver took to answer one of this probe's requests."""
        return max((x.ack.elapsed_s for x in self.exchanges), default=None)

    @property
    def verdict(self) -> Verdict:
        if self.passed:
            return "passed"
        return "failed" if self.severity == "failure" else "warning"


@dataclass(frozen=True)
class CheckReport:
    """A whole run: what was probed, how, and every probe's result in catalogue order."""

    url: str  # secrets redacted
    seed: int
    timeout_s: float
    concurrency: int
    burst: int
    results: tuple[ProbeResult, ...]
    wall_s: float
    started_at: datetime
    verify: str = ""  # with --verify: the read-back, secrets redacted ("GET http://…/{sessionId}")

    @property
    def passed(self) -> int:
        return sum(r.verdict == "passed" for r in self.results)

    @property
    def failed(self) -> int:
        return sum(r.verdict == "failed" for r in self.results)

    @property
    def warnings(self) -> int:
        return sum(r.verdict == "warning" for r in self.results)

    @property
    def ok(self) -> bool:
        """True when no failure-severity probe failed (warnings do not fail a check)."""
        return self.failed == 0

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1


@dataclass(frozen=True)
class _Verdict:
    passed: bool
    reason: str
    warning: bool = False  # a failure-severity probe that did not pass only as a warning


@dataclass(frozen=True)
class Probe:
    """One conformance test case: what it sends, what it expects, and why it matters."""

    name: str
    severity: Severity
    proves: str  # what a pass proves about the receiver
    why: str  # why a receiver team should care
    run: Callable[[_ProbeRun], _Verdict] = field(repr=False, compare=False)
    # What --verify expects of the probe's sessions: stored (each acked session stored and
    # matching its canonical reading), once (and exactly once after settle), absent (the
    # delivery must not be stored after settle), none (not verified).
    verify: VerifyMode = "stored"

    @property
    def group(self) -> str:
        return self.name.split("/", 1)[0]
