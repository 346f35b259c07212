"""The generator: every scenario validates, realism holds, output is a pure function of the seed."""

from __future__ import annotations

import json
import random
import re
import uuid
from collections import Counter
from datetime import UTC, datetime
from itertools import islice, pairwise
from typing import Any

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emitter._numbers import COUNTRIES, FIXED, MOBILE, draw_number, number_templates
from emitter._timing import clock_seq, iso, uuid1_at
from emitter.contract import validate
from emitter.errors import ScenarioError, UsageError
from emitter.generator import (
    _STAMPS,
    _STAMPS_MAX,
    _SessionPlan,
    _stamp,
    apply_override,
    dumps,
    generate,
    generate_tagged,
    parse_override,
    scenario_seed,
)
from emitter.scenarios import builtin_scenarios, load_scenario
from emitter.vocabulary import (
    ERROR_CODES,
    MOS_BANDS,
    PRODUCT_LAST_ACTIONS,
    PRODUCT_SESSION_STATUSES,
    SESSION_STATUSES,
)

BUILTINS = builtin_scenarios()
SINGLE = [s for s in BUILTINS if not s.is_mix]


def legs_of(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return list(payload["payload"]["details"].values())


def stamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


# --- the property that matters most ----------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**63))
def test_every_builtin_validates_and_every_quirk_shows(seed: int) -> None:
    for scenario in BUILTINS:
        for origin, payload in generate_tagged(scenario, seed=seed, n=3):
            findings = validate(payload)
            where = f"{scenario.name}/{origin.name} seed={seed}: {findings}"
            if origin.quirk:
                assert findings, where
                assert all(f.severity == "warning" for f in findings), where
            else:
                assert findings == [], where


def test_mixed_stream_is_clean_apart_from_its_quirks() -> None:
    quirky = 0
    for origin, payload in generate_tagged("mixed", seed=11, n=3000):
        findings = validate(payload)
        if origin.quirk:
            quirky += 1
            assert findings
            assert all(f.severity == "warning" for f in findings)
        else:
            assert findings == [], (origin.name, findings)
    assert 0 < quirky < 60


# --- determinism -----------------------------------------------------------------------------


def ndjson(name: str, seed: int, n: int = 20) -> bytes:
    return b"".join(dumps(p) + b"\n" for p in generate(name, seed=seed, n=n))


def test_same_seed_gives_the_same_bytes() -> None:
    assert ndjson("mixed", 5) == ndjson("mixed", 5)
    assert ndjson("hunt-group-4-legs", 5) == ndjson("hunt-group-4-legs", 5)


def test_different_seeds_give_different_bytes() -> None:
    assert ndjson("mixed", 5) != ndjson("mixed", 6)
    assert ndjson("completed", 5, 1) != ndjson("completed", 6, 1)


def test_scenarios_get_independent_stable_streams() -> None:
    assert scenario_seed(seed=1, name="busy") == scenario_seed(seed=1, name="busy")
    assert scenario_seed(seed=1, name="busy") != scenario_seed(seed=1, name="failed")
    # sha256 of "1:busy", not the process-salted hash(): the same in every process.
    assert scenario_seed(seed=1, name="busy") == 0xCCAADE2EE49E647A


def test_endless_stream_continues_the_finite_one() -> None:
    endless = list(islice(generate("mixed", seed=3, n=None), 50))
    assert endless == list(generate("mixed", seed=3, n=50))


def test_dumps_is_compact_utf8_in_the_documentations_field_order() -> None:
    payload = next(generate("completed", seed=1))
    raw = dumps(payload)
    assert raw.startswith(b'{"payload":{"sessionId":"')
    assert b": " not in raw
    assert b", " not in raw
    assert not raw.endswith(b"\n")
    assert list(json.loads(raw)) == ["payload", "namespace", "eventType", "description"]
    assert dumps({"x": "é"}) == '{"x":"é"}'.encode()


# --- coverage and realism --------------------------------------------------------------------


def test_all_builtins_cover_every_session_status_and_error_code() -> None:
    statuses: set[str] = set()
    codes: set[int] = set()
    for scenario in BUILTINS:
        for p in generate(scenario, seed=7, n=30):
            statuses.add(p["payload"]["sessionStatus"])
            if "errorDetails" in p["payload"]:
                details = p["payload"]["errorDetails"]
                assert details["errorMsg"] == ERROR_CODES[details["errorCode"]]
                codes.add(details["errorCode"])
    assert statuses == set(SESSION_STATUSES)
    assert codes == set(ERROR_CODES)


def test_numbers_are_valid_for_their_country_per_libphonenumber() -> None:
    rng = random.Random(2024)
    templates = number_templates()
    assert set(templates) == set(COUNTRIES)
    for country in COUNTRIES:
        for kind in (MOBILE, FIXED):
            for _ in range(150):
                number = draw_number(rng, templates[country][kind])
                parsed = phonenumbers.parse(number, None)
                assert phonenumbers.is_valid_number(parsed), (country, number)
                assert phonenumbers.region_code_for_number(parsed) == country, number


def test_generated_numbers_are_valid_and_spread_over_countries() -> None:
    countries: Counter[str] = Counter()
    for p in generate("mixed", seed=8, n=1500):
        for leg in legs_of(p):
            for side in ("source", "destination"):
                number, country = leg[side], leg[f"{side}CountryCode"]
                parsed = phonenumbers.parse(number, None)
                assert phonenumbers.is_valid_number_for_region(parsed, country), number
                countries[country] += 1
    assert len(countries) >= 15
    assert countries.most_common(1)[0][0] == "US"


def test_session_ids_are_unique_across_ten_thousand_payloads() -> None:
    ids = [p["payload"]["sessionId"] for p in generate("mixed", seed=9, n=10_000)]
    assert len(set(ids)) == len(ids)


def test_ids_are_version_1_uuids_stamped_with_their_own_time() -> None:
    for p in generate("hunt-group-3-legs", seed=4, n=20):
        session = uuid.UUID(p["payload"]["sessionId"])
        assert session.version == 1
        assert int(session.time / 1e7 - 12219292800) == stamp(p["payload"]["startTime"]).timestamp()
        for leg in legs_of(p):
            call = uuid.UUID(leg["callId"])
            assert call.version == 1
            assert call.variant == uuid.RFC_4122
            assert (
                int(call.time / 1e7 - 12219292800) == stamp(leg["initiatedTimestamp"]).timestamp()
            )


def test_uuid1_at_lays_out_the_rfc_fields_for_any_year() -> None:
    rng, mirror = random.Random(3), random.Random(3)
    # 1970, 2024, 2100, and a year past 5236, where the 60-bit timestamp wraps.
    for epoch in (0, 1_704_067_200, 4_102_444_800, 220_898_664_000):
        for _ in range(300):
            got = uuid1_at(rng, epoch, 0x8ABC)
            bits = mirror.getrandbits(71)
            ts = (epoch * 10**7 + 0x01B21DD213814000 + (bits & 0x7FFFFF)) & (2**60 - 1)
            fields = (ts & 0xFFFFFFFF, (ts >> 32) & 0xFFFF, ((ts >> 48) & 0xFFF) | 0x1000,
                      0x8A, 0xBC, (bits >> 23) | 0x010000000000)  # fmt: skip
            assert got == str(uuid.UUID(fields=fields))


def test_a_sessions_id_is_its_first_draws_clock_seq_then_uuid1_at() -> None:
    # The session id is build()'s first draws, whatever else it writes out inline.
    plan = _SessionPlan(load_scenario("completed"))
    for seed in range(200):
        for start in (0, 1_704_067_200, 4_102_444_800, 220_898_664_000):
            built = plan.build(random.Random(seed), start)["payload"]["sessionId"]
            rng = random.Random(seed)
            assert built == uuid1_at(rng, start, clock_seq(rng))


def test_timestamp_cache_gives_what_iso_gives_and_stays_bounded() -> None:
    for t in [0, 59, 60, 1_704_067_199, 1_704_067_200, *range(10**9, 10**9 + 20_000, 7)]:
        assert _stamp(t) == iso(t)
    assert len(_STAMPS) <= _STAMPS_MAX


def test_a_stamp_cache_miss_fills_its_whole_minute() -> None:
    _STAMPS.clear()
    t = 1_704_067_237  # 2024-01-01T00:00:37Z
    assert _stamp(t) == "2024-01-01T00:00:37Z"
    minute = t - t % 60
    assert sorted(_STAMPS) == list(range(minute, minute + 60))
    assert all(text == iso(s) for s, text in _STAMPS.items())


def test_timings_are_realistic_per_leg_status() -> None:
    def ring(leg: dict[str, Any]) -> float:
        end = leg.get("connectedTimestamp", leg["disconnectedTimestamp"])
        return (stamp(end) - stamp(leg["initiatedTimestamp"])).total_seconds()

    rings: dict[str, list[float]] = {}
    talks: list[int] = []
    for p in generate("mixed", seed=12, n=4000):
        for leg in legs_of(p):
            rings.setdefault(leg["callStatus"], []).append(ring(leg))
            if leg["callStatus"] == "COMPLETED":
                talks.append(leg["callDuration"])
    # Carriers give up after 30-60 s; a hunt group moves on to the next agent after 15-25 s.
    assert min(rings["NO_ANSWER"]) >= 15
    assert max(rings["NO_ANSWER"]) <= 60
    single = [ring(legs_of(p)[0]) for p in generate("no-answer", seed=12, n=300)]
    assert min(single) >= 30
    assert max(single) <= 60
    assert max(single) - min(single) >= 20
    assert max(rings["BUSY"]) <= 6
    assert max(rings["FAILED"]) <= 4
    assert max(rings["ERROR"]) <= 1
    talks.sort()
    median = talks[len(talks) // 2]
    # Log-normal talk time: a median of about a minute and a long tail.
    assert 20 <= median <= 200
    assert talks[int(len(talks) * 0.99)] > 4 * median


@pytest.mark.parametrize("band", sorted(MOS_BANDS))
def test_quality_scenarios_stay_in_their_documented_band(band: str) -> None:
    low, high = MOS_BANDS[band]
    losses, jitters = [], []
    for p in generate(f"quality-{band}", seed=2, n=200):
        quality = legs_of(p)[0]["callQuality"]
        assert low <= quality["mos"] <= high
        assert quality["mos"] == round(quality["mos"], 1)
        assert 0 <= quality["packetLossRate"] <= 1
        assert isinstance(quality["jitter"], int)
        assert quality["jitter"] >= 0
        losses.append(quality["packetLossRate"])
        jitters.append(quality["jitter"])
    if band == "bad":
        assert min(losses) >= 0.04
        assert min(jitters) >= 60
    if band == "excellent":
        assert max(losses) <= 0.003


def test_mixed_is_mostly_completed_with_every_kind_of_session() -> None:
    statuses = Counter(p["payload"]["sessionStatus"] for p in generate("mixed", seed=1, n=5000))
    assert 0.6 <= statuses["COMPLETED"] / 5000 <= 0.85
    assert statuses["NO_ANSWER"] > statuses["BUSY"] > statuses["UNSUBSCRIBED_CONTACT"] > 0
    assert set(statuses) == set(SESSION_STATUSES)


def test_products_add_their_documented_fields() -> None:
    ivr = next(generate("inbound-bridged-to-agent", seed=1))
    assert ivr["version"] == 5
    assert list(ivr) == ["payload", "namespace", "eventType", "description", "version"]
    call_a, call_b = legs_of(ivr)
    assert "sourceRefId" not in call_a
    assert call_a["destinationRefId"] == call_b["sourceRefId"]
    assert "destinationRefId" not in call_b
    assert call_a["destination"] == call_b["source"]  # one virtual number bridges both legs
    assert call_b["callType"] == "VOIP"
    messaging = next(generate("completed", seed=1))
    assert "version" not in messaging
    assert "clientRequestId" not in messaging["payload"]
    assert legs_of(messaging)[0]["callType"] == "PSTN"
    assert "destinationRefId" not in legs_of(messaging)[0]


def test_ivr_client_request_id_only_on_api_started_sessions_and_not_always() -> None:
    started = [p["payload"] for p in generate("ivr-outbound-bridged-answered", seed=3, n=200)]
    with_id = [p for p in started if "clientRequestId" in p]
    assert 0.5 < len(with_id) / len(started) < 0.9
    assert all(isinstance(p["clientRequestId"], str) and p["clientRequestId"] for p in with_id)
    # Where IVR's scenario 1 has it: right after callCount.
    keys = list(with_id[0])
    assert keys[keys.index("callCount") + 1] == "clientRequestId"
    for name in ("ivr-menu", "ivr-inbound-bridged-busy", "hunt-group-3-legs"):
        assert all("clientRequestId" not in p["payload"] for p in generate(name, seed=3, n=50))


@pytest.mark.parametrize("name", ["ivr-menu", "masking-completed-completed", "hunt-group-3-legs"])
def test_inbound_legs_carry_destination_ref_and_no_source_ref(name: str) -> None:
    for payload in generate(name, seed=2, n=20):
        for leg in legs_of(payload):
            if leg["callDirection"] == "INBOUND":
                assert "sourceRefId" not in leg
                assert isinstance(leg["destinationRefId"], str)
            else:
                assert isinstance(leg["sourceRefId"], str)
                assert "destinationRefId" not in leg


def off_by(leg: dict[str, Any]) -> int:
    if "connectedTimestamp" not in leg:
        return 0
    span = stamp(leg["disconnectedTimestamp"]) - stamp(leg["connectedTimestamp"])
    return int(leg["callDuration"] - span.total_seconds())


@pytest.mark.parametrize("name", ["ivr-outbound-bridged-answered", "masking-completed-completed"])
def test_ivr_and_masking_durations_are_rounded_from_sub_second_instants(name: str) -> None:
    offsets = Counter(off_by(leg) for p in generate(name, seed=4, n=300) for leg in legs_of(p))
    assert set(offsets) == {-1, 0, 1}
    # Uniform fractions: about an eighth of legs each way.
    total = sum(offsets.values())
    assert 0.05 < offsets[-1] / total < 0.2
    assert 0.05 < offsets[1] / total < 0.2


def test_messaging_durations_equal_their_timestamps() -> None:
    assert {off_by(leg) for p in generate("completed", seed=4, n=300) for leg in legs_of(p)} == {0}


def test_masking_uses_the_sub_account_forms_of_its_page() -> None:
    stream = generate("masking-completed-busy", seed=1, n=100)
    accounts = {p["payload"]["subAccountId"] for p in stream}
    assert len(accounts) > 1
    assert all("_" in a and a == a.lower() for a in accounts)


def test_masking_callers_leg_is_answered_when_the_hidden_party_answers() -> None:
    for payload in generate("masking-completed-completed", seed=5, n=20):
        call_a, call_b = legs_of(payload)
        assert call_a["connectedTimestamp"] == call_b["connectedTimestamp"]


@pytest.mark.parametrize("product", ["messaging", "ivr", "masking"])
def test_each_products_scenarios_pass_strict_mode_of_their_own_page(product: str) -> None:
    chosen = [s for s in SINGLE if s.product == product and not s.quirk]
    assert chosen
    for scenario in chosen:
        for payload in generate(scenario, seed=9, n=10):
            assert validate(payload, strict=True, product=product) == [], scenario.name
            assert validate(payload, strict=True) == [], scenario.name


def test_ivr_scenarios_draw_only_ivr_last_actions_and_no_opt_out() -> None:
    for scenario in SINGLE:
        if scenario.product != "ivr":
            continue
        for payload in generate(scenario, seed=6, n=30):
            assert payload["payload"]["lastAction"] in PRODUCT_LAST_ACTIONS["ivr"]
            assert payload["payload"]["sessionStatus"] in PRODUCT_SESSION_STATUSES["ivr"]


def test_opt_out_already_unsubscribed_places_no_call() -> None:
    p = next(generate("opt-out-already-unsubscribed", seed=1))["payload"]
    assert p["callCount"] == 0
    assert p["details"] == {}
    assert p["startTime"] == p["endTime"]


# --- time anchoring --------------------------------------------------------------------------


def test_default_timestamps_fall_in_2024_2025() -> None:
    for seed in range(20):
        start = stamp(next(generate("completed", seed=seed))["payload"]["startTime"])
        assert 2024 <= start.year <= 2025


def test_start_at_anchors_the_first_session_and_later_ones_follow() -> None:
    anchor = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    starts = [
        stamp(p["payload"]["startTime"]) for p in generate("mixed", seed=1, n=200, start_at=anchor)
    ]
    assert starts[0] == anchor
    assert all(a < b for a, b in pairwise(starts))


def test_naive_start_at_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="time zone"):
        generate("completed", seed=1, start_at=datetime(2026, 1, 1))


# --- overrides -------------------------------------------------------------------------------


def test_overrides_set_fields_in_every_payload() -> None:
    sets = [
        parse_override("payload.subAccountId=acme-prod"),
        parse_override("payload.details.callA.callType=VOIP"),
        parse_override('payload.extra={"a": [1, 2]}'),
        parse_override("payload.callCount=1"),
    ]
    for p in generate("completed", seed=1, n=5, overrides=sets):
        assert p["payload"]["subAccountId"] == "acme-prod"
        assert legs_of(p)[0]["callType"] == "VOIP"
        assert p["payload"]["extra"] == {"a": [1, 2]}
        assert p["payload"]["callCount"] == 1


def test_override_value_is_json_when_it_parses_else_a_string() -> None:
    assert parse_override("a.b=12") == ("a.b", 12)
    assert parse_override('a.b="12"') == ("a.b", "12")
    assert parse_override("a.b=null") == ("a.b", None)
    assert parse_override("a.b=acme prod=1") == ("a.b", "acme prod=1")


@pytest.mark.parametrize("text", ["payload.subAccountId", "=x", "payload..x=1", "a b=1"])
def test_malformed_override_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="PATH=VALUE"):
        parse_override(text)


