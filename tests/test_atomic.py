"""One atomic writer (emitter._atomic) for every report and saved payload of the kit."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from emitter._atomic import atomic_write, check_writable
from emitter.errors import UsageError


def test_a_file_is_written_whole_with_the_mode_of_any_new_file(tmp_path: Path) -> None:
    target = atomic_write(
        tmp_path / "deep" / "er" / "report.json", b'{"ok":true}\n', make_parents=True
    )
    assert target.read_bytes() == b'{"ok":true}\n'
    mask = os.umask(0o022)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]  # no temporary left


def test_a_write_that_cannot_happen_is_one_error_and_leaves_nothing_behind(
    tmp_path: Path,
) -> None:
    existing = tmp_path / "report.json"
    existing.write_bytes(b"old")
    with pytest.raises(
        UsageError, match=r"cannot write .*; expected a writable file path, e\.g\. -o x"
    ):
        atomic_write(existing / "child.json", b"new", example="-o x")  # its folder is a file
    assert existing.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_a_missing_folder_is_created_unless_the_caller_refuses_it(tmp_path: Path) -> None:
    refused = tmp_path / "nope" / "report.json"
    with pytest.raises(UsageError) as caught:
        atomic_write(refused, b"x", example="--report-json ./r.json", make_parents=False)
    assert str(caught.value) == (
        f"cannot write {str(refused)!r}: No such file or directory; "
        "expected a writable file path, e.g. --report-json ./r.json"
    )
    with pytest.raises(UsageError):
        check_writable(refused, make_parents=False)
    assert not refused.parent.exists()
    made = tmp_path / "build" / "reports" / "report.json"
    check_writable(made)
    atomic_write(made, b"x")
    assert made.read_bytes() == b"x"


def test_a_path_that_is_a_folder_is_refused_before_a_run(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="Is a directory"):
        check_writable(tmp_path)
    check_writable(tmp_path / "fine.json")
    assert list(tmp_path.iterdir()) == []  # the check leaves nothing behind


# --- what is not a regular file is never replaced ----------------------------------------------


def test_a_symlink_survives_and_its_target_gets_the_bytes(tmp_path: Path) -> None:
    target = tmp_path / "target.json"
    target.write_bytes(b"old")
    link = tmp_path / "link.json"
    link.symlink_to("target.json")
    assert atomic_write(link, b"new") == link
    assert link.is_symlink()
    assert os.readlink(link) == "target.json"
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "target.json"]


def test_a_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "link.json"
    link.symlink_to("made.json")
    atomic_write(link, b"new")
    assert link.is_symlink()
    assert (tmp_path / "made.json").read_bytes() == b"new"


def test_an_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    private = tmp_path / "private.json"
    private.write_bytes(b"old")
    private.chmod(0o600)
    atomic_write(private, b"new")
    assert private.read_bytes() == b"new"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600


def test_a_fifo_is_written_to_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    check_writable(fifo)
    atomic_write(fifo, b'{"ok":true}\n')
    reader.join(timeout=10)
    assert received == [b'{"ok":true}\n']
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["report.fifo"]  # no temporary left


def test_a_symlink_to_dev_null_leaves_the_device_alone(tmp_path: Path) -> None:
    link = tmp_path / "null.json"
    link.symlink_to("/dev/null")
    check_writable("/dev/null")
    atomic_write("/dev/null", b"discarded")
    atomic_write(link, b"discarded")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert os.readlink(link) == "/dev/null"
    assert [p.name for p in tmp_path.iterdir()] == ["null.json"]


def test_this_process_s_open_descriptor_is_written_to_in_place(tmp_path: Path) -> None:
    sink = tmp_path / "sink.txt"
    with sink.open("ab") as handle:
        handle.write(b"kept\n")
        handle.flush()
        check_writable(f"/proc/self/fd/{handle.fileno()}")
        atomic_write(f"/dev/fd/{handle.fileno()}", b"appended\n")
    assert sink.read_bytes() == b"kept\nappended\n"  # not truncated, not replaced
    assert [p.name for p in tmp_path.iterdir()] == ["sink.txt"]
