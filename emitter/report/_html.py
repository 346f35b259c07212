"""Self-contained HTML reports (Jinja2 templates): check, send, replay and contract coverage.

Each renderer reads the same plain dict the JSON report holds, defensively: a key that is
absent (no --verify, no drill, an older engine) leaves its section out. Pages carry their CSS
inline and no script; replay's plots are inline SVG (`_plots`), so a page opened from a CI
artifact fetches nothing. Files are written atomically.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emitter._atomic import atomic_write, check_writable
from emitter._redact import display_url
from emitter._version import __version__

if TYPE_CHECKING:
    import jinja2

    from emitter.coverage import Coverage
    from emitter.deliver import Ack

# A failing probe can send a burst of identical payloads; the page shows this many in full.
_SHOWN_EXCHANGES = 3
_SHOWN_SESSIONS = 10  # a replay's page explains this many sessions --verify found wrong
_EXAMPLE = "--html build/vss-report.html"
# SessionVerdict states that need no explaining (emitter.verify): stored as expected.
_VERIFIED = frozenset({"stored", "not_stored", "uncountable"})
_UNEXPECTED = re.compile(r"'([^']+)'")


@cache
def _environment() -> jinja2.Environment:
    import jinja2  # only for a page: `replay --report-json` alone does not pay for it

    return jinja2.Environment(
        loader=jinja2.PackageLoader("emitter.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(version=__version__, **context)


def check_html_path(path: str | os.PathLike[str]) -> None:
    """UsageError now, before a run starts, when `path` can never be written."""
    check_writable(path, example=_EXAMPLE)


def _write(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write(path, text.encode("utf-8"), example=_EXAMPLE)


# --- pretty JSON with highlighted paths --------------------------------------------------------


@dataclass(frozen=True)
class JsonLine:
    """One line of pretty-printed JSON, with why it is highlighted (empty: it is not)."""

    text: str
    path: str
    note: str = ""


def _json_lines(value: Any, notes: Mapping[str, str]) -> list[JsonLine]:
    lines: list[JsonLine] = []

    def walk(item: Any, path: str, indent: int, key: str | None, comma: str) -> None:
        pad = "  " * indent
        head = pad + (json.dumps(key, ensure_ascii=False) + ": " if key is not None else "")
        note = notes.get(path, "")
        if isinstance(item, dict) and item:
            lines.append(JsonLine(head + "{", path, note))
            for n, (k, v) in enumerate(item.items()):
                walk(v, f"{path}.{k}", indent + 1, str(k), "," if n < len(item) - 1 else "")
            lines.append(JsonLine(pad + "}" + comma, path))
        elif isinstance(item, list) and item:
            lines.append(JsonLine(head + "[", path, note))
            for n, v in enumerate(item):
                walk(v, f"{path}[{n}]", indent + 1, None, "," if n < len(item) - 1 else "")
            lines.append(JsonLine(pad + "]" + comma, path))
        else:
            lines.append(JsonLine(head + json.dumps(item, ensure_ascii=False) + comma, path, note))

    walk(value, "$", 0, None, "")
    return lines


def contract_notes(payload: Any) -> dict[str, str]:
    """JSON path -> what is unusual there: every strict-mode finding (quirks, mutations,
    unknown fields), so the page can mark the lines that make a probe's payload special."""
    from emitter.contract import validate

    notes: dict[str, str] = {}
    try:
        findings = validate(payload, strict=True)
    except Exception:  # noqa: BLE001  (a report must render whatever a receiver was sent)
        return notes
    for finding in findings:
        paths = [finding.path]
        if finding.rule == "schema.additionalProperties":
            # Reported on the parent object: point at the unexpected keys themselves.
            names = _UNEXPECTED.findall(finding.message)
            if "does not match any of the regexes" in finding.message:
                names = names[:1]
            paths = [f"{finding.path}.{name}" for name in names] or paths
        for path in paths:
            notes[path] = f"{notes[path]}; {finding.message}" if path in notes else finding.message
    return notes


