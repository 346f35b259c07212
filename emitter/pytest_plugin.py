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
    --vss-verify FILE       a verify file (docs/verify.md): probes and vss_send read back there

Fixtures: vss_seed (per test, overridable), vss_payload (factory), vss_send (deliver one
payload, get its classified ack with `.assert_stored()` / `.assert_not_stored()`),
vss_read_back (where stored records are read: override it to read your own test database,
`def vss_read_back(db): return lambda session_id: [...]`; with it the probe items verify too),
vss_receiver (the reference receiver, reset per test).
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
    from emitter.deliver import DeliveryConfig
    from emitter.receiver import ReferenceReceiver
    from emitter.verify import ReadBack, VerifyConfig
    from emitter.verify._delivery import Delivery

_MAX_BURST = 1000  # the same bounds as `vss-emitter check --burst`
_SESSION_SEED = pytest.StashKey[int]()
_RUNNER = pytest.StashKey["_SuiteRunner"]()
_VERIFY = pytest.StashKey["VerifyConfig | None"]()


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
        "--vss-verify",
        metavar="FILE",
        default=None,
        help="Verify file (http:, sql: + query:, or command:; within:, settle:): the probe "
        "items and vss_send(...).assert_stored() read back what the receiver stored there.",
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
    config.stash[_VERIFY] = _verify_config(config)
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
    if bundle is not None or config.getoption("vss_target"):
        from emitter._tls import tls_context
        from emitter.errors import VssEmitterError

        try:
            # The same one-line error as every command of the kit, for --vss-ca-bundle and for
            # an unusable SSL_CERT_FILE / SSL_CERT_DIR.
            tls_context(verify=not config.getoption("vss_insecure"), ca_bundle=bundle)
        except VssEmitterError as exc:
            raise pytest.UsageError(f"--vss-ca-bundle: {exc}" if bundle else str(exc)) from None
    html = config.getoption("vss_html")
    if html:
        from emitter.errors import UsageError
        from emitter.report._html import check_html_path

        try:
            check_html_path(html)
        except UsageError as exc:
            raise pytest.UsageError(f"--vss-html: {exc}") from None


def _verify_config(config: pytest.Config) -> VerifyConfig | None:
    path = config.getoption("vss_verify")
    if not path:
        return None
    from emitter.errors import VssEmitterError
    from emitter.verify import load_verify_file

    try:
        return load_verify_file(path)
    except VssEmitterError as exc:
        raise pytest.UsageError(f"--vss-verify: {exc}") from None


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
        self.error: str | None = None

    def result(self, session: pytest.Session, name: str, read_back: Any = None) -> ProbeResult:
        """The probe's result; the first call runs them all, reading back through `read_back`
        (the vss_read_back fixture's value as the first probe item saw it)."""
        with self._lock:
            if self.report is None and self.error is None:
                from emitter.check import run_check
                from emitter.errors import VssEmitterError

                selected = [i.name for i in session.items if isinstance(i, VssProbeItem)]
                from emitter.verify import CallableReadBack, OwnerThreadReadBack

                verify, reader = _read_back_setup(self.config, read_back)
                owned = (
                    OwnerThreadReadBack(reader) if isinstance(reader, CallableReadBack) else None
                )

                def run() -> CheckReport:
                    return run_check(
                        url=self.config.getoption("vss_target"),
                        config=_delivery_config(self.config),
                        seed=self.config.stash[_SESSION_SEED],
                        only=selected,
                        burst=self.config.getoption("vss_burst"),
                        verify=verify,
                        read_back=owned or reader,
                    )

                try:
                    if owned is None:
                        self.report = run()
                    else:
                        # The user's read-back function may hold this thread's database
                        # connection: the check runs in a worker, its reads come back here.
                        from concurrent.futures import ThreadPoolExecutor

                        with ThreadPoolExecutor(1, thread_name_prefix="vss-check") as pool:
                            running = pool.submit(run)
                            owned.serve(until=running)
                            self.report = running.result()
                except VssEmitterError as exc:
                    self.error = str(exc)
            if self.report is None:
                pytest.fail(f"vss-emitter could not run the probes: {self.error}", pytrace=False)
            return next(r for r in self.report.results if r.name == name)


def _read_back_setup(
    config: pytest.Config, value: Any
) -> tuple[VerifyConfig | None, ReadBack | None]:
    """The verify config and read-back for the probes, from the vss_read_back fixture's value:
    None (no verification), a ReadBack, or a function `session_id -> None | dict | list`."""
    if value is None:
        return None, None
    from emitter.verify import CallableReadBack, VerifyConfig

    verify = config.stash[_VERIFY] or VerifyConfig(kind="callable", source="vss_read_back")
    if hasattr(value, "read"):
        return verify, value
    if not callable(value):
        raise pytest.UsageError(
            f"vss_read_back returned a {type(value).__name__}; expected a function "
            "session_id -> None | dict | list[dict], e.g. return lambda sid: db.rows(sid)"
        )
    return verify, CallableReadBack(value, description="the vss_read_back fixture")


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


