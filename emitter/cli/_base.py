"""The click group, the options several commands share, and the error-to-exit-code mapping."""

from __future__ import annotations

import functools
import importlib
import math
import os
import secrets
import sys
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click

from emitter._headers import parse_header
from emitter._tls import check_tls_config
from emitter._version import __version__
from emitter.errors import EXIT_INTERRUPTED, UsageError, VssEmitterError

F = TypeVar("F", bound=Callable[..., Any])


# Which module defines each command. A command's module is imported only when that command runs
# (or when help lists every command), so `vss-emitter validate` does not pay for aiohttp, the
# replay engine or the receiver. tests/test_cli.py checks this map against the modules.
COMMAND_MODULES = {
    "canonical": "_canonical",
    "check": "_check",
    "coverage": "_coverage",
    "demo": "_check",
    "generate": "_generate",
    "locust": "_locust",
    "replay": "_replay",
    "scenarios": "_generate",
    "schema": "_contract",
    "send": "_send",
    "serve": "_serve",
    "validate": "_contract",
}


class _Group(click.Group):
    """Maps the kit's exceptions to one `Error: …` line and the documented exit code.

    Commands load lazily from `COMMAND_MODULES`: each module registers its commands on `cli`
    when imported.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | COMMAND_MODULES.keys())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMAND_MODULES.get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            importlib.import_module(f"emitter.cli.{module}")
        return super().get_command(ctx, cmd_name)

    def load_all(self) -> Mapping[str, click.Command]:
        """Every command, imported: for tools that walk the whole command tree."""
        for name in COMMAND_MODULES:
            self.get_command(click.Context(self), name)
        return self.commands

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except VssEmitterError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except click.BadParameter as exc:
            if isinstance(exc, click.MissingParameter):
                raise  # a missing argument: click's usage block is the helpful answer
            # A bad option value is one line like every other error of the kit, not click's
            # usage block: the user typed the option, the line names it and the value.
            click.echo(f"Error: {exc.format_message()}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:
            # `vss-emitter generate | head`: the reader left; stop quietly like other Unix tools.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(0)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vss-emitter")
def cli() -> None:
    """Mock 8x8 Voice Session Summary (VSS) webhook emitter and receiver contract test kit.

    Exit codes: 0 all good; 1 the contract was broken (an invalid payload, a receiver that
    failed a probe or did not ack); 2 the command could not do its job.
    """


def resolve_seed(seed: int | None) -> int:
    """The given seed, or a fresh one printed to stderr so the run can be repeated."""
    if seed is not None:
        return seed
    drawn = secrets.randbelow(2**32)
    click.echo(f"seed: {drawn} (pass --seed {drawn} to repeat this run)", err=True)
    return drawn


seed_option = click.option(
    "--seed",
    type=int,
    default=None,
    help="Seed for the generator; the same seed gives the same bytes. "
    "Drawn and printed if omitted.",
)


class Seconds(click.ParamType):  # type: ignore[type-arg]
    """A finite number of seconds above `minimum`: nan and inf parse as floats but are no
    deadline (a nan deadline is never due, an inf one overflows the socket layer). The one
    type for every float option of the kit."""

    name = "seconds"

    def __init__(self, minimum: float = 0.001) -> None:
        self.minimum = minimum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float) and math.isfinite(value) and value >= self.minimum:
            return value
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            seconds = math.nan
        if not (math.isfinite(seconds) and seconds >= self.minimum):
            option = param.opts[0] if param is not None and param.opts else "--timeout"
            self.fail(
                f"{value!r} is not a finite number of seconds of at least {self.minimum:g}, "
                f"e.g. {option} 10",
                param,
                ctx,
            )
        return seconds


def _parse_header(raw: str) -> tuple[str, str]:
    return parse_header(raw, option="-H")  # DeliveryConfigError: one `Error:` line


def _parse_retries(raw: str | None) -> tuple[float, ...]:
    if not raw:
        return ()
    try:
        delays = tuple(float(part) for part in raw.split(","))
    except ValueError:
        delays = (-1.0,)
    # nan and inf parse as floats, but a retry "after nan seconds" is never due (or never ends).
    if any(not math.isfinite(d) or d < 0 for d in delays):
        raise UsageError(
            f"invalid --retries {raw!r}: expected comma-separated delays in seconds, "
            "e.g. --retries 1,10,30,90"
        )
    return delays


def delivery_options(func: F) -> F:
    """Adds the options that say how to deliver; the command receives `delivery: DeliveryConfig`."""

    @click.option(
        "-H",
        "--header",
        "headers",
        multiple=True,
        metavar="'NAME: VALUE'",
        help="Extra request header; repeatable.",
    )
    @click.option(
        "--auth-header",
        envvar="VSS_AUTH_HEADER",
        default=None,
        metavar="VALUE",
        help="Sent verbatim as the Authorization header (8x8's httpAuthHeader); "
        "also read from $VSS_AUTH_HEADER. Never printed.",
    )
    @click.option(
        "--timeout",
        type=Seconds(minimum=0.001),
        default=10.0,
        show_default=True,
        help="Ack deadline in seconds.",
    )
    @click.option(
        "--retries",
        default=None,
        metavar="SCHEDULE",
        help="Retry a failed delivery after these delays, e.g. 1,10,30,90 (8x8's messaging "
        "schedule). Off by default.",
    )
    @click.option(
        "--accept-2xx", is_flag=True, help="Count any 2xx as an ack (the contract asks for 200)."
    )
    @click.option(
        "--insecure", is_flag=True, help="Do not verify TLS certificates (still encrypted)."
    )
    @click.option(
        "--ca-bundle",
        default=None,
        metavar="PATH",
        help="Verify the receiver's certificate against the CA certificates in this PEM file "
        "instead of the system's roots (which SSL_CERT_FILE / SSL_CERT_DIR replace).",
    )
    @functools.wraps(func)
    def wrapper(
        *args: Any,
        headers: tuple[str, ...],
        auth_header: str | None,
        timeout: float,
        retries: str | None,
        accept_2xx: bool,
        insecure: bool,
        ca_bundle: str | None,
        **kwargs: Any,
    ) -> Any:
        from emitter.deliver import DeliveryConfig  # httpx: only for the commands that deliver

        parsed = tuple(_parse_header(h) for h in headers)
        # The same one-line error in every command for trust it cannot use: a bad --ca-bundle,
        # SSL_CERT_FILE or SSL_CERT_DIR, before anything is sent.
        check_tls_config(verify=not insecure, ca_bundle=ca_bundle)
        config = DeliveryConfig(
            timeout_s=timeout,
            headers=parsed,
            auth_header=auth_header,
            accept_2xx=accept_2xx,
            verify_tls=not insecure,
            ca_bundle=ca_bundle,
            retries=_parse_retries(retries),
            secrets=tuple(v for v in [auth_header] if v),
        )
        return func(*args, delivery=config, **kwargs)

    return wrapper  # type: ignore[return-value]
