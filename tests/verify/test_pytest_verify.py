"""The pytest plugin verifies too: probe items and vss_send(...).assert_stored() read back
through the user's own `vss_read_back` fixture (their test database) or a --vss-verify file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import emitter.generator
import emitter.report
import emitter.scenarios
import emitter.verify
from verify.storing_receiver import StoringReceiver

# pytester's in-process runs drop modules first imported inside them (see test_pytest_plugin).
KEEP_LOADED = (emitter.generator, emitter.report, emitter.scenarios, emitter.verify)
INNER = ("-p", "no:cacheprovider", "-W", "default", "--vss-burst", "4", "--vss-timeout", "5")
INNER += tuple(f"-pno:{p}" for p in ("locust", "faker", "anyio", "hypothesispytest"))

# A user's conftest.py: a test database fixture and the read-back override that uses it.
CONFTEST = """
import sqlite3
import pytest

@pytest.fixture
def db():
    connection = sqlite3.connect({db!r})
    connection.row_factory = sqlite3.Row
    yield connection
    connection.close()

@pytest.fixture
def vss_read_back(db):
    def read(session_id):
        rows = db.execute(
            "SELECT session_id, session_status, call_count FROM calls WHERE session_id = ?",
            (session_id,),
        )
        return [dict(row) for row in rows]
    return read
"""

USER_TEST = """
def test_busy_is_stored_once(vss_payload, vss_send):
    delivery = vss_send(vss_payload("busy"))
    assert delivery.ok and delivery.status == 200
    delivery.assert_stored(exactly_once=True, within=3, settle=0.3)
"""


@pytest.fixture(params=[(), ("status-wrong",)], ids=["correct", "status-wrong"])
def receiver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoringReceiver]:
    with StoringReceiver(tmp_path / "app.db", bugs=request.param) as running:
        yield running


def user_project(pytester: pytest.Pytester, receiver: StoringReceiver) -> None:
    tests = pytester.mkdir("tests")
    (tests / "conftest.py").write_text(CONFTEST.format(db=str(receiver.db_path)))
    (tests / "test_user.py").write_text(USER_TEST)


def test_probe_items_verify_through_the_users_read_back_fixture(
    pytester: pytest.Pytester, receiver: StoringReceiver
) -> None:
    user_project(pytester, receiver)
    result = pytester.runpytest(
        "tests", "--vss-target", receiver.url, "--vss-seed", "3", "-k", "busy", *INNER
    )
    if receiver.bugs:
        # Four probes send a BUSY session (scenario/busy, the IVR and Number Masking ones and
        # an IVR documentation example), and the user's own test.
        result.assert_outcomes(failed=5)
        result.stdout.fnmatch_lines(["*sessionStatus: stored 'COMPLETED', expected 'BUSY'*"])
        result.stdout.fnmatch_lines(
            [
                "*FAILED tests/test_user.py::test_busy_is_stored_once*",
                "*FAILED vss::scenario/busy - acked, but stored wrong*",
            ],
            consecutive=False,
        )
    else:
        result.assert_outcomes(passed=5)


def test_assert_stored_explains_what_was_expected_and_stored(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    with StoringReceiver(tmp_path / "app.db", bugs={"status-wrong"}) as receiver:
        user_project(pytester, receiver)
        result = pytester.runpytest(
            "tests", "--vss-target", receiver.url, "-k", "test_busy", *INNER
        )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*StoredAssertionError: session *: mismatched: sessionStatus: stored 'COMPLETED', "
            "expected 'BUSY'",
            "*expected (canonical reading):*",
            "*stored (1 record(s)):*",
        ]
    )


def test_vss_verify_file_drives_the_probe_items(pytester: pytest.Pytester, tmp_path: Path) -> None:
    with StoringReceiver(tmp_path / "app.db", bugs={"duplicates-twice"}) as receiver:
        # Inside the inner run's directory: a path argument elsewhere would move its rootdir.
        verify = receiver.verify_file(pytester.path, kind="sql", within="2s")
        result = pytester.runpytest(
            "--vss-target", receiver.url, "--vss-verify", str(verify), "-k", "duplicate", *INNER
        )
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*FAILED vss::delivery/duplicate - acked, but stored twice*"])


def test_assert_stored_without_a_read_back_says_how_to_get_one(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    with StoringReceiver(tmp_path / "app.db") as receiver:
        pytester.makepyfile(USER_TEST)
        result = pytester.runpytest("--vss-target", receiver.url, *INNER, "-k", "test_busy")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*override the vss_read_back fixture*--vss-verify FILE*"])


def test_a_bad_vss_verify_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    bad = pytester.path / "v.yaml"
    bad.write_text("settle: 1s\n")
    result = pytester.runpytest("--vss-verify", str(bad), *INNER)
    result.stderr.fnmatch_lines(["*--vss-verify: *v.yaml: expected exactly one of the keys*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_a_raising_read_back_fixture_is_named_as_the_fixture_not_a_file_key(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    with StoringReceiver(tmp_path / "app.db") as receiver:
        pytester.makeconftest(
            "import pytest\n\n@pytest.fixture\ndef vss_read_back():\n"
            "    def read(session_id):\n        raise RuntimeError('database is down')\n"
            "    return read\n"
        )
        result = pytester.runpytest("--vss-target", receiver.url, "-k", "scenario/busy", *INNER)
    result.stdout.fnmatch_lines(
        ["*the vss_read_back fixture raised RuntimeError: database is down*"]
    )
    result.stdout.no_fnmatch_line("*key `callable`*")
