"""`vss-emitter scenarios` and `vss-emitter generate`: output forms, seeds, errors, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from emitter.cli import cli
from emitter.contract import validate
from emitter.scenarios import builtin_scenarios
from emitter.vocabulary import ERROR_CODES, SESSION_STATUSES

EXE = str(Path(sys.executable).with_name("vss-emitter"))


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def lines(result: Result) -> list[dict[str, object]]:
    return [json.loads(line) for line in result.stdout.splitlines()]


# --- scenarios -------------------------------------------------------------------------------


def test_scenarios_lists_one_sorted_line_each_with_quirk_markers() -> None:
    result = run("scenarios")
    assert result.exit_code == 0
    rows = result.stdout.splitlines()
    names = [row.split()[0] for row in rows]
    assert names == sorted(names) == [s.name for s in builtin_scenarios()]
    marked = {row.split()[0] for row in rows if "[quirk]" in row}
    assert marked == {s.name for s in builtin_scenarios() if s.quirk}
    assert any("No coverage available" in row for row in rows)


def test_scenarios_json_is_an_array_for_scripts() -> None:
    result = run("scenarios", "--json")
    assert result.exit_code == 0
    listed = json.loads(result.stdout)
    assert [item["name"] for item in listed] == [s.name for s in builtin_scenarios()]
    for item in listed:
        assert isinstance(item["description"], str)
        assert isinstance(item["quirk"], bool)
    mixed = next(item for item in listed if item["name"] == "mixed")
    assert mixed["mix"]
    assert mixed["legs"] is None
    assert mixed["product"] is None
    products = {item["name"]: item["product"] for item in listed}
    assert products["ivr-menu"] == "ivr"
    assert products["masking-completed-busy"] == "masking"
    assert products["completed"] == "messaging"
    assert set(products.values()) == {"messaging", "ivr", "masking", "sip", None}


# --- generate: output forms ------------------------------------------------------------------


def test_generate_defaults_to_mixed_ndjson_and_prints_the_drawn_seed() -> None:
    result = run("generate", "-n", "5")
    assert result.exit_code == 0
    assert len(lines(result)) == 5
    assert "seed: " in result.stderr
    assert "--seed" in result.stderr


def test_generate_with_a_seed_repeats_bytes_and_prints_no_seed() -> None:
    first = run("generate", "busy", "completed", "-n", "3", "--seed", "4")
    again = run("generate", "busy", "completed", "-n", "3", "--seed", "4")
    assert first.stdout_bytes == again.stdout_bytes
    assert first.stderr == ""
    statuses = [p["payload"]["sessionStatus"] for p in lines(first)]  # type: ignore[index]
    assert statuses == ["BUSY"] * 3 + ["COMPLETED"] * 3


def test_generate_all_covers_every_status_and_error_code() -> None:
    result = run("generate", "--all", "-n", "30", "--seed", "7")
    assert result.exit_code == 0
    payloads = lines(result)
    assert len(payloads) == 30 * len(builtin_scenarios())
    statuses = {p["payload"]["sessionStatus"] for p in payloads}  # type: ignore[index]
    codes = {
        p["payload"]["errorDetails"]["errorCode"]  # type: ignore[index]
        for p in payloads
        if "errorDetails" in p["payload"]  # type: ignore[operator]
    }
    assert statuses == set(SESSION_STATUSES)
    assert codes == set(ERROR_CODES)
    assert not any(f.severity == "error" for p in payloads for f in validate(p))


def test_generate_all_has_every_products_documented_shape_and_validates_clean() -> None:
    """Issue 7's "done when", asserted on `generate --all -n 30 --seed 7` itself."""
    result = run("generate", "--all", "-n", "30", "--seed", "7")
    assert result.exit_code == 0
    raw = result.stdout.splitlines()
    # --all writes each built-in in name order, 30 payloads each.
    owners = [s for s in builtin_scenarios() for _ in range(30)]
    assert len(raw) == len(owners)
    payloads = [json.loads(text) for text in raw]
    legs = [leg for p in payloads for leg in p["payload"]["details"].values()]
    inbound_by_ref = [
        leg
        for leg in legs
        if leg["callDirection"] == "INBOUND"
        and "sourceRefId" not in leg
        and isinstance(leg.get("destinationRefId"), str)
    ]
    assert inbound_by_ref
    ivr = [p for p, s in zip(payloads, owners, strict=True) if s.product == "ivr"]
    assert all(p["version"] == 5 for p in ivr)
    assert any("clientRequestId" in p["payload"] for p in ivr)
    assert any("clientRequestId" not in p["payload"] for p in ivr)

    def seconds(stamp: str) -> int:
        return int(datetime.fromisoformat(stamp).timestamp())

    off_by_one = [
        leg
        for leg in legs
        if "connectedTimestamp" in leg
        and abs(
            leg["callDuration"]
            - (seconds(leg["disconnectedTimestamp"]) - seconds(leg["connectedTimestamp"]))
        )
        == 1
    ]
    assert off_by_one
    # validate passes all of it (exit 0), and nothing outside quirk scenarios even warns.
    everything = run_with_input(["validate", "-"], result.stdout)
    assert everything.exit_code == 0, everything.output
    plain = "".join(
        text + "\n" for text, s in zip(raw, owners, strict=True) if not s.includes_quirks
    )
    clean = run_with_input(["validate", "-"], plain)
    assert clean.exit_code == 0
    assert clean.stderr.endswith(" 0 errors, 0 warnings\n"), clean.stderr
    assert clean.stdout == ""