def _pretty(payload: Any) -> list[JsonLine]:
    if isinstance(payload, str):  # a body that was not JSON is shown as sent
        return [JsonLine(line, "$") for line in payload.splitlines() or [""]]
    return _json_lines(payload, contract_notes(payload))


def _diff(expected: Any, stored: Any) -> list[tuple[str, str]]:
    """(kind, line) of a unified diff of two records: kind is add, del, hunk or same."""
    left = json.dumps(expected, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    right = json.dumps(stored, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    out: list[tuple[str, str]] = []
    for line in difflib.unified_diff(left, right, "expected", "stored", n=3, lineterm=""):
        if line.startswith(("---", "+++")):
            continue
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")
        out.append((kind, line))
    return out


# --- check ---------------------------------------------------------------------------------


def _aligned(expected: Any, stored: Any) -> tuple[Any, Any]:
    """The expected record and the stored one as --verify compared them: only the fields the
    stored record has, under their canonical names, legs matched by key, and a stored value
    that means the expected one (another timestamp format, 4 for 4.0) shown as the expected
    one, so the diff holds the real differences only. Several stored records, or a shape
    the comparison cannot read, are diffed as they are."""
    if isinstance(stored, list) and len(stored) == 1:
        stored = stored[0]
    if not isinstance(expected, Mapping) or not isinstance(stored, Mapping):
        return expected, stored
    from emitter.verify._compare import canonical_names, same_value

    def side(
        exp: Mapping[str, Any], got: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        left = {name: exp.get(name) for name in got}
        right = {n: exp.get(n) if same_value(n, v, exp.get(n)) else v for n, v in got.items()}
        return left, right

    fields = canonical_names(stored)
    if not fields:
        return expected, stored
    legs = fields.pop("legs", None)
    left, right = side(expected, fields)
    if legs is not None:
        if isinstance(legs, str):
            try:
                legs = json.loads(legs)
            except ValueError:
                return expected, stored
        if isinstance(legs, Mapping):
            legs = [{"key": k, **v} for k, v in legs.items() if isinstance(v, Mapping)]
        if not isinstance(legs, list):
            return expected, stored
        stored_legs = [canonical_names(leg, leg=True) for leg in legs if isinstance(leg, Mapping)]
        by_key = {leg.get("key"): leg for leg in stored_legs}
        left["legs"], right["legs"] = [], []
        for leg in expected.get("legs") or []:
            got = by_key.pop(leg.get("key"), None)
            if got is None:
                left["legs"].append(dict(leg))  # expected, not stored: all `-`
                continue
            a, b = side(leg, got)
            left["legs"].append(a)
            right["legs"].append(b)
        right["legs"] += list(by_key.values())  # stored, not expected: all `+`
    return left, right


def _verification(probe: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The sessions --verify did not find stored as expected, each with the expected
    (canonical) record against what the read-back returned, as a diff. Reads
    `verification` (a list of SessionVerdict.as_dict()); passing sessions are left out."""
    found = probe.get("verification")
    if isinstance(found, Mapping):
        found = found.get("records") or found.get("sessions") or [found]
    shown: list[dict[str, Any]] = []
    for entry in found if isinstance(found, list) else []:
        if not isinstance(entry, Mapping) or entry.get("state") in _VERIFIED:
            continue
        expected, stored = _aligned(entry.get("expected"), entry.get("stored"))
        shown.append(
            {
                "session_id": entry.get("sessionId") or entry.get("session_id") or "",
                "verdict": entry.get("state") or entry.get("verdict") or "",
                "reason": entry.get("reason") or "",
                "mismatches": [str(m) for m in entry.get("mismatches") or ()],
                # A diff explains a record stored wrong; "missing" or "stored twice" say it all.
                "diff": _diff(expected, stored)
                if "expected" in entry and entry.get("state", "mismatched") == "mismatched"
                else [],
            }
        )
    return shown


def _check_probe(probe: Mapping[str, Any]) -> dict[str, Any]:
    exchanges = [x for x in probe.get("exchanges", ()) if isinstance(x, Mapping)]
    verdict = probe.get("verdict", "")
    shown: list[dict[str, Any]] = []
    distinct: dict[str, Mapping[str, Any]] = {}
    if verdict != "passed":
        # Requests that were not acked explain a failure best; else (a slow ack, an auth
        # probe that should have been refused) every request is worth seeing. A burst of
        # the same payload is shown once.
        bad = [x for x in exchanges if not (x.get("ack") or {}).get("ok")] or exchanges
        for exchange in bad:
            key = json.dumps(exchange.get("payload"), sort_keys=True, default=str)
            distinct.setdefault(key, exchange)
        for exchange in list(distinct.values())[:_SHOWN_EXCHANGES]:
            shown.append(
                {
                    "note": exchange.get("note", ""),
                    "ack": exchange.get("ack") or {},
                    "lines": _pretty(exchange.get("payload")),
                    "position": exchanges.index(exchange) + 1,
                }
            )
    slowest = max(
        (float((x.get("ack") or {}).get("elapsed_s") or 0.0) for x in exchanges), default=None
    )
    return {
        "name": probe.get("name", "?"),
        "group": probe.get("group", str(probe.get("name", "?")).split("/", 1)[0]),
        "severity": probe.get("severity", ""),
        "verdict": verdict,
        "reason": probe.get("reason", ""),
        "proves": probe.get("proves", ""),
        "elapsed_ms": float(probe.get("elapsed_s") or 0.0) * 1000.0,
        "slowest_ms": None if slowest is None else slowest * 1000.0,
        "requests": len(exchanges),
        "shown": shown,
        "more": len(distinct) - len(shown),  # distinct payloads not shown
        "verification": _verification(probe),
    }


def _parameters(data: Mapping[str, Any], keys: Iterable[str]) -> list[tuple[str, str]]:
    """The run's parameters as (name, text); reports hold secrets masked already, and a URL's
    password is masked again here in case a caller's dict did not."""
    rows = []
    for key in keys:
        value = data.get(key)
        if value is None or value == {} or value == []:
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        rows.append((key, display_url(text) if "://" in text else text))
    return rows


def render_check_html(data: Mapping[str, Any], *, title: str = "vss-emitter check") -> str:
    """The page for a check run, from its JSON report (`emitter.report.report_json`)."""
    probes = [_check_probe(p) for p in data.get("probes", ()) if isinstance(p, Mapping)]
    groups: dict[str, list[dict[str, Any]]] = {}
    for probe in probes:
        groups.setdefault(probe["group"], []).append(probe)
    summary = data.get("summary") or {}
    return _render(
        "check.html.j2",
        title=title,
        data=data,
        summary=summary,
        ok=bool(summary.get("ok", not any(p["verdict"] == "failed" for p in probes))),
        groups=groups,
        probes=probes,
        parameters=_parameters(
            data,
            # `verify`: the read-back --verify used, secrets masked by the JSON report
            (
                "target",
                "seed",
                "started_at",
                "timeout_s",
                "concurrency",
                "burst",
                "wall_s",
                "verify",
            ),
        ),
        coverage=_coverage_view(data.get("coverage")),
    )


def write_check_html(
    data: Mapping[str, Any], path: str | os.PathLike[str], *, title: str = "vss-emitter check"
) -> Path:
    return _write(path, render_check_html(data, title=title))


# --- send ----------------------------------------------------------------------------------


def render_send_html(data: Mapping[str, Any]) -> str:
    """The page for a send: each delivery as a probe-like row (`deliveries`, `summary`)."""
    deliveries = [d for d in data.get("deliveries", ()) if isinstance(d, Mapping)]
    rows = []
    for delivery in deliveries:
        ack = delivery.get("ack") or {}
        ok = bool(ack.get("ok"))
        rows.append(
            {
                "name": delivery.get("where", ""),
                "session_id": delivery.get("session_id") or "",
                "verdict": "passed" if ok else "failed",
                "ack": ack,
                "lines": [] if ok else _pretty(delivery.get("payload")),
            }
        )
    return _render(
        "send.html.j2",
        title="vss-emitter send",
        data=data,
        rows=rows,
        summary=data.get("summary") or {},
        parameters=_parameters(data, ("target", "seed", "started_at", "timeout_s")),
        coverage=_coverage_view(data.get("coverage")),
    )


def write_send_html(data: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    return _write(path, render_send_html(data))


# --- replay --------------------------------------------------------------------------------


def _list_of_maps(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _table(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Rows of dicts as a table: nested dicts flattened one level (`latency_ms.p99`)."""
    flat: list[dict[str, Any]] = []
    for row in rows:
        cells: dict[str, Any] = {}
        for key, value in row.items():
            if isinstance(value, Mapping):
                cells.update({f"{key}.{k}": v for k, v in value.items()})
            else:
                cells[key] = value
        flat.append(cells)
    columns = list(dict.fromkeys(key for cells in flat for key in cells))
    return {"columns": columns, "rows": [[c.get(k, "") for k in columns] for c in flat]}


def _slo_rows(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    slo = data.get("slo")
    if isinstance(slo, Mapping):
        slo = slo.get("thresholds") or slo.get("verdicts") or []
    return _list_of_maps(slo)


def _p99_limits(slo: Sequence[Mapping[str, Any]]) -> list[float]:
    """Latency thresholds to draw on the p99 plot: the p99 ones, and every broken one."""
    limits = []
    for row in slo:
        if row.get("unit") != "ms" or not isinstance(row.get("limit"), int | float):
            continue
        if row.get("metric") == "p99" or row.get("ok") is False:
            limits.append(float(row["limit"]))
    return limits


def render_replay_html(data: Mapping[str, Any]) -> str:
    """The page for a replay run, from its JSON report (`ReplayReport.as_dict()` and what the
    engine and drills add: `timeline`, `latency_percentiles`, `stages`, `outages`, `slo`,
    `verify`). Needs matplotlib for the plots (`require_plotting`)."""
    from emitter.report import _plots
    from emitter.report._replay import pace_lines_of

    timeline = _list_of_maps(data.get("timeline"))
    stages = _list_of_maps(data.get("stages"))
    outages = _list_of_maps(data.get("outages"))
    slo = _slo_rows(data)
    curves = data.get("latency_percentiles")
    plots = {
        "percentiles": _plots.percentile_svg(curves) if isinstance(curves, Mapping) else None,
        "rate": _plots.rate_p99_svg(
            timeline, stages=stages, outages=outages, p99_limits_ms=_p99_limits(slo)
        ),
        "outcomes": _plots.outcomes_svg(timeline, stages=stages, outages=outages),
    }
    latency_rows = [
        (label, data[key])
        for label, key in (("from schedule", "latency_ms"), ("from send", "latency_from_send_ms"))
        if isinstance(data.get(key), Mapping)
    ]
    verify = data.get("verify") or data.get("verification")
    sessions = (
        _verification({"verification": verify.get("details")})
        if isinstance(verify, Mapping)
        else []
    )
    return _render(
        "replay.html.j2",
        title="vss-emitter replay",
        data=data,
        counts=[
            (key, data[key])
            for key in (
                "sent",
                "acked",
                "failed",
                "late",
                "skipped",
                "retried",
                "duration_s",
                "achieved_rate",
            )
            if key in data
        ],
        latency_rows=latency_rows,
        outcomes=data.get("outcomes") if isinstance(data.get("outcomes"), Mapping) else {},
        plots={k: v for k, v in plots.items() if v},
        stages=_table(stages) if stages else None,
        outages=_table(outages) if outages else None,
        slo=slo,
        verify=verify if isinstance(verify, Mapping) else None,
        verify_sessions=sessions[:_SHOWN_SESSIONS],
        verify_more=max(0, len(sessions) - _SHOWN_SESSIONS),
        parameters=_parameters(
            data, ("target", "rate", "concurrency", "seed", "source", "results", "kit")
        ),
        coverage=_coverage_view(data.get("coverage")),
        coverage_unavailable=data.get("coverage_unavailable"),
        pace=pace_lines_of(data),
    )


def write_replay_html(data: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    return _write(path, render_replay_html(data))


# --- coverage ------------------------------------------------------------------------------


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _coverage_view(data: Any) -> dict[str, Any] | None:
    """What the coverage section shows, from `Coverage.as_dict()`; None when absent."""
    if not isinstance(data, Mapping) or not isinstance(data.get("dimensions"), Mapping):
        return None
    dimensions = []
    for name, dim in data["dimensions"].items():
        if not isinstance(dim, Mapping):
            continue
        counts = _mapping(dim.get("counts"))
        other = _mapping(dim.get("other"))
        dimensions.append(
            {
                "name": name,
                "title": dim.get("title", name),
                "about": dim.get("about", ""),
                "covered": dim.get("covered", 0),
                "total": dim.get("total", 0),
                "cells": list(counts.items()),
                "other": list(other.items()),
                "missing": list(dim.get("missing") or ()),
            }
        )
    matrix = _mapping(data.get("matrix"))
    products = list(_mapping(next(iter(matrix.values()), None)))
    return {
        "payloads": data.get("payloads", 0),
        "dimensions": [d for d in dimensions if d["name"] != "statuses-by-product"],
        "matrix": matrix,
        "products": products,
        "cells": next((d for d in dimensions if d["name"] == "statuses-by-product"), None),
    }


def render_coverage_html(coverage: Coverage, *, sources: Sequence[str] = ()) -> str:
    """The page for `vss-emitter coverage`: the status-by-product matrix, then each dimension."""
    return _render(
        "coverage.html.j2",
        title="vss-emitter coverage",
        coverage=_coverage_view(coverage.as_dict()),
        parameters=[("input", ", ".join(sources))] if sources else [],
        standalone=True,
    )


def write_coverage_html(
    coverage: Coverage, path: str | os.PathLike[str], *, sources: Sequence[str] = ()
) -> Path:
    return _write(path, render_coverage_html(coverage, sources=sources))


def iter_templates() -> Iterator[str]:
    """The template names shipped in the package (for packaging tests)."""
    yield from _environment().list_templates()


class SendLog:
    """What `send --html` needs from a send: one row per delivery, the payload kept only when
    it was not acked (a page about thousands of acks needs no bodies), coverage of them all."""

    def __init__(self) -> None:
        from emitter.coverage import Coverage

        self.deliveries: list[dict[str, Any]] = []
        self.coverage = Coverage()

    def add(self, *, where: str, session_id: str | None, body: bytes, ack: Ack) -> None:
        self.coverage.add_body(body)
        row: dict[str, Any] = {
            "where": where,
            "session_id": ack.session_id or session_id,
            "ack": {
                "outcome": str(ack.outcome),
                "ok": ack.ok,
                "status": ack.status,
                "elapsed_s": round(ack.elapsed_s, 6),
                "reason": ack.reason,
                "body_excerpt": ack.body_excerpt,
                "attempt": ack.attempt,
            },
        }
        if not ack.ok:
            try:
                row["payload"] = json.loads(body)
            except (ValueError, RecursionError):
                row["payload"] = body.decode("utf-8", "replace")
        self.deliveries.append(row)

    def write(self, path: str | os.PathLike[str], *, target: str) -> Path:
        acked = sum(1 for d in self.deliveries if d["ack"]["ok"])
        data = {
            "target": target,
            "version": __version__,
            "summary": {"sent": len(self.deliveries), "acked": acked},
            "deliveries": self.deliveries,
            "coverage": self.coverage.as_dict(),
        }
        return write_send_html(data, path)


def write_reports(
    data: Mapping[str, Any],
    coverage: Coverage | None,
    *,
    report_json: str | os.PathLike[str] | None,
    html: str | os.PathLike[str] | None,
) -> Path | None:
    """A replay's (or drill's) JSON report and HTML page from one dict, with the coverage of
    what was sent added as `coverage`; returns the HTML path when one was written."""
    full = dict(data)
    if coverage is not None and coverage.unavailable is not None:
        full["coverage_unavailable"] = coverage.unavailable
    elif coverage is not None:
        full["coverage"] = coverage.as_dict()
    if report_json is not None:
        text = json.dumps(full, indent=2, ensure_ascii=False) + "\n"
        atomic_write(report_json, text.encode("utf-8"), example="--report-json replay.json")
    if html is None:
        return None
    return write_replay_html(full, html)
