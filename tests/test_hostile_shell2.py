"""More of a hostile or clumsy trainee (and hostile lab files) at the training shell:
PowerCLI's answer for a name on the wrong vCenter, a bounded regular expression,
control characters shown instead of obeyed, only the shell's own files replaced, and
JSON numbers too long to convert refused with their place."""

from __future__ import annotations

from pathlib import Path

import pytest

from vtalab.training.session import Session

EXERCISE = "quick-boot-old-image-removed"


@pytest.fixture(scope="module")
def session() -> Session:
    return Session.start(EXERCISE)


# -- debrief --html replaces only its own pages --------------------------------------------
def test_debrief_replaces_only_its_own_page(tmp_path: Path) -> None:
    """Was: any file starting with <!doctype html> (a vtalab check report, someone's own
    page) was replaced by 'debrief --html FILE'."""
    s = Session.start(EXERCISE)
    other = tmp_path / "report.html"
    text = "<!doctype html>\n<html><body>my notes</body></html>\n"
    other.write_text(text, encoding="utf-8")
    reply = s.run(f"debrief --html {other}")
    assert not reply.ok
    assert f"{other} exists and is not a debrief page" in reply.text
    assert other.read_text(encoding="utf-8") == text
    # The page names its generator, and an earlier debrief is replaced.
    page = tmp_path / "d.html"
    assert s.run(f"debrief --html {page}").ok
    assert '<meta name="generator" content="vtalab debrief">' in page.read_text("utf-8")
    s.run("Get-VMHost")
    assert s.run(f"debrief --html {page}").ok
