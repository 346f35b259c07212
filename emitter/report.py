"""Output of a check run: terminal lines, JSON report, JUnit XML, and saved failing payloads.

Output consumes a finished CheckReport; nothing here sends anything or decides a verdict.
JUnit choice: a probe that ends as a warning is a passing <testcase> whose <system-out> starts
with "WARNING:" -- a warning must not turn CI red, and <skipped> would claim it never ran.
"""

from __future__ import annotations

import json
import os
import re
import socket
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from emitter import __version__
from emitter.check import CheckReport, Exchange, ProbeResult, Verdict
from emitter.errors import UsageError

GLYPHS: dict[Verdict, str] = {"passed": "✓", "failed": "✗", "warning": "!"}
_COLOURS: dict[Verdict, str] = {"passed": "green", "failed": "red", "warning": "yellow"}
_SHOWN_PAYLOADS = 3  # a failing burst shows this many payloads in JUnit, not all of them
# XML 1.0 cannot carry these characters at all (not even escaped); a receiver's body can.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


# --- terminal ------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def probe_line(result: ProbeResult, *, width: int = 34, color: bool = False) -> str:
    """`✓ scenario/busy      3 ms  acked (HTTP 200)`: verdict, name, slowest answer, reason."""
    glyph = GLYPHS[result.verdict]
    if color:
        import click

        glyph = click.style(glyph, fg=_COLOURS[result.verdict], bold=True)
    slowest = result.slowest_ack_s
    ms = "-" if slowest is None else _ms(slowest)
    return f"{glyph} {result.name:<{width}} {ms:>8}  {result.reason}"


def summary_line(report: CheckReport) -> str:
    """`45 passed, 1 failed, 2 warnings in 1.4 s (seed 42)`."""
    warn = "warning" if report.warnings == 1 else "warnings"
    return (
        f"{report.passed} passed, {report.failed} failed, {report.warnings} {warn} "
        f"in {report.wall_s:.2f} s (seed {report.seed})"
    )


def _groups(results: Sequence[ProbeResult]) -> Iterator[tuple[str, list[ProbeResult]]]:
    order: dict[str, list[ProbeResult]] = {}
    for result in results:
        order.setdefault(result.group, []).append(result)
    yield from order.items()


def terminal_lines(report: CheckReport, *, color: bool = False) -> list[str]:
    """One line per probe under a line per group, then the summary; exit status in words."""
    width = max((len(r.name) for r in report.results), default=10)
    lines: list[str] = []
    for group, results in _groups(report.results):
        bad = sum(not r.passed for r in results)
        note = f" ({bad} not passed)" if bad else ""
        lines.append(f"{group}: {len(results)} probe{'s' if len(results) != 1 else ''}{note}")
        lines += ["  " + probe_line(r, width=width, color=color) for r in results]
    lines.append("")
    verdict = "PASSED" if report.ok else "FAILED"
    if color:
        import click

        verdict = click.style(verdict, fg="green" if report.ok else "red", bold=True)
    lines.append(f"{verdict}: {summary_line(report)}")
    return lines


# --- JSON ----------------------------------------------------------------------------------


def _payload_json(exchange: Exchange) -> Any:
    try:
        return exchange.payload()
    except ValueError:
        return exchange.body.decode("utf-8", "replace")


def _exchange_json(exchange: Exchange) -> dict[str, Any]:
    ack = exchange.ack
    return {
        "note": exchange.note,
        "payload": _payload_json(exchange),
        "ack": {
            "outcome": str(ack.outcome),
            "ok": ack.ok,
            "status": ack.status,
            "elapsed_s": round(ack.elapsed_s, 6),
            "reason": ack.reason,
            "body_excerpt": ack.body_excerpt,
            "attempt": ack.attempt,
            "session_id": ack.session_id,
        },
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
            }
            for r in report.results
        ],
    }


# --- JUnit XML -----------------------------------------------------------------------------


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _pretty(exchange: Exchange) -> str:
    try:
        return json.dumps(exchange.payload(), indent=2, ensure_ascii=False)
    except ValueError:
        return exchange.body.decode("utf-8", "replace")