def run_with_input(args: list[str], stdin: str) -> Result:
    return CliRunner().invoke(cli, args, input=stdin, catch_exceptions=False)


def test_output_file_gets_ndjson(tmp_path: Path) -> None:
    target = tmp_path / "out.ndjson"
    result = run("generate", "no-answer", "-n", "4", "--seed", "1", "-o", str(target))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert (
        target.read_bytes() == run("generate", "no-answer", "-n", "4", "--seed", "1").stdout_bytes
    )
    assert not list(tmp_path.glob("*.partial"))


def test_output_dir_gets_one_pretty_file_per_payload(tmp_path: Path) -> None:
    target = tmp_path / "fixtures"
    result = run(
        "generate", "opt-out-unsubscribed", "busy", "-n", "3", "--seed", "1", "-o", f"{target}/"
    )
    assert result.exit_code == 0, result.stderr
    files = sorted(p.name for p in target.iterdir())
    assert files == [f"{name}-000{i}.json" for name in ("busy", "opt-out-unsubscribed")
                     for i in (1, 2, 3)]  # fmt: skip
    text = (target / "opt-out-unsubscribed-0001.json").read_text()
    assert text.startswith('{\n  "payload": {\n')
    assert json.loads(text)["payload"]["sessionStatus"] == "COMPLETED_UNSUBSCRIBED"
    assert "wrote 6 payload(s)" in result.stderr


def test_existing_directory_without_slash_is_a_directory_target(tmp_path: Path) -> None:
    result = run("generate", "busy", "--seed", "1", "-o", str(tmp_path))
    assert result.exit_code == 0
    assert (tmp_path / "busy-0001.json").is_file()


def test_start_at_anchors_the_first_session() -> None:
    result = run("generate", "completed", "--seed", "1", "--start-at", "2026-11-24T10:00:00Z")
    assert lines(result)[0]["payload"]["startTime"] == "2026-11-24T10:00:00Z"  # type: ignore[index]


def test_set_overrides_fields_in_every_payload() -> None:
    result = run(
        "generate", "completed", "-n", "3", "--seed", "1",
        "--set", "payload.subAccountId=acme-prod",
        "--set", "payload.details.callA.callType=VOIP",
    )  # fmt: skip
    assert result.exit_code == 0
    for p in lines(result):
        assert p["payload"]["subAccountId"] == "acme-prod"  # type: ignore[index]
        assert p["payload"]["details"]["callA"]["callType"] == "VOIP"  # type: ignore[index]


