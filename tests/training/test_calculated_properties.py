"""Calculated properties and hash tables, as PowerCLI reports use them.

Was: ``Get-VMHost | Select-Object Name, @{N='Cluster';E={$_.Parent}}`` answered "a script
block { ... } is only understood by Where-Object", and ``@{a=1}`` was a syntax error.
"""

from __future__ import annotations

import pytest

from vtalab.training.pwsh.parser import HashLiteral, ScriptBlock, Value, parse
from vtalab.training.session import Session

EXERCISE = "upgrade-before-import"  # esx-03 on 8.0.3, the others on 8.0.2


@pytest.fixture(scope="module")
def session() -> Session:
    return Session.start(EXERCISE)


def _rows(text: str) -> list[list[str]]:
    lines = [line for line in text.splitlines() if line.strip()]
    return [line.split() for line in lines[2:]]


def test_a_hash_literal_parses_with_its_entries_in_order() -> None:
    (statement,) = parse("$t = @{ Name = 'Host'; E = {$_.Name}; n = 5 }")
    (value,) = statement.pipeline.stages
    assert isinstance(value, HashLiteral)
    assert [k for k, _ in value.entries] == ["Name", "E", "n"]
    assert value.entries[0][1] == Value("Host", quoted=True)
    block = value.entries[1][1]
    assert isinstance(block, ScriptBlock) and block.text == "{$_.Name}"


@pytest.mark.parametrize("line,header,rows", [
    ("Get-VMHost esx-0* | Select-Object Name, @{N='Cluster';E={$_.Parent}}",
     ["Name", "Cluster"], [["esx-01", "Trusted", "Cluster"], ["esx-02", "Trusted", "Cluster"],
                           ["esx-03", "Trusted", "Cluster"]]),
    ("Get-VMHost esx-0[23] | select @{Name='V';Expression={$_.Version}}, "
     "@{l='New';e={$_.Version -eq '8.0.3'}}", ["V", "New"], [["8.0.2", "False"],
                                                              ["8.0.3", "True"]]),
    ("Get-VM | Select-Object Name, @{E={$_.VMHost}}", ["Name", "$_.VMHost"],
     [["web01", "esx-01"], ["db01", "esx-03"]]),
    ("Get-VMHost esx-01 | Select-Object @{N='Host';E='Name'}", ["Host"], [["esx-01"]]),
    ("Get-VMHost esx-0* | Format-Table Name, @{N='Ver';E={$_.Version}; Width=8} -AutoSize",
     ["Name", "Ver"], [["esx-01", "8.0.2"], ["esx-02", "8.0.2"], ["esx-03", "8.0.3"]]),
    ("Get-VMHost esx-0* | Sort-Object {$_.Version}, Name -Descending | select Name",
     ["Name"], [["esx-03"], ["esx-02"], ["esx-01"]]),
    ("Get-VMHost esx-0* | select Name, @{N='Label';E={ \"$($_.Name)/$($_.Version)\" }}",
     ["Name", "Label"], [["esx-01", "esx-01/8.0.2"], ["esx-02", "esx-02/8.0.2"],
                         ["esx-03", "esx-03/8.0.3"]]),
])
def test_calculated_properties(session: Session, line: str, header: list[str],
                               rows: list[list[str]]) -> None:
    reply = session.run(line)
    assert reply.ok, reply.text
    assert reply.text.splitlines()[0].split() == header
    assert _rows(reply.text) == rows


def test_a_hash_table_is_a_value(session: Session) -> None:
    assert session.run("$t = @{a = 1; b = 'two'}").ok
    assert session.run("$t.b").text == "two"
    assert session.run("$t.A").text == "1"  # keys in any case, as PowerShell's hashtable


@pytest.mark.parametrize("line,needle", [
    ("Get-VMHost | select @{N='x';Width=5;E={1}}", 'Select-Object: The "Width" key is not '
                                                   "valid."),
    ("Get-VMHost | select @{N='x'}", "needs an Expression key"),
    ("Get-VMHost | select @{N='x';E=}", "expected a value"),
    ("Get-VMHost | select @{N='x' E={1}}", "expected ';' or '}' in the hash table"),
    ("Get-VMHost | select @{N='x';E={1}", "expected"),
])
def test_bad_calculated_properties_are_located_errors(session: Session, line: str,
                                                      needle: str) -> None:
    reply = session.run(line)
    assert not reply.ok and needle in reply.text, reply.text


@pytest.mark.parametrize("line,rows", [
    # which ESXi versions are in use, and on how many hosts (the Quick Boot clean-up's
    # first question): groups sorted by value, as PowerShell 7 sorts them
    ("Get-VMHost | Group-Object Version", [["3", "8.0.2", "{ta-esx-01,", "esx-01,",
                                            "esx-02}"], ["1", "8.0.3", "{esx-03}"]]),
    ("Get-VMHost | group Version -NoElement", [["3", "8.0.2"], ["1", "8.0.3"]]),
    ("Get-VMHost | group Parent, Version -NoElement", [
        ["2", "Trusted", "Cluster,", "8.0.2"], ["1", "Trusted", "Cluster,", "8.0.3"],
        ["1", "vTA", "Cluster,", "8.0.2"]]),
    ("Get-VM | Group-Object {$_.PowerState} -NoElement", [["1", "PoweredOff"],
                                                          ["1", "PoweredOn"]]),
])
def test_group_object(session: Session, line: str, rows: list[list[str]]) -> None:
    reply = session.run(line)
    assert reply.ok, reply.text
    assert _rows(reply.text) == rows


def test_a_groups_members_are_the_objects(session: Session) -> None:
    reply = session.run("(Get-VMHost | Group-Object Version | Where-Object Name -eq "
                        "'8.0.3').Group | Select-Object -ExpandProperty Name")
    assert reply.ok and reply.text == "esx-03"
