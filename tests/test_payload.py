"""plain_dumps: the bytes of dumps wherever the generator uses it, and json's where it may not."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from emitter._payload import dumps, is_plain_leaf, plain_dumps
from emitter.cli import cli
from emitter.errors import ScenarioError
from emitter.generator import (
    _BANDS,
    _band,
    _opened,
    _quality,
    generate_bodies,
    generate_tagged,
    parse_override,
)
from emitter.scenarios import Scenario, builtin_scenarios, load_scenario
from emitter.sources import ScenarioSource

BUILTINS = builtin_scenarios()
fast = plain_dumps()


def _code_points() -> Iterator[str]:
    for cp in range(0x110000):
        if not 0xD800 <= cp <= 0xDFFF:
            yield chr(cp)


def test_every_code_point_but_surrogates_is_written_as_dumps_writes_it() -> None:
    # Each code point alone, as a key and inside a value: an escape differing in either place
    # (ensure_ascii=False escapes only '"', '\\' and C0 controls) would show here.
    differing = [
        hex(ord(ch)) for ch in _code_points() if fast(d := {ch: "a" + ch + "b"}) != dumps(d)
    ]
    assert differing == []


@pytest.mark.parametrize("cp", [0xD800, 0xDBFF, 0xDC00, 0xDFFF])
def test_lone_surrogates_are_not_plain_and_both_encoders_refuse_them_alike(cp: int) -> None:
    text = "x" + chr(cp) + "y"
    assert not is_plain_leaf(text)
    for encode in (dumps, fast):
        with pytest.raises(UnicodeEncodeError):
            encode({"k": text})


def test_plain_leaves_are_exact_str_int_bool_and_none_only() -> None:
    class Text(str):
        pass

    class Count(int):
        pass

    assert all(map(is_plain_leaf, ["", "é😀", 0, -(2**70), True, False, None]))
    plain_refused = [1.5, Text("x"), Count(3), date(2024, 1, 1), b"x", [], {}]
    assert not any(map(is_plain_leaf, plain_refused))


def _quality_floats() -> set[float]:
    """Every float _quality can return, from the bands in the generator (scenario files only
    name a band, so these are all there are)."""
    found: set[float] = set()
    for (mlo, mhi), (llo, lhi), _ in _BANDS.values():
        found.update(k / 10 for k in range(mlo, mhi + 1))
        found.update(k / 1000 for k in range(max(llo, 1), lhi + 1))
    return found


def test_every_float_the_generator_can_draw_is_spelled_as_json_spells_it() -> None:
    floats = _quality_floats()
    assert all("e" not in repr(x) for x in floats)
    assert [x for x in sorted(floats) if fast({"x": x}) != dumps({"x": x})] == []


def test_quality_draws_only_those_floats() -> None:
    floats = _quality_floats()
    rng = random.Random(3)
    for band in _BANDS.values():
        for _ in range(2000):
            q = _quality(rng, _band(band))
            assert q["mos"] in floats
            assert q["packetLossRate"] == 0 or q["packetLossRate"] in floats


def test_floats_json_spells_with_an_exponent_differ_which_is_why_they_are_kept_out() -> None:
    assert dumps({"x": 1e16}) == b'{"x":1e+16}'
    assert fast({"x": 1e16}) == b'{"x":1e16}'
    assert dumps({"x": 1e-7}) == b'{"x":1e-07}'
    assert fast({"x": 1e-7}) == b'{"x":1e-7}'


@pytest.mark.parametrize("seed", [0, 1, 7, 42, 2**40 + 3])
def test_every_builtin_is_plain_and_its_bodies_are_dumps_bytes(seed: int) -> None:
    start = datetime(2026, 11, 24, 10, 0, tzinfo=UTC) if seed % 2 else None
    for scenario in BUILTINS:
        plains = [
            plain
            for _, _, plain in _opened(scenario, seed=seed, n=40, start_at=start, overrides=())
        ]
        assert all(plains), scenario.name
        for _, payload, body in generate_bodies(scenario, seed=seed, n=40, start_at=start):
            assert body == dumps(payload), scenario.name


def test_scenario_source_sends_the_bytes_dumps_gives() -> None:
    got = [item.body for item in islice(ScenarioSource(["mixed", "completed"], seed=5), 400)]
    streams = [generate_tagged(name, seed=5, n=200) for name in ("mixed", "completed")]
    want = [dumps(p) for pair in zip(*streams, strict=True) for _, p in pair]
    assert got == want


@pytest.mark.parametrize(
    ("raw", "spelled"),
    [
        ("1e16", b"1e+16"),
        ("1e-7", b"1e-07"),
        ("0.00001", b"1e-05"),
        ("2024-01-01", b'"2024-01-01"'),
    ],
)
def test_a_set_override_falls_back_to_dumps(raw: str, spelled: bytes) -> None:
    overrides = [parse_override(f"payload.details.callA.callQuality.mos={raw}")]
    stream = _opened("completed", seed=1, n=5, start_at=None, overrides=overrides)
    assert not any(plain for _, _, plain in stream)
    for _, payload, body in generate_bodies("completed", seed=1, n=5, overrides=overrides):
        assert body == dumps(payload)
        assert b'"mos":' + spelled in body


def test_a_scenario_files_override_falls_back_to_dumps(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(
        "name: big\ndescription: d\nsession: {status: COMPLETED}\n"
        "legs: [{direction: OUTBOUND, status: COMPLETED}]\n"
        "overrides: {payload.big: 10000000000000000.0}\n"
    )
    assert not any(p for _, _, p in _opened(str(path), seed=1, n=3, start_at=None, overrides=()))
    bodies = [body for _, _, body in generate_bodies(str(path), seed=1, n=3)]
    assert all(b'"big":1e+16' in body for body in bodies)


def test_a_mix_member_with_an_override_falls_back_alone(tmp_path: Path) -> None:
    (tmp_path / "own.yaml").write_text(
        "name: own\ndescription: d\nsession: {status: BUSY}\n"
        "legs: [{direction: OUTBOUND, status: BUSY}]\noverrides: {payload.big: 1.0e+16}\n"
    )
    (tmp_path / "mix.yaml").write_text(
        "name: mix\ndescription: d\nmix: [{scenario: own.yaml}, {scenario: completed}]\n"
    )
    mix = str(tmp_path / "mix.yaml")
    seen = {}
    for member, _, plain in _opened(mix, seed=2, n=60, start_at=None, overrides=()):
        seen[member.name] = plain
    for _, payload, body in generate_bodies(mix, seed=2, n=60):
        assert body == dumps(payload)
    assert seen == {"own": False, "completed": True}


def _unvalidated(spec_change: dict[str, Any]) -> Scenario:
    """A Scenario built in code, as a library caller may: its spec was never validated."""
    base = load_scenario("completed")
    spec = {**base.spec, "session": {**base.spec["session"], **spec_change}}
    return Scenario(name="made", description="d", quirk=False, source="<code>", spec=spec)


def test_a_scenario_built_in_code_with_unplain_values_is_left_to_dumps() -> None:
    class Text(str):
        pass

    odd = _unvalidated({"subAccountId": Text("acme-odd"), "description": "caf\u00e9 \u2028"})
    assert not any(p for _, _, p in _opened(odd, seed=1, n=3, start_at=None, overrides=()))
    for _, payload, body in generate_bodies(odd, seed=1, n=3):
        assert body == dumps(payload)
    dated = _unvalidated({"description": date(2024, 1, 1)})
    with pytest.raises(TypeError):  # json refuses it, as before; msgspec would have written it
        next(generate_bodies(dated, seed=1, n=1))


@pytest.mark.parametrize(
    "value", ["2024-01-01", "2024-01-01 10:00:00", "!!binary aGk=", "!!set {a}"]
)
def test_a_scenario_files_override_json_cannot_carry_names_file_and_line(
    tmp_path: Path, value: str
) -> None:
    path = tmp_path / "dated.yaml"
    path.write_text(
        "name: dated\ndescription: d\nsession: {status: BUSY}\n"
        "legs: [{direction: OUTBOUND, status: BUSY}]\n"
        f"overrides:\n  payload.subAccountId: ok\n  payload.when: {value}\n"
    )
    with pytest.raises(
        ScenarioError,
        match=r"dated\.yaml:7: \$\.overrides\.payload\.when: a \w+ is not a JSON value",
    ):
        generate_bodies(str(path), seed=1, n=1)


def test_generate_with_a_dated_override_is_one_error_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "dated.yaml"
    path.write_text(
        "name: dated\ndescription: d\nsession: {status: BUSY}\n"
        "legs: [{direction: OUTBOUND, status: BUSY}]\noverrides: {payload.when: 2024-01-01}\n"
    )
    args = ["generate", str(path), "-n", "2", "--seed", "1"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 2
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1
    assert "dated.yaml:5: $.overrides.payload.when:" in errors[0]
    assert "Traceback" not in result.stderr
