"""The contract coverage of what a replay drew from its source, counted beside the run.

Counting a payload's coverage means parsing its JSON: about 7 us, half of what sending it
costs; on the sender's thread that cut `--rate max` by a third whenever a report was asked
for. So a child process (`python -m emitter.replay._child census`) reads the same source
through the same resume and limit filter, and counts the payloads in order, never ahead of
how many the sender has drawn (told five times a second); at the end it counts up to the
final number and hands the Coverage back. The counts are the same as counting inline, for a
source that can be read twice (files and scenarios; stdin is counted inline).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from emitter.coverage import Coverage
from emitter.replay._loop import idle_class, widen
from emitter.replay._results import Acked, to_send
from emitter.sources import FileSource, Item, ScenarioSource

_TELL_EVERY_S = 0.2
_QUIET_WAIT_S = 1.0  # a longer wait for the child's count is announced
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

        The child counts in idle time only, so where the run kept every core busy (a receiver
        on the same machine) it counts most of the payloads once the run is over. Then it may
        use every core at normal priority (where the system allows the change back); a wait
        over a second is announced to `notice`, and a child that gets under a fifth of a core
        for _STARVED_S (still idle-class on a busy machine) is stopped and the count done here.
        Ctrl-C during the wait, or a child that died, leaves `coverage` marked unavailable:
        the report says so and shows no coverage rather than a wrong one; the run's exit code
        stays the deliveries'.
        """
        self._stop.set()
        self._teller.join()
        final = self.drawn if drawn is None else drawn
        say = notice or (lambda _text: None)
        normal = widen(self._child.pid)
        try:
            self._to.write(b"end %d\n" % final)
            self._to.close()
            assert self._child.stdout is not None
            ready, _, _ = select.select([self._child.stdout], [], [], _QUIET_WAIT_S)
            if not ready:
                say(
                    f"counting the contract coverage of the {final:,} payloads sent, for the "
                    "report (it runs in idle time, and the run left little; Ctrl-C skips it)"
                )
                if not normal and not self._progressing():
                    self._child.kill()  # the finally below reaps it
                    say("the counting process gets no CPU here: counting in this process")
                    self._count_here(coverage, final)
                    return
            # Our own child's output on a private pipe, never data from outside.
            got = pickle.loads(self._child.stdout.read())  # noqa: S301
        except KeyboardInterrupt:
            self._child.kill()  # the finally below reaps it
            coverage.unavailable = "not counted: skipped (Ctrl-C) while counting"
            say("the report has no contract coverage: its count was skipped (Ctrl-C)")
            return
        except (OSError, ValueError, EOFError, pickle.UnpicklingError):
            self._child.kill()  # the finally below reaps it
            coverage.unavailable = "not counted: the process counting it stopped"
            say("the report has no contract coverage: the process counting it stopped")
            return
        finally:
            self._close()
        coverage.payloads += got.payloads
        for name, counter in got.counts.items():
            coverage.counts.setdefault(name, type(counter)()).update(counter)

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

    def _count_here(self, coverage: Coverage, final: int) -> None:
        for count, item in enumerate(_stream(self._spec)):
            if count >= final:
                break
            if item.body is not None:
                coverage.add_body(item.body)


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


def main() -> None:
    given = sys.stdin.buffer
    spec: CensusSpec = pickle.loads(given.read(int.from_bytes(given.read(8), "big")))  # noqa: S301
    allowed = [0]
    final: list[int | None] = [None]
    moved = threading.Condition()

    def listen() -> None:
        for line in given:
            with moved:
                if line.startswith(b"end "):
                    final[0] = int(line[4:])
                else:
                    allowed[0] = int(line)
                moved.notify_all()
        with moved:
            if final[0] is None:
                final[0] = allowed[0]  # the parent went away: count what it had drawn
            moved.notify_all()

    threading.Thread(target=listen, daemon=True).start()
    coverage = Coverage()
    for count, item in enumerate(_stream(spec)):
        with moved:
            while count >= (allowed[0] if final[0] is None else final[0]):
                if final[0] is not None:
                    break
                moved.wait()
            if final[0] is not None and count >= final[0]:
                break
        if item.body is not None:
            coverage.add_body(item.body)
    with moved:
        while final[0] is None:
            moved.wait()
    sys.stdout.buffer.write(pickle.dumps(coverage, protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.buffer.flush()
