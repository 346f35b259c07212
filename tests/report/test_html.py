"""HTML reports: what each page shows, rendered from real runs, defensively and atomically."""

from __future__ import annotations

import copy
import html
import json
import re
import sys
from pathlib import Path
from typing import Any

import buggy_receivers as bug
import pytest
from click.testing import CliRunner, Result

from emitter.cli import cli
from emitter.coverage import Coverage
from emitter.errors import UsageError
from emitter.report import _html, _plots
from emitter.report._html import (
    contract_notes,
    render_check_html,
    render_coverage_html,
    render_replay_html,
    render_send_html,
)


def run(*args: str, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)


def no_remote_reference(page: str) -> None:
    """Nothing a browser would fetch: no script, stylesheet, image or font from anywhere."""
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["'](https?:)?//""", page)
    assert "@import" not in page
    assert not re.search(r"url\((?!#)", page)  # only in-page references, url(#clip-id)


# --- check ---------------------------------------------------------------------------------


def test_check_page_shows_every_probe_with_its_group_severity_and_verdict(
    check_data: dict[str, Any],
) -> None:
    page = render_check_html(check_data)
    no_remote_reference(page)
    assert "FAILED:" in page
    for probe in check_data["probes"]:
        assert probe["name"] in page
    assert page.count('class="probe"') == len(check_data["probes"])
    assert page.count('<span class="verdict failed">failed</span>') >= 1
    assert '<span class="verdict passed">passed</span>' in page
    assert f"(seed {check_data['seed']})" in page
    assert check_data["version"] in page


def test_a_failing_probe_shows_what_was_sent_with_the_quirk_highlighted(
    check_data: dict[str, Any],
) -> None:
    page = render_check_html(check_data)
    failed = next(p for p in check_data["probes"] if p["name"].endswith("capitalised-leg-key"))
    assert failed["verdict"] == "failed"
    section = page.split(f"</span> {failed['name']}</h3>", 1)[1].split("</section>", 1)[0]
    # The answer that came back, then the payload with the line holding `CallA` marked.
    assert "HTTP 500" in section
    highlighted = [
        (html.unescape(why), html.unescape(text))
        for why, text in re.findall(r'<span class="hl" title="([^"]*)">([^<]*)', section)
    ]
    assert any('"CallA": {' in text for _, text in highlighted), highlighted
    assert any("capitalised leg key" in why for why, _ in highlighted)


def test_passing_probes_carry_no_payload_and_coverage_is_shown(
    check_data: dict[str, Any],
) -> None:
    page = render_check_html(check_data)
    assert page.count('<section class="failure"') == sum(
        p["verdict"] != "passed" for p in check_data["probes"]
    )
    assert check_data["coverage"]["payloads"] > 0
    assert 'id="coverage"' in page
    assert "capitalised-leg-key" in page


def test_unknown_fields_are_marked_on_their_own_key() -> None:
    notes = contract_notes(
        {"namespace": "VOICE", "eventType": "SESSION_SUMMARY", "payload": {}, "extra": 1}
    )
    assert "unexpected" in notes["$.extra"]


def test_a_verify_result_is_shown_as_a_diff_of_expected_and_stored(
    check_data: dict[str, Any],
) -> None:
    data = copy.deepcopy(check_data)
    probe = data["probes"][0]
    probe["verdict"] = "failed"
    probe["verification"] = [
        {
            "sessionId": "s-1",
            "mode": "stored",
            "state": "mismatched",
            "reason": "sessionStatus: stored 'busy', expected 'BUSY'",
            "expected": {"sessionStatus": "BUSY", "callCount": 1},
            "stored": [{"sessionStatus": "busy", "callCount": 1}],
            "mismatches": ["sessionStatus: stored 'busy', expected 'BUSY'"],
        },
        {"sessionId": "s-2", "mode": "stored", "state": "stored", "reason": "ok"},
    ]
    page = render_check_html(data)
    assert '<span class="del">-  &#34;sessionStatus&#34;: &#34;BUSY&#34;</span>' in page
    assert '<span class="add">+  &#34;sessionStatus&#34;: &#34;busy&#34;</span>' in page
    assert "Verify s-1: mismatched" in page
    assert "s-2" not in page  # a session stored as expected needs no explaining


