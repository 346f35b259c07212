"""The pytest plugin: probes as test items, and the vss_* fixtures, run through pytester."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import buggy_receivers as bug
import pytest

import emitter.generator
import emitter.report
import emitter.scenarios
from emitter.check import catalogue
from emitter.receiver import ReferenceReceiver

# pytester's in-process runs drop modules first imported inside them; PyYAML's C loader does not
# survive being imported twice, so the kit's modules are imported here, before any inner run.
KEEP_LOADED = (emitter.generator, emitter.report, emitter.scenarios)

# The inner runs get their own options; `-p no:cacheprovider` keeps tmp dirs clean and
# `-W default` stops this suite's filterwarnings=error from leaking into them.
INNER = ("-p", "no:cacheprovider", "-W", "default", "--vss-burst", "4", "--vss-timeout", "5")
INNER += tuple(f"-pno:{p}" for p in ("locust", "faker", "anyio", "hypothesispytest"))


@pytest.fixture(scope="module")
def reference() -> Iterator[ReferenceReceiver]:
    with ReferenceReceiver() as receiver:
        yield receiver


def test_vss_target_turns_every_probe_into_a_passing_item(
    pytester: pytest.Pytester, reference: ReferenceReceiver
) -> None:
    result = pytester.runpytest("--vss-target", reference.url, "--vss-seed", "9", *INNER, "-v")
    result.assert_outcomes(passed=len(catalogue()))
    result.stdout.fnmatch_lines(
        [
            "vss-emitter: seed=9, target=*",
            "vss::docs/example-success PASSED*",
            "vss::delivery/duplicate PASSED*",
            "*vss-emitter check: * passed, 0 failed, 0 warnings*(seed 9)*",
        ]
    )


def test_a_buggy_receiver_fails_the_item_of_the_probe_that_caught_it(
    pytester: pytest.Pytester,
) -> None:
    with bug.Receiver(bug.conflict_on_duplicate()) as receiver:
        result = pytester.runpytest("--vss-target", receiver.url, *INNER, "-k", "delivery/")
    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*FAILED vss::delivery/duplicate - 2nd delivery: HTTP 409*",
            "*FAILED vss::delivery/duplicate-concurrent*",
        ]
    )
    # The failure explains itself: reason, the request that was not acked, its payload.
    result.stdout.fnmatch_lines(
        ["2nd delivery: HTTP 409*", "probe: delivery/duplicate *", "payload:"]
    )


def test_k_selects_probes_and_only_the_selected_ones_are_sent(
    pytester: pytest.Pytester,
) -> None:
    with bug.Receiver(bug.always_200) as receiver:
        result = pytester.runpytest("--vss-target", receiver.url, *INNER, "-k", "docs/")
        sent = len(receiver.requests)
    result.assert_outcomes(passed=7)  # the seven documented examples (issue 7)
    assert sent == 7


def test_warning_probe_passes_with_a_pytest_warning(pytester: pytest.Pytester) -> None:
    with bug.Receiver(bug.closed_last_action_enum) as receiver:
        result = pytester.runpytest("--vss-target", receiver.url, *INNER, "-k", "compat")
    result.assert_outcomes(passed=7, warnings=1)
    result.stdout.fnmatch_lines(["*VssProbeWarning: vss::compat/unlisted-last-action: HTTP 422*"])


def test_junitxml_has_one_testcase_per_probe(
    pytester: pytest.Pytester, reference: ReferenceReceiver
) -> None:
    xml = pytester.path / "out.xml"
    result = pytester.runpytest("--vss-target", reference.url, *INNER, f"--junitxml={xml}")
    assert result.ret == 0
    cases = list(ET.parse(xml).getroot().iter("testcase"))  # noqa: S314  (the kit's own output)
    assert sorted(c.get("name") or "" for c in cases) == sorted(p.name for p in catalogue())
    assert {c.get("classname") for c in cases} == {"vss"}


def test_without_vss_target_no_probe_items_are_added(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one():\n    pass\n")
    result = pytester.runpytest(*INNER)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["vss-emitter: seed=*"])


def test_vss_payload_is_deterministic_per_seed_and_fresh_per_call(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import json

        def test_a(vss_payload, vss_seed):
            one = vss_payload("busy")
            many = vss_payload("busy", n=3)
            assert isinstance(one, dict) and one["payload"]["sessionStatus"] == "BUSY"
            assert isinstance(many, list) and len(many) == 3
            ids = {p["payload"]["sessionId"] for p in [one, *many]}
            assert len(ids) == 4
            print("FINGERPRINT", vss_seed, json.dumps([one, many], sort_keys=True)[:400])
        """
    )

    def fingerprint(*args: str) -> str:
        result = pytester.runpytest(*INNER, "-s", *args)
        result.assert_outcomes(passed=1)
        return next(x for x in result.outlines if "FINGERPRINT" in x)

    assert fingerprint("--vss-seed", "1") == fingerprint("--vss-seed", "1")
    assert fingerprint("--vss-seed", "1") != fingerprint("--vss-seed", "2")


