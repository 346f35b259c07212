"""The contract coverage of what a replay drew from its source, counted beside the run.

Counting a payload's coverage means parsing its JSON: about 7 us, half of what sending it
costs; on the sender's thread that cut `--rate max` by a third whenever a report was asked
for. So a child process (`python -m emitter.replay._child census`) reads the same source
through the same resume and limit filter, and counts the payloads in order, never ahead of
how many the sender has drawn (told five times a second); at the end it says how far it got,
counts up to the final number (of a file, sharing what is left with this process, every other
payload each) and hands the Coverage back. The counts are the same as counting inline, for a
source that can be read twice (files and scenarios; stdin is counted inline).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pickle
import select
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from emitter.coverage import Coverage
from emitter.errors import VssEmitterError
from emitter.replay._loop import idle_class, widen
from emitter.replay._results import Acked, to_send
from emitter.sources import FileSource, Item, ScenarioSource

_TELL_EVERY_S = 0.2
_QUIET_WAIT_S = 1.0  # a longer wait for the child's count is announced
# After the run, this process shares the count of a file's rest when that much is left (and
# announces the wait from this much: about half a second or more of counting each).
_SPLIT_AT = 20_000
_ANNOUNCE_SPLIT_AT = 150_000
_STARVED_S = 2.0  # a child starved this long after the run is not waited for


@dataclass(frozen=True)
class CensusSpec:
    """The source as the run reads it (all picklable)."""

    files: tuple[str, ...]
    scenarios: tuple[str, ...]
    seed: int | None
    start_at: datetime | None
    limit: int | None
    acked: Acked


class Census:
    """The child that counts; `counted()` wraps the run's items to tell it how far to go."""

    def __init__(self, spec: CensusSpec) -> None:
        self.drawn = 0
        self._spec = spec
        self._child = subprocess.Popen(
            [sys.executable, "-m", "emitter.replay._child", "census"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            # Its own process group: a terminal's Ctrl-C is the run's to handle (see finish),
            # never a traceback from this child. Not its own session: with the kernel's
            # autogroups a session competes for CPU as a whole, and SCHED_IDLE would only rank
            # the child within its own group (measured: --rate max fell from 55k to 40k/s).
            process_group=0,
        )
        # Idle time only, of the sender's own cores: counting must never slow the run, nor a
        # receiver on the machine's other cores. What it has not counted when the run ends, it
        # counts then, on every core.
        idle_class(self._child.pid)
        assert self._child.stdin is not None
        self._to: IO[bytes] = self._child.stdin
        data = pickle.dumps(spec, protocol=pickle.HIGHEST_PROTOCOL)
        self._to.write(len(data).to_bytes(8, "big") + data)
        self._to.flush()
        self._stop = threading.Event()
        self._teller = threading.Thread(target=self._tell, daemon=True)
        self._teller.start()

    def counted(self, items: Iterator[Item]) -> Iterator[Item]:
        for item in items:
            self.drawn += 1
            yield item

    def _tell(self) -> None:
        told = -1
        while not self._stop.wait(_TELL_EVERY_S):
            if self.drawn != told:
                told = self.drawn
                with contextlib.suppress(OSError, ValueError):
                    self._to.write(b"%d\n" % told)
                    self._to.flush()

    def finish(
        self,
        coverage: Coverage,
        *,
        drawn: int | None = None,
        notice: Callable[[str], None] | None = None,
    ) -> None:
        """Counts up to `drawn` (default: what counted() saw) and adds it into `coverage`.

        The child counts in idle time only, so where the run kept the sender's cores busy it
        counts most of the payloads once the run is over. Then it may use every core at normal
        priority (where the system allows the change back), and it says how far it got: when
        much of a file is left, this process counts every other payload of the rest while the
        child counts the others (two cores instead of one; files only, where skipping what the
        child counted costs little). A wait over a second is announced to `notice`, and a child
        that gets under a fifth of a core for _STARVED_S (still idle-class on a busy machine)
        is stopped and the count done here. Ctrl-C during the wait, or a child that died,
        leaves `coverage` marked unavailable: the report says so and shows no coverage rather
        than a wrong one; the run's exit code stays the deliveries'.
        """
        self._stop.set()
        self._teller.join()
        final = self.drawn if drawn is None else drawn
        say = notice or (lambda _text: None)
        announced = [False]

        def announce() -> None:
            if not announced[0]:
                announced[0] = True
                say(
                    f"counting the contract coverage of the {final:,} payloads sent, for the "
                    "report (the run left little idle time to count them in; Ctrl-C skips it)"
                )

        normal = widen(self._child.pid)
        mine = Coverage()  # this process's share of the rest, when split
        try:
            out = self._child.stdout
            assert out is not None
            self._to.write(b"end %d\n" % final)
            self._to.flush()
            if not self._answers(announce, normal=normal):
                return self._replace(coverage, final, say)
            at = int(out.readline().split()[1])  # "at N": how many it has counted
            if not 0 <= at <= final:
                raise ValueError(f"the counting process counted {at} of {final}")
            share = self._share(final - at)
            self._to.write(b"split\n" if share is not None else b"solo\n")
            self._to.close()
            if share is not None:
                if final - at >= _ANNOUNCE_SPLIT_AT:
                    announce()
                _count(share, mine, start=at + 1, stop=final, every=2)
            if not self._answers(announce, normal=normal):
                return self._replace(coverage, final, say)
            # Our own child's output on a private pipe, never data from outside.
            got = pickle.loads(out.read())  # noqa: S301
        except KeyboardInterrupt:
            self._child.kill()  # the finally below reaps it
            coverage.unavailable = "not counted: skipped (Ctrl-C) while counting"
            say("the report has no contract coverage: its count was skipped (Ctrl-C)")
            return None
        except (OSError, ValueError, IndexError, EOFError, pickle.UnpicklingError):
            self._child.kill()  # the finally below reaps it
            coverage.unavailable = "not counted: the process counting it stopped"
            say("the report has no contract coverage: the process counting it stopped")
            return None
        except VssEmitterError as exc:  # the source changed or went away during the run
            self._child.kill()  # the finally below reaps it
            coverage.unavailable = f"not counted: the source could not be read again: {exc}"
            say(f"the report has no contract coverage: the source could not be read again: {exc}")
            return None
        finally:
            self._close()
        for part in (got, mine):
            coverage.payloads += part.payloads
            for name, counter in part.counts.items():
                coverage.counts.setdefault(name, type(counter)()).update(counter)
        return None

    def _answers(self, announce: Callable[[], None], *, normal: bool) -> bool:
        """Waits for the child's next answer: False when it is starved (see finish): still in
        the idle class on a busy machine, or stopped (SIGSTOP, a frozen cgroup), which no
        priority rules out. A child at normal priority that is merely slow (reading a file
        from a slow disk) is waited for; Ctrl-C skips the wait."""
        assert self._child.stdout is not None
        ready, _, _ = select.select([self._child.stdout], [], [], _QUIET_WAIT_S)
        if ready:
            return True
        announce()
        if normal and not _stopped(self._child.pid):
            return True
        return self._progressing()

    def _share(self, left: int) -> Iterator[Item] | None:
        """This process's own reading of the source, for a share of the `left` payloads the
        child has not counted; None when a share is not worth it (a scenario source, whose
        payloads would be generated again, little left, one core) or the source cannot be
        read again (moved during the run: the child, which has it open, counts alone)."""
        if not self._spec.files or left < _SPLIT_AT or len(_usable_cores(self._child.pid)) < 2:
            return None
        try:
            stream = _stream(self._spec)
            first = next(stream, None)
        except VssEmitterError:
            return None
        return itertools.chain([first] if first is not None else [], stream)

    def _replace(self, coverage: Coverage, final: int, say: Callable[[str], None]) -> None:
        """Stops a starved child and counts every payload here."""
        self._child.kill()  # finish's finally reaps it
        say("the counting process gets no CPU here: counting in this process")
        _count(_stream(self._spec), coverage, start=0, stop=final)

    def abandon(self) -> None:
        """Stops the child (the run failed, or its count is not wanted any more)."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self._child.kill()
        self._close()

    def _close(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._child.wait(timeout=30)
        for pipe in (self._child.stdout, self._child.stdin):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def _progressing(self) -> bool:
        """False when the child got under a fifth of a core over _STARVED_S (Linux /proc;
        elsewhere True): the idle class still gets a sliver of a busy core, too little."""
        before = _cpu_ticks(self._child.pid)
        if before is None:
            return True
        assert self._child.stdout is not None
        ready, _, _ = select.select([self._child.stdout], [], [], _STARVED_S)
        after = _cpu_ticks(self._child.pid)
        wanted = _STARVED_S * os.sysconf("SC_CLK_TCK") / 5
        return bool(ready) or after is None or after - before >= wanted


def _count(
    items: Iterator[Item], coverage: Coverage, *, start: int, stop: int, every: int = 1
) -> None:
    """Counts the payloads `start`, `start + every`, ... below `stop` of the run's stream."""
    for index, item in enumerate(items):
        if index >= stop:
            break
        if index >= start and not (index - start) % every and item.body is not None:
            coverage.add_body(item.body)


def _usable_cores(pid: int) -> set[int]:
    """The cores this process and `pid` may run on together (Linux; elsewhere, the count)."""
    try:
        return os.sched_getaffinity(0) | os.sched_getaffinity(pid)
    except (OSError, AttributeError):
        return set(range(os.cpu_count() or 1))


def _stopped(pid: int) -> bool:
    """True when `pid` is stopped (state T or t in /proc; elsewhere never known)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] in (b"T", b"t")
    except (OSError, IndexError):
        return False


def _cpu_ticks(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def _stream(spec: CensusSpec) -> Iterator[Item]:
    """The payloads the run drew, in order: the same source through the same filter."""
    source: Any
    if spec.files:
        source = FileSource(list(spec.files))
    else:
        source = ScenarioSource(list(spec.scenarios), seed=spec.seed or 0, start_at=spec.start_at)
    return to_send(source, limit=spec.limit, acked=spec.acked, skipped=[0])


class _Told:
    """What the parent said on the child's stdin: how far the sender has drawn (a number a
    line), `end N` once the run is over, then `solo` or `split` (who counts the rest)."""

    def __init__(self) -> None:
        self.allowed = 0
        self.final: int | None = None
        self.split: bool | None = None
        self.ended = False  # read without the lock on the hot path: set once, never unset
        self.moved = threading.Condition()

    def listen(self, given: IO[bytes]) -> None:
        for line in given:
            with self.moved:
                if line.startswith(b"end "):
                    self.final = int(line[4:])
                    self.ended = True
                elif line.strip() in (b"solo", b"split"):
                    self.split = line.strip() == b"split"
                else:
                    self.allowed = int(line)
                self.moved.notify_all()
        with self.moved:  # the parent went away: count what it had drawn, alone
            if self.final is None:
                self.final = self.allowed
            if self.split is None:
                self.split = False
            self.ended = True
            self.moved.notify_all()

    def beyond(self, position: int) -> int:
        """How far counting may go: over `position`, or -1 once the run is over."""
        with self.moved:
            while not self.ended and self.allowed <= position:
                self.moved.wait()
            return -1 if self.ended else self.allowed

    def wait_for(self, what: Callable[[], Any]) -> Any:
        with self.moved:
            while what() is None:
                self.moved.wait()
            return what()


def main() -> None:
    """The child's entry point. It always ends with os._exit, not the interpreter's shutdown:
    its stdin listener, a daemon thread, may still hold stdin's lock (it has not yet seen the
    parent close it), and a daemon thread holding a lock at shutdown makes CPython wait a
    second, then abort (measured: one second more for every report with a count left)."""
    code = 0
    try:
        _count_as_told()
    except BrokenPipeError:
        pass  # the parent stopped waiting (Ctrl-C): nothing to hand back
    except BaseException:  # noqa: BLE001  (the parent sees no answer and says so)
        traceback.print_exc()
        code = 1
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    os._exit(code)


def _count_as_told() -> None:
    given = sys.stdin.buffer
    spec: CensusSpec = pickle.loads(given.read(int.from_bytes(given.read(8), "big")))  # noqa: S301
    told = _Told()
    threading.Thread(target=told.listen, args=(given,), daemon=True).start()
    coverage = Coverage()
    stream = _stream(spec)
    # During the run: in order, never ahead of what the sender has drawn.
    position, limit = 0, 0
    held: list[Item] = []
    for item in stream:
        if told.ended or position >= limit:
            limit = told.beyond(position)
            if limit < 0:
                held.append(item)  # not counted yet: the rest starts with it
                break
        if item.body is not None:
            coverage.add_body(item.body)
        position += 1
    # The run is over: say how far this got, and count the rest (every other one if split).
    final: int = told.wait_for(lambda: told.final)
    out = sys.stdout.buffer
    out.write(b"at %d\n" % position)
    out.flush()
    every = 2 if told.wait_for(lambda: told.split) else 1
    for offset, item in enumerate(itertools.chain(held, stream)):
        if position + offset >= final:
            break
        if not offset % every and item.body is not None:
            coverage.add_body(item.body)
    out.write(pickle.dumps(coverage, protocol=pickle.HIGHEST_PROTOCOL))
    out.flush()
