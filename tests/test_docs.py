"""Examples are tests, and generated docs cannot drift from their registries."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from vtalab.docgen import generate

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", sorted(generate()))
def test_generated_doc_is_current(name: str) -> None:
    committed = (ROOT / "docs" / name).read_text(encoding="utf-8")
    assert committed == generate()[name], (
        f"docs/{name} is stale: run `python -m vtalab.docgen docs`")


def test_api_story_runs_and_prints_what_the_doc_says() -> None:
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    code = re.findall(r"```python\n(.*?)```", text, re.S)[0]
    expected = re.findall(r"Output:\n\n```\n(.*?)```", text, re.S)[0]
    assert len(code.strip().splitlines()) <= 20, "the Quick Boot story must stay short"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/api.md", "exec"), {})
    assert out.getvalue() == expected
