"""Replay figures: file vs scenario throughput, pacing accuracy and cost, saturation, memory.

    .venv/bin/python bench/bench_replay.py [--quick]

Every run is a subprocess: the client pinned to core 0 (`taskset -c 0`), the receiver
(bench/fast_receiver.py, raw HTTP/1.1 on uvloop) to core 1, so the two never fight over a core.
Locust (LOCUSTFILE, run by bench_peers.py) runs as a subprocess: it monkey-patches the
interpreter (gevent), so it is never imported here. The script prints figures and never
asserts; on a shared machine they are noisy. The peers (hey, k6, Locust) are in bench_peers.py,
which measures replay without a report file (run_replay_plain: figures parsed from the printed
summary, CPU from wait4 via run_measured); run_replay here asks for --report-json, which also
counts contract coverage in a child process.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
VSS_EMITTER = str(BIN / "vss-emitter")
LOCUST = str(BIN / "locust")
RECEIVER = str(ROOT / "bench" / "fast_receiver.py")
TASKSET = shutil.which("taskset")

LOCUSTFILE = """
from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser

BODY = open({body!r}, "rb").read()
HEADERS = {{"Content-Type": "application/json"}}


class Poster(FastHttpUser):
    wait_time = constant(0)

    @task
    def post(self):
        self.client.post("/", data=BODY, headers=HEADERS)
"""


def pinned(core: int, argv: Sequence[str]) -> list[str]:
    return [TASKSET, "-c", str(core), *argv] if TASKSET else list(argv)


@contextmanager
def fast_receiver(*extra: str) -> Iterator[str]:
    """The benchmark receiver on core 1; yields its URL."""
    proc = subprocess.Popen(
        pinned(1, [sys.executable, RECEIVER, "0", *extra]),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "PORT":
            raise RuntimeError(f"fast_receiver did not start: {line}")
        yield f"http://127.0.0.1:{line[1]}/"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def write_fixture(path: Path, count: int) -> bytes:
    """`count` payloads of ~1.5 KB (Number Masking and agent-bridge sessions, two legs each),
    each with its own sessionId. Generating a million through the generator would take
    minutes, so 2000 generated payloads are cycled with fresh sessionIds. Returns one body."""
    from emitter.generator import dumps, generate

    templates: list[tuple[bytes, bytes]] = []
    for name in ("masking-completed-completed", "inbound-bridged-to-agent"):
        for payload in generate(name, seed=2024, n=1000):
            sid = payload["payload"]["sessionId"].encode()
            templates.append((dumps(payload), sid))
    with path.open("wb", buffering=1 << 20) as out:
        for i in range(count):
            body, sid = templates[i % len(templates)]
            fresh = f"{i:08x}-0000-4000-8000-{i:012x}".encode()
            out.write(body.replace(sid, fresh, 1) + b"\n")
    return templates[0][0]


@dataclass(frozen=True)
class ReplayRun:
    report: dict[str, Any]
    max_rss_mb: float
    wall_s: float
    cpu_s: float  # user + system CPU of the replay process


def run_replay(url: str, *args: str, tmp: Path) -> ReplayRun:
    """One `vss-emitter replay` on core 0; its own peak RSS and CPU time from wait4()."""
    report = tmp / f"report-{time.monotonic_ns()}.json"
    argv = pinned(0, [VSS_EMITTER, "replay", url, *args, "--report-json", str(report), "-q"])
    started = time.monotonic()
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"replay exited {proc.returncode}: {err.strip()}")
    # ru_maxrss of the waited process (KiB on Linux); taskset exec()s into the replay, so it
    # is the replay's own peak, not the receiver's.
    return ReplayRun(
        json.loads(report.read_text()),
        usage.ru_maxrss / 1024.0,
        wall,
        usage.ru_utime + usage.ru_stime,
    )


@dataclass(frozen=True)
class Measured:
    """One pinned subprocess: its output and its own rusage from wait4()."""

    stdout: str
    stderr: str
    returncode: int
    cpu_s: float  # user + system CPU of the process and the children it waited for
    wall_s: float
    max_rss_mb: float


def run_measured(argv: Sequence[str], timeout: float) -> Measured:
    """Runs argv (already pinned) to the end; CPU time and peak RSS from os.wait4(), so they are
    the process's own whole run (start-up included), not this script's. taskset exec()s into
    the command, so the waited process is the command itself. Killed after `timeout` seconds
    (subprocess.TimeoutExpired). Output goes to temporary files: no pipe to fill up."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=err)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode == -9 and wall >= timeout:
            raise subprocess.TimeoutExpired(list(argv), timeout)
        out.seek(0)
        err.seek(0)
        return Measured(
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            proc.returncode,
            usage.ru_utime + usage.ru_stime,
            wall,
            usage.ru_maxrss / 1024.0,
        )