# --- generate: user mistakes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["completed", "--set", "payload.details.callB.callType=VOIP"], "payload.details.callB"),
        (["completed", "--set", "payload.subAccountId"], "PATH=VALUE"),
        (["no-such-scenario"], "unknown scenario 'no-such-scenario'"),
        (["--all", "busy"], "not both"),
        (["completed", "--start-at", "tomorrow"], "invalid --start-at 'tomorrow'"),
        (["completed", "--start-at", "9999-12-31T23:59:59Z"], "between the years 1970 and 9000"),
        (["completed", "--start-at", "0001-01-01T00:00:00Z"], "between the years 1970 and 9000"),
        (["completed", "--set", "payload.details.callA.callQuality.mos=NaN"], "not JSON"),
        (["completed", "--set", "payload.details.callA.callQuality.mos=Infinity"], "not JSON"),
        (["completed", "--set", "payload.details.callA.callQuality.mos=1e999"], "not JSON"),
        (["mixed", "-n", "200", "--set", "payload.details.callA.callType=VOIP"], "mixed/"),
    ],
    ids=[
        "unsettable-path",
        "set-without-value",
        "unknown-scenario",
        "all-and-names",
        "bad-instant",
        "start-at-9999",
        "start-at-0001",
        "set-nan",
        "set-infinity",
        "set-1e999",
        "set-fails-on-a-later-mix-member",
    ],
)
def test_user_mistakes_exit_2_with_one_line_and_no_output(args: list[str], message: str) -> None:
    result = run("generate", *args, "--seed", "1")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")
    assert message in result.stderr


def test_bad_set_path_writes_no_file(tmp_path: Path) -> None:
    result = run(
        "generate", "mixed", "-n", "50", "--seed", "1", "-o", f"{tmp_path}/dir/",
        "--set", "payload.details.callB.callType=VOIP",
    )  # fmt: skip
    assert result.exit_code == 2
    assert not list((tmp_path / "dir").glob("*.json"))


