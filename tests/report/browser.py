"""Headless Debian Chromium driven by Playwright: open a report page, record what it did.

Shared by the browser tests and `make screenshots`. Playwright only drives the browser the
machine has (`/usr/bin/chromium`, from `.ci/system-deps`); it never downloads one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# No network, no background services, no GPU: a report must render from the file alone.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """The system Chromium, or None; $VSS_CHROMIUM overrides."""
    for candidate in (os.environ.get("VSS_CHROMIUM"), "/usr/bin/chromium", "chromium"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


def unavailable() -> str | None:
    """Why no browser can be had here, or None when one can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if chromium_path() is None:
        return "no chromium on this machine (bash .ci/system-deps installs Debian's, as root)"
    return None


@dataclass
class Visit:
    """What happened while a page was open."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # every URL the page asked for

    @property
    def network_requests(self) -> list[str]:
        """Requests other than the report file itself."""
        return [url for url in self.requests if not url.startswith("file://")]


class Browser:
    """One Chromium for many pages."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser

    @contextmanager
    def open(
        self, path: Path, *, width: int = 1200, height: int = 900
    ) -> Iterator[tuple[Any, Visit]]:
        """Open `path`; yields (playwright page, Visit) once it has loaded."""
        visit = Visit()
        context = self._browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        page.on(
            "console", lambda m: visit.console_errors.append(m.text) if m.type == "error" else None
        )
        page.on("pageerror", lambda e: visit.page_errors.append(str(e)))
        page.on("request", lambda r: visit.requests.append(r.url))
        try:
            page.goto(path.resolve().as_uri(), wait_until="load")
            yield page, visit
        finally:
            context.close()


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium, closed on exit; RuntimeError when it cannot start."""
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as driver:
        try:
            browser = driver.chromium.launch(
                executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
            )
        except Error as exc:
            raise RuntimeError(f"chromium did not start: {str(exc).splitlines()[0]}") from exc
        try:
            yield Browser(browser)
        finally:
            browser.close()
