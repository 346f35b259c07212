"""verify_sessions, the batch API replay uses: counts, details, sampling, bodies or records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from emitter import canonical
from emitter.deliver import DeliveryConfig, build_client, deliver
from emitter.errors import UsageError
from emitter.generator import dumps, generate
from emitter.verify import load_verify_file, sampled, verify_sessions
from verify.storing_receiver import StoringReceiver


def delivered(receiver: StoringReceiver, scenario: str, n: int, seed: int) -> list[dict[str, Any]]:
    payloads = list(generate(scenario, seed=seed, n=n))
    with build_client(DeliveryConfig()) as client:
        for payload in payloads:
            ack = deliver(dumps(payload), url=receiver.url, config=DeliveryConfig(), client=client)
            assert ack.ok
    return payloads


def test_counts_and_details_of_a_receiver_that_stores_busy_as_completed(tmp_path: Path) -> None:
    with StoringReceiver(tmp_path / "app.db", bugs={"status-wrong"}) as receiver:
        payloads = delivered(receiver, "completed", 4, seed=1)
        payloads += delivered(receiver, "busy", 2, seed=2)
        config = load_verify_file(receiver.verify_file(tmp_path, kind="sql", settle="0.3s"))
        summary = verify_sessions(
            config, [(p["payload"]["sessionId"], canonical(p)) for p in payloads]
        )
    assert (summary.checked, summary.stored, summary.mismatched) == (6, 4, 2)
    assert not summary.ok
    assert summary.line() == (
        "verify: 4 stored, 0 missing, 2 mismatched, 0 stored twice (6 checked)"
    )
    assert {d.reason for d in summary.details} == {
        "sessionStatus: stored 'COMPLETED', expected 'BUSY'"
    }


def test_raw_bodies_and_a_session_sent_twice_are_verified_once(tmp_path: Path) -> None:
    with StoringReceiver(tmp_path / "app.db", bugs={"duplicates-twice"}) as receiver:
        payloads = delivered(receiver, "no-answer", 3, seed=5)
        delivered(receiver, "no-answer", 1, seed=5)  # the first payload again: stored twice
        config = load_verify_file(receiver.verify_file(tmp_path, kind="http", settle="0.3s"))
        bodies = [(p["payload"]["sessionId"], dumps(p)) for p in payloads]
        summary = verify_sessions(config, [*bodies, bodies[0]])
    assert (summary.checked, summary.stored, summary.stored_twice) == (3, 2, 1)
    assert summary.as_dict()["details"][0]["state"] == "stored_twice"


def test_missing_sessions_are_counted_after_within(tmp_path: Path) -> None:
    with StoringReceiver(tmp_path / "app.db", bugs={"store-nothing"}) as receiver:
        payloads = delivered(receiver, "completed", 2, seed=3)
        config = load_verify_file(
            receiver.verify_file(tmp_path, kind="http", within="0.3s", settle="0.1s")
        )
        summary = verify_sessions(config, [(p["payload"]["sessionId"], dumps(p)) for p in payloads])
    assert (summary.missing, summary.checked) == (2, 2)


def test_the_sample_is_a_stable_function_of_seed_and_session() -> None:
    ids = [f"session-{i}" for i in range(2000)]
    chosen = [i for i in ids if sampled(i, seed=7, sample=0.1)]
    assert chosen == [i for i in ids if sampled(i, seed=7, sample=0.1)]
    assert 120 < len(chosen) < 280
    assert chosen != [i for i in ids if sampled(i, seed=8, sample=0.1)]


def test_sampling_skips_sessions_without_reading_them(tmp_path: Path) -> None:
    with StoringReceiver(tmp_path / "app.db") as receiver:
        payloads = delivered(receiver, "completed", 20, seed=9)
        config = load_verify_file(receiver.verify_file(tmp_path, kind="sql", settle="0.2s"))
        pairs = [(p["payload"]["sessionId"], dumps(p)) for p in payloads]
        summary = verify_sessions(config, pairs, sample=0.25, seed=1)
    assert summary.checked + summary.skipped == 20
    assert summary.checked == summary.stored
    assert summary.ok


@pytest.mark.parametrize("sample", [0, -0.5, 1.5])
def test_a_sample_outside_0_to_1_is_a_usage_error(tmp_path: Path, sample: float) -> None:
    config = load_verify_file(_file(tmp_path))
    with pytest.raises(UsageError, match="expected a fraction above 0 and at most 1"):
        verify_sessions(config, [], sample=sample)


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "v.yaml"
    path.write_text("http: http://127.0.0.1:9/{sessionId}\n")
    return path
