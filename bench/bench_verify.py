"""Wall time of a full `check` with and without `--verify`, against a receiver that stores late.

    .venv/bin/python bench/bench_verify.py [--quick]

The receiver acks at once and stores each session 100 ms later into SQLite (WAL), as 8x8
advises receivers to work (tests/verify/storing_receiver.py). `check --verify` reads every
session back over HTTP and over SQL with the default waits (within 5 s, settle 1 s). Goal:
`check --verify` under 3x the time of `check`. Three runs each (one with --quick); min-max,
as a CLI subprocess (what a user waits for) and as a library call (run_check, in process).
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


def _library(url: str, seed: int, verify: Path | None) -> float:
    from emitter.check import run_check
    from emitter.deliver import DeliveryConfig
    from emitter.verify import load_verify_file

    config = load_verify_file(verify) if verify is not None else None
    started = time.perf_counter()
    report = run_check(url=url, config=DeliveryConfig(), seed=seed, verify=config)
    wall = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(f"check failed: {report.failed} probes")
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
            figures: dict[str, dict[str, list[float]]] = {"CLI": {}, "library": {}}
            runs_done = 0
            for _ in range(runs):
                for kind, path in [("plain", None), *files.items()]:
                    args = ["check", receiver.url, "--seed", str(2000 + runs_done)]
                    args += ["--verify", str(path)] if path is not None else []
                    figures["CLI"].setdefault(kind, []).append(_wall(args))
                    # A seed per run, as an unseeded check draws one: a rerun with the same
                    # seed against the kept database judges every session as held before.
                    runs_done += 1
                    lib = _library(receiver.url, 1000 + runs_done, path)
                    figures["library"].setdefault(kind, []).append(lib)
    print(f"receiver: acks at once, stores 100 ms later (SQLite WAL); {runs} run(s) each")
    for how, walls in figures.items():
        plain = walls.pop("plain")
        print(f"  {how:<8} check                  {_spread(plain)}")
        for kind, verified in walls.items():
            ratio = f"{min(verified) / min(plain):.1f}x-{max(verified) / min(plain):.1f}x"
            print(
                f"  {how:<8} check --verify ({kind:<4})  {_spread(verified)}   "
                f"({ratio} of check; goal < 3x)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
