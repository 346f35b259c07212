"""Generator throughput: emitter.generate on `mixed` vs a lean stdlib-only generator, NDJSON.

    .venv/bin/python bench/bench_generate.py [--quick] [-n N]

Both write NDJSON into an in-memory buffer in the same process, pinned to one core when the
OS allows it, so the ratio is meaningful on a shared machine. The lean generator makes the
same payload shape (same fields, the same leg-count spread as `mixed`) with none of the
realism: fixed numbers, random hex ids, uniform times. The goal is a ratio >= 0.8.
Prints figures; never asserts.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emitter.generator import dumps, generate


def _lean_uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _lean_ts(epoch_s: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_s))


def lean_payloads(n: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    """The baseline: what a quick hand-written generator of the same shape would do."""
    rng = random.Random(seed)
    t = 1_704_067_200
    for _ in range(n):
        t += rng.randint(1, 10)
        legs = rng.choices((1, 2, 3, 4), weights=(78, 19, 2, 1))[0]
        details = {}
        end = t
        for i in range(legs):
            init = end
            conn = init + rng.randint(2, 15)
            disc = conn + rng.randint(5, 300)
            end = disc
            details["call" + "ABCD"[i]] = {
                "callId": _lean_uuid(rng),
                "callDirection": "OUTBOUND",
                "callType": "PSTN",
                "initiatedTimestamp": _lean_ts(init),
                "connectedTimestamp": _lean_ts(conn),
                "disconnectedTimestamp": _lean_ts(disc),
                "source": "+12314377870",
                "destination": "+6568332048",
                "sourceFormat": "MSISDN",
                "destinationFormat": "MSISDN",
                "sourceCountryCode": "US",
                "destinationCountryCode": "SG",
                "sourceRefId": "PSTN1",
                "callStatus": "COMPLETED",
                "callDuration": disc - conn,
                "callQuality": {
                    "mos": round(rng.uniform(3.0, 4.6), 1),
                    "packetLossRate": round(rng.uniform(0, 0.02), 3),
                    "jitter": rng.randint(0, 40),
                },
            }
        yield {
            "payload": {
                "sessionId": _lean_uuid(rng),
                "subAccountId": "8x8_test",
                "sessionStatus": "COMPLETED",
                "startTime": _lean_ts(t),
                "endTime": _lean_ts(end),
                "lastAction": "MAKE_CALL",
                "callCount": legs,
                "details": details,
            },
            "namespace": "VOICE",
            "eventType": "SESSION_SUMMARY",
            "description": "Summary of a completed call session",
        }


def _lean_run(n: int) -> tuple[float, int]:
    buf = io.BytesIO()
    start = time.perf_counter()
    for payload in lean_payloads(n):
        buf.write(json.dumps(payload, separators=(",", ":")).encode())
        buf.write(b"\n")
    return time.perf_counter() - start, buf.tell()


def _emitter_run(n: int) -> tuple[float, int]:
    buf = io.BytesIO()
    start = time.perf_counter()
    for payload in generate("mixed", seed=1, n=n):
        buf.write(dumps(payload))
        buf.write(b"\n")
    return time.perf_counter() - start, buf.tell()


def _interleaved(
    runs: int, jobs: list[Callable[[int], tuple[float, int]]], n: int
) -> list[tuple[float, int]]:
    """Best time per job, the jobs taking turns so a burst of load elsewhere hits both."""
    best: list[tuple[float, int]] = [(float("inf"), 0)] * len(jobs)
    for _ in range(runs):
        for i, job in enumerate(jobs):
            took, size = job(n)
            best[i] = (min(best[i][0], took), size)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5k payloads, one run each")
    parser.add_argument("-n", type=int, default=None, help="payloads per run (default 50000)")
    args = parser.parse_args()
    n = args.n or (5_000 if args.quick else 50_000)
    runs = 1 if args.quick else 3
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    # Warm-up: numbering templates, scenario files and plans are built once per process.
    _emitter_run(200)
    _lean_run(200)
    (lean_s, lean_bytes), (emit_s, emit_bytes) = _interleaved(runs, [_lean_run, _emitter_run], n)
    lean_rate, emit_rate = n / lean_s, n / emit_s
    print(f"payloads per run: {n} (best of {runs})")
    print(f"lean stdlib generator : {lean_rate:10,.0f} payloads/s  ({lean_bytes / n:.0f} B avg)")
    print(f"emitter.generate mixed: {emit_rate:10,.0f} payloads/s  ({emit_bytes / n:.0f} B avg)")
    print(f"ratio emitter/lean    : {emit_rate / lean_rate:10.2f}  (goal >= 0.80)")
    print(f"emitter per payload   : {emit_s / n * 1e6:10.1f} us")


if __name__ == "__main__":
    main()
