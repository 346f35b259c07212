"""One header parser for every command (emitter._headers): its errors never show a value."""

from __future__ import annotations

import pytest

from emitter._headers import check_header, parse_header
from emitter.errors import DeliveryConfigError

SECRET = "s3cr3t-t0ken"  # noqa: S105  (a made-up credential the errors must hide)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (f"Authorization Bearer {SECRET}", "'Authorization ...'"),
        (f"X-Api-Key {SECRET}", "'X-Api-Key ...'"),
        (f":{SECRET}", "': ...'"),
        (f"  : Bearer {SECRET}", "': ...'"),
        (f"Bad Name: {SECRET}", "'Bad ...'"),
        ("X-Tenant", "'X-Tenant'"),
    ],
)
@pytest.mark.parametrize("option", ["-H", "--vss-header"])
def test_a_header_that_cannot_be_parsed_is_named_without_its_value(
    raw: str, shown: str, option: str
) -> None:
    with pytest.raises(DeliveryConfigError) as caught:
        parse_header(raw, option=option)
    message = str(caught.value)
    assert message.startswith(f"invalid header {shown}: expected 'Name: value', e.g. {option} ")
    assert SECRET not in message


def test_a_header_name_that_is_not_a_token_is_named_alone() -> None:
    with pytest.raises(DeliveryConfigError, match=r"invalid header name 'X\(y\)'") as caught:
        parse_header(f"X(y): {SECRET}")
    assert SECRET not in str(caught.value)


def test_a_good_header_is_split_and_trimmed() -> None:
    assert parse_header("  X-Tenant :  acme  ") == ("X-Tenant", "acme")


def test_a_secret_value_with_a_line_break_is_refused_as_stars() -> None:
    with pytest.raises(DeliveryConfigError) as caught:
        check_header("Authorization", f"Bearer {SECRET}\r\nX: y")
    assert "invalid value *** for header 'Authorization'" in str(caught.value)
    assert SECRET not in str(caught.value)
