"""`check --verify`: every seeded processing bug is caught over HTTP and SQL; nothing without it.

The receivers ack 200 at once and store 50 ms later into real SQLite (WAL), as 8x8 advises; each
bug hides behind that 200, so only reading back what was stored can see it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from emitter.cli import cli
from verify.storing_receiver import BUGS, StoringReceiver

TOKEN = "Bearer good-token"  # noqa: S105  (the test receiver's own credential)

# The probe each bug must fail, and the words that must name what was wrong.
CAUGHT = {
    "status-wrong": ("scenario/busy", "sessionStatus: stored 'COMPLETED', expected 'BUSY'"),
    "calla-lost": ("docs/example-success", "legs: callA not stored"),
    "duplicates-twice": ("delivery/duplicate", "stored twice"),
    "null-string": (
        "scenario/quirk-string-null-source-ref-id",
        "legs[callA].sourceRefId: stored 'null', expected null",
    ),
    "store-nothing": ("scenario/completed", "not stored within 1 s of the ack"),
    "forged-stored": ("auth/wrong-authorization", "the rejected delivery was stored anyway"),
    "small-queue": ("delivery/burst", "not stored within 1 s of the ack"),
}


# The probes that meet every seeded bug (the correct receiver runs the whole suite): a third of
# the catalogue, which keeps fourteen runs of check --verify quick.
SUBSET = ("-k", "docs/", "-k", "scenario/b", "-k", "scenario/completed", "-k", "scenario/quirk")
SUBSET += ("-k", "delivery/", "-k", "auth/")


@pytest.fixture
def receiver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoringReceiver]:
    param = getattr(request, "param", None)
    bugs = (param,) if param else ()
    with StoringReceiver(tmp_path / "app.db", bugs=bugs, auth=TOKEN) as running:
        yield running


def check(receiver: StoringReceiver, *extra: str) -> Result:
    args = ["check", receiver.url, "--seed", "7", "--auth-header", TOKEN, *extra]
    return CliRunner().invoke(cli, args)


def failed_line(output: str, probe: str) -> str:
    pattern = rf"^\s*✗ {re.escape(probe)}\s.*$"
    found = re.search(pattern, output, re.MULTILINE)
    assert found, f"no failed line for {probe} in:\n{output}"
    return found.group(0)


def test_every_bug_has_an_expectation() -> None:
    assert set(CAUGHT) == set(BUGS)


@pytest.mark.parametrize("kind", ["http", "sql"])
def test_the_correct_receiver_passes_with_verify(
    receiver: StoringReceiver, tmp_path: Path, kind: str
) -> None:
    verify = receiver.verify_file(tmp_path, kind=kind, within="1s")
    result = check(receiver, "--verify", str(verify))
    assert result.exit_code == 0, result.output
    assert "stored as expected" in result.output
    assert re.search(r"auth/wrong-authorization .*; not stored$", result.output, re.MULTILINE)


@pytest.mark.parametrize("kind", ["http", "sql"])
@pytest.mark.parametrize("receiver", BUGS, indirect=True)
def test_each_seeded_processing_bug_fails_check_verify_naming_probe_and_field(
    receiver: StoringReceiver, tmp_path: Path, kind: str
) -> None:
    bug = next(iter(receiver.bugs))
    # A forged delivery is judged "not stored" after settle: on a loaded machine the storing
    # worker may lag, and a short settle would let this bug pass (never the other way round).
    settle = "1.5s" if bug == "forged-stored" else "0.4s"
    verify = receiver.verify_file(tmp_path, kind=kind, within="1s", settle=settle)
    result = check(receiver, "--verify", str(verify), *SUBSET)
    assert result.exit_code == 1, result.output
    probe, words = CAUGHT[bug]
    assert words in failed_line(result.output, probe)


@pytest.mark.parametrize("receiver", BUGS, indirect=True)
def test_without_verify_every_buggy_receiver_passes(receiver: StoringReceiver) -> None:
    result = check(receiver, *SUBSET)
    assert result.exit_code == 0, result.output


def test_the_json_report_carries_expected_and_stored_records(tmp_path: Path) -> None:
    with StoringReceiver(tmp_path / "app.db", bugs={"status-wrong"}) as receiver:
        verify = receiver.verify_file(tmp_path, kind="http", within="1s")
        out = tmp_path / "report.json"
        result = CliRunner().invoke(
            cli,
            [
                "check",
                receiver.url,
                "--seed",
                "7",
                "-k",
                "scenario/busy",
                "--verify",
                str(verify),
                "--report-json",
                str(out),
                "--save-failures",
                str(tmp_path / "failed"),
            ],
        )
    assert result.exit_code == 1, result.output
    report = json.loads(out.read_text())
    (probe,) = [r for r in report["probes"] if r["name"] == "scenario/busy"]
    (session,) = probe["verification"]
    assert session["state"] == "mismatched"
    assert session["expected"]["sessionStatus"] == "BUSY"
    assert session["stored"][0]["sessionStatus"] == "COMPLETED"
    assert report["verify"].startswith("GET http://127.0.0.1:")
    saved = json.loads((tmp_path / "failed" / "scenario--busy.verify.json").read_text())
    assert saved[0]["expected"]["sessionStatus"] == "BUSY"
    assert saved[0]["stored"][0]["sessionStatus"] == "COMPLETED"
    assert "sessionStatus: stored 'COMPLETED', expected 'BUSY'" in result.output


def test_a_verify_file_that_cannot_be_used_exits_2_before_anything_is_sent(
    receiver: StoringReceiver, tmp_path: Path
) -> None:
    bad = tmp_path / "v.yaml"
    bad.write_text("http: http://127.0.0.1:9/{sessionId}\n")
    result = check(receiver, "--verify", str(bad))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {bad}: key `http`: GET http://127.0.0.1:9/")
    assert receiver.acked == 0


def test_secrets_of_the_verify_file_never_show(tmp_path: Path) -> None:
    with StoringReceiver(tmp_path / "app.db", bugs={"status-wrong"}) as receiver:
        verify = tmp_path / "v.yaml"
        verify.write_text(
            f"http: {receiver.read_back_url.replace('127.0.0.1', 'reader:pa55word@127.0.0.1')}\n"
            'headers: {Authorization: "Bearer read-back-s3cret"}\nwithin: 1s\nsettle: 0.2s\n'
        )
        out = tmp_path / "report.json"
        result = CliRunner().invoke(
            cli,
            [
                "check",
                receiver.url,
                "--seed",
                "7",
                "-k",
                "scenario/busy",
                "--verify",
                str(verify),
                "--report-json",
                str(out),
                "--junit-xml",
                str(tmp_path / "j.xml"),
            ],
        )
    everything = result.output + out.read_text() + (tmp_path / "j.xml").read_text()
    assert "read-back-s3cret" not in everything
    assert "pa55word" not in everything
    assert "reader:***@127.0.0.1" in result.output


def test_a_rejected_forged_delivery_stored_fails_even_with_another_credential_header_sent(
    tmp_path: Path,
) -> None:
    # The kept X-Api-Key may authenticate a delivery the receiver acks; this one answered 401,
    # so the receiver itself called it forged, and storing it is the bug.
    with StoringReceiver(tmp_path / "app.db", bugs={"forged-stored"}, auth=TOKEN) as receiver:
        verify = receiver.verify_file(tmp_path, kind="http", within="1s", settle="0.3s")
        result = check(receiver, "-k", "auth/", "-H", "X-Api-Key: k123456", "--verify", str(verify))
    assert result.exit_code == 1, result.output
    assert "the rejected delivery was stored anyway" in failed_line(
        result.output, "auth/wrong-authorization"
    )


def test_an_acked_forged_delivery_with_another_credential_header_says_storage_was_not_checked(
    tmp_path: Path,
) -> None:
    with StoringReceiver(tmp_path / "app.db") as receiver:  # no auth: it acks everything
        verify = receiver.verify_file(tmp_path, kind="http", within="1s", settle="0.3s")
        result = check(receiver, "-k", "auth/", "-H", "X-Api-Key: k123456", "--verify", str(verify))
    assert "'not stored' not checked for the acked delivery" in result.output, result.output


def test_a_read_back_of_the_session_id_alone_is_a_warning_not_a_pass(tmp_path: Path) -> None:
    # A row exists, and nothing more is known: status, legs and error codes are never compared.
    with StoringReceiver(tmp_path / "app.db", bugs={"status-wrong"}) as receiver:
        verify = tmp_path / "v.yaml"
        query = "SELECT session_id AS sessionId, stored_at FROM calls WHERE session_id = :sessionId"
        verify.write_text(
            f"sql: {receiver.sqlalchemy_url}\nquery: {query}\nwithin: 1s\nsettle: 0.2s\n"
        )
        result = check(receiver, "-k", "scenario/busy", "--verify", str(verify))
    assert result.exit_code == 0, result.output
    assert "judged on sessionId only: the read-back returns no other canonical field" in (
        result.output
    )
    assert "1 warning" in result.output


def test_a_read_back_that_finds_nothing_for_any_session_hints_at_the_read_back(
    tmp_path: Path,
) -> None:
    with StoringReceiver(tmp_path / "app.db") as receiver:
        verify = tmp_path / "v.yaml"
        wrong = receiver.read_back_url.replace("/internal/", "/nope/")
        verify.write_text(f"http: {wrong}\nwithin: 0.3s\nsettle: 0.1s\n")
        result = check(
            receiver, "-k", "scenario/busy", "-k", "scenario/completed", "--verify", str(verify)
        )
        right = receiver.verify_file(tmp_path, kind="http", within="1s", settle="0.2s")
        correct = check(receiver, "--seed", "8", "-k", "scenario/busy", "--verify", str(right))
    assert result.exit_code == 1, result.output
    hint = re.search(
        r"^hint: the read-back found nothing for any of the \d+ acked .*$",
        result.output,
        re.MULTILINE,
    )
    assert hint, result.output
    assert hint.group(0).endswith(
        f"if the receiver did store them, the read-back is wrong: GET {wrong}"
    )
    assert "hint:" not in correct.output


def test_the_html_report_names_the_read_back_it_used(tmp_path: Path) -> None:
    import html

    with StoringReceiver(tmp_path / "app.db") as receiver:
        verify = receiver.verify_file(tmp_path, kind="http", within="1s", settle="0.2s")
        page = tmp_path / "r.html"
        result = check(
            receiver, "-k", "scenario/busy", "--verify", str(verify), "--html", str(page)
        )
    assert result.exit_code == 0, result.output
    text = page.read_text()
    assert "Run parameters" in text
    assert html.escape(f"GET {receiver.read_back_url}", quote=False) in text
