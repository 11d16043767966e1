"""A hostile or clumsy trainee at the training shell: every line gets PowerShell's answer
or a located error, never a traceback, a hang or a file written where nobody asked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from vtalab.cli import main
from vtalab.training.pwsh.parser import MAX_NESTING, parse
from vtalab.training.session import Session
from vtalab.training.shell import validate_line

EXERCISE = "quick-boot-old-image-removed"

#: Lines that nest (...), {...}, foreach and @(...) ``depth`` levels deep.
NESTINGS: dict[str, Callable[[int], str]] = {
    "parens": lambda d: "(" * d + "Get-VMHost" + ")" * d,
    "where blocks": lambda d: "Get-VMHost | where {" * d + "$_" + "}" * d,
    "foreach": lambda d: "foreach ($h in (Get-VMHost)) { " * d + "$h.Name" + "}" * d,
    "array subexpressions": lambda d: "@(" * d + "Get-VMHost" + ")" * d,
    "argument": lambda d: "Get-VMHost -Name " + "(" * d + "'esx-01'" + ")" * d,
}


@pytest.fixture(scope="module")
def session() -> Session:
    return Session.start(EXERCISE)


@pytest.mark.parametrize("shape", sorted(NESTINGS))
@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 5000])
def test_deep_nesting_is_a_located_syntax_error(session: Session, shape: str,
                                                depth: int) -> None:
    """Was a RecursionError out of the parser (Session.run raised it; a transcript with
    such a line ended ``vtalab train`` with exit 3)."""
    line = NESTINGS[shape](depth)
    with pytest.raises(Exception) as caught:
        validate_line(line)
    assert type(caught.value).__name__ == "InputError"
    assert f"deeper than {MAX_NESTING} levels" in str(caught.value)
    reply = session.run(line)
    assert not reply.ok and "syntax error at column" in reply.text


@pytest.mark.parametrize("shape", sorted(NESTINGS))
def test_nesting_up_to_the_limit_still_parses(shape: str) -> None:
    assert parse(NESTINGS[shape](MAX_NESTING))


def test_nesting_at_the_limit_runs(session: Session) -> None:
    reply = session.run(NESTINGS["argument"](MAX_NESTING))
    assert reply.ok and "esx-01" in reply.text
    reply = session.run("Get-VMHost | where {$_.Name -eq " + "(" * (MAX_NESTING - 1)
                        + "'esx-02'" + ")" * (MAX_NESTING - 1) + "}")
    assert reply.ok and "esx-02" in reply.text and "esx-01" not in reply.text


def test_a_transcript_with_a_deep_line_is_exit_2_naming_the_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "deep.ps1"
    script.write_text("Get-VMHost\n" + NESTINGS["parens"](3000) + "\n", encoding="utf-8")
    assert main(["train", EXERCISE, "--commands", str(script)]) == 2
    err = capsys.readouterr().err
    assert f"{script}:2:" in err and "Traceback" not in err
