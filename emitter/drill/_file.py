"""Drill files: a staging drill as YAML (source, stages, faults, thresholds, verify), validated.

Every problem is one line naming the file and the key (`drills/deploy.yaml: faults.reorder:
Invalid --reorder …`). Paths inside the file (fixture files, the verify file) are relative to
the drill file's folder, so a drill committed next to its fixtures runs from anywhere. The
command line overrides the file, option by option (see docs/drills.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from emitter._pacing import parse_duration, parse_rate
from emitter.drill._faults import (
    ReorderWindow,
    parse_burst_rate,
    parse_fraction,
    parse_reorder,
)
from emitter.drill._slo import Threshold, parse_slo
from emitter.drill._stages import Stage, parse_stages
from emitter.errors import InputError, UsageError, VssEmitterError

V = TypeVar("V")

TOP_KEYS = (
    "description",
    "source",
    "rate",
    "stages",
    "duration",
    "ramp",
    "concurrency",
    "timeout",
    "faults",
    "slo",
    "verify",
    "verify_sample",
)
SOURCE_KEYS = ("files", "scenario", "seed", "limit", "start_at")
FAULT_KEYS = ("duplicates", "duplicate_delay", "reorder", "retries", "burst_after_failure")
BURST_KEYS = ("rate", "hold_after", "probe_every", "drain")


@dataclass(frozen=True)
class Drill:
    """A drill file's settings; None where the file is silent."""

    path: Path
    description: str | None = None
    files: tuple[str, ...] = ()
    scenarios: tuple[str, ...] = ()
    seed: int | None = None
    limit: int | None = None
    start_at: str | None = None
    rate: str | None = None  # kept as text: the CLI parses it with the same function
    stages: tuple[Stage, ...] | None = None
    duration_s: float | None = None
    ramp_s: float | None = None
    concurrency: int | None = None
    timeout_s: float | None = None
    duplicates: float | None = None
    duplicate_delay_s: float | None = None
    reorder: ReorderWindow | None = None
    retries: tuple[float, ...] | None = None
    burst: bool | None = None
    burst_rate: float | None = None
    hold_after_s: float | None = None
    probe_every_s: float | None = None
    drain_s: float | None = None
    slo: tuple[Threshold, ...] | None = None
    verify: Path | None = None
    verify_sample: float | None = None


class _Keyed:
    """Reads one mapping of the file, turning every problem into `file: key: message`."""

    def __init__(self, path: Path, data: Mapping[str, Any], prefix: str, known: tuple[str, ...]):
        self.path = path
        self.data = data
        self.prefix = prefix
        for key in data:
            if key not in known:
                raise UsageError(
                    f"{path}: unknown key `{prefix}{key}`; expected one of: {', '.join(known)}"
                )

    def fail(self, key: str, message: str) -> UsageError:
        return UsageError(f"{self.path}: {self.prefix}{key}: {message}")

    def get(self, key: str, convert: Callable[[Any], V]) -> V | None:
        if key not in self.data or self.data[key] is None:
            return None
        try:
            return convert(self.data[key])
        except VssEmitterError as exc:
            raise self.fail(key, str(exc)) from None
        except (TypeError, ValueError) as exc:
            raise self.fail(key, str(exc)) from None


def _text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected text, got {type(value).__name__}")
    return str(value)


def _int(minimum: int) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"expected a whole number of {minimum} or more, got {value!r}")
        return value

    return convert


