"""The `coverage` command: which parts of the contract a fixture set or captured traffic covers."""

from __future__ import annotations

import json
from pathlib import Path

import click

from emitter.cli._base import cli
from emitter.errors import EXIT_CONTRACT, InputError, UsageError


@cli.command("coverage")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print the coverage as JSON.")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="PATH",
    help="Also write a self-contained HTML coverage report to PATH.",
)
@click.option(
    "--require",
    default=None,
    metavar="LIST",
    help="Exit 1, naming what is missing, unless these dimensions are fully covered: a "
    "comma-separated list of statuses, products, statuses-by-product, error-codes, "
    "leg-counts, directions, call-types, mos-bands, last-actions, quirks, optional-fields, "
    "or all.",
)
@click.pass_context
def coverage_command(
    ctx: click.Context,
    files: tuple[str, ...],
    as_json: bool,
    html_path: Path | None,
    require: str | None,
) -> None:
    """Show which parts of the VSS contract the payloads in FILE... exercise.

    Reads .json and .ndjson files, or NDJSON on stdin (`-`, the default when no FILE is
    given): session statuses by product, error codes, leg counts, directions, call types,
    MOS bands, lastAction values, the documented quirks, optional fields present and absent.

    \b
    Examples:
      vss-emitter generate --all -n 2 | vss-emitter coverage --require statuses,error-codes
      vss-emitter coverage captured.ndjson --html coverage.html

    Exit codes: 0 covered (or nothing required); 1 a required dimension has gaps (each is
    named); 2 an input that cannot be read, a line that is not a VSS webhook body (a JSON
    object with a `payload` object), or no payload.
    """
    from emitter.coverage import Coverage, parse_requirements, summary_lines
    from emitter.sources import FileSource

    required = parse_requirements(require) if require is not None else ()
    if html_path is not None:
        from emitter.report._html import check_html_path

        check_html_path(html_path)
    coverage = Coverage()
    for item in FileSource(list(files) or ["-"]):
        problem = item.problem if item.body is None else coverage.read_body(item.body)
        if item.body is None or problem is not None:
            raise InputError(
                f"{item.where}: {problem or 'not JSON'}; expected one VSS webhook body (a JSON "
                "object with a `payload` object) per line, e.g. the output of "
                "`vss-emitter generate completed -n 5`"
            )
    if coverage.payloads == 0:
        raise UsageError(
            "no payload in the input: expected VSS webhook bodies, e.g. "
            "`vss-emitter generate --all -n 2 | vss-emitter coverage`"
        )
    if as_json:
        click.echo(json.dumps(coverage.as_dict(), indent=2, ensure_ascii=False))
    else:
        for line in summary_lines(coverage):
            click.echo(line)
    if html_path is not None:
        from emitter.report._html import write_coverage_html

        sources = [f if f == "-" else str(Path(f)) for f in (files or ("-",))]
        click.echo(f"HTML report: {write_coverage_html(coverage, html_path, sources=sources)}")
    unmet = coverage.unmet(required)
    if unmet:
        for name, values in unmet.items():
            click.echo(f"missing {name}: {', '.join(values)}", err=True)
        ctx.exit(EXIT_CONTRACT)
