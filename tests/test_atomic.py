"""One atomic writer (emitter._atomic) for every report and saved payload of the kit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from emitter._atomic import atomic_write, check_writable
from emitter.errors import UsageError


def test_a_file_is_written_whole_with_the_mode_of_any_new_file(tmp_path: Path) -> None:
    target = atomic_write(tmp_path / "deep" / "er" / "report.json", b'{"ok":true}\n')
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


def test_a_missing_folder_is_an_error_when_folders_are_not_made(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "report.json"
    with pytest.raises(UsageError) as caught:
        atomic_write(missing, b"x", example="--report-json ./r.json", make_parents=False)
    assert str(caught.value) == (
        f"cannot write {str(missing)!r}: No such file or directory; "
        "expected a writable file path, e.g. --report-json ./r.json"
    )
    with pytest.raises(UsageError):
        check_writable(missing, make_parents=False)
    assert not missing.parent.exists()


def test_a_path_that_is_a_folder_is_refused_before_a_run(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="Is a directory"):
        check_writable(tmp_path)
    check_writable(tmp_path / "fine.json")
    assert list(tmp_path.iterdir()) == []  # the check leaves nothing behind
