"""Validation throughput: plain jsonschema vs validate() (jsonschema-rs first pass + lint).

Run: .venv/bin/python bench/bench_validate.py [--quick] [-n N]
Prints payloads/s for (a) plain jsonschema Draft202012Validator.iter_errors with format
checking, (b) emitter.contract.validate (schema + lint), (c) the kit's schema pass alone,
(d) validate_bytes (JSON parsing included), and the ratio (b)/(a).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema

from emitter import _lint, contract
from emitter.errors import VssEmitterError

DOCS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "docs"


def _pin_one_core() -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity)"
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return f"pinned to core {core}"


def _generated(n: int) -> list[dict[str, Any]] | None:
    try:
        from emitter.generator import generate
    except ImportError:
        return None
    try:
        return list(generate("mixed", seed=1, n=n))
    except (VssEmitterError, ImportError, NotImplementedError):
        return None


def _fallback(n: int) -> list[dict[str, Any]]:
    """Copies of the documentation's failure example, made consistent, with fresh ids and times.

    Destinations come from a pool of 2,000 valid Singapore mobiles, so the phone-verdict cache
    sees realistic repetition rather than one number 50k times.
    """
    rng = random.Random(1)
    base = json.loads((DOCS / "failure.json").read_text())
    pool = [f"+659{rng.randrange(1000000, 9999999)}" for _ in range(2000)]
    start = datetime(2024, 7, 13, 9, 0, tzinfo=UTC)
    payloads = []
    for index in range(n):
        doc = copy.deepcopy(base)
        body = doc["payload"]
        leg = body["details"]["callA"]
        at = start + timedelta(seconds=index)
        stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        body["sessionId"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        leg["callId"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        body["startTime"] = body["endTime"] = stamp
        leg["initiatedTimestamp"] = leg["disconnectedTimestamp"] = stamp
        leg["destination"] = rng.choice(pool)
        payloads.append(doc)
    return payloads


def _rate(label: str, items: Iterable[Any], work: Callable[[Any], object]) -> float:
    """Payloads per second of CPU time (fair on a shared machine); wall time shown beside it."""
    batch = list(items)
    wall, cpu = time.perf_counter(), time.process_time()
    for item in batch:
        work(item)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rate = len(batch) / cpu
    print(
        f"{label:<58} {len(batch):>7} payloads  cpu {cpu:6.2f} s {rate:>9,.0f}/s"
        f"  wall {wall:6.2f} s {len(batch) / wall:>9,.0f}/s"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5,000 payloads instead of 50,000")
    parser.add_argument("-n", type=int, default=None, help="number of payloads")
    args = parser.parse_args()
    n = args.n or (5_000 if args.quick else 50_000)

    print(_pin_one_core())
    payloads = _generated(n)
    source = "emitter.generate 'mixed' scenario, seed 1"
    if payloads is None:
        payloads = _fallback(n)
        source = "copies of the documentation's failure example (generator not available)"
    print(f"payloads: {len(payloads)} from {source}")
    bodies = [json.dumps(p).encode() for p in payloads]

    schema = contract.contract_schema()
    plain = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    # Compile the validators outside the timed loops; phone verdicts start cold, so (b) pays
    # for every distinct number once, as a fresh capture would.
    contract.validate(payloads[0])
    _lint.phone_verdict.cache_clear()

    baseline = _rate(
        "(a) jsonschema Draft202012Validator.iter_errors + formats",
        payloads,
        lambda p: list(plain.iter_errors(p)),
    )
    full = _rate(
        "(b) emitter.contract.validate (schema + lint, cold cache)", payloads, contract.validate
    )
    _rate("(b') the same, phone verdicts cached", payloads, contract.validate)
    _rate(
        "(c) emitter schema pass only (jsonschema-rs is_valid)",
        payloads,
        lambda p: contract._schema_findings(p, False),
    )
    _rate(
        "(d) emitter.contract.validate_bytes (JSON parse included)", bodies, contract.validate_bytes
    )
    print(
        f"ratio (b)/(a) in CPU time: {full / baseline:.1f}x  (goal: >= 5x and >= 20,000 payloads/s)"
    )
    errors = sum(1 for p in payloads for f in contract.validate(p) if f.severity == "error")
    print(f"schema errors among the payloads: {errors} (expected 0)")


if __name__ == "__main__":
    main()
