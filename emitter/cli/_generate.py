"""The `scenarios` and `generate` commands: list the built-in library, write payloads."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import click

from emitter._atomic import atomic_writer
from emitter._timing import parse_instant
from emitter.cli._base import cli, resolve_seed, seed_option
from emitter.errors import InputError, UsageError
from emitter.generator import dumps, generate_tagged, parse_override
from emitter.scenarios import Scenario, builtin_scenarios, load_scenario


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array for scripts.")
def scenarios(as_json: bool) -> None:
    """List the built-in scenarios: name, [quirk] marker, description.

    Any of these names (or a path to your own .yaml scenario file) can be given to
    `generate`, `send` and `replay`.
    """
    found = builtin_scenarios()
    if as_json:
        click.echo(json.dumps([_summary(s) for s in found], indent=2))
        return
    width = max(len(s.name) for s in found)
    for s in found:
        marker = "[quirk]" if s.quirk else "       "
        click.echo(f"{s.name:<{width}}  {marker}  {s.description}")


def _summary(s: Scenario) -> dict[str, Any]:
    return {
        "name": s.name,
        "description": s.description,
        "quirk": s.quirk,
        "quirks": list(s.quirks),
        "product": None if s.is_mix else s.product,
        "sessionStatus": s.session_status,
        "errorCode": s.error_code,
        "legs": s.leg_count,
        "mix": [{"scenario": c.name, "weight": w} for c, w in s.components] or None,
    }


@cli.command()
@click.argument("scenario_refs", metavar="[SCENARIO]...", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every built-in scenario, in name order.")
@click.option(
    "-n",
    "count",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Payloads per scenario.",
)
@seed_option
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="PATH=VALUE",
    help="Set a field in every payload after generation, e.g. --set payload.subAccountId=acme "
    "or --set payload.details.callA.callType=VOIP. VALUE is JSON if it parses, else a string. "
    "Repeatable.",
)
@click.option(
    "--start-at",
    default=None,
    metavar="ISO",
    help="Start the first session at this instant (later ones follow it), e.g. "
    "2026-11-24T10:00:00Z. Default: an instant in 2024-2025 chosen by the seed.",
)
@click.option(
    "-o",
    "--output",
    default=None,
    metavar="FILE|DIR/",
    help="Write NDJSON to FILE, or one pretty <scenario>-<index>.json per payload into DIR "
    "(an existing directory or a path ending in /). Default, or '-': NDJSON on stdout.",
)
def generate(
    scenario_refs: tuple[str, ...],
    all_: bool,
    count: int,
    seed: int | None,
    sets: tuple[str, ...],
    start_at: str | None,
    output: str | None,
) -> None:
    """Generate VSS payloads from scenarios (default: mixed).

    SCENARIO is a built-in name (see `vss-emitter scenarios`) or a path to a scenario file.
    The same scenario, seed and kit version give the same bytes.

    \b
    Examples:
      vss-emitter generate completed -n 3 --seed 1
      vss-emitter generate --all -n 30 --seed 7 -o all.ndjson
      vss-emitter generate opt-out-unsubscribed -n 20 --seed 1 -o tests/fixtures/
    """
    if all_ and scenario_refs:
        raise UsageError(
            "give SCENARIO names or --all, not both; e.g. `generate --all` or `generate busy`"
        )
    overrides = [parse_override(s) for s in sets]
    instant = parse_instant(start_at) if start_at is not None else None
    # Every scenario is loaded (and so checked) before anything is written.
    chosen = builtin_scenarios() if all_ else _load_unique(scenario_refs or ("mixed",))
    used_seed = resolve_seed(seed)
    # Streams are opened up front: opening one rehearses its overrides (the file's and --set),
    # so a bad override fails before the first byte is written, whichever scenario has it.
    streams = [
        (
            scenario.name,
            generate_tagged(
                scenario, seed=used_seed, n=count, start_at=instant, overrides=overrides
            ),
        )
        for scenario in chosen
    ]

    def payloads() -> Iterator[tuple[str, int, dict[str, Any]]]:
        for name, stream in streams:
            for index, (_, payload) in enumerate(stream, start=1):
                yield name, index, payload

    if output in (None, "-"):
        out = sys.stdout.buffer
        _write_ndjson(out, payloads())
        out.flush()
    elif output.endswith(("/", os.sep)) or Path(output).is_dir():
        written = _write_dir(Path(output), payloads())
        click.echo(f"wrote {written} payload(s) to {output}", err=True)
    else:
        written = _write_file(Path(output), payloads())
        click.echo(f"wrote {written} payload(s) to {output}", err=True)


def _load_unique(refs: tuple[str, ...]) -> list[Scenario]:
    """The scenarios, each once, in the order first given.

    A scenario's stream is seeded with its name, so a name given twice would only repeat the
    same sessions (and `-o DIR/` would overwrite the first copy's files). Two different
    scenarios with one name cannot be told apart at all.
    """
    chosen: dict[str, Scenario] = {}
    for ref in dict.fromkeys(refs):
        scenario = load_scenario(ref)
        known = chosen.get(scenario.name)
        if known is None:
            chosen[scenario.name] = scenario
        elif known.source != scenario.source:
            raise UsageError(
                f"two scenarios are named {scenario.name!r} ({known.source} and "
                f"{scenario.source}); rename one (its `name:`) to generate both"
            )
    return list(chosen.values())


def _write_ndjson(out: BinaryIO, items: Iterator[tuple[str, int, dict[str, Any]]]) -> int:
    written = 0
    for _, _, payload in items:
        out.write(dumps(payload) + b"\n")
        written += 1
    return written


def _write_file(path: Path, items: Iterator[tuple[str, int, dict[str, Any]]]) -> int:
    # The kit's one output rule: a regular file appears whole or not at all (a failed run
    # leaves no half file); a symlink is followed; /dev/stdout, a FIFO or a device is written
    # to directly, never replaced.
    with atomic_writer(path, example="-o all.ndjson") as out:
        return _write_ndjson(out, items)


def _write_dir(folder: Path, items: Iterator[tuple[str, int, dict[str, Any]]]) -> int:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # Collected first so a generation error (a bad --set path) writes no file at all.
        files = [(folder / f"{name}-{index:04d}.json", payload) for name, index, payload in items]
        for path, payload in files:
            text = json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write into {str(folder)!r}: {exc.strerror or exc}") from None
    return len(files)
