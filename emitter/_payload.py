"""A payload's canonical bytes, and its sessionId read without validating it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

# allow_nan=False: NaN and Infinity are not JSON; a payload holding one is a bug to report,
# never bytes to send. check_circular=False: a payload is generated or parsed JSON, neither of
# which can contain itself, and skipping the per-container id bookkeeping makes every dump
# faster (the same bytes; a self-containing dict built in Python fails with RecursionError).
_ENCODER: Final = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, check_circular=False
)


def dumps(payload: Mapping[str, Any]) -> bytes:
    """THE canonical compact JSON bytes of a payload: UTF-8, insertion order, no newline.

    Every command that sends a payload it holds as data (generated, or an element of a `.json`
    array) sends these bytes, so the same payload is the same bytes whichever command sends it.
    """
    return _ENCODER.encode(payload).encode()


def session_id_of(document: object) -> str | None:
    """`$.payload.sessionId` when it is there and a string, else None."""
    # dict before Mapping: payloads are dicts, and the Mapping ABC check alone costs a
    # microsecond per call on replay's hot path.
    if isinstance(document, (dict, Mapping)):
        inner = document.get("payload")
        if isinstance(inner, (dict, Mapping)):
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
