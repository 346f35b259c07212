"""Running the catalogue against a URL: selection, the pre-flight, concurrency, the report."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from emitter.check._catalogue import _pick_scenarios, catalogue
from emitter.check._model import (
    DEFAULT_BURST,
    DEFAULT_CONCURRENCY,
    CheckReport,
    Probe,
    ProbeResult,
    _Verdict,
)
from emitter.check._runtime import _ProbeRun, _Suite
from emitter.deliver import DeliveryConfig, Outcome
from emitter.errors import UsageError

if TYPE_CHECKING:
    import httpx

    from emitter.check._verifying import CheckVerifier
    from emitter.verify import ReadBack, VerifyConfig

# Outcomes that mean nothing can reach the receiver at all: once the first probe meets one of
# these, the rest are reported failed with the same reason instead of each waiting to find out.
_UNREACHABLE = frozenset({Outcome.REFUSED, Outcome.DNS, Outcome.TLS, Outcome.NOT_HTTP})


def select_probes(probes: Sequence[Probe], patterns: Iterable[str]) -> list[Probe]:
    """Probes whose name contains any of the patterns (all of them when none is given)."""
    wanted = [p for p in patterns if p]
    if not wanted:
        return list(probes)
    chosen = [p for p in probes if any(w in p.name for w in wanted)]
    if not chosen:
        names = ", ".join(p.name for p in probes[:4])
        raise UsageError(
            f"no probe name contains {' or '.join(repr(w) for w in wanted)}: "
            f"expected part of a probe name, e.g. --probe duplicate (probes: {names}, ...)"
        )
    return chosen


# --- running -------------------------------------------------------------------------------


def _run_one(probe: Probe, suite: _Suite) -> ProbeResult:
    run = _ProbeRun(probe=probe, suite=suite)
    started = time.perf_counter()
    try:
        verdict = probe.run(run)
    except Exception as exc:  # noqa: BLE001  (one broken probe must not hide the others' results)
        verdict = _Verdict(
            False, f"the probe itself crashed ({type(exc).__name__}: {exc}); please report this"
        )
    if verdict.passed:
        verdict = _answer_says_failed(run, verdict)
    result = ProbeResult(
        name=probe.name,
        severity="warning" if verdict.warning else probe.severity,
        passed=verdict.passed,
        reason=verdict.reason,
        exchanges=run.exchanges,
        elapsed_s=time.perf_counter() - started,
        proves=probe.proves,
    )
    if suite.verifier is not None:
        suite.verifier.start(probe, result)
    return result


def _answer_says_failed(run: _ProbeRun, verdict: _Verdict) -> _Verdict:
    """A passing probe whose ack body says it failed becomes a warning (on every probe)."""
    from emitter.check._judging import failed_answer

    for exchange in run.exchanges:
        body = failed_answer(exchange.ack)
        if body is not None:
            return _Verdict(
                False,
                f"{verdict.reason}, but the answer says it failed: {body} (8x8 does not read "
                "the body: a 200 tells it the delivery was taken)",
                warning=True,
            )
    return verdict


def _unreachable(result: ProbeResult) -> str | None:
    ack = next((x.ack for x in result.exchanges if x.ack.outcome in _UNREACHABLE), None)
    return None if ack is None else f"receiver unreachable ({ack.reason})"


def _silent(result: ProbeResult) -> bool:
    """Every request of the probe went unanswered within the ack deadline."""
    return bool(result.exchanges) and all(
        x.ack.outcome is Outcome.TIMEOUT for x in result.exchanges
    )


def _not_sent(probe: Probe, why: str) -> ProbeResult:
    return ProbeResult(
        name=probe.name,
        severity=probe.severity,
        passed=False,
        reason=f"not sent: {why}",
        exchanges=(),
        elapsed_s=0.0,
        proves=probe.proves,
    )


def redact_url(url: str, config: DeliveryConfig) -> str:
    """The URL as reports may show it: its password and every configured secret masked."""
    from emitter.deliver import config_secrets, display_url, redact

    return redact(display_url(url), config_secrets(config, url=url))


def run_check(
    *,
    url: str,
    config: DeliveryConfig,
    seed: int,
    probes: Sequence[str] = (),
    only: Collection[str] | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    burst: int = DEFAULT_BURST,
    client: httpx.Client | None = None,
    on_start: Callable[[Sequence[Probe]], None] | None = None,
    verify: VerifyConfig | None = None,
    read_back: ReadBack | None = None,
) -> CheckReport:
    """Run the conformance probes against `url` and return every result.

    `probes` selects by name substring (all when empty); `only` by exact names. The first
    probe runs alone as a pre-flight: when it cannot reach the receiver (refused, DNS, TLS,
    not HTTP) every other probe is reported failed with that reason at once; when it gets no
    answer within the deadline, a second probe runs alone, and if that one gets none either,
    the rest are reported failed as "receiver unresponsive". Retries are
    never applied: a conformance check judges the first answer. Raises DeliveryConfigError
    for an unusable URL and UsageError for a selection that matches nothing. `on_start`
    hears the selected probes once the URL and selection are known, before anything is sent.

    `verify` (a verify file's config) also reads back what each probe's sessions left in the
    receiver (through `read_back`, default: opened from `verify`, checked before anything is
    sent) and folds it into each result (see emitter.check._verifying).
    """
    from emitter.deliver import DEFAULT_MAX_CONNECTIONS, build_client, check_url, request_headers

    if concurrency < 1:
        raise UsageError(f"invalid concurrency {concurrency}: expected 1 or more, e.g. 8")
    if burst < 2:
        raise UsageError(f"invalid burst size {burst}: expected 2 or more, e.g. 20")
    target = check_url(url)
    request_headers(config)  # a header that cannot be sent fails the run, not every probe
    config = dataclasses.replace(config, retries=())
    chosen = select_probes(catalogue(auth=bool(config.auth_header), burst=burst), probes)
    if only is not None:
        chosen = [p for p in chosen if p.name in only]
        if not chosen:
            raise UsageError("no probe selected: expected at least one probe name")
    verifier, own_read_back = _verifier(verify, read_back, config)
    if on_start is not None:
        on_start(chosen)
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    own = client is None
    # The burst's requests and the other probes running meanwhile share this client: a
    # request waiting for a pooled connection waits on its own ack deadline.
    pool_size = max(DEFAULT_MAX_CONNECTIONS, burst + concurrency)
    shared = client if client is not None else build_client(config, max_connections=pool_size)
    suite = _Suite(
        url=target,
        config=config,
        seed=seed,
        burst=burst,
        client=shared,
        choice=_pick_scenarios(),
        verifier=verifier,
    )
    try:
        first = _run_one(chosen[0], suite)
        results = [first]
        rest = list(chosen[1:])
        dead = _unreachable(first)
        if dead is None and _silent(first) and rest:
            # One unanswered probe may be a cold start; two in a row mean the receiver answers
            # nothing, and every other probe would only wait out the deadline to learn the same.
            second = _run_one(rest.pop(0), suite)
            results.append(second)
            if _silent(second):
                dead = (
                    "receiver unresponsive (no answer to the first two probes within the "
                    f"{config.timeout_s:g} s ack deadline)"
                )
        if dead is not None:
            results += [_not_sent(p, dead) for p in rest]
        else:
            with ThreadPoolExecutor(
                max_workers=concurrency, thread_name_prefix="vss-probe"
            ) as pool:
                ran = pool.map(lambda p: _run_one(p, suite), _first(rest, verifier))
                results += _in_order(rest, ran)
        if verifier is not None:
            results = verifier.finish(results)
    finally:
        if own:
            shared.close()
        if own_read_back is not None:
            own_read_back.close()
    return CheckReport(
        url=redact_url(target, config),
        seed=seed,
        timeout_s=config.timeout_s,
        concurrency=concurrency,
        burst=burst,
        results=tuple(results),
        wall_s=time.perf_counter() - started,
        started_at=started_at,
        verify=verify.describe() if verify is not None else "",
    )


def _waits_to_settle(probe: Probe) -> bool:
    return probe.verify in ("once", "absent")


def _first(probes: list[Probe], verifier: CheckVerifier | None) -> list[Probe]:
    """Run order: with --verify, the probes judged after `settle` (duplicates, auth) first, so
    their wait overlaps the other probes instead of ending the run; otherwise catalogue order."""
    if verifier is None:
        return probes
    return sorted(probes, key=lambda p: not _waits_to_settle(p))


def _in_order(probes: list[Probe], results: Iterable[ProbeResult]) -> list[ProbeResult]:
    """`results` (in `_first` order) back in catalogue order."""
    by_name = {r.name: r for r in results}
    return [by_name[p.name] for p in probes]


def _verifier(
    verify: VerifyConfig | None, read_back: ReadBack | None, config: DeliveryConfig
) -> tuple[CheckVerifier | None, ReadBack | None]:
    """The run's verifier and the read-back it opened itself (to close), checked before sending."""
    if verify is None:
        return None, None
    from emitter.check._verifying import CheckVerifier
    from emitter.verify import open_read_back, preflight

    own = open_read_back(verify) if read_back is None else None
    reader = read_back if read_back is not None else own
    assert reader is not None
    try:
        preflight(reader, verify)
    except BaseException:
        if own is not None:
            own.close()
        raise
    return CheckVerifier(verify, reader, kept_headers=config.headers), own
