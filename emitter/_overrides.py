"""Overrides (`--set PATH=VALUE`, a scenario file's `overrides:`): parse, check, apply."""

from __future__ import annotations

import copy
import json
import math
import re
from typing import Any, Final

from emitter.errors import UsageError

__all__ = ["OVERRIDE_PATH", "apply_override", "finite", "parse_override"]

OVERRIDE_PATH: Final = re.compile(r"^\$?\.?([A-Za-z_][A-Za-z0-9_]*)(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def parse_override(text: str) -> tuple[str, Any]:
    """'PATH=VALUE' -> (path, value); VALUE is JSON if it parses, else the string itself."""
    path, sep, raw = text.partition("=")
    path = path.strip()
    if not sep or not OVERRIDE_PATH.match(path):
        raise UsageError(
            f"invalid --set {text!r}: expected PATH=VALUE with a dotted path, "
            "e.g. --set payload.subAccountId=acme-prod or --set payload.details.callA.callType=VOIP"
        )
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    except RecursionError:
        raise UsageError(f"invalid --set {path}=...: the JSON value is nested too deeply") from None
    if not finite(value):
        raise UsageError(
            f"invalid --set {text!r}: NaN, Infinity and numbers too large to be finite (like "
            "1e999) are not JSON; give a finite number, e.g. --set "
            "payload.details.callA.callQuality.mos=4.2"
        )
    return path, value


def finite(value: Any) -> bool:
    """False if a float anywhere in `value` is NaN or infinite (JSON cannot carry those)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return False
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return True


def apply_override(payload: dict[str, Any], path: str, value: Any) -> None:
    """Sets `path` (dotted, from the document root) to `value`. UsageError if it cannot be set."""
    parts = path.lstrip("$").lstrip(".").split(".")
    target: Any = payload
    for depth, part in enumerate(parts[:-1]):
        nxt = target.get(part) if isinstance(target, dict) else None
        if not isinstance(nxt, dict):
            have = ", ".join(target) if isinstance(target, dict) else type(target).__name__
            raise UsageError(
                f"cannot set {path!r}: {'.'.join(parts[: depth + 1])} is not an object in this "
                f"payload (there: {have or 'nothing'}); e.g. payload.subAccountId or "
                "payload.details.callA.callType"
            )
        target = nxt
    target[parts[-1]] = copy.deepcopy(value) if isinstance(value, dict | list) else value
