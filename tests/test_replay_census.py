"""replay's helper processes: the coverage count beside the run (emitter/replay/_census.py:
its protocol, the counts, the after-run split, starvation and Ctrl-C) and where the helpers run
(the count in the sender's idle time, the generator of emitter/replay/_feed.py off its core)."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emitter.coverage import Coverage
from emitter.generator import dumps, generate
from emitter.replay import _census
from emitter.replay._census import Census, CensusSpec
from emitter.replay._feed import fed
from emitter.replay._results import Acked
from emitter.sources import FileSource


def write_fixture(path: Path, count: int, *, seed: int = 7) -> None:
    """`count` valid `mixed` payloads as NDJSON."""
    with path.open("wb") as out:
        for payload in generate("mixed", seed=seed, n=count):
            out.write(dumps(payload) + b"\n")


def drawn(tmp_path: Path, count: int) -> tuple[Path, Census]:
    """A file of `count` payloads and a census the sender drew all of them through."""
    path = tmp_path / "in.ndjson"
    write_fixture(path, count)
    census = Census(CensusSpec((str(path),), (), None, None, None, Acked()))
    list(census.counted(iter(FileSource([path]))))
    return path, census


def inline(path: Path, count: int | None = None) -> Coverage:
    """The coverage of the file's first `count` payloads, counted here."""
    counted = Coverage()
    for item in itertools.islice(FileSource([path]), count):
        assert item.body is not None
        counted.add_body(item.body)
    return counted


def test_coverage_counted_beside_the_run_equals_counting_inline(tmp_path: Path) -> None:
    from emitter.replay._results import to_send

    path = tmp_path / "in.ndjson"
    write_fixture(path, 80)
    acked = Acked()
    spec = CensusSpec((str(path),), (), None, None, 60, acked)
    census = Census(spec)
    taken = list(itertools.islice(census.counted(iter(FileSource([path]))), 37))
    beside = Coverage()
    census.finish(beside)
    here = Coverage()
    for item in to_send(FileSource([path]), limit=60, acked=acked, skipped=[0]):
        if item.index >= len(taken):
            break
        assert item.body is not None
        here.add_body(item.body)
    assert beside.payloads == here.payloads == 37
    assert beside.counts == here.counts


@pytest.mark.parametrize("counted_before_the_end", [0, 23, 61])
def test_the_rest_of_a_file_is_counted_in_two_halves_after_the_run_with_the_same_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counted_before_the_end: int
) -> None:
    # After the run this process counts every other payload of what the child had not, the
    # child the others: the merged counts are the inline ones, whatever the child got to.
    monkeypatch.setattr(_census, "_SPLIT_AT", 1)
    shares: list[tuple[int, int, int]] = []
    real_count = _census._count

    def count(
        spec: CensusSpec, coverage: Coverage, *, start: int, stop: int, every: int = 1
    ) -> None:
        shares.append((start, stop, every))
        real_count(spec, coverage, start=start, stop=stop, every=every)

    monkeypatch.setattr(_census, "_count", count)
    path = tmp_path / "in.ndjson"
    write_fixture(path, 150)
    census = Census(CensusSpec((str(path),), (), None, None, None, Acked()))
    drawn = census.counted(iter(FileSource([path])))
    list(itertools.islice(drawn, counted_before_the_end))
    census._to.write(b"%d\n" % counted_before_the_end)  # as the teller would
    census._to.flush()
    list(drawn)
    beside = Coverage()
    census.finish(beside)
    here = inline(path)
    assert beside.payloads == here.payloads == 150
    assert beside.counts == here.counts
    ((start, stop, every),) = shares  # this process took a share of the rest
    assert (stop, every) == (150, 2)
    assert start >= 1
    assert census._child.returncode == 0  # a clean exit, at once (not an abort a second later)


