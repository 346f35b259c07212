"""The Locust user that posts VSS payloads; run it with `vss-emitter locust` (the locust extra).

This is the only module of the kit that imports locust: importing locust monkey-patches the
whole process with gevent, so nothing else may load it, and the CLI runs Locust in its own
process with this file as the locustfile.

Options come through Locust's own command line (`--vss-*`, see `vss-emitter locust --help`);
the master forwards them to its workers, so workers need only `--worker --master-host`.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import math
import secrets
import ssl
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, constant, events, task
from locust.contrib.fasthttp import FAILURE_EXCEPTIONS
from locust.exception import CatchResponseError, StopUser
from locust.runners import MasterRunner, WorkerRunner

from emitter._headers import parse_header
from emitter._outcomes import Fault, Outcome, classify_gevent, status_fault, timeout_fault
from emitter._seeds import user_seed
from emitter._timing import parse_instant
from emitter._tls import tls_context
from emitter.deliver import DeliveryConfig, check_url, request_headers
from emitter.errors import InputError, UsageError, VssEmitterError
from emitter.scenarios import Scenario, load_scenario
from emitter.sources import FileSource, Item, ScenarioSource

logger = logging.getLogger("vss-emitter")

DEFAULT_SCENARIO = "mixed"

# Set by the master at test start and forwarded to workers with the other options: the worker
# indexes taking part, so each worker can take its own share of a fixture file.
_SLOTS_OPTION = "vss_worker_slots"


@events.init_command_line_parser.add_listener  # type: ignore[untyped-decorator]
def _add_vss_arguments(parser: Any, **_kwargs: Any) -> None:
    # Added to a group of their own (and so kept out of the web UI's form, where a change would
    # not be validated): the values come from the command line or the environment.
    group = parser.add_argument_group(
        "vss-emitter",
        "VSS payloads to post to --host (the full webhook URL). Set these on the master (or the "
        "single process); the master forwards them to its workers.",
    )
    group.add_argument(
        "--vss-scenario",
        action="append",
        default=None,
        metavar="NAME[,NAME...]",
        help="Scenario to draw payloads from: a built-in name (see `vss-emitter scenarios`) or a "
        "scenario file present on every worker; repeatable or comma-separated, each user takes "
        f"them in turn. Default: {DEFAULT_SCENARIO}.",
    )
    group.add_argument(
        "--vss-file",
        default=None,
        metavar="PATH",
        help="Post the payloads of this NDJSON/JSONL file (one per line, sent byte for byte, "
        "streamed) or JSON file (an object or an array) instead of scenarios; any other file is "
        "sniffed, as `vss-emitter send -f` reads it. With N workers, worker k sends payloads "
        "k, k+N, k+2N...; the file must be at the same path on every worker.",
    )
    group.add_argument(
        "--vss-file-once",
        action="store_true",
        default=False,
        help="With --vss-file: send each payload once across the cluster, then stop the users "
        "(default: cycle through the file again until the run ends).",
    )
    group.add_argument(
        "--vss-seed",
        type=int,
        default=None,
        metavar="INT",
        help="Base seed; each user's generator seed is derived from it, the worker and the user, "
        "so no two users send the same sessionId. Drawn and logged if omitted.",
    )
    group.add_argument(
        "--vss-start-at",
        default=None,
        metavar="ISO-8601",
        help="Timestamp of the first generated session, e.g. 2026-01-01T09:00:00Z "
        "(default: the generator's own).",
    )
    group.add_argument(
        "--vss-auth-header",
        default=None,
        env_var="VSS_AUTH_HEADER",
        metavar="VALUE",
        help="Sent verbatim as the Authorization header (8x8's httpAuthHeader); also read from "
        "$VSS_AUTH_HEADER on the master. Never logged.",
    )
    group.add_argument(
        "--vss-header",
        action="append",
        default=None,
        metavar="'NAME: VALUE'",
        help="Extra request header; repeatable.",
    )
    group.add_argument(
        "--vss-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="Ack deadline: a delivery without a complete answer by then is a failure "
        "(default: 10).",
    )
    group.add_argument(
        "--vss-accept-2xx",
        action="store_true",
        default=False,
        help="Count any 2xx as an ack (the contract asks for 200).",
    )
    group.add_argument(
        "--vss-ca-bundle",
        default=None,
        metavar="PATH",
        help="Verify the receiver's certificate against the CA certificates in this PEM file "
        "instead of the system's roots (which SSL_CERT_FILE / SSL_CERT_DIR replace); present on "
        "every worker.",
    )
    group.add_argument(
        "--vss-insecure",
        action="store_true",
        default=False,
        help="Do not verify TLS certificates (they are verified by default).",
    )


@dataclass(frozen=True)
class Plan:
    """What every user of this process sends and how, resolved from the options once per test."""

    scenarios: tuple[Scenario, ...]
    seed: int
    start_at: datetime | None
    file: Path | None
    file_once: bool
    headers: dict[str, str]
    timeout_s: float
    accept_2xx: bool
    insecure: bool
    ca_bundle: str | None

    def ssl_context(self, **_ignored: Any) -> ssl.SSLContext:
        """The kit's one TLS trust rule (emitter._tls), for geventhttpclient.

        geventhttpclient calls this with `cafile=` its own (certifi's) bundle; it is ignored,
        so Locust trusts exactly what send, check and replay trust.
        """
        return tls_context(verify=not self.insecure, ca_bundle=self.ca_bundle)


def _check_fixture_file(path: Path) -> None:
    try:
        with path.open("rb") as stream:
            head = stream.read(1)
    except OSError as exc:
        raise InputError(
            f"cannot read --vss-file {str(path)!r}: {exc.strerror}; expected an NDJSON file of "
            "payloads, e.g. one written by `vss-emitter generate -n 1000 > fixtures.ndjson`"
        ) from None
    if not head:
        raise InputError(f"--vss-file {str(path)!r} is empty; expected one payload per line")
    # A file with no payload at all would start Locust, send nothing and exit 0: a CI job that
    # sent nothing must not pass. Reading stops at the first payload, so a good file costs one line.
    first_problem = None
    for item in FileSource([path]):
        if item.body is not None:
            return
        first_problem = first_problem or item
    where = f"{first_problem.where}: {first_problem.problem}; " if first_problem else ""
    raise InputError(
        f"--vss-file {str(path)!r} holds no valid payload ({where}nothing to send); expected "
        "one payload per line, e.g. `vss-emitter generate -n 1000 > fixtures.ndjson`"
    )


def build_plan(options: argparse.Namespace) -> Plan:
    """The options checked and resolved; UsageError or ScenarioError names the bad value."""
    refs = [
        part.strip()
        for value in (options.vss_scenario or [DEFAULT_SCENARIO])
        for part in value.split(",")
        if part.strip()
    ]
    file = Path(options.vss_file) if options.vss_file else None
    if file is not None:
        _check_fixture_file(file)
    scenarios = () if file is not None else tuple(load_scenario(ref) for ref in refs)
    if not (math.isfinite(options.vss_timeout) and options.vss_timeout > 0):
        # nan and inf parse as floats but are no deadline: the same rule as --timeout.
        raise UsageError(
            f"invalid --vss-timeout {options.vss_timeout}: expected a finite number of "
            "seconds above 0, e.g. --vss-timeout 10"
        )
    extra = tuple(parse_header(h, option="--vss-header") for h in options.vss_header or ())
    config = DeliveryConfig(
        timeout_s=options.vss_timeout,
        headers=extra,
        auth_header=options.vss_auth_header,
        accept_2xx=options.vss_accept_2xx,
        verify_tls=not options.vss_insecure,
        ca_bundle=options.vss_ca_bundle,
    )
    # The same one-line error as every other command for a CA bundle it cannot use.
    tls_context(verify=config.verify_tls, ca_bundle=config.ca_bundle)
    start_at = options.vss_start_at
    return Plan(
        scenarios=scenarios,
        seed=options.vss_seed if options.vss_seed is not None else 0,
        start_at=None if start_at is None else parse_instant(start_at, option="--vss-start-at"),
        file=file,
        file_once=options.vss_file_once,
        headers=request_headers(config),
        timeout_s=options.vss_timeout,
        accept_2xx=options.vss_accept_2xx,
        insecure=options.vss_insecure,
        ca_bundle=options.vss_ca_bundle,
    )


class FileFeed:
    """One process's share of a fixture file, shared by its users: payloads i with i % count ==
    slot, read by emitter.sources exactly as `send -f` and `replay` read them.

    The file is streamed, never loaded whole (a `.json` array is the exception: it is one value).
    Greenlets share the iterator safely because reading a regular file never yields to gevent.
    An input that cannot be sent (not JSON, not an object) is skipped and logged once.
    """

    def __init__(self, *, path: Path, slot: int, count: int, once: bool) -> None:
        self.name = f"VSS file {path.name}"
        self._path = path
        self._slot = slot
        self._count = count
        self._once = once
        self._skipped = False
        self._bodies = self._iterate()

    def _iterate(self) -> Iterator[bytes]:
        while True:
            sent = 0
            for item in FileSource([self._path]):
                if item.index % self._count != self._slot:
                    continue
                if item.body is None:
                    self._skip(item)
                    continue
                sent += 1
                yield item.body
            if self._once or sent == 0:
                return

    def _skip(self, item: Item) -> None:
        if not self._skipped:
            logger.error("Error: --vss-file %s: %s; not sent", item.where, item.problem)
            self._skipped = True

    def next_body(self) -> bytes | None:
        """The next payload of this process's share; None when the share is exhausted."""
        return next(self._bodies, None)


class _State:
    """The per-process plan and file feed, rebuilt at each test start."""

    plan: Plan | None = None
    error: str | None = None
    feed: FileFeed | None = None
    worker: int = 0
    user_numbers: Iterator[int] = itertools.count()


def _worker_share(environment: Any) -> tuple[int, int] | None:
    """(slot, count) of this process in the fixture file; None for a worker that joined late."""
    runner = environment.runner
    if not isinstance(runner, WorkerRunner):
        return 0, 1
    slots = list(getattr(environment.parsed_options, _SLOTS_OPTION, None) or [])
    if not slots:
        return 0, 1
    if runner.worker_index not in slots:
        return None
    return slots.index(runner.worker_index), len(slots)


@events.init.add_listener  # type: ignore[untyped-decorator]
def _on_init(environment: Any, **_kwargs: Any) -> None:
    if isinstance(environment.runner, WorkerRunner) or environment.parsed_options is None:
        return
    options = environment.parsed_options
    try:
        build_plan(options)
        if environment.host:
            check_url(environment.host)
    except VssEmitterError as exc:
        # The kit's one-line error and exit code 2, before Locust starts anything.
        sys.stderr.write(f"Error: {exc}\n")
        raise SystemExit(exc.exit_code) from None
    if options.vss_seed is None:
        # Drawn once on the master, so it is logged once and forwarded to every worker.
        options.vss_seed = secrets.randbelow(2**32)
        logger.info(
            "vss-emitter seed: %d (pass --vss-seed %d to repeat this run)",
            options.vss_seed,
            options.vss_seed,
        )
    else:
        logger.info("vss-emitter seed: %d", options.vss_seed)


@events.test_start.add_listener  # type: ignore[untyped-decorator]
def _on_test_start(environment: Any, **_kwargs: Any) -> None:
    runner = environment.runner
    options = environment.parsed_options
    if isinstance(runner, MasterRunner):
        setattr(
            options,
            _SLOTS_OPTION,
            sorted(runner.get_worker_index(cid) for cid in runner.clients),  # type: ignore[no-untyped-call]
        )
        return
    _State.plan, _State.error, _State.feed = None, None, None
    _State.worker = max(getattr(runner, "worker_index", 0), 0)
    try:
        plan = build_plan(options)
    except VssEmitterError as exc:
        _State.error = str(exc)
        logger.error("Error: %s", exc)
        return
    if options.vss_seed is None:
        plan = replace(plan, seed=secrets.randbelow(2**32))
        logger.info("vss-emitter seed: %d", plan.seed)
    _State.plan = plan
    if plan.file is not None:
        share = _worker_share(environment)
        if share is None:
            _State.error = (
                "this worker joined after the test started, so it has no share of --vss-file; "
                "start every worker before the test (--expect-workers)"
            )
            logger.error("Error: %s", _State.error)
            return
        _State.feed = FileFeed(path=plan.file, slot=share[0], count=share[1], once=plan.file_once)


def _failure(fault: Fault) -> str:
    """The failure message Locust groups by: the outcome, then the kit's reason text."""
    return f"{fault.outcome.value}: {fault.reason}"


class VssUser(FastHttpUser):
    """Posts VSS payloads to --host as fast as Locust lets it; only HTTP 200 counts as success.

    Load is shaped with Locust's own controls (-u, -r, a load shape), not here.
    """

    wait_time = constant(0)
    # A webhook sender does not follow redirects: a 3xx is a failed ack.
    max_redirects = 0

    def __init__(self, environment: Any) -> None:
        plan = _State.plan
        if plan is not None:
            # FastHttpUser reads these when it builds its client, so they are set before.
            self.network_timeout = plan.timeout_s
            self.connection_timeout = plan.timeout_s
            self.insecure = plan.insecure
            self.ssl_context_factory = plan.ssl_context
        super().__init__(environment)
        # Every status comes back as an answer for classify_status to judge: Locust's client
        # would otherwise turn a 4xx/5xx into a transport error and hide the status.
        self.client.client.valid_response_codes = frozenset(range(100, 600))  # type: ignore[misc]
        self._payloads: Iterator[tuple[str, bytes]] = iter(())

    def on_start(self) -> None:
        plan = _State.plan
        if plan is None or _State.error is not None:
            raise StopUser  # the reason was logged once, at test start
        if plan.file is not None:
            if _State.feed is None:
                raise StopUser
            self._payloads = self._from_file(_State.feed)
            return
        user = next(_State.user_numbers)
        seeds = [
            user_seed(base=plan.seed, worker=_State.worker, user=user, stream=i)
            for i in range(len(plan.scenarios))
        ]
        source = ScenarioSource(plan.scenarios, seed=plan.seed, start_at=plan.start_at, seeds=seeds)
        # The source takes the scenarios round-robin, in order: the labels follow the same turn.
        labels = itertools.cycle([f"VSS {scenario.name}" for scenario in plan.scenarios])
        self._payloads = (
            (label, item.body or b"") for label, item in zip(labels, source, strict=False)
        )

    @staticmethod
    def _from_file(feed: FileFeed) -> Iterator[tuple[str, bytes]]:
        while (body := feed.next_body()) is not None:
            yield feed.name, body

    @task
    def post_vss(self) -> None:
        item = next(self._payloads, None)
        plan = _State.plan
        if item is None or plan is None:
            raise StopUser
        name, body = item
        self._post(name=name, body=body, plan=plan)

    def _post(self, *, name: str, body: bytes, plan: Plan) -> None:
        started = time.perf_counter()
        # network_timeout bounds each socket operation; this bounds the whole answer, so a
        # receiver that trickles its response still misses the ack deadline.
        deadline = gevent.Timeout(plan.timeout_s)
        deadline.start()
        try:
            try:
                # stream=True: the head is read here and the body below, so a fault after the
                # status line came (a reset, a stalled body) is known to follow HTTP 200, as
                # send and replay say it.
                response = self.client.post(
                    "",
                    data=body,  # type: ignore[arg-type]  # geventhttpclient sends bytes as is
                    headers=plan.headers,
                    name=name,
                    catch_response=True,
                    allow_redirects=False,
                    stream=True,
                )
            except gevent.Timeout as exc:
                if exc is not deadline:
                    raise
                self.environment.events.request.fire(
                    request_type="POST",
                    name=name,
                    response_time=(time.perf_counter() - started) * 1000,
                    response_length=0,
                    response=None,
                    context={},
                    exception=CatchResponseError(_failure(timeout_fault(plan.timeout_s))),
                )
                return
            with response as answer:
                fault = _judge(answer, plan, deadline)
                # The time to the whole answer, body included (Locust stopped at the head).
                answer.request_meta["response_time"] = (time.perf_counter() - started) * 1000
                if fault is None:
                    answer.success()
                else:
                    answer.failure(_failure(fault))
        finally:
            deadline.close()


def _judge(answer: Any, plan: Plan, deadline: gevent.Timeout) -> Fault | None:
    """None for an ack, else the Fault: the body is read here, within the ack deadline."""
    error = getattr(answer, "error", None) or answer.request_meta.get("exception")
    status = int(answer.status_code or 0) or None  # 0: no status line came
    if error is None:
        try:
            answer.request_meta["response_length"] = len(answer.content or b"")
        except gevent.Timeout as exc:
            if exc is not deadline:
                raise
            return timeout_fault(plan.timeout_s, status=status)
        except FAILURE_EXCEPTIONS as exc:  # the body read failed, as Locust itself counts it
            error = exc
    if error is not None:
        return classify_gevent(error, timeout_s=plan.timeout_s, status=status)
    fault = status_fault(
        int(answer.status_code),
        accept_2xx=plan.accept_2xx,
        location=answer.headers.get("location"),
    )
    return None if fault.outcome is Outcome.ACKED else fault


def print_help() -> None:
    """Locust's own --help with the kit's --vss-* options (Locust prints help before loading
    a locustfile, so its custom options would otherwise be missing)."""
    from locust.argument_parser import get_parser

    parser = get_parser()
    parser.description = "Usage: vss-emitter locust [options]"
    parser.epilog = (
        "Examples:\n\n"
        "    vss-emitter locust --headless -u 50 -r 10 -t 1m "
        "--host http://localhost:8000/webhooks/vss\n\n"
        "    vss-emitter locust --master --headless -u 500 -r 50 -t 10m --expect-workers 4 "
        "--host https://staging.example/webhooks/vss --vss-seed 42\n"
        "    vss-emitter locust --worker --master-host 10.0.0.5     (on each worker machine)\n\n"
        "Locust's documentation: https://docs.locust.io/en/stable/configuration.html"
    )
    parser.print_help()


if __name__ == "__main__":
    print_help()
