"""Reference receiver throughput, closed loop: the aiohttp receiver against the old http.server one.

    .venv/bin/python bench/bench_receiver.py [--quick]

Each figure is requests per second answered by a receiver process pinned to core 1 while the
load generator runs on core 0 (`taskset`), min-max over three runs (one with --quick):

- `hey` (Debian package `hey`; `make bench` installs it with bench/install_peers.sh), 16
  connections, one valid body posted again and again: after the first, every delivery is a
  duplicate, so this is the HTTP path and the dedupe check, without contract validation;
- `vss-emitter replay FILE --rate max`, 16 in flight, unique valid payloads (Voice Messaging,
  IVR, Number Masking, quirks): every delivery is parsed, validated and linted, and with
  `--store` its canonical record is written after the ack.

The old receiver is `emitter/receiver.py` as it was before the port (commit 623565b), taken
from git history; without the history it is skipped. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
VSS_EMITTER = str(BIN / "vss-emitter")
TASKSET = shutil.which("taskset")
HEY = shutil.which("hey")
TICKS = os.sysconf("SC_CLK_TCK")
OLD_COMMIT = "623565b"  # the last commit with the http.server receiver
CONCURRENCY = 16

OLD_LAUNCHER = """
import sys
sys.path.insert(0, {folder!r})
from old_receiver import ReferenceReceiver, run_until_signalled
run_until_signalled(ReferenceReceiver(port=0), on_ready=lambda url: print(url, flush=True))
"""


def pinned(core: int, argv: Sequence[str]) -> list[str]:
    return [TASKSET, "-c", str(core), *argv] if TASKSET else list(argv)


@dataclass
class Receiver:
    url: str
    pid: int

    def cpu_s(self) -> float:
        """CPU seconds the receiver process has used so far (user + system, all threads)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS


@contextmanager
def receiver(argv: Sequence[str]) -> Iterator[Receiver]:
    """A receiver process on core 1 (the first http:// URL it prints is its address)."""
    proc = subprocess.Popen(
        pinned(1, argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+/", line)
        if match is None:
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"receiver did not start: {line!r} {err.strip()[-500:]}")
        yield Receiver(match.group(0), proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def old_receiver(tmp: Path) -> list[str] | None:
    """argv running the pre-port receiver, or None without the git history."""
    try:
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{OLD_COMMIT}:emitter/receiver.py"],
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    (tmp / "old_receiver.py").write_bytes(source)
    return [sys.executable, "-c", OLD_LAUNCHER.format(folder=str(tmp))]


def new_receiver(*extra: str) -> list[str]:
    return [VSS_EMITTER, "serve", "--port", "0", "--quiet", *extra]


def run_hey(url: str, body: Path, requests: int) -> float:
    argv = pinned(
        0,
        [HEY or "hey", "-n", str(requests), "-c", str(CONCURRENCY), "-m", "POST",
         "-T", "application/json", "-D", str(body), url],
    )  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    match = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    statuses = re.findall(r"\[(\d{3})\]\s+(\d+) responses", done.stdout)
    if match is None or [s for s, _ in statuses] != ["200"]:
        raise RuntimeError(f"hey failed: {statuses} {done.stdout[-300:]} {done.stderr[-300:]}")
    return float(match.group(1))


def run_replay(url: str, fixture: Path, tmp: Path) -> float:
    report = tmp / f"replay-{time.monotonic_ns()}.json"
    argv = pinned(
        0,
        [VSS_EMITTER, "replay", url, str(fixture), "--rate", "max",
         "--concurrency", str(CONCURRENCY), "--report-json", str(report), "-q"],
    )  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"replay exited {done.returncode}: {done.stderr.strip()[-500:]}")
    figures = json.loads(report.read_text())
    if figures["acked"] != figures["sent"]:
        raise RuntimeError(f"replay: {figures['sent']} sent, only {figures['acked']} acked")
    return float(figures["achieved_rate"])


def write_fixtures(tmp: Path, count: int) -> tuple[Path, Path]:
    """`count` unique valid payloads (NDJSON) and one body for hey."""
    from emitter.generator import dumps, generate

    fixture = tmp / "unique.ndjson"
    with open(fixture, "wb") as handle:
        for doc in generate("mixed", seed=20261130, n=count):
            handle.write(dumps(doc) + b"\n")
    body = tmp / "body.json"
    body.write_bytes(dumps(next(generate("completed", seed=1))))
    return fixture, body


def measure(argv: Sequence[str], load: Callable[[str], tuple[float, int]]) -> tuple[float, float]:
    """(req/s, receiver CPU µs per request) of one load run against a fresh receiver."""
    with receiver(argv) as running:
        before = running.cpu_s()
        rate, requests = load(running.url)
        used = running.cpu_s() - before
    return rate, used / requests * 1e6


def spread(label: str, figures: Sequence[tuple[float, float]]) -> None:
    def span(values: Sequence[float]) -> str:
        low, high = min(values), max(values)
        return f"{low:,.0f}" if len(values) == 1 else f"{low:,.0f}–{high:,.0f}"

    rates = span([rate for rate, _ in figures])
    cpu = span([us for _, us in figures])
    print(f"  {label:<42} {rates:>13} req/s   {cpu:>9} µs CPU/request", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short run of each")
    args = parser.parse_args()
    runs = 1 if args.quick else 3
    unique = 2_000 if args.quick else 8_000
    repeats = 5_000 if args.quick else 20_000
    with tempfile.TemporaryDirectory(prefix="vss-bench-receiver-") as name:
        tmp = Path(name)
        fixture, body = write_fixtures(tmp, unique)
        old = old_receiver(tmp)
        print(
            f"closed loop, {CONCURRENCY} connections; load generator on core 0, receiver on "
            f"core 1{'' if TASKSET else ' (taskset missing: not pinned)'}; the receivers "
            "take turns in each round, so a busy machine slows them alike"
        )
        if old is None:
            print(f"  old receiver: skipped (no git history with commit {OLD_COMMIT})")
        old_label = "old: http.server, thread per connection"
        if HEY is None:
            print("  hey: not installed (apt-get install hey); its rows are skipped")
        else:
            print(f"hey, {repeats:,} POSTs of one body (the HTTP path and the dedupe check):")
            hey_setups = {"new: aiohttp on uvloop": new_receiver()}
            if old is not None:
                hey_setups = {old_label: old, **hey_setups}
            rounds(hey_setups, lambda url: (run_hey(url, body, repeats), repeats), runs)
        print(f"vss-emitter replay --rate max, {unique:,} unique payloads (validated each):")
        setups = {
            "new: aiohttp on uvloop": new_receiver(),
            "new, --store :memory:": new_receiver("--store", ":memory:"),
            "new, --store FILE (SQLite, WAL)": new_receiver("--store", str(tmp / "calls.db")),
        }
        if old is not None:
            setups = {old_label: old, **setups}

        def replay_load(url: str) -> tuple[float, int]:
            (tmp / "calls.db").unlink(missing_ok=True)  # a fresh store file for every run
            return run_replay(url, fixture, tmp), unique

        rounds(setups, replay_load, runs)


def rounds(
    setups: dict[str, list[str]], load: Callable[[str], tuple[float, int]], runs: int
) -> None:
    figures: dict[str, list[tuple[float, float]]] = {label: [] for label in setups}
    for _ in range(runs):
        for label, argv in setups.items():
            figures[label].append(measure(argv, load))
    for label, measured in figures.items():
        spread(label, measured)


if __name__ == "__main__":
    main()
