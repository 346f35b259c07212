"""Figures from made-up attempt streams: per stage, per fault, per outage."""

from __future__ import annotations

from pathlib import Path

import pytest

from emitter.drill import (
    DUPLICATE,
    FIRST,
    RELEASE,
    RETRY,
    DrillSettings,
    DrillState,
    Faults,
    Recorder,
    StagePlan,
    fault_counts,
    outages,
    parse_slo,
    parse_stages,
    recovery_seconds,
    stage_figures,
)
from emitter.report._drill import format_drill
from emitter.sources import Item


def _on_time(recorder: Recorder, plan: StagePlan, *, start: float, latency: float) -> None:
    for i in range(plan.total):
        due = start + plan.offset(i)
        recorder.observe(index=i, kind=FIRST, scheduled=due, sent=due, done=due + latency, ok=True)


def test_a_run_that_kept_up_achieves_each_stage_target_exactly() -> None:
    plan = StagePlan(parse_stages("2s:100/s,1s:100->300/s,2s:50/s"))
    recorder = Recorder()
    _on_time(recorder, plan, start=1000.0, latency=0.004)
    stages = stage_figures(recorder, plan, start=1000.0)
    assert [s.sent for s in stages] == [200, 200, 100]
    assert [s.achieved_rate for s in stages] == pytest.approx([100.0, 200.0, 50.0])
    assert [s.failed for s in stages] == [0, 0, 0]
    first = stages[0].as_dict()
    assert first["target_rate"] == 100.0
    assert first["latency_ms"]["p99"] == pytest.approx(4.0, rel=0.01)


def test_a_slot_due_at_a_stage_boundary_belongs_to_the_new_stage() -> None:
    plan = StagePlan(parse_stages("0.1s:100/s,0.1s:100/s,0.1s:100/s,0.7s:100/s"))
    for start in (123_456.789, 5.3, 3141.5926):  # (start + 0.2) - start is 0.19999999999…
        recorder = Recorder()
        _on_time(recorder, plan, start=start, latency=0.001)
        assert [s.sent for s in stage_figures(recorder, plan, start=start)] == [10, 10, 10, 70]


def test_a_sender_that_fell_behind_shows_a_lower_achieved_rate() -> None:
    plan = StagePlan(parse_stages("1s:100/s"))
    recorder = Recorder()
    for i in range(100):
        due = plan.offset(i)
        sent = i / 80.0  # the sender managed 80/s
        recorder.observe(
            index=i,
            kind=FIRST,
            scheduled=due,
            sent=sent,
            done=sent,
            ok=True,
            late=sent > due + 0.01,
        )
    (stage,) = stage_figures(recorder, plan, start=0.0)
    assert stage.achieved_rate == pytest.approx(81.0)  # sends 0..80 left within the second
    assert stage.late > 70


def test_a_few_late_sends_at_a_stage_end_cost_those_sends_not_the_rate() -> None:
    plan = StagePlan(parse_stages("1s:400/s,1s:400/s"))
    recorder = Recorder()
    for i in range(800):
        due = plan.offset(i)
        sent = due + (0.030 if 396 <= i < 400 else 0.0)  # the stage's last four, 30 ms late
        recorder.observe(index=i, kind=FIRST, scheduled=due, sent=sent, done=sent, ok=True)
    first, second = stage_figures(recorder, plan, start=0.0)
    assert first.achieved_rate == pytest.approx(396.0)  # within 1%
    assert second.achieved_rate == pytest.approx(400.0)


def test_retries_count_in_the_stage_of_the_first_send() -> None:
    plan = StagePlan(parse_stages("1s:10/s,1s:10/s"))
    recorder = Recorder()
    recorder.observe(index=0, kind=FIRST, scheduled=0.0, sent=0.0, done=0.01, ok=False)
    recorder.observe(index=1, kind=FIRST, scheduled=0.1, sent=0.1, done=0.11, ok=True)
    recorder.observe(index=1, kind=DUPLICATE, scheduled=0.2, sent=0.2, done=0.21, ok=True)
    recorder.observe(index=0, kind=RETRY, scheduled=1.5, sent=1.5, done=1.51, ok=True)
    recorder.observe(index=10, kind=FIRST, scheduled=1.0, sent=1.0, done=1.01, ok=False)
    first, second = stage_figures(recorder, plan, start=0.0)
    assert (first.sent, first.acked, first.failed, first.retried) == (2, 2, 0, 1)
    assert (second.sent, second.acked, second.failed) == (1, 0, 1)


def test_fault_counts_tell_duplicates_and_releases_apart() -> None:
    recorder = Recorder()
    recorder.observe(index=0, kind=FIRST, scheduled=0, sent=0, done=0.1, ok=True)
    recorder.observe(index=0, kind=DUPLICATE, scheduled=0.1, sent=0.1, done=0.2, ok=True)
    recorder.observe(index=1, kind=DUPLICATE, scheduled=0.1, sent=0.1, done=0.2, ok=False)
    recorder.observe(index=2, kind=RELEASE, scheduled=0.1, sent=0.1, done=0.2, ok=True)
    assert fault_counts(recorder) == {
        "duplicates_sent": 2,
        "duplicates_acked": 1,
        "duplicates_not_acked": 1,
        "released": 1,
    }


