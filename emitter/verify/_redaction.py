"""The secrets of a verify file (header values, database and URL passwords), kept out of output."""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING

from emitter._headers import is_secret_header
from emitter._redact import credential_parts, display_url, redact, url_password

if TYPE_CHECKING:
    from emitter.verify._config import VerifyConfig

# `scheme://user:password@host`: the password of any URL, including SQLAlchemy's
# `postgresql+psycopg://app:secret@127.0.0.1/app`, which httpx does not parse.
_URL_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]*:([^@\s/]+)@")


def url_passwords(text: str) -> list[str]:
    """Every `user:password@` password in `text`, as written and as decoded."""
    found = [m.group(1) for m in _URL_PASSWORD.finditer(text)]
    decoded = url_password(text)
    return [*found, decoded] if decoded else found


# A verify file's headers exist to reach an internal endpoint: every value is treated as a
# credential (`X-Internal-Key` is not a name the secret-header rule knows), except these.
_PLAIN_HEADERS = frozenset(
    {"accept", "accept-encoding", "cache-control", "content-type", "user-agent"}
)


def config_secrets(config: VerifyConfig) -> tuple[str, ...]:
    found: list[str] = []
    for name, value in config.headers:
        if value and (is_secret_header(name) or name.lower() not in _PLAIN_HEADERS):
            found += credential_parts(value)
    found += url_passwords(config.http)
    found += url_passwords(config.sql)
    for arg in config.command:
        found += url_passwords(arg)
    return tuple(s for s in found if s)


def describe(config: VerifyConfig) -> str:
    secrets = config_secrets(config)
    if config.kind == "http":
        return redact(f"GET {display_url(config.http)}", secrets)
    if config.kind == "sql":
        return redact(f"SQL {config.sql}", secrets)
    if config.kind == "command":
        return redact(f"command {shlex.join(config.command)}", secrets)
    return "a read-back function"