@dataclass(frozen=True)
class PlainRun:
    """`vss-emitter replay` as a user runs it: no report file, figures from its printed summary."""

    sent: int
    acked: int
    late: int
    duration_s: float
    p99_from_schedule_ms: float
    sender_saturated: bool
    cpu_s: float  # the whole process (start-up included), from wait4()
    wall_s: float

    @property
    def rate(self) -> float:
        return self.acked / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_s / self.sent * 1e6 if self.sent else 0.0


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def parse_replay_summary(text: str) -> tuple[int, int, int, float, float, bool]:
    """(sent, acked, late, duration_s, p99 from schedule in ms, sender saturated) from the
    summary replay prints on stdout:
        sent 3997  acked 3997  failed 0  late 0  skipped 0  retried 0
        duration 2.00 s  achieved 2,000.0 req/s
        latency (ms)          p50      p90      p99    p99.9      max
        from schedule        1.11     2.14     2.44     4.21     5.55"""
    counts = re.search(r"^\s*sent ([\d,]+)\s+acked ([\d,]+)\s.*?\blate ([\d,]+)", text, re.M)
    duration = re.search(r"^\s*duration ([\d.,]+) s", text, re.M)
    header = re.search(r"^\s*latency \(ms\)\s+(.*)$", text, re.M)
    sched = re.search(r"^\s*from schedule\s+(.*)$", text, re.M)
    if counts is None or duration is None or header is None or sched is None:
        raise RuntimeError(f"replay printed no summary: {text.strip()[-400:]!r}")
    p99 = _number(sched.group(1).split()[header.group(1).split().index("p99")])
    return (
        int(_number(counts.group(1))),
        int(_number(counts.group(2))),
        int(_number(counts.group(3))),
        _number(duration.group(1)),
        p99,
        "SENDER SATURATED" in text,
    )


