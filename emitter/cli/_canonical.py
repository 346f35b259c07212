"""The `canonical` command: the canonical reading of each payload, as NDJSON."""

from __future__ import annotations

import json
import sys

import click

from emitter._canonical import canonical_bytes
from emitter.cli._base import cli
from emitter.errors import InputError, UsageError
from emitter.sources import FileSource


@cli.command(name="canonical")
@click.argument("paths", nargs=-1, metavar="[FILE...|-]")
def canonical_command(paths: tuple[str, ...]) -> None:
    """Print the canonical reading of each payload: what a correct receiver must store.

    One JSON object per payload (NDJSON): the session's fields named as 8x8 documents them
    (sessionId, subAccountId, sessionStatus, startTime, endTime, lastAction, callCount,
    errorCode, errorMsg, clientRequestId) and `legs`, one flat record per leg ordered by key.
    The platform's quirks are resolved: `CallA` is key `callA`, `SourceRefId` is
    `sourceRefId`, the string "null" is null, an absent field is null, timestamps are UTC.

    FILE is a .json file (one payload, or an array), an .ndjson/.jsonl file (one per line),
    or any other file or - (stdin, the default) holding either, sniffed as `validate` does.

    \b
    Examples:
      vss-emitter canonical tests/fixtures/docs/success.json
      vss-emitter generate no-answer -n 3 --seed 7 | vss-emitter canonical

    Exit codes: 0 every input was read; 2 an input is unreadable, not JSON or not a VSS document.
    """
    if not paths and sys.stdin.isatty():
        raise UsageError(
            "no input: pass a .json or .ndjson FILE, or pipe payloads on stdin, "
            "e.g. vss-emitter generate completed -n 3 | vss-emitter canonical"
        )
    count = 0
    for item in FileSource(list(paths) or ["-"]):
        if item.body is None:
            raise InputError(f"{item.where}: {item.problem}")
        try:
            record = canonical_bytes(item.body)
        except InputError as exc:
            raise InputError(f"{item.where}: {exc}") from None
        click.echo(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
        count += 1
    if count == 0:
        raise InputError(
            "no payload in the input; expected JSON or NDJSON payloads, e.g. "
            "vss-emitter generate completed -n 3 | vss-emitter canonical"
        )