def _outage_run() -> Recorder:
    """10/s for 10 s; the receiver refuses from 3.0 s to 6.0 s; retries at +1, +2, +4 s."""
    recorder = Recorder()
    down = (3.0, 6.0)
    for i in range(100):
        due = i / 10.0
        t, attempt, delays = due, 0, [1.0, 2.0, 4.0]
        while True:
            ok = not down[0] <= t < down[1]
            recorder.observe(
                index=i,
                kind=FIRST if attempt == 0 else RETRY,
                scheduled=t,
                sent=t,
                done=t + 0.002,
                ok=ok,
            )
            if ok or attempt == len(delays):
                break
            t += delays[attempt]
            attempt += 1
    return recorder


def test_an_outage_gives_its_window_and_recovery() -> None:
    (outage,) = outages(_outage_run())
    assert outage.started == pytest.approx(3.0)
    assert outage.ended == pytest.approx(6.0)
    assert outage.affected == 30
    assert outage.unrecovered == 0
    # Sent at 4.9 s, it failed again at 5.9 s and was acked at its second retry, 7.9 s: the
    # last of the outage's sessions to be acked.
    assert outage.recovered == pytest.approx(7.902)
    assert outage.recovery_s == pytest.approx(1.902)
    assert outage.backlog_p99_ms == pytest.approx(2.0, rel=0.01)
    shown = outage.as_dict(start=0.0, wall=1_700_000_000.0)
    assert shown["start_s"] == 3.0
    assert shown["end_s"] == 6.0
    assert shown["duration_s"] == 3.0
    assert shown["started_at"] == "2023-11-14T22:13:23.000Z"
    assert recovery_seconds([outage]) == pytest.approx(1.902)


def test_sessions_never_acked_leave_the_outage_unrecovered() -> None:
    recorder = Recorder()
    for i in range(5):
        recorder.observe(index=i, kind=FIRST, scheduled=i, sent=i, done=i, ok=False)
    recorder.observe(index=5, kind=FIRST, scheduled=5, sent=5, done=5, ok=True)
    (outage,) = outages(recorder)
    assert outage.unrecovered == 5
    assert outage.recovery_s is None
    assert recovery_seconds([outage]) is None


def test_a_lone_failure_or_a_failed_duplicate_is_no_outage() -> None:
    recorder = Recorder()
    for i in range(10):
        recorder.observe(index=i, kind=FIRST, scheduled=i, sent=i, done=i, ok=i != 4)
        recorder.observe(index=i, kind=DUPLICATE, scheduled=i, sent=i + 0.5, done=i, ok=False)
    assert outages(recorder) == []
    assert recovery_seconds([]) == 0.0


def test_a_drill_judges_its_thresholds_and_lists_each_stage() -> None:
    settings = DrillSettings(
        stages=parse_stages("1s:100/s,1s:200/s"),
        faults=Faults(duplicates=0.1),
        slo=parse_slo("p99<1ms,failed=0,recovery<5s"),
    )
    state = DrillState(settings, seed=3)
    state.started(50.0, wall=1_700_000_000.0)
    plan = state.plan
    assert plan is not None
    for i in range(plan.total):
        due = 50.0 + plan.offset(i)
        state.attempt_done(index=i, kind=FIRST, scheduled=due, sent=due, done=due + 0.003, ok=True)
        if state.duplicate_delay() is not None:
            state.attempt_done(index=i, kind=DUPLICATE, scheduled=due, sent=due, done=due, ok=True)
    result = state.result(latency_ms=lambda q: 3.0, max_ms=3.0, sent=300, failed=0, late=0)
    assert [v.ok for v in result.verdicts] == [False, True, True]
    assert [b.threshold.text for b in result.broken] == ["p99<1ms"]
    assert result.failed
    report = result.as_dict()
    assert [s["achieved_rate"] for s in report["stages"]] == [100.0, 200.0]
    assert report["faults"]["duplicates_sent"] == report["faults"]["duplicates_planned"] > 0
    assert report["faults"]["seed"] == 3
    assert report["slo"]["ok"] is False
    lines = "\n".join(format_drill(result))
    assert "1s:100/s" in lines
    assert "1s:200/s" in lines
    assert "slo BROKEN p99<1ms: 3.0 ms (limit < 1 ms)" in lines


def test_a_duplicate_the_receiver_did_not_ack_fails_the_drill() -> None:
    state = DrillState(DrillSettings(faults=Faults(duplicates=1.0)), seed=1)
    state.attempt_done(index=0, kind=FIRST, scheduled=0, sent=0, done=0, ok=True)
    state.attempt_done(index=0, kind=DUPLICATE, scheduled=0, sent=0, done=0, ok=False)
    result = state.result(latency_ms=lambda q: 1.0, max_ms=1.0, sent=1, failed=0, late=0)
    assert result.broken == ()
    assert result.failed


def _item(index: int) -> Item:
    return Item(index, f"s-{index}", b"{}", f"f:{index + 1}")


