"""The --stages grammar and the schedule it makes."""

from __future__ import annotations

import itertools

import pytest

from emitter._pacing import Pacer
from emitter.drill import StagePacer, StagePlan, parse_stage, parse_stages, send_instants
from emitter.errors import UsageError


def test_steady_stage_parses_duration_and_rate() -> None:
    stage = parse_stage("2m:200/s")
    assert (stage.duration_s, stage.start_rate, stage.end_rate) == (120.0, 200.0, 200.0)
    assert not stage.is_ramp
    assert stage.count == 24_000


def test_ramp_takes_the_unit_of_its_end() -> None:
    stage = parse_stage("30s:200->2000/s")
    assert (stage.start_rate, stage.end_rate, stage.mean_rate) == (200.0, 2000.0, 1100.0)
    assert parse_stage("1m:0->600/m").end_rate == 10.0


def test_stage_list_keeps_order_and_text() -> None:
    stages = parse_stages("2m:200/s, 30s:2000/s,2m:200/s")
    assert [s.text for s in stages] == ["2m:200/s", "30s:2000/s", "2m:200/s"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("2m200/s", "Invalid stage `2m200/s`: expected DURATION:RATE"),
        ("2x:200/s", "`2x` is not a duration"),
        ("2m:fast", "`fast` is not a rate"),
        ("2m:max", "not `max`"),
        ("30s:0->0/s", "above zero"),
        ("30s:200->2000", "needs a unit"),
        ("0s:200/s", "is not a duration"),
    ],
)
def test_bad_stage_names_the_part_and_shows_an_example(text: str, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_stages(f"1m:100/s,{text}")
    message = str(info.value)
    assert fragment in message
    assert "e.g. `2m:200/s` or `30s:200->2000/s`" in message
    assert "\n" not in message


def test_empty_stage_list_is_refused() -> None:
    with pytest.raises(UsageError, match="expected DURATION:RATE"):
        parse_stages(" , ")


def test_each_stage_holds_its_rate_times_its_length() -> None:
    plan = StagePlan(parse_stages("2s:100/s,1s:1000/s,2s:100/s"))
    assert [plan.planned(k) for k in range(3)] == [200, 1000, 200]
    assert plan.total == 1400
    assert plan.duration_s == 5.0
    assert plan.offset(0) == 0.0
    assert plan.offset(199) == pytest.approx(1.99)
    assert plan.offset(200) == pytest.approx(2.0)
    assert plan.offset(201) == pytest.approx(2.001)
    assert plan.stage_of(1199) == 1
    assert plan.stage_of(1200) == 2


def test_a_steady_stage_matches_the_steady_pacer() -> None:
    plan = StagePlan(parse_stages("10s:250/s"))
    pacer = Pacer(rate=250.0)
    assert [plan.offset(i) for i in range(0, 2500, 97)] == pytest.approx(
        [pacer.offset(i) for i in range(0, 2500, 97)]
    )


def test_a_ramp_climbs_linearly() -> None:
    # 0 -> 100/s over 10 s holds 500 requests; by t the count is 5 t^2.
    plan = StagePlan(parse_stages("10s:0->100/s"))
    assert plan.total == 500
    assert plan.offset(5) == pytest.approx(1.0)
    assert plan.offset(125) == pytest.approx(5.0)
    gaps = [plan.offset(i + 1) - plan.offset(i) for i in range(1, 499)]
    assert all(a > b for a, b in itertools.pairwise(gaps))  # ever closer together


def test_a_falling_ramp_spreads_out() -> None:
    plan = StagePlan(parse_stages("4s:100->0/s"))
    assert plan.total == 200
    assert plan.offset(199) < 4.0
    gaps = [plan.offset(i + 1) - plan.offset(i) for i in range(198)]
    assert all(a < b for a, b in itertools.pairwise(gaps))


def test_fractional_counts_carry_into_the_next_stage() -> None:
    plan = StagePlan(parse_stages("1.5s:3/s,1s:3/s"))  # 4.5 + 3 requests
    assert plan.total == 8
    assert plan.planned(0) + plan.planned(1) == 8
    times = list(send_instants(plan.stages))
    assert times == sorted(times)
    assert times[-1] < plan.duration_s


def test_send_instants_is_a_pure_function() -> None:
    stages = parse_stages("1s:50/s,1s:50->150/s")
    assert list(send_instants(stages)) == list(send_instants(stages))
    assert len(list(send_instants(stages))) == 150


def test_due_span_is_the_stage_length_once_every_request_went() -> None:
    plan = StagePlan(parse_stages("2s:100/s,1s:10/s"))
    assert plan.due_span(0, 200) == 2.0
    assert plan.due_span(0, 100) == pytest.approx(1.0)
    assert plan.due_span(1, 10) == 1.0


def test_stage_pacer_claims_the_whole_plan_then_stops() -> None:
    pacer = StagePacer(StagePlan(parse_stages("1s:10/s,1s:20/s")))
    pacer.start(100.0)
    slots = []
    while (slot := pacer.claim(100.0)) is not None:
        slots.append(slot)
    assert len(slots) == 30
    assert slots[10].scheduled == pytest.approx(101.0)
    assert slots[-1].scheduled == pytest.approx(101.95)
    assert pacer.rate == 20.0


def test_stage_pacer_counts_late_sends_like_the_pacer() -> None:
    pacer = StagePacer(StagePlan(parse_stages("1s:10/s")), late_after_s=0.01)
    pacer.start(0.0)
    first = pacer.claim(0.0)
    second = pacer.claim(0.0)
    assert first is not None
    assert second is not None
    assert pacer.sent(first, 0.005) is False
    assert pacer.sent(second, 0.2) is True
    assert pacer.late == 1


def test_stage_pacer_honours_a_shorter_duration() -> None:
    pacer = StagePacer(StagePlan(parse_stages("10s:10/s")), duration_s=1.0)
    pacer.start(0.0)
    count = 0
    while pacer.claim(0.0) is not None:
        count += 1
    assert count == 10


@pytest.mark.parametrize("stage", ["1.1s:110/s", "0.1s:70/s", "0.3s:70/s"])
def test_each_stage_starts_at_its_first_request_despite_float_sums(stage: str) -> None:
    plan = StagePlan(parse_stages(",".join([stage] * 7)))
    assert [plan.stage_of(plan.first_index(k)) for k in range(7)] == list(range(7))
    assert [plan.stage_of(plan.first_index(k) - 1) for k in range(1, 7)] == list(range(6))
    times = [plan.offset(i) for i in range(plan.total)]
    assert times == sorted(times)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2s:60/m->10/s", 1.0, 10.0),
        ("2s:10/s->60/m", 10.0, 1.0),
        ("2s:10/s->20", 10.0, 20.0),
        ("2s:60->120/m", 1.0, 2.0),
    ],
)
def test_a_ramp_reads_each_end_in_its_own_unit(text: str, start: float, end: float) -> None:
    stage = parse_stage(text)
    assert (stage.start_rate, stage.end_rate) == pytest.approx((start, end))
    assert stage.mean_rate == pytest.approx((start + end) / 2)
