"""The `vss-emitter` command: thin click commands over the library, one module per job."""

from __future__ import annotations

from emitter.cli._base import cli

__all__ = ["cli", "main"]


def main() -> None:
    cli(prog_name="vss-emitter")
