"""Wall time of a full `check` with and without `--verify`, against a receiver that stores late.

    .venv/bin/python bench/bench_verify.py [--quick]

The receiver acks at once and stores each session 100 ms later into SQLite (WAL), as 8x8
advises receivers to work (tests/verify/storing_receiver.py). `check --verify` reads every
session back over HTTP and over SQL with the default waits (within 5 s, settle 1 s). Goal:
`check --verify` under 3x the time of `check`. Three runs each (one with --quick); min-max.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.verify.storing_receiver import StoringReceiver  # noqa: E402

EXE = str(Path(sys.executable).with_name("vss-emitter"))


def _wall(args: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([EXE, *args], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
        raise SystemExit(f"check exited {done.returncode}: {tail}")
    return wall


def _spread(walls: list[float]) -> str:
    return f"{min(walls):.2f}-{max(walls):.2f} s"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="one run each instead of three")
    runs = 1 if parser.parse_args().quick else 3
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        with StoringReceiver(directory / "app.db", delay_s=0.1) as receiver:
            files = {
                kind: receiver.verify_file(directory, kind=kind, within="5s", settle="1s")
                for kind in ("http", "sql")
            }
            plain: list[float] = []
            verified: dict[str, list[float]] = {kind: [] for kind in files}
            for seed in range(runs):
                plain.append(_wall(["check", receiver.url, "--seed", str(seed)]))
                for kind, path in files.items():
                    args = ["check", receiver.url, "--seed", str(100 + seed), "--verify", str(path)]
                    verified[kind].append(_wall(args))
    print(f"receiver: acks at once, stores 100 ms later (SQLite WAL); {runs} run(s) each, CLI")
    print(f"  check                      {_spread(plain)}")
    for kind, walls in verified.items():
        ratio = f"{min(walls) / min(plain):.1f}x-{max(walls) / min(plain):.1f}x"
        print(f"  check --verify ({kind:<4})     {_spread(walls)}   ({ratio} of check; goal < 3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