def test_override_through_a_missing_object_names_the_path() -> None:
    with pytest.raises(UsageError, match=r"payload\.details\.callB"):
        generate("completed", seed=1, overrides=[("payload.details.callB.callType", "VOIP")])
    with pytest.raises(UsageError, match=r"payload\.sessionId\.x"):
        apply_override({"payload": {"sessionId": "s"}}, "payload.sessionId.x", 1)


def test_negative_count_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="-n"):
        generate("completed", seed=1, n=-1)


def test_scenario_file_overrides_apply(tmp_path: Any) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\ndescription: d\noverrides:\n  payload.subAccountId: acme-eu\n"
        "session: {status: BUSY}\nlegs:\n  - {direction: OUTBOUND, status: BUSY}\n"
    )
    payloads = list(generate(load_scenario(path), seed=1, n=3))
    assert {p["payload"]["subAccountId"] for p in payloads} == {"acme-eu"}
    assert all(validate(p) == [] for p in payloads)


def test_unsettable_override_in_a_scenario_file_names_file_and_line(tmp_path: Any) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\ndescription: d\nsession: {status: BUSY}\n"
        "legs:\n  - {direction: OUTBOUND, status: BUSY}\n"
        "overrides:\n  payload.details.callB.callType: VOIP\n"
    )
    with pytest.raises(ScenarioError, match=rf"^{re.escape(str(path))}:7: .*callB"):
        next(generate(path, seed=1))


