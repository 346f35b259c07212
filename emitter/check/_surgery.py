"""Payload surgery the probes need: legs and timestamps (the generator makes the payloads)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from emitter.vocabulary import leg_key


def _legs(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    details = payload["payload"].get("details") or {}
    return [leg for leg in details.values() if isinstance(leg, dict)]


def _with_legs(payload: dict[str, Any], legs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    payload["payload"]["details"] = {leg_key(i): leg for i, leg in enumerate(legs)}
    payload["payload"]["callCount"] = len(legs)
    return payload


_TIME_FIELDS = ("startTime", "endTime")
_LEG_TIME_FIELDS = ("initiatedTimestamp", "connectedTimestamp", "disconnectedTimestamp")


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _format_time(moment: datetime, *, style: str = "Z") -> str:
    moment = moment.astimezone(UTC)
    if style == "millis":
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if style == "offset":
        return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _retime(
    payload: dict[str, Any], *, shift: timedelta = timedelta(0), style: str = "Z"
) -> dict[str, Any]:
    body = payload["payload"]
    for name in _TIME_FIELDS:
        if isinstance(body.get(name), str):
            body[name] = _format_time(_parse_time(body[name]) + shift, style=style)
    for leg in _legs(payload):
        for name in _LEG_TIME_FIELDS:
            if isinstance(leg.get(name), str):
                leg[name] = _format_time(_parse_time(leg[name]) + shift, style=style)
    return payload


def _shift_start_to(payload: dict[str, Any], moment: datetime) -> dict[str, Any]:
    start = _parse_time(payload["payload"]["startTime"])
    return _retime(payload, shift=moment - start)
