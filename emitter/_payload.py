"""A payload's sessionId, read without validating the payload (for acks, records and logs)."""

from __future__ import annotations

import json
from collections.abc import Mapping


def session_id_of(document: object) -> str | None:
    """`$.payload.sessionId` when it is there and a string, else None."""
    if isinstance(document, Mapping):
        inner = document.get("payload")
        if isinstance(inner, Mapping):
            sid = inner.get("sessionId")
            if isinstance(sid, str):
                return sid
    return None


def session_id_in(body: bytes) -> str | None:
    """The sessionId of a raw body, None when it is not JSON or has none."""
    try:
        return session_id_of(json.loads(body))
    except (ValueError, RecursionError):
        return None
