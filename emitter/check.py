"""The receiver conformance suite: the probe catalogue, running it against a URL, its results."""

from __future__ import annotations

import copy
import dataclasses
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from emitter._seeds import derive_seed
from emitter.deliver import Ack, DeliveryConfig, Outcome
from emitter.errors import UsageError
from emitter.vocabulary import leg_key

if TYPE_CHECKING:
    import httpx

Severity = Literal["failure", "warning"]
Verdict = Literal["passed", "failed", "warning"]

DEFAULT_CONCURRENCY = 8
DEFAULT_BURST = 20
# 8x8 asks receivers to answer 200 quickly and process afterwards; WhatsApp's webhooks (the only
# 8x8 product that states a number) allow 5 s. An ack slower than this is worth a warning.
QUICK_ACK_S = 1.0

# Outcomes that mean nothing can reach the receiver at all: once the first probe meets one of
# these, the rest are reported failed with the same reason instead of each waiting to find out.
_UNREACHABLE = frozenset({Outcome.REFUSED, Outcome.DNS, Outcome.TLS, Outcome.NOT_HTTP})

_EXAMPLES = {
    "success": "docs-example-success.json",
    "failure": "docs-example-failure.json",
}


@dataclass(frozen=True)
class Exchange:
    """One request a probe sent and the classified answer it got."""

    body: bytes  # exactly the bytes sent
    ack: Ack
    note: str = ""  # what was special about the request, e.g. "without Authorization"

    def payload(self) -> Any:
        """The body parsed as JSON (every probe sends JSON)."""
        return json.loads(self.body)


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of one probe: a named test case with a severity."""

    name: str
    severity: Severity
    passed: bool
    reason: str  # one line: why it passed or what went wrong
    exchanges: tuple[Exchange, ...]
    elapsed_s: float
    proves: str = ""

    @property
    def group(self) -> str:
        return self.name.split("/", 1)[0]

    @property
    def slowest_ack_s(self) -> float | None:
        """The longest the receiver took to answer one of this probe's requests."""
        return max((x.ack.elapsed_s for x in self.exchanges), default=None)

    @property
    def verdict(self) -> Verdict:
        if self.passed:
            return "passed"
        return "failed" if self.severity == "failure" else "warning"


@dataclass(frozen=True)
class CheckReport:
    """A whole run: what was probed, how, and every probe's result in catalogue order."""

    url: str  # secrets redacted
    seed: int
    timeout_s: float
    concurrency: int
    burst: int
    results: tuple[ProbeResult, ...]
    wall_s: float
    started_at: datetime

    @property
    def passed(self) -> int:
        return sum(r.verdict == "passed" for r in self.results)

    @property
    def failed(self) -> int:
        return sum(r.verdict == "failed" for r in self.results)

    @property
    def warnings(self) -> int:
        return sum(r.verdict == "warning" for r in self.results)

    @property
    def ok(self) -> bool:
        """True when no failure-severity probe failed (warnings do not fail a check)."""
        return self.failed == 0

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1


@dataclass(frozen=True)
class _Verdict:
    passed: bool
    reason: str


@dataclass(frozen=True)
class Probe:
    """One conformance test case: what it sends, what it expects, and why it matters."""

    name: str
    severity: Severity
    proves: str  # what a pass proves about the receiver
    why: str  # why a receiver team should care
    run: Callable[[_ProbeRun], _Verdict] = field(repr=False, compare=False)

    @property
    def group(self) -> str:
        return self.name.split("/", 1)[0]


