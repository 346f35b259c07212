"""Replay's results log: the NDJSON writer, reading an earlier run's log, and what resume skips."""

from __future__ import annotations

import contextlib
import json
import os
import stat
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from hashlib import blake2b
from pathlib import Path
from typing import Any

from emitter.deliver import Outcome
from emitter.errors import InputError, UsageError
from emitter.sources import Item

_DENSE_SLACK = 1 << 16  # how far past the dense array an acked index may grow it
_NO_INDEX = float("inf")
_MAX_RESULTS_LINE = 1 << 20  # a results record is ~300 bytes; a longer line is not one
_FLUSH_AT = 1 << 16  # characters buffered before a write


class Acked:
    """Which source indexes an earlier run acked, in 8 bytes per index.

    A set of (index, sessionId) tuples would cost ~200 bytes each, 200 MB for a million; an
    array of sessionId hashes keeps resume of a big file small. 0 means "not acked". An index
    far beyond the ones seen so far (a foreign or corrupt log: 10**12) goes to a dict
    instead, so memory follows the number of records, never the largest index.
    """

    def __init__(self) -> None:
        self._hashes = array("q")
        self._sparse: dict[int, int] = {}
        self._sparse_min = _NO_INDEX  # the smallest index in _sparse
        self.count = 0
        self.max_index = -1

    @staticmethod
    def _key(session_id: str | None) -> int:
        # A stable hash, not hash(): str hashes differ between processes (--workers).
        raw = b"\x00" if session_id is None else session_id.encode("utf-8", "surrogatepass")
        digest = int.from_bytes(blake2b(raw, digest_size=8).digest(), "big")
        return (digest & 0x3FFF_FFFF_FFFF_FFFF) or 1

    def add(self, index: int, session_id: str | None) -> None:
        hashes = self._hashes
        size = len(hashes)
        if size <= index <= 2 * size + _DENSE_SLACK:
            hashes.frombytes(bytes(hashes.itemsize * (index + 1 - size)))
            if index >= self._sparse_min:
                self._densify()
        if index < len(hashes):
            if hashes[index] == 0:
                self.count += 1
            hashes[index] = self._key(session_id)
        else:
            if index not in self._sparse:
                self.count += 1
            self._sparse[index] = self._key(session_id)
            self._sparse_min = min(self._sparse_min, index)
        self.max_index = max(self.max_index, index)

    def _densify(self) -> None:
        """Moves the sparse entries the grown array now covers into it."""
        size = len(self._hashes)
        for index in [i for i in self._sparse if i < size]:
            self._hashes[index] = self._sparse.pop(index)
        self._sparse_min = min(self._sparse, default=_NO_INDEX)

    def recorded(self, index: int) -> int:
        """The stored sessionId hash of `index`, 0 if it was not acked."""
        if index < len(self._hashes):
            return self._hashes[index]
        return self._sparse.get(index, 0) if self._sparse else 0

    def __contains__(self, item: Item) -> bool:
        recorded = self.recorded(item.index)
        if recorded == 0:
            return False
        if recorded != self._key(item.session_id):
            raise UsageError(
                f"--resume: the results file does not match the source: payload {item.index} "
                f"({item.where}, sessionId {item.session_id!r}) was acked with another "
                "sessionId; resume with the same source, or start a new results file"
            )
        return True


@dataclass(frozen=True)
class Previous:
    header: dict[str, Any] | None
    acked: Acked
    unreadable: int
    lines: int = 0  # non-blank lines read: 0 for a missing or empty file (a fresh log)


def load_results(path: Path) -> Previous:
    acked = Acked()
    header: dict[str, Any] | None = None
    unreadable = 0
    lines = 0
    try:
        stream = path.open("rb")
    except FileNotFoundError:
        return Previous(None, acked, 0)
    except OSError as exc:
        raise InputError(f"cannot read results `{path}`: {exc.strerror}") from None
    with stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            # A device or a pipe (/dev/zero) would never end or could not be appended to.
            raise UsageError(
                f"results `{path}` is not a regular file; expected the NDJSON log of an "
                "earlier run, e.g. --results run1.ndjson --resume"
            )
        try:
            while raw := stream.readline(_MAX_RESULTS_LINE):
                if not raw.strip():
                    continue
                lines += 1
                if len(raw) == _MAX_RESULTS_LINE and not raw.endswith(b"\n"):
                    while (rest := stream.readline(_MAX_RESULTS_LINE)) and not rest.endswith(b"\n"):
                        pass
                    unreadable += 1
                    continue
                record = _results_record(raw)
                if record is None:
                    # A crash can leave half a last line; everything before it still counts.
                    unreadable += 1
                    continue
                kind = record.get("type")
                if kind == "header":
                    if header is None:
                        header = record
                elif kind == "delivery" and record.get("outcome") == Outcome.ACKED.value:
                    index = record.get("index")
                    sid = record.get("session_id")
                    if type(index) is int and index >= 0 and (sid is None or isinstance(sid, str)):
                        acked.add(index, sid)
                    else:
                        unreadable += 1
        except OSError as exc:
            raise InputError(f"cannot read results `{path}`: {exc.strerror or exc}") from None
    if header is None and lines:
        # Anything else with lines in it (a payload fixture, another tool's NDJSON) would be
        # appended to, and its records read as acks: refused before it is touched.
        raise UsageError(
            f"--resume: `{path}` is not a replay results log (none of its {lines:,} line(s) "
            "is the header record replay writes first); give the --results file of the run to "
            "resume, or leave out --resume and choose a new file, e.g. --results run2.ndjson"
        )
    return Previous(header, acked, unreadable, lines)


