"""Report data from real runs, made once per session: a check, a replay, a coverage."""

from __future__ import annotations

from typing import Any

import buggy_receivers as bug
import pytest

from emitter.check import run_check
from emitter.coverage import Coverage
from emitter.deliver import DeliveryConfig
from emitter.generator import generate
from emitter.receiver import ReferenceReceiver
from emitter.replay import ReplaySettings, replay
from emitter.report import report_json
from emitter.scenarios import builtin_scenarios


@pytest.fixture(scope="session")
def check_data() -> dict[str, Any]:
    """A check whose receiver crashes on `CallA`: quirk probes fail, the others pass."""
    with bug.Receiver(bug.crashes_on_capital_leg_key) as receiver:
        report = run_check(
            url=receiver.url,
            config=DeliveryConfig(timeout_s=5.0),
            seed=7,
            probes=("quirk", "docs/", "scenario/busy"),
        )
    return report_json(report)


@pytest.fixture(scope="session")
def replay_data() -> dict[str, Any]:
    """A real 2-second replay of the `mixed` scenario against the reference receiver."""
    with ReferenceReceiver() as receiver:
        report = replay(
            url=receiver.url,
            settings=ReplaySettings(rate=200.0, limit=400),
            config=DeliveryConfig(timeout_s=5.0),
            seed=11,
        )
    return report.as_dict()


@pytest.fixture(scope="session")
def every_scenario() -> Coverage:
    coverage = Coverage()
    for scenario in builtin_scenarios():
        coverage.add_all(generate(scenario, seed=3, n=2))
    return coverage
