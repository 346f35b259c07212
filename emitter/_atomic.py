"""Writing a whole file or nothing: every report and saved payload of the kit goes through here.

A regular file is written to a temporary name in its own folder and renamed over the target
(`os.replace` is atomic on POSIX and Windows), so a reader, a crash or Ctrl-C never leaves a
half-written report. What is not a regular file is never replaced: a symlink is followed and
its target written (the link stays), and a FIFO, a device (`/dev/null`, a terminal) or one of
this process's open descriptors (`/dev/stdout`, `/proc/self/fd/1`) is written to directly, as a
shell redirection would. Every failure is one UsageError (exit 2) naming the path.

Missing parent folders are created, for every output path alike (`--report-json`,
`--junit-xml`, `--html`, `--results`, `-o`, `--save-failures`): CI jobs write reports into a
`build/` folder that a clean checkout does not have, as pytest's `--junitxml` allows.
A caller that must not create folders passes make_parents=False.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from emitter.errors import UsageError


def _read_umask_once() -> int:
    # os.umask can only be read by setting it; done once, at import, before report threads.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_IMPORT_UMASK = _read_umask_once()

# A path naming one of this process's open descriptors; /dev/stdout and /dev/stderr are
# symlinks to such paths on Linux.
_OWN_FD = re.compile(r"^/(?:proc/(?:self|thread-self|(?P<pid>\d+))/fd|dev/fd)/(?P<fd>\d+)$")
_MAX_HOPS = 40  # the kernel's own limit on symlinks followed in one lookup


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


def _own_descriptor(target: Path) -> int | None:
    """The descriptor number when `target` (or a symlink on its way) names one of this
    process's open descriptors, e.g. /dev/stdout -> /proc/self/fd/1 -> 1."""
    current = os.path.abspath(target)
    for _ in range(_MAX_HOPS):
        match = _OWN_FD.match(current)
        if match and (match["pid"] is None or int(match["pid"]) == os.getpid()):
            return int(match["fd"])
        if not os.path.islink(current):
            return None
        current = os.path.normpath(os.path.join(os.path.dirname(current), os.readlink(current)))
    return None


def _special(target: Path) -> bool:
    """True when `target` (symlinks followed) exists and is not a regular file: a FIFO, a
    device, a socket, a folder. Such a path is opened, never replaced."""
    try:
        return not stat.S_ISREG(os.stat(target).st_mode)
    except OSError:
        return False  # missing (or a dangling link): a new regular file is made


@contextlib.contextmanager
def atomic_writer(
    path: str | os.PathLike[str],
    *,
    example: str = "--report-json build/vss.json",
    make_parents: bool = True,
) -> Iterator[BinaryIO]:
    """A binary handle whose bytes reach `path` whole or not at all (see the module's rules).

    For a regular file nothing is visible at `path` until the block ends without an error;
    a FIFO, device or open descriptor gets the bytes as they are written.
    """
    target = Path(path)
    try:
        fd = _own_descriptor(target)
        if fd is not None:
            handle = os.fdopen(os.dup(fd), "wb")
        elif _special(target):
            handle = open(target, "wb")  # noqa: SIM115 (closed below, errors mapped)
        else:
            handle = None
    except OSError as exc:
        raise _cannot(target, exc, example) from None
    if handle is not None:
        try:
            with handle:
                yield handle
        except OSError as exc:
            raise _cannot(target, exc, example) from None
        return
    yield from _replace_regular(target, example=example, make_parents=make_parents)


def _replace_regular(target: Path, *, example: str, make_parents: bool) -> Iterator[BinaryIO]:
    # A symlink's target is written (the link survives); a missing one is created there.
    real = Path(os.path.realpath(target))
    try:
        if make_parents:
            real.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=real.parent)
    except OSError as exc:
        raise _cannot(target, exc, example) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        _take_over_mode(tmp, real)
        os.replace(tmp, real)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _cannot(target, exc, example) from None
        raise


def _take_over_mode(tmp: str, real: Path) -> None:
    """An existing file keeps its mode (and owner, where allowed); a new one gets the mode
    any other new file would (0666 minus the umask), not mkstemp's 0600."""
    try:
        old = os.stat(real)
    except FileNotFoundError:
        os.chmod(tmp, 0o666 & ~_umask())
        return
    os.chmod(tmp, stat.S_IMODE(old.st_mode))
    if hasattr(os, "chown"):
        with contextlib.suppress(OSError):  # only root may give a file away; best effort
            os.chown(tmp, old.st_uid, old.st_gid)


def atomic_write(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    example: str = "--report-json build/vss.json",
    make_parents: bool = True,
) -> Path:
    """Write `data` to `path` whole or not at all, creating missing folders unless
    `make_parents` is False (then a missing folder is the error).

    `example` ends the error message (the option that named the path, with a good value).
    Returns `path` as given (a symlink stays the name the user knows).
    """
    with atomic_writer(path, example=example, make_parents=make_parents) as handle:
        handle.write(data)
    return Path(path)


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
        if _own_descriptor(target) is not None:
            return
        if _special(target):
            if target.is_dir():
                raise IsADirectoryError(21, "Is a directory")
            # Opening a FIFO now would wait for its reader: the permission is what can be known.
            if not os.access(target, os.W_OK):
                raise PermissionError(13, "Permission denied")
            return
        real = Path(os.path.realpath(target))
        if make_parents:
            real.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=real.parent)
    except OSError as exc:
        raise _cannot(target, exc, example) from None
    os.close(fd)
    os.unlink(probe)
