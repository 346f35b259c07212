"""What may be printed: secrets masked, URL passwords hidden, control characters neutralised.

Every command prints text a receiver or a user chose (answers, URLs, header values); this is
the one place that makes such text safe to show on a terminal, in a log or in a report.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit, urlunsplit

REDACTED = "***"

# C0 and C1 control characters (ESC starts a terminal escape sequence) and DEL.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def redact(text: str, secrets: Iterable[str]) -> str:
    """The text with every occurrence of every secret replaced by ***, longest secret first."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def redact_cut_tail(text: str, secrets: Iterable[str]) -> str:
    """Mask the start of a secret that a length cap cut in two at the end of `text`."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        for size in range(len(secret) - 1, 0, -1):
            if text.endswith(secret[:size]):
                return text[:-size] + REDACTED
    return text


def credential_parts(value: str) -> list[str]:
    """`value`, and its credential alone when it has a scheme ("Bearer s3cr3t" -> "s3cr3t").

    A receiver that echoes only the token (or a gateway that logs it) must not leak it either.
    """
    out = [value]
    _scheme, _, credential = value.strip().partition(" ")
    if credential.strip() and len(credential.strip()) >= 4:
        out.append(credential.strip())
    return out


def url_password(url: str) -> str | None:
    """The password in a URL's userinfo, if any (never raises)."""
    try:
        return urlsplit(url.strip()).password
    except ValueError:
        return None


def display_url(url: str) -> str:
    """The URL as it may be printed: a password in it is replaced by ***, the user name kept,
    and every query-parameter value is *** (`?token=…`, `?sig=…`: webhook URLs often carry
    their secret there, under any name). The request itself still goes to the real URL."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password and not parts.query:
        return url
    if password:
        userinfo, _, hostport = parts.netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        parts = parts._replace(netloc=f"{user}:{REDACTED}@{hostport}")
    if parts.query:
        parts = parts._replace(query=_masked_query(parts.query))
    return urlunsplit(parts)


# Query-parameter names whose values are credentials: masked wherever they appear in output
# (a receiver echoing the token), not only in the shown URL.
_SECRET_QUERY_PARTS = (
    "token", "key", "secret", "password", "passwd", "pwd", "sig", "auth", "code", "credential",
)  # fmt: skip


def secret_query_values(url: str) -> list[str]:
    """The values (as written and decoded, 4 characters or more) of the URL's query parameters
    whose names look secret (token, key, api_key, secret, password, sig, auth, ...)."""
    _, _, query = url.partition("?")
    found: list[str] = []
    for part in query.partition("#")[0].split("&"):
        name, eq, value = part.partition("=")
        lowered = unquote(name).lower()
        if eq and len(value) >= 4 and any(word in lowered for word in _SECRET_QUERY_PARTS):
            found += [value, unquote(value)]
    return found


def _masked_query(query: str, *, keep: frozenset[str] = frozenset()) -> str:
    """`a=1&b=2` -> `a=***&b=***`; names, bare flags and values in `keep` stay."""
    return "&".join(
        f"{name}={REDACTED}" if eq and value and value not in keep else f"{name}{eq}{value}"
        for name, eq, value in (part.partition("=") for part in query.split("&"))
    )


def userinfo_password(url: str) -> str | None:
    """The password of `scheme://user:password@host…`, read up to the LAST `@` before the host,
    so a password holding an unencoded `@` or `/` is found whole (never raises)."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep or not scheme:
        return None
    # The authority ends at the first `/`, `?` or `#` after the last `@` (a password may hold
    # `/`, `?` or `@`; a host does not).
    at = rest.rfind("@", 0, _authority_end(rest))
    if at < 0:
        return None
    _user, colon, password = rest[:at].partition(":")
    return unquote(password) if colon and password else None


def _authority_end(rest: str) -> int:
    at = rest.rfind("@")
    tail = rest[at + 1 :] if at >= 0 else rest
    cut = min((i for i in (tail.find(c) for c in "/?#") if i >= 0), default=len(tail))
    return (at + 1 if at >= 0 else 0) + cut


def mask_url(url: str) -> str:
    """The URL with its userinfo password and every query-parameter value replaced by ***
    (`{sessionId}` placeholders kept): a read-back or database URL as it may be printed."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = _authority_end(rest)
    authority, tail = rest[:end], rest[end:]
    at = authority.rfind("@")
    if at >= 0:
        user, colon, _password = authority[:at].partition(":")
        authority = f"{user}:{REDACTED}{authority[at:]}" if colon else authority
    path, qmark, query = tail.partition("?")
    if qmark:
        query, hash_, fragment = query.partition("#")
        masked = _masked_query(query, keep=frozenset({"{sessionId}"}))
        tail = f"{path}?{masked}{hash_}{fragment}"
    return f"{scheme}://{authority}{tail}"


def query_values(url: str) -> list[str]:
    """Every query-parameter value of `url`, as written and decoded."""
    _, _, query = url.partition("?")
    found: list[str] = []
    for part in query.partition("#")[0].split("&"):
        _name, eq, value = part.partition("=")
        if eq and value:
            found += [value, unquote(value)]
    return found


def one_line(text: str) -> str:
    """One printable line: whitespace collapsed, control characters shown as U+FFFD.

    A hostile receiver's answer is printed on the user's terminal; its control characters
    (ANSI escapes, backspaces, bells) must not reach it.
    """
    return _CONTROL.sub("\ufffd", " ".join(text.split()))


def printable(text: str) -> str:
    """A log line safe for any terminal: control characters and lone surrogates escaped (\\x1b).

    Unlike `one_line`, nothing is lost: the escapes show exactly which bytes came.
    """
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
