"""The --slo grammar and how a run's figures are judged against it."""

from __future__ import annotations

import pytest

from emitter.drill import Actuals, check_thresholds, evaluate, parse_slo, parse_threshold
from emitter.errors import UsageError


def _actuals(**overrides: object) -> Actuals:
    base: dict[str, object] = {
        "latency_ms": lambda q: {50.0: 4.0, 99.0: 212.4, 99.9: 480.0}.get(q, 10.0),
        "max_ms": 900.0,
        "sent": 1000,
        "failed": 2,
        "late": 0,
    }
    base.update(overrides)
    return Actuals(**base)  # type: ignore[arg-type]


def test_the_issue_example_parses() -> None:
    thresholds = parse_slo("p99<500ms,failed<0.1%,lost=0,stored_twice=0")
    assert [(t.metric, t.op, t.limit, t.percent) for t in thresholds] == [
        ("p99", "<", 500.0, False),
        ("failed", "<", 0.001, True),
        ("lost", "=", 0.0, False),
        ("stored_twice", "=", 0.0, False),
    ]
    assert thresholds[0].quantile == 99.0


def test_latency_limits_take_ms_or_s_and_any_percentile() -> None:
    assert parse_threshold("p99.9<=1.5s").limit == 1500.0
    assert parse_threshold("p99.9<=1.5s").quantile == 99.9
    assert parse_threshold("p999<1s").quantile == 99.9
    assert parse_threshold("p95 < 20ms").quantile == 95.0
    assert parse_threshold("max<2s").quantile is None
    assert parse_threshold("recovery<30s").limit == 30.0
    assert parse_threshold("failed==0").op == "="


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("p99 500ms", "expected METRIC<LIMIT"),
        ("p99<500", "needs a unit"),
        ("p101<5ms", "`p101` is not a percentile: expected p0 to p100"),
        ("speed<5ms", "unknown metric `speed`"),
        ("failed<0.001", "write a ratio as a percentage"),
        ("failed<200%", "more than 100%"),
        ("lost<some", "takes a count or a percentage"),
        ("recovery<soon", "a recovery limit is a duration"),
    ],
)
def test_bad_threshold_names_it_and_shows_examples(text: str, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_slo(f"p99<1s,{text}")
    assert f"Invalid threshold `{text}`" in str(info.value)
    assert fragment in str(info.value)
    assert "e.g. `p99<500ms`" in str(info.value)


def test_p0_and_p100_are_percentiles_like_any_other() -> None:
    assert parse_threshold("p0<5ms").quantile == 0.0
    assert parse_threshold("p100<1s").quantile == 100.0


def test_a_latency_limit_with_nothing_answered_is_not_met() -> None:
    # No attempt finished (a silent receiver cut by --duration): 0 ms would read as "ok".
    verdicts = evaluate(parse_slo("p99<50ms,max<1s,failed<=5"), _actuals(answered=0, failed=0))
    assert [v.ok for v in verdicts] == [False, False, True]
    assert verdicts[0].actual is None
    assert verdicts[0].describe() == (
        "p99<50ms: not measurable: no attempt finished (limit < 50 ms)"
    )
    assert verdicts[0].as_dict()["actual"] is None
    (measured,) = evaluate(parse_slo("p99<500ms"), _actuals(answered=10))
    assert measured.ok


def test_every_threshold_is_judged_with_actual_and_limit() -> None:
    verdicts = evaluate(parse_slo("p99<500ms,p99<50ms,failed<0.1%,failed<=2,max<1s"), _actuals())
    assert [v.ok for v in verdicts] == [True, False, False, True, True]
    broken = verdicts[1]
    assert broken.actual == 212.4
    assert broken.describe() == "p99<50ms: 212.4 ms (limit < 50 ms)"
    assert verdicts[2].actual == pytest.approx(0.002)
    assert verdicts[2].describe() == "failed<0.1%: 0.2% (limit < 0.1%)"
    assert verdicts[1].as_dict() == {
        "threshold": "p99<50ms",
        "metric": "p99",
        "op": "<",
        "limit": 50.0,
        "unit": "ms",
        "actual": 212.4,
        "ok": False,
    }


def test_verify_counts_are_judged_only_when_verified() -> None:
    thresholds = parse_slo("lost=0,stored_twice=0,mismatched<1%")
    unverified = evaluate(thresholds, _actuals())
    assert [v.ok for v in unverified] == [False, False, False]
    assert unverified[0].describe() == "lost=0: not measured"
    verified = evaluate(thresholds, _actuals(verified=200, stored_twice=3, mismatched=1))
    assert [v.ok for v in verified] == [True, False, True]
    assert verified[1].describe() == "stored_twice=0: 3 (limit = 0)"


def test_recovery_that_never_happened_breaks_the_threshold() -> None:
    (verdict,) = evaluate(parse_slo("recovery<10s"), _actuals(recovery_s=None))
    assert not verdict.ok
    (verdict,) = evaluate(parse_slo("recovery<10s"), _actuals(recovery_s=4.2))
    assert verdict.ok


def test_ratios_of_nothing_sent_are_zero() -> None:
    (verdict,) = evaluate(parse_slo("failed<1%"), _actuals(sent=0, failed=0))
    assert verdict.ok
    assert verdict.actual == 0.0


def test_verify_thresholds_without_verify_are_refused_before_the_run() -> None:
    with pytest.raises(UsageError, match="`stored_twice` is counted by reading back"):
        check_thresholds(parse_slo("p99<1s,stored_twice=0"), verify=False)
    check_thresholds(parse_slo("p99<1s,stored_twice=0"), verify=True)
