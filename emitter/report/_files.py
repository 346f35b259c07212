"""Files a check run writes: atomic report files and the failing payloads, byte for byte."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from emitter.check import CheckReport
from emitter.errors import UsageError


def _read_umask_once() -> int:
    # os.umask can only be read by setting it; done once, at import, before report threads.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_IMPORT_UMASK = _read_umask_once()


def _umask() -> int:
    """The process umask now, read without changing it where the OS allows (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return _IMPORT_UMASK


def atomic_write(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write via a temporary file in the same folder and os.replace, so nothing is half-written."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise UsageError(
            f"cannot write {str(target)!r}: {exc.strerror or exc}; "
            "expected a path in a writable folder, e.g. --junit-xml build/vss.xml"
        ) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        # mkstemp makes the file 0600; a report is an ordinary file, so it gets the mode any
        # other new file would (0666 minus the umask).
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise UsageError(
                f"cannot write {str(target)!r}: {exc.strerror or exc}; "
                "expected a writable file path, e.g. --report-json build/vss.json"
            ) from None
        raise
    return target


def failure_file_stem(name: str) -> str:
    """A probe name as a file name: `delivery/burst` -> `delivery--burst`."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name.replace("/", "--")).strip("-")


def save_failures(report: CheckReport, directory: str | os.PathLike[str]) -> list[Path]:
    """Every payload of every probe that did not pass, as the exact bytes sent, one per file.

    Files are named after the probe (`delivery--duplicate.json`; `.2.json`, … when a probe
    sent several different payloads) and can be replayed with `vss-emitter send URL --file`.
    """
    folder = Path(directory)
    saved: list[Path] = []
    for result in report.results:
        if result.passed:
            continue
        bad = [x for x in result.exchanges if not x.ack.ok] or list(result.exchanges)
        bodies = list(dict.fromkeys(x.body for x in bad))
        stem = failure_file_stem(result.name)
        for index, body in enumerate(bodies, start=1):
            name = f"{stem}.json" if index == 1 else f"{stem}.{index}.json"
            saved.append(atomic_write(folder / name, body))
    return saved
