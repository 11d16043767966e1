"""Examples are tests, and generated docs cannot drift from their registries."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# tools/ is repository-only (not shipped in the wheel): load the generator from its file.
_spec = importlib.util.spec_from_file_location("docgen", ROOT / "tools" / "docgen.py")
assert _spec and _spec.loader
docgen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(docgen)
generate = docgen.generate


@pytest.mark.parametrize("name", sorted(generate()))
def test_generated_doc_is_current(name: str) -> None:
    committed = (ROOT / "docs" / name).read_text(encoding="utf-8")
    assert committed == generate()[name], (
        f"docs/{name} is stale: run `python tools/docgen.py docs`")


def test_api_story_runs_and_prints_what_the_doc_says() -> None:
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    code = re.findall(r"```python\n(.*?)```", text, re.S)[0]
    expected = re.findall(r"Output:\n\n```\n(.*?)```", text, re.S)[0]
    assert len(code.strip().splitlines()) <= 20, "the Quick Boot story must stay short"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/api.md", "exec"), {})
    assert out.getvalue() == expected


def test_logs_doc_lists_the_texts_where_the_code_writes_them() -> None:
    """docs/logs.md (issue 15): read from the call sites, so a new log line appears there."""
    text = generate()["logs.md"]
    for log in ("attestd.log", "kmxa.log", "kmxd.log", "vpxd.log", "loadESX.log"):
        assert f"## {log}" in text
    assert "`Attested by {info.name}; token valid until " in text  # no measured version
    assert "`Quick Boot not possible: {why}; using a regular reboot.`" in text
    assert "released to {host} (KMIP server {result.server})" in text
