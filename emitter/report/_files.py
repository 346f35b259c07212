"""The failing payloads of a check run, saved byte for byte (`--save-failures`)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from emitter._atomic import atomic_write
from emitter.check import CheckReport


def failure_file_stem(name: str) -> str:
    """A probe name as a file name: `delivery/burst` -> `delivery--burst`."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name.replace("/", "--")).strip("-")


def save_failures(report: CheckReport, directory: str | os.PathLike[str]) -> list[Path]:
    """Every payload of every probe that did not pass, as the exact bytes sent, one per file.

    Files are named after the probe (`delivery--duplicate.json`; `.2.json`, … when a probe
    sent several different payloads) and can be replayed with `vss-emitter send URL --file`.
    With --verify, `<probe>.verify.json` holds each session's expected and stored records.
    """
    folder = Path(directory)
    saved: list[Path] = []
    for result in report.results:
        if result.passed:
            continue
        bad = [x for x in result.exchanges if not x.ack.ok] or list(result.exchanges)
        bodies = list(dict.fromkeys(x.body for x in bad))
        stem = failure_file_stem(result.name)
        for index, body in enumerate(bodies, start=1):
            name = f"{stem}.json" if index == 1 else f"{stem}.{index}.json"
            saved.append(
                atomic_write(
                    folder / name, body, example="--save-failures failed/", make_parents=True
                )
            )
        if result.verification:
            # With --verify: what was expected and what was stored, next to the payloads.
            from emitter.report._verify import write_verification

            written = write_verification(result, folder / f"{stem}.verify.json")
            if written is not None:
                saved.append(written)
    return saved
