"""Generated payloads built in a second process, so the sender's core only sends.

Building a `mixed` payload and encoding it costs about twice as much CPU as sending it
(measured with bench/bench_replay.py), so at high rates replay generates in a child process on
another core and receives the bytes in batches over a pipe. The stream is the same, item for
item, as the in-process ScenarioSource gives (same scenarios, seed and start time).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime

from emitter.errors import InputError, VssEmitterError
from emitter.replay._loop import offload
from emitter.sources import Item, ScenarioSource

_BATCH = 256
# Worth a process (about half a second to start) only for runs that send this many or more.
MIN_PAYLOADS = 20_000
MIN_RATE = 3_000.0


def worth_feeding(*, rate: float | None, limit: int | None) -> bool:
    """True for a run fast and long enough to need the generator on a core of its own."""
    if (os.cpu_count() or 1) < 2:
        return False
    return (rate is None or rate >= MIN_RATE) and (limit is None or limit >= MIN_PAYLOADS)


def fed(names: list[str], *, seed: int, start_at: datetime | None) -> Iterator[Item]:
    """The items of ScenarioSource(names, seed, start_at), generated in a child process.

    The child is a plain `python -m emitter.replay._child feed` (not multiprocessing), so a
    library caller's unguarded script is never re-imported; batches come as length-prefixed
    pickles on its stdout, its stderr carries a refused scenario's one-line error.
    """
    spec = json.dumps(
        {"names": names, "seed": seed, "start_at": start_at.isoformat() if start_at else None}
    )
    child = subprocess.Popen(  # noqa: S603  (this interpreter, this module, our own argv)
        [sys.executable, "-m", "emitter.replay._child", "feed", spec],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        process_group=0,  # a terminal's Ctrl-C is the run's to handle, not the child's
    )
    offload(child.pid)  # off the sender's core, at normal priority: it must keep up
    assert child.stdout is not None
    out = child.stdout
    try:
        while True:
            head = out.read(4)
            if len(head) < 4:
                err = child.stderr.read().decode(errors="replace").strip() if child.stderr else ""
                raise InputError(err.splitlines()[-1] if err else "the generator process stopped")
            # Our own child's output on a private pipe, never data from outside.
            batch = pickle.loads(out.read(int.from_bytes(head, "big")))  # noqa: S301
            for index, session_id, body, where in batch:
                yield Item(index, session_id, body, where)
    finally:
        out.close()
        child.kill()
        child.wait(timeout=5)
        if child.stderr is not None:
            child.stderr.close()


def _produce(names: list[str], seed: int, start_at: datetime | None) -> None:
    out = sys.stdout.buffer
    batch: list[tuple[int, str | None, bytes | None, str]] = []
    try:
        for item in ScenarioSource(names, seed=seed, start_at=start_at):
            batch.append((item.index, item.session_id, item.body, item.where))
            if len(batch) >= _BATCH:
                data = pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)
                out.write(len(data).to_bytes(4, "big") + data)
                out.flush()
                batch = []
    except BrokenPipeError:
        return  # the sender stopped reading: the run is over
    except VssEmitterError as exc:
        print(f"{exc}", file=sys.stderr)


def main(argv: list[str]) -> None:
    spec = json.loads(argv[0])
    start_at = datetime.fromisoformat(spec["start_at"]) if spec["start_at"] else None
    _produce(spec["names"], spec["seed"], start_at)