def test_check_cli_writes_the_page_and_refuses_a_bad_path_before_sending(
    tmp_path: Path,
) -> None:
    with bug.Receiver(bug.always_200) as receiver:
        out = tmp_path / "r.html"
        result = run("check", receiver.url, "-k", "docs/", "--seed", "1", "--html", str(out))
        assert result.exit_code == 0, result.output
        assert f"HTML report: {out}" in result.output
        assert "docs/example-success" in out.read_text()
        assert not list(out.parent.glob(".*.tmp"))  # written atomically, nothing left over
        sent = len(receiver.requests)
        blocker = tmp_path / "a-file"
        blocker.write_text("")
        bad = run("check", receiver.url, "--html", str(blocker / "r.html"))
        assert bad.exit_code == 2
        assert bad.stderr.startswith("Error: cannot write")
        assert len(bad.stderr.splitlines()) == 1
        assert len(receiver.requests) == sent


def test_demo_names_its_html_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("demo", "--seed", "2")
    assert result.exit_code == 0, result.output
    page = tmp_path / "vss-demo.html"
    assert f"HTML report: {page}" in result.output
    assert "vss-emitter demo" in page.read_text()


# --- send ----------------------------------------------------------------------------------


def test_send_page_lists_each_delivery_and_the_payloads_not_acked(tmp_path: Path) -> None:
    out = tmp_path / "send.html"
    with bug.Receiver(bug.crashes_on_error_details) as receiver:
        result = run(
            "send", receiver.url, "busy", "error-2004-no-coverage", "--seed", "4", "--html",
            str(out),
        )  # fmt: skip
    assert result.exit_code == 1
    page = out.read_text()
    no_remote_reference(page)
    assert page.count('class="probe"') == 2
    assert "Payloads not acked" in page
    assert "error-2004-no-coverage" in page
    assert render_send_html({}).count('class="probe"') == 0


# --- replay --------------------------------------------------------------------------------


def test_replay_page_from_a_real_run_has_its_summary_and_three_plots(
    replay_data: dict[str, Any],
) -> None:
    assert replay_data["timeline"], "the engine reports a per-second timeline"
    page = render_replay_html(replay_data)
    no_remote_reference(page)
    assert "PASSED:" in page
    assert f"{replay_data['acked']} of {replay_data['sent']} acked" in page
    for plot in ("plot-percentiles", "plot-rate", "plot-outcomes"):
        assert f'id="{plot}"' in page
    assert page.count("<svg") == 3
    assert "Latency by percentile (HDR)" in page
    assert "99.9%" in page
    assert f"<tr><th>seed</th><td><code>{replay_data['seed']}</code></td></tr>" in page


def test_replay_marks_stages_outages_and_broken_thresholds(
    replay_data: dict[str, Any],
) -> None:
    data = dict(replay_data)
    data["stages"] = [
        {"name": "warm-up", "start_s": 0.0, "end_s": 1.0},
        {"name": "peak", "start_s": 1.0, "end_s": 2.0},
    ]
    data["outages"] = [{"start_s": 0.5, "end_s": 1.2, "fault": "receiver down"}]
    data["slo"] = [
        {"threshold": "p99<1ms", "metric": "p99", "unit": "ms", "limit": 1.0, "actual": 9.5,
         "ok": False},
        {"threshold": "failed<1%", "metric": "failed", "unit": "ratio", "limit": 0.01,
         "actual": 0.0, "ok": True},
    ]  # fmt: skip
    page = render_replay_html(data)
    assert "warm-up" in page
    assert "peak" in page
    assert "receiver down" in page
    assert "threshold 1 ms" in page
    assert '<span class="verdict failed">broken</span>' in page
    assert '<span class="verdict passed">held</span>' in page