def test_vss_seed_fixture_can_be_overridden(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def vss_seed():
            return 1234
        """
    )
    pytester.makepyfile(
        """
        from emitter.generator import generate

        def test_a(vss_payload):
            assert vss_payload("completed") != vss_payload("completed")

        def test_b(vss_seed):
            assert vss_seed == 1234
        """
    )
    pytester.runpytest(*INNER).assert_outcomes(passed=2)


def test_vss_send_returns_the_classified_ack_and_vss_receiver_receives(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        from emitter.deliver import Outcome

        def test_forwarding(vss_payload, vss_send, vss_receiver):
            payload = vss_payload("no-answer")
            ack = vss_send(payload, url=vss_receiver.url)
            assert ack.outcome is Outcome.ACKED and ack.status == 200
            assert [d.session_id for d in vss_receiver.deliveries] == [
                payload["payload"]["sessionId"]
            ]

        def test_receiver_is_emptied_per_test(vss_receiver):
            assert vss_receiver.deliveries == []

        def test_bytes_and_a_bad_answer(vss_send, vss_receiver):
            ack = vss_send(b'{"not": "a summary"}', url=vss_receiver.url)
            assert ack.status == 400 and not ack.ok
        """
    )
    pytester.runpytest(*INNER, "-p", "no:randomly").assert_outcomes(passed=3)


def test_vss_send_without_a_url_says_how_to_give_one(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_a(vss_send):
            vss_send(b"{}")
        """
    )
    result = pytester.runpytest(*INNER)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*vss_send needs a URL*--vss-target*"])


def test_importing_the_plugin_does_not_import_the_kit() -> None:
    code = (
        "import sys, emitter.pytest_plugin\n"
        "heavy = [m for m in ('httpx', 'jsonschema', 'yaml', 'emitter.check', 'emitter.generator',"
        " 'emitter.deliver') if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_bad_vss_target_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--vss-target", "ftp://nowhere/x", *INNER)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--vss-target: invalid URL 'ftp://nowhere/x'*"])


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (("--vss-burst", "1"), "--vss-burst 1: expected 2 to 1000"),
        (("--vss-timeout", "-1"), "--vss-timeout -1: expected an ack deadline"),
        (("--vss-timeout", "0"), "--vss-timeout 0: expected an ack deadline"),
    ],
)
def test_an_unusable_probe_option_is_a_usage_error_not_failed_items(
    pytester: pytest.Pytester, reference: ReferenceReceiver, option: tuple[str, str], message: str
) -> None:
    before = reference.counts.deliveries
    result = pytester.runpytest("--vss-target", reference.url, *INNER, *option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert reference.counts.deliveries == before


def test_a_non_ascii_auth_header_is_a_usage_error_that_hides_it(
    pytester: pytest.Pytester, reference: ReferenceReceiver
) -> None:
    result = pytester.runpytest(
        "--vss-target", reference.url, "--vss-auth-header", "Bearer tökén", *INNER
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--vss-auth-header: invalid value *** for header 'Authorization'*"]
    )
    assert "tökén" not in result.stdout.str() + result.stderr.str()
