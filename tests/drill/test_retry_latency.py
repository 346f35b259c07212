"""A payload retried through an outage is timed from its first due time: p99, --slo, backlog.

The receiver is a real process on loopback (tests/drill/receivers.py) that goes down for about
a second mid-run (503s, then refused connections). Assertions are on the figures the run
reports and its verdict, never on how long the test took.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from emitter.cli import cli
from emitter.generator import dumps, generate

RECEIVERS = Path(__file__).with_name("receivers.py")


@pytest.fixture
def outage_url() -> Iterator[str]:
    """A receiver that, 0.5 s after its first request, answers 503 for 0.3 s, then refuses
    connections for 0.7 s, then is back on the same port."""
    proc = subprocess.Popen(
        [sys.executable, str(RECEIVERS), "--outage", "0.5,0.3,0.7"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("PORT "), f"receiver did not start: {line!r}"
        yield f"http://127.0.0.1:{int(line.split()[1])}/webhooks/vss"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_retries_through_an_outage_show_in_p99_and_break_the_slo(
    outage_url: str, tmp_path: Path
) -> None:
    fixture = tmp_path / "captured.ndjson"
    with fixture.open("wb") as out:
        for payload in generate("mixed", seed=5, n=250):
            out.write(dumps(payload) + b"\n")
    report = tmp_path / "report.json"
    results = tmp_path / "results.ndjson"
    result = CliRunner().invoke(
        cli,
        [
            "replay", outage_url, str(fixture), "--rate", "100/s",
            "--retries", "0.5,0.5,0.5", "--slo", "p99<200ms",
            "--report-json", str(report), "--results", str(results),
        ],
        catch_exceptions=False,
    )  # fmt: skip
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["acked"] == 250, result.output  # the retries carried every session over
    assert data["retried"] > 0
    # About 100 of 250 sessions waited at least one 0.5 s retry delay from their schedule.
    assert data["latency_ms"]["p99"] >= 500
    # Each attempt's own answer was quick: the "from send" figure stays the receiver's part.
    assert data["latency_from_send_ms"]["p99"] < data["latency_ms"]["p99"]
    assert result.exit_code == 1, result.output
    (verdict,) = data["slo"]["thresholds"]
    assert verdict["ok"] is False
    assert verdict["actual"] >= 500
    assert "SLO broken: p99<200ms" in result.output
    (outage,) = data["outages"]
    assert outage["backlog_p99_ms"] >= 500  # the held-up sessions caught up late
    # In the log, every attempt of a payload carries its first due time.
    firsts: dict[int, float] = {}
    for line in results.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["type"] != "delivery":
            continue
        assert firsts.setdefault(record["index"], record["scheduled"]) == record["scheduled"]
