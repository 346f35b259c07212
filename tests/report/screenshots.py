"""Regenerate the README's report screenshots: `make screenshots` (this script, DIR argument).

Each report comes from a real run on loopback: a check against a receiver that crashes on
8x8's capitalised `CallA` key, a 15-second staged replay (a drill with a p99 threshold)
against the reference receiver, and the coverage of every built-in scenario. Chromium
renders them; the PNGs go to DIR.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent.parent)]

import buggy_receivers as bug  # noqa: E402  (the tests' receivers, found through sys.path)

from emitter.check import run_check  # noqa: E402
from emitter.coverage import Coverage  # noqa: E402
from emitter.deliver import DeliveryConfig  # noqa: E402
from emitter.generator import generate  # noqa: E402
from emitter.receiver import ReferenceReceiver  # noqa: E402
from emitter.report import report_json  # noqa: E402
from emitter.report._html import (  # noqa: E402
    write_check_html,
    write_coverage_html,
)
from emitter.scenarios import builtin_scenarios  # noqa: E402
from tests.report.browser import chromium, unavailable  # noqa: E402


def main(out: Path) -> int:
    why = unavailable()
    if why is not None:
        print(f"Error: cannot take screenshots: {why}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="vss-shots-"))
    with bug.Receiver(bug.crashes_on_capital_leg_key) as receiver:
        check = run_check(
            url=receiver.url,
            config=DeliveryConfig(timeout_s=5.0),
            seed=42,
            probes=("docs/", "scenario/busy", "quirk-capitalised", "forward-compat"),
        )
    pages = {"check": write_check_html(report_json(check), work / "check.html")}
    with ReferenceReceiver() as reference:
        # Through the CLI, as a user runs a drill: stages and a latency threshold to mark.
        subprocess.run(
            [
                str(Path(sys.executable).with_name("vss-emitter")), "replay", reference.url,
                "--stages", "5s:100/s,5s:100->400/s,5s:300/s", "--slo", "p99<20ms",
                "--seed", "42", "--quiet", "--html", str(work / "replay.html"),
            ],
            check=False,
            capture_output=True,
            timeout=120,
        )  # fmt: skip
    pages["replay"] = work / "replay.html"
    coverage = Coverage()
    for scenario in builtin_scenarios():
        coverage.add_all(generate(scenario, seed=42, n=2))
    pages["coverage"] = write_coverage_html(coverage, work / "coverage.html", sources=["-"])
    with chromium() as browser:
        for name, page_path in pages.items():
            height = 2350 if name == "replay" else 1500  # replay: down to its last plot
            with browser.open(page_path, width=1100, height=height) as (page, visit):
                target = out / f"{name}.png"
                page.screenshot(path=str(target), full_page=False)
                problems = visit.console_errors + visit.page_errors + visit.network_requests
                if problems:
                    print(f"Error: {name} report: {problems}", file=sys.stderr)
                    return 1
                print(f"{target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img")))
