"""The `validate` and `schema` commands: the contract, from the command line."""

from __future__ import annotations

import json

import click

from emitter.cli._base import cli
from emitter.contract import contract_schema, validate_inputs


@cli.command()
@click.argument("paths", nargs=-1, metavar="[PATH...|-]")
@click.option(
    "--strict",
    is_flag=True,
    help="Apply the documentation's letter: no unknown fields, lower-case keys, and consistency "
    "lint findings count as errors.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only the summary line.")
@click.pass_context
def validate(ctx: click.Context, paths: tuple[str, ...], strict: bool, quiet: bool) -> None:
    """Validate VSS payloads against the contract (JSON Schema + consistency lint).

    PATH is a .json file (one payload, or an array of payloads), an .ndjson file (one payload
    per line) or - for stdin (NDJSON or one JSON document); no PATH reads stdin. Each problem
    is printed on one line with its file, line, JSON path and rule; a summary goes to stderr.

    Exit 0 if there is no error (warnings allowed), 1 if any payload breaks the contract,
    2 if an input cannot be read or holds no payload at all.

    \b
    Examples:
      vss-emitter validate captured.ndjson
      vss-emitter generate mixed -n 100 --seed 7 | vss-emitter validate --strict
    """

    def emit(line: str) -> None:
        if not quiet:
            click.echo(line)

    summary = validate_inputs(paths, strict=strict, emit=emit)
    click.echo(summary.line(), err=True)
    if summary.payloads == 0:
        click.echo(
            "Error: no payload in the input; expected JSON or NDJSON payloads, e.g. "
            "vss-emitter generate completed -n 3 | vss-emitter validate -",
            err=True,
        )
    ctx.exit(summary.exit_code)


@cli.command()
@click.option(
    "--strict",
    is_flag=True,
    help="Print the strict variant (no unknown fields, lower-case keys).",
)
def schema(strict: bool) -> None:
    """Print the contract's JSON Schema (Draft 2020-12) as pretty JSON.

    \b
    Example:
      vss-emitter schema --strict > vss.strict.schema.json
    """
    click.echo(json.dumps(contract_schema(strict=strict), indent=2, ensure_ascii=False))