def _results_record(raw: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


class ResultsWriter:
    """Appends one NDJSON record per attempt; flushed every 100 ms, past 64 KB and at exit.

    Records are kept as text and written with one os.write() of whole lines on an O_APPEND
    descriptor, so several `--workers` processes can append to one log without a line of one
    landing inside a line of another (Linux serialises appends to a regular file).
    A write that fails (a full disk, a file size limit) never raises into the senders: the
    writer keeps the first error, discards what follows, and calls `on_error` once, so the run
    can stop scheduling and still print its summary.
    """

    def __init__(self, path: Path, *, append: bool) -> None:
        self.path = path
        self.error: str | None = None
        self.on_error: Callable[[], None] | None = None
        self._parts: list[str] = []
        self._size = 0
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | (0 if append else os.O_EXCL)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)  # as every output path (_atomic)
            self._fd: int | None = os.open(path, flags, 0o666)
        except FileExistsError:
            raise UsageError(
                f"results file `{path}` already exists: pass --resume to continue that run, "
                "or choose a new file, e.g. --results run2.ndjson"
            ) from None
        except OSError as exc:
            raise InputError(f"cannot write results `{path}`: {exc.strerror}") from None
        if append and path.stat().st_size > 0:
            with path.open("rb") as check:
                check.seek(-1, os.SEEK_END)
                if check.read(1) != b"\n":
                    self.write("\n")  # a crash left half a line: do not glue onto it

    def write(self, text: str) -> None:
        if self.error is not None:
            return
        self._parts.append(text)
        self._size += len(text)
        if self._size >= _FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        if not self._parts or self._fd is None:
            return
        data = memoryview("".join(self._parts).encode("utf-8"))
        self._parts.clear()
        self._size = 0
        try:
            while data:
                data = data[os.write(self._fd, data) :]
        except OSError as exc:
            self._failed(exc)

    def close(self) -> None:
        self.flush()
        self.on_error = None
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def _failed(self, exc: OSError) -> None:
        if self.error is not None:
            return
        self.error = f"cannot write results file `{self.path}` ({exc.strerror or exc})"
        self._parts.clear()
        if self.on_error is not None:
            self.on_error()


def to_send(
    source: Iterable[Item], *, limit: int | None, acked: Acked, skipped: list[int]
) -> Iterator[Item]:
    """The source's items within -n, less those a resumed run's log says were acked
    (counted in `skipped`)."""
    if limit is None and not acked.count:
        return iter(source)  # nothing to filter: no layer on the hot path
    return _filtered(source, limit=limit, acked=acked, skipped=skipped)


def _filtered(
    source: Iterable[Item], *, limit: int | None, acked: Acked, skipped: list[int]
) -> Iterator[Item]:
    for item in source:
        if limit is not None and item.index >= limit:
            return
        if acked.count and item.body is not None and item in acked:
            skipped[0] += 1
            continue
        yield item


def stored_start(text: str, results: Path | None) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise UsageError(
            f"--resume: `{results}` stores an unreadable start_at {text!r}; pass --start-at, "
            "e.g. --start-at 2026-11-24T10:00:00Z, or start a new results file"
        )
    return value


def verify_acked(source: Iterable[Item], acked: Acked, results: Path | None) -> None:
    """Refuses a resume whose file source changed, before anything is sent.

    Every index the results log says was acked must still hold the payload with the same
    sessionId; checking only as the run reaches each one would send the payloads before the
    first changed one and then stop. Reads the source once, up to the last acked index.
    """
    left = acked.count
    for item in source:
        if item.index > acked.max_index:
            break
        if acked.recorded(item.index):
            item in acked  # noqa: B015  (raises UsageError when the sessionId differs)
            left -= 1
            if left == 0:
                return
    if left:
        raise UsageError(
            f"--resume: `{results}` records {left} acked payload(s) beyond the end of the "
            "source (the last at index "
            f"{acked.max_index}); resume with the same files, or start a new results file"
        )
