"""The `check` and `demo` commands: the conformance suite against a URL or the reference one."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from emitter.check import DEFAULT_BURST, DEFAULT_CONCURRENCY, Probe
from emitter.cli._base import cli, delivery_options, resolve_seed, seed_option
from emitter.cli._verify import load_verify, verify_line, verify_option
from emitter.deliver import DeliveryConfig, check_url, request_headers
from emitter.errors import UsageError


def _color() -> bool:
    return sys.stdout.isatty()


def _list_probes(probes: Sequence[Probe]) -> None:
    width = max(len(p.name) for p in probes)
    for probe in probes:
        click.echo(f"{probe.name:<{width}}  {probe.severity:<7}  {probe.proves}")


@cli.command()
@click.argument("url", required=False)
@delivery_options
@seed_option
@click.option(
    "-k",
    "--probe",
    "probes",
    multiple=True,
    metavar="PATTERN",
    help="Run only probes whose name contains PATTERN (e.g. duplicate, scenario/); repeatable.",
)
@click.option(
    "--junit-xml",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write JUnit XML for CI: one testcase per probe, warnings in <system-out>.",
)
@click.option(
    "--report-json",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write every result (payloads, acks), the summary, seed and target as JSON.",
)
@click.option(
    "--save-failures",
    type=click.Path(file_okay=False),
    default=None,
    metavar="DIR",
    help="Save each payload of each probe that did not pass as DIR/<probe>.json "
    "(replay one with `vss-emitter send URL --file FILE`).",
)
@click.option(
    "--burst",
    type=click.IntRange(min=2, max=1000),
    default=DEFAULT_BURST,
    show_default=True,
    help="Deliveries sent at the same instant by the burst probe.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=64),
    default=DEFAULT_CONCURRENCY,
    show_default=True,
    help="Probes run at the same time.",
)
@click.option(
    "--html",
    "html",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="PATH",
    help="Write a self-contained HTML report: every probe, what a failing one sent (quirk or "
    "mutation highlighted) and got back, the contract coverage of what was sent.",
)
@verify_option
@click.option("--list", "list_only", is_flag=True, help="List the probes and exit (no URL needed).")
@click.pass_context
def check(
    ctx: click.Context,
    url: str | None,
    delivery: DeliveryConfig,
    seed: int | None,
    probes: tuple[str, ...],
    junit_xml: str | None,
    report_json: str | None,
    save_failures: str | None,
    burst: int,
    concurrency: int,
    html: str | None,
    verify_file: str | None,
    list_only: bool,
) -> None:
    """Run the conformance suite against the receiver at URL.

    Every built-in scenario, the documentation's two examples, duplicates, unknown fields,
    the IVR variant, the ack deadline, a burst, header and auth probes. Only HTTP 200 is an
    ack (unless --accept-2xx); redirects are not followed; --retries is refused (a check
    judges the first answer). Exit 0 when no failure-severity probe failed, 1 otherwise.

    \b
    Example (CI):
      vss-emitter check https://staging.example/webhooks/vss \\
          --auth-header "$TOKEN" --junit-xml vss.xml

    With --verify FILE each acked probe also passes only if its sessions are stored as
    their canonical reading says (duplicates exactly once, forged deliveries not at all).
    """
    from emitter._atomic import check_writable
    from emitter.check import catalogue, redact_url, run_check, select_probes
    from emitter.report import report_json as report_dict
    from emitter.report import save_failures as save
    from emitter.report import terminal_lines, write_json, write_junit
    from emitter.report._html import check_html_path, write_check_html

    if list_only:
        _list_probes(select_probes(catalogue(auth=True, burst=burst), probes))
        return
    if not url:
        raise UsageError(
            "missing URL: expected the receiver's webhook URL, "
            "e.g. vss-emitter check http://127.0.0.1:8080/webhooks/vss"
        )
    if delivery.retries:
        raise UsageError(
            "--retries does not apply to check: a conformance check judges the receiver's "
            "first answer; use it with send or replay, e.g. vss-emitter send URL --retries 1,10"
        )
    check_url(url)  # a bad URL fails before a seed is drawn and printed
    request_headers(delivery)  # so does a header that cannot be sent
    if html:
        check_html_path(html)  # and an HTML path that can never be written
    for report_path, example in (
        (report_json, "--report-json build/vss.json"),
        (junit_xml, "--junit-xml build/vss.xml"),
    ):
        if report_path:
            check_writable(report_path, example=example)  # as --html: refused before sending
    verify = load_verify(verify_file)  # and a verify file that cannot be used
    run_seed = resolve_seed(seed)
    shown_url = redact_url(url, delivery)

    def header(chosen: Sequence[Probe]) -> None:
        click.echo(
            f"vss-emitter check: {len(chosen)} probes against {shown_url} "
            f"(seed {run_seed}, timeout {delivery.timeout_s:g} s, concurrency {concurrency})"
        )
        if verify is not None:
            click.echo(verify_line(verify))

    report = run_check(
        url=url,
        config=delivery,
        seed=run_seed,
        probes=probes,
        concurrency=concurrency,
        burst=burst,
        on_start=header,
        verify=verify,
    )
    for line in terminal_lines(report, color=_color()):
        click.echo(line)
    if junit_xml:
        click.echo(f"JUnit XML: {write_junit(report, junit_xml)}")
    if report_json:
        click.echo(f"JSON report: {write_json(report, report_json)}")
    if html:
        click.echo(f"HTML report: {write_check_html(report_dict(report), html)}")
    if save_failures:
        saved = save(report, save_failures)
        if saved:
            click.echo(f"saved {len(saved)} failing payload(s) to {save_failures}")
            click.echo(f"  replay one: vss-emitter send {report.url} --file {saved[0]}")
        else:
            # Nothing failed, so no folder was made: say so rather than name one that is not there.
            click.echo(f"no failing payload to save (nothing written to {save_failures})")
    ctx.exit(report.exit_code)


@cli.command()
@seed_option
@click.option(
    "--html",
    "html",
    type=click.Path(dir_okay=False),
    default="vss-demo.html",
    show_default=True,
    metavar="PATH",
    help="Where to write the run's HTML report.",
)
@click.pass_context
def demo(ctx: click.Context, seed: int | None, html: str) -> None:
    """Start the reference receiver on loopback and run the whole check against it.

    What a new user runs first: no receiver of your own needed, nothing leaves the machine.
    Writes the HTML report to vss-demo.html (open it in a browser) and says where it is.
    """
    from emitter.check import run_demo
    from emitter.report import report_json, terminal_lines
    from emitter.report._html import check_html_path, write_check_html

    check_html_path(html)
    run_seed = resolve_seed(seed)

    def header(url: str, chosen: Sequence[Probe]) -> None:
        click.echo("vss-emitter demo: the receiver conformance check, end to end on loopback.")
        click.echo(
            f"  reference receiver: {url} (validates each payload, acks 200, dedupes, "
            "stores each session once)"
        )
        click.echo(f"  verify: read back what it stored at GET {url}vss/sessions/{{sessionId}}")
        click.echo(f"  probes: {len(chosen)}   seed: {run_seed}")
        click.echo("")

    result = run_demo(seed=run_seed, on_start=header)
    for line in terminal_lines(result.report, color=_color()):
        click.echo(line)
    click.echo(f"The reference receiver saw {result.receiver_summary}.")
    written = write_check_html(report_json(result.report), html, title="vss-emitter demo")
    click.echo(f"HTML report: {written.resolve()} (open it in a browser)")
    click.echo("")
    click.echo("Next steps:")
    click.echo("  vss-emitter check https://your-receiver.example/vss --junit-xml vss.xml")
    click.echo("  vss-emitter generate busy -n 3 --seed 1        # fixtures for your unit tests")
    click.echo("  pytest --vss-target http://127.0.0.1:8080/vss  # the same probes as pytest tests")
    ctx.exit(result.report.exit_code)