class _ProbeRun:
    """What one probe sees while running: its seed, the target, and a recorder of exchanges."""

    def __init__(self, *, probe: Probe, suite: _Suite) -> None:
        self.probe = probe
        self.suite = suite
        self.seed = derive_seed(suite.seed, probe.name)
        self.rng = random.Random(self.seed)
        self._exchanges: list[Exchange] = []
        self._lock = threading.Lock()

    @property
    def exchanges(self) -> tuple[Exchange, ...]:
        with self._lock:
            return tuple(self._exchanges)

    @property
    def config(self) -> DeliveryConfig:
        return self.suite.config

    @property
    def choice(self) -> _ScenarioChoice:
        return self.suite.choice

    def send(
        self,
        body: bytes,
        *,
        note: str = "",
        config: DeliveryConfig | None = None,
        client: httpx.Client | None = None,
    ) -> Ack:
        ack = self._deliver(body, config=config, client=client)
        self._record([Exchange(body=body, ack=ack, note=note)])
        return ack

    def send_at_once(self, bodies: Sequence[bytes], *, note: str = "") -> list[Ack]:
        """Deliver every body at the same instant, one thread each, as a burst from 8x8 would.

        The exchanges are recorded in the order of `bodies`, not the order the answers came
        in, so a report of the same seed lists them the same way every run.
        """
        barrier = threading.Barrier(len(bodies))

        def one(body: bytes) -> Ack:
            barrier.wait(timeout=30)
            return self._deliver(body)

        with ThreadPoolExecutor(max_workers=len(bodies), thread_name_prefix="vss-burst") as pool:
            acks = list(pool.map(one, bodies))
        self._record(
            [Exchange(body=b, ack=a, note=note) for b, a in zip(bodies, acks, strict=True)]
        )
        return acks

    def _deliver(
        self,
        body: bytes,
        *,
        config: DeliveryConfig | None = None,
        client: httpx.Client | None = None,
    ) -> Ack:
        from emitter.deliver import deliver

        return deliver(
            body,
            url=self.suite.url,
            config=config or self.suite.config,
            client=client or self.suite.client,
        )

    def _record(self, exchanges: Iterable[Exchange]) -> None:
        with self._lock:
            self._exchanges.extend(exchanges)

    def payload(self, scenario: str, *, index: int = 0) -> dict[str, Any]:
        """A fresh payload of a built-in scenario, seeded by this probe (so fresh sessionIds)."""
        from emitter.generator import generate

        payloads = list(generate(scenario, seed=derive_seed(self.seed, str(index)), n=1))
        return payloads[0]

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


class _Suite:
    def __init__(
        self,
        *,
        url: str,
        config: DeliveryConfig,
        seed: int,
        burst: int,
        client: httpx.Client,
        choice: _ScenarioChoice,
    ) -> None:
        self.choice = choice
        self.url = url
        self.config = config
        self.seed = seed
        self.burst = burst
        self.client = client


def dumps(payload: Mapping[str, Any]) -> bytes:
    """The bytes of a payload, through the generator's canonical serialisation."""
    from emitter.generator import dumps as canonical

    return canonical(payload)


def example_bytes(which: Literal["success", "failure"]) -> bytes:
    """The documentation's example payload, byte for byte as printed on the 8x8 page."""
    from emitter._resources import schemas_dir

    return schemas_dir().joinpath("examples", _EXAMPLES[which]).read_bytes()


# --- judging -------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _describe(ack: Ack) -> str:
    text = ack.reason
    if ack.body_excerpt and ack.outcome is not Outcome.ACKED:
        excerpt = " ".join(ack.body_excerpt.split())[:120]
        text += f" (body: {excerpt})"
    return text


def _all_acked(acks: Sequence[Ack], *, what: str = "delivery") -> _Verdict:
    bad = [(i, a) for i, a in enumerate(acks) if not a.ok]
    if not bad:
        slowest = max(a.elapsed_s for a in acks)
        if len(acks) == 1:
            return _Verdict(True, f"acked (HTTP {acks[0].status})")
        return _Verdict(True, f"all {len(acks)} acked, slowest in {_ms(slowest)}")
    i, first = bad[0]
    where = f"{_ordinal(i + 1)} {what}: " if len(acks) > 1 else ""
    more = f" ({len(bad)} of {len(acks)} not acked)" if len(acks) > 1 else ""
    return _Verdict(False, f"{where}{_describe(first)}{more}")


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _rejected(ack: Ack, *, what: str) -> _Verdict:
    """For auth probes: the receiver must turn the request away with a 4xx."""
    if ack.status is not None and 400 <= ack.status < 500:
        return _Verdict(True, f"rejected {what} with HTTP {ack.status}")
    if ack.ok:
        return _Verdict(False, f"acked a delivery {what}: the receiver accepts forged webhooks")
    return _Verdict(False, f"expected 401/403 for a delivery {what}, got {_describe(ack)}")