BAD_FILES = {
    "unknown-key": ("session:\n  status: BUSY\n  colour: red\n", 3, "unknown key 'colour'"),
    "wrong-type": ("session:\n  status: BUSY\n  lastAction: 12\n", 3, "lastAction"),
    "unknown-status": ("session:\n  status: ENGAGED\n", 2, "'ENGAGED'"),
    "yaml-syntax": ("session:\n  status: BUSY\n legs: [\n", 3, "YAML syntax error"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_scenario_file_exits_2_naming_file_and_line(tmp_path: Path, case: str) -> None:
    body, line, message = BAD_FILES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(
        body + "legs:\n  - {direction: OUTBOUND, status: BUSY}\n" if "legs" not in body else body
    )
    path.write_text("name: bad\ndescription: d\n" + path.read_text())
    proc = subprocess.run(
        [EXE, "generate", str(path), "--seed", "1"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert f"{path}:{line + 2}:" in proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_generate_help_documents_every_option() -> None:
    text = run("generate", "--help").stdout
    for option in ("--all", "-n", "--seed", "--set", "--start-at", "-o"):
        assert option in text


def write_blend(tmp_path: Path) -> Path:
    (tmp_path / "ovr.yaml").write_text(
        "name: ovr\ndescription: one leg\nsession: {status: BUSY}\n"
        "legs:\n  - {direction: OUTBOUND, status: BUSY}\n"
        "overrides:\n  payload.details.callB.callType: VOIP\n"
    )
    blend = tmp_path / "blend.yaml"
    blend.write_text(
        "name: blend\ndescription: d\nmix:\n  - {scenario: completed, weight: 95}\n"
        "  - {scenario: ./ovr.yaml, weight: 5}\n"
    )
    return blend


@pytest.mark.parametrize("refs", [["blend.yaml"], ["completed", "ovr.yaml"]])
def test_an_override_that_cannot_be_set_writes_nothing(tmp_path: Path, refs: list[str]) -> None:
    write_blend(tmp_path)
    proc = subprocess.run(
        [EXE, "generate", *refs, "-n", "200", "--seed", "1"],
        capture_output=True,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == b""
    assert proc.stderr.decode().startswith(
        "Error: ovr.yaml:7: $.overrides.payload.details.callB.callType: cannot set"
    )


def test_a_scenario_named_twice_is_generated_once(tmp_path: Path) -> None:
    once = run("generate", "completed", "-n", "3", "--seed", "1")
    twice = run("generate", "completed", "busy", "completed", "-n", "3", "--seed", "1")
    assert twice.exit_code == 0
    ids = [p["payload"]["sessionId"] for p in lines(twice)]  # type: ignore[index]
    assert len(ids) == len(set(ids)) == 6
    assert twice.stdout.startswith(once.stdout)
    folder = run(
        "generate", "completed", "completed", "-n", "2", "--seed", "1", "-o", f"{tmp_path}/d/"
    )
    assert folder.stderr == f"wrote 2 payload(s) to {tmp_path}/d/\n"


def test_two_scenarios_with_one_name_exit_2(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "name: completed\ndescription: d\nsession: {status: BUSY}\n"
        "legs:\n  - {direction: OUTBOUND, status: BUSY}\n"
    )
    result = run("generate", "completed", str(mine), "--seed", "1")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "two scenarios are named 'completed'" in result.stderr


@pytest.mark.parametrize(
    ("files", "cycle"),
    [
        ({"self.yaml": "./self.yaml"}, "self.yaml -> self.yaml"),
        ({"a.yaml": "./b.yaml", "b.yaml": "./a.yaml"}, "a.yaml -> b.yaml -> a.yaml"),
    ],
    ids=["itself", "each-other"],
)
def test_scenario_files_that_mix_in_a_cycle_exit_2(
    tmp_path: Path, files: dict[str, str], cycle: str
) -> None:
    for name, member in files.items():
        (tmp_path / name).write_text(
            f"name: {name[:-5]}\ndescription: d\nmix:\n  - {{scenario: {member}}}\n"
        )
    first = next(iter(files))
    proc = subprocess.run(
        [EXE, "generate", first, "--seed", "1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith(f"Error: {first}:4: $.mix[0].scenario: ")
    assert f"includes itself (a cycle: {cycle})" in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_recursive_yaml_alias_exits_2_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "rec.yaml"
    path.write_text("name: &x [*x]\ndescription: x\n")
    proc = subprocess.run(
        [EXE, "generate", str(path), "--seed", "1"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"Error: {path}:1: $.name[0]: recursive YAML alias")
    assert "Traceback" not in proc.stderr


def test_huge_ring_range_exits_2_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "ring.yaml"
    path.write_text(
        "name: ring\ndescription: d\nsession: {status: COMPLETED}\nlegs:\n"
        "  - direction: OUTBOUND\n    status: COMPLETED\n    ring: [1000000000000, 1000000000001]\n"
    )
    result = run("generate", str(path), "--seed", "1")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {path}:7: $.legs[0].ring[0]: ")
    assert "maximum of 3600" in result.stderr


def test_dash_as_output_means_stdout_not_a_file_named_dash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    to_dash = subprocess.run(
        [EXE, "generate", "busy", "-n", "2", "--seed", "3", "-o", "-"],
        capture_output=True,
        check=True,
    )
    default = subprocess.run(
        [EXE, "generate", "busy", "-n", "2", "--seed", "3"], capture_output=True, check=True
    )
    assert to_dash.stdout == default.stdout
    assert len(to_dash.stdout.splitlines()) == 2
    assert not (tmp_path / "-").exists()


def test_output_to_dev_stdout_prints_the_payloads_and_keeps_the_device() -> None:
    before = Path("/dev/stdout").is_symlink()
    to_stdout = subprocess.run(
        [EXE, "generate", "busy", "-n", "2", "--seed", "3", "-o", "/dev/stdout"],
        capture_output=True,
        check=True,
    )
    default = subprocess.run(
        [EXE, "generate", "busy", "-n", "2", "--seed", "3"], capture_output=True, check=True
    )
    assert to_stdout.stdout == default.stdout
    assert len(to_stdout.stdout.splitlines()) == 2
    assert Path("/dev/stdout").is_symlink() == before


def test_output_through_a_symlink_writes_its_target_and_keeps_the_link(tmp_path: Path) -> None:
    (tmp_path / "real.ndjson").write_bytes(b"old\n")
    link = tmp_path / "link.ndjson"
    link.symlink_to("real.ndjson")
    result = run("generate", "busy", "-n", "2", "--seed", "3", "-o", str(link))
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink()
    assert (tmp_path / "real.ndjson").read_bytes() == run(
        "generate", "busy", "-n", "2", "--seed", "3"
    ).stdout_bytes
