"""Each kind of HTML report opened in headless Chromium: renders, no error, no network."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emitter.coverage import Coverage
from emitter.report._html import write_check_html, write_coverage_html, write_replay_html

from .browser import Browser, chromium, unavailable


@pytest.fixture(scope="module")
def browser(
    check_data: dict[str, Any], replay_data: dict[str, Any], every_scenario: Coverage
) -> Iterator[Browser]:
    # The runs come first: Playwright's sync API keeps an event loop running on this thread
    # while the browser is open, and replay runs its own.
    why = unavailable()
    if why is not None:
        pytest.skip(f"no browser for the HTML report tests: {why}")
    try:
        with chromium() as opened:
            yield opened
    except RuntimeError as exc:
        pytest.skip(f"no browser for the HTML report tests: {exc}")


def clean(visit: Any) -> None:
    assert visit.console_errors == []
    assert visit.page_errors == []
    assert visit.network_requests == []


def test_check_report_renders_probes_and_verdicts(
    browser: Browser, check_data: dict[str, Any], tmp_path: Path
) -> None:
    path = write_check_html(check_data, tmp_path / "check.html")
    with browser.open(path) as (page, visit):
        rows = page.locator("tr.probe")
        assert rows.count() == len(check_data["probes"])
        names = page.locator("table.probes").inner_text()
        for probe in check_data["probes"]:
            assert probe["name"] in names
        assert page.locator("#verdict").inner_text().startswith("FAILED")
        assert page.locator("tr.probe[data-verdict=failed] .verdict.failed").count() >= 1
        marked = page.locator("section.failure .hl").all_inner_texts()
        assert any('"CallA"' in text for text in marked)
        assert page.locator("table.matrix").is_visible()
        page.screenshot(path=str(tmp_path / "check.png"), full_page=True)
        clean(visit)
    assert (tmp_path / "check.png").stat().st_size > 0


def test_replay_report_renders_its_plots(
    browser: Browser, replay_data: dict[str, Any], tmp_path: Path
) -> None:
    path = write_replay_html(replay_data, tmp_path / "replay.html")
    with browser.open(path) as (page, visit):
        assert page.locator("#verdict").inner_text().startswith("PASSED")
        for plot in ("#plot-percentiles", "#plot-rate", "#plot-outcomes"):
            svg = page.locator(f"{plot} svg")
            assert svg.count() == 1
            box = svg.bounding_box()
            assert box is not None
            assert box["width"] > 300
            assert box["height"] > 150
        # The plots' text is text: the percentile axis reads in nines.
        assert "99.9%" in page.locator("#plot-percentiles").inner_text()
        page.screenshot(path=str(tmp_path / "replay.png"), full_page=True)
        clean(visit)


def test_coverage_report_renders_the_matrix(
    browser: Browser, every_scenario: Coverage, tmp_path: Path
) -> None:
    path = write_coverage_html(every_scenario, tmp_path / "coverage.html", sources=["-"])
    with browser.open(path) as (page, visit):
        matrix = page.locator("table.matrix")
        assert matrix.is_visible()
        assert "UNSUBSCRIBED_CONTACT" in matrix.inner_text()
        assert page.locator("tr.dimension").count() >= 10
        page.screenshot(path=str(tmp_path / "coverage.png"), full_page=True)
        clean(visit)
