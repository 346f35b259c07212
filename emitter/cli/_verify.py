"""The `--verify FILE` option shared by check, send and replay (read back what was stored)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from emitter.verify import VerifyConfig

verify_option = click.option(
    "--verify",
    "verify_file",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="Read back what the receiver stored (YAML: http:, sql: + query:, or command:; "
    "within:, settle:) and compare it with the canonical reading of what was sent. "
    "See docs/verify.md.",
)


def load_verify(path: str | None) -> VerifyConfig | None:
    """The verify file's config, or None; VerifyConfigError (exit 2) names the file and key."""
    if path is None:
        return None
    from emitter.verify import load_verify_file

    return load_verify_file(path)


def verify_line(config: VerifyConfig) -> str:
    return (
        f"verify: {config.describe()} (within {config.within_s:g} s, settle {config.settle_s:g} s)"
    )
