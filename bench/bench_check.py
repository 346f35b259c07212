"""Wall time of a full `check`: library call and CLI, against the reference and a minimal receiver.

    .venv/bin/python bench/bench_check.py [--quick]

The minimal receiver is a raw asyncio HTTP/1.1 server answering 200 to everything (keep-alive,
Content-Length bodies only), so the figure shows the cost of the suite itself. Goal: < 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from emitter.check import catalogue, run_check
from emitter.deliver import DeliveryConfig
from emitter.receiver import ReferenceReceiver

EXE = str(Path(sys.executable).with_name("vss-emitter"))
_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            writer.write(_OK)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


@contextmanager
def minimal_receiver() -> Iterator[str]:
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, asyncio.Server] = {}

    async def start() -> None:
        holder["server"] = await asyncio.start_server(_handle, "127.0.0.1", 0)
        ready.set()

    thread = threading.Thread(
        target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True
    )
    thread.start()
    ready.wait(5)
    port = holder["server"].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/vss"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def _library(url: str, runs: int, *, quiet: bool = False) -> list[float]:
    walls = []
    for i in range(runs):
        started = time.perf_counter()
        report = run_check(url=url, config=DeliveryConfig(timeout_s=10), seed=i)
        walls.append(time.perf_counter() - started)
        if not report.ok and not quiet:
            print(f"  (run {i}: {report.failed} probes failed)")
    return walls


def _cli(url: str) -> float:
    started = time.perf_counter()
    subprocess.run([EXE, "check", url, "--seed", "1"], capture_output=True, check=False)
    return time.perf_counter() - started


def _show(label: str, walls: list[float]) -> None:
    print(
        f"{label:<44} median {statistics.median(walls):6.3f} s   "
        f"min {min(walls):6.3f} s   max {max(walls):6.3f} s   ({len(walls)} runs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    args = parser.parse_args()
    runs = 2 if args.quick else 5
    probes = len(catalogue())
    print(f"full check: {probes} probes, burst 20, concurrency 8 (goal: under 5 s)")
    _library("http://127.0.0.1:1/", 1, quiet=True)  # warm-up: imports, scenario loading
    with ReferenceReceiver() as receiver:
        _show("library, reference receiver", _library(receiver.url, runs))
        _show("CLI subprocess, reference receiver", [_cli(receiver.url)])
    with minimal_receiver() as url:
        _show("library, minimal asyncio receiver", _library(url, runs))
        _show("CLI subprocess, minimal asyncio receiver", [_cli(url)])


if __name__ == "__main__":
    main()
