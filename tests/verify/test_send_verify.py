"""`send --verify` and the rule for sessionIds the receiver already holds (earlier runs)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from emitter.cli import cli
from verify.storing_receiver import StoringReceiver


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_send_verify_reads_back_each_acked_payload(tmp_path: Path) -> None:
    with StoringReceiver(tmp_path / "app.db") as receiver:
        verify = receiver.verify_file(tmp_path, kind="sql", within="2s")
        result = run(
            "send",
            receiver.url,
            "busy",
            "completed",
            "-n",
            "2",
            "--seed",
            "4",
            "--verify",
            str(verify),
        )
    assert result.exit_code == 0, result.output
    assert result.output.count("verify ✓") == 4
    assert "verify: 4 stored (SQL sqlite:///" in result.output


def test_send_verify_fails_a_payload_stored_wrong_naming_the_field(tmp_path: Path) -> None:
    with StoringReceiver(tmp_path / "app.db", bugs={"status-wrong"}) as receiver:
        verify = receiver.verify_file(tmp_path, kind="http", within="2s")
        result = run("send", receiver.url, "busy", "--seed", "4", "--verify", str(verify))
    assert result.exit_code == 1, result.output
    assert "verify ✗" in result.output
    assert "sessionStatus: stored 'COMPLETED', expected 'BUSY'" in result.output
    assert "1 mismatched" in result.output


def test_send_verify_json_lines_carry_expected_and_stored(tmp_path: Path) -> None:
    with StoringReceiver(tmp_path / "app.db", bugs={"status-wrong"}) as receiver:
        verify = receiver.verify_file(tmp_path, kind="http", within="2s")
        result = run("send", receiver.url, "busy", "--seed", "4", "--json", "--verify", str(verify))
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    (checked,) = [line["verify"] for line in lines if "verify" in line]
    assert checked["expected"]["sessionStatus"] == "BUSY"
    assert checked["stored"][0]["sessionStatus"] == "COMPLETED"


def test_a_fixture_sent_again_to_a_database_that_kept_it_is_no_false_alarm(tmp_path: Path) -> None:
    fixture = tmp_path / "fixture.ndjson"
    gen = run("generate", "no-answer", "-n", "2", "--seed", "9", "-o", str(fixture))
    assert gen.exit_code == 0, gen.output
    with StoringReceiver(tmp_path / "app.db") as receiver:
        verify = receiver.verify_file(tmp_path, kind="sql", within="2s")
        first = run("send", receiver.url, "-f", str(fixture), "--verify", str(verify))
        again = run("send", receiver.url, "-f", str(fixture), "--verify", str(verify))
    assert first.exit_code == 0, first.output
    assert again.exit_code == 0, again.output
    assert "verify: 2 stored" in again.output


def test_a_duplicate_stored_by_a_non_idempotent_receiver_is_caught_on_the_second_send(
    tmp_path: Path,
) -> None:
    fixture = tmp_path / "fixture.ndjson"
    run("generate", "no-answer", "--seed", "9", "-o", str(fixture))
    with StoringReceiver(tmp_path / "app.db", bugs={"duplicates-twice"}) as receiver:
        verify = receiver.verify_file(tmp_path, kind="sql", within="2s")
        first = run("send", receiver.url, "-f", str(fixture), "--verify", str(verify))
        again = run("send", receiver.url, "-f", str(fixture), "--verify", str(verify))
    assert first.exit_code == 0, first.output
    assert again.exit_code == 1, again.output
    assert "stored twice after 0.4 s; expected exactly once" in again.output


def test_check_twice_with_the_same_seed_against_a_database_that_keeps_runs_passes(
    tmp_path: Path,
) -> None:
    # The second run sends the same sessionIds; two probes (late-delivery, future-timestamps)
    # now mean different instants: an idempotent receiver kept the first, and that is right.
    with StoringReceiver(tmp_path / "app.db") as receiver:
        verify = receiver.verify_file(tmp_path, kind="http", within="2s")
        args = (
            "check",
            receiver.url,
            "--seed",
            "11",
            "-k",
            "data/",
            "-k",
            "docs/",
            "--verify",
            str(verify),
        )
        first, again = run(*args), run(*args)
    assert first.exit_code == 0, first.output
    assert again.exit_code == 0, again.output


def test_a_session_held_from_an_earlier_run_is_still_compared(tmp_path: Path) -> None:
    # The same seed sends the same sessionId with the same contents: a wrong record the
    # receiver kept from the first run is still wrong in the second.
    with StoringReceiver(tmp_path / "app.db", bugs={"status-wrong"}) as receiver:
        verify = receiver.verify_file(tmp_path, kind="http", within="1s", settle="0.2s")
        args = ("check", receiver.url, "--seed", "3", "-k", "scenario/busy", "--verify")
        first, again = run(*args, str(verify)), run(*args, str(verify))
    assert first.exit_code == 1, first.output
    assert again.exit_code == 1, again.output
    assert "sessionStatus: stored 'COMPLETED', expected 'BUSY'" in again.output
    assert "stored as expected" not in again.output


def test_a_documentation_example_stored_wrong_earlier_fails_every_later_check(
    tmp_path: Path,
) -> None:
    # The docs probes' sessionIds are fixed, whatever the seed: a record a buggy receiver
    # (or its earlier version) kept is compared with the example's canonical reading.
    example = Path(__file__).parents[1] / "fixtures" / "docs" / "ivr-bridged-busy.json"
    with StoringReceiver(tmp_path / "app.db", bugs={"status-wrong"}) as receiver:
        verify = receiver.verify_file(tmp_path, kind="http", within="1s", settle="0.2s")
        sent = run("send", receiver.url, "-f", str(example), "--verify", str(verify))
        later = run(
            "check",
            receiver.url,
            "--seed",
            "777",
            "-k",
            "docs/ivr-bridged-busy",
            "--verify",
            str(verify),
        )
        resent = run("send", receiver.url, "-f", str(example), "--verify", str(verify))
    assert sent.exit_code == 1, sent.output
    assert later.exit_code == 1, later.output
    assert "sessionStatus: stored 'COMPLETED', expected 'BUSY'" in later.output
    assert resent.exit_code == 1, resent.output
    assert "verify ✗" in resent.output


def test_a_held_masking_example_matches_the_voice_messaging_example_sharing_its_id(
    tmp_path: Path,
) -> None:
    # 8x8's Number Masking success example reuses the Voice Messaging one's sessionId with
    # other contents: a correct receiver that kept the masking one is right when later sent
    # the Voice Messaging one (it keeps the first), and says so by matching one known reading.
    docs = Path(__file__).parents[1] / "fixtures" / "docs"
    with StoringReceiver(tmp_path / "app.db") as receiver:
        verify = receiver.verify_file(tmp_path, kind="sql", within="1s", settle="0.2s")
        first = run(
            "send", receiver.url, "-f", str(docs / "masking-success.json"), "--verify", str(verify)
        )
        later = run("send", receiver.url, "-f", str(docs / "success.json"), "--verify", str(verify))
    assert first.exit_code == 0, first.output
    assert later.exit_code == 0, later.output
    assert "verify: 1 stored" in later.output
