"""pytest fixtures and options for testing VSS receivers and producers (registered via pytest11).

Loaded in every pytest run of anyone who installs the kit, so this module imports only pytest,
the standard library and emitter._seeds at import time; the rest of the kit is imported inside
hooks and fixtures.

    --vss-target URL        turns the conformance probes into test items `vss::<probe name>`
    --vss-auth-header VALUE sent as Authorization (also $VSS_AUTH_HEADER); enables auth probes
    --vss-timeout S         ack deadline (default 10)
    --vss-seed N            fixes the session seed (shown in the header: "vss-emitter: seed=N")
    --vss-burst N           deliveries in the burst probe (default 20)
    --vss-ca-bundle PATH    verify TLS against these CA certificates (the kit's one TLS rule)
    --vss-insecure          do not verify TLS certificates

Fixtures: vss_seed (per test, overridable), vss_payload (factory), vss_send (deliver one
payload, get the classified Ack), vss_receiver (the reference receiver, reset per test).
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pytest

from emitter._seeds import derive_seed

if TYPE_CHECKING:
    from datetime import datetime

    from emitter.check import CheckReport, ProbeResult
    from emitter.deliver import Ack, DeliveryConfig
    from emitter.receiver import ReferenceReceiver

_MAX_BURST = 1000  # the same bounds as `vss-emitter check --burst`
_SESSION_SEED = pytest.StashKey[int]()
_RUNNER = pytest.StashKey["_SuiteRunner"]()


class VssProbeWarning(UserWarning):
    """A warning-severity conformance probe did not pass (the test item itself passes)."""


class VssProbeFailed(Exception):
    """A failure-severity conformance probe failed."""

    def __init__(self, result: ProbeResult) -> None:
        super().__init__(result.reason)
        self.result = result


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vss", "vss-emitter: 8x8 VSS webhook contract tests")
    group.addoption(
        "--vss-target",
        metavar="URL",
        default=None,
        help="Receiver URL: adds one test item per conformance probe, named vss::<probe>.",
    )
    group.addoption(
        "--vss-auth-header",
        metavar="VALUE",
        default=os.environ.get("VSS_AUTH_HEADER"),
        help="Sent verbatim as Authorization (default $VSS_AUTH_HEADER); adds the auth probes.",
    )
    group.addoption(
        "--vss-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="Ack deadline for probes and vss_send (default 10).",
    )
    group.addoption(
        "--vss-seed",
        type=int,
        default=None,
        metavar="N",
        help="Session seed for vss_payload and the probes (drawn and shown when omitted).",
    )
    group.addoption(
        "--vss-burst",
        type=int,
        default=20,
        metavar="N",
        help="Deliveries sent at once by the burst probe (default 20).",
    )
    group.addoption(
        "--vss-ca-bundle",
        metavar="PATH",
        default=None,
        help="Verify the receiver's certificate against the CA certificates in this PEM file "
        "instead of the system's roots (which SSL_CERT_FILE / SSL_CERT_DIR replace).",
    )
    group.addoption(
        "--vss-insecure",
        action="store_true",
        default=False,
        help="Do not verify TLS certificates (still encrypted).",
    )
    group.addoption(
        "--vss-html",
        metavar="PATH",
        default=None,
        help="Write the probes' self-contained HTML report to PATH (with --vss-target).",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "vss: a vss-emitter conformance probe (--vss-target)")
    _check_options(config)
    seed = config.getoption("vss_seed")
    config.stash[_SESSION_SEED] = seed if seed is not None else secrets.randbelow(2**32)


def _check_options(config: pytest.Config) -> None:
    """The --vss-* values the probes cannot run with: one usage error, not a traceback per item."""
    import math

    timeout = config.getoption("vss_timeout")
    if not (math.isfinite(timeout) and timeout > 0):
        raise pytest.UsageError(
            f"--vss-timeout {timeout:g}: expected an ack deadline in seconds above 0, "
            "e.g. --vss-timeout 10"
        )
    burst = config.getoption("vss_burst")
    if not 2 <= burst <= _MAX_BURST:
        raise pytest.UsageError(
            f"--vss-burst {burst}: expected 2 to {_MAX_BURST} deliveries at once, "
            "e.g. --vss-burst 20"
        )
    bundle = config.getoption("vss_ca_bundle")
    if bundle is not None:
        from emitter._tls import check_ca_bundle
        from emitter.errors import VssEmitterError

        try:
            check_ca_bundle(bundle)  # the same one-line error as every command of the kit
        except VssEmitterError as exc:
            raise pytest.UsageError(f"--vss-ca-bundle: {exc}") from None
    html = config.getoption("vss_html")
    if html:
        from emitter.errors import UsageError
        from emitter.report._html import check_html_path

        try:
            check_html_path(html)
        except UsageError as exc:
            raise pytest.UsageError(f"--vss-html: {exc}") from None


def pytest_report_header(config: pytest.Config) -> str:
    line = f"vss-emitter: seed={config.stash[_SESSION_SEED]}"
    target = config.getoption("vss_target")
    if target:
        from emitter.deliver import display_url

        line += f", target={display_url(target)}"
    return line


def _delivery_config(config: pytest.Config) -> DeliveryConfig:
    from emitter.deliver import DeliveryConfig

    auth = config.getoption("vss_auth_header") or None
    return DeliveryConfig(
        timeout_s=config.getoption("vss_timeout"),
        auth_header=auth,
        secrets=(auth,) if auth else (),
        verify_tls=not config.getoption("vss_insecure"),
        ca_bundle=config.getoption("vss_ca_bundle"),
    )


# --- the probes as test items -----------------------------------------------------------------


class _SuiteRunner:
    """Runs the selected probes once, concurrently, when the first probe item runs."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._lock = threading.Lock()
        self.report: CheckReport | None = None

    def result(self, session: pytest.Session, name: str) -> ProbeResult:
        with self._lock:
            if self.report is None:
                from emitter.check import run_check

                selected = [i.name for i in session.items if isinstance(i, VssProbeItem)]
                self.report = run_check(
                    url=self.config.getoption("vss_target"),
                    config=_delivery_config(self.config),
                    seed=self.config.stash[_SESSION_SEED],
                    only=selected,
                    burst=self.config.getoption("vss_burst"),
                )
            return next(r for r in self.report.results if r.name == name)


