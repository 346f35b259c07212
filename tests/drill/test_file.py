"""Drill files: what they hold, how they are validated, and the shipped examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from emitter.drill import ReorderWindow, load_drill
from emitter.errors import InputError, UsageError

EXAMPLES = sorted((Path(__file__).parents[2] / "docs" / "drills").glob("*.yaml"))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "drill.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_shipped_example_drill_loads() -> None:
    drills = [load_drill(p) for p in EXAMPLES if p.name != "read-back.yaml"]
    assert len(drills) >= 2
    for drill in drills:
        assert drill.stages
        assert drill.slo
        assert drill.description


def test_the_redelivery_example_holds_every_kind_of_setting() -> None:
    drill = load_drill(Path(EXAMPLES[0]).parent / "redelivery.yaml")
    assert drill.scenarios == ("completed", "busy", "ivr-menu", "masking-completed-completed")
    assert drill.seed == 11
    assert [s.text for s in drill.stages or ()] == [
        "1m:200/s",
        "30s:200->400/s",
        "2m:400/s",
        "1m:200/s",
    ]
    assert drill.duplicates == 0.05
    assert drill.duplicate_delay_s == 10.0
    assert drill.reorder == ReorderWindow(seconds=2.0)
    assert drill.retries == (1.0, 2.0, 4.0)
    assert drill.burst is True
    assert drill.burst_rate == 500.0
    assert [t.metric for t in drill.slo or ()] == [
        "p99",
        "failed",
        "lost",
        "stored_twice",
        "mismatched",
    ]
    assert drill.verify == Path(EXAMPLES[0]).parent / "read-back.yaml"
    assert drill.verify_sample == 1.0


def test_paths_are_relative_to_the_drill_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "source:\n  files: [captured.ndjson]\nrate: 50/s\nverify: v.yaml\n")
    drill = load_drill(path)
    assert drill.files == (str(tmp_path / "captured.ndjson"),)
    assert drill.verify == tmp_path / "v.yaml"
    assert drill.rate == "50/s"


def test_burst_after_failure_long_form_sets_the_gate(tmp_path: Path) -> None:
    drill = load_drill(
        _write(
            tmp_path,
            "faults:\n  burst_after_failure:\n    rate: 200/s\n    hold_after: 2s\n"
            "    probe_every: 0.5s\n    drain: 1m\n",
        )
    )
    assert drill.burst is True
    assert (drill.burst_rate, drill.hold_after_s, drill.drain_s) == (200.0, 2.0, 60.0)
    with pytest.raises(UsageError, match=r"unknown key `faults\.burst_after_failure\.holdafter`"):
        load_drill(_write(tmp_path, "faults:\n  burst_after_failure:\n    holdafter: 2s\n"))


def test_burst_after_failure_true_means_max(tmp_path: Path) -> None:
    drill = load_drill(_write(tmp_path, "faults:\n  burst_after_failure: true\n"))
    assert drill.burst is True
    assert drill.burst_rate is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("stagse: 1m:10/s\n", "unknown key `stagse`; expected one of: description, source"),
        ("faults:\n  dupes: 5%\n", "unknown key `faults.dupes`"),
        ("stages: 1m10/s\n", "stages: Invalid stage `1m10/s`: expected DURATION:RATE"),
        ("faults:\n  duplicates: 5\n", "faults.duplicates: Invalid --duplicates `5`"),
        ("faults:\n  reorder: soon\n", "faults.reorder: Invalid --reorder `soon`"),
        ("faults:\n  retries: [1, x]\n", "faults.retries: invalid retry schedule"),
        ("faults:\n  burst_after_failure: fast\n", "faults.burst_after_failure: Invalid"),
        ("slo: p99<500\n", "slo: Invalid threshold `p99<500`"),
        ("rate: 10/s\nstages: 1m:10/s\n", "rate: give `rate` or `stages`, not both"),
        ("source:\n  files: a\n  scenario: b\n", "source.files: give `files` or `scenario`"),
        ("source:\n  seed: -1\n", "source.seed: expected a whole number of 0 or more"),
        ("concurrency: many\n", "concurrency: expected a whole number of 1 or more"),
        ("timeout: [1]\n", "timeout: Invalid duration"),
        ("source: mixed\n", "source: expected a mapping"),
        ("- 1m:10/s\n", "expected a mapping of drill settings"),
        ("stages: [1m:10/s\n", "not valid YAML (line 2)"),
    ],
)
def test_a_bad_drill_file_is_one_line_naming_file_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(UsageError) as info:
        load_drill(path)
    shown = str(info.value)
    assert shown.startswith(f"{path}: ")
    assert message in shown
    assert "\n" not in shown


def test_a_missing_drill_file_says_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"cannot read drill .*e\.g\. --drill drills/deploy\.yaml"):
        load_drill(tmp_path / "nope.yaml")
