"""The `send` command: deliver payloads and report each ack."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import click

from emitter._outcomes import Outcome
from emitter.cli._base import cli, delivery_options, resolve_seed, seed_option
from emitter.cli._verify import SendVerification, load_verify, verify_option
from emitter.deliver import (
    Ack,
    DeliveryConfig,
    check_url,
    config_secrets,
    deliver_all,
    display_url,
    redact,
    request_headers,
)
from emitter.errors import EXIT_CONTRACT, EXIT_OK, EXIT_USAGE, UsageError
from emitter.sources import FileSource, Item, ScenarioSource

DEFAULT_SCENARIO = "mixed"


@cli.command()
@click.argument("url")
@click.argument("scenarios", nargs=-1, metavar="[SCENARIO]...")
@click.option(
    "-n",
    "--count",
    "count",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Payloads to generate per scenario.",
)
@seed_option
@click.option(
    "-f",
    "--file",
    "files",
    multiple=True,
    metavar="PATH",
    help="Send the payloads of a .json file (one object, or a list) or an .ndjson/.jsonl file "
    "(one per line) verbatim; any other file, and '-' (stdin), is sniffed. Repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per ack (for scripts).")
@click.option(
    "--html",
    "html",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="PATH",
    help="Write a self-contained HTML report: each delivery, the payloads not acked, coverage.",
)
@verify_option
@delivery_options
@click.pass_context
def send(
    ctx: click.Context,
    url: str,
    scenarios: tuple[str, ...],
    count: int,
    seed: int | None,
    files: tuple[str, ...],
    as_json: bool,
    html: str | None,
    verify_file: str | None,
    delivery: DeliveryConfig,
) -> None:
    """POST VSS payloads to URL and check each acknowledgement.

    Payloads are generated from SCENARIO names or files (default: one payload of the `mixed`
    scenario), or read with --file. Each ack is one line: ✓ or ✗, sessionId, scenario or
    file:line, outcome, HTTP status, time and reason. Only HTTP 200 is an ack; redirects are
    not followed.

    \b
    Examples:
      vss-emitter send http://127.0.0.1:8080/ completed no-answer -n 5 --seed 42
      vss-emitter send https://hooks.example.com/vss -f captured.ndjson --auth-header "$TOKEN"

    With --verify FILE, each acked payload is then read back from the receiver and compared
    with its canonical reading (one `verify` line each, and the counts).

    Exit codes: 0 every payload acked (and, with --verify, stored as expected); 1 at least one
    was not; 2 the command could not run (bad URL, missing file, unknown scenario, an input
    line that is not JSON, a verify file that cannot be used).
    """
    target = check_url(url)
    request_headers(delivery)  # a bad header fails before anything is generated or sent
    log = None
    if html:
        from emitter.report._html import SendLog, check_html_path

        check_html_path(html)
        log = SendLog()
    verify = load_verify(verify_file)
    items = _items(scenarios=scenarios, files=files, count=count, seed=seed)
    checking = SendVerification(verify, as_json=as_json) if verify is not None else None
    secrets = config_secrets(delivery, url=target)
    shown_url = redact(display_url(target), secrets)
    out = _Output(as_json=as_json)

    def on_retry(failed: Ack, delay: float) -> None:
        click.echo(
            f"  attempt {failed.attempt} {failed.outcome}: {failed.reason}; retry in {delay:g} s",
            err=True,
        )

    tally: Counter[str] = Counter()
    sending: list[Item] = []  # the item whose body deliver_all is delivering

    def bodies() -> Iterator[bytes]:
        for item in items:
            if item.body is None:
                tally["skipped"] += 1
                out.skipped(item)
                continue
            sending.append(item)
            if checking is not None:
                checking.before(item.body)
            yield item.body

    for ack in deliver_all(bodies(), url=target, config=delivery, on_retry=on_retry):
        item = sending.pop()
        tally["acked" if ack.ok else str(ack.outcome)] += 1
        out.ack(item, ack)
        if checking is not None and ack.ok and item.body is not None:
            checking.acked(item.where, item.body)
        if log is not None:
            log.add(where=item.where, session_id=item.session_id, body=item.body or b"", ack=ack)
    out.summary(tally, shown_url)
    stored_right = checking.finish() if checking is not None else True
    if log is not None:
        click.echo(f"HTML report: {log.write(html or '', target=shown_url)}", err=as_json)
    if tally.total() == 0:
        raise UsageError("no payloads to send: the input files hold none")
    if tally["skipped"]:
        ctx.exit(EXIT_USAGE)
    ctx.exit(EXIT_OK if tally["acked"] == tally.total() and stored_right else EXIT_CONTRACT)


def _items(
    *, scenarios: Sequence[str], files: Sequence[str], count: int, seed: int | None
) -> Iterator[Item]:
    """File payloads first, then generated ones; every input is checked before the first send."""
    sources: list[Iterable[Item]] = []
    if files:
        sources.append(FileSource(files))
    if scenarios or not files:
        names = scenarios or (DEFAULT_SCENARIO,)
        sources.append(ScenarioSource(names, seed=resolve_seed(seed), count=count))
    for source in sources:
        yield from source


class _Output:
    """One line (or one JSON object) per ack on stdout; the summary after the last one."""

    def __init__(self, *, as_json: bool) -> None:
        self.as_json = as_json

    def ack(self, item: Item, ack: Ack) -> None:
        if self.as_json:
            self._json(
                {
                    "where": item.where,
                    "session_id": ack.session_id or item.session_id,
                    "ok": ack.ok,
                    "outcome": str(ack.outcome),
                    "status": ack.status,
                    "elapsed_ms": round(ack.elapsed_s * 1000, 1),
                    "attempt": ack.attempt,
                    "reason": ack.reason,
                    "body_excerpt": ack.body_excerpt,
                }
            )
            return
        mark = "✓" if ack.ok else "✗"
        sid = ack.session_id or item.session_id or "-"
        status = str(ack.status) if ack.status is not None else "-"
        parts = [mark, sid, item.where, str(ack.outcome), status, f"{ack.elapsed_s * 1000:.0f} ms"]
        if ack.attempt > 1:
            parts.append(f"attempt {ack.attempt}")
        if not ack.ok:
            parts.append(ack.reason)
        if ack.outcome is Outcome.NOT_HTTP and ack.body_excerpt:
            parts.append(f"(first bytes: {ack.body_excerpt})")
        click.echo("  ".join(parts))

    def skipped(self, item: Item) -> None:
        if self.as_json:
            self._json(
                {
                    "where": item.where,
                    "session_id": None,
                    "ok": False,
                    "outcome": "skipped",
                    "reason": item.problem,
                }
            )
            return
        click.echo(f"✗  -  {item.where}  skipped  -  -  not sent: {item.problem}")

    def summary(self, tally: Counter[str], url: str) -> None:
        skipped = tally["skipped"]
        sent = tally.total() - skipped
        failed = {k: v for k, v in sorted(tally.items()) if k not in ("acked", "skipped")}
        detail = ", ".join(f"{v} {k}" for k, v in failed.items())
        line = f"{sent} sent to {url}: {tally['acked']} acked"
        if failed:
            line += f", {sum(failed.values())} not acked ({detail})"
        if skipped:
            line += f"; {skipped} input{'' if skipped == 1 else 's'} skipped (not sent)"
        # In --json mode stdout is pure NDJSON, so the human summary goes to stderr.
        click.echo(line, err=self.as_json)

    @staticmethod
    def _json(record: dict[str, Any]) -> None:
        click.echo(json.dumps(record, ensure_ascii=False))