class VssSuite(pytest.Collector):
    """The conformance probes for --vss-target, as one collector named `vss`."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        from emitter.check import catalogue

        auth = bool(self.config.getoption("vss_auth_header"))
        burst = self.config.getoption("vss_burst")
        return [
            VssProbeItem.from_parent(self, name=p.name, severity=p.severity, proves=p.proves)
            for p in catalogue(auth=auth, burst=burst)
        ]


class VssProbeItem(pytest.Item):
    """One conformance probe; fails when a failure-severity probe fails, warns for a warning."""

    def __init__(self, *, severity: str, proves: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.severity = severity
        self.proves = proves
        self.add_marker(pytest.mark.vss)

    def runtest(self) -> None:
        result = self.config.stash[_RUNNER].result(self.session, self.name)
        self.user_properties.append(("vss.severity", result.severity))
        if result.verdict == "failed":
            raise VssProbeFailed(result)
        if result.verdict == "warning":
            self.warn(VssProbeWarning(f"vss::{result.name}: {result.reason}"))

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str:
        if isinstance(excinfo.value, VssProbeFailed):
            from emitter.report import probe_details

            return probe_details(excinfo.value.result)
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Any, int | None, str]:
        # Line 0: a probe has no source line, and Node.warn needs one.
        return self.path, 0, f"vss::{self.name}"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    # tryfirst: the probe items must exist before -k and -m deselect from the list.
    target = config.getoption("vss_target")
    if not target:
        return
    from emitter.deliver import check_url, request_headers
    from emitter.errors import VssEmitterError

    try:
        check_url(target)
    except VssEmitterError as exc:
        raise pytest.UsageError(f"--vss-target: {exc}") from None
    try:
        request_headers(_delivery_config(config))
    except VssEmitterError as exc:
        raise pytest.UsageError(f"--vss-auth-header: {exc}") from None
    config.stash[_RUNNER] = _SuiteRunner(config)
    suite = VssSuite.from_parent(session, name="vss", nodeid="vss")
    report = session.ihook.pytest_make_collect_report(collector=suite)
    session.ihook.pytest_collectreport(report=report)
    items.extend(x for x in report.result if isinstance(x, pytest.Item))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    runner = config.stash.get(_RUNNER, None)
    if runner is not None and runner.report is not None:
        from emitter.report import summary_line

        terminalreporter.write_line(f"vss-emitter check: {summary_line(runner.report)}")
        html = config.getoption("vss_html")
        if html:
            from emitter.report import report_json
            from emitter.report._html import write_check_html

            page = write_check_html(report_json(runner.report), html, title="vss-emitter pytest")
            terminalreporter.write_line(f"vss-emitter HTML report: {page}")


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def vss_seed(request: pytest.FixtureRequest) -> int:
    """This test's seed: the session seed and the test's node id, hashed (override to fix it)."""
    return derive_seed(request.config.stash[_SESSION_SEED], request.node.nodeid)


@pytest.fixture
def vss_payload(vss_seed: int) -> Callable[..., Any]:
    """Factory: `vss_payload("busy")` -> one payload dict; `vss_payload("busy", n=3)` -> a list.

    Seeded from `vss_seed`; each call in a test draws new payloads (fresh sessionIds), and the
    same seed gives the same payloads call by call. `overrides` and `start_at` are passed on to
    emitter.generator.generate.
    """
    calls = 0

    def factory(
        scenario: str = "mixed",
        *,
        n: int | None = None,
        overrides: Sequence[tuple[str, Any]] | Mapping[str, Any] = (),
        start_at: datetime | None = None,
    ) -> dict[str, Any] | list[dict[str, Any]]:
        nonlocal calls
        from emitter.generator import generate

        seed = derive_seed(vss_seed, f"call-{calls}")
        calls += 1
        pairs = tuple(overrides.items()) if isinstance(overrides, Mapping) else tuple(overrides)
        count = 1 if n is None else n
        payloads = list(generate(scenario, seed=seed, n=count, start_at=start_at, overrides=pairs))
        return payloads[0] if n is None else payloads

    return factory


@pytest.fixture
def vss_send(pytestconfig: pytest.Config) -> Iterator[Callable[..., Ack]]:
    """`vss_send(payload, url=None)` POSTs a dict or bytes and returns the classified Ack.

    The URL defaults to --vss-target; auth header and timeout come from the --vss-* options.
    One keep-alive client per test.
    """
    from emitter.deliver import build_client, deliver

    config = _delivery_config(pytestconfig)
    client = build_client(config)

    def send(payload: Mapping[str, Any] | bytes, url: str | None = None) -> Ack:
        target = url or pytestconfig.getoption("vss_target")
        if not target:
            pytest.fail("vss_send needs a URL: pass url=... or run pytest with --vss-target URL")
        return deliver(payload, url=target, config=config, client=client)

    yield send
    client.close()


@pytest.fixture(scope="session")
def _vss_reference_receiver() -> Iterator[ReferenceReceiver]:
    from emitter.receiver import ReferenceReceiver

    with ReferenceReceiver() as receiver:
        yield receiver


@pytest.fixture
def vss_receiver(_vss_reference_receiver: ReferenceReceiver) -> ReferenceReceiver:
    """The reference receiver on a loopback port (`.url`, `.deliveries`), emptied for each test."""
    _vss_reference_receiver.clear()
    return _vss_reference_receiver
