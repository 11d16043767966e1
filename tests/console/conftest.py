"""Browser tests of the web console: Playwright driving Debian's Chromium.

Chromium comes from the distribution (``apt-get install chromium``, see ``.ci/run``);
``playwright install`` is never run (it downloads from a host these machines cannot
reach). Servers start in-process on ephemeral 127.0.0.1 ports and stop after each test.

Every page records its requests and console messages: a test fails if a request leaves
127.0.0.1 or the page logs an error. When a test fails, a screenshot of the page goes to
``test-output/console/<test name>.png`` (``VTALAB_TEST_OUTPUT`` moves the folder).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
#: bounded waits: a missing element fails in seconds, not minutes
TIMEOUT_MS = 15_000

OUTPUT = Path(os.environ.get("VTALAB_TEST_OUTPUT", "test-output")) / "console"

# expect() waits as long as an action does (its default, 5 s, is short on a loaded machine)
playwright_api.expect.set_options(timeout=TIMEOUT_MS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # In CI (.ci/run installs chromium) a missing browser is a failure, never a skip.
    if not os.environ.get("CI") and shutil.which(CHROMIUM) is None \
            and not os.path.exists(CHROMIUM):
        skip = pytest.mark.skip(reason=f"{CHROMIUM} is not installed (apt-get install chromium)")
        for item in items:
            if "console" in str(item.fspath) and "browser" in item.fixturenames:
                item.add_marker(skip)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_REPORT] = report
    return report


_REPORT = pytest.StashKey[Any]()


@pytest.fixture(scope="module")  # one Playwright at a time: other modules start their own
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=60_000)
        yield b
        b.close()


class PageWatch:
    """What a page did: every request URL and every console error or page error."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.errors: list[str] = []

    def attach(self, page: Any) -> Any:
        page.set_default_timeout(TIMEOUT_MS)
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        return page

    def foreign(self) -> list[str]:
        out = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob", "about"):
                continue
            if parts.hostname != "127.0.0.1":
                out.append(url)
        return out


@pytest.fixture
def watch() -> PageWatch:
    return PageWatch()


@pytest.fixture
def context_factory(browser: Any, watch: PageWatch, request: pytest.FixtureRequest
                    ) -> Iterator[Any]:
    """New browser contexts (one per trainee); all pages watched, shot on failure."""
    contexts: list[Any] = []
    pages: list[Any] = []

    def make(**kwargs: Any) -> Any:
        ctx = browser.new_context(viewport=kwargs.pop("viewport", {"width": 1280,
                                                                    "height": 800}),
                                  accept_downloads=True, **kwargs)
        ctx.on("page", lambda p: pages.append(watch.attach(p)))
        contexts.append(ctx)
        return ctx

    yield make
    report = request.node.stash.get(_REPORT, None)
    if report is not None and report.failed:
        OUTPUT.mkdir(parents=True, exist_ok=True)
        for i, p in enumerate(pages):
            with contextlib.suppress(Exception):  # a closed page: nothing to show
                p.screenshot(path=str(OUTPUT / f"{request.node.name}-{i}.png"), full_page=True)
    for ctx in contexts:
        ctx.close()
    assert not watch.foreign(), f"requests left 127.0.0.1: {watch.foreign()}"
    assert not watch.errors, f"the page logged errors: {watch.errors}"


@pytest.fixture
def page(context_factory: Any) -> Any:
    return context_factory().new_page()