def test_a_file_moved_during_the_run_is_counted_by_the_child_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This process cannot read the file again for a share; the child, which has it open,
    # counts the rest alone, and the figures are complete.
    monkeypatch.setattr(_census, "_SPLIT_AT", 1)
    path = tmp_path / "in.ndjson"
    write_fixture(path, 120)
    here = inline(path)
    census = Census(CensusSpec((str(path),), (), None, None, None, Acked()))
    list(census.counted(iter(FileSource([path]))))
    census._to.write(b"1\n")  # the child opens the file and counts the first payload
    census._to.flush()
    _wait_for(lambda: os.path.exists(f"/proc/{census._child.pid}") and _has_open(census, path))
    path.rename(tmp_path / "moved.ndjson")
    counted, said = Coverage(), []
    census.finish(counted, notice=said.append)
    assert counted.unavailable is None, said
    assert counted.payloads == here.payloads == 120
    assert counted.counts == here.counts
    assert census._child.returncode == 0


def test_a_slow_counting_process_at_normal_priority_is_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Slow is not starved: at normal priority (a file on a slow disk, a crowded machine) the
    # child keeps its count; replacing it would count everything again at the same share.
    monkeypatch.setattr(_census, "_QUIET_WAIT_S", 0.0)
    monkeypatch.setattr(_census, "widen", lambda _pid: True)  # back at normal priority
    monkeypatch.setattr(Census, "_progressing", lambda _self: False)  # as slow as can be
    _, census = drawn(tmp_path, 40)
    counted, said = Coverage(), []
    census.finish(counted, notice=said.append)
    assert "the counting process gets no CPU here: counting in this process" not in said
    assert counted.payloads == 40
    assert census._child.returncode == 0


