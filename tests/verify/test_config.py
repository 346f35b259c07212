"""The verify file: the documented keys, defaults, and one clear line for every problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from emitter.verify import VerifyConfigError, load_verify_file, parse_duration


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "v.yaml"
    path.write_text(text)
    return path


def test_http_file_with_headers_and_defaults(tmp_path: Path) -> None:
    config = load_verify_file(
        write(
            tmp_path,
            "http: http://127.0.0.1:8000/internal/vss/{sessionId}\n"
            'headers: {Authorization: "Bearer s3cr3t-token"}\n',
        )
    )
    assert (config.kind, config.within_s, config.settle_s) == ("http", 5.0, 1.0)
    assert config.headers == (("Authorization", "Bearer s3cr3t-token"),)
    assert "s3cr3t" not in config.describe()
    assert config.describe() == "GET http://127.0.0.1:8000/internal/vss/{sessionId}"


def test_every_header_value_but_plain_ones_is_a_secret(tmp_path: Path) -> None:
    config = load_verify_file(
        write(
            tmp_path,
            "http: http://127.0.0.1:8000/internal/vss/{sessionId}\n"
            "headers: {X-Internal-Key: k3y-value, Accept: application/json}\n",
        )
    )
    assert "k3y-value" in config.secrets()
    assert "application/json" not in config.secrets()


def test_sql_file_keeps_both_queries_and_hides_the_password(tmp_path: Path) -> None:
    config = load_verify_file(
        write(
            tmp_path,
            "sql: postgresql+psycopg://app:hunter22@127.0.0.1/app\n"
            'query: SELECT status AS "sessionStatus" FROM calls WHERE session_id = :sessionId\n'
            'legs_query: SELECT leg AS "key" FROM legs WHERE session_id = :sessionId\n'
            "within: 500ms\nsettle: 2\n",
        )
    )
    assert (config.kind, config.within_s, config.settle_s) == ("sql", 0.5, 2.0)
    assert config.legs_query.startswith("SELECT leg")
    assert "hunter22" in config.secrets()
    assert config.describe() == "SQL postgresql+psycopg://app:***@127.0.0.1/app"


def test_command_as_a_list_or_a_string(tmp_path: Path) -> None:
    listed = load_verify_file(write(tmp_path, 'command: ["python", "rb.py", "{sessionId}"]\n'))
    spaced = load_verify_file(write(tmp_path, "command: python rb.py {sessionId}\n"))
    assert listed.command == spaced.command == ("python", "rb.py", "{sessionId}")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("within: 5s\n", "expected exactly one of the keys `http`, `sql`, `command`, found none"),
        (
            "http: http://x/{sessionId}\ncommand: [a, '{sessionId}']\n",
            "found `http` and `command`",
        ),
        ("http: http://x/{sessionId}\nsettel: 1s\n", "unknown key `settel`"),
        ("http: http://x/vss\n", "key `http`: the URL has no {sessionId}"),
        ("http: ftp://x/{sessionId}\n", "key `http`: 'ftp://x/{sessionId}' is not an http"),
        ("http: http://x/{sessionId}\nwithin: soon\n", "key `within`: invalid duration 'soon'"),
        ("http: http://x/{sessionId}\nsettle: -1\n", "key `settle`: -1 is out of range"),
        ("sql: sqlite:///a.db\n", "key `query`: expected an SQL query with :sessionId"),
        ("sql: sqlite:///a.db\nquery: SELECT 1\n", "key `query`: the query has no :sessionId"),
        ("command: [python, rb.py]\n", "key `command`: no argument holds {sessionId}"),
        ("http: http://x/{sessionId}\nquery: x\n", "key `query` does not apply to a `http`"),
        ("http: http://x/{sessionId}\nheaders: [a]\n", "key `headers`: expected a mapping"),
        ("- just\n- a list\n", "expected a mapping of keys"),
        ("http: [unclosed\n", "at line 2"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_file_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(VerifyConfigError) as caught:
        load_verify_file(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_file_says_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(VerifyConfigError, match=r"cannot read verify file .*no-such\.yaml"):
        load_verify_file(tmp_path / "no-such.yaml")


@pytest.mark.parametrize(
    ("raw", "seconds"), [("5s", 5.0), ("250ms", 0.25), ("1m", 60.0), (2, 2.0), ("1.5", 1.5)]
)
def test_durations(raw: object, seconds: float) -> None:
    assert parse_duration(raw, key="within", source="v.yaml") == seconds
