"""Verifying many sessions after a run (replay): sampling, concurrency, and the counts."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from emitter._canonical import canonical_bytes
from emitter._seeds import derive_seed
from emitter.errors import InputError, UsageError
from emitter.verify._config import VerifyConfig
from emitter.verify._readback import ReadBack, open_read_back, preflight
from emitter.verify._session import SessionVerdict, verify_session

DEFAULT_CONCURRENCY = 8


@dataclass(frozen=True)
class VerifySummary:
    """The counts of a batch verification, and the sessions that did not verify.

    `stored + missing + mismatched + stored_twice + could_not_verify + uncountable == checked`;
    `skipped` sessions were left out by sampling.
    """

    checked: int
    stored: int
    missing: int
    mismatched: int
    stored_twice: int
    could_not_verify: int
    uncountable: int
    skipped: int
    sample: float
    details: tuple[SessionVerdict, ...]  # every session not stored as expected, in input order

    @property
    def ok(self) -> bool:
        """No session missing, mismatched, stored twice, or unverifiable because a read failed."""
        return not (self.missing or self.mismatched or self.stored_twice or self.could_not_verify)

    def line(self) -> str:
        """`verify: 98 stored, 1 missing, 1 mismatched, 0 stored twice (100 checked)`."""
        parts = [
            f"{self.stored} stored",
            f"{self.missing} missing",
            f"{self.mismatched} mismatched",
            f"{self.stored_twice} stored twice",
        ]
        if self.could_not_verify:
            parts.append(f"{self.could_not_verify} could not verify")
        if self.uncountable:
            parts.append(f"{self.uncountable} stored, count not verifiable")
        sampled = f", a {self.sample:.0%} sample" if self.sample < 1 else ""
        return f"verify: {', '.join(parts)} ({self.checked} checked{sampled})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "stored": self.stored,
            "missing": self.missing,
            "mismatched": self.mismatched,
            "stored_twice": self.stored_twice,
            "could_not_verify": self.could_not_verify,
            "uncountable": self.uncountable,
            "skipped": self.skipped,
            "sample": self.sample,
            "details": [v.as_dict() for v in self.details],
        }


def sampled(session_id: str, *, seed: int, sample: float) -> bool:
    """Whether a session is in the sample: a stable function of (seed, sessionId)."""
    if sample >= 1:
        return True
    return derive_seed(seed, f"verify:{session_id}") < sample * 2**63


def check_sample(sample: float) -> float:
    if not 0 < sample <= 1:
        raise UsageError(
            f"invalid verify sample {sample!r}: expected a fraction above 0 and at most 1, "
            "e.g. --verify-sample 0.01 (1% of the sessions)"
        )
    return sample


def verify_sessions(
    config: VerifyConfig,
    expected: Iterable[tuple[str, Mapping[str, Any] | bytes]],
    *,
    sample: float = 1.0,
    seed: int = 0,
    exactly_once: bool = True,
    since: float | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    read_back: ReadBack | None = None,
    on_result: Callable[[SessionVerdict], None] | None = None,
) -> VerifySummary:
    """Verify that every (sampled) session is stored once, matching its canonical reading.

    See the package docstring for the contract; in short: `expected` yields (sessionId,
    canonical record) pairs (or the raw body bytes, read only when sampled); a sessionId given
    several times with different contents may match any of them. `since` is the monotonic
    time of the last ack (default: now).
    """
    check_sample(sample)
    if concurrency < 1:
        raise UsageError(f"invalid verify concurrency {concurrency}: expected 1 or more, e.g. 8")
    sessions: dict[str, list[Mapping[str, Any]]] = {}
    skipped = 0
    for session_id, record in expected:
        if not sampled(session_id, seed=seed, sample=sample):
            skipped += 1
            continue
        if isinstance(record, bytes | bytearray):
            try:
                record = canonical_bytes(bytes(record))
            except InputError:
                continue  # a body that is not a VSS document: nothing a receiver could store
        known = sessions.setdefault(session_id, [])
        if record not in known:
            known.append(record)
    moment = time.monotonic() if since is None else since
    own = read_back is None
    reader = read_back if read_back is not None else open_read_back(config)
    try:
        if own:
            preflight(reader, config)

        def one(item: tuple[str, list[Mapping[str, Any]]]) -> SessionVerdict:
            session_id, records = item
            found = verify_session(
                reader,
                session_id,
                mode="once" if exactly_once else "stored",
                expected=records,
                since=moment,
                within_s=config.within_s,
                settle_s=config.settle_s,
                max_count=1 if exactly_once else None,
                note="delivered with different contents" if len(records) > 1 else "",
            )
            if on_result is not None:
                on_result(found)
            return found

        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="vss-verify") as pool:
            verdicts = list(pool.map(one, sessions.items()))
    finally:
        if own:
            reader.close()
    counts = dict.fromkeys(("stored", "missing", "mismatched", "stored_twice"), 0)
    counts |= {"could_not_verify": 0, "uncountable": 0}
    for found in verdicts:
        counts[found.state] = counts.get(found.state, 0) + 1
    return VerifySummary(
        checked=len(verdicts),
        skipped=skipped,
        sample=sample,
        details=tuple(v for v in verdicts if not v.ok),
        **counts,
    )