# --- payload surgery (only what the probes need; the generator makes the payloads) ---------


def _legs(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    details = payload["payload"].get("details") or {}
    return [leg for leg in details.values() if isinstance(leg, dict)]


def _with_legs(payload: dict[str, Any], legs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    payload["payload"]["details"] = {leg_key(i): leg for i, leg in enumerate(legs)}
    payload["payload"]["callCount"] = len(legs)
    return payload


_TIME_FIELDS = ("startTime", "endTime")
_LEG_TIME_FIELDS = ("initiatedTimestamp", "connectedTimestamp", "disconnectedTimestamp")


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _format_time(moment: datetime, *, style: str = "Z") -> str:
    moment = moment.astimezone(UTC)
    if style == "millis":
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if style == "offset":
        return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _retime(
    payload: dict[str, Any], *, shift: timedelta = timedelta(0), style: str = "Z"
) -> dict[str, Any]:
    body = payload["payload"]
    for name in _TIME_FIELDS:
        if isinstance(body.get(name), str):
            body[name] = _format_time(_parse_time(body[name]) + shift, style=style)
    for leg in _legs(payload):
        for name in _LEG_TIME_FIELDS:
            if isinstance(leg.get(name), str):
                leg[name] = _format_time(_parse_time(leg[name]) + shift, style=style)
    return payload


def _shift_start_to(payload: dict[str, Any], moment: datetime) -> dict[str, Any]:
    start = _parse_time(payload["payload"]["startTime"])
    return _retime(payload, shift=moment - start)


# --- the catalogue -------------------------------------------------------------------------


@dataclass(frozen=True)
class _ScenarioChoice:
    """Built-in scenarios the mutation probes start from (looked up once, by name)."""

    completed: str
    multi_leg: str
    error: str


def _probe_example(which: Literal["success", "failure"]) -> Callable[[_ProbeRun], _Verdict]:
    def run(probe: _ProbeRun) -> _Verdict:
        return _all_acked([probe.send(example_bytes(which))])

    return run


def _probe_scenario(name: str) -> Callable[[_ProbeRun], _Verdict]:
    def run(probe: _ProbeRun) -> _Verdict:
        return _all_acked([probe.send(dumps(probe.payload(name)))])

    return run


def _probe_mutation(
    scenario: Callable[[_ScenarioChoice], str],
    mutate: Callable[[dict[str, Any], _ProbeRun], dict[str, Any]],
) -> Callable[[_ProbeRun], _Verdict]:
    def run(probe: _ProbeRun) -> _Verdict:
        base = probe.payload(scenario(probe.choice))
        payload = mutate(copy.deepcopy(base), probe)
        return _all_acked([probe.send(dumps(payload))])

    return run


def _unknown_root(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    payload["deliveryAttempt"] = 1
    payload["metadata"] = {"region": "ap-southeast-1", "traceId": run.uuid()}
    return payload


def _unknown_payload(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    payload["payload"]["recordingAvailable"] = False
    payload["payload"]["tags"] = ["campaign-42", "retry"]
    payload["payload"]["billing"] = {"currency": "USD", "units": 2}
    return payload


def _unknown_leg(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    for leg in _legs(payload):
        leg["codec"] = "PCMU"
        leg["sipCallId"] = run.uuid()
        leg["mediaStats"] = {"rtpPacketsSent": 812, "rtpPacketsReceived": 809}
        if isinstance(leg.get("callQuality"), dict):
            leg["callQuality"]["rFactor"] = 88.2
    return payload


def _extra_leg(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    legs = _legs(payload)
    # One more leg than any built-in scenario: a copy of the last one with its own callId,
    # so the session status still agrees with the last leg.
    extra = copy.deepcopy(legs[-1])
    extra["callId"] = run.uuid()
    return _with_legs(payload, [*legs, extra])


def _ivr(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    # IVR's VSS adds a root integer `version` (5 in 8x8's examples) and `clientRequestId`;
    # its inbound legs may carry `destinationRefId` (FACTS.md).
    payload["version"] = 5
    payload["payload"]["clientRequestId"] = run.uuid()
    first = _legs(payload)[0]
    first["callDirection"] = "INBOUND"
    for key in ("sourceRefId", "SourceRefId"):
        first.pop(key, None)
    first["sourceRefId"] = None
    first["destinationRefId"] = "IVR-MAIN-MENU"
    return payload


def _unlisted_last_action(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    # The page documents lastAction with "e.g.": the set is open, new actions can appear.
    payload["payload"]["lastAction"] = "RECORD"
    return payload


def _unlisted_error_code(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    # The page's table points at the complete Voice Error Codes page: other codes exist.
    code = -2011  # next to the table's -2001…-2010, and not in it
    payload["payload"]["errorDetails"] = {
        "errorMsg": "An error not listed on the VSS page has occurred",
        "errorCode": code,
    }
    return payload


def _unicode(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    payload["description"] = "Résumé de la session d'appel — 通話の概要 ✓"
    payload["payload"]["note"] = "Zoë Ångström · Ωmega · 東京 · 📞 · \u2028 line separator"
    return payload


def _large(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    legs = _legs(payload)
    template = next((leg for leg in legs if "callQuality" in leg), legs[-1])
    more = []
    for _ in range(10 - len(legs)):
        leg = copy.deepcopy(template)
        leg["callId"] = run.uuid()
        more.append(leg)
    return _with_legs(payload, [*legs, *more])


def _late(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    return _shift_start_to(payload, datetime.now(UTC).replace(microsecond=0) - timedelta(days=3))


def _future(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    # A sender whose clock runs ahead of the receiver's: timestamps a few minutes from now.
    return _shift_start_to(payload, datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5))


def _timestamp_variants(payload: dict[str, Any], run: _ProbeRun) -> dict[str, Any]:
    _retime(payload, style="millis")
    for leg in _legs(payload):
        if isinstance(leg.get("disconnectedTimestamp"), str):
            leg["disconnectedTimestamp"] = _format_time(
                _parse_time(leg["disconnectedTimestamp"]), style="offset"
            )
    return payload


def _probe_duplicate(*, concurrent: bool) -> Callable[[_ProbeRun], _Verdict]:
    def run(probe: _ProbeRun) -> _Verdict:
        body = dumps(probe.payload(probe.choice.completed))
        if concurrent:
            acks = probe.send_at_once([body, body], note="same bytes, same sessionId, at once")
        else:
            acks = [
                probe.send(body, note="first delivery"),
                probe.send(body, note="duplicate: same bytes, same sessionId"),
            ]
        return _all_acked(acks)

    return run


def _probe_burst(probe: _ProbeRun) -> _Verdict:
    bodies = [
        dumps(probe.payload(probe.choice.completed, index=i)) for i in range(probe.suite.burst)
    ]
    return _all_acked(probe.send_at_once(bodies, note="burst"))


def _probe_keep_alive(probe: _ProbeRun) -> _Verdict:
    from emitter.deliver import build_client

    # A fresh client: its sequential requests all go over one kept-alive connection, which
    # catches a receiver that answers before reading the whole body (the next request on the
    # connection then starts mid-body).
    with build_client(probe.config) as client:
        acks = [
            probe.send(dumps(probe.payload(probe.choice.completed, index=i)), client=client)
            for i in range(5)
        ]
    return _all_acked(acks)


def _sequential_acks(probe: _ProbeRun, count: int = 2) -> list[Ack]:
    return [probe.send(dumps(probe.payload(probe.choice.completed, index=i))) for i in range(count)]


def _probe_ack_deadline(probe: _ProbeRun) -> _Verdict:
    acks = _sequential_acks(probe)
    late = [a for a in acks if a.outcome is Outcome.TIMEOUT]
    if late:
        return _Verdict(
            False, f"{len(late)} of {len(acks)} not answered within {probe.config.timeout_s:g} s"
        )
    verdict = _all_acked(acks)
    if not verdict.passed:
        return verdict
    slowest = max(a.elapsed_s for a in acks)
    return _Verdict(
        True, f"slowest of {len(acks)} acks {_ms(slowest)} (deadline {probe.config.timeout_s:g} s)"
    )


def _probe_quick_ack(probe: _ProbeRun) -> _Verdict:
    acks = _sequential_acks(probe)
    slowest = max(a.elapsed_s for a in acks)
    if any(a.outcome is Outcome.TIMEOUT for a in acks) or slowest > QUICK_ACK_S:
        shown = (
            f"no answer within {probe.config.timeout_s:g} s"
            if any(a.outcome is Outcome.TIMEOUT for a in acks)
            else f"slowest ack {_ms(slowest)}"
        )
        return _Verdict(
            False,
            f"{shown}: 8x8 asks receivers to answer 200 within {QUICK_ACK_S:g} s"
            " and process afterwards",
        )
    return _Verdict(True, f"slowest of {len(acks)} acks {_ms(slowest)}")


def _drop_user_agent(request: httpx.Request) -> None:
    request.headers.pop("User-Agent", None)


def _probe_no_user_agent(probe: _ProbeRun) -> _Verdict:
    from emitter.deliver import build_client

    with build_client(probe.config) as client:
        client.event_hooks = {"request": [_drop_user_agent], "response": []}
        ack = probe.send(
            dumps(probe.payload(probe.choice.completed)),
            client=client,
            note="without a User-Agent header",
        )
    return _all_acked([ack])


def _probe_charset(probe: _ProbeRun) -> _Verdict:
    kept = [(k, v) for k, v in probe.config.headers if k.lower() != "content-type"]
    headers = (*kept, ("Content-Type", "application/json; charset=utf-8"))
    ack = probe.send(
        dumps(probe.payload(probe.choice.completed)),
        config=dataclasses.replace(probe.config, headers=headers),
        note="Content-Type: application/json; charset=utf-8",
    )
    return _all_acked([ack])


def _suite_secrets(probe: _ProbeRun) -> tuple[str, ...]:
    # A probe that sends without the real credential must still redact it: a receiver that
    # refuses the request may well name the token it expected.
    from emitter.deliver import config_secrets

    return config_secrets(probe.config, url=probe.suite.url)


def _probe_no_auth(probe: _ProbeRun) -> _Verdict:
    config = dataclasses.replace(
        probe.config,
        auth_header=None,
        headers=tuple((k, v) for k, v in probe.config.headers if k.lower() != "authorization"),
        secrets=_suite_secrets(probe),
    )
    ack = probe.send(
        dumps(probe.payload(probe.choice.completed)),
        config=config,
        note="without the Authorization header",
    )
    return _rejected(ack, what="without the Authorization header")


def _probe_wrong_auth(probe: _ProbeRun) -> _Verdict:
    wrong = "Basic " + "dnNzLWVtaXR0ZXI6d3JvbmctcGFzc3dvcmQ="  # vss-emitter:wrong-password
    if wrong == probe.config.auth_header:
        wrong = "Bearer vss-emitter-wrong-token"
    config = dataclasses.replace(probe.config, auth_header=wrong, secrets=_suite_secrets(probe))
    ack = probe.send(
        dumps(probe.payload(probe.choice.completed)),
        config=config,
        note="with a wrong Authorization value",
    )
    return _rejected(ack, what="with a wrong Authorization value")


def _pick_scenarios() -> _ScenarioChoice:
    from emitter.scenarios import builtin_scenarios

    names = {s.name for s in builtin_scenarios()}

    def first(*candidates: str) -> str:
        for name in candidates:
            if name in names:
                return name
        raise LookupError(f"none of the built-in scenarios {candidates} exists")

    return _ScenarioChoice(
        completed=first("completed", "mixed"),
        multi_leg=first("hunt-group-4-legs", "hunt-group-3-legs", "completed"),
        error=first("error-2004-no-coverage", "mixed"),
    )


def catalogue(*, auth: bool = False, burst: int = DEFAULT_BURST) -> list[Probe]:
    """Every probe in run order; the auth probes only when an Authorization value is configured."""
    from emitter.scenarios import builtin_scenarios

    probes: list[Probe] = [
        Probe(
            "docs/example-success",
            "failure",
            "the receiver acks the documentation's success example, byte for byte",
            'it is what 8x8 shows: `CallA` with a capital C and `"SourceRefId": "null"`',
            _probe_example("success"),
        ),
        Probe(
            "docs/example-failure",
            "failure",
            "the receiver acks the documentation's failure example, byte for byte",
            "an ERROR session with errorDetails and no connectedTimestamp or callQuality",
            _probe_example("failure"),
        ),
    ]
    for scenario in builtin_scenarios():
        kind = "quirk seen on the real platform" if scenario.quirk else "scenario"
        probes.append(
            Probe(
                f"scenario/{scenario.name}",
                "failure",
                f"the receiver acks the built-in {kind} `{scenario.name}`",
                scenario.description,
                _probe_scenario(scenario.name),
            )
        )
    probes += [
        Probe(
            "compat/unknown-root-field",
            "failure",
            "unknown fields at the root are ignored",
            "8x8 adds fields without notice (IVR added `version`); a strict model drops webhooks",
            _probe_mutation(lambda c: c.completed, _unknown_root),
        ),
        Probe(
            "compat/unknown-payload-field",
            "failure",
            "unknown fields inside `payload` (scalars, lists, objects) are ignored",
            "IVR adds `clientRequestId` to the payload; other products may add more",
            _probe_mutation(lambda c: c.completed, _unknown_payload),
        ),
        Probe(
            "compat/unknown-leg-field",
            "failure",
            "unknown fields inside call legs and callQuality are ignored",
            "Number Masking and IVR add `destinationRefId` to legs; more can follow",
            _probe_mutation(lambda c: c.completed, _unknown_leg),
        ),
        Probe(
            "compat/extra-leg",
            "failure",
            "a session with one more leg than any built-in scenario is acked",
            "callCount is open-ended (`callA`, `callB`, etc.); code must not assume a fixed count",
            _probe_mutation(lambda c: c.multi_leg, _extra_leg),
        ),
        Probe(
            "compat/ivr-variant",
            "failure",
            "the IVR form (root `version: 5`, `clientRequestId`, inbound `destinationRefId`)"
            " is acked",
            "one endpoint may receive VSS from IVR and Number Masking, not only Voice Messaging",
            _probe_mutation(lambda c: c.multi_leg, _ivr),
        ),
        Probe(
            "compat/unlisted-last-action",
            "warning",
            "a lastAction outside the values seen so far is acked",
            "the page documents lastAction with 'e.g.': the set of actions is open",
            _probe_mutation(lambda c: c.completed, _unlisted_last_action),
        ),
        Probe(
            "compat/unlisted-error-code",
            "warning",
            "an errorCode missing from the VSS page's table is acked",
            "the table defers to the complete Voice Error Codes page; a dict lookup must not crash",
            _probe_mutation(lambda c: c.error, _unlisted_error_code),
        ),
        Probe(
            "data/unicode",
            "failure",
            "non-ASCII text sent as raw UTF-8 (accents, CJK, emoji, U+2028) is acked",
            "JSON is UTF-8 (RFC 8259); receivers that decode as ASCII or Latin-1 break on it",
            _probe_mutation(lambda c: c.completed, _unicode),
        ),
        Probe(
            "data/large-payload",
            "failure",
            "a 10-leg session, every leg with callQuality, is acked",
            "body-size limits and per-leg loops are where large sessions break",
            _probe_mutation(lambda c: c.multi_leg, _large),
        ),
        Probe(
            "data/late-delivery",
            "failure",
            "a session that ended 3 days ago is acked",
            "webhooks arrive late after outages and retries; rejecting old events loses them",
            _probe_mutation(lambda c: c.completed, _late),
        ),
        Probe(
            "data/future-timestamps",
            "failure",
            "a session stamped 5 minutes in the future is acked",
            "the sender's clock can run ahead of the receiver's",
            _probe_mutation(lambda c: c.completed, _future),
        ),
        Probe(
            "data/timestamp-variants",
            "warning",
            "ISO 8601 timestamps with milliseconds and a +00:00 offset are acked",
            "the page only says 'ISO 8601'; parsing with one fixed strptime pattern is fragile",
            _probe_mutation(lambda c: c.completed, _timestamp_variants),
        ),
        Probe(
            "delivery/duplicate",
            "failure",
            "the same payload (same bytes, same sessionId) delivered twice is acked twice",
            "8x8 tells receivers to expect duplicates; answering 409 makes the sender retry",
            _probe_duplicate(concurrent=False),
        ),
        Probe(
            "delivery/duplicate-concurrent",
            "failure",
            "the same payload delivered twice at the same instant is acked twice",
            "a retry can overlap the first attempt; a unique-constraint race must not answer 500",
            _probe_duplicate(concurrent=True),
        ),
        Probe(
            "delivery/burst",
            "failure",
            f"{burst} deliveries at the same instant are all acked",
            "sessions end together (campaigns, outages ending); 8x8 sends their VSS together",
            _probe_burst,
        ),
        Probe(
            "delivery/keep-alive",
            "failure",
            "5 sequential deliveries over one kept-alive connection are all acked",
            "senders reuse connections; a receiver that skips reading a body breaks the next one",
            _probe_keep_alive,
        ),
        Probe(
            "delivery/ack-deadline",
            "failure",
            "every ack arrives within --timeout",
            "an ack after the sender's deadline counts as no ack",
            _probe_ack_deadline,
        ),
        Probe(
            "delivery/ack-under-1s",
            "warning",
            f"every ack arrives within {QUICK_ACK_S:g} s",
            "8x8 asks receivers to answer 200 quickly and process afterwards",
            _probe_quick_ack,
        ),
        Probe(
            "headers/no-user-agent",
            "failure",
            "a delivery without a User-Agent header is acked",
            "8x8 documents no User-Agent; a receiver that requires one may reject the platform",
            _probe_no_user_agent,
        ),
        Probe(
            "headers/content-type-charset",
            "failure",
            "`Content-Type: application/json; charset=utf-8` is acked",
            "8x8 documents no Content-Type; an exact match on 'application/json' is fragile",
            _probe_charset,
        ),
    ]
    if auth:
        probes += [
            Probe(
                "auth/missing-authorization",
                "warning",
                "a delivery without the Authorization header is rejected with a 4xx",
                "8x8 sends the configured httpAuthHeader; accepting without it accepts anyone",
                _probe_no_auth,
            ),
            Probe(
                "auth/wrong-authorization",
                "warning",
                "a delivery with a wrong Authorization value is rejected with a 4xx",
                "a receiver that only checks the header is present accepts forged webhooks",
                _probe_wrong_auth,
            ),
        ]
    return probes


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
    return ProbeResult(
        name=probe.name,
        severity=probe.severity,
        passed=verdict.passed,
        reason=verdict.reason,
        exchanges=run.exchanges,
        elapsed_s=time.perf_counter() - started,
        proves=probe.proves,
    )


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
                results += pool.map(lambda p: _run_one(p, suite), rest)
    finally:
        if own:
            shared.close()
    return CheckReport(
        url=redact_url(target, config),
        seed=seed,
        timeout_s=config.timeout_s,
        concurrency=concurrency,
        burst=burst,
        results=tuple(results),
        wall_s=time.perf_counter() - started,
        started_at=started_at,
    )


@dataclass(frozen=True)
class DemoResult:
    """A check run against the embedded reference receiver, and what that receiver saw."""

    report: CheckReport
    receiver_summary: str  # "57 deliveries: 57 accepted, 0 rejected, 3 duplicates"


def run_demo(
    *,
    seed: int,
    timeout_s: float = 5.0,
    on_start: Callable[[str, Sequence[Probe]], None] | None = None,
) -> DemoResult:
    """Start the reference receiver on a free loopback port and run the whole check against it."""
    from emitter.receiver import ReferenceReceiver

    with ReferenceReceiver() as receiver:
        report = run_check(
            url=receiver.url,
            config=DeliveryConfig(timeout_s=timeout_s),
            seed=seed,
            on_start=None if on_start is None else lambda probes: on_start(receiver.url, probes),
        )
        counts = receiver.counts
    return DemoResult(report=report, receiver_summary=counts.line())
