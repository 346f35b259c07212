"""`pytest --vss-target URL --vss-html PATH`: the plugin writes the probes' HTML report."""

from __future__ import annotations

from pathlib import Path

import buggy_receivers as bug
import pytest

import emitter.generator
import emitter.report._html
import emitter.scenarios

# Imported before the in-process inner runs, which drop modules first imported inside them.
KEEP_LOADED = (emitter.generator, emitter.report._html, emitter.scenarios)
INNER = ("-p", "no:cacheprovider", "-W", "default", "--vss-timeout", "5")
INNER += tuple(f"-pno:{p}" for p in ("locust", "faker", "anyio", "hypothesispytest"))


def test_vss_html_writes_the_report_of_the_probes_that_ran(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    page = tmp_path / "vss.html"
    with bug.Receiver(bug.crashes_on_capital_leg_key) as receiver:
        result = pytester.runpytest(
            "--vss-target", receiver.url, "--vss-html", str(page), *INNER, "-k", "docs/"
        )
    result.assert_outcomes(passed=6, failed=1)
    result.stdout.fnmatch_lines([f"vss-emitter HTML report: {page}"])
    text = page.read_text()
    assert "docs/example-success" in text
    assert "FAILED:" in text


def test_vss_html_to_an_unwritable_path_is_a_usage_error(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = pytester.runpytest(
        "--vss-target", "http://127.0.0.1:9/", "--vss-html", str(blocker / "r.html"), *INNER
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--vss-html: cannot write*"])
