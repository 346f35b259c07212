"""The `validate` and `schema` commands: the contract, from the command line."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from emitter.cli._base import cli
from emitter.contract import check_product, contract_schema, validate_inputs
from emitter.vocabulary import PRODUCTS

_F = TypeVar("_F", bound=Callable[..., Any])

_PRODUCT_HELP = (
    f"The product whose page applies: {', '.join(PRODUCTS)}. With --strict, that page's strict "
    "schema (its fields, statuses and call types); without it, only the lint rules that depend "
    "on the product. Default: any product (what any of the three pages allows)."
)


def _product_option(help_text: str) -> Callable[[_F], _F]:
    return click.option("--product", default=None, metavar="|".join(PRODUCTS), help=help_text)


def _tolerant_note(command: str, product: str) -> str:
    """The one line `validate` and `schema` print for --product without --strict."""
    tuned = (
        "only the lint rules where the pages differ follow its page"
        if command == "validate"
        else "the schema printed is that shared one"
    )
    return (
        f"note: --product {product} without --strict keeps the schema every product shares "
        f"(what a receiver must tolerate); {tuned}. Its page's strict rules: "
        f"vss-emitter {command} --strict --product {product}"
    )


@cli.command()
@click.argument("paths", nargs=-1, metavar="[PATH...|-]")
@click.option(
    "--strict",
    is_flag=True,
    help="Apply the documentation's letter: no unknown fields, lower-case keys, and consistency "
    "lint findings count as errors.",
)
@_product_option(_PRODUCT_HELP)
@click.option("-q", "--quiet", is_flag=True, help="Print only the summary line.")
@click.pass_context
def validate(
    ctx: click.Context, paths: tuple[str, ...], strict: bool, product: str | None, quiet: bool
) -> None:
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
      vss-emitter generate ivr-menu -n 20 --seed 7 | vss-emitter validate --strict --product ivr
    """

    def emit(line: str) -> None:
        if not quiet:
            click.echo(line)

    product = check_product(product)
    if product is not None and not strict:
        click.echo(_tolerant_note("validate", product), err=True)
    summary = validate_inputs(paths, strict=strict, product=product, emit=emit)
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
@_product_option(
    f"With --strict: the strict variant of one product's page ({', '.join(PRODUCTS)}). "
    "Default: the union of the three pages."
)
def schema(strict: bool, product: str | None) -> None:
    """Print the contract's JSON Schema (Draft 2020-12) as pretty JSON.

    The default schema is one for every product (what a receiver must tolerate); --product
    picks a strict variant with --strict. Without --strict, --product prints that same shared
    schema, with a note on stderr.

    \b
    Examples:
      vss-emitter schema --strict > vss.strict.schema.json
      vss-emitter schema --strict --product ivr > vss.ivr.strict.schema.json
    """
    check_product(product)
    if product is not None and not strict:
        # Accepted, as `validate --product` is, and said out loud: the tolerant schema is the
        # same for every product, so without --strict the product changes no byte of it.
        click.echo(_tolerant_note("schema", product), err=True)
    click.echo(
        json.dumps(contract_schema(strict=strict, product=product), indent=2, ensure_ascii=False)
    )
