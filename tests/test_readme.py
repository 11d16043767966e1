"""The README's two Quick start commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.findall(r"```(?:sh|bash)?\n(.*?)```", section, re.S)[0]
    return [line.strip() for line in block.splitlines() if line.strip()
            and not line.strip().startswith("#")]


def test_quick_start_has_exactly_two_commands() -> None:
    assert len(_quick_start_commands()) == 2


def test_ci_runs_both_readme_commands_verbatim() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    ci_lines = [line.strip() for line in ci.splitlines()]
    for command in _quick_start_commands():
        assert command in ci_lines, f"{command!r} is not run by .ci/run"


def test_main_job_scenario_exists() -> None:
    main_job = _quick_start_commands()[0]
    path = main_job.split("vtalab run", 1)[1].split()[0]
    assert (ROOT / path).is_file()
