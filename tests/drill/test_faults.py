"""Faults on purpose: their grammar, their seeded decisions, the burst gate's states."""

from __future__ import annotations

import random

import pytest

from emitter.drill import (
    BurstGate,
    DuplicatePlan,
    Faults,
    ReorderWindow,
    fault_rng,
    parse_burst_rate,
    parse_fraction,
    parse_reorder,
    reorder,
)
from emitter.errors import UsageError


@pytest.mark.parametrize(
    ("text", "value"), [("5%", 0.05), ("0.05", 0.05), ("0", 0.0), ("100%", 1.0)]
)
def test_fraction_reads_percent_or_ratio(text: str, value: float) -> None:
    assert parse_fraction(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["5", "150%", "-1%", "half", ""])
def test_bad_fraction_shows_both_forms(text: str) -> None:
    with pytest.raises(UsageError, match=r"Invalid --duplicates .*e\.g\. `--duplicates 5%`"):
        parse_fraction(text)


def test_reorder_window_is_sessions_or_seconds() -> None:
    assert parse_reorder("20") == ReorderWindow(sessions=20)
    assert parse_reorder("2s") == ReorderWindow(seconds=2.0)
    for bad in ("1", "0", "soon", "-3"):
        with pytest.raises(UsageError, match=r"e\.g\. `--reorder 20` or `--reorder 2s`"):
            parse_reorder(bad)


def test_burst_rate_defaults_to_max() -> None:
    assert parse_burst_rate(None) is None
    assert parse_burst_rate("max") is None
    assert parse_burst_rate("500/s") == 500.0
    with pytest.raises(UsageError, match="--burst-after-failure 500/s"):
        parse_burst_rate("fast")


def test_duplicate_plan_picks_about_the_fraction() -> None:
    plan = DuplicatePlan(0.05, random.Random(1))
    delays = [plan.draw() for _ in range(20_000)]
    picked = [d for d in delays if d is not None]
    assert 850 < len(picked) < 1150
    assert plan.planned == len(picked)
    immediate = [d for d in picked if d == 0.0]
    later = [d for d in picked if d > 0.0]
    assert 0.4 < len(immediate) / len(picked) < 0.6
    assert max(later) <= plan.max_delay_s


def test_duplicate_plan_is_the_same_for_the_same_seed() -> None:
    first = DuplicatePlan(0.1, fault_rng(7, "duplicates"))
    second = DuplicatePlan(0.1, fault_rng(7, "duplicates"))
    other = DuplicatePlan(0.1, fault_rng(8, "duplicates"))
    a = [first.draw() for _ in range(500)]
    assert a == [second.draw() for _ in range(500)]
    assert a != [other.draw() for _ in range(500)]


def test_reorder_by_sessions_moves_nothing_further_than_the_window() -> None:
    out = list(reorder(range(1000), ReorderWindow(sessions=10), random.Random(3)))
    assert sorted(out) == list(range(1000))
    assert out != list(range(1000))
    assert all(abs(position - item) < 10 for position, item in enumerate(out))


def test_reorder_by_seconds_follows_the_schedule() -> None:
    # 100/s with a 0.5 s window: blocks of 50 consecutive sends.
    out = list(
        reorder(range(300), ReorderWindow(seconds=0.5), random.Random(3), offset=lambda i: i / 100)
    )
    assert sorted(out) == list(range(300))
    assert all(position // 50 == item // 50 for position, item in enumerate(out))


def test_reorder_by_seconds_needs_a_schedule() -> None:
    with pytest.raises(UsageError, match="--reorder 20"):
        list(reorder(range(3), ReorderWindow(seconds=1.0), random.Random(0)))


def test_reorder_is_deterministic_and_streams() -> None:
    def source():  # type: ignore[no-untyped-def]
        yield from range(50)
        raise AssertionError("read past what was asked for")

    stream = reorder(source(), ReorderWindow(sessions=5), fault_rng(1, "reorder"))
    first = [next(stream) for _ in range(10)]
    again = reorder(range(50), ReorderWindow(sessions=5), fault_rng(1, "reorder"))
    assert first == [next(again) for _ in range(10)]


def test_gate_holds_only_after_failing_for_a_while() -> None:
    gate: BurstGate[str] = BurstGate(hold_after_s=1.0, probe_every_s=0.5, rate=10.0)
    gate.result(10.0, ok=False)
    assert gate.admit("a", 10.2)  # failing, not yet for long
    gate.result(10.9, ok=False)
    assert gate.admit("b", 10.95)
    gate.result(11.0, ok=False)
    assert gate.holding
    assert gate.holds == 1
    assert not gate.admit("c", 11.1)
    assert not gate.admit("d", 11.2)
    assert gate.probe(11.2) is None  # first probe due at 11.5
    assert gate.probe(11.5) == "c"
    gate.result(11.6, ok=False)  # the probe failed: it is held again
    gate.hold("c")
    assert gate.release(11.6) == []  # nothing leaves while holding
    assert gate.probe(11.7) is None
    assert gate.probe(12.0) == "d"
    gate.result(12.1, ok=True)
    assert not gate.holding
    released = gate.release(12.2)
    assert released == [(12.2, "c")]
    assert gate.held_total == 3
    assert gate.released_total == 1


def test_gate_releases_at_its_rate_from_the_recovery() -> None:
    gate: BurstGate[int] = BurstGate(hold_after_s=0.0, rate=100.0)
    gate.result(1.0, ok=False)
    for i in range(5):
        assert not gate.admit(i, 1.0 + i / 10)
    gate.result(2.0, ok=True)
    released = gate.release(2.0)
    assert [item for _, item in released] == [0, 1, 2, 3, 4]
    assert [due for due, _ in released] == pytest.approx([2.0, 2.01, 2.02, 2.03, 2.04])
    assert gate.release(2.5) == []


def test_gate_at_max_releases_everything_at_once() -> None:
    gate: BurstGate[int] = BurstGate(hold_after_s=0.0)
    gate.result(1.0, ok=False)
    gate.admit(1, 1.0)
    gate.admit(2, 1.0)
    gate.result(3.0, ok=True)
    assert gate.release(3.5) == [(3.5, 1), (3.5, 2)]


def test_an_ack_while_failing_resets_the_clock() -> None:
    gate: BurstGate[int] = BurstGate(hold_after_s=1.0)
    gate.result(0.0, ok=False)
    gate.result(0.5, ok=True)
    gate.result(1.2, ok=False)
    assert not gate.holding
    assert gate.failing


def test_faults_describe_themselves_for_the_report() -> None:
    faults = Faults(duplicates=0.05, reorder=ReorderWindow(seconds=2.0), burst=True)
    assert faults.any
    described = faults.as_dict()
    assert described["duplicates"] == 0.05
    assert described["reorder"] == "2s"
    assert described["burst_after_failure"] == {
        "rate": "max",
        "hold_after_s": 1.0,
        "probe_every_s": 1.0,
    }
    assert not Faults().any
