"""Scenario files: the built-in library's coverage, the schema, and file:line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from emitter._numbers import COUNTRIES
from emitter._resources import builtin_scenario_files, load_schema
from emitter.errors import ScenarioError
from emitter.scenarios import Scenario, builtin_scenarios, load_scenario
from emitter.vocabulary import (
    ERROR_CODES,
    LEG_STATUSES,
    MOS_BANDS,
    SESSION_STATUSES,
    session_status_agrees,
)

VALID = """\
name: my-scenario
description: A scenario of my own
session:
  status: COMPLETED
  lastAction: MAKE_CALL
legs:
  - direction: INBOUND
    status: COMPLETED
  - direction: OUTBOUND
    status: COMPLETED
    countries:
      destination: [SG, MY]
    duration: [10, 60]
    quality: good
"""


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def by_name() -> dict[str, Scenario]:
    return {s.name: s for s in builtin_scenarios()}


# --- the built-in library --------------------------------------------------------------------


def test_builtins_are_sorted_and_named_like_their_files() -> None:
    found = builtin_scenarios()
    assert [s.name for s in found] == sorted(s.name for s in found)
    assert [s.name for s in found] == list(builtin_scenario_files())


def test_library_has_a_scenario_for_every_session_status() -> None:
    statuses = {s.session_status for s in builtin_scenarios() if not s.quirk}
    assert set(SESSION_STATUSES) <= statuses


def test_library_has_one_scenario_per_error_code() -> None:
    codes = [s.error_code for s in builtin_scenarios() if s.name.startswith("error-")]
    assert sorted(codes) == sorted(ERROR_CODES)  # type: ignore[type-var]
    for s in builtin_scenarios():
        if s.name.startswith("error-"):
            assert str(abs(s.error_code or 0)) in s.name
            assert ERROR_CODES[s.error_code or 0] in s.description


def test_library_has_every_mos_band_and_a_completed_leg_without_quality() -> None:
    bands = {
        leg.get("quality")
        for s in builtin_scenarios()
        if not s.is_mix and not s.quirk
        for leg in s.spec["legs"]
    }
    assert set(MOS_BANDS) <= bands
    assert "none" in bands


def test_library_has_number_masking_rows_and_multi_leg_sessions() -> None:
    table = {
        ("COMPLETED", "COMPLETED"): "COMPLETED",
        ("COMPLETED", "NO_ANSWER"): "NO_ANSWER",
        ("COMPLETED", "BUSY"): "BUSY",
        ("COMPLETED", "FAILED"): "FAILED",
        ("CANCELED", "CANCELED"): "CANCELED",
        ("COMPLETED",): "COMPLETED",
        ("ERROR",): "ERROR",
        ("COMPLETED", "ERROR"): "ERROR",
    }
    masking = {
        tuple(leg["status"] for leg in s.spec["legs"]): s.session_status
        for s in builtin_scenarios()
        if s.product == "masking" and not s.quirk
    }
    assert masking == table
    # The status table's callA is the caller dialling the masked number.
    assert all(
        s.spec["legs"][0]["direction"] == "INBOUND"
        for s in builtin_scenarios()
        if s.product == "masking"
    )
    sizes = {s.leg_count for s in builtin_scenarios() if not s.quirk}
    assert {2, 3, 4} <= sizes
    hunt = by_name()["hunt-group-4-legs"].spec["legs"]
    assert [leg["status"] for leg in hunt][1:3] == ["NO_ANSWER", "BUSY"]


def test_library_has_the_ivr_pages_three_scenarios() -> None:
    shapes = {
        tuple((leg["direction"], leg["status"]) for leg in s.spec["legs"]): s.session_status
        for s in builtin_scenarios()
        if s.product == "ivr"
    }
    # Scenario 1 as printed (two OUTBOUND legs), then inbound -> bridged answered / busy /
    # hang-up in the menu.
    assert shapes[(("OUTBOUND", "COMPLETED"), ("OUTBOUND", "COMPLETED"))] == "COMPLETED"
    assert shapes[(("INBOUND", "COMPLETED"), ("OUTBOUND", "COMPLETED"))] == "COMPLETED"
    assert shapes[(("INBOUND", "COMPLETED"), ("OUTBOUND", "BUSY"))] == "BUSY"
    assert shapes[(("INBOUND", "COMPLETED"),)] == "COMPLETED"


def test_every_scenario_names_its_product() -> None:
    products = {s.product for s in builtin_scenarios() if not s.is_mix}
    assert products == {"messaging", "ivr", "masking", "sip"}
    for entry in builtin_scenario_files().values():
        text = entry.read_text(encoding="utf-8")
        assert "\nproduct: " in text or "\nmix:" in text, entry.name


@pytest.mark.parametrize(
    ("alias", "product"),
    [("voice-messaging", "messaging"), ("number-masking", "masking"), ("programmable-sip", "sip"),
     ("ivr", "ivr")],
)  # fmt: skip
def test_long_product_names_still_load_as_the_short_ones(
    tmp_path: Path, alias: str, product: str
) -> None:
    path = write(tmp_path, VALID.replace("session:", f"product: {alias}\nsession:"))
    assert load_scenario(str(path)).product == product


@pytest.mark.parametrize(
    ("product", "change", "message"),
    [
        ("masking", ("    quality: good", "    quality: good\n    callType: VOIP"),
         "$.legs[1].callType: Number Masking legs are always PSTN, not VOIP"),
        ("messaging", ("    quality: good", "    quality: good\n    callType: [PSTN, VOIP]"),
         "$.legs[1].callType: Voice Messaging legs are always PSTN, not VOIP"),
    ],
)  # fmt: skip
def test_a_scenario_breaking_its_products_page_is_refused_with_file_and_line(
    tmp_path: Path, product: str, change: tuple[str, str], message: str
) -> None:
    text = VALID.replace("session:", f"product: {product}\nsession:").replace(*change)
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(str(path))
    assert str(caught.value).startswith(f"{path}:16: {message}")


def test_ivr_scenario_with_an_error_leg_is_refused(tmp_path: Path) -> None:
    text = (
        "name: x\ndescription: x\nproduct: ivr\nsession:\n  status: ERROR\n  errorCode: -2001\n"
        "legs:\n  - direction: INBOUND\n    status: ERROR\n"
    )
    with pytest.raises(ScenarioError, match=r":9: \$\.legs\[0\]\.status: IVR's page lists no leg"):
        load_scenario(str(write(tmp_path, text)))


def test_ivr_scenario_with_an_opt_out_status_is_refused(tmp_path: Path) -> None:
    text = (
        "name: x\ndescription: x\nproduct: ivr\nsession:\n  status: COMPLETED_UNSUBSCRIBED\n"
        "legs:\n  - direction: OUTBOUND\n    status: COMPLETED\n"
    )
    with pytest.raises(ScenarioError, match="IVR's page lists no session status"):
        load_scenario(str(write(tmp_path, text)))


def test_opt_outs_follow_the_projects_reading() -> None:
    scenarios = by_name()
    assert scenarios["opt-out-already-unsubscribed"].leg_count == 0
    for name in ("opt-out-unsubscribed", "opt-out-unsub-error"):
        legs = scenarios[name].spec["legs"]
        assert [(leg["direction"], leg["status"]) for leg in legs] == [("OUTBOUND", "COMPLETED")]


def test_every_documented_quirk_has_a_marked_scenario() -> None:
    quirks = {q for s in builtin_scenarios() if s.quirk for q in s.quirks}
    enum = load_schema("scenario.schema.json")["properties"]["quirks"]["items"]["enum"]
    assert quirks == set(enum)
    # A mix is a quirk scenario exactly when some of its members are.
    assert all(
        s.quirk == (s.name.startswith("quirk-") or (s.is_mix and s.includes_quirks))
        for s in builtin_scenarios()
    )


def test_mixed_blends_every_other_builtin_and_is_mostly_completed() -> None:
    mixed = by_name()["mixed"]
    names = {c.name for c, _ in mixed.components}
    assert names == {s.name for s in builtin_scenarios()} - {"mixed"}
    weights = {c.name: w for c, w in mixed.components}
    assert weights["completed"] == max(weights.values())
    assert sum(w for c, w in mixed.components if c.quirk) / sum(weights.values()) < 0.01
    assert mixed.includes_quirks
    assert mixed.quirk  # marked, since some of its payloads are quirks


def test_non_quirk_builtins_agree_with_the_status_rule() -> None:
    for s in builtin_scenarios():
        if not s.is_mix and not s.quirk:
            statuses = [leg["status"] for leg in s.spec["legs"]]
            assert session_status_agrees(s.session_status or "", statuses), s.name


def test_schema_enums_match_the_shared_vocabulary() -> None:
    defs = load_schema("scenario.schema.json")["$defs"]
    assert tuple(defs["session"]["properties"]["status"]["enum"]) == SESSION_STATUSES
    assert tuple(defs["leg"]["properties"]["status"]["enum"]) == LEG_STATUSES
    assert set(defs["session"]["properties"]["errorCode"]["enum"]) == set(ERROR_CODES)
    assert tuple(defs["country"]["enum"]) == COUNTRIES


# --- loading user files ----------------------------------------------------------------------


def test_a_valid_file_loads_by_path(tmp_path: Path) -> None:
    loaded = load_scenario(write(tmp_path, VALID))
    assert loaded.name == "my-scenario"
    assert loaded.leg_count == 2
    assert loaded.source.endswith("scenario.yaml")
    assert not loaded.quirk


def test_a_mix_may_name_builtins_and_files_beside_it(tmp_path: Path) -> None:
    write(tmp_path, VALID, "mine.yaml")
    mix = write(
        tmp_path,
        "name: blend\ndescription: d\nmix:\n"
        "  - {scenario: busy, weight: 2}\n  - {scenario: ./mine.yaml}\n",
        "blend.yaml",
    )
    loaded = load_scenario(str(mix))
    assert [(c.name, w) for c, w in loaded.components] == [("busy", 2.0), ("my-scenario", 1.0)]


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        (VALID.replace("    quality: good", "    qualty: good"), 14, "unknown key 'qualty'"),
        (VALID.replace("duration: [10, 60]", "duration: ten"), 13, "$.legs[1].duration"),
        (
            VALID.replace(
                "  - direction: OUTBOUND\n    status: COMPLETED",
                "  - direction: OUTBOUND\n    status: ANSWERED",
            ),
            10,
            "'ANSWERED'",
        ),
        (VALID.replace("legs:\n", "legs:\n  - [unclosed\n"), 8, "YAML syntax error"),
        (VALID + "name: again\n", 15, "duplicate key 'name'"),
        (
            VALID.replace("status: COMPLETED\n  lastAction", "status: BUSY\n  lastAction"),
            4,
            "does not agree",
        ),
        (
            VALID.replace("  lastAction: MAKE_CALL", "  lastAction: MAKE_CALL\n  errorCode: -2004"),
            6,
            "'errorCode' is not allowed here",
        ),
        (
            VALID.replace("    duration: [10, 60]\n    quality: good\n", "").replace(
                "    status: COMPLETED\n    countries",
                "    status: BUSY\n    quality: good\n    countries",
            ),
            11,
            "'quality' is not allowed here",
        ),
        (VALID.replace("destination: [SG, MY]", "destination: [SG, XX]"), 12, "'XX' is not one of"),
        (VALID.replace("duration: [10, 60]", "duration: [60, 10]"), 13, "runs backwards"),
        ("name: m\ndescription: d\nmix:\n  - scenario: no-such-thing\n", 4, "no-such-thing"),
        ("name: m\ndescription: d\n", 1, "'legs' is a required property"),
        (
            VALID.replace("duration: [10, 60]", "ring: [1000000000000, 1000000000001]"),
            13,
            "$.legs[1].ring[0]: 1000000000000 is greater than the maximum of 3600",
        ),
        (
            VALID.replace("duration: [10, 60]", "duration: [10, 86401]"),
            13,
            "$.legs[1].duration[1]: 86401 is greater than the maximum of 86400",
        ),
        (VALID.replace("duration: [10, 60]", "duration: 99999999"), 13, "0 to 86400"),
        (VALID + "weight: .nan\n", 15, "$.weight: nan is not a finite number"),
        (VALID + "overrides:\n  payload.x: [1, .inf]\n", 16, "inf is not a finite number"),
        ("name: &x [*x]\ndescription: d\n", 1, "recursive YAML alias"),
    ],
    ids=[
        "unknown-key",
        "wrong-type",
        "unknown-status",
        "yaml-syntax",
        "duplicate-key",
        "status-disagrees",
        "error-code-without-error",
        "quality-on-busy-leg",
        "unknown-country",
        "backwards-range",
        "unknown-mix-member",
        "missing-session",
        "huge-ring",
        "huge-duration",
        "huge-exact-duration",
        "nan-weight",
        "inf-override",
        "recursive-alias",
    ],
)
def test_bad_scenario_file_is_reported_with_file_and_line(
    tmp_path: Path, text: str, line: int, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}:"), message
    assert expected in message


def test_unknown_builtin_name_suggests_close_names() -> None:
    with pytest.raises(ScenarioError, match="did you mean no-answer"):
        load_scenario("no-answr")


def test_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="does not exist"):
        load_scenario(tmp_path / "absent.yaml")


def test_quirks_require_the_quirk_marker(tmp_path: Path) -> None:
    text = VALID.replace("session:", "quirks: [legs-out-of-order]\nsession:")
    with pytest.raises(ScenarioError, match=r"scenario\.yaml:\d+: .*quirk"):
        load_scenario(write(tmp_path, text))


def test_wrong_shape_names_what_is_expected(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("duration: [10, 60]", "duration: ten"))
    with pytest.raises(ScenarioError, match=r":13: \$\.legs\[1\]\.duration: 'ten' .*\[low, high\]"):
        load_scenario(path)


def test_a_file_that_mixes_itself_is_a_cycle(tmp_path: Path) -> None:
    path = write(tmp_path, "name: me\ndescription: d\nmix:\n  - {scenario: ./me.yaml}\n", "me.yaml")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value) == (
        f"{path}:4: $.mix[0].scenario: './me.yaml' includes itself (a cycle: me.yaml -> "
        "me.yaml); a mix may include a scenario file only once along a chain"
    )


def test_two_files_that_mix_each_other_are_a_cycle(tmp_path: Path) -> None:
    a = write(tmp_path, "name: a\ndescription: d\nmix:\n  - {scenario: b.yaml}\n", "a.yaml")
    write(tmp_path, "name: b\ndescription: d\nmix:\n  - {scenario: ./a.yaml}\n", "b.yaml")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(a)
    message = str(caught.value)
    assert message.startswith(f"{a}:4: $.mix[0].scenario: ")
    assert "includes itself (a cycle: a.yaml -> b.yaml -> a.yaml)" in message


def test_a_file_reached_twice_without_a_cycle_loads(tmp_path: Path) -> None:
    write(tmp_path, VALID, "leaf.yaml")
    for name in ("left", "right"):
        write(tmp_path, f"name: {name}\ndescription: d\nmix:\n  - {{scenario: ./leaf.yaml}}\n",
              f"{name}.yaml")  # fmt: skip
    top = write(
        tmp_path,
        "name: top\ndescription: d\nmix:\n  - {scenario: left.yaml}\n  - {scenario: right.yaml}\n",
        "top.yaml",
    )
    loaded = load_scenario(top)
    assert [c.name for c, _ in loaded.components] == ["left", "right"]


def test_yaml_aliases_of_aliases_load_without_walking_every_copy(tmp_path: Path) -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    # 10**7 leaves if expanded; one walk per node instead. The file is then refused by the
    # schema, with a line number.
    path = write(tmp_path, "\n".join(levels) + "\nname: n\ndescription: d\n")
    with pytest.raises(ScenarioError, match=r"scenario\.yaml:1: \$: 'legs' is a required"):
        load_scenario(path)
