"""Output of a check run: terminal lines, JSON report, JUnit XML, and saved failing payloads.

Output consumes a finished CheckReport; nothing here sends anything or decides a verdict.
Module map: `_terminal` (terminal lines), `_json` (`--report-json`), `_junit` (`--junit-xml`),
`_files` (`--save-failures`), `_html` and `templates/` (`--html` pages of check, send, replay and
coverage), `_plots` (replay's SVG plots); every file is written by emitter._atomic.
"""

from __future__ import annotations

from emitter._atomic import atomic_write
from emitter.report._files import failure_file_stem, save_failures
from emitter.report._json import report_json, write_json
from emitter.report._junit import junit_xml, probe_details, write_junit
from emitter.report._terminal import GLYPHS, probe_line, summary_line, terminal_lines

__all__ = [
    "GLYPHS",
    "atomic_write",
    "failure_file_stem",
    "junit_xml",
    "probe_details",
    "probe_line",
    "report_json",
    "save_failures",
    "summary_line",
    "terminal_lines",
    "write_json",
    "write_junit",
]
