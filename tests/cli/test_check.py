"""`vss-emitter check` and `vss-emitter demo`: output, report files, exit codes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import buggy_receivers as bug
import pytest
from click.testing import CliRunner, Result

from emitter.check import catalogue
from emitter.cli import cli
from emitter.receiver import ReferenceReceiver

EXE = str(Path(sys.executable).with_name("vss-emitter"))
FAST = ("--burst", "4", "--timeout", "5")


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_check_against_a_good_receiver_exits_0_with_a_line_per_probe(
    vss_receiver: ReferenceReceiver,
) -> None:
    result = run("check", vss_receiver.url, "--seed", "12", *FAST)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"vss-emitter check: {len(catalogue())} probes against ")
    assert "seed 12" in lines[0]
    assert sum(line.startswith("  ✓ ") for line in lines) == len(catalogue())
    assert lines[-1].startswith("PASSED: ")
    assert "(seed 12)" in lines[-1]


def test_check_prints_a_drawn_seed_so_the_run_can_be_repeated(
    vss_receiver: ReferenceReceiver,
) -> None:
    result = run("check", vss_receiver.url, "-k", "docs/", *FAST)
    assert result.exit_code == 0
    assert "pass --seed" in result.stderr


def test_check_exits_1_and_names_the_failed_probe(tmp_path: Path) -> None:
    with bug.Receiver(bug.conflict_on_duplicate()) as receiver:
        result = run("check", receiver.url, "--seed", "1", *FAST)
    assert result.exit_code == 1
    assert any(
        line.startswith("  ✗ delivery/duplicate ") and "HTTP 409" in line
        for line in result.output.splitlines()
    )
    assert result.output.splitlines()[-1].startswith("FAILED: ")


def test_warnings_alone_exit_0(tmp_path: Path) -> None:
    with bug.Receiver(bug.closed_last_action_enum) as receiver:
        result = run("check", receiver.url, *FAST)
    assert result.exit_code == 0
    assert "  ! compat/unlisted-last-action " in result.output
    assert "1 warning" in result.output


def test_report_files_are_written_and_failures_replay_with_send(tmp_path: Path) -> None:
    junit, report, saved = tmp_path / "vss.xml", tmp_path / "r.json", tmp_path / "failed"
    with bug.Receiver(bug.conflict_on_duplicate()) as receiver:
        result = run(
            "check",
            receiver.url,
            "--seed",
            "2",
            *FAST,
            "--junit-xml",
            str(junit),
            "--report-json",
            str(report),
            "--save-failures",
            str(saved),
        )
        assert result.exit_code == 1
        cases = list(ET.parse(junit).getroot().iter("testcase"))  # noqa: S314  (the kit's own output)
        assert len(cases) == len(catalogue())
        data = json.loads(report.read_text(encoding="utf-8"))
        assert data["summary"]["failed"] >= 1
        assert data["seed"] == 2
        replay = saved / "delivery--duplicate.json"
        assert replay.is_file()
        # The receiver has seen this sessionId: replaying reproduces the 409.
        again = subprocess.run(
            [EXE, "send", receiver.url, "--file", str(replay)],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert again.returncode == 1, again.stdout + again.stderr
        assert "409" in again.stdout
    with ReferenceReceiver() as good:
        fine = subprocess.run(
            [EXE, "send", good.url, "--file", str(replay)],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    assert fine.returncode == 0, fine.stdout + fine.stderr


def test_a_dead_url_exits_1_with_one_line_per_probe_and_no_traceback() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = subprocess.run(
        [EXE, "check", f"http://127.0.0.1:{port}/vss", "--seed", "1"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    failed = [line for line in done.stdout.splitlines() if line.startswith(("  ✗ ", "  ! "))]
    assert len(failed) == len(catalogue())
    assert all("refused" in line for line in failed)


@pytest.mark.parametrize(
    ("url", "message"),
    [("not a url", "invalid URL"), ("ftp://example.com/x", "invalid URL"), ("", "missing URL")],
)
def test_an_unusable_url_exits_2_with_one_error_line(url: str, message: str) -> None:
    result = run("check", url)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {message}")
    assert "Traceback" not in result.output


def test_retries_are_refused_because_a_check_judges_the_first_answer(
    vss_receiver: ReferenceReceiver,
) -> None:
    before = vss_receiver.counts.deliveries
    result = run("check", vss_receiver.url, "--retries", "1,10")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --retries does not apply to check")
    assert vss_receiver.counts.deliveries == before  # nothing was sent


def test_probe_selection_that_matches_nothing_exits_2(vss_receiver: ReferenceReceiver) -> None:
    result = run("check", vss_receiver.url, "-k", "no-such-probe")
    assert result.exit_code == 2
    assert "no probe name contains 'no-such-probe'" in result.stderr


def test_k_runs_only_the_selected_probes(vss_receiver: ReferenceReceiver) -> None:
    result = run("check", vss_receiver.url, "-k", "duplicate", "--probe", "docs/", *FAST)
    assert result.exit_code == 0
    assert "9 passed, 0 failed" in result.output  # 7 docs/ examples, 2 duplicate probes


def test_save_failures_with_nothing_failed_names_no_folder_it_did_not_make(
    vss_receiver: ReferenceReceiver, tmp_path: Path
) -> None:
    folder = tmp_path / "nodir" / "sub"
    result = run(
        "check", vss_receiver.url, "-k", "scenario/busy", "--save-failures", str(folder), *FAST
    )
    assert result.exit_code == 0, result.output
    assert not folder.exists()
    assert "saved 0" not in result.output
    assert f"no failing payload to save (nothing written to {folder})" in result.output


def test_list_shows_the_catalogue_without_a_url() -> None:
    result = run("check", "--list")
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.output.splitlines()]
    assert names == [p.name for p in catalogue(auth=True)]


def test_demo_runs_the_whole_check_against_the_reference_receiver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # demo writes vss-demo.html into the working folder
    result = run("demo", "--seed", "3")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "reference receiver: http://127.0.0.1:" in out
    assert f"probes: {len(catalogue())}   seed: 3" in out
    assert f"PASSED: {len(catalogue())} passed, 0 failed" in out
    assert "The reference receiver saw " in out
    assert "Next steps:" in out
    assert "vss-emitter check " in out
    assert "pytest --vss-target" in out
    assert f"HTML report: {tmp_path / 'vss-demo.html'}" in out
    assert "PASSED" in (tmp_path / "vss-demo.html").read_text()


CREDENTIAL = "s3cr3tTOKEN"


def _names_the_credential(refusal: int) -> bug.Handler:
    """A receiver that refuses a wrong or missing Authorization and says what it expected."""

    def handler(request: bug.Request) -> bug.Answer:
        if request.headers.get("authorization") != f"Bearer {CREDENTIAL}":
            hint = f"expected token {CREDENTIAL}, got {request.headers.get('authorization')}"
            return refusal, json.dumps({"error": "unauthorized", "hint": hint}).encode()
        return 200, b"ok"

    return handler


@pytest.mark.parametrize("refusal", [401, 503])
def test_an_auth_refusal_naming_the_token_never_shows_it_anywhere(
    tmp_path: Path, refusal: int
) -> None:
    junit, report, saved = tmp_path / "vss.xml", tmp_path / "r.json", tmp_path / "failed"
    with bug.Receiver(_names_the_credential(refusal)) as receiver:
        result = run(
            "check",
            receiver.url,
            "-k",
            "auth/",
            "--auth-header",
            f"Bearer {CREDENTIAL}",
            *FAST,
            "--junit-xml",
            str(junit),
            "--report-json",
            str(report),
            "--save-failures",
            str(saved),
        )
    assert result.exit_code == 0, result.output  # the auth probes are warnings
    assert "expected token ***" in report.read_text(encoding="utf-8")
    written = [junit, report, *saved.glob("*")]
    if refusal == 503:
        assert list(saved.glob("*.json"))
    for text in [result.output, *(path.read_text(encoding="utf-8") for path in written)]:
        assert CREDENTIAL not in text


def test_the_header_line_shows_the_user_but_not_the_password_of_the_url(
    vss_receiver: ReferenceReceiver,
) -> None:
    url = vss_receiver.url.replace("http://", "http://alice:pa55w0rd@")
    result = run("check", url, "-k", "docs/example-success", "--seed", "1", *FAST)
    assert result.exit_code == 0, result.output
    assert "pa55w0rd" not in result.output
    assert result.stdout.splitlines()[0].startswith(
        "vss-emitter check: 1 probes against http://alice:***@127.0.0.1:"
    )


@pytest.mark.parametrize(
    "option", [("--auth-header", "Bearer tökén"), ("-H", "X-A: 😀"), ("-H", "X(y): 1")]
)
def test_a_header_that_cannot_be_sent_exits_2_before_any_probe(
    vss_receiver: ReferenceReceiver, option: tuple[str, str]
) -> None:
    before = vss_receiver.counts.deliveries
    result = run("check", vss_receiver.url, *option, *FAST)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "tökén" not in result.output
    assert vss_receiver.counts.deliveries == before
