"""Every command explains itself (issue 16): a description, help for every argument and
option, an Examples: section with runnable lines; shell completion through argcomplete."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vtalab.cli.app import _parser, main


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = _parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_command_has_a_description_argument_help_and_examples() -> None:
    commands = _commands()
    assert {"run", "check", "explain", "import", "bundle", "train", "golden"} <= set(commands)
    for name, parser in commands.items():
        text = parser.format_help()
        assert parser.description and len(parser.description) > 40, name
        assert parser.description.split(".")[0] in " ".join(text.split()), name
        examples = text.split("Examples:\n", 1)[1]
        assert f"\n  vtalab {name}" in "\n" + examples, name
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)


def test_top_level_help_lists_examples_exit_codes_and_completion(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "Examples:\n  vtalab run " in out and "Exit codes: 0 ok, 1" in out
    assert "register-python-argcomplete vtalab" in out
    assert main(["run", "--help"]) == 0
    assert "vtalab run BUG.tgz --fix import-measured" in capsys.readouterr().out
    assert main(["run", "--no-such-option", "x.yaml"]) == 2


def test_examples_wrap_descriptions_but_not_the_command_lines() -> None:
    text = _commands()["check"].format_help()
    examples = text.split("Examples:\n", 1)[1].splitlines()
    assert all(line.startswith("  vtalab ") for line in examples if line.strip())


def test_shell_completion_answers(tmp_path: Path) -> None:
    pytest.importorskip("argcomplete")
    out = tmp_path / "completions"
    env = {**os.environ, "_ARGCOMPLETE": "1", "COMP_LINE": "vtalab check --fa",
           "COMP_POINT": str(len("vtalab check --fa")),
           "_ARGCOMPLETE_STDOUT_FILENAME": str(out)}
    code = "import sys; from vtalab.cli import main; sys.exit(main())"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120,
                   stdin=subprocess.DEVNULL, capture_output=True)
    assert out.read_text().split() == ["--faults"]
    env["COMP_LINE"] = "vtalab e"
    env["COMP_POINT"] = "8"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120,
                   stdin=subprocess.DEVNULL, capture_output=True)
    assert set(out.read_text().split()) == {"explain", "evidence"}