def test_an_acked_payload_picked_for_duplication_gets_its_redelivery() -> None:
    state = DrillState(DrillSettings(faults=Faults(duplicates=1.0)), seed=5)
    item = _item(0)
    assert state.admit(item, scheduled=1.0, slot=0, now=1.0)
    followups, held = state.finished(
        item, attempt=1, scheduled=1.0, sent=1.0, now=1.01, ok=True, late=False, final=True
    )
    assert not held
    (dup,) = followups
    assert dup.attempt == 0
    assert dup.item is item
    assert dup.due >= 1.01
    again, _ = state.finished(
        item,
        attempt=0,
        scheduled=dup.due,
        sent=dup.due,
        now=dup.due,
        ok=True,
        late=False,
        final=True,
    )
    assert again == []  # a duplicate is never duplicated
    assert fault_counts(state.recorder)["duplicates_sent"] == 1


def test_a_failed_payload_is_duplicated_only_once_acked() -> None:
    state = DrillState(DrillSettings(faults=Faults(duplicates=1.0)), seed=5)
    item = _item(0)
    state.admit(item, scheduled=0.0, slot=0, now=0.0)
    out, _ = state.finished(
        item, attempt=1, scheduled=0, sent=0, now=0.1, ok=False, late=False, final=False
    )
    assert out == []
    out, _ = state.finished(
        item, attempt=2, scheduled=1, sent=1, now=1.1, ok=True, late=False, final=True
    )
    assert [f.attempt for f in out] == [0]


def test_the_burst_gate_holds_then_releases_through_the_engine_seams() -> None:
    faults = Faults(burst=True, burst_rate=100.0, hold_after_s=0.5, probe_every_s=1.0)
    state = DrillState(DrillSettings(faults=faults), seed=1)
    a, b, c = _item(0), _item(1), _item(2)
    assert state.admit(a, scheduled=0.0, slot=0, now=0.0)
    _, held = state.finished(
        a, attempt=1, scheduled=0, sent=0, now=0.1, ok=False, late=False, final=True
    )
    assert held  # a failure with no retry left is kept for the burst, never lost
    assert state.admit(b, scheduled=0.5, slot=1, now=0.5)  # failing, not for long: sent
    _, held = state.finished(
        b, attempt=1, scheduled=0.5, sent=0.5, now=0.7, ok=False, late=False, final=True
    )
    assert held
    assert not state.admit(c, scheduled=0.8, slot=2, now=0.8)  # failing for 0.6 s: held
    assert state.holding
    assert state.poll(1.0) == []
    (probe,) = state.poll(1.7)
    assert probe.item is a
    assert probe.attempt == 2
    out, _ = state.finished(
        a, attempt=2, scheduled=1.7, sent=1.7, now=1.72, ok=True, late=False, final=True
    )
    # Both keep their first due time (b's retry too): their latency shows the hold.
    assert [(f.item, f.attempt, f.slot, f.scheduled) for f in out] == [
        (b, 2, None, 0.5),
        (c, 1, 2, 0.8),
    ]
    assert [f.due for f in out] == pytest.approx([1.72, 1.73])
    assert not state.holding
    state.finished(c, attempt=1, scheduled=0.8, sent=1.72, now=1.73, ok=True, late=True, final=True)
    assert fault_counts(state.recorder)["released"] == 1
    result = state.result(latency_ms=lambda q: 1.0, max_ms=1.0, sent=3, failed=1, late=1)
    assert result.faults["held"] == 3
    assert result.faults["holds"] == 1


def test_held_sessions_are_abandoned_once_the_drain_time_is_over() -> None:
    faults = Faults(burst=True, hold_after_s=0.0, drain_s=5.0)
    state = DrillState(DrillSettings(faults=faults), seed=1)
    a, b = _item(0), _item(1)
    state.admit(a, scheduled=0, slot=0, now=0)
    state.finished(a, attempt=1, scheduled=0, sent=0, now=0.1, ok=False, late=False, final=True)
    assert not state.admit(b, scheduled=1, slot=1, now=1)
    assert not state.expired(2.0, idle=False)
    assert not state.expired(3.0, idle=True)  # the schedule ended at 3.0 s
    assert not state.expired(7.9, idle=True)
    assert state.expired(8.0, idle=True)
    assert [f.item for f in state.abandon()] == [a, b]
    assert not state.holding


def test_verify_sampling_is_seeded_and_keeps_acked_payloads_only(tmp_path: Path) -> None:
    settings = DrillSettings(verify=tmp_path / "v.yaml", verify_sample=0.5)
    picks = []
    for _ in range(2):
        state = DrillState(settings, seed=9)
        for i in range(200):
            item = _item(i)
            state.admit(item, scheduled=0, slot=i, now=0)
            state.finished(
                item, attempt=1, scheduled=0, sent=0, now=0, ok=i % 10 != 0, late=False, final=True
            )
        picks.append([item.index for _, item in state.acked_to_verify()])
    assert picks[0] == picks[1]
    assert 70 < len(picks[0]) < 130
    assert all(index % 10 for index in picks[0])
