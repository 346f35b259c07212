"""The `--verify FILE` option shared by check, send and replay (read back what was stored)."""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import Future
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from emitter.verify import SessionVerdict, VerifyConfig

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


class SendVerification:
    """`send --verify`: baseline before each delivery, each acked payload verified in the
    background, one line per payload and the counts at the end."""

    def __init__(self, config: VerifyConfig, *, as_json: bool) -> None:
        from emitter.verify import DeliveryTracker, open_read_back, preflight

        self.config = config
        self.as_json = as_json
        self.read_back = open_read_back(config)
        try:
            preflight(self.read_back, config)  # exit 2 before the first delivery
        except BaseException:
            self.read_back.close()
            raise
        self.tracker = DeliveryTracker(config, self.read_back)
        self.pending: list[tuple[str, Future[SessionVerdict]]] = []

    def before(self, body: bytes) -> None:
        self.tracker.before_delivery([body])

    def acked(self, where: str, body: bytes) -> None:
        future = self.tracker.submit(body, mode="stored", since=time.monotonic())
        if future is not None:
            self.pending.append((where, future))

    def finish(self) -> bool:
        """Print every verdict and the counts; True when every acked payload was stored right."""
        counts: Counter[str] = Counter()
        try:
            for where, future in self.pending:
                verdict = future.result()
                counts[verdict.state] += 1
                self._print(where, verdict)
        finally:
            self.tracker.close()
            self.read_back.close()
        parts = [f"{counts[s]} {s.replace('_', ' ')}" for s in _SHOWN_STATES if counts[s]]
        click.echo(
            f"verify: {', '.join(parts) or 'nothing to verify'} ({self.config.describe()})",
            err=self.as_json,
        )
        return not any(counts[s] for s in _FAILED)

    def _print(self, where: str, verdict: SessionVerdict) -> None:
        if self.as_json:
            click.echo(json.dumps({"where": where, "verify": verdict.as_dict()}, default=str))
            return
        mark = "✓" if verdict.ok else "✗"
        click.echo(f"verify {mark}  {verdict.session_id}  {where}  {verdict.reason}")
        for line in verdict.mismatches[1:]:
            click.echo(f"         {line}")


_SHOWN_STATES = (
    "stored",
    "missing",
    "mismatched",
    "stored_twice",
    "uncountable",
    "could_not_verify",
)
_FAILED = ("missing", "mismatched", "stored_twice", "could_not_verify")
