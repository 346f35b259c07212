"""emitter.coverage: what one payload counts for in each dimension, read defensively."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from emitter.coverage import (
    DIMENSIONS,
    Coverage,
    mos_band,
    parse_requirements,
    product_of,
    quirks_of,
)
from emitter.errors import UsageError
from emitter.generator import generate
from emitter.scenarios import load_scenario
from emitter.vocabulary import ERROR_CODES, SESSION_STATUSES


def one(scenario: str, seed: int = 1) -> dict[str, Any]:
    return next(iter(generate(load_scenario(scenario), seed=seed, n=1)))


def test_every_scenario_seen_together_covers_every_status_and_error_code() -> None:
    coverage = Coverage()
    from emitter.scenarios import builtin_scenarios

    for scenario in builtin_scenarios():
        coverage.add_all(generate(scenario, seed=5, n=2))
    assert coverage.missing("statuses") == []
    assert coverage.missing("error-codes") == []
    assert coverage.missing("leg-counts") == []
    assert coverage.missing("mos-bands") == []
    counts = coverage.as_dict()["dimensions"]["statuses"]["counts"]
    assert set(counts) == set(SESSION_STATUSES)
    assert sum(counts.values()) == coverage.payloads


def test_product_is_read_from_the_shape() -> None:
    assert product_of(one("ivr-menu")) == "ivr"
    assert product_of(one("masking-completed-busy")) == "masking"
    assert product_of(one("busy")) == "messaging"
    assert product_of({"payload": {"clientRequestId": "x"}}) == "ivr"
    assert product_of({}) == "messaging"


def test_each_quirk_scenario_shows_its_own_quirk() -> None:
    for name in (
        "capitalised-leg-key",
        "string-null-source-ref-id",
        "leg-before-session-start",
        "legs-out-of-order",
    ):
        assert name in quirks_of(one(f"quirk-{name}")), name
    assert quirks_of(one("completed")) == set()


def test_a_duration_one_second_off_whole_second_stamps_is_the_ivr_quirk() -> None:
    doc = one("completed")
    leg = doc["payload"]["details"]["callA"]
    assert quirks_of(doc) == set()
    leg["callDuration"] += 1
    assert quirks_of(doc) == {"duration-one-second-off"}
    leg["callDuration"] += 1
    assert quirks_of(doc) == set()  # two seconds off is a bug, not the platform's rounding


@pytest.mark.parametrize(
    ("mos", "band"),
    [(5.0, "excellent"), (4.3, "excellent"), (4.29, "good"), (3.6, "fair"), (1.0, "bad")],
)
def test_mos_bands_follow_the_documented_table(mos: float, band: str) -> None:
    assert mos_band(mos) == band


@pytest.mark.parametrize("mos", [0.5, 5.1, "5.1", "good", "NaN", None, True, float("nan")])
def test_a_mos_outside_the_table_has_no_band(mos: object) -> None:
    assert mos_band(mos) is None


@pytest.mark.parametrize(("mos", "band"), [("4.5", "excellent"), (" 4 ", "good"), ("1", "bad")])
def test_a_numeric_string_mos_is_banded_as_its_number_as_canonical_reads_it(
    mos: str, band: str
) -> None:
    assert mos_band(mos) == band


def test_optional_fields_count_present_and_absent_per_leg_and_payload() -> None:
    doc = one("no-answer")
    coverage = Coverage()
    coverage.add(doc)
    optional = coverage.counts["optional-fields"]
    legs = len(doc["payload"]["details"])
    assert optional["connectedTimestamp absent"] == legs
    assert optional["callQuality absent"] == legs
    assert optional["errorDetails absent"] == 1
    assert optional["version absent"] == 1


def test_a_broken_payload_counts_for_what_it_shows_without_raising() -> None:
    doc = copy.deepcopy(one("error-2004-no-coverage"))
    doc["payload"]["details"] = ["not", "legs"]
    doc["payload"]["lastAction"] = "DANCE"
    doc["payload"]["errorDetails"]["errorCode"] = "-2004"
    coverage = Coverage()
    coverage.add(doc)
    coverage.add({"payload": "nonsense"})
    assert coverage.add_body(b"[]") is False
    assert coverage.add_body(b"{oops") is False
    data = coverage.as_dict()
    assert coverage.payloads == 2
    assert data["dimensions"]["error-codes"]["counts"]["-2004"] == 1
    assert data["dimensions"]["last-actions"]["other"] == {"DANCE": 1}
    assert data["dimensions"]["leg-counts"]["counts"]["0"] == 2


def test_unlisted_values_are_shown_apart_and_never_required() -> None:
    doc = one("error-2001-internal-error")
    doc["payload"]["errorDetails"]["errorCode"] = -1234
    coverage = Coverage()
    coverage.add(doc)
    errors = coverage.as_dict()["dimensions"]["error-codes"]
    assert errors["other"] == {"-1234": 1}
    assert errors["covered"] == 0
    assert len(errors["missing"]) == len(ERROR_CODES)


def test_requirements_parse_names_and_all() -> None:
    assert parse_requirements("statuses, error-codes,statuses") == ("statuses", "error-codes")
    assert parse_requirements("all") == tuple(d.name for d in DIMENSIONS)
    with pytest.raises(UsageError, match="unknown coverage dimension `status`"):
        parse_requirements("status")
    with pytest.raises(UsageError, match="unknown coverage dimension ``"):
        parse_requirements(",")


def test_unmet_names_only_the_required_dimensions_with_gaps() -> None:
    coverage = Coverage()
    coverage.add(one("busy"))
    unmet = coverage.unmet(("statuses", "directions"))
    assert "BUSY" not in unmet["statuses"]
    assert "COMPLETED" in unmet["statuses"]
    assert unmet.get("directions") == ["INBOUND"]
    assert json.loads(json.dumps(coverage.as_dict()))["payloads"] == 1
