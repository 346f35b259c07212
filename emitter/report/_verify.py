"""What --verify found, as report text: mismatches, and the expected and stored records."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emitter.check import CheckReport, ProbeResult
    from emitter.verify import SessionVerdict

_SHOWN_SESSIONS = 3  # a failing burst explains this many sessions in text reports


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def problem_sessions(verdicts: Sequence[SessionVerdict]) -> list[SessionVerdict]:
    return [v for v in verdicts if not v.ok]


def verification_lines(result: ProbeResult, *, records: bool = True) -> list[str]:
    """Each session that did not verify: its state and reason, every mismatch, and (with
    `records`) the canonical record expected and every record the read-back returned."""
    bad = problem_sessions(result.verification)
    lines: list[str] = []
    for verdict in bad[:_SHOWN_SESSIONS]:
        lines.append(f"verify {verdict.session_id}: {verdict.state}: {verdict.reason}")
        if verdict.note:
            lines.append(f"  note: {verdict.note}")
        lines += [f"  {m}" for m in verdict.mismatches[1:]]
        if records:
            lines += ["expected (canonical reading):", _pretty(verdict.expected)]
            lines += [f"stored ({len(verdict.stored)} record(s)):", _pretty(list(verdict.stored))]
    if len(bad) > _SHOWN_SESSIONS:
        lines.append(f"... and {len(bad) - _SHOWN_SESSIONS} more sessions (see --report-json)")
    return lines


def nothing_found_hint(report: CheckReport) -> str | None:
    """A hint when every acked session read back as "not stored" and nothing was stored at
    all: more likely a wrong read-back URL or query than a receiver that lost everything."""
    verdicts = [v for r in report.results for v in r.verification]
    expected = [v for v in verdicts if v.mode != "absent"]
    if not expected or any(v.state != "missing" or v.stored for v in expected):
        return None
    if any(v.stored for v in verdicts):
        return None
    return (
        f"hint: the read-back found nothing for any of the {len(expected)} acked session(s); "
        f"if the receiver did store them, the read-back is wrong: {report.verify}"
    )


def write_verification(result: ProbeResult, path: Path) -> Path | None:
    """`<probe>.verify.json` next to the saved payloads: expected and stored, per session."""
    from emitter._atomic import atomic_write

    bad = problem_sessions(result.verification)
    if not bad:
        return None
    data = json.dumps([v.as_dict() for v in bad], indent=2, ensure_ascii=False, default=str)
    return atomic_write(
        path, data.encode() + b"\n", example="--save-failures failed/", make_parents=True
    )