def test_a_stopped_counting_process_is_not_waited_for_whatever_its_priority(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stopped (SIGSTOP, a debugger, a frozen cgroup): at normal priority it never answers
    # either. The run counts the payloads itself instead of waiting forever.
    import signal

    monkeypatch.setattr(_census, "_QUIET_WAIT_S", 0.05)
    monkeypatch.setattr(_census, "_STARVED_S", 0.3)
    _, census = drawn(tmp_path, 40)
    os.kill(census._child.pid, signal.SIGSTOP)
    counted, said = Coverage(), []
    census.finish(counted, notice=said.append)
    assert said[-1] == "the counting process gets no CPU here: counting in this process"
    assert counted.unavailable is None
    assert counted.payloads == 40
    assert census._child.returncode is not None  # stopped and reaped, not left behind


def _has_open(census: Any, path: Path) -> bool:
    fds = Path(f"/proc/{census._child.pid}/fd")
    return any(os.path.realpath(fd) == str(path.resolve()) for fd in fds.iterdir())


def _wait_for(condition: Any, timeout_s: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_long_wait_for_the_coverage_count_is_announced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The child counts in idle time only; when its count is not ready at once after the run
    # (here: never waited for), the run says what it is waiting for instead of hanging quietly.
    monkeypatch.setattr(_census, "_QUIET_WAIT_S", 0.0)
    _, census = drawn(tmp_path, 40)
    said: list[str] = []
    counted = Coverage()
    census.finish(counted, notice=said.append)
    assert said == [
        "counting the contract coverage of the 40 payloads sent, for the report (the run left "
        "little idle time to count them in; Ctrl-C skips it)"
    ]
    assert counted.payloads == 40


def test_ctrl_c_while_counting_coverage_skips_the_count_and_the_report_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ctrl-C while replay waits for the coverage count after the run: the child is stopped,
    # the count is marked unavailable (the JSON and the HTML page say so, showing no coverage
    # rather than a partial one), and the terminal is told.
    from emitter.report._html import render_replay_html, write_reports

    _, census = drawn(tmp_path, 40)
    child = census._child

    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(_census.select, "select", interrupted)
    counted = Coverage()
    said: list[str] = []
    census.finish(counted, notice=said.append)
    assert child.returncode is not None  # stopped, not left counting
    assert counted.unavailable == "not counted: skipped (Ctrl-C) while counting"
    assert said == ["the report has no contract coverage: its count was skipped (Ctrl-C)"]
    report = tmp_path / "report.json"
    run = {"sent": 40, "acked": 40, "timeline": [], "latency_ms": {}, "outcomes": {}}
    write_reports(run, counted, report_json=report, html=None)
    data = json.loads(report.read_text())
    assert "coverage" not in data
    assert data["coverage_unavailable"] == counted.unavailable
    assert counted.unavailable in render_replay_html(data)


def test_a_coverage_child_that_gets_no_cpu_after_the_run_is_replaced_by_counting_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where the child cannot leave the idle class and a busy machine gives it no CPU, the run
    # does not wait for it: it stops the child and counts the same payloads itself.
    path = tmp_path / "in.ndjson"
    write_fixture(path, 60)
    spec = CensusSpec((str(path),), (), None, None, 50, Acked())
    census = Census(spec)
    list(census.counted(iter(FileSource([path]))))
    monkeypatch.setattr(_census, "widen", lambda _pid: False)  # the system refuses the change
    monkeypatch.setattr(_census, "_QUIET_WAIT_S", 0.0)
    monkeypatch.setattr(Census, "_progressing", lambda _self: False)  # no CPU for it
    child = census._child
    counted, said = Coverage(), []
    census.finish(counted, drawn=37, notice=said.append)
    assert child.returncode is not None
    assert said[-1] == "the counting process gets no CPU here: counting in this process"
    here = inline(path, 37)
    assert counted.unavailable is None
    assert counted.payloads == here.payloads == 37
    assert counted.counts == here.counts


@contextlib.contextmanager
def _pinned_to(core: int) -> Iterator[None]:
    """This process on `core` only, as under `taskset -c CORE vss-emitter replay ...`."""
    mine = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, mine)


def _two_cores() -> list[int]:
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        pytest.skip("needs two cores: where helpers run depends on the sender's being pinned")
    return cores


def test_the_coverage_count_stays_on_a_pinned_senders_core_in_idle_time_until_the_run_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It must not slow the run, nor a receiver the user keeps on the other cores: it runs only
    # in the sender's own idle time. After the run it may use every core, at normal priority.
    cores = _two_cores()
    path = tmp_path / "in.ndjson"
    write_fixture(path, 30)
    with _pinned_to(cores[0]):
        census = Census(CensusSpec((str(path),), (), None, None, None, Acked()))
    child = census._child
    assert os.sched_getaffinity(child.pid) == {cores[0]}
    assert os.sched_getscheduler(child.pid) == os.SCHED_IDLE
    after_the_run: dict[str, Any] = {}
    real_widen = _census.widen

    def widen(pid: int) -> bool:
        normal = real_widen(pid)
        after_the_run.update(
            cores=os.sched_getaffinity(pid), policy=os.sched_getscheduler(pid), normal=normal
        )
        return normal

    monkeypatch.setattr(_census, "widen", widen)
    list(census.counted(iter(FileSource([path]))))
    counted = Coverage()
    census.finish(counted)
    assert counted.payloads == 30
    assert after_the_run["cores"] >= set(cores)
    # Back at normal priority where the system allows it (root, or RLIMIT_NICE).
    expected = os.SCHED_OTHER if after_the_run["normal"] else os.SCHED_IDLE
    assert after_the_run["policy"] == expected
    assert child.returncode == 0


def test_the_generator_process_leaves_a_pinned_senders_core_to_keep_up() -> None:
    # Generating a payload costs about what sending it does: on the sender's core it would
    # halve the rate. It goes to the other cores, at normal priority.
    cores = _two_cores()
    with _pinned_to(cores[0]):
        stream = fed(["mixed"], seed=3, start_at=None)
        first = next(stream)  # the child runs once its first batch came
    try:
        assert first.body is not None
        (child_pid,) = _children_running("emitter.replay._child")
        assert cores[0] not in os.sched_getaffinity(child_pid)
        assert os.sched_getscheduler(child_pid) == os.SCHED_OTHER
    finally:
        stream.close()


def _children_running(module: str) -> list[int]:
    """The pids of this process's children whose command line runs `module`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and module.encode() in argv:
            found.append(int(entry.name))
    return found


def test_a_process_cpu_time_is_read_from_proc_where_there_is_one() -> None:
    from emitter.replay._census import _cpu_ticks

    if not os.path.exists(f"/proc/{os.getpid()}/stat"):
        pytest.skip("no /proc here: the starvation check then always waits for the child")
    before = _cpu_ticks(os.getpid())
    assert before is not None
    sum(i * i for i in range(3_000_000))  # about a tenth of a second of CPU
    after = _cpu_ticks(os.getpid())
    assert after is not None
    assert after > before
    assert _cpu_ticks(2**22 + 12345) is None  # no such process