def test_a_run_that_could_not_keep_its_rate_says_so_on_the_page_as_in_the_summary() -> None:
    # A million a second for half a second from the `mixed` scenario: the page carries the
    # summary's own lines on who set the pace and what never left, not a figure of its own.
    import servers

    from emitter.deliver import DeliveryConfig
    from emitter.replay import ReplaySettings, format_summary, replay

    with servers.answering(200) as server:
        report = replay(
            url=server.url,
            settings=ReplaySettings(rate=1_000_000.0, concurrency=4, duration_s=0.5),
            config=DeliveryConfig(timeout_s=5.0),
            seed=5,
        )
    assert report.sender_lag is not None
    page = render_replay_html(report.as_dict())
    said = [
        line.strip()
        for line in format_summary(report).splitlines()
        if "behind" in line or "never left" in line or "SENDER SATURATED" in line
    ]
    assert said
    shown = html.unescape(page)
    for line in said:
        assert line in shown
    assert 'id="pace"' in page


def test_a_report_from_before_unsent_was_counted_still_shows_its_pace_lines() -> None:
    lag = {
        "behind_from_s": 0.1,
        "max_lag_ms": 1997.0,
        "final_lag_ms": 1997.0,
        "late": 41230,
        "sender_behind_s": 2.9,
        "receiver_bound_s": 0.0,
    }
    data = {"sent": 5, "rate_per_s": 1e6, "concurrency": 64, "sender_saturated": True}
    page = render_replay_html({**data, "sender_lag": lag})
    assert "SENDER SATURATED: this machine could not keep the rate 1000000/s" in page
    assert "never left" not in page
    # A hand-edited report the lines cannot be read from: the rest of the page still renders.
    page = render_replay_html({**data, "sender_lag": {**lag, "max_lag_ms": None}})
    assert 'id="pace"' not in page
    assert "0 of 5 acked" in page


def test_replay_page_leaves_out_what_the_report_does_not_have() -> None:
    page = render_replay_html({"sent": 3, "acked": 3, "failed": 0})
    assert "<svg" not in page
    assert 'id="plots"' not in page
    assert 'id="slo"' not in page
    assert 'id="coverage"' not in page
    assert 'id="pace"' not in page
    assert "3 of 3 acked" in page


def test_the_same_report_renders_the_same_bytes(replay_data: dict[str, Any]) -> None:
    assert render_replay_html(replay_data) == render_replay_html(copy.deepcopy(replay_data))


def test_missing_matplotlib_is_one_line_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails as if not installed
    with pytest.raises(UsageError) as caught:
        _plots.require_plotting()
    message = str(caught.value)
    assert "vss-emitter[report]" in message
    assert "\n" not in message


# --- coverage ------------------------------------------------------------------------------


def test_coverage_page_has_the_matrix_and_every_dimension(every_scenario: Coverage) -> None:
    page = render_coverage_html(every_scenario, sources=["fixtures.ndjson"])
    no_remote_reference(page)
    assert 'class="matrix"' in page
    assert page.count('class="dimension"') == len(every_scenario.as_dict()["dimensions"]) - 1
    assert "UNSUBSCRIBED_CONTACT" in page
    assert "fixtures.ndjson" in page


def test_coverage_cli_writes_html(tmp_path: Path) -> None:
    body = run("generate", "busy", "-n", "2", "--seed", "1").stdout_bytes
    out = tmp_path / "c.html"
    result = run("coverage", "-", "--html", str(out), stdin=body)
    assert result.exit_code == 0
    assert f"HTML report: {out}" in result.output
    assert "missing" in out.read_text()


def test_templates_ship_inside_the_package() -> None:
    names = set(_html.iter_templates())
    assert {"check.html.j2", "replay.html.j2", "coverage.html.j2", "send.html.j2"} <= names


def test_replay_cli_writes_html_and_json_with_the_coverage_of_what_was_sent(
    tmp_path: Path,
) -> None:
    page, data = tmp_path / "r.html", tmp_path / "r.json"
    with bug.Receiver(bug.always_200) as receiver:
        result = run(
            "replay", receiver.url, "--scenario", "busy", "--rate", "200/s", "-n", "40",
            "--seed", "5", "--quiet", "--html", str(page), "--report-json", str(data),
        )  # fmt: skip
        sent = len(receiver.requests)
    assert result.exit_code == 0, result.output
    assert f"HTML report: {page}" in result.output
    report = json.loads(data.read_text())
    assert report["coverage"]["payloads"] == sent == 40
    assert report["coverage"]["dimensions"]["statuses"]["counts"]["BUSY"] == 40
    text = page.read_text()
    assert 'id="plot-percentiles"' in text
    assert 'id="coverage"' in text


