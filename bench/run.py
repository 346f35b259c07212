"""Runs every benchmark in bench/ in turn (`make bench`); each prints its own figures.

Pass --quick to shorten every run. Figures are printed, never asserted: this machine is
noisy, so compare ratios measured side by side in one run, not absolute numbers across runs.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    extra = [a for a in sys.argv[1:] if a == "--quick"]
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"\n=== {script.name} {' '.join(extra)}", flush=True)
        started = time.perf_counter()
        rc = subprocess.call([sys.executable, str(script), *extra])
        print(f"=== {script.name}: exit {rc} in {time.perf_counter() - started:.1f} s", flush=True)
        if rc != 0:
            failed.append(script.name)
    if failed:
        print(f"\nbenchmarks that did not run to the end: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