def precompile_kit() -> None:
    """Byte-compiles the kit, as `pip install` does. Where PYTHONDONTWRITEBYTECODE is set (this
    development machine sets it) every `vss-emitter` process would otherwise compile its
    modules again, and start-up and whole-process CPU figures would count ~80 ms that no
    installed copy pays."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "emitter")],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def run_replay_plain(url: str, *args: str, timeout: float = 120.0) -> PlainRun:
    """One `vss-emitter replay URL ARGS` on core 0 with no --report-json and no -q, the way a
    user runs it for throughput (no contract-coverage child process): counts, duration, late
    sends and p99 from schedule parsed from the printed summary, CPU from wait4()."""
    run = run_measured(pinned(0, [VSS_EMITTER, "replay", url, *args]), timeout)
    if run.returncode not in (0, 1):
        raise RuntimeError(f"replay exited {run.returncode}: {run.stderr.strip()[-400:]}")
    sent, acked, late, duration, p99, saturated = parse_replay_summary(run.stdout)
    return PlainRun(sent, acked, late, duration, p99, saturated, run.cpu_s, run.wall_s)


def run_locust(url: str, body: bytes, seconds: int, users: int, tmp: Path) -> tuple[float, int]:
    """Locust FastHttpUser, closed loop, `users` users; returns (req/s, failures)."""
    body_file = tmp / "body.json"
    body_file.write_bytes(body)
    locustfile = tmp / "locustfile_bench.py"
    locustfile.write_text(LOCUSTFILE.format(body=str(body_file)))
    argv = pinned(
        0,
        [
            LOCUST, "-f", str(locustfile), "--headless", "-u", str(users), "-r", str(users * 10),
            "-t", f"{seconds}s", "--host", url.rstrip("/"), "--json", "--only-summary",
            "--loglevel", "ERROR",
        ],
    )  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if not done.stdout.strip():
        raise RuntimeError(f"locust failed: {done.stderr.strip()[-500:]}")
    stats = json.loads(done.stdout)
    (entry,) = [s for s in stats if s["name"] == "/"]
    span = entry["last_request_timestamp"] - entry["start_time"]
    return entry["num_requests"] / span, entry["num_failures"]


def _us_per_request(run: ReplayRun) -> float:
    return float(run.report.get("cpu_per_request_us") or 0.0)  # during the run, no start-up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (about a minute)")
    opts = parser.parse_args()
    precompile_kit()
    quick = opts.quick
    fixture_n = 200_000 if quick else 800_000  # more than ~70k/s for 10 s
    memory_n = 100_000 if quick else 1_000_000
    pace_s = 3 if quick else 10
    max_s = 3 if quick else 10
    users = 64

    print(f"bench_replay ({'quick' if quick else 'full'}); cores pinned: {bool(TASKSET)}")
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmpdir:
        tmp = Path(tmpdir)
        fixture = tmp / "fixture.ndjson"
        write_fixture(fixture, fixture_n)
        size_kb = fixture.stat().st_size / fixture_n / 1024
        rows.append(("fixture", f"{fixture_n:,} payloads, {size_kb:.2f} KB each on average"))

        with fast_receiver() as url:
            # 1. Closed loop from a file vs generated on the fly (scenario mixed), both as a
            # user runs them for throughput: no report file (a report adds a coverage count).
            flat = run_replay_plain(
                url, str(fixture), "--rate", "max", "--concurrency", str(users),
                "--duration", f"{max_s}s",
            )  # fmt: skip
            rows.append(
                (
                    f"replay FILE --rate max ({users} connections)",
                    f"{flat.rate:,.0f} req/s, {flat.cpu_us_per_request:.0f} us CPU per request "
                    "(whole process, start-up included)",
                )
            )
            gen = run_replay_plain(
                url, "--scenario", "mixed", "--seed", "1", "--rate", "max",
                "--concurrency", str(users), "--duration", f"{max_s}s",
            )  # fmt: skip
            rows.append(
                (
                    "replay --scenario mixed --rate max",
                    f"{gen.rate:,.0f} req/s = {gen.rate / flat.rate:.2f}x the file path "
                    "(goal >= 0.5; the generator's process shares the receiver's core here)",
                )
            )

            # 2. Open-loop pacing accuracy and its CPU cost per request.
            for rate in (2000, 20000):
                paced = run_replay(
                    url, str(fixture), "--rate", f"{rate}/s", "--duration", f"{pace_s}s",
                    tmp=tmp,
                )  # fmt: skip
                got = paced.report["achieved_rate"]
                late = paced.report["late"] / max(1, paced.report["sent"])
                rows.append(
                    (
                        f"pacing {rate}/s for {pace_s} s",
                        f"achieved {got:,.1f}/s ({(got - rate) / rate:+.2%}), "
                        f"late {late:.2%} (goal <= 0.1%), "
                        f"p99 {paced.report['latency_ms']['p99']:.2f} ms from schedule "
                        f"(goal <= 20), {_us_per_request(paced):.0f} us CPU per request, "
                        f"sender saturated: {paced.report['sender_saturated']}",
                    )
                )

            # 3. A rate no sender can keep: bounded in time, and said so.
            over = run_replay(url, str(fixture), "--rate", "1000000/s", "--duration", "3s", tmp=tmp)
            lag = over.report.get("sender_lag") or {}
            rows.append(
                (
                    "--rate 1000000/s --duration 3s",
                    f"returned in {over.wall_s:.1f} s (goal <= 6), sender_saturated "
                    f"{over.report['sender_saturated']}, up to {lag.get('max_lag_ms', 0):,.0f} "
                    f"ms behind, {'' if lag.get('unsent_exact', True) else 'at least '}"
                    f"{lag.get('unsent', 0):,} never sent",
                )
            )

            # 4. Two worker processes (on this 2-core machine they share the receiver's core).
            two = run_replay(
                url, str(fixture), "--rate", "max", "--concurrency", str(users),
                "--duration", f"{max_s}s", "--workers", "2", tmp=tmp,
            )  # fmt: skip
            rows.append(
                (
                    "replay --workers 2 --rate max",
                    f"{two.report['acked'] / two.report['duration_s']:,.0f} req/s "
                    "(workers unpinned; needs more than 2 cores to scale)",
                )
            )

        # 5. Coordinated omission: the receiver freezes 200 ms every second. 4 connections,
        # like a closed-loop tool: only the 4 requests caught in a freeze see it from their
        # send; the ~200 sends the freeze held back see it from their schedule.
        with fast_receiver("--freeze-ms", "200") as url:
            frozen = run_replay(
                url, str(fixture), "--rate", "1000/s", "--duration", str(pace_s),
                "--concurrency", "4", tmp=tmp,
            )  # fmt: skip
            sched, sent = frozen.report["latency_ms"], frozen.report["latency_from_send_ms"]
            rows.append(
                (
                    "200 ms freeze each second, 1000/s",
                    f"p99 {sched['p99']:.1f} ms from schedule (goal >= 100), "
                    f"{sent['p99']:.2f} ms from send; late {frozen.report['late']}",
                )
            )

        # 6. Memory: a big file streamed at full speed.
        fixture.unlink()
        big = tmp / "big.ndjson"
        write_fixture(big, memory_n)
        size_mb = big.stat().st_size / 1e6
        with fast_receiver() as url:
            mem = run_replay(url, str(big), "--rate", "max", tmp=tmp)
        rows.append(
            (
                f"replay of {memory_n:,} payloads ({size_mb:,.0f} MB)",
                f"peak RSS {mem.max_rss_mb:.0f} MB (goal < 150), "
                f"{mem.report['acked'] / mem.report['duration_s']:,.0f} req/s",
            )
        )

    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print("(indicative: machine load changes these figures; compare ratios from one run)")


if __name__ == "__main__":
    main()
