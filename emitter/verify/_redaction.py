"""The secrets of a verify file (header values, URL passwords and query values, credentials in
`command` arguments), kept out of every output; and the read-back's one-line description."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from emitter._headers import is_secret_header
from emitter._redact import (
    credential_parts,
    mask_url,
    query_values,
    redact,
    userinfo_password,
)

if TYPE_CHECKING:
    from emitter.verify._config import VerifyConfig

# Substring masking of a short secret would mask that letter or word everywhere in the output
# (a password "p" turned every "p" into ***): secrets shorter than this are left to the
# structural masking (URLs shown with *** in place of passwords and query values).
MIN_SECRET_LEN: Final = 4

# `scheme://…@` inside any text (a command argument, a query): the URL whose password to find.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://\S+")

# A verify file's headers exist to reach an internal endpoint: every value is treated as a
# credential (`X-Internal-Key` is not a name the secret-header rule knows), except these.
_PLAIN_HEADERS: Final = frozenset(
    {"accept", "accept-encoding", "cache-control", "content-type", "user-agent"}
)

# Query parameters whose value is a credential whatever its length; other values count as one
# only when long enough to be a token (`format=json` is not worth masking everywhere).
_SECRET_PARTS: Final = ("pass", "pwd", "secret", "token", "key", "auth", "sig", "cred")
_OPAQUE_LEN: Final = 8

# Command-line options whose next argument (or `=value`) is a credential.
_SECRET_OPTIONS: Final = frozenset(
    [
        "-p",
        "--password",
        "--passwd",
        "--pass",
        "--token",
        "--api-key",
        "--apikey",
        "--secret",
        "--auth",
        "--bearer",
        "--oauth2-bearer",
        "-u",
        "--user",
        "-U",
        "--proxy-user",
    ]
)
_HEADER_OPTIONS: Final = frozenset({"-H", "--header", "--headers"})
_HEADER_ARG = re.compile(r"^\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*:\s*(.+)$")


def url_passwords(text: str) -> list[str]:
    """The userinfo password of every URL in `text` (up to the last `@`, so `/` and `@` in
    it are kept), as written and as decoded."""
    found: list[str] = []
    for match in _URL.finditer(text):
        url = match.group(0)
        decoded = userinfo_password(url)
        if decoded:
            scheme_rest = url.partition("://")[2]
            written = scheme_rest[: scheme_rest.rfind("@")].partition(":")[2]
            found += [written, decoded]
            # A parser that stops at the first `@` (SQLAlchemy does) hands the rest of the
            # password to the driver as the host name, and the driver's error shows it.
            found += [piece for piece in re.split(r"[@/:]", decoded) if piece != decoded]
    return found


def url_query_secrets(url: str) -> list[str]:
    """Query values of `url` that are credentials (by parameter name, or long and opaque)."""
    found: list[str] = []
    query = url.partition("?")[2].partition("#")[0]
    for part in query.split("&"):
        name, eq, value = part.partition("=")
        if not eq or not value or value == "{sessionId}":
            continue
        if any(p in name.lower() for p in _SECRET_PARTS) or len(value) >= _OPAQUE_LEN:
            found += query_values(f"?{part}")
    return found


def _header_value_secrets(name: str, value: str) -> list[str]:
    if value and (is_secret_header(name) or name.strip().lower() not in _PLAIN_HEADERS):
        return credential_parts(value)
    return []


def command_secrets(argv: Iterable[str]) -> list[str]:
    """Credentials inside `command` arguments: header-looking `Name: value` arguments (and the
    argument after -H), values after --password-like options (`--password X`, `--password=X`,
    `-u user:pass`), `NAME_PASSWORD=X` assignments, and URL passwords and query credentials."""
    found: list[str] = []
    args = list(argv)
    for index, arg in enumerate(args):
        before = args[index - 1] if index else ""
        option, eq, inline = arg.partition("=")
        header = _HEADER_ARG.match(arg)
        if before in _SECRET_OPTIONS:
            found += [arg, arg.partition(":")[2]] if before in ("-u", "--user", "-U") else [arg]
        elif eq and option in _SECRET_OPTIONS:
            found.append(inline)
        elif eq and option.isidentifier() and any(p in option.lower() for p in _SECRET_PARTS):
            found.append(inline)  # PGPASSWORD=…, API_TOKEN=… (through `env`)
        elif (
            header
            and (before in _HEADER_OPTIONS or not arg.lstrip().startswith("-"))
            and "://" not in header.group(1)
        ):
            found += _header_value_secrets(header.group(1), header.group(2).strip())
        for url in _URL.findall(arg):
            found += url_query_secrets(url)
        found += url_passwords(arg)
    return found


def config_secrets(config: VerifyConfig) -> tuple[str, ...]:
    """Every string of the verify file that output must not show (long enough to mask)."""
    found: list[str] = []
    for name, value in config.headers:
        found += _header_value_secrets(name, value)
    for url in (config.http, config.sql):
        if url:
            found += url_passwords(url) + url_query_secrets(url)
    found += command_secrets(config.command)
    unique = dict.fromkeys(s for s in found if len(s) >= MIN_SECRET_LEN)
    return tuple(unique)


def describe(config: VerifyConfig) -> str:
    secrets = config_secrets(config)
    if config.kind == "http":
        return redact(f"GET {mask_url(config.http)}", secrets)
    if config.kind == "sql":
        return redact(f"SQL {_sql_shown(config.sql)}", secrets)
    if config.kind == "command":
        argv = [mask_url(a) if _URL.fullmatch(a) else a for a in config.command]
        return redact(f"command {shlex.join(argv)}", secrets)
    return "a read-back function"


def _sql_shown(url: str) -> str:
    """The database URL with its password hidden: SQLAlchemy's own rendering when it parses,
    then every query value (`?password=…`) masked too."""
    try:
        from sqlalchemy.engine import make_url

        shown = make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001  (not installed, or not a URL it parses: mask it ourselves)
        shown = url
    return mask_url(shown)


def redact_value(value: Any, secrets: tuple[str, ...]) -> Any:
    """A stored record (any JSON value) with every secret masked in its strings and keys: a
    read-back that echoes a verify header must not carry it into a report."""
    if not secrets:
        return value
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, Mapping):
        return {redact(str(k), secrets): redact_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v, secrets) for v in value]
    return value
