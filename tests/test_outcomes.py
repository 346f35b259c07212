"""One classification for every HTTP stack: the same misbehaving receiver gives the same Outcome
and the same reason text whether send (httpx), replay (its engine) or Locust (geventhttpclient)
met it. The servers are real sockets on 127.0.0.1 (tests/servers.py)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import servers

from emitter._outcomes import Outcome, classify_os_error, reason
from emitter.deliver import DeliveryConfig, deliver
from emitter.replay import ReplaySettings, replay

TIMEOUT_S = 1.0  # the ack deadline of every stack here; only the silent and slow cases wait it
BODY = b'{"namespace":"VOICE","eventType":"SESSION_SUMMARY","payload":{"sessionId":"s-1"}}'
HINT = "(--ca-bundle FILE or SSL_CERT_FILE trusts its CA, --insecure skips verification)"
DRIVER = Path(__file__).with_name("locust_driver.py")


@dataclass(frozen=True)
class Case:
    """A misbehaving receiver and the one (Outcome, reason) every stack must report for it."""

    server: Callable[[Path], servers.Server] | None  # None: a closed port
    outcome: Outcome
    reason: str


CASES = {
    "refused": Case(None, Outcome.REFUSED, "connection refused (nothing listens on that port)"),
    "reset": Case(
        lambda _: servers.resetting(hard=True), Outcome.RESET, "connection closed without an answer"
    ),
    "closed": Case(
        lambda _: servers.resetting(hard=False),
        Outcome.RESET,
        "connection closed without an answer",
    ),
    "silent": Case(
        lambda _: servers.slow(60), Outcome.TIMEOUT, "no answer within the 1 s ack deadline"
    ),
    "slow": Case(
        lambda _: servers.trickling(0.05), Outcome.TIMEOUT, "no answer within the 1 s ack deadline"
    ),
    "reset-mid-answer": Case(
        lambda _: servers.cut_mid_answer(),
        Outcome.RESET,
        "connection closed mid-answer after HTTP 200",
    ),
    "stalled-body": Case(
        lambda _: servers.stalled_body(),
        Outcome.TIMEOUT,
        "HTTP 200 came but the answer was not complete within the 1 s ack deadline",
    ),
    # A head far over the usual 8-16 KB limits is still HTTP: the status decides (docs/send.md).
    "huge-head": Case(lambda _: servers.huge_head(200_000), Outcome.ACKED, "HTTP 200 OK"),
    "not-http": Case(
        lambda _: servers.garbage(b"hello\r\n"), Outcome.NOT_HTTP, "the answer is not HTTP"
    ),
    "500": Case(
        lambda _: servers.answering(500), Outcome.REJECTED, "HTTP 500 Internal Server Error"
    ),
    "301": Case(
        lambda _: servers.redirecting("/elsewhere", status=301),
        Outcome.REDIRECT,
        "HTTP 301 Moved Permanently to /elsewhere (redirects are not followed; only 200 is an ack)",
    ),
    "tls": Case(
        lambda folder: servers.tls(servers.self_signed_cert(folder)),
        Outcome.TLS,
        f"TLS failed: certificate verify failed: self-signed certificate {HINT}",
    ),
}


@pytest.fixture(scope="module")
def urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One live server per case for the whole module, so every stack meets the same ones."""
    folder = tmp_path_factory.mktemp("outcomes")
    with ExitStack() as stack:
        found = {}
        for name, case in CASES.items():
            if case.server is None:
                found[name] = servers.closed_port_url()
            else:
                found[name] = stack.enter_context(case.server(folder)).url
        yield found


def _send(url: str, tmp_path: Path) -> tuple[str, str]:
    ack = deliver(BODY, url=url, config=DeliveryConfig(timeout_s=TIMEOUT_S))
    return str(ack.outcome), ack.reason


def _replay(url: str, tmp_path: Path) -> tuple[str, str]:
    fixture, results = tmp_path / "one.ndjson", tmp_path / "results.ndjson"
    fixture.write_bytes(BODY + b"\n")
    replay(
        url=url,
        settings=ReplaySettings(rate=None, concurrency=1, results=results),
        config=DeliveryConfig(timeout_s=TIMEOUT_S),
        files=[fixture],
    )
    records = [json.loads(line) for line in results.read_text().splitlines()]
    delivery = [r for r in records if r.get("type") == "delivery"][-1]
    return delivery["outcome"], delivery.get("reason", "")


@pytest.fixture(scope="module")
def locust_answers(urls: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Every case through the Locust user's request path, in one process of its own."""
    if importlib.util.find_spec("locust") is None:
        pytest.skip("needs the locust extra: pip install 'vss-emitter[locust]'")
    done = subprocess.run(
        [sys.executable, str(DRIVER), str(TIMEOUT_S), *urls.values()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    by_url = {line["url"]: (line["outcome"], line["reason"]) for line in lines}
    return {name: by_url[url] for name, url in urls.items()}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("stack", ["send", "replay", "locust"])
def test_every_stack_reports_the_same_outcome_and_reason_for_the_same_fault(
    stack: str, case: str, urls: dict[str, str], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    expected = CASES[case]
    if stack == "locust":
        got = request.getfixturevalue("locust_answers")[case]
    else:
        got = {"send": _send, "replay": _replay}[stack](urls[case], tmp_path)
    if expected.outcome is Outcome.ACKED:
        got = (got[0], expected.reason)  # the results log and Locust keep no reason for an ack
    assert got == (str(expected.outcome), expected.reason)


@pytest.mark.parametrize(
    ("error", "outcome", "text"),
    [
        (ConnectionRefusedError(111, "refused"), Outcome.REFUSED, "connection refused"),
        (ConnectionResetError(104, "reset"), Outcome.RESET, "connection closed without"),
        (BrokenPipeError(32, "pipe"), Outcome.RESET, "connection closed without"),
        (TimeoutError(), Outcome.TIMEOUT, "no answer within the 2 s ack deadline"),
        (OSError(99, "odd"), Outcome.ERROR, "transport error: OSError: [Errno 99] odd"),
    ],
)
def test_a_raw_socket_engine_maps_os_errors_into_the_same_table(
    error: OSError, outcome: Outcome, text: str
) -> None:
    wrapped = RuntimeError("the engine's own wrapper")
    wrapped.__cause__ = error
    fault = classify_os_error(wrapped, timeout_s=2)
    assert fault.outcome is outcome
    assert fault.reason.startswith(text)


def test_an_answer_the_parser_rejects_is_not_http_and_a_silent_close_is_closed() -> None:
    parser_error = ValueError("invalid status line")
    assert classify_os_error(parser_error, timeout_s=1, not_http=True, received=7) == reason(
        "not_http"
    )
    assert classify_os_error(parser_error, timeout_s=1, not_http=True, received=0) == reason(
        "closed"
    )
    assert classify_os_error(parser_error, timeout_s=1, not_http=True, status=200) == reason(
        "closed_mid_answer", status=200
    )
