"""What the reference receiver knows of each delivery: the Delivery record, counts, text forms."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from emitter.contract import Finding


@dataclass(frozen=True)
class Delivery:
    """One POST the receiver answered, as it judged it."""

    received_at: datetime
    session_id: str | None  # payload.sessionId, when the body had one
    status: int  # the HTTP status answered: 200, 400, 411 or 413
    duplicate: bool  # a sessionId already accepted: acked 200, not processed again
    findings: tuple[Finding, ...]  # contract problems (warnings on a 200, errors on a 400)
    path: str = "/"
    body: bytes = field(default=b"", repr=False)  # empty when the body was not read (413)
    # Kept in memory for tests of what a sender sent; never written to --record (credentials).
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @property
    def accepted(self) -> bool:
        return self.status == 200

    def record(self) -> dict[str, Any]:
        """The --record NDJSON object: no headers, the payload parsed when it is JSON.

        A body that is not strict JSON (not JSON, NaN or Infinity, nested too deep to parse)
        is recorded as text, so every line of the record stays valid JSON.
        """
        payload: Any = None
        if self.body:
            try:
                payload = json.loads(self.body, parse_constant=_no_constant)
            except (ValueError, RecursionError):
                payload = self.body.decode("utf-8", errors="replace")
        return {
            "received_at": iso(self.received_at),
            "session_id": self.session_id,
            "status": self.status,
            "duplicate": self.duplicate,
            "findings": [asdict(f) for f in self.findings],
            "path": self.path,
            "payload": payload,
        }

    def line(self) -> str:
        """The one-line log form: time, status, sessionId, duplicate marker, first problem."""
        parts = [iso(self.received_at), str(self.status), self.session_id or "-"]
        if self.duplicate:
            parts.append("duplicate")
        if self.findings:
            first = self.findings[0]
            more = f" (+{len(self.findings) - 1} more)" if len(self.findings) > 1 else ""
            parts.append(f"{first.severity}: {first.path}: {first.message}{more}")
        return "  ".join(parts)


@dataclass(frozen=True)
class ReceiverCounts:
    """Totals since the receiver started (not bounded by how many deliveries are kept)."""

    deliveries: int = 0
    accepted: int = 0  # 200s, duplicates included
    rejected: int = 0  # 400, 411, 413
    duplicates: int = 0

    def line(self) -> str:
        noun = "delivery" if self.deliveries == 1 else "deliveries"
        return (
            f"{self.deliveries} {noun}: {self.accepted} accepted, {self.rejected} rejected, "
            f"{self.duplicates} duplicate{'' if self.duplicates == 1 else 's'}"
        )

    def plus(self, delivery: Delivery) -> ReceiverCounts:
        return ReceiverCounts(
            deliveries=self.deliveries + 1,
            accepted=self.accepted + (delivery.status == 200),
            rejected=self.rejected + (delivery.status != 200),
            duplicates=self.duplicates + delivery.duplicate,
        )


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_text(document: Any) -> str:
    """JSON text that always encodes as UTF-8: readable non-ASCII, \\u escapes when needed."""
    text = json.dumps(document, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate ("\ud800" in the body) is valid JSON but not UTF-8: only an
        # escape can carry it, into the answer and the record alike.
        text = json.dumps(document, ensure_ascii=True)
    return text


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def read_record(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a --record NDJSON file, in order."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)
