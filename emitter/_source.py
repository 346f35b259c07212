"""What replay sends: payload bytes streamed from fixture files or generated from scenarios.

Every source yields Items lazily, in order, one at a time, so memory stays flat whatever the
size of the input. File bytes are sent verbatim (only the line ending is stripped); the
sessionId is read with a regex rather than a full parse, which keeps the hot path cheap.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Generator, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from emitter.errors import InputError, UsageError

# The plain pattern is four times faster; the escape-aware one runs only when it fails.
_SESSION_ID = re.compile(rb'"sessionId"\s*:\s*"([^"\\]*)"')
_SESSION_ID_ESCAPED = re.compile(rb'"sessionId"\s*:\s*"((?:[^"\\]|\\.)*)"')


class Item:
    """One payload to send. `body` is None for an input line that cannot be sent (`problem`).

    A plain slotted class rather than a frozen dataclass: one is built per request on the hot
    path, and frozen dataclasses pay for object.__setattr__ on every field.
    """

    __slots__ = ("body", "index", "problem", "session_id", "where")

    def __init__(
        self,
        index: int,  # position in the source, 0-based, stable across runs (the resume key)
        session_id: str | None,
        body: bytes | None,
        where: str,  # `file:line`, or `scenario#n`, for messages
        problem: str = "",
    ) -> None:
        self.index = index
        self.session_id = session_id
        self.body = body
        self.where = where
        self.problem = problem

    def __repr__(self) -> str:
        return f"Item({self.index}, {self.session_id!r}, {self.where!r})"


def _check_readable(path: str) -> None:
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


def _session_id(line: bytes) -> str | None:
    match = _SESSION_ID.search(line) or _SESSION_ID_ESCAPED.search(line)
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
        doc = json.loads(line)
    except ValueError as exc:
        return Item(index, None, None, where, f"not JSON ({exc})")
    if not isinstance(doc, dict):
        return Item(index, None, None, where, f"not a JSON object (a {type(doc).__name__})")
    # A JSON object without a sessionId is still sent: testing how a receiver handles a broken
    # payload is a legitimate replay; it just cannot be matched by sessionId on --resume.
    return Item(index, _sid_of(doc), line, where)


def _sid_of(doc: dict[str, Any]) -> str | None:
    payload = doc.get("payload")
    sid = payload.get("sessionId") if isinstance(payload, dict) else None
    return sid if isinstance(sid, str) else None


class FileSource:
    """NDJSON files (one payload per line) and `.json` files (one payload, or a list of them).

    NDJSON is read line by line, never whole. A `.json` file is a single document (a pretty
    fixture as `generate -o DIR` writes them), so it is parsed whole; its bytes are sent
    verbatim when it holds one object. `-` reads NDJSON from standard input.
    """

    def __init__(self, paths: Sequence[str | os.PathLike[str]]) -> None:
        if not paths:
            raise UsageError("no input: give fixture files, e.g. `captured.ndjson`, or --scenario")
        self.paths = [str(p) for p in paths]
        for path in self.paths:
            if path != "-":
                _check_readable(path)

    def describe(self) -> dict[str, Any]:
        return {"files": [p if p == "-" else str(Path(p).resolve()) for p in self.paths]}

    def __iter__(self) -> Iterator[Item]:
        index = 0
        for path in self.paths:
            if path.endswith(".json"):
                for item in self._json_file(path, index):
                    yield item
                    index += 1
                continue
            index = yield from self._ndjson(path, index)

    def _ndjson(self, path: str, first: int) -> Generator[Item, None, int]:
        index = first
        try:
            stream = sys.stdin.buffer if path == "-" else open(path, "rb", buffering=1 << 20)  # noqa: SIM115
        except OSError as exc:
            raise InputError(f"cannot read `{path}`: {exc.strerror}") from exc
        try:
            # Iterating a binary file reads it in buffered chunks: one line in memory at a time.
            for lineno, raw in enumerate(stream, 1):
                line = raw.strip()
                if not line:
                    continue
                yield _line_item(index, line, f"{path}:{lineno}")
                index += 1
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()
        return index

    def _json_file(self, path: str, first: int) -> Iterator[Item]:
        try:
            data = Path(path).read_bytes().strip()
        except OSError as exc:
            raise InputError(f"cannot read `{path}`: {exc.strerror}") from exc
        try:
            doc = json.loads(data)
        except ValueError as exc:
            yield Item(first, None, None, f"{path}:1", f"not JSON ({exc})")
            return
        if isinstance(doc, dict):
            yield Item(first, _sid_of(doc), data, f"{path}:1")
            return
        if not isinstance(doc, list):
            yield Item(first, None, None, f"{path}:1", "not a JSON object or a list of them")
            return
        for n, element in enumerate(doc):
            where = f"{path}[{n}]"
            if not isinstance(element, dict):
                yield Item(first + n, None, None, where, "not a JSON object")
                continue
            body = json.dumps(element, separators=(",", ":"), ensure_ascii=False).encode()
            yield Item(first + n, _sid_of(element), body, where)


class ScenarioSource:
    """An endless stream of payloads generated from scenarios, interleaved round-robin."""

    def __init__(
        self, scenarios: Sequence[str], *, seed: int, start_at: datetime | None = None
    ) -> None:
        if not scenarios:
            raise UsageError("no scenario: give --scenario NAME, e.g. --scenario mixed")
        from emitter.scenarios import load_scenario

        # Each scenario draws from its own stream (generate seeds it with the scenario's name),
        # so a name given twice would only repeat the same sessionIds: keep it once.
        self.names = list(dict.fromkeys(scenarios))
        self.scenarios = [load_scenario(name) for name in self.names]
        self.seed = seed
        self.start_at = start_at

    def describe(self) -> dict[str, Any]:
        return {
            "scenarios": self.names,
            "seed": self.seed,
            "start_at": self.start_at.isoformat() if self.start_at else None,
        }

    def __iter__(self) -> Iterator[Item]:
        from emitter.generator import dumps, generate

        streams = [
            generate(scenario, seed=self.seed, n=None, start_at=self.start_at)
            for scenario in self.scenarios
        ]
        index = 0
        while True:
            for name, stream in zip(self.names, streams, strict=True):
                payload = next(stream)
                yield Item(index, _sid_of(payload), dumps(payload), f"{name}#{index}")
                index += 1
