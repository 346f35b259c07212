"""Where payloads come from, for every command: fixture files of each accepted form, stdin, and
streams generated from scenarios. The same input gives the same bytes whichever command reads it.

Accepted files:

- `.ndjson` / `.jsonl`: one payload per line, streamed (never read whole), each line's bytes kept
  verbatim (only surrounding whitespace and the line ending are stripped);
- `.json`: one JSON document, an object (its bytes kept verbatim) or an array of objects (each
  element encoded by the canonical `emitter._payload.dumps`);
- anything else, and stdin (`-`): sniffed. NDJSON when the first non-blank line is a JSON value
  on its own, else one (pretty-printed) JSON document.

Two layers: `records()` reads any of these as `Record`s (where each came from, its bytes, its
parsed value when reading had to parse it); `validate` judges Records, and `FileSource` turns
them into `Item`s to send (`send`, `replay`, the Locust user). `ScenarioSource` generates Items.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, Literal

from emitter._payload import dumps, session_id_of
from emitter.errors import InputError, UsageError

if TYPE_CHECKING:
    from emitter.scenarios import Scenario

Format = Literal["ndjson", "json", "sniff"]

# The first `"sessionId"` key with a string value (escapes allowed); the common shape is found
# without it, by bytes.find (see _session_id).
_SESSION_ID = re.compile(rb'"sessionId"\s*:\s*"((?:[^"\\]|\\.)*)"')


class _Unparsed:
    """Marks a Record whose bytes were not parsed (an NDJSON line: parsing is the reader's)."""

    def __repr__(self) -> str:
        return "UNPARSED"


UNPARSED: Final = _Unparsed()


# --------------------------------------------------------------------------- parsing


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(body: bytes | str) -> object:
    """Strict JSON: NaN and Infinity are refused (ValueError), as RFC 8259 says."""
    return json.loads(body, parse_constant=_reject_constant)


def _parses_alone(raw: bytes) -> bool:
    try:
        return isinstance(parse_json(raw), dict)
    except (ValueError, RecursionError):
        return False


# --------------------------------------------------------------------------- records


class Record:
    """One payload as read: where it came from, its bytes, and its value if it was parsed.

    `raw` is the bytes as they stand in the input (an NDJSON line, a whole `.json` document);
    None for an element of a `.json` array. `value` is UNPARSED when reading did not need to
    parse; `error` is the parse failure of a document or a sniffed line that is not JSON.
    """

    __slots__ = ("element", "error", "line", "name", "raw", "value")

    def __init__(
        self,
        name: str,
        *,
        line: int | None = None,
        element: int | None = None,
        raw: bytes | None = None,
        value: object = UNPARSED,
        error: BaseException | None = None,
    ) -> None:
        self.name = name
        self.line = line
        self.element = element
        self.raw = raw
        self.value = value
        self.error = error

    @property
    def where(self) -> str:
        """`file[3]` for an array element, `file:12` for a line, `file` for a whole document."""
        if self.element is not None:
            return f"{self.name}[{self.element}]"
        if self.line is not None:
            return f"{self.name}:{self.line}"
        return self.name

    def parsed(self) -> object:
        """The value, parsing the bytes if they were not (ValueError / RecursionError if bad)."""
        if self.error is not None:
            raise self.error
        if self.value is UNPARSED:
            assert self.raw is not None  # only NDJSON lines are left unparsed, with their bytes
            self.value = parse_json(self.raw)
        return self.value

    def __repr__(self) -> str:
        return f"Record({self.where!r})"


def format_of(path: str) -> Format:
    """How a path is read: by its suffix, sniffed for any other (and for stdin, `-`)."""
    suffix = Path(path).suffix.lower() if path != "-" else ""
    if suffix in (".ndjson", ".jsonl"):
        return "ndjson"
    if suffix == ".json":
        return "json"
    return "sniff"


def records(name: str, stream: IO[bytes], fmt: Format) -> Iterator[Record]:
    """Every payload of one input, in order; NDJSON streamed, a document read whole."""
    if fmt == "ndjson":
        return _ndjson(name, enumerate(stream, start=1))
    if fmt == "json":
        return _document(name, stream.read())
    return _sniffed(name, stream)


def _ndjson(name: str, lines: Iterator[tuple[int, bytes]]) -> Iterator[Record]:
    for number, raw in lines:
        line = raw.strip()
        if line:
            yield Record(name, line=number, raw=line)


def _document(name: str, text: bytes) -> Iterator[Record]:
    try:
        document = parse_json(text)
    except (ValueError, RecursionError) as exc:
        line = exc.lineno if isinstance(exc, json.JSONDecodeError) else None
        yield Record(name, line=line, raw=text.strip(), error=exc)
        return
    if isinstance(document, list):
        # A JSON array of payloads: each element is its own record, `file[index]`.
        for index, item in enumerate(document):
            yield Record(name, element=index, value=item)
    else:
        yield Record(name, raw=text.strip(), value=document)


def _sniffed(name: str, stream: IO[bytes]) -> Iterator[Record]:
    """NDJSON if the first non-blank line is a JSON value on its own, else one JSON document.

    A first line that does not parse is either the start of a pretty-printed document or a
    corrupt NDJSON record. A lone `{` or `[` starts a document; otherwise a next line that
    parses on its own means NDJSON (a pretty document's inner lines never do), so the stream
    is still read line by line and never whole.
    """
    numbered = enumerate(stream, start=1)
    head: list[tuple[int, bytes]] = []
    for number, raw in numbered:
        head.append((number, raw))
        if not raw.strip():
            continue
        try:
            first = parse_json(raw)
        except (ValueError, RecursionError):
            yield from _after_bad_first_line(name, raw, head, numbered, stream)
            return
        yield Record(name, line=number, raw=raw.strip(), value=first)
        yield from _ndjson(name, numbered)
        return


def _after_bad_first_line(
    name: str,
    first: bytes,
    head: list[tuple[int, bytes]],
    numbered: Iterator[tuple[int, bytes]],
    stream: IO[bytes],
) -> Iterator[Record]:
    if first.strip() not in (b"{", b"["):
        for number, raw in numbered:
            head.append((number, raw))
            if not raw.strip():
                continue
            if _parses_alone(raw):
                yield from _ndjson(name, itertools.chain(head, numbered))
                return
            break
    # A pretty-printed document spans lines: it is small, read it whole.
    text = b"".join(raw for _, raw in head) + stream.read()
    looks_pretty = first.strip() in (b"{", b"[")
    found = list(_document(name, text))
    if looks_pretty or not (len(found) == 1 and found[0].error is not None):
        yield from found
        return
    # Neither one document nor NDJSON with a good second line: every line is its own record.
    yield from _ndjson(name, enumerate(io.BytesIO(text), start=1))


# --------------------------------------------------------------------------- items to send


class Item:
    """One payload to send. `body` is None for an input that cannot be sent (`problem`).

    A plain slotted class rather than a frozen dataclass: one is built per request on the hot
    path, and frozen dataclasses pay for object.__setattr__ on every field.
    """

    __slots__ = ("body", "index", "problem", "session_id", "where")

    def __init__(
        self,
        index: int,  # position in the source, 0-based, stable across runs (the resume key)
        session_id: str | None,
        body: bytes | None,
        where: str,  # `file:line`, `file[n]`, or `scenario#n`, for messages
        problem: str = "",
    ) -> None:
        self.index = index
        self.session_id = session_id
        self.body = body
        self.where = where
        self.problem = problem

    def __repr__(self) -> str:
        return f"Item({self.index}, {self.session_id!r}, {self.where!r})"


def _session_id(line: bytes) -> str | None:
    # The common shape first, by bytes.find (a quarter of the regex's cost): the first
    # `"sessionId"` is followed at once by `:"` and a value without escapes, which is the
    # match the pattern finds first; any other shape takes the pattern.
    at = line.find(b'"sessionId":"')
    if at >= 0 and line.find(b'"sessionId"') == at:
        end = line.find(b'"', at + 13)
        if end >= 0:
            value = line[at + 13 : end]
            if b"\\" not in value:
                return value.decode("utf-8", "replace")
    match = _SESSION_ID.search(line)
    if match is None:
        return None
    raw = match.group(1)
    if b"\\" in raw:
        decoded: str = json.loads(b'"' + raw + b'"')
        return decoded
    return raw.decode("utf-8", "replace")


def _line_item(index: int, line: bytes, where: str) -> Item:
    # A full json.loads per line would cost more than the rest of the hot path; a line that
    # looks like an object and carries a sessionId is sent as is (validate fixtures with
    # `vss-emitter validate`). Only when that cheap check fails do we parse, for the message.
    if line[:1] == b"{" and line[-1:] == b"}":
        sid = _session_id(line)
        if sid is not None:
            return Item(index, sid, line, where)
    try:
        doc = parse_json(line)
    except (ValueError, RecursionError) as exc:
        return Item(index, None, None, where, f"not JSON ({exc})")
    return _value_item(index, doc, line, where)


def _value_item(index: int, value: object, body: bytes | None, where: str) -> Item:
    if not isinstance(value, dict):
        return Item(index, None, None, where, f"not a JSON object (a {type(value).__name__})")
    # A JSON object without a sessionId is still sent: testing how a receiver handles a broken
    # payload is legitimate; it just cannot be matched by sessionId on --resume.
    return Item(index, session_id_of(value), dumps(value) if body is None else body, where)


def record_item(index: int, record: Record) -> Item:
    """The Item to send for a Record: its bytes verbatim, or canonical bytes for an element."""
    # A whole document is reported as `file:1`, as send and replay have always named it.
    whole = record.line is None and record.element is None
    where = f"{record.name}:1" if whole else record.where
    if record.error is not None:
        return Item(index, None, None, where, f"not JSON ({record.error})")
    if record.value is UNPARSED:
        assert record.raw is not None
        return _line_item(index, record.raw, where)
    return _value_item(index, record.value, record.raw, where)


def check_readable(path: str) -> None:
    """InputError unless `path` can be opened for reading (not only a regular file).

    A pipe counts: `-f <(zcat captured.ndjson.gz)` hands over /dev/fd/63, a FIFO. It is
    not opened here, since opening a FIFO blocks until its writer is there.
    """
    expected = "expected an NDJSON or JSON fixture file, e.g. `captured.ndjson`"
    if os.path.isdir(path):
        raise InputError(f"cannot read `{path}`: is a directory ({expected})")
    if not os.path.exists(path):
        raise InputError(f"cannot read `{path}`: no such file ({expected})")
    if not os.access(path, os.R_OK):
        raise InputError(f"cannot read `{path}`: permission denied ({expected})")


class FileSource:
    """Payloads of fixture files (and `-`, stdin), as Items, in order, one at a time."""

    def __init__(self, paths: Sequence[str | os.PathLike[str]]) -> None:
        if not paths:
            raise UsageError("no input: give fixture files, e.g. `captured.ndjson`, or --scenario")
        self.paths = [str(p) for p in paths]
        for path in self.paths:
            if path != "-":
                check_readable(path)

    def describe(self) -> dict[str, Any]:
        return {"files": [p if p == "-" else str(Path(p).resolve()) for p in self.paths]}

    def __iter__(self) -> Iterator[Item]:
        index = 0
        for path in self.paths:
            if path != "-" and format_of(path) == "ndjson":
                # The hot path of replay from a file: the Items record_item would give, with
                # no Record per line (half the cost per line).
                for item in self._ndjson_items(path, index):
                    yield item
                    index += 1
                continue
            for record in self._records(path):
                yield record_item(index, record)
                index += 1

    @staticmethod
    def _ndjson_items(path: str, index: int) -> Iterator[Item]:
        stream = FileSource._open(path)
        try:
            for number, raw in enumerate(stream, start=1):
                line = raw.strip()
                if line:
                    yield _line_item(index, line, f"{path}:{number}")
                    index += 1
        except OSError as exc:
            raise InputError(f"cannot read `{path}`: {exc.strerror or exc}") from exc
        finally:
            stream.close()

    @staticmethod
    def _open(path: str) -> IO[bytes]:
        try:
            return open(path, "rb", buffering=1 << 20)  # the caller closes it
        except OSError as exc:
            raise InputError(f"cannot read `{path}`: {exc.strerror}") from exc

    @staticmethod
    def _records(path: str) -> Iterator[Record]:
        if path == "-":
            yield from records("-", sys.stdin.buffer, "sniff")
            return
        stream = FileSource._open(path)
        try:
            yield from records(path, stream, format_of(path))
        except OSError as exc:
            raise InputError(f"cannot read `{path}`: {exc.strerror or exc}") from exc
        finally:
            stream.close()


# --------------------------------------------------------------------------- generated


class ScenarioSource:
    """Payloads generated from scenarios, as Items with the canonical bytes.

    With `count`, each scenario in turn gives `count` payloads (`send`); without, the scenarios
    are interleaved round-robin, endlessly (`replay`, the Locust user). `seeds` gives each
    scenario stream its own seed (a Locust user's); otherwise every stream uses `seed` (the
    generator seeds each scenario by its name, so a name given twice would only repeat the same
    sessionIds: without `seeds` it is kept once in the endless form).

    An Item of `mixed` costs 13.4-13.7 us of CPU, 22.3-23.4 us before plain_dumps and the
    generator's trims (f6e139b); one core, taskset -c 0, runs of 30,000 after 500 warm-up.
    """

    def __init__(
        self,
        scenarios: Sequence[str | Scenario],
        *,
        seed: int,
        start_at: datetime | None = None,
        count: int | None = None,
        seeds: Sequence[int] | None = None,
    ) -> None:
        if not scenarios:
            raise UsageError("no scenario: give --scenario NAME, e.g. --scenario mixed")
        from emitter.scenarios import Scenario, load_scenario

        refs = list(scenarios)
        if count is None and seeds is None:
            refs = list(dict.fromkeys(refs))
        # Loaded eagerly: an unknown scenario is an error before the first payload goes out.
        self.scenarios = [s if isinstance(s, Scenario) else load_scenario(s) for s in refs]
        self.names = [s if isinstance(s, str) else s.name for s in refs]
        self.seed = seed
        self.start_at = start_at
        self.count = count
        self.seeds = list(seeds) if seeds is not None else [seed] * len(refs)
        if len(self.seeds) != len(refs):
            raise UsageError(f"{len(self.seeds)} seeds for {len(refs)} scenarios")

    def describe(self) -> dict[str, Any]:
        return {
            "scenarios": self.names,
            "seed": self.seed,
            "start_at": self.start_at.isoformat() if self.start_at else None,
        }

    def __iter__(self) -> Iterator[Item]:
        from emitter.generator import generate_bodies

        # generate_bodies encodes each payload (dumps' bytes, by the fastest encoder proven to
        # give them for it: msgspec for the built-in scenarios with no overrides).
        streams = [
            generate_bodies(scenario, seed=seed, n=self.count, start_at=self.start_at)
            for scenario, seed in zip(self.scenarios, self.seeds, strict=True)
        ]
        if self.count is not None:
            yield from self._in_turn(streams)
            return
        if len(streams) == 1:
            # One scenario (replay's usual case): no round-robin to keep.
            (name,), (stream,) = self.names, streams
            for index, (_member, payload, body) in enumerate(stream):
                yield Item(index, session_id_of(payload), body, f"{name}#{index}")
            return
        index = 0
        while True:
            for name, stream in zip(self.names, streams, strict=True):
                _member, payload, body = next(stream)
                yield Item(index, session_id_of(payload), body, f"{name}#{index}")
                index += 1

    def _in_turn(
        self, streams: Sequence[Iterator[tuple[Scenario, dict[str, Any], bytes]]]
    ) -> Iterator[Item]:
        index = 0
        for name, stream in zip(self.names, streams, strict=True):
            for member, payload, body in stream:
                where = name if member.name == name else f"{name}:{member.name}"
                yield Item(index, session_id_of(payload), body, where)
                index += 1
