"""The replay engine's alternatives, measured side by side: why replay has its own HTTP client.

    .venv/bin/python bench/bench_engines.py [--quick]

Each candidate posts the same ~1.4 KB bodies closed loop over 64 keep-alive connections from
one core (`taskset -c 0`) to bench/fast_receiver.py on the other, for a few seconds, in
alternating rounds, and prints requests per second and CPU microseconds per request:

- `aiohttp`: one ClientSession on uvloop, 64 tasks each awaiting `session.post()` in turn,
  the body read and released (what replay ran on before; its engine added pacing on top);
- `protocol`: replay's engine (emitter/replay/_engine.py: uvloop protocols, httptools, the
  request prefix built once), fed from a list so the source's cost is left out, as here for
  aiohttp.

Printed, never asserted; on a shared machine compare the two columns of one round.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_replay import fast_receiver, pinned, write_fixture

CONNECTIONS = 64

AIOHTTP = """
import asyncio, json, sys, time
import aiohttp, uvloop
url, body_file, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
body = open(body_file, "rb").read()
HEADERS = {"Content-Type": "application/json"}
async def main():
    done = 0
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as session:
        end = time.monotonic() + seconds
        async def worker():
            nonlocal done
            while time.monotonic() < end:
                async with session.post(url, data=body, headers=HEADERS) as r:
                    await r.read()
                done += 1
        cpu, start = time.process_time(), time.monotonic()
        await asyncio.gather(*(worker() for _ in range(64)))
        wall, cpu = time.monotonic() - start, time.process_time() - cpu
    print(json.dumps({"rps": done / wall, "cpu_us": cpu / done * 1e6}))
uvloop.run(main())
"""

PROTOCOL = """
import asyncio, itertools, json, sys, time
from pathlib import Path
from emitter.deliver import DeliveryConfig, request_headers
from emitter.replay import ReplaySettings
from emitter.replay._engine import Run\nfrom emitter.replay._loop import loop_factory, quiet_gc
from emitter.sources import FileSource
url, fixture, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
items = iter(list(itertools.islice(iter(FileSource([Path(fixture)])), 600_000)))
config = DeliveryConfig()
run = Run(url=url, items=items, config=config, headers=request_headers(config), tls=None,
          settings=ReplaySettings(rate=None, concurrency=64, duration_s=seconds),
          writer=None, on_progress=None, notice=print)
with asyncio.Runner(loop_factory=loop_factory()) as runner, quiet_gc():
    runner.run(run.main())
span = run.ended - run.started
print(json.dumps({"rps": run.acked / span, "cpu_us": run.lag.cpu_s / run.sent * 1e6}))
"""


def _run(code: str, *args: str) -> dict[str, float]:
    done = subprocess.run(
        pinned(0, [sys.executable, "-c", code, *args]),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip()[-500:])
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs")
    opts = parser.parse_args()
    seconds = "3" if opts.quick else "5"
    rounds = 1 if opts.quick else 3
    print(f"bench_engines: {CONNECTIONS} connections, {seconds} s per run, {rounds} round(s)")
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as tmpdir:
        tmp = Path(tmpdir)
        fixture = tmp / "fixture.ndjson"
        body = write_fixture(fixture, 300_000)
        body_file = tmp / "body.json"
        body_file.write_bytes(body)
        with fast_receiver() as url:
            for round_no in range(rounds):
                old = _run(AIOHTTP, url, str(body_file), seconds)
                new = _run(PROTOCOL, url, str(fixture), seconds)
                print(
                    f"  round {round_no + 1}: aiohttp {old['rps']:,.0f} req/s "
                    f"({old['cpu_us']:.0f} us CPU/request), protocol engine {new['rps']:,.0f} "
                    f"req/s ({new['cpu_us']:.0f} us CPU/request): "
                    f"{new['rps'] / old['rps']:.2f}x",
                    flush=True,
                )


if __name__ == "__main__":
    main()