def test_replay_html_without_matplotlib_exits_2_naming_the_extra_before_sending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with bug.Receiver(bug.always_200) as receiver:
        result = run(
            "replay", receiver.url, "--rate", "50/s", "-n", "5",
            "--html", str(tmp_path / "r.html"),
        )  # fmt: skip
        assert receiver.requests == []
    assert result.exit_code == 2
    assert "vss-emitter[report]" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r.html").exists()


def test_check_verify_page_diffs_the_expected_record_against_the_stored_one(
    tmp_path: Path,
) -> None:
    from verify.storing_receiver import StoringReceiver

    page = tmp_path / "v.html"
    with StoringReceiver(tmp_path / "app.db", bugs=("status-wrong",)) as receiver:
        verify = receiver.verify_file(tmp_path, kind="http", within="1s")
        result = run(
            "check", receiver.url, "--seed", "7", "-k", "scenario/busy",
            "--verify", str(verify), "--html", str(page),
        )  # fmt: skip
    assert result.exit_code == 1, result.output
    text = html.unescape(page.read_text())
    assert ": mismatched</h4>" in text
    assert re.search(r'<span class="del">-\s+"session_?[sS]tatus": "BUSY"', text), text[-3000:]
    assert re.search(r'<span class="add">\+\s+"session_?[sS]tatus": "COMPLETED"', text)


def test_replay_verify_page_counts_and_explains_sessions_stored_twice(tmp_path: Path) -> None:
    from verify.storing_receiver import StoringReceiver

    page = tmp_path / "rv.html"
    with StoringReceiver(tmp_path / "app.db", bugs=("duplicates-twice",)) as receiver:
        verify = receiver.verify_file(tmp_path, kind="http", within="1s")
        result = run(
            "replay", receiver.url, "--rate", "200/s", "-n", "60", "--duplicates", "20%",
            "--verify", str(verify), "--seed", "3", "--quiet", "--html", str(page),
        )  # fmt: skip
    assert result.exit_code == 1, result.output
    text = html.unescape(page.read_text())
    assert '<h2 id="verification">' in text
    assert re.search(r"<th>stored twice</th><td class=\"num\">[1-9]", text)
    assert "Sessions not stored as expected" in text
    assert ": stored_twice</h4>" in text


def test_no_secret_reaches_the_page(tmp_path: Path) -> None:
    page = tmp_path / "r.html"
    with bug.Receiver(bug.auth_enforcing("Bearer tok-8d41")) as receiver:
        url = receiver.url.replace("http://", "http://ops:pw-5c2e@")
        result = run(
            "check", url, "-k", "auth", "-k", "docs/example-success", "--seed", "1",
            "--auth-header", "Bearer tok-8d41", "--html", str(page),
        )  # fmt: skip
    assert page.exists(), result.output
    text = page.read_text()
    assert "pw-5c2e" not in text
    assert "tok-8d41" not in text
    assert "ops:***@" in text


def test_a_failing_burst_shows_each_distinct_payload_once_and_at_most_three() -> None:
    def exchange(n: int) -> dict[str, Any]:
        return {"note": "", "payload": {"n": n}, "ack": {"ok": False, "outcome": "timeout"}}

    probe = {"name": "delivery/burst", "verdict": "failed", "severity": "failure"}
    same = render_check_html({"probes": [{**probe, "exchanges": [exchange(1)] * 20}]})
    assert same.count("<h4>Request ") == 1
    assert "more distinct payload" not in same
    mixed = render_check_html({"probes": [{**probe, "exchanges": [exchange(n) for n in range(5)]}]})
    assert mixed.count("<h4>Request ") == 3
    assert "… and 2 more distinct payload(s)" in mixed