def probe_details(result: ProbeResult) -> str:
    """A failing probe explained: reason, then each request not acked with its payload."""
    lines = [
        result.reason,
        f"probe: {result.name} (severity {result.severity})",
        f"proves: {result.proves}",
    ]
    # The requests that were not acked explain a failure best; when every request was acked
    # (a warning about speed, an auth probe that should have been refused) show them all.
    shown = [x for x in result.exchanges if not x.ack.ok] or list(result.exchanges)
    total = len(result.exchanges)
    for index, exchange in enumerate(shown[:_SHOWN_PAYLOADS]):
        ack = exchange.ack
        status = f"HTTP {ack.status}" if ack.status is not None else "no HTTP status"
        lines += [
            "",
            f"request {result.exchanges.index(exchange) + 1} of {total}"
            + (f" ({exchange.note})" if exchange.note else "")
            + f": {ack.outcome}, {status}, {_ms(ack.elapsed_s)}",
            f"answer: {ack.reason}",
        ]
        if ack.body_excerpt:
            lines.append(f"body excerpt: {ack.body_excerpt}")
        if index == 0 or exchange.body != shown[0].body:
            lines += ["payload:", _pretty(exchange)]
    if len(shown) > _SHOWN_PAYLOADS:
        lines += ["", f"... and {len(shown) - _SHOWN_PAYLOADS} more (see --report-json)"]
    return _xml_text("\n".join(lines))


def junit_xml(report: CheckReport) -> bytes:
    """The run as JUnit XML: one <testcase> per probe, classname `vss.<group>`."""
    suite_attrs = {
        "name": "vss-emitter check",
        "tests": str(len(report.results)),
        "failures": str(report.failed),
        "errors": "0",
        "skipped": "0",
        "time": f"{report.wall_s:.3f}",
        "timestamp": report.started_at.replace(microsecond=0, tzinfo=None).isoformat(),
        "hostname": socket.gethostname(),
    }
    root = ET.Element(
        "testsuites",
        {k: suite_attrs[k] for k in ("name", "tests", "failures", "errors", "skipped", "time")},
    )
    suite = ET.SubElement(root, "testsuite", suite_attrs)
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("target", report.url),
        ("seed", str(report.seed)),
        ("timeout_s", f"{report.timeout_s:g}"),
        ("warnings", str(report.warnings)),
        ("vss-emitter", __version__),
    ):
        ET.SubElement(props, "property", {"name": name, "value": _xml_text(value)})
    for result in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": f"vss.{result.group}",
                "name": result.name,
                "time": f"{result.elapsed_s:.3f}",
            },
        )
        if result.verdict == "failed":
            failure = ET.SubElement(
                case, "failure", {"message": _xml_text(result.reason), "type": "ProbeFailed"}
            )
            failure.text = probe_details(result)
        elif result.verdict == "warning":
            out = ET.SubElement(case, "system-out")
            out.text = "WARNING: " + _xml_text(result.reason) + "\n\n" + probe_details(result)
    ET.indent(root)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body + b"\n"


# --- files ---------------------------------------------------------------------------------


def _read_umask_once() -> int:
    # os.umask can only be read by setting it; done once, at import, before report threads.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_IMPORT_UMASK = _read_umask_once()


def _umask() -> int:
    """The process umask now, read without changing it where the OS allows (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return _IMPORT_UMASK


def atomic_write(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write via a temporary file in the same folder and os.replace, so nothing is half-written."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise UsageError(
            f"cannot write {str(target)!r}: {exc.strerror or exc}; "
            "expected a path in a writable folder, e.g. --junit-xml build/vss.xml"
        ) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        # mkstemp makes the file 0600; a report is an ordinary file, so it gets the mode any
        # other new file would (0666 minus the umask).
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise UsageError(
                f"cannot write {str(target)!r}: {exc.strerror or exc}; "
                "expected a writable file path, e.g. --report-json build/vss.json"
            ) from None
        raise
    return target


def write_json(report: CheckReport, path: str | os.PathLike[str]) -> Path:
    text = json.dumps(report_json(report), indent=2, ensure_ascii=False) + "\n"
    return atomic_write(path, text.encode("utf-8"))


def write_junit(report: CheckReport, path: str | os.PathLike[str]) -> Path:
    return atomic_write(path, junit_xml(report))


def failure_file_stem(name: str) -> str:
    """A probe name as a file name: `delivery/burst` -> `delivery--burst`."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name.replace("/", "--")).strip("-")


def save_failures(report: CheckReport, directory: str | os.PathLike[str]) -> list[Path]:
    """Every payload of every probe that did not pass, as the exact bytes sent, one per file.

    Files are named after the probe (`delivery--duplicate.json`; `.2.json`, … when a probe
    sent several different payloads) and can be replayed with `vss-emitter send URL --file`.
    """
    folder = Path(directory)
    saved: list[Path] = []
    for result in report.results:
        if result.passed:
            continue
        bad = [x for x in result.exchanges if not x.ack.ok] or list(result.exchanges)
        bodies = list(dict.fromkeys(x.body for x in bad))
        stem = failure_file_stem(result.name)
        for index, body in enumerate(bodies, start=1):
            name = f"{stem}.json" if index == 1 else f"{stem}.{index}.json"
            saved.append(atomic_write(folder / name, body))
    return saved
