"""The receiver conformance suite: the probe catalogue, running it against a URL, its results.

Module map: `_model` (result types), `_runtime` (what a probe sees while running), `_judging`
(acks to verdicts), `_surgery` (payload legs and timestamps), `_mutations` (what a mutation
probe changes), `_catalogue` (every probe), `_runner` (selection and the run), `_verifying`
(read-back after each probe), `_demo` (the check against the embedded receiver).
"""

from __future__ import annotations

from emitter._payload import dumps
from emitter.check._catalogue import catalogue
from emitter.check._demo import DemoResult, run_demo
from emitter.check._model import (
    DEFAULT_BURST,
    DEFAULT_CONCURRENCY,
    QUICK_ACK_S,
    CheckReport,
    Exchange,
    Probe,
    ProbeResult,
    Severity,
    Verdict,
)
from emitter.check._runner import redact_url, run_check, select_probes
from emitter.check._runtime import example_bytes

__all__ = [
    "DEFAULT_BURST",
    "DEFAULT_CONCURRENCY",
    "QUICK_ACK_S",
    "CheckReport",
    "DemoResult",
    "Exchange",
    "Probe",
    "ProbeResult",
    "Severity",
    "Verdict",
    "catalogue",
    "dumps",
    "example_bytes",
    "redact_url",
    "run_check",
    "run_demo",
    "select_probes",
]
