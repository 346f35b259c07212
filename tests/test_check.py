"""The conformance suite end to end over real sockets: good receivers pass, each bug is named."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import buggy_receivers as bug
import pytest

from emitter.check import (
    CheckReport,
    ProbeResult,
    catalogue,
    example_bytes,
    run_check,
    select_probes,
)
from emitter.deliver import DeliveryConfig, Outcome
from emitter.errors import DeliveryConfigError, UsageError
from emitter.receiver import ReferenceReceiver
from emitter.report import report_json, terminal_lines
from emitter.scenarios import builtin_scenarios

DOCS = Path(__file__).parent / "fixtures" / "docs"
AUTH = "Basic dXNlcjpzM2NyM3QtdG9rZW4="


def check(url: str, *, seed: int = 7, timeout: float = 5.0, **kwargs: Any) -> CheckReport:
    config = kwargs.pop("config", None) or DeliveryConfig(timeout_s=timeout)
    kwargs.setdefault("burst", 6)
    return run_check(url=url, config=config, seed=seed, **kwargs)


def by_name(report: CheckReport) -> dict[str, ProbeResult]:
    return {r.name: r for r in report.results}


def not_passed(report: CheckReport) -> dict[str, str]:
    return {r.name: r.verdict for r in report.results if not r.passed}


# --- receivers that keep the contract --------------------------------------------------------


def test_reference_receiver_passes_every_probe() -> None:
    with ReferenceReceiver() as receiver:
        report = check(receiver.url)
    assert not_passed(report) == {}
    assert report.ok
    assert report.exit_code == 0
    names = [r.name for r in report.results]
    assert len(names) == len(set(names))
    for scenario in builtin_scenarios():
        assert f"scenario/{scenario.name}" in names
    assert any(s.quirk for s in builtin_scenarios())
    assert {"docs/example-success", "docs/example-failure", "delivery/duplicate"} <= set(names)


def test_minimal_always_200_receiver_passes_every_probe() -> None:
    with bug.Receiver(bug.always_200) as receiver:
        report = check(receiver.url)
    assert not_passed(report) == {}
    assert report.exit_code == 0


def test_receiver_enforcing_its_auth_header_passes_the_auth_probes() -> None:
    config = DeliveryConfig(timeout_s=5, auth_header=AUTH, secrets=(AUTH,))
    with bug.Receiver(bug.auth_enforcing(AUTH)) as receiver:
        report = check(receiver.url, config=config)
    results = by_name(report)
    assert results["auth/missing-authorization"].passed
    assert results["auth/wrong-authorization"].passed
    assert "HTTP 401" in results["auth/missing-authorization"].reason
    assert not_passed(report) == {}


def test_auth_probes_only_run_when_an_auth_header_is_configured() -> None:
    assert not any(p.group == "auth" for p in catalogue(auth=False))
    assert {p.name for p in catalogue(auth=True) if p.group == "auth"} == {
        "auth/missing-authorization",
        "auth/wrong-authorization",
    }


# --- receivers with the bugs real receivers ship ---------------------------------------------


@dataclass(frozen=True)
class Bug:
    handler: Callable[[bug.Request], bug.Answer]
    caught_by: tuple[str, ...]  # probes that must not pass
    severity: str = "failed"
    options: dict[str, Any] = field(default_factory=dict)
    check: dict[str, Any] = field(default_factory=dict)


BUGS = {
    "crash-on-capital-CallA": Bug(
        bug.crashes_on_capital_leg_key,
        ("docs/example-success", "scenario/quirk-capitalised-leg-key"),
    ),
    "strict-model-rejects-unknown-fields": Bug(
        bug.rejects_unknown_fields,
        (
            "compat/unknown-root-field",
            "compat/unknown-payload-field",
            "compat/unknown-leg-field",
            "compat/ivr-variant",
        ),
    ),
    "answers-201": Bug(bug.answers(201), ("docs/example-success", "delivery/burst")),
    "answers-202": Bug(bug.answers(202), ("docs/example-failure",)),
    "answers-204": Bug(bug.answers(204), ("scenario/completed",)),
    "409-on-duplicate": Bug(
        bug.conflict_on_duplicate(), ("delivery/duplicate", "delivery/duplicate-concurrent")
    ),
    "500-on-error-details": Bug(
        bug.crashes_on_error_details, ("docs/example-failure", "scenario/error-2004-no-coverage")
    ),
    "session-status-enum-without-opt-outs": Bug(
        bug.closed_session_status_enum,
        (
            "scenario/opt-out-unsubscribed",
            "scenario/opt-out-unsub-error",
            "scenario/opt-out-already-unsubscribed",
        ),
    ),
    "crash-on-zero-legs": Bug(bug.crashes_on_zero_legs, ("scenario/opt-out-already-unsubscribed",)),
    "crash-on-null-source-ref-id": Bug(
        bug.crashes_on_null_source_ref,
        ("docs/example-success", "scenario/quirk-string-null-source-ref-id"),
    ),
    "requires-user-agent": Bug(bug.requires_user_agent, ("headers/no-user-agent",)),
    "requires-exact-content-type": Bug(
        bug.requires_exact_content_type, ("headers/content-type-charset",)
    ),
    "redirects-http-to-https": Bug(bug.redirects_to_https, ("docs/example-success",)),
    "crashes-under-a-burst": Bug(
        bug.always_200,
        ("delivery/burst",),
        options={"max_concurrent": 3, "hold_s": 0.05},
    ),
    "answers-before-reading-the-body": Bug(
        bug.always_200, ("delivery/keep-alive",), options={"read_body": False}
    ),
    "decodes-as-ascii": Bug(bug.ascii_only, ("data/unicode",)),
    "rejects-future-timestamps": Bug(bug.rejects_future_events, ("data/future-timestamps",)),
    "fixed-three-leg-table": Bug(bug.three_leg_table, ("compat/extra-leg", "data/large-payload")),
    "small-body-limit": Bug(bug.body_limit(4000), ("data/large-payload",)),
    "one-strptime-pattern": Bug(
        bug.parses_one_timestamp_format, ("data/timestamp-variants",), severity="warning"
    ),
    "closed-last-action-enum": Bug(
        bug.closed_last_action_enum, ("compat/unlisted-last-action",), severity="warning"
    ),
    "error-message-dict-lookup": Bug(
        bug.looks_up_error_message, ("compat/unlisted-error-code",), severity="warning"
    ),
}


@pytest.mark.parametrize("name", sorted(BUGS))
def test_each_buggy_receiver_is_caught_by_the_probe_named_for_its_bug(name: str) -> None:
    case = BUGS[name]
    with bug.Receiver(case.handler, **case.options) as receiver:
        report = check(receiver.url, **case.check)
    missed = not_passed(report)
    for probe in case.caught_by:
        assert missed.get(probe) == case.severity, (probe, missed)
    if case.severity == "failed":
        assert report.exit_code == 1
    else:
        # A warning alone never fails the check.
        assert set(missed.values()) == {"warning"}
        assert report.exit_code == 0


def test_the_bug_free_part_of_a_buggy_receiver_still_passes() -> None:
    with bug.Receiver(bug.requires_user_agent) as receiver:
        report = check(receiver.url)
    assert not_passed(report) == {"headers/no-user-agent": "failed"}
    result = by_name(report)["headers/no-user-agent"]
    assert result.reason.startswith("HTTP 403")
    assert "missing User-Agent" in result.reason


def test_a_receiver_that_only_checks_the_auth_header_is_present_gets_a_warning() -> None:
    config = DeliveryConfig(timeout_s=5, auth_header=AUTH, secrets=(AUTH,))
    with bug.Receiver(bug.auth_presence_only) as receiver:
        report = check(receiver.url, config=config)
    assert not_passed(report) == {"auth/wrong-authorization": "warning"}
    assert "forged" in by_name(report)["auth/wrong-authorization"].reason
    assert report.exit_code == 0


def test_a_receiver_that_ignores_auth_gets_two_warnings() -> None:
    config = DeliveryConfig(timeout_s=5, auth_header=AUTH, secrets=(AUTH,))
    with bug.Receiver(bug.always_200) as receiver:
        report = check(receiver.url, config=config, probes=["auth/"])
    assert not_passed(report) == {
        "auth/missing-authorization": "warning",
        "auth/wrong-authorization": "warning",
    }


def test_a_receiver_slower_than_one_second_gets_a_warning_not_a_failure() -> None:
    with bug.Receiver(bug.slow(1.1)) as receiver:
        report = check(receiver.url, timeout=5, probes=["delivery/ack-under-1s"])
    assert not_passed(report) == {"delivery/ack-under-1s": "warning"}
    assert "slowest ack 1" in report.results[0].reason
    assert report.exit_code == 0


def test_a_receiver_slower_than_the_timeout_fails_the_ack_deadline() -> None:
    with bug.Receiver(bug.slow(1.1)) as receiver:
        report = check(receiver.url, timeout=0.4, probes=["delivery/ack-deadline"])
    result = by_name(report)["delivery/ack-deadline"]
    assert result.verdict == "failed"
    assert "not answered within 0.4 s" in result.reason
    assert {x.ack.outcome for x in result.exchanges} == {Outcome.TIMEOUT}


# --- what the probes send --------------------------------------------------------------------


@pytest.fixture(scope="module")
def recorded() -> Iterator[tuple[CheckReport, list[bug.Request]]]:
    with bug.Receiver(bug.always_200) as receiver:
        report = check(receiver.url, seed=11)
        yield report, list(receiver.requests)


def test_documentation_examples_are_sent_byte_for_byte(
    recorded: tuple[CheckReport, list[bug.Request]],
) -> None:
    _, requests = recorded
    bodies = [r.body for r in requests]
    for which in ("success", "failure"):
        assert example_bytes(which) == (DOCS / f"{which}.json").read_bytes()
        assert example_bytes(which) in bodies


def test_duplicate_delivery_is_probed_with_identical_bytes(
    recorded: tuple[CheckReport, list[bug.Request]],
) -> None:
    report, _ = recorded
    for name in ("delivery/duplicate", "delivery/duplicate-concurrent"):
        first, second = by_name(report)[name].exchanges
        assert first.body == second.body


def test_every_probe_uses_fresh_session_ids_except_where_sameness_is_the_point(
    recorded: tuple[CheckReport, list[bug.Request]],
) -> None:
    report, _ = recorded
    owners: dict[str, set[str]] = {}
    for result in report.results:
        for exchange in result.exchanges:
            owners.setdefault(exchange.payload()["payload"]["sessionId"], set()).add(result.name)
    shared = {sid: names for sid, names in owners.items() if len(names) > 1}
    # 8x8's Number Masking page reuses the Voice Messaging examples' sessionIds; the docs/
    # probes send every example verbatim, so those two pairs share theirs (helper B, issue 7).
    assert shared == {
        "1f048a84-ea6d-11ee-911b-078f7290bf52": {"docs/example-success", "docs/masking-success"},
        "47f19e66-2163-11ee-8ccd-27b543a164ea": {"docs/example-failure", "docs/masking-failure"},
    }
    counts: dict[str, int] = {}
    for result in report.results:
        for exchange in result.exchanges:
            sid = exchange.payload()["payload"]["sessionId"]
            counts[sid] = counts.get(sid, 0) + 1
    repeated = {next(iter(owners[sid])) for sid, n in counts.items() if n > 1 and sid not in shared}
    assert repeated == {"delivery/duplicate", "delivery/duplicate-concurrent"}


def test_header_probes_send_what_they_claim(
    recorded: tuple[CheckReport, list[bug.Request]],
) -> None:
    report, requests = recorded
    by_body = {r.body: r for r in requests}
    no_ua = by_name(report)["headers/no-user-agent"].exchanges[0].body
    assert "user-agent" not in by_body[no_ua].headers
    charset = by_name(report)["headers/content-type-charset"].exchanges[0].body
    assert by_body[charset].headers["content-type"] == "application/json; charset=utf-8"
    plain = by_name(report)["scenario/completed"].exchanges[0].body
    assert by_body[plain].headers["content-type"] == "application/json"
    assert by_body[plain].headers["user-agent"].startswith("vss-emitter/")


def test_forward_compatibility_probes_carry_the_variants(
    recorded: tuple[CheckReport, list[bug.Request]],
) -> None:
    report, _ = recorded
    results = by_name(report)
    ivr = results["compat/ivr-variant"].exchanges[0].payload()
    assert ivr["version"] == 5
    assert "clientRequestId" in ivr["payload"]
    inbound = [leg for leg in ivr["payload"]["details"].values() if "destinationRefId" in leg]
    assert inbound
    assert inbound[0]["callDirection"] == "INBOUND"
    extra = results["compat/extra-leg"].exchanges[0].payload()["payload"]
    most_legs = max(
        len(x.payload()["payload"]["details"])
        for r in report.results
        if r.group == "scenario"
        for x in r.exchanges
    )
    assert extra["callCount"] == len(extra["details"]) == most_legs + 1
    unicode_body = results["data/unicode"].exchanges[0].body
    assert "東京".encode() in unicode_body  # raw UTF-8, not \u escapes


def test_probe_payloads_are_reproducible_from_the_seed() -> None:
    with bug.Receiver(bug.always_200) as receiver:
        first = check(receiver.url, seed=3, probes=["scenario/", "compat/"])
        again = check(receiver.url, seed=3, probes=["scenario/", "compat/"])
        other = check(receiver.url, seed=4, probes=["scenario/busy"])
    assert [x.body for r in first.results for x in r.exchanges] == [
        x.body for r in again.results for x in r.exchanges
    ]
    busy = by_name(first)["scenario/busy"].exchanges[0].body
    assert busy != by_name(other)["scenario/busy"].exchanges[0].body
    assert first.seed == 3


# --- unreachable and unusable targets ----------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_dead_receiver_fails_every_probe_with_one_reason_after_one_attempt() -> None:
    report = check(f"http://127.0.0.1:{_closed_port()}/vss")
    assert report.exit_code == 1
    assert all(not r.passed for r in report.results)
    sent = [x for r in report.results for x in r.exchanges]
    assert len(sent) == 1
    assert sent[0].ack.outcome is Outcome.REFUSED
    rest = report.results[1:]
    assert all(
        r.reason.startswith("not sent: receiver unreachable (connection refused") for r in rest
    )
    assert all("\n" not in r.reason for r in report.results)


def test_a_receiver_that_never_answers_fails_every_probe_after_two_silent_ones() -> None:
    with bug.Receiver(bug.slow(3.0)) as receiver:
        report = check(receiver.url, timeout=0.3)
        sent = len(receiver.requests)
    assert report.exit_code == 1
    first, second, *rest = report.results
    assert {x.ack.outcome for r in (first, second) for x in r.exchanges} == {Outcome.TIMEOUT}
    assert sent == len(first.exchanges) + len(second.exchanges)
    assert rest
    assert all(r.reason.startswith("not sent: receiver unresponsive") for r in rest)
    assert all(not r.exchanges for r in rest)


def test_one_silent_probe_is_not_enough_to_give_up_on_a_receiver() -> None:
    # A cold start: the first request is slower than the deadline, the rest are quick.
    calls = {"n": 0}

    def cold_start(request: bug.Request) -> bug.Answer:
        calls["n"] += 1
        return bug.slow(4.0)(request) if calls["n"] == 1 else (200, b"")

    # The deadline leaves the quick answers a wide margin on a loaded machine (a quick answer
    # late by more than 1.5 s would fail the test for the wrong reason); the slow one misses it.
    with bug.Receiver(cold_start) as receiver:
        report = check(receiver.url, timeout=1.5, probes=["docs/", "scenario/busy"])
    first, *rest = report.results
    assert not first.passed
    assert all(r.passed for r in rest)


@pytest.mark.parametrize("url", ["not a url", "ftp://127.0.0.1/x", "http://"])
def test_an_unusable_url_is_a_config_error(url: str) -> None:
    with pytest.raises(DeliveryConfigError):
        check(url)


def test_probe_selection_by_substring() -> None:
    chosen = select_probes(catalogue(), ["duplicate", "docs/"])
    assert [p.name for p in chosen] == [
        "docs/example-success",
        "docs/example-failure",
        "docs/ivr-bridged-answered",
        "docs/ivr-bridged-busy",
        "docs/ivr-menu-hangup",
        "docs/masking-success",
        "docs/masking-failure",
        "delivery/duplicate",
        "delivery/duplicate-concurrent",
    ]
    with pytest.raises(UsageError, match="no probe name contains 'nothing-like-this'"):
        select_probes(catalogue(), ["nothing-like-this"])


def test_catalogue_names_are_unique_and_each_probe_says_why() -> None:
    probes = catalogue(auth=True)
    assert len({p.name for p in probes}) == len(probes)
    for probe in probes:
        assert probe.severity in ("failure", "warning")
        assert probe.proves
        assert probe.why
        assert "/" in probe.name


def test_report_json_round_trips_payloads(
    recorded: tuple[CheckReport, list[bug.Request]],
) -> None:
    report, _ = recorded
    first = report.results[0].exchanges[0]
    assert first.payload() == json.loads(example_bytes("success"))


# --- bursts larger than a default connection pool, report order, auth answers ---------------


def test_a_burst_larger_than_100_is_sent_at_once_and_all_acked() -> None:
    # The receiver answers only once every delivery of the burst is in flight at once: a
    # sender whose connection pool queues some of them gets no answer at all.
    burst = 120
    everyone = threading.Barrier(burst)

    def when_all_arrived(request: bug.Request) -> bug.Answer:
        try:
            everyone.wait(timeout=10)
        except threading.BrokenBarrierError:
            return 503, b"not every delivery of the burst arrived at once"
        return 200, b"ok"

    with bug.Receiver(when_all_arrived, backlog=1024) as receiver:
        report = check(receiver.url, timeout=3.0, burst=burst, probes=["delivery/burst"])
        everyone.abort()  # frees handlers still waiting when the check failed
    (result,) = report.results
    assert result.passed, result.reason
    assert len(result.exchanges) == burst


def test_burst_exchanges_are_reported_in_sending_order_whatever_the_answer_order() -> None:
    def session_ids(answer_order_seed: int) -> list[str]:
        jitter = random.Random(answer_order_seed)
        lock = threading.Lock()

        def answer_in_random_order(request: bug.Request) -> bug.Answer:
            with lock:
                delay = jitter.random() * 0.1
            time.sleep(delay)
            return 200, b"ok"

        with bug.Receiver(answer_in_random_order, backlog=64) as receiver:
            report = check(receiver.url, seed=5, burst=8, probes=["delivery/burst"])
        (result,) = report.results
        assert result.passed, result.reason
        return [x.payload()["payload"]["sessionId"] for x in result.exchanges]

    first, second = session_ids(1), session_ids(2)
    assert first == second
    assert len(set(first)) == 8


def test_auth_probe_answers_naming_the_token_never_show_it() -> None:
    refusal = 503  # not a 4xx: both probes fail, so the answer shows in every reason
    credential = "s3cr3tTOKEN"

    def names_the_token(request: bug.Request) -> bug.Answer:
        if request.headers.get("authorization") != f"Bearer {credential}":
            return (
                refusal,
                f'{{"error":"unauthorized","hint":"expected token {credential}"}}'.encode(),
            )
        return 200, b"ok"

    config = DeliveryConfig(
        timeout_s=5, auth_header=f"Bearer {credential}", secrets=(f"Bearer {credential}",)
    )
    with bug.Receiver(names_the_token) as receiver:
        report = check(receiver.url, config=config, probes=["auth/"])
    assert [r.name for r in report.results] == [
        "auth/missing-authorization",
        "auth/wrong-authorization",
    ]
    assert not any(r.passed for r in report.results)
    shown = "\n".join(terminal_lines(report)) + json.dumps(report_json(report))
    assert credential not in shown
    assert "expected token ***" in shown


def test_a_header_that_cannot_be_sent_fails_the_run_not_every_probe() -> None:
    config = DeliveryConfig(timeout_s=5, headers=(("X-Tenant", "acmé"),))
    with pytest.raises(DeliveryConfigError, match="'X-Tenant'"):
        check("http://127.0.0.1:9/", config=config)
