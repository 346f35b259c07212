"""Open-loop pacing with a fake clock: schedule, ramp, late sends, `max`, parsing of rates."""

from __future__ import annotations

import math

import pytest

from emitter._pacing import Pacer, Slot, parse_duration, parse_rate
from emitter.errors import UsageError


def claim_all(pacer: Pacer, now: float, count: int) -> list[Slot]:
    slots = []
    for _ in range(count):
        slot = pacer.claim(now)
        assert slot is not None
        slots.append(slot)
    return slots


def test_request_i_is_due_at_start_plus_i_over_rate() -> None:
    pacer = Pacer(rate=50.0)
    pacer.start(1000.0)
    slots = claim_all(pacer, 1000.0, 5)
    assert [s.index for s in slots] == [0, 1, 2, 3, 4]
    assert [s.scheduled for s in slots] == pytest.approx(
        [1000.0, 1000.02, 1000.04, 1000.06, 1000.08]
    )


def test_schedule_ignores_how_late_claims_come() -> None:
    # Open loop: a slow receiver delays the claims, never the due times.
    pacer = Pacer(rate=10.0)
    pacer.start(0.0)
    first = pacer.claim(0.0)
    second = pacer.claim(5.0)
    assert first is not None
    assert second is not None
    assert second.scheduled == pytest.approx(0.1)


def test_linear_ramp_reaches_the_rate_after_the_ramp() -> None:
    rate, ramp = 100.0, 10.0
    pacer = Pacer(rate=rate, ramp_s=ramp)
    # R*T/2 = 500 requests during the ramp; request k is due at sqrt(2*T*k/R).
    assert pacer.offset(0) == 0.0
    assert pacer.offset(125) == pytest.approx(5.0)
    assert pacer.offset(500) == pytest.approx(10.0)
    assert pacer.offset(600) == pytest.approx(11.0)
    gaps = [pacer.offset(k + 1) - pacer.offset(k) for k in range(0, 500, 50)]
    assert gaps == sorted(gaps, reverse=True)  # ever faster during the ramp
    assert pacer.offset(801) - pacer.offset(800) == pytest.approx(1 / rate)


def test_count_by_time_matches_the_ramp_integral() -> None:
    pacer = Pacer(rate=200.0, ramp_s=4.0)
    due = [pacer.offset(k) for k in range(2000)]
    sent_by_2s = sum(1 for t in due if t < 2.0)
    assert sent_by_2s == pytest.approx(200.0 * 2.0**2 / (2 * 4.0), abs=1)


def test_send_after_the_tolerance_is_late_and_counted() -> None:
    pacer = Pacer(rate=100.0, late_after_s=0.010)
    pacer.start(0.0)
    on_time, jitter, behind = claim_all(pacer, 0.0, 3)
    assert not pacer.sent(on_time, 0.0)
    assert not pacer.sent(jitter, jitter.scheduled + 0.009)
    assert pacer.sent(behind, behind.scheduled + 0.5)
    assert pacer.late == 1


def test_late_claim_keeps_its_due_time_for_latency() -> None:
    # Every sender busy for a second: the next claim is late, its due time unchanged, so
    # latency measured from it includes the wait (no coordinated omission).
    pacer = Pacer(rate=100.0)
    pacer.start(0.0)
    claim_all(pacer, 0.0, 10)
    slot = pacer.claim(1.0)
    assert slot is not None
    assert slot.scheduled == pytest.approx(0.1)
    assert pacer.sent(slot, 1.0)


def test_max_rate_is_due_at_claim_and_never_late() -> None:
    pacer = Pacer(rate=None)
    pacer.start(10.0)
    slot = pacer.claim(12.5)
    assert slot == Slot(0, 12.5)
    assert not pacer.sent(slot, 99.0)
    assert pacer.late == 0


def test_duration_stops_claims_at_the_first_slot_past_the_end() -> None:
    pacer = Pacer(rate=10.0, duration_s=1.0)
    pacer.start(0.0)
    slots = []
    while (slot := pacer.claim(0.0)) is not None:
        slots.append(slot)
    assert len(slots) == 10
    assert slots[-1].scheduled == pytest.approx(0.9)


def test_max_rate_duration_is_wall_time() -> None:
    pacer = Pacer(rate=None, duration_s=2.0)
    pacer.start(0.0)
    assert pacer.claim(1.999) is not None
    assert pacer.claim(2.0) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("50/s", 50.0), ("3000/m", 50.0), (" 2.5/s ", 2.5), ("MAX", None), ("max", None)],
)
def test_rates_parse(text: str, expected: float | None) -> None:
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["10x", "50", "0/s", "-5/s", "/s", "50/h", ""])
def test_bad_rate_names_the_value_and_the_expected_form(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_rate(text)
    assert str(info.value) == f"Invalid rate `{text}`: expected N/s, N/m or max, e.g. `50/s`"


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30.0), ("5m", 300.0), ("1h", 3600.0), ("90", 90.0), ("0.5", 0.5)]
)
def test_durations_parse(text: str, seconds: float) -> None:
    assert math.isclose(parse_duration(text), seconds)


@pytest.mark.parametrize("text", ["", "5d", "0", "abc", "-3s"])
def test_bad_duration_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="Invalid duration"):
        parse_duration(text)
