"""The replay load engine: open-loop paced delivery, honest latency, a results log and resume.

Modules: `_types` (settings, report, percentiles), `_results` (results log and resume),
`_engine` (the sender), `_run` (the orchestration `replay()`), `_output` (terminal text).
"""

from __future__ import annotations

from emitter.replay._conn import classify_exception
from emitter.replay._loop import tls_context
from emitter.replay._run import replay
from emitter.replay._types import (
    BAD_INPUT,
    DEFAULT_CONCURRENCY,
    DEFAULT_GRACE_S,
    INTERRUPTED,
    Percentiles,
    Progress,
    ReplayReport,
    ReplaySettings,
    check_report_path,
    write_report_json,
)
from emitter.report._replay import format_progress, format_summary

__all__ = [
    "BAD_INPUT",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_GRACE_S",
    "INTERRUPTED",
    "Percentiles",
    "Progress",
    "ReplayReport",
    "ReplaySettings",
    "check_report_path",
    "classify_exception",
    "format_progress",
    "format_summary",
    "replay",
    "tls_context",
    "write_report_json",
]
