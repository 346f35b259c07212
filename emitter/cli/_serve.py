"""The `serve` command: run the reference receiver in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from emitter.cli._base import cli
from emitter.errors import UsageError
from emitter.receiver import DEFAULT_BODY_CAP, ReferenceReceiver, run_until_signalled


@cli.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. The default keeps the receiver private to this machine; "
    "0.0.0.0 exposes it to the network.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port to listen on; 0 picks a free one (the URL is printed).",
)
@click.option(
    "--record",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Append every delivery to this NDJSON file (received_at, session_id, status, "
    "duplicate, findings, payload), one line each, flushed as it comes.",
)
@click.option(
    "--store",
    metavar="FILE",
    default=None,
    help="Keep each accepted session's canonical record once (the first delivery wins) in "
    "this SQLite file (WAL; created if missing, kept across restarts) or ':memory:', and "
    "serve it at GET /vss/sessions/{sessionId} (a JSON array: the record, or none).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Reject lint findings too, and apply the strict schema (no unknown fields).",
)
@click.option(
    "--body-cap",
    type=click.IntRange(min=1),
    default=DEFAULT_BODY_CAP,
    show_default=True,
    metavar="BYTES",
    help="Answer 413 to a body larger than this, without reading it.",
)
@click.option("-q", "--quiet", is_flag=True, help="No line per delivery (for load runs).")
def serve(
    host: str,
    port: int,
    record: Path | None,
    store: str | None,
    strict: bool,
    body_cap: int,
    quiet: bool,
) -> None:
    """Run the reference VSS receiver until Ctrl-C or SIGTERM.

    It validates each POSTed payload against the contract and answers 200 (lint warnings are
    fine), or 400 with the findings as JSON (invalid payload, not JSON), 411 (no length), 413
    (body over --body-cap), 405 (not a POST). A sessionId it already accepted is acked 200
    again and logged as a duplicate, not processed twice. With --store it keeps each accepted
    session's canonical record after the ack and answers GET /vss/sessions/{sessionId} with
    them, so `check --verify` can see what it stored. One line per delivery: time, status,
    sessionId, duplicate marker, first problem. Stops with a count line and exit code 0.

    \b
    Examples:
      vss-emitter serve --port 0 --record deliveries.ndjson
      vss-emitter serve --store calls.db
      curl http://127.0.0.1:8080/vss/sessions/1f048a84-ea6d-11ee-911b-078f7290bf52
    """
    if store is not None and not store.strip():
        raise UsageError("--store needs a file path or ':memory:', e.g. --store calls.db")
    receiver = ReferenceReceiver(
        host=host,
        port=port,
        record=record,
        body_cap=body_cap,
        strict=strict,
        log=None if quiet else click.echo,
        store=store,
    )

    def ready(url: str) -> None:
        click.echo(f"listening on {url} (POST VSS payloads; Ctrl-C stops)")
        if receiver.store is not None:
            click.echo(
                f"storing canonical records in {store} ({receiver.store.size} already); "
                f"read back: GET {receiver.read_back_url}"
            )

    counts = run_until_signalled(receiver, on_ready=ready)
    if receiver.store is not None:
        size = receiver.store.size
        click.echo(f"stored: {size} session{'' if size == 1 else 's'} in {store}")
    click.echo(f"stopped: {counts.line()}")
    sys.stdout.flush()
