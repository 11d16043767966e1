"""Double-quoted strings as PowerShell expands them: ``$var`` and ``$( ... )``.

Was: ``"Host $($h.Name) runs $($h.Version)"`` printed ``Host $(esx-03.Name) runs
$(esx-03.Version)`` (only ``$name`` expanded, inside the subexpression's text), a line
operators write in every report loop.
"""

from __future__ import annotations

import pytest

from vtalab.training.pwsh.parser import MAX_NESTING, parse
from vtalab.training.session import Session


@pytest.fixture(scope="module")
def session(pwsh_session: Session) -> Session:
    return pwsh_session


@pytest.mark.parametrize("line,text", [
    ('"Host $($h.Name) runs $($h.Version)"', "Host esx-03 runs 8.0.3"),
    ('"$h.Name"', "esx-03.Name"),  # no member access without $( )
    ('"$h"', "esx-03"),
    ('"n=$((Get-VMHost).Count)"', "n=4"),
    ('"$(Get-VMHost esx-0* | Select-Object -ExpandProperty Name)"', "esx-01 esx-02 esx-03"),
    ('"a $("b $($h.Name) c") d"', "a b esx-03 c d"),  # quotes and nesting inside $( )
    ('"p $(\')\') q"', "p ) q"),  # a parenthesis in a string inside $( )
    ('"$($x = 5)[$x]"', "[5]"),  # an assignment outputs nothing, and it sticks
    ("'$($h.Name)'", "$($h.Name)"),  # single quotes never expand
    ('"$()"', ""),
    ('"$(7)"', "7"),  # a number is a value where a pipeline starts
    ("$n = 12; $n", "12"),
])
def test_double_quoted_strings_expand_as_powershell(session: Session, line: str,
                                                   text: str) -> None:
    reply = session.run(line)
    assert reply.ok, reply.text
    assert reply.text == text


def test_subexpressions_see_the_pipeline_item(session: Session) -> None:
    reply = session.run('Get-VMHost esx-0* | ForEach-Object { "$($_.Name)=$($_.Version)" }')
    assert reply.ok and reply.text.splitlines() == ["esx-01=8.0.2", "esx-02=8.0.2",
                                                    "esx-03=8.0.3"]
    reply = session.run('Get-VMHost | Where-Object { "$($_.Name)" -like "esx-0[12]" } | '
                        "Select-Object -ExpandProperty Name")
    assert reply.ok and reply.text.splitlines() == ["esx-01", "esx-02"]


@pytest.mark.parametrize("line,needle", [
    ('"x $(Get-VMHost esx-03"', "has no closing"),
    ('"x $(Get-Nothing)"', "'Get-Nothing' is not recognized"),
    ('"' + "$(\"" * (MAX_NESTING + 1) + "x" + "\")" * (MAX_NESTING + 1) + '"',
     f"deeper than {MAX_NESTING} levels"),
    ('"' + "$(\"" * 5000 + "x" + "\")" * 5000 + '"', f"deeper than {MAX_NESTING} levels"),
])
def test_bad_subexpressions_are_located_errors(session: Session, line: str,
                                               needle: str) -> None:
    reply = session.run(line)
    assert not reply.ok and needle in reply.text, reply.text[:300]


def test_nesting_at_the_limit_parses() -> None:
    depth = MAX_NESTING
    assert parse('"' + "$(\"" * depth + "x" + "\")" * depth + '"')
