"""The HTML pages vtalab writes, in a real browser (issue 16): the training debrief and
the run and check reports fit a 1280 px window without horizontal scrolling, load nothing
from anywhere, scale their chart, and print without clipping.

Headless Chromium from Debian (``/usr/bin/chromium``, installed by ``.ci/run``), driven by
Playwright for Python (never ``playwright install``)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from vtalab.cli.app import main
from vtalab.training.debrief import debrief_html
from vtalab.training.exercises import exercise
from vtalab.training.session import Session

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason="needs Debian's chromium (.ci/run installs it)")


@pytest.fixture(scope="module")
def browser() -> Any:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _measure(browser: Any, path: Path, width: int = 1280) -> dict[str, Any]:
    """Open ``path`` at ``width`` px; what scrolls, what was requested, what is hidden."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    got = page.evaluate("""() => {
        const d = document.documentElement;
        const svgs = [...document.querySelectorAll('svg')].map(s => {
            const r = s.getBoundingClientRect(); return [r.width, r.right]; });
        const wide = [...document.querySelectorAll('body *')].filter(e => {
            const r = e.getBoundingClientRect(); return r.right > d.clientWidth + 1; })
            .map(e => e.tagName + '.' + e.className);
        return {scroll: d.scrollWidth, client: d.clientWidth, svgs, wide};
    }""")
    page.emulate_media(media="print")
    got["print_wide"] = page.evaluate("""() => {
        const d = document.documentElement;
        return d.scrollWidth > d.clientWidth + 1; }""")
    page.close()
    got["external"] = [u for u in requests if u != path.as_uri()]
    return got


def _assert_fits(m: dict[str, Any], width: int = 1280) -> None:
    assert m["scroll"] <= m["client"] == width, m
    assert not m["wide"], m["wide"]
    assert m["external"] == [], m["external"]
    assert not m["print_wide"]
    assert m["svgs"] and all(right <= width for _, right in m["svgs"])


def test_debrief_fits_and_is_self_contained(browser: Any, tmp_path: Path) -> None:
    ex = exercise("upgrade-before-import")
    s = Session.start(ex.id)
    for line in ["Export-VMHostImageDb -VMHost esx-03 -FilePath x.tgz", "rewind #1",
                 *ex.solution]:
        s = s.run(line).session or s
    page = tmp_path / "debrief.html"
    page.write_text(debrief_html(s), encoding="utf-8")
    m = _measure(browser, page)
    _assert_fits(m)
    # The chart scales with the page instead of a fixed 890 px.
    narrow = _measure(browser, page, width=900)
    assert narrow["scroll"] <= 900 and narrow["svgs"][0][0] < m["svgs"][0][0]


def test_run_report_fits_and_is_self_contained(browser: Any, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "run.html"
    scenario = ROOT / "scenarios" / "upgrade-before-import.yaml"
    assert main(["run", str(scenario), "--html", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert "<script" not in text and not re.search(r"\b(src|href)=", text)
    for needed in ("Hosts over time", "<h2>Steps</h2>", "<h2>Expectations</h2>",
                   'data-status="maintenance"', 'data-status="notAttested"',
                   'data-status="booting"', '<span class="pass">PASS</span>'):
        assert needed in text, needed
    _assert_fits(_measure(browser, page))
    capsys.readouterr()


def test_check_report_fits_and_marks_the_culprit(browser: Any, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "check.html"
    plan = ROOT / "scenarios" / "plans" / "unsafe-remove-old-image-after-quick-boot.yaml"
    code = main(["check", str(plan), "--examples", "3", "--faults", "none",
                 "--out", str(tmp_path / "ce"), "--html", str(page)])
    assert code == 1
    text = page.read_text(encoding="utf-8")
    assert "<h2>Counterexamples</h2>" in text and "VIOLATED</span> " in text
    assert '<tr class="culprit' in text  # the culprit step, in the counterexample's steps
    assert "culprit: step 5 &#x27;remove-old-image&#x27;" in text
    _assert_fits(_measure(browser, page))
    capsys.readouterr()


def test_campaign_report_fits_and_is_self_contained(browser: Any, tmp_path: Path) -> None:
    """vtalab campaign's page: charts and tables fit 1280 px, nothing loaded from anywhere."""
    assert main(["campaign", "token-lifetime-vs-outage", "--out", str(tmp_path)]) == 0
    m = _measure(browser, tmp_path / "token-lifetime-vs-outage.html")
    _assert_fits(m)
    assert len(m["svgs"]) == 5  # a chart per measure and steps refused
