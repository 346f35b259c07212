"""HTTP header rules for every command: `Name: value` parsing, what may be sent, what is secret.

`send`, `check`, `replay` (`-H`), Locust (`--vss-header`) and the pytest plugin all parse and
check headers here, so the same header is accepted or refused, with the same message, by each.
A parse error never shows a value: after a forgotten colon there is no telling where the name
ends and a credential begins.
"""

from __future__ import annotations

import re

from emitter._redact import REDACTED
from emitter.errors import DeliveryConfigError

# Header names whose values are credentials. 8x8's httpAuthHeader travels as Authorization;
# the rest are the usual places a receiver's gateway puts keys and sessions.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
_SECRET_NAME_PARTS = ("token", "secret", "password", "api-key", "apikey")

# RFC 9110 token characters: what a header name may be made of.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 field values: visible characters, space and tab only.
_HEADER_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
_EXAMPLE = "'X-Tenant: acme'"


def is_secret_header(name: str) -> bool:
    """Whether a header's value is a credential that must never be printed."""
    lowered = name.strip().lower()
    return lowered in _SECRET_HEADERS or any(part in lowered for part in _SECRET_NAME_PARTS)


def is_header_name(name: str) -> bool:
    """Whether `name` can be sent as an HTTP header name (an RFC 9110 token)."""
    return _TOKEN.fullmatch(name) is not None


def parse_header(raw: str, *, option: str = "-H") -> tuple[str, str]:
    """`'Name: value'` -> (name, value); DeliveryConfigError naming `option` otherwise.

    The message shows at most the first word of `raw`: `Authorization Bearer s3cr3t` (colon
    forgotten) is shown as `Authorization ...`.
    """
    name, sep, value = raw.partition(":")
    if not sep or not name.strip() or any(c.isspace() for c in name.strip()):
        # Only what stands before the first space or colon is shown, never what follows it.
        first = re.split(r"[\s:]", raw.strip(), maxsplit=1)[0]
        shown = first if first == raw.strip() else f"{first or ':'} ..."
        raise DeliveryConfigError(
            f"invalid header {shown!r}: expected 'Name: value', e.g. {option} {_EXAMPLE}"
        )
    if not is_header_name(name.strip()):
        # Only the name is shown: the value may be a credential.
        raise DeliveryConfigError(
            f"invalid header name {name.strip()!r}: expected letters, digits and "
            f"!#$%&'*+-.^_`|~ only (an HTTP token), e.g. {option} {_EXAMPLE}"
        )
    return name.strip(), value.strip()


def check_header(name: str, value: str) -> None:
    """DeliveryConfigError unless `name: value` can be sent as the same bytes by every stack."""
    if not is_header_name(name):
        raise DeliveryConfigError(
            f"invalid header name {name!r}: expected letters, digits and !#$%&'*+-.^_`|~ only, "
            f"e.g. -H {_EXAMPLE}"
        )
    shown = REDACTED if is_secret_header(name) else repr(value)
    if any(c in value for c in "\r\n\0"):
        raise DeliveryConfigError(
            f"invalid value {shown} for header {name!r}: it contains a line break or NUL; "
            f"expected one line, e.g. -H {_EXAMPLE}"
        )
    if not value.isascii():
        # Header values travel as bytes: httpx encodes str values as ASCII (and crashes
        # mid-delivery on anything else), aiohttp as UTF-8; only ASCII means the same bytes
        # whichever command of the kit sends it.
        example = (
            "--auth-header 'Bearer abc123'" if name.lower() == "authorization" else f"-H {_EXAMPLE}"
        )
        raise DeliveryConfigError(
            f"invalid value {shown} for header {name!r}: it has non-ASCII characters, which "
            f"an HTTP header cannot carry as text; expected ASCII, e.g. {example} "
            "(percent- or base64-encode other characters)"
        )
    if _HEADER_CONTROL.search(value):
        raise DeliveryConfigError(
            f"invalid value {shown} for header {name!r}: it contains a control character; "
            f"expected printable text, e.g. -H {_EXAMPLE}"
        )
