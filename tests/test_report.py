"""Check output: terminal lines, JUnit XML that CI parses, the JSON report, saved failures."""

from __future__ import annotations

import json
import os
import stat
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import buggy_receivers as bug
import pytest

from emitter.check import CheckReport, run_check
from emitter.deliver import DeliveryConfig
from emitter.errors import UsageError
from emitter.report import (
    atomic_write,
    junit_xml,
    report_json,
    save_failures,
    terminal_lines,
    write_json,
    write_junit,
)

AUTH = "Bearer s3cr3t-t0ken-value"


def _echo_auth_and_control_chars(request: bug.Request) -> bug.Answer:
    """Fails the duplicate probe, echoing the credential and bytes XML cannot carry."""
    body = request.body
    if body in _SEEN:
        echoed = request.headers.get("authorization", "")
        return 409, f"duplicate; you sent {echoed}\x00\x07".encode()
    _SEEN.add(body)
    if "RECORD" in request.payload.get("lastAction", ""):
        return 422, b"unknown lastAction"
    return 200, b"ok"


_SEEN: set[bytes] = set()


@pytest.fixture(scope="module")
def report() -> Iterator[CheckReport]:
    _SEEN.clear()
    config = DeliveryConfig(timeout_s=5, auth_header=AUTH, secrets=(AUTH,))
    with bug.Receiver(_echo_auth_and_control_chars) as receiver:
        yield run_check(
            url=receiver.url.replace("http://", "http://user:hunter2@"),
            config=config,
            seed=5,
            burst=4,
        )


def test_the_fixture_report_has_failures_and_warnings(report: CheckReport) -> None:
    verdicts = {r.name: r.verdict for r in report.results if not r.passed}
    assert verdicts["delivery/duplicate"] == "failed"
    assert verdicts["compat/unlisted-last-action"] == "warning"
    assert report.exit_code == 1


def test_terminal_has_one_line_per_probe_and_a_summary(report: CheckReport) -> None:
    lines = terminal_lines(report)
    probe_lines = [line for line in lines if line.startswith("  ")]
    assert len(probe_lines) == len(report.results)
    assert any(line.startswith("  ✗ delivery/duplicate ") for line in probe_lines)
    assert any(line.startswith("  ! compat/unlisted-last-action ") for line in probe_lines)
    assert any(line.startswith("  ✓ docs/example-success ") for line in probe_lines)
    assert lines[-1].startswith("FAILED: ")
    assert f"{report.failed} failed" in lines[-1]
    assert "seed 5" in lines[-1]


def test_junit_xml_parses_with_one_testcase_per_probe(report: CheckReport, tmp_path: Path) -> None:
    path = write_junit(report, tmp_path / "out" / "vss.xml")
    root = ET.parse(path).getroot()  # noqa: S314  (the kit's own output)
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [r.name for r in report.results]
    assert suite.get("tests") == str(len(report.results))
    assert suite.get("failures") == str(report.failed)
    assert {c.get("classname") for c in cases} >= {"vss.docs", "vss.delivery", "vss.scenario"}
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["seed"] == "5"


def test_junit_failure_carries_status_body_and_payload(report: CheckReport) -> None:
    root = ET.fromstring(junit_xml(report))  # noqa: S314  (the kit's own output)
    case = next(c for c in root.iter("testcase") if c.get("name") == "delivery/duplicate")
    failure = case.find("failure")
    assert failure is not None
    assert "HTTP 409" in (failure.get("message") or "")
    text = failure.text or ""
    assert "body excerpt: duplicate" in text
    duplicate = next(r for r in report.results if r.name == "delivery/duplicate")
    sent = duplicate.exchanges[1].payload()
    assert sent["payload"]["sessionId"] in text
    payload_text = text.split("payload:\n", 1)[1]
    assert json.loads(payload_text) == sent


def test_junit_warning_is_a_passing_case_with_system_out(report: CheckReport) -> None:
    root = ET.fromstring(junit_xml(report))  # noqa: S314  (the kit's own output)
    case = next(c for c in root.iter("testcase") if c.get("name") == "compat/unlisted-last-action")
    assert case.find("failure") is None
    assert case.find("skipped") is None
    out = case.find("system-out")
    assert out is not None
    assert (out.text or "").startswith("WARNING: ")


def test_no_secret_reaches_any_output(report: CheckReport, tmp_path: Path) -> None:
    outputs = [
        junit_xml(report).decode(),
        json.dumps(report_json(report)),
        "\n".join(terminal_lines(report)),
    ]
    for text in outputs:
        assert "s3cr3t-t0ken-value" not in text
        assert "hunter2" not in text
    assert "***" in report.url


def test_report_json_has_results_summary_seed_and_target(
    report: CheckReport, tmp_path: Path
) -> None:
    data = json.loads(write_json(report, tmp_path / "report.json").read_text(encoding="utf-8"))
    assert data["seed"] == 5
    assert data["target"] == report.url
    assert data["summary"] == {
        "probes": len(report.results),
        "passed": report.passed,
        "failed": report.failed,
        "warnings": report.warnings,
        "ok": False,
        "exit_code": 1,
    }
    first = data["probes"][0]
    assert set(first) >= {"name", "severity", "verdict", "passed", "reason", "exchanges"}
    ack = first["exchanges"][0]["ack"]
    assert set(ack) >= {"outcome", "status", "elapsed_s", "body_excerpt"}
    assert first["exchanges"][0]["payload"]["namespace"] == "VOICE"


def test_saved_failures_are_the_exact_bytes_sent_named_after_the_probe(
    report: CheckReport, tmp_path: Path
) -> None:
    saved = save_failures(report, tmp_path / "failures")
    names = {p.name for p in saved}
    assert "delivery--duplicate.json" in names
    assert "compat--unlisted-last-action.json" in names
    duplicate = next(r for r in report.results if r.name == "delivery/duplicate")
    assert (tmp_path / "failures" / "delivery--duplicate.json").read_bytes() == (
        duplicate.exchanges[1].body
    )
    for path in saved:
        json.loads(path.read_bytes())
    assert not any(p.name.endswith(".tmp") for p in (tmp_path / "failures").iterdir())


def test_atomic_write_replaces_whole_files_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    target.write_text("old")
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_an_unwritable_report_path_is_a_usage_error(report: CheckReport, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UsageError, match="cannot write"):
        write_json(report, blocker / "report.json")


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_atomic_write_gives_the_file_the_mode_of_any_new_file(
    tmp_path: Path, umask: int, mode: int
) -> None:
    previous = os.umask(umask)
    try:
        written = atomic_write(tmp_path / "vss.xml", b"<x/>")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(written.stat().st_mode) == mode
