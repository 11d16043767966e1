"""More of a hostile or clumsy trainee (and hostile lab files) at the training shell:
PowerCLI's answer for a name on the wrong vCenter, a bounded regular expression,
control characters shown instead of obeyed, only the shell's own files replaced, and
JSON numbers too long to convert refused with their place."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from vtalab.core.files import MAX_JSON_INT_DIGITS, JSONNumberError, loads
from vtalab.errors import ScenarioError
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


# -- JSON integers too long to convert ------------------------------------------------------
HUGE = "9" * (MAX_JSON_INT_DIGITS + 1)


def test_a_huge_integer_in_a_saved_session_is_located(tmp_path: Path) -> None:
    """Was: 'not valid JSON: Exceeds the limit (4300 digits) for integer string
    conversion ...; use sys.set_int_max_str_digits() to increase the limit' at line 1."""
    saved = tmp_path / "s.json"
    saved.write_text('{"commands": [],\n "seed": ' + HUGE + ',\n "version": 1}\n',
                     encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        Session.load(str(saved))
    text = str(caught.value)
    assert text.startswith(f"{saved}:2:10: not valid JSON: field seed is an integer of "
                           f"{MAX_JSON_INT_DIGITS + 1:,} digits; at most "
                           f"{MAX_JSON_INT_DIGITS:,}"), text
    assert "set_int_max_str_digits" not in text


@pytest.mark.parametrize("interpreter_limit", [0, 4300, 100_000])
def test_loads_refuses_the_same_whatever_the_interpreter_allows(
        interpreter_limit: int) -> None:
    """The limit is vtalab's (MAX_JSON_INT_DIGITS), not what the process was told."""
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(interpreter_limit)
    try:
        doc = '{"a": "' + HUGE + '", "b": [1, {"c": -' + HUGE + "}]}"
        with pytest.raises(JSONNumberError) as caught:
            loads(doc.encode())
        assert caught.value.field == "b[1].c"
        assert caught.value.offset == doc.index("-" + HUGE)
        assert loads('{"n": ' + HUGE[1:] + "}")["n"] == int(HUGE[1:])
        assert loads('{"n": 1.' + HUGE + "}")["n"] == 2.0  # a float: no limit
    finally:
        sys.set_int_max_str_digits(before)
