"""Delivery over real loopback sockets: every network fault lands in its Outcome, nothing raises."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest
import servers
from pytest_httpserver import HTTPServer

from emitter import __version__
from emitter.deliver import (
    USER_AGENT,
    Ack,
    DeliveryConfig,
    Outcome,
    check_url,
    classify_status,
    config_secrets,
    deliver,
    deliver_all,
    display_url,
    redact,
    request_headers,
)
from emitter.errors import DeliveryConfigError

BODY = json.dumps(
    {
        "namespace": "VOICE",
        "eventType": "SESSION_SUMMARY",
        "description": "Summary of a completed call session",
        "payload": {"sessionId": "1f048a84-ea6d-11ee-911b-078f7290bf52", "callCount": 0},
    }
).encode()
FAST = DeliveryConfig(timeout_s=0.3)


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> servers.SelfSignedCert:
    return servers.self_signed_cert(tmp_path_factory.mktemp("tls"))


def test_200_is_an_ack_and_the_request_carries_the_kit_headers() -> None:
    config = DeliveryConfig(auth_header="Basic dXNlcjpwYXNzd29yZA==", headers=(("X-Tenant", "a"),))
    with servers.answering(200) as server:
        ack = deliver(BODY, url=server.url, config=config)
    assert ack.outcome is Outcome.ACKED
    assert ack.ok
    assert ack.status == 200
    assert ack.attempt == 1
    assert ack.elapsed_s > 0
    assert ack.session_id == "1f048a84-ea6d-11ee-911b-078f7290bf52"
    (request,) = server.requests
    assert request.method == "POST"
    assert request.body == BODY
    assert request.headers["content-type"] == "application/json"
    assert (
        request.headers["user-agent"] == f"vss-emitter/{__version__} (+8x8 VSS contract test kit)"
    )
    assert request.headers["authorization"] == "Basic dXNlcjpwYXNzd29yZA=="
    assert request.headers["x-tenant"] == "a"


def test_other_status_is_rejected_with_a_one_line_body_excerpt() -> None:
    body = b"line one\nline two\r\n" + b"x" * 1000
    with servers.answering(500, body) as server:
        ack = deliver(BODY, url=server.url, config=FAST)
    assert ack.outcome is Outcome.REJECTED
    assert ack.status == 500
    assert ack.body_excerpt.startswith("line one line two x")
    assert len(ack.body_excerpt) <= 200
    assert "\n" not in ack.reason
    assert ack.reason.startswith("HTTP 500 Internal Server Error: line one")


def test_2xx_other_than_200_is_rejected_unless_opted_in() -> None:
    with servers.answering(202) as server:
        strict = deliver(BODY, url=server.url, config=FAST)
        lenient = deliver(BODY, url=server.url, config=DeliveryConfig(accept_2xx=True))
    assert strict.outcome is Outcome.REJECTED
    assert "--accept-2xx" in strict.reason
    assert lenient.outcome is Outcome.ACKED


def test_redirect_is_not_followed() -> None:
    with servers.answering(200) as target, servers.redirecting(target.url) as server:
        ack = deliver(BODY, url=server.url, config=FAST)
    assert ack.outcome is Outcome.REDIRECT
    assert ack.status == 302
    assert target.requests == []
    assert "not followed" in ack.reason


def test_slow_answer_times_out_at_the_deadline() -> None:
    with servers.slow(5.0) as server:
        ack = deliver(BODY, url=server.url, config=FAST)
    assert ack.outcome is Outcome.TIMEOUT
    assert ack.status is None
    assert "0.3 s ack deadline" in ack.reason


def test_trickled_answer_times_out_although_every_byte_arrives_quickly() -> None:
    # Each byte comes well within the deadline; the whole answer does not.
    with servers.trickling(0.05) as server:
        ack = deliver(BODY, url=server.url, config=FAST)
    assert ack.outcome is Outcome.TIMEOUT
    assert len(server.requests) == 1


def test_closed_port_is_refused() -> None:
    ack = deliver(BODY, url=servers.closed_port_url(), config=FAST)
    assert ack.outcome is Outcome.REFUSED
    assert ack.status is None


@pytest.mark.parametrize("hard", [False, True], ids=["fin", "rst"])
def test_connection_closed_without_answer_is_reset(hard: bool) -> None:
    with servers.resetting(hard=hard) as server:
        ack = deliver(BODY, url=server.url, config=FAST)
    assert ack.outcome is Outcome.RESET


def test_non_http_answer_is_told_from_no_answer() -> None:
    with servers.garbage(b"hello\r\n") as server:
        ack = deliver(BODY, url=server.url, config=FAST)
    assert ack.outcome is Outcome.NOT_HTTP
    assert ack.reason == "the answer is not HTTP"  # the same text in every stack
    assert ack.body_excerpt == "hello"  # what came is evidence, kept apart from the reason
    assert ack.status is None


def test_unresolvable_host_is_dns() -> None:
    # .invalid is reserved (RFC 2606) and never resolves, so nothing leaves the machine.
    ack = deliver(BODY, url="http://vss-receiver.invalid/hook", config=FAST)
    assert ack.outcome is Outcome.DNS


def test_self_signed_certificate_fails_verification(cert: servers.SelfSignedCert) -> None:
    with servers.tls(cert) as server:
        ack = deliver(BODY, url=server.url, config=FAST)
    assert ack.outcome is Outcome.TLS
    assert "certificate" in ack.reason


def test_insecure_accepts_a_self_signed_certificate(cert: servers.SelfSignedCert) -> None:
    with servers.tls(cert) as server:
        ack = deliver(BODY, url=server.url, config=DeliveryConfig(verify_tls=False))
    assert ack.outcome is Outcome.ACKED


def test_ca_bundle_trusts_a_self_signed_certificate(cert: servers.SelfSignedCert) -> None:
    with servers.tls(cert) as server:
        ack = deliver(BODY, url=server.url, config=DeliveryConfig(ca_bundle=str(cert.cert)))
    assert ack.outcome is Outcome.ACKED
    assert server.requests[0].body == BODY


def test_https_to_a_plain_http_server_is_tls(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/").respond_with_data("ok")
    ack = deliver(BODY, url=httpserver.url_for("/").replace("http:", "https:"), config=FAST)
    assert ack.outcome is Outcome.TLS


def test_unreadable_ca_bundle_is_a_config_error(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate")
    with pytest.raises(DeliveryConfigError, match="CA bundle"):
        deliver(BODY, url="https://127.0.0.1:1/", config=DeliveryConfig(ca_bundle=str(bogus)))


def test_secrets_never_appear_in_the_ack() -> None:
    config = DeliveryConfig(
        auth_header="Bearer s3cr3t",
        headers=(("X-Api-Key", "k3y-value"), ("X-Session-Token", "t0ken-value")),
    )
    with servers.echoing(500, names=["authorization", "x-api-key", "x-session-token"]) as server:
        ack = deliver(BODY, url=server.url, config=config)
    assert server.requests[0].headers["authorization"] == "Bearer s3cr3t"
    assert ack.outcome is Outcome.REJECTED
    text = repr(ack)
    for secret in ("s3cr3t", "k3y-value", "t0ken-value"):
        assert secret not in text
    assert "***" in ack.body_excerpt


def test_retries_resend_identical_bytes_until_acked() -> None:
    slept: list[float] = []
    config = DeliveryConfig(timeout_s=2, retries=(1, 10, 30, 90))
    with servers.flaky(2) as server:
        ack = deliver(BODY, url=server.url, config=config, sleep=slept.append)
    assert ack.outcome is Outcome.ACKED
    assert ack.attempt == 3
    assert slept == [1, 10]
    assert [r.body for r in server.requests] == [BODY, BODY, BODY]


def test_retries_stop_after_the_schedule_and_report_the_last_attempt() -> None:
    slept: list[float] = []
    heard: list[tuple[Outcome, float]] = []
    config = DeliveryConfig(timeout_s=0.3, retries=(1, 2))
    ack = deliver(
        BODY,
        url=servers.closed_port_url(),
        config=config,
        sleep=slept.append,
        on_retry=lambda failed, delay: heard.append((failed.outcome, delay)),
    )
    assert ack.outcome is Outcome.REFUSED
    assert ack.attempt == 3
    assert slept == [1, 2]
    assert heard == [(Outcome.REFUSED, 1), (Outcome.REFUSED, 2)]


def test_no_retry_without_a_schedule() -> None:
    slept: list[float] = []
    with servers.answering(503) as server:
        ack = deliver(BODY, url=server.url, config=FAST, sleep=slept.append)
    assert ack.attempt == 1
    assert slept == []
    assert len(server.requests) == 1


def test_deliver_all_yields_one_ack_per_payload_in_order() -> None:
    bodies = [BODY, b"{}", b"not json"]
    with servers.answering(200) as server:
        acks = list(deliver_all(bodies, url=server.url, config=FAST))
    assert [a.outcome for a in acks] == [Outcome.ACKED] * 3
    assert [r.body for r in server.requests] == bodies
    assert acks[0].session_id is not None
    assert acks[1].session_id is None


def test_a_dict_payload_is_sent_as_its_canonical_bytes() -> None:
    generate = pytest.importorskip("emitter.generator")
    payload = json.loads(BODY)
    with servers.answering(200) as server:
        deliver(payload, url=server.url, config=FAST)
    assert server.requests[0].body == generate.dumps(payload)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://example.com/hook", "scheme 'ftp'"),
        ("example.com/hook", "no scheme"),
        ("http://", "no host"),
        ("http://exa mple.com/", "space"),
        ("http://127.0.0.1:99999/", "port 99999"),
    ],
)
def test_unusable_url_is_a_one_line_config_error(url: str, problem: str) -> None:
    with pytest.raises(DeliveryConfigError) as raised:
        deliver(BODY, url=url, config=FAST)
    message = str(raised.value)
    assert problem in message
    assert "e.g. https://" in message
    assert "\n" not in message


def test_check_url_accepts_http_and_https() -> None:
    assert check_url("  https://example.com/webhooks/vss ") == "https://example.com/webhooks/vss"
    assert check_url("http://127.0.0.1:8080/x?y=1") == "http://127.0.0.1:8080/x?y=1"


def test_password_in_url_is_neither_shown_nor_leaked() -> None:
    url = "http://user:pa55word@vss-receiver.invalid/"
    assert "pa55word" not in display_url(url)
    assert "pa55word" in config_secrets(DeliveryConfig(), url=url)
    with pytest.raises(DeliveryConfigError) as raised:
        check_url("gopher://user:pa55word@host/")
    assert "pa55word" not in str(raised.value)


def test_redact_replaces_every_secret_longest_first() -> None:
    text = "Authorization: Bearer s3cr3t, token s3cr3t, key abc"
    assert redact(text, ["s3cr3t", "Bearer s3cr3t", ""]) == "Authorization: ***, token ***, key abc"


def test_secret_header_values_are_collected_for_redaction() -> None:
    config = DeliveryConfig(
        auth_header="Basic dXNlcjpwYXNzd29yZA==",
        headers=(("Cookie", "sid=42abc"), ("X-Tenant", "acme"), ("X-Client-Secret", "shh-1")),
        secrets=("extra-secret",),
    )
    found = config_secrets(config)
    assert {"Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA==", "sid=42abc"} <= set(found)
    assert {"shh-1", "extra-secret"} <= set(found)
    assert "acme" not in found


def test_header_option_replaces_a_default_header() -> None:
    headers = request_headers(DeliveryConfig(headers=(("content-type", "text/plain"),)))
    assert headers == {"User-Agent": USER_AGENT, "content-type": "text/plain"}


def test_header_value_with_a_line_break_is_a_config_error_that_hides_secrets() -> None:
    with pytest.raises(DeliveryConfigError) as raised:
        request_headers(DeliveryConfig(auth_header="Bearer a\r\nX-Evil: 1"))
    assert "Bearer" not in str(raised.value)


def test_status_classification() -> None:
    assert classify_status(200) is Outcome.ACKED
    assert classify_status(204) is Outcome.REJECTED
    assert classify_status(204, accept_2xx=True) is Outcome.ACKED
    assert classify_status(301) is Outcome.REDIRECT
    assert classify_status(404) is Outcome.REJECTED
    assert classify_status(100) is Outcome.REJECTED


def test_any_other_transport_failure_is_an_error_outcome_not_an_exception() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ProxyError("proxy said no")

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        ack = deliver(BODY, url="http://127.0.0.1:9/", config=FAST, client=client)
    assert isinstance(ack, Ack)
    assert ack.outcome is Outcome.ERROR
    assert "proxy said no" in ack.reason


# --- what a hostile receiver's answer can and cannot do to the output -----------------------

AUTH_VALUE = "Bearer tok3nSECRETvalue123"


def padded_echo(padding: int) -> servers.Server:
    """Answers 400 with `padding` spaces, then the Authorization header it was sent."""

    def respond(
        server: servers.Server, conn: socket.socket, request: servers.Request | None
    ) -> None:
        if request is not None:
            body = b" " * padding + request.headers.get("authorization", "").encode()
            conn.sendall(servers.http_response(400, body))

    return servers.Server(respond)


def test_a_secret_straddling_the_excerpt_cut_is_redacted_whole() -> None:
    # The token starts 10 bytes before byte 800, where the excerpt used to cut the raw body.
    with padded_echo(790) as server:
        ack = deliver(BODY, url=server.url, config=DeliveryConfig(auth_header=AUTH_VALUE))
    for shown in (ack.reason, ack.body_excerpt):
        assert "tok" not in shown
        assert "Bearer" not in shown
    assert ack.body_excerpt == "***"


def test_a_pretty_printed_echo_never_shows_part_of_the_token() -> None:
    def respond(
        server: servers.Server, conn: socket.socket, request: servers.Request | None
    ) -> None:
        if request is not None:
            sent = {"authorization": request.headers.get("authorization")}
            echoed = {"error": "bad request", "request": {"headers": sent}}
            body = json.dumps(echoed, indent=101).encode()  # debug endpoints pretty-print
            conn.sendall(servers.http_response(400, body))

    with servers.Server(respond) as server:
        ack = deliver(BODY, url=server.url, config=DeliveryConfig(auth_header=AUTH_VALUE))
    assert '"authorization": "***"' in ack.body_excerpt
    assert "tok3n" not in ack.reason + ack.body_excerpt


def test_a_secret_cut_by_the_body_read_cap_is_masked() -> None:
    # 64 KiB of blanks collapse to one: the start of the token cut at the cap would show.
    with padded_echo(64 * 1024 - 12) as server:
        ack = deliver(BODY, url=server.url, config=DeliveryConfig(auth_header=AUTH_VALUE))
    assert ack.body_excerpt == "***"
    assert "tok" not in ack.reason


def test_control_characters_from_the_receiver_never_reach_the_reason() -> None:
    body = b"err\x00\x07\x1b[31mred\x1b[0m \xc2\x9b2J\x7f done"
    with servers.answering(500, body) as server:
        ack = deliver(BODY, url=server.url, config=FAST)
    for shown in (ack.reason, ack.body_excerpt):
        assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in shown), repr(shown)
        assert "\ufffd[31mred" in shown
    assert ack.body_excerpt.endswith("done")


def test_config_secrets_derives_the_credential_of_every_extra_secret() -> None:
    found = config_secrets(DeliveryConfig(secrets=("Bearer s3cr3tTOKEN",)))
    assert {"Bearer s3cr3tTOKEN", "s3cr3tTOKEN"} <= set(found)


def test_display_url_keeps_the_user_name_and_masks_only_the_password() -> None:
    assert display_url("http://alice:pa55@host.invalid/vss") == "http://alice:***@host.invalid/vss"
    assert display_url("http://alice@host.invalid/") == "http://alice@host.invalid/"


@pytest.mark.parametrize(
    ("headers", "auth"),
    [((), "Bearer tökén"), ((("X-A", "😀"),), None), ((("X-Api-Key", "clé-secrète"),), None)],
)
def test_a_non_ascii_header_value_is_a_config_error_naming_only_the_header(
    headers: tuple[tuple[str, str], ...], auth: str | None
) -> None:
    config = DeliveryConfig(headers=headers, auth_header=auth)
    with pytest.raises(DeliveryConfigError) as raised:
        request_headers(config)
    message = str(raised.value)
    name = headers[0][0] if headers else "Authorization"
    assert repr(name) in message
    assert "\n" not in message
    if name != "X-A":  # a credential: never shown
        assert "***" in message
        assert "tökén" not in message
        assert "secrète" not in message
    with pytest.raises(DeliveryConfigError):
        deliver(BODY, url="http://127.0.0.1:9/", config=config)


def test_an_illegal_header_name_is_a_config_error() -> None:
    with pytest.raises(DeliveryConfigError, match="invalid header name 'X\\(y\\)'"):
        request_headers(DeliveryConfig(headers=(("X(y)", "1"),)))
