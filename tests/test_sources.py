"""One payload-source layer (emitter.sources): every accepted file form, stdin and scenario
streams, and the same bytes whichever command sends them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from emitter._payload import dumps
from emitter.cli import cli
from emitter.contract import validate_inputs
from emitter.deliver import DeliveryConfig
from emitter.generator import generate
from emitter.receiver import ReferenceReceiver
from emitter.replay import ReplaySettings, replay
from emitter.sources import FileSource, ScenarioSource, records

PAYLOADS = list(generate("completed", seed=5, n=3))
# Non-ASCII text, so an encoder that escaped it (ensure_ascii) would send other bytes.
PAYLOADS[0]["description"] = "Résumé — 通話の概要"


@pytest.fixture
def inputs(tmp_path: Path) -> list[Path]:
    """The same kind of payloads in every accepted form, one file per form."""
    array = tmp_path / "array.json"
    array.write_text(json.dumps(PAYLOADS[:2], indent=2, ensure_ascii=True))
    single = tmp_path / "single.json"
    single.write_bytes(json.dumps(PAYLOADS[2], indent=1).encode())
    lines = tmp_path / "lines.jsonl"
    lines.write_bytes(b"".join(b"  " + dumps(p) + b"  \r\n\n" for p in PAYLOADS))
    pretty = tmp_path / "pretty.txt"  # no known suffix: sniffed, one pretty document
    pretty.write_text(json.dumps(PAYLOADS[1], indent=4))
    return [array, single, lines, pretty]


def _expected(inputs: list[Path]) -> list[bytes]:
    _array, single, _lines, pretty = inputs
    return [
        dumps(PAYLOADS[0]),  # an array's elements: the canonical bytes
        dumps(PAYLOADS[1]),
        single.read_bytes().strip(),  # a whole document: verbatim
        *[dumps(p) for p in PAYLOADS],  # NDJSON lines: verbatim, surrounding blanks stripped
        pretty.read_bytes().strip(),
    ]


def test_every_file_form_gives_the_bytes_it_holds(inputs: list[Path]) -> None:
    items = list(FileSource(inputs))
    assert [item.body for item in items] == _expected(inputs)
    assert [item.where.rsplit("/", 1)[-1] for item in items] == [
        "array.json[0]", "array.json[1]", "single.json:1",
        "lines.jsonl:1", "lines.jsonl:3", "lines.jsonl:5", "pretty.txt:1",
    ]  # fmt: skip
    assert [item.index for item in items] == list(range(7))
    assert items[3].session_id == PAYLOADS[0]["payload"]["sessionId"]


def test_send_and_replay_post_the_same_bytes_from_the_same_files(
    inputs: list[Path], vss_receiver: ReferenceReceiver, tmp_path: Path
) -> None:
    args = ["send", vss_receiver.url, *[a for path in inputs for a in ("-f", str(path))]]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    sent = [d.body for d in vss_receiver.deliveries]
    vss_receiver.clear()
    replay(
        url=vss_receiver.url,
        settings=ReplaySettings(rate=None, concurrency=1),
        config=DeliveryConfig(timeout_s=5),
        files=inputs,
    )
    assert sorted(d.body for d in vss_receiver.deliveries) == sorted(sent)
    assert sent == _expected(inputs)


def test_validate_reads_the_same_payloads_in_the_same_places(inputs: list[Path]) -> None:
    lines: list[str] = []
    summary = validate_inputs([str(p) for p in inputs], emit=lines.append)
    assert summary.payloads == 7
    assert summary.errors == 0


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        (b'{"a":1}\n\n{"a":2}\n', ["line 1", "line 3"]),  # NDJSON
        (b'{\n  "a": 1\n}\n', ["document"]),  # one pretty document
        (b'not json\n{"a":2}\n', ["line 1 (not JSON)", "line 2"]),  # NDJSON with a bad first line
        (b'[\n {"a":1},\n {"a":2}\n]\n', ["element 0", "element 1"]),
    ],
    ids=["ndjson", "pretty", "bad-first-line", "pretty-array"],
)
def test_stdin_is_sniffed(text: bytes, kinds: list[str]) -> None:
    found = []
    for record in records("-", io.BytesIO(text), "sniff"):
        if record.element is not None:
            found.append(f"element {record.element}")
        elif record.line is None:
            found.append("document")
        else:
            try:
                record.parsed()
                found.append(f"line {record.line}")
            except ValueError:
                found.append(f"line {record.line} (not JSON)")
    assert found == kinds


def test_a_line_that_is_not_an_object_is_not_sent(tmp_path: Path) -> None:
    path = tmp_path / "mixed.ndjson"
    path.write_bytes(b'{"payload":{"sessionId":"a"}}\n[1]\nnot json\n{"a":NaN}\n')
    items = list(FileSource([path]))
    assert [item.body is not None for item in items] == [True, False, False, False]
    assert items[1].problem == "not a JSON object (a list)"
    assert items[2].problem.startswith("not JSON (")
    assert items[3].problem == "not JSON (NaN is not a JSON number)"


def test_scenario_streams_give_the_generators_canonical_bytes() -> None:
    counted = list(ScenarioSource(["completed", "busy"], seed=9, count=2))
    assert [item.body for item in counted] == [
        *[dumps(p) for p in generate("completed", seed=9, n=2)],
        *[dumps(p) for p in generate("busy", seed=9, n=2)],
    ]
    endless = iter(ScenarioSource(["completed", "busy"], seed=9))
    first_four = [next(endless).body for _ in range(4)]
    completed, busy = generate("completed", seed=9, n=2), generate("busy", seed=9, n=2)
    # Round-robin: completed, busy, completed, busy.
    assert first_four == [
        dumps(next(completed)),
        dumps(next(busy)),
        dumps(next(completed)),
        dumps(next(busy)),
    ]


ODD_LINES = [
    b'{"payload":{"sessionId":"plain-1"}}',
    b'{"payload":{"sessionId" : "spaced-2"}}',  # whitespace around the colon: the pattern
    b'{"payload":{"sessionId":"esc\\"aped-3"}}',  # an escaped quote in the value
    b'{"payload":{"sessionId":"uni\\u00e9-4"}}',  # a \\u escape, decoded
    b'{"x":{"sessionId":"nested-first"},"payload":{"sessionId":"outer-5"}}',
    b'{"payload":{"sessionId":"a\\\\b"},"sessionId":"later"}',  # an escape in the first one
    b'{"payload":{"sessionId":"R\xc3\xa9sum\xc3\xa9-6"}}',  # UTF-8 in the value
    b'{"payload":{"sessionId":"bad-utf8-\xff"}}',
    b'{"payload":{"sessionId":42}}',  # not a string: parsed, no sessionId
    b'{"payload":{"sessionId":"unterminated}}',
    b'{"payload":{}}',
    b"[1, 2]",
    b"not json",
    b"   ",
    b'{"payload":{"sessionId":""}}',
]


def test_ndjson_fast_path_gives_the_items_of_the_record_path(tmp_path: Path) -> None:
    """FileSource reads .ndjson files without a Record per line; every Item (index, sessionId,
    bytes, where, problem) must be what the general path (records + record_item) gives."""
    from emitter.sources import record_item

    path = tmp_path / "odd.ndjson"
    path.write_bytes(b"\r\n".join(ODD_LINES) + b"\n\n")
    fast = list(FileSource([path, path]))
    general = []
    for name in (str(path), str(path)):
        with open(name, "rb") as stream:
            for record in records(name, stream, "ndjson"):
                general.append(record_item(len(general), record))
    assert len(fast) == len(general) == 2 * (len(ODD_LINES) - 1)

    def seen(item):  # type: ignore[no-untyped-def]
        return (item.index, item.session_id, item.body, item.where, item.problem)

    assert [seen(item) for item in fast] == [seen(item) for item in general]
    by_line = {item.where.rsplit(":", 1)[-1]: item.session_id for item in fast[: len(fast) // 2]}
    assert by_line["1"] == "plain-1"
    assert by_line["2"] == "spaced-2"
    assert by_line["3"] == 'esc"aped-3'
    assert by_line["4"] == "unié-4"
    assert by_line["5"] == "nested-first"  # the first sessionId in the line, as ever
    assert by_line["6"] == "a\\b"
    assert by_line["7"] == "Résumé-6"