def _seconds(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 30s, got {value!r}")
    return parse_duration(str(value))


def _names(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    return tuple(_text(v) for v in items)


def _stages(value: Any) -> tuple[Stage, ...]:
    return parse_stages(_text(value) if not isinstance(value, list) else [_text(v) for v in value])


def _slo(value: Any) -> tuple[Threshold, ...]:
    return parse_slo(_text(value) if not isinstance(value, list) else [_text(v) for v in value])


def _retries(value: Any) -> tuple[float, ...]:
    items = value if isinstance(value, list) else str(value).split(",")
    delays = []
    for item in items:
        try:
            delays.append(float(item) if not isinstance(item, bool) else -1.0)
        except (TypeError, ValueError):
            delays.append(-1.0)
    if not delays or any(not 0 <= d < float("inf") for d in delays):
        raise ValueError(
            f"invalid retry schedule {value!r}: expected delays in seconds, e.g. [1, 10, 30, 90]"
        )
    return tuple(delays)


def _rate(value: Any) -> str:
    parse_rate(_text(value))
    return _text(value)


def load_drill(path: str | Path) -> Drill:
    """Reads and validates a drill file; UsageError/InputError (one line, file and key)."""
    where = Path(path)
    try:
        text = where.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InputError(
            f"cannot read drill `{where}`: {reason}; expected a YAML drill file, "
            "e.g. --drill drills/deploy.yaml"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark is not None else ""
        raise UsageError(f"{where}: not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise UsageError(
            f"{where}: expected a mapping of drill settings (stages, faults, slo, …), "
            "see docs/drills.md"
        )
    top = _Keyed(where, data, "", TOP_KEYS)
    folder = where.parent

    source_data = data.get("source") or {}
    if not isinstance(source_data, dict):
        raise top.fail("source", "expected a mapping with `files` or `scenario`")
    source = _Keyed(where, source_data, "source.", SOURCE_KEYS)
    files = source.get("files", _names) or ()
    scenarios = source.get("scenario", _names) or ()
    if files and scenarios:
        raise source.fail("files", "give `files` or `scenario`, not both")

    faults_data = data.get("faults") or {}
    if not isinstance(faults_data, dict):
        raise top.fail("faults", f"expected a mapping with keys {', '.join(FAULT_KEYS)}")
    faults = _Keyed(where, faults_data, "faults.", FAULT_KEYS)
    burst_value = faults_data.get("burst_after_failure")
    burst: bool | None = None
    burst_rate: float | None = None
    hold_after_s = probe_every_s = drain_s = None
    if isinstance(burst_value, dict):
        # The long form: {rate: 500/s, hold_after: 1s, probe_every: 1s, drain: 30s}.
        burst = True
        gate = _Keyed(where, burst_value, "faults.burst_after_failure.", BURST_KEYS)
        burst_rate = gate.get("rate", lambda v: parse_burst_rate(_text(v)))
        hold_after_s = gate.get("hold_after", _seconds)
        probe_every_s = gate.get("probe_every", _seconds)
        drain_s = gate.get("drain", _seconds)
    elif burst_value is not None and burst_value is not False:
        burst = True
        if burst_value is not True:
            burst_rate = faults.get("burst_after_failure", lambda v: parse_burst_rate(_text(v)))
    elif burst_value is False:
        burst = False

    rate = top.get("rate", _rate)
    stages = top.get("stages", _stages)
    if rate is not None and stages is not None:
        raise top.fail("rate", "give `rate` or `stages`, not both")
    verify = top.get("verify", _text)
    return Drill(
        path=where,
        description=top.get("description", _text),
        files=tuple(f if f == "-" else str(folder / f) for f in files),
        scenarios=scenarios,
        seed=source.get("seed", _int(0)),
        limit=source.get("limit", _int(1)),
        start_at=source.get("start_at", _text),
        rate=rate,
        stages=stages,
        duration_s=top.get("duration", _seconds),
        ramp_s=top.get("ramp", _seconds),
        concurrency=top.get("concurrency", _int(1)),
        timeout_s=top.get("timeout", _seconds),
        duplicates=faults.get("duplicates", lambda v: parse_fraction(_text(v))),
        duplicate_delay_s=faults.get("duplicate_delay", _seconds),
        reorder=faults.get("reorder", lambda v: parse_reorder(_text(v))),
        retries=faults.get("retries", _retries),
        burst=burst,
        burst_rate=burst_rate,
        hold_after_s=hold_after_s,
        probe_every_s=probe_every_s,
        drain_s=drain_s,
        slo=top.get("slo", _slo),
        verify=None if verify is None else folder / verify,
        verify_sample=top.get(
            "verify_sample", lambda v: parse_fraction(_text(v), option="--verify-sample")
        ),
    )
