"""The verify file: where the receiver's stored records can be read back, and how long to wait."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from emitter.errors import UsageError

DEFAULT_WITHIN_S: Final = 5.0
DEFAULT_SETTLE_S: Final = 1.0
DEFAULT_READ_TIMEOUT_S: Final = 5.0
PLACEHOLDER: Final = "{sessionId}"

Kind = Literal["http", "sql", "command", "callable"]

_KEYS: Final = (
    "http",
    "headers",
    "sql",
    "query",
    "legs_query",
    "command",
    "within",
    "settle",
    "timeout",
)
_BACKENDS: Final = ("http", "sql", "command")
_EXAMPLE: Final = "e.g. http: http://127.0.0.1:8000/internal/vss/{sessionId}"
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m)?\s*")


class VerifyConfigError(UsageError):
    """A verify file that cannot be used (the message names the file and the key)."""


@dataclass(frozen=True)
class VerifyConfig:
    """Where and how to read back what the receiver stored (one backend), and the waits."""

    kind: Kind
    source: str = "<verify>"  # the file the config came from, for messages
    http: str = ""  # URL with {sessionId}
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    sql: str = field(default="", repr=False)  # SQLAlchemy URL (may hold a password)
    query: str = ""
    legs_query: str = ""
    command: tuple[str, ...] = field(default=(), repr=False)
    within_s: float = DEFAULT_WITHIN_S  # how long processing may take after the ack
    settle_s: float = DEFAULT_SETTLE_S  # wait before deciding "stored once" / "not stored"
    timeout_s: float = DEFAULT_READ_TIMEOUT_S  # one read-back request or command

    def secrets(self) -> tuple[str, ...]:
        """Every string of this config that output must not show."""
        from emitter.verify._redaction import config_secrets

        return config_secrets(self)

    def describe(self) -> str:
        """One line naming the read-back, secrets redacted: `http GET http://…/{sessionId}`."""
        from emitter.verify._redaction import describe

        return describe(self)


def parse_duration(raw: object, *, key: str, source: str) -> float:
    """Seconds from `5s`, `500ms`, `1m` or a bare number of seconds; VerifyConfigError else."""
    if isinstance(raw, bool):
        raw = None
    if isinstance(raw, int | float):
        seconds = float(raw)
    else:
        match = _DURATION.fullmatch(raw) if isinstance(raw, str) else None
        if match is None:
            raise VerifyConfigError(
                f"{source}: key `{key}`: invalid duration {raw!r}; expected seconds like 5s, "
                f"500ms or 2.5, e.g. {key}: 5s"
            )
        seconds = (
            float(match.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[match.group(2)]
        )
    if not 0 <= seconds <= 3600:
        raise VerifyConfigError(
            f"{source}: key `{key}`: {raw!r} is out of range; expected 0 to 3600 seconds, "
            f"e.g. {key}: 5s"
        )
    return seconds


def load_verify_file(path: str | Path) -> VerifyConfig:
    """Read and check a verify file (YAML). VerifyConfigError names the file and the key."""
    import yaml

    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise VerifyConfigError(
            f"cannot read verify file {source!r} ({exc.strerror or exc}); expected a YAML file "
            f"naming the read-back, {_EXAMPLE}"
        ) from None
    except UnicodeDecodeError:
        raise VerifyConfigError(f"{source}: not UTF-8 text; expected YAML, {_EXAMPLE}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise VerifyConfigError(f"{source}: {problem}{where}; expected YAML, {_EXAMPLE}") from None
    return verify_config(data, source=source)


def verify_config(data: object, *, source: str = "<verify>") -> VerifyConfig:
    """A VerifyConfig from the parsed YAML mapping (the same checks as load_verify_file)."""
    if not isinstance(data, Mapping):
        raise VerifyConfigError(
            f"{source}: expected a mapping of keys ({', '.join(_BACKENDS)}, within, settle), "
            f"{_EXAMPLE}"
        )
    unknown = [str(k) for k in data if k not in _KEYS]
    if unknown:
        raise VerifyConfigError(
            f"{source}: unknown key `{unknown[0]}`; expected one of {', '.join(_KEYS)}"
        )
    backends = [k for k in _BACKENDS if data.get(k) not in (None, "")]
    if len(backends) != 1:
        found = "none of them" if not backends else " and ".join(f"`{b}`" for b in backends)
        raise VerifyConfigError(
            f"{source}: expected exactly one of the keys `http`, `sql`, `command`, found "
            f"{found}; {_EXAMPLE}"
        )
    kind = backends[0]
    common: dict[str, Any] = {
        "source": source,
        "within_s": _duration(data, "within", DEFAULT_WITHIN_S, source),
        "settle_s": _duration(data, "settle", DEFAULT_SETTLE_S, source),
        "timeout_s": _duration(data, "timeout", DEFAULT_READ_TIMEOUT_S, source),
    }
    if common["timeout_s"] <= 0:
        raise VerifyConfigError(
            f"{source}: key `timeout`: expected more than 0 s, e.g. timeout: 5s"
        )
    stray = {
        "http": ("query", "legs_query"),
        "sql": ("headers",),
        "command": ("headers", "query", "legs_query"),
    }[kind]
    for key in stray:
        if data.get(key) is not None:
            raise VerifyConfigError(
                f"{source}: key `{key}` does not apply to a `{kind}` read-back; remove it"
            )
    if kind == "http":
        return VerifyConfig(
            kind="http",
            http=_http_url(data["http"], source),
            headers=_headers(data.get("headers"), source),
            **common,
        )
    if kind == "sql":
        return VerifyConfig(
            kind="sql",
            sql=_text(data, "sql", source, example="sql: sqlite:///app.db"),
            query=_query(data, "query", source, required=True),
            legs_query=_query(data, "legs_query", source, required=False),
            **common,
        )
    return VerifyConfig(kind="command", command=_command(data["command"], source), **common)


def _duration(data: Mapping[str, Any], key: str, default: float, source: str) -> float:
    raw = data.get(key)
    return default if raw is None else parse_duration(raw, key=key, source=source)


def _text(data: Mapping[str, Any], key: str, source: str, *, example: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise VerifyConfigError(f"{source}: key `{key}`: expected a string, e.g. {example}")
    return value.strip()


def _http_url(raw: object, source: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise VerifyConfigError(f"{source}: key `http`: expected a URL, {_EXAMPLE}")
    url = raw.strip()
    if not url.startswith(("http://", "https://")):
        raise VerifyConfigError(
            f"{source}: key `http`: {_shown_url(url)!r} is not an http:// or https:// URL; "
            f"{_EXAMPLE}"
        )
    if PLACEHOLDER not in url:
        raise VerifyConfigError(
            f"{source}: key `http`: the URL has no {PLACEHOLDER}, so every session would read "
            f"the same record; {_EXAMPLE}"
        )
    return url


def _shown_url(url: str) -> str:
    from emitter._redact import display_url

    return display_url(url)


def _headers(raw: object, source: str) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise VerifyConfigError(
            f"{source}: key `headers`: expected a mapping of names to values, "
            'e.g. headers: {Authorization: "Bearer test"}'
        )
    from emitter._headers import is_header_name

    out = []
    for name, value in raw.items():
        if not isinstance(name, str) or not is_header_name(name):
            raise VerifyConfigError(
                f"{source}: key `headers`: invalid header name {name!r}; expected an HTTP token, "
                'e.g. headers: {Authorization: "Bearer test"}'
            )
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise VerifyConfigError(
                f"{source}: key `headers`: the value of {name} is not a string; "
                'e.g. headers: {Authorization: "Bearer test"}'
            )
        out.append((name, str(value)))
    return tuple(out)


def _query(data: Mapping[str, Any], key: str, source: str, *, required: bool) -> str:
    raw = data.get(key)
    if raw is None and not required:
        return ""
    example = (
        'query: SELECT session_id AS "sessionId", status AS "sessionStatus" FROM calls '
        "WHERE session_id = :sessionId"
    )
    if not isinstance(raw, str) or not raw.strip():
        raise VerifyConfigError(
            f"{source}: key `{key}`: expected an SQL query with :sessionId, e.g. {example}"
        )
    if ":sessionId" not in raw:
        raise VerifyConfigError(
            f"{source}: key `{key}`: the query has no :sessionId parameter, so it cannot select "
            f"one session; e.g. {example}"
        )
    return raw.strip()


def _command(raw: object, source: str) -> tuple[str, ...]:
    example = 'command: ["python", "read_back.py", "{sessionId}"]'
    if isinstance(raw, str):
        try:
            argv = shlex.split(raw)
        except ValueError as exc:
            raise VerifyConfigError(f"{source}: key `command`: {exc}; e.g. {example}") from None
    elif isinstance(raw, list) and all(isinstance(a, str | int | float) for a in raw):
        argv = [str(a) for a in raw]
    else:
        raise VerifyConfigError(
            f"{source}: key `command`: expected a list of arguments, e.g. {example}"
        )
    if not argv:
        raise VerifyConfigError(f"{source}: key `command`: empty; e.g. {example}")
    if not any(PLACEHOLDER in arg for arg in argv):
        raise VerifyConfigError(
            f"{source}: key `command`: no argument holds {PLACEHOLDER}, so every session "
            f"would read the same record; e.g. {example}"
        )
    return tuple(argv)
