"""The probe catalogue: every conformance probe, what it sends and how it is judged."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from emitter._payload import dumps
from emitter.check._judging import _all_acked, _ms, _rejected, auth_change
from emitter.check._model import DEFAULT_BURST, QUICK_ACK_S, Probe, _Verdict
from emitter.check._mutations import (
    _duration_one_second_off,
    _error_code_string,
    _extra_leg,
    _future,
    _ivr,
    _large,
    _late,
    _timestamp_variants,
    _unicode,
    _unknown_leg,
    _unknown_payload,
    _unknown_root,
    _unlisted_error_code,
    _unlisted_last_action,
    _with_destination_ref,
    _without_client_request_id,
    _without_source_ref,
)
from emitter.check._runtime import _ProbeRun, _ScenarioChoice, example_bytes
from emitter.deliver import Ack, Outcome

if TYPE_CHECKING:
    import httpx


def _probe_example(which: str) -> Callable[[_ProbeRun], _Verdict]:
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
    if not any(a.outcome is Outcome.TIMEOUT for a in acks):
        # Timing judges acks only: two quick 401s are not two quick acks.
        verdict = _all_acked(acks)
        if not verdict.passed:
            return verdict
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
    change, kept = auth_change(probe.config, removed=True)
    ack = probe.send(
        dumps(probe.payload(probe.choice.completed)),
        config=config,
        note=f"without the Authorization header ({change})",
    )
    return _rejected(
        ack, what="without the Authorization header", change=change, kept_credentials=kept
    )


def _probe_wrong_auth(probe: _ProbeRun) -> _Verdict:
    wrong = "Basic " + "dnNzLWVtaXR0ZXI6d3JvbmctcGFzc3dvcmQ="  # vss-emitter:wrong-password
    if wrong == probe.config.auth_header:
        wrong = "Bearer vss-emitter-wrong-token"
    # A -H Authorization would be sent after --auth-header and win: make it wrong too.
    headers = tuple(
        (k, wrong if k.lower() == "authorization" else v) for k, v in probe.config.headers
    )
    config = dataclasses.replace(
        probe.config, auth_header=wrong, headers=headers, secrets=_suite_secrets(probe)
    )
    change, kept = auth_change(probe.config, removed=False)
    ack = probe.send(
        dumps(probe.payload(probe.choice.completed)),
        config=config,
        note=f"with a wrong Authorization value ({change})",
    )
    return _rejected(
        ack, what="with a wrong Authorization value", change=change, kept_credentials=kept
    )


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
        Probe(
            "docs/ivr-bridged-answered",
            "failure",
            "the receiver acks IVR's scenario 1 (bridged, answered), byte for byte",
            "root `version: 5`, a `clientRequestId`, two OUTBOUND legs whose callDuration is one"
            " second off their timestamps",
            _probe_example("ivr-bridged-answered"),
        ),
        Probe(
            "docs/ivr-bridged-busy",
            "failure",
            "the receiver acks IVR's scenario 2 (bridged, busy), byte for byte",
            "an INBOUND leg with `destinationRefId` and no `sourceRefId`, no `clientRequestId`",
            _probe_example("ivr-bridged-busy"),
        ),
        Probe(
            "docs/ivr-menu-hangup",
            "failure",
            "the receiver acks IVR's scenario 3 (hang-up in the menu), byte for byte",
            "one INBOUND leg without `sourceRefId`, `lastAction: HANGUP`",
            _probe_example("ivr-menu-hangup"),
        ),
        Probe(
            "docs/masking-success",
            "failure",
            "the receiver acks Number Masking's success example, byte for byte",
            "`callB` listed before `callA`, an INBOUND `callA` with `destinationRefId` only; its"
            " sessionId is the Voice Messaging example's (8x8 reuses it)",
            _probe_example("masking-success"),
        ),
        Probe(
            "docs/masking-failure",
            "failure",
            "the receiver acks Number Masking's failure example, byte for byte",
            "`lastAction: PLAY_TTS`, an ERROR leg; its sessionId is the Voice Messaging failure"
            " example's (8x8 reuses it)",
            _probe_example("masking-failure"),
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
            "variant/no-source-ref-id",
            "failure",
            "a leg with no `sourceRefId` key at all (and no `destinationRefId`) is acked",
            "IVR marks both optional and its INBOUND legs omit sourceRefId; "
            '`leg["sourceRefId"]` raises on them',
            _probe_mutation(lambda c: c.completed, _without_source_ref),
        ),
        Probe(
            "variant/destination-ref-id",
            "failure",
            "an INBOUND leg with `sourceRefId: null` and a `destinationRefId` is acked",
            "IVR and Number Masking name the dialled virtual number in destinationRefId",
            _probe_mutation(lambda c: c.completed, _with_destination_ref),
        ),
        Probe(
            "variant/no-client-request-id",
            "failure",
            "an IVR payload (`version: 5`) without `clientRequestId` is acked",
            "clientRequestId is optional: two of IVR's three examples have none",
            _probe_mutation(lambda c: c.completed, _without_client_request_id),
        ),
        Probe(
            "variant/duration-one-second-off",
            "failure",
            "a callDuration one second off disconnected - connected is acked",
            "IVR's examples: whole-second stamps of sub-second instants (23 s for 09 -> 33)",
            _probe_mutation(lambda c: c.completed, _duration_one_second_off),
        ),
        Probe(
            "variant/error-code-string",
            "warning",
            'an errorCode sent as a string ("-2004") is acked',
            "Number Masking's table types errorCode as String, its example as an integer",
            _probe_mutation(lambda c: c.error, _error_code_string),
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
            verify="once",
        ),
        Probe(
            "delivery/duplicate-concurrent",
            "failure",
            "the same payload delivered twice at the same instant is acked twice",
            "a retry can overlap the first attempt; a unique-constraint race must not answer 500",
            _probe_duplicate(concurrent=True),
            verify="once",
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
                verify="absent",
            ),
            Probe(
                "auth/wrong-authorization",
                "warning",
                "a delivery with a wrong Authorization value is rejected with a 4xx",
                "a receiver that only checks the header is present accepts forged webhooks",
                _probe_wrong_auth,
                verify="absent",
            ),
        ]
    return probes
