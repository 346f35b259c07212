"""A minimal, fast HTTP/1.1 receiver for the replay benchmarks: 200, Content-Length: 0, keep-alive.

Usage: fast_receiver.py [PORT] [--freeze-ms MS]

It prints `PORT <n>` on stdout once it listens. With --freeze-ms it stops answering for MS
milliseconds at the start of every second (answers queue up, as behind a stop-the-world GC
pause), which is what makes coordinated omission visible to a latency measurement.
It parses just enough HTTP to find each request's end (Content-Length bodies, keep-alive,
pipelining); it is a load target, not a web server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time
from typing import cast

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"


class _Freeze:
    """Answers are held while time.monotonic() falls in the first `ms` of a second."""

    def __init__(self, ms: float) -> None:
        self.s = ms / 1000.0
        self.waiters: list[_Conn] = []
        self.handle: asyncio.TimerHandle | None = None

    def frozen_for(self) -> float:
        if self.s <= 0:
            return 0.0
        phase = time.monotonic() % 1.0
        return self.s - phase if phase < self.s else 0.0


class _Conn(asyncio.Protocol):
    def __init__(self, freeze: _Freeze) -> None:
        self.buf = bytearray()
        self.need: int | None = None  # body bytes still expected for the current request
        self.pending = 0  # answers owed (held during a freeze)
        self.freeze = freeze
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, so cast rather than check.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        answered = 0
        while True:
            if self.need is None:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    break
                head = bytes(buf[:end]).lower()
                length = 0
                pos = head.find(b"\r\ncontent-length:")
                if pos >= 0:
                    stop = head.find(b"\r\n", pos + 2)
                    length = int(head[pos + 17 : stop if stop >= 0 else None])
                del buf[: end + 4]
                self.need = length
            if len(buf) < self.need:
                break
            del buf[: self.need]
            self.need = None
            answered += 1
        if answered:
            self.pending += answered
            wait = self.freeze.frozen_for()
            if wait > 0:
                loop = asyncio.get_running_loop()
                loop.call_later(wait, self.flush)
            else:
                self.flush()

    def flush(self) -> None:
        if self.pending and self.transport is not None and not self.transport.is_closing():
            self.transport.write(RESPONSE * self.pending)
        self.pending = 0


async def _serve(port: int, freeze_ms: float) -> None:
    loop = asyncio.get_running_loop()
    freeze = _Freeze(freeze_ms)
    server = await loop.create_server(
        lambda: _Conn(freeze), "127.0.0.1", port, backlog=4096, reuse_address=True
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"PORT {bound}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", nargs="?", type=int, default=0)
    parser.add_argument("--freeze-ms", type=float, default=0.0)
    args = parser.parse_args()
    runner_factory = None
    with contextlib.suppress(ImportError):
        import uvloop

        runner_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=runner_factory) as runner:
        runner.run(_serve(args.port, args.freeze_ms))


if __name__ == "__main__":
    main()