def write_mix_with_a_bad_member(tmp_path: Any) -> Any:
    (tmp_path / "one-leg.yaml").write_text(
        "name: one-leg\ndescription: d\nsession: {status: BUSY}\n"
        "legs:\n  - {direction: OUTBOUND, status: BUSY}\n"
        "overrides:\n  payload.details.callB.callType: VOIP\n"
    )
    blend = tmp_path / "blend.yaml"
    blend.write_text(
        "name: blend\ndescription: d\nmix:\n  - {scenario: completed, weight: 95}\n"
        "  - {scenario: ./one-leg.yaml, weight: 5}\n"
    )
    return blend


def test_a_mix_members_bad_override_fails_before_the_first_payload(tmp_path: Any) -> None:
    blend = load_scenario(write_mix_with_a_bad_member(tmp_path))
    with pytest.raises(ScenarioError, match=r"one-leg\.yaml:7: \$\.overrides\..*callB"):
        generate(blend, seed=1, n=100)


def test_a_set_that_fails_on_a_later_mix_member_fails_before_the_first_payload() -> None:
    # opt-out-unsubscribed places no call: its details are empty, so callA cannot be set.
    with pytest.raises(UsageError, match=r"--set payload\.details\.callA\.callType: mixed/"):
        generate("mixed", seed=1, n=1000, overrides=[("payload.details.callA.callType", "VOIP")])


