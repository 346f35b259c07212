"""Writing a whole file or nothing: every report and saved payload of the kit goes through here.

A file is written to a temporary name in its own folder and renamed over the target
(`os.replace` is atomic on POSIX and Windows), so a reader, a crash or Ctrl-C never leaves a
half-written report. Every failure is one UsageError (exit 2) naming the path.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

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


def _cannot(target: Path, exc: OSError, example: str) -> UsageError:
    return UsageError(
        f"cannot write {str(target)!r}: {exc.strerror or exc}; "
        f"expected a writable file path, e.g. {example}"
    )


def atomic_write(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    example: str = "--report-json build/vss.json",
    make_parents: bool = True,
) -> Path:
    """Write `data` to `path` whole or not at all; missing folders are created unless
    `make_parents` is False (then a missing folder is the error).

    `example` ends the error message (the option that named the path, with a good value).
    """
    target = Path(path)
    try:
        if make_parents:
            target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise _cannot(target, exc, example) from None
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
            raise _cannot(target, exc, example) from None
        raise
    return target


def check_writable(
    path: str | os.PathLike[str],
    *,
    example: str = "--report-json build/vss.json",
    make_parents: bool = True,
) -> None:
    """UsageError unless `atomic_write(path, ...)` can succeed: checked before a long run, so a
    typo in a report path does not throw the run's figures away."""
    target = Path(path)
    try:
        if make_parents:
            target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir():
            raise IsADirectoryError(21, "Is a directory")
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise _cannot(target, exc, example) from None
    os.close(fd)
    os.unlink(probe)