def _vss_probe(vss_read_back: Any) -> None:
    """What a probe item requests: the fixtures it needs (so users can override them)."""


class VssProbeItem(pytest.Function):
    """One conformance probe; fails when a failure-severity probe fails, warns for a warning.

    A Function item so the user's `vss_read_back` override (and the fixtures it depends on,
    such as a test database) is set up for it like for any test.
    """

    def __init__(self, *, severity: str, proves: str, **kwargs: Any) -> None:
        super().__init__(callobj=_vss_probe, **kwargs)
        self.severity = severity
        self.proves = proves
        self.add_marker(pytest.mark.vss)

    def runtest(self) -> None:
        read_back = self.funcargs.get("vss_read_back")
        result = self.config.stash[_RUNNER].result(self.session, self.name, read_back)
        self.user_properties.append(("vss.severity", result.severity))
        if result.verdict == "failed":
            raise VssProbeFailed(result)
        if result.verdict == "warning":
            self.warn(VssProbeWarning(f"vss::{result.name}: {result.reason}"))

    # pytest's Function narrows Node.repr_failure (no `style`); this keeps its signature.
    def repr_failure(  # type: ignore[override]
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
    ) -> str:
        if isinstance(excinfo.value, VssProbeFailed):
            from emitter.report import probe_details

            return probe_details(excinfo.value.result)
        return str(super().repr_failure(excinfo))

    def _prunetraceback(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        pass  # a probe has no test function whose frames could be kept

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
    # Under the directory the collected tests share, so the conftest.py fixtures they see
    # (a vss_read_back override, the database it needs) are visible to the probe items too.
    suite = VssSuite.from_parent(_common_directory(session, items), name="vss", nodeid="vss")
    report = session.ihook.pytest_make_collect_report(collector=suite)
    session.ihook.pytest_collectreport(report=report)
    items.extend(x for x in report.result if isinstance(x, pytest.Item))


def _common_directory(session: pytest.Session, items: Sequence[pytest.Item]) -> pytest.Collector:
    chains = [item.listchain() for item in items]
    common: pytest.Collector = session
    for nodes in zip(*chains, strict=False) if chains else ():
        first = nodes[0]
        if any(node is not first for node in nodes):
            break
        if isinstance(first, pytest.Directory):
            common = first
    return common


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


@pytest.fixture(scope="session")
def _vss_verify_read_back(pytestconfig: pytest.Config) -> Iterator[ReadBack | None]:
    """The read-back the --vss-verify file names, opened once and checked before use."""
    verify = pytestconfig.stash[_VERIFY]
    if verify is None:
        yield None
        return
    from emitter.errors import VssEmitterError
    from emitter.verify import open_read_back, preflight

    try:
        read_back = open_read_back(verify)
        preflight(read_back, verify)
    except VssEmitterError as exc:
        pytest.fail(f"--vss-verify: {exc}", pytrace=False)
    yield read_back
    read_back.close()


@pytest.fixture
def vss_read_back(_vss_verify_read_back: ReadBack | None) -> Any:
    """Where the receiver's stored records are read back: the --vss-verify file's read-back,
    or None (no verification). Override it to read your own test database:

        @pytest.fixture
        def vss_read_back(db):
            return lambda session_id: db.fetch_all("SELECT ... WHERE id = ?", session_id)

    The function returns None or [] (not stored), a dict (one record, cannot count) or a list
    of dicts (every record stored for the session), named as emitter.canonical names fields.
    """
    return _vss_verify_read_back


@pytest.fixture
def vss_send(pytestconfig: pytest.Config, vss_read_back: Any) -> Iterator[Callable[..., Delivery]]:
    """`vss_send(payload, url=None)` POSTs a dict or bytes and returns the delivery: its
    classified ack (`.ok`, `.status`, `.outcome`, ...) with `.assert_stored(exactly_once=False)`
    and `.assert_not_stored()`, which read back through `vss_read_back`.

    The URL defaults to --vss-target; auth header and timeout come from the --vss-* options.
    One keep-alive client per test.
    """
    from emitter._payload import dumps
    from emitter.deliver import build_client, deliver
    from emitter.verify._delivery import Delivery

    config = _delivery_config(pytestconfig)
    verify, read_back = _read_back_setup(pytestconfig, vss_read_back)
    client = build_client(config)

    def send(payload: Mapping[str, Any] | bytes, url: str | None = None) -> Delivery:
        target = url or pytestconfig.getoption("vss_target")
        if not target:
            pytest.fail("vss_send needs a URL: pass url=... or run pytest with --vss-target URL")
        body = payload if isinstance(payload, bytes) else dumps(payload)
        ack = deliver(body, url=target, config=config, client=client)
        if verify is None:
            return Delivery(ack=ack, body=body)
        return Delivery(ack=ack, body=body, read_back=read_back, config=verify)

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