def test_rehearsing_overrides_leaves_the_bytes_unchanged() -> None:
    plain = [dumps(p) for p in generate("mixed", seed=5, n=30)]
    overridden = generate("mixed", seed=5, n=30, overrides=[("payload.subAccountId", "acme-x")])
    expected = []
    for text in plain:
        payload = json.loads(text)
        payload["payload"]["subAccountId"] = "acme-x"
        expected.append(dumps(payload))
    assert [dumps(p) for p in overridden] == expected


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e999", "[1, 1e999]"])
def test_set_values_that_are_not_finite_are_usage_errors(raw: str) -> None:
    with pytest.raises(UsageError, match="not JSON"):
        parse_override(f"payload.details.callA.callQuality.mos={raw}")


def test_set_values_that_merely_start_like_a_constant_stay_strings() -> None:
    assert parse_override("payload.subAccountId=Infinity-voice")[1] == "Infinity-voice"
    assert parse_override('payload.subAccountId="NaN"')[1] == "NaN"


def test_dumps_refuses_values_json_cannot_carry() -> None:
    with pytest.raises(ValueError, match="JSON"):
        dumps({"mos": float("nan")})
    with pytest.raises(UsageError, match="not JSON"):
        generate("completed", seed=1, overrides=[("payload.x", float("inf"))])


@pytest.mark.parametrize(
    "start", [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)]
)
def test_start_at_outside_1970_to_9000_is_a_usage_error(start: datetime) -> None:
    with pytest.raises(UsageError, match="between the years 1970 and 9000"):
        generate("completed", seed=1, start_at=start)


def test_start_at_at_the_bounds_formats_four_digit_years() -> None:
    for start, year in (
        (datetime(1970, 1, 1, tzinfo=UTC), "1970"),
        (datetime(9000, 12, 31, tzinfo=UTC), "9000"),
    ):
        payload = next(generate("completed", seed=1, start_at=start))
        assert payload["payload"]["startTime"].startswith(year)
        assert validate(payload) == []
