"""The `locust` command: hands the command line to Locust with the kit's VSS user class."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import click

from emitter.cli._base import cli
from emitter.errors import UsageError

LOCUST_MODULE = "locust"
MISSING_EXTRA = "the locust command needs the locust extra: pip install 'vss-emitter[locust]'"


def locustfile_path() -> str:
    """Where emitter/locustfile.py lives, found without importing it (it imports locust)."""
    spec = importlib.util.find_spec("emitter.locustfile")
    if spec is None or spec.origin is None:  # pragma: no cover - a broken install
        raise UsageError(
            "emitter/locustfile.py is missing from this install; reinstall vss-emitter"
        )
    return spec.origin


def locust_argv(args: tuple[str, ...] | list[str], *, module: str = LOCUST_MODULE) -> list[str]:
    """The command line that runs Locust with the kit's user class and the user's arguments.

    Only the module spec is looked up: importing locust would monkey-patch this process with gevent.
    """
    if importlib.util.find_spec(module) is None:
        raise UsageError(MISSING_EXTRA)
    if any(arg in ("-h", "--help") for arg in args):
        # Locust prints its help before it loads a locustfile, so it would omit --vss-*.
        return [sys.executable, "-m", "emitter.locustfile", "--help"]
    return [sys.executable, "-m", module, "-f", locustfile_path(), *args]


@cli.command(
    add_help_option=False,
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.argument("locust_args", nargs=-1, type=click.UNPROCESSED)
def locust(locust_args: tuple[str, ...]) -> None:
    """Distributed load with Locust (needs the extra: pip install 'vss-emitter[locust]').

    Every argument goes to Locust unchanged, so --master, --worker, --headless, -u, -r, -t,
    --host (the full webhook URL) and the rest work as in Locust; the kit adds --vss-scenario,
    --vss-file, --vss-seed, --vss-auth-header, --vss-timeout, --vss-accept-2xx and more.
    `vss-emitter locust --help` shows them all. Locust's exit code is passed through
    (1 when any delivery was not acknowledged with HTTP 200).

    \b
    Example:
      vss-emitter locust --headless -u 50 -r 10 -t 1m --host http://localhost:8000/webhooks/vss
    """
    argv = locust_argv(list(locust_args), module=LOCUST_MODULE)
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        # exec rather than spawn: Ctrl-C, SIGTERM and Locust's exit code reach the user unchanged.
        os.execv(argv[0], argv)  # noqa: S606  (argv[0] is this interpreter)
    try:
        code = subprocess.call(argv)  # noqa: S603  (our interpreter, our locustfile, user's args)
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
