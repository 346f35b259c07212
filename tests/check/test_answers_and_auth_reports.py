"""An ack whose body says it failed warns on every probe; timing probes judge acks only; the
auth probes say exactly what they removed or altered."""

from __future__ import annotations

import json

import pytest
import servers

from emitter.check import ProbeResult, run_check
from emitter.deliver import DeliveryConfig

MISSING_CALL_ID = b'{"success": false, "message": "Missing call id"}'


def results(
    url: str, *patterns: str, config: DeliveryConfig | None = None
) -> dict[str, ProbeResult]:
    config = config or DeliveryConfig(timeout_s=5)
    report = run_check(url=url, config=config, seed=3, probes=patterns)
    return {r.name: r for r in report.results}


def test_a_200_that_says_missing_call_id_warns_on_every_probe() -> None:
    with servers.answering(200, MISSING_CALL_ID) as server:
        report = run_check(url=server.url, config=DeliveryConfig(timeout_s=5), seed=3)
    assert report.exit_code == 0  # a warning: 8x8 itself would count these as delivered
    assert report.warnings == len(report.results)
    busy = next(r for r in report.results if r.name == "scenario/busy")
    assert busy.reason == (
        'acked (HTTP 200), but the answer says it failed: {"success": false, "message": '
        '"Missing call id"} (8x8 does not read the body: a 200 tells it the delivery was taken)'
    )


@pytest.mark.parametrize(
    "body",
    [{"ok": False}, {"status": "error"}, {"status": "FAILED"}, {"error": "db down"}],
)
def test_every_documented_failure_shape_is_a_warning(body: object) -> None:
    with servers.answering(200, json.dumps(body).encode()) as server:
        found = results(server.url, "scenario/busy")
    assert found["scenario/busy"].verdict == "warning"


@pytest.mark.parametrize(
    "body",
    [b'{"success": true}', b'{"error": null, "ok": true}', b'{"status": "ok"}', b"OK", b""],
)
def test_an_ordinary_ack_body_passes(body: bytes) -> None:
    with servers.answering(200, body) as server:
        found = results(server.url, "scenario/busy")
    assert found["scenario/busy"].verdict == "passed"


def test_timing_probes_judge_acks_only() -> None:
    with servers.answering(401, b'{"error": "unauthorized"}') as server:
        found = results(server.url, "delivery/ack-")
    quick, deadline = found["delivery/ack-under-1s"], found["delivery/ack-deadline"]
    assert quick.verdict == "warning"
    assert "HTTP 401" in quick.reason
    assert deadline.verdict == "failed"


def test_auth_probes_say_what_they_removed_and_what_they_kept() -> None:
    config = DeliveryConfig(
        timeout_s=5,
        auth_header="Bearer t0ken-value",
        headers=(("X-Api-Key", "k3y-value"), ("X-Tenant", "acme")),
    )
    with servers.answering(200, b"") as server:
        found = results(server.url, "auth/", config=config)
    missing = found["auth/missing-authorization"].reason
    wrong = found["auth/wrong-authorization"].reason
    assert missing == (
        "acked a delivery without the Authorization header (Authorization removed (from "
        "--auth-header); still sent: -H X-Api-Key, -H X-Tenant): right if the receiver "
        "authenticates by X-Api-Key, else it accepts forged webhooks"
    )
    assert "Authorization replaced by a wrong value" in wrong
    assert "accepts forged webhooks" in wrong
    assert "k3y-value" not in missing + wrong


def test_without_another_credential_an_acked_forgery_is_named_as_such() -> None:
    config = DeliveryConfig(timeout_s=5, auth_header="Bearer t0ken-value")
    with servers.answering(200, b"") as server:
        found = results(server.url, "auth/missing", config=config)
    assert found["auth/missing-authorization"].reason.endswith(
        "(Authorization removed (from --auth-header)): the receiver accepts forged webhooks"
    )


def test_a_wrong_authorization_also_replaces_an_h_authorization() -> None:
    config = DeliveryConfig(
        timeout_s=5, auth_header="Bearer real-one", headers=(("Authorization", "Bearer real-one"),)
    )
    with servers.echoing(401, names=["authorization"]) as server:
        found = results(server.url, "auth/wrong", config=config)
    result = found["auth/wrong-authorization"]
    assert "real-one" not in server.requests[0].headers.get("authorization", "")
    assert "(from --auth-header and -H Authorization)" in result.reason
