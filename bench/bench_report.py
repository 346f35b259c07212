"""Size of replay's HTML report for a 10-minute run at 1,000/s, and for 30 minutes.

Running 10 and 30 minutes of real traffic for a file size would be waste, so the report is
synthesised from the engine's own building blocks: every one of the 600,000 (1,800,000)
latencies goes through replay's real `Timeline` and HDR `Latencies`, drawn from a seeded
lognormal with slow episodes, over the report dict of a real 1-second replay against the
reference receiver (so every other key is what the engine writes), plus three drill stages, an
outage, two thresholds and the contract coverage of 20,000 `mixed` payloads. What grows with
a run is the timeline (one bucket a second); the percentile curves and coverage do not.
"""

from __future__ import annotations

import random
import sys
import time
from typing import Any

from emitter.coverage import Coverage
from emitter.deliver import DeliveryConfig
from emitter.generator import generate
from emitter.receiver import ReferenceReceiver
from emitter.replay import ReplaySettings, replay
from emitter.replay._stats import Latencies, Timeline, distribution, rounded_us
from emitter.report._html import render_replay_html
from emitter.scenarios import load_scenario

RATE = 1000


def real_report() -> dict[str, Any]:
    with ReferenceReceiver() as receiver:
        report = replay(
            url=receiver.url,
            settings=ReplaySettings(rate=200.0, limit=200),
            config=DeliveryConfig(timeout_s=5.0),
            seed=1,
        )
    return report.as_dict()


def synthesise(base: dict[str, Any], minutes: int, coverage: dict[str, Any]) -> dict[str, Any]:
    rng = random.Random(minutes)
    seconds = minutes * 60
    timeline, from_schedule, from_send = Timeline(), Latencies(), Latencies()
    late = failed = 0
    for second in range(seconds):
        slow = second % 120 in range(40, 44)  # a 4-second slow episode every 2 minutes
        for _ in range(RATE):
            latency = rng.lognormvariate(-5.5, 0.6) * (20 if slow else 1)
            is_late = slow and rng.random() < 0.3
            ok = rng.random() > 0.0005
            timeline.sent(second, is_late)
            timeline.done(second, ok, rounded_us(latency))
            from_schedule.add(latency + (0.01 if is_late else 0.0))
            from_send.add(latency)
            late += is_late
            failed += not ok
    sent = seconds * RATE
    third = seconds / 3
    data = dict(base)
    data.update(
        sent=sent,
        acked=sent - failed,
        failed=failed,
        late=late,
        duration_s=float(seconds),
        achieved_rate=float(RATE),
        timeline=timeline.as_list(),
        latency_percentiles={
            "from_schedule": distribution(from_schedule.flush()),
            "from_send": distribution(from_send.flush()),
        },
        stages=[
            {"stage": f"{third:g}s:{RATE}/s", "start_s": i * third, "duration_s": third}
            for i in range(3)
        ],
        outages=[{"start_s": seconds / 2, "end_s": seconds / 2 + 30, "failed_attempts": 120}],
        slo={
            "ok": False,
            "thresholds": [
                {
                    "threshold": "p99<50ms",
                    "metric": "p99",
                    "unit": "ms",
                    "limit": 50.0,
                    "actual": 61.2,
                    "ok": False,
                },
                {
                    "threshold": "failed<0.1%",
                    "metric": "failed",
                    "unit": "ratio",
                    "limit": 0.001,
                    "actual": failed / sent,
                    "ok": True,
                },
            ],
        },
        coverage=coverage,
    )
    return data


def main() -> int:
    quick = "--quick" in sys.argv
    base = real_report()
    coverage = Coverage().add_all(generate(load_scenario("mixed"), seed=1, n=20_000)).as_dict()
    sizes = {}
    for minutes in (10,) if quick else (10, 30):
        data = synthesise(base, minutes, coverage)
        started = time.perf_counter()
        page = render_replay_html(data).encode("utf-8")
        took = time.perf_counter() - started
        sizes[minutes] = len(page)
        print(
            f"replay --html, {minutes} min at {RATE:,}/s ({len(data['timeline'])} timeline "
            f"buckets): {len(page) / 1e6:.3f} MB, rendered in {took:.2f} s"
        )
    ten = sizes[10]
    if 30 in sizes:
        growth = (sizes[30] - ten) / 20
        print(f"growth: {growth / 1e3:.1f} kB per minute of run; budget 2 MB for 30 min: "
              f"{'met' if sizes[30] < 2e6 else 'NOT met'}")  # fmt: skip
    else:
        print("30 min: run without --quick to measure it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
