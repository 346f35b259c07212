"""What may be printed (emitter._redact): secrets in the target URL never reach any output."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import servers
from click.testing import CliRunner

from emitter._redact import display_url, mask_url, secret_query_values
from emitter.cli import cli
from emitter.generator import dumps, generate


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://h/vss?token=QTOKEN", "https://h/vss?token=***"),
        ("https://h/vss?tenant=acme&api_key=K3Y#frag", "https://h/vss?tenant=***&api_key=***#frag"),
        ("https://u:PASSW0RD@h/vss?sig=abc", "https://u:***@h/vss?sig=***"),
        ("https://h/vss?flag&empty=", "https://h/vss?flag&empty="),
        ("https://h/vss", "https://h/vss"),
    ],
)
def test_the_shown_url_masks_the_password_and_every_query_value(url: str, shown: str) -> None:
    assert display_url(url) == shown


def test_values_of_secret_looking_query_names_are_secrets() -> None:
    url = "https://h/?token=QT0KEN&tenant=acme&Signature=s%2Fg1&api_key=K3Y-K3Y&v=1"
    assert secret_query_values(url) == ["QT0KEN", "QT0KEN", "s%2Fg1", "s/g1", "K3Y-K3Y", "K3Y-K3Y"]


def test_mask_url_still_keeps_the_session_placeholder() -> None:
    assert mask_url("http://h/x?sid={sessionId}&k=v") == "http://h/x?sid={sessionId}&k=***"


def _echo_path() -> servers.Server:
    """A receiver that answers 500 with the request's path and query in its body."""

    def respond(
        server: servers.Server, conn: socket.socket, request: servers.Request | None
    ) -> None:
        if request is not None:
            body = json.dumps({"error": "echo", "path": request.path}).encode()
            conn.sendall(servers.http_response(500, body))

    return servers.Server(respond)


def test_a_query_token_in_the_target_url_reaches_no_output(tmp_path: Path) -> None:
    fixture = tmp_path / "one.ndjson"
    fixture.write_bytes(dumps(next(generate("completed", seed=1, n=1))) + b"\n")
    runner = CliRunner()
    with _echo_path() as server:
        url = server.url.replace("://", "://user:PASSW0RD@") + "?token=QT0KEN-1&tenant=acme"
        outputs = [
            runner.invoke(cli, ["send", url, "-f", str(fixture)]).output,
            runner.invoke(cli, ["send", url, "-f", str(fixture), "--json"]).output,
            runner.invoke(
                cli,
                [
                    "replay",
                    url,
                    str(fixture),
                    "--rate",
                    "max",
                    "--results",
                    str(tmp_path / "r.ndjson"),
                    "--report-json",
                    str(tmp_path / "r.json"),
                    "--html",
                    str(tmp_path / "r.html"),
                ],
            ).output,
            runner.invoke(
                cli,
                [
                    "check",
                    url,
                    "-k",
                    "docs/example-success",
                    "--seed",
                    "1",
                    "--report-json",
                    str(tmp_path / "c.json"),
                    "--html",
                    str(tmp_path / "c.html"),
                ],
            ).output,
        ]
        # The request itself went to the real URL, token and all.
        assert all("token=QT0KEN-1" in request.path for request in server.requests)
        assert len(server.requests) >= 3
    written = [p.read_text(encoding="utf-8") for p in sorted(tmp_path.iterdir()) if p != fixture]
    assert len(written) == 5
    for text in outputs + written:
        assert "QT0KEN" not in text
        assert "PASSW0RD" not in text
    assert "token=***" in outputs[0]
    assert all("token=***" in text for text in written)
