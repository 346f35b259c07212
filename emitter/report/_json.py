"""A check run as JSON data (`--report-json`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from emitter._atomic import atomic_write
from emitter._version import __version__
from emitter.check import CheckReport, Exchange
from emitter.coverage import coverage_of_bodies


def _payload_json(exchange: Exchange) -> Any:
    try:
        return exchange.payload()
    except ValueError:
        return exchange.body.decode("utf-8", "replace")


def _exchange_json(exchange: Exchange) -> dict[str, Any]:
    return {
        "note": exchange.note,
        "payload": _payload_json(exchange),
        "ack": exchange.ack.as_dict(),
    }


def report_json(report: CheckReport) -> dict[str, Any]:
    """Everything about a run as plain JSON data (the URL already has its secrets masked)."""
    return {
        "tool": "vss-emitter",
        "version": __version__,
        "target": report.url,
        "seed": report.seed,
        "started_at": report.started_at.isoformat(),
        "timeout_s": report.timeout_s,
        "concurrency": report.concurrency,
        "burst": report.burst,
        "wall_s": round(report.wall_s, 6),
        "verify": report.verify or None,  # the read-back of --verify, secrets redacted
        "summary": {
            "probes": len(report.results),
            "passed": report.passed,
            "failed": report.failed,
            "warnings": report.warnings,
            "ok": report.ok,
            "exit_code": report.exit_code,
        },
        "probes": [
            {
                "name": r.name,
                "group": r.group,
                "severity": r.severity,
                "verdict": r.verdict,
                "passed": r.passed,
                "reason": r.reason,
                "proves": r.proves,
                "elapsed_s": round(r.elapsed_s, 6),
                "exchanges": [_exchange_json(x) for x in r.exchanges],
                # With --verify: expected (canonical) and stored records, per session.
                "verification": [v.as_dict() for v in r.verification],
            }
            for r in report.results
        ],
        # Which parts of the contract the payloads sent exercised (emitter.coverage).
        "coverage": coverage_of_bodies(
            x.body for r in report.results for x in r.exchanges
        ).as_dict(),
    }


def write_json(report: CheckReport, path: str | os.PathLike[str]) -> Path:
    # default=str: the last resort for a value a read-back returned that nothing made JSON-able
    text = json.dumps(report_json(report), indent=2, ensure_ascii=False, default=str) + "\n"
    return atomic_write(path, text.encode("utf-8"))
