"""One session's verdict: polling until stored, steps that become right, counts after settle."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emitter.verify import CallableReadBack, SessionVerdict, verify_session

EXPECTED = {"sessionId": "s-1", "sessionStatus": "BUSY", "legs": []}


def reads(*answers: Any) -> Callable[[str], Any]:
    """A read-back answering each of `answers` in turn, then the last one forever."""
    left = list(answers)

    def read(session_id: str) -> Any:
        return left.pop(0) if len(left) > 1 else left[0]

    return read


def verdict(read: Callable[[str], Any], mode: str = "stored", **kwargs: Any) -> SessionVerdict:
    options: dict[str, Any] = {"within_s": 2.0, "settle_s": 0.1, **kwargs}
    return verify_session(
        CallableReadBack(read),
        "s-1",
        mode=mode,
        expected=[EXPECTED],
        **options,  # type: ignore[arg-type]
    )


def test_polls_until_the_record_is_there() -> None:
    found = verdict(reads(None, [], [{"sessionStatus": "BUSY"}]))
    assert (found.state, found.reads) == ("stored", 3)


def test_a_record_written_in_steps_is_given_settle_to_become_right() -> None:
    found = verdict(reads([{"sessionStatus": None}], [{"sessionStatus": "BUSY"}]), settle_s=1.0)
    assert found.state == "stored"


def test_a_record_that_stays_wrong_is_mismatched() -> None:
    found = verdict(reads([{"sessionStatus": "COMPLETED"}]))
    assert found.state == "mismatched"
    assert found.mismatches == ("sessionStatus: stored 'COMPLETED', expected 'BUSY'",)


def test_nothing_within_the_deadline_is_missing() -> None:
    found = verdict(reads(None), within_s=0.1)
    assert (found.state, found.reason) == ("missing", "not stored within 0.1 s of the ack")


def test_once_counts_after_settle_and_needs_a_countable_answer() -> None:
    one = {"sessionStatus": "BUSY"}
    assert verdict(reads([one], [one, one]), mode="once").state == "stored_twice"
    assert verdict(reads(one), mode="once").state == "uncountable"
    assert verdict(reads([one]), mode="once").state == "stored"


def test_absent_mode_fails_a_stored_forgery_and_passes_nothing() -> None:
    assert verdict(reads([{"sessionStatus": "BUSY"}]), mode="absent").state == "stored_forged"
    assert verdict(reads([]), mode="absent").state == "not_stored"


def test_without_expected_contents_any_stored_record_will_do() -> None:
    found = verify_session(
        CallableReadBack(reads([{"whatever": 1}])), "s-1", mode="stored", expected=[], within_s=1
    )
    assert found.state == "stored"


def test_a_read_back_that_raises_is_could_not_verify() -> None:
    def broken(session_id: str) -> Any:
        raise ConnectionError("db gone")

    found = verdict(broken)
    assert found.state == "could_not_verify"
    assert found.reason.endswith("raised ConnectionError: db gone")
