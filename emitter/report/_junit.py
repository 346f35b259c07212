"""A check run as JUnit XML (`--junit-xml`).

JUnit choice: a probe that ends as a warning is a passing <testcase> whose <system-out> starts
with "WARNING:" -- a warning must not turn CI red, and <skipped> would claim it never ran.
"""

from __future__ import annotations

import json
import os
import re
import socket
import xml.etree.ElementTree as ET
from pathlib import Path

from emitter._atomic import atomic_write
from emitter._version import __version__
from emitter.check import CheckReport, Exchange, ProbeResult
from emitter.report._terminal import _ms

_SHOWN_PAYLOADS = 3  # a failing burst shows this many payloads in JUnit, not all of them
# XML 1.0 cannot carry these characters at all (not even escaped); a receiver's body can.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


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
    if result.verification:
        from emitter.report._verify import verification_lines

        lines += ["", *verification_lines(result)]
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
        *([("verify", report.verify)] if report.verify else []),
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


def write_junit(report: CheckReport, path: str | os.PathLike[str]) -> Path:
    return atomic_write(path, junit_xml(report), example="--junit-xml build/vss.xml")
