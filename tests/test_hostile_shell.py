"""A hostile or clumsy trainee at the training shell: every line gets PowerShell's answer
or a located error, never a traceback, a hang or a file written where nobody asked."""

from __future__ import annotations

import re
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


def _names(reply_text: str) -> list[str]:
    return [line.strip() for line in reply_text.splitlines()[2:] if line.strip()]


@pytest.mark.parametrize(("line", "names"), [
    ("Get-VMHost * | ft Name", ["ta-esx-01", "esx-01", "esx-02"]),
    ("Get-VMHost -Name esx* | ft Name", ["esx-01", "esx-02"]),
    ("Get-VMHost esx-0? | ft Name", ["esx-01", "esx-02"]),
    ("Get-VMHost esx-0[2-9] | ft Name", ["esx-02"]),
    ("Get-VMHost ESX-01 | ft Name", ["esx-01"]),
    ("Get-TrustedCluster -Name trusted* | ft Name", ["Trusted Cluster"]),
    ("Get-TrustAuthorityCluster -Name * | ft Name", ["vTA Cluster"]),
    ("Get-VMHost | where {$_.Name -like '[!e]*'} | ft Name", ["esx-01", "esx-02"]),
])
def test_wildcards_and_case_in_names_match_as_powercli_does(session: Session, line: str,
                                                            names: list[str]) -> None:
    """Was: "no host '*'" (the lab compared names exactly). PowerCLI's -Name filters and
    object-by-name parameters take PowerShell wildcards and any case; in a wildcard
    ``[!e]`` is the set of '!' and 'e' (no negation, unlike fnmatch)."""
    reply = session.run(line)
    assert reply.ok, reply.text
    assert _names(reply.text) == names


def test_a_filter_wildcard_that_matches_nothing_is_no_output(session: Session) -> None:
    reply = session.run("Get-VMHost nope*")
    assert reply.ok and reply.text == ""
    reply = session.run("Get-VMHost nope")  # a plain name: PowerCLI's non-terminating error
    assert not reply.ok and reply.text == (  # PowerCLI's words, the lab's names after
        "Get-VMHost: VMHost with name 'nope' was not found using the specified filter(s). "
        "(VMHost: ta-esx-01, esx-01, esx-02)")


def test_a_wildcard_target_is_every_matching_object(session: Session) -> None:
    """Was: What if ... on target "*" (the pattern was passed through as a host name)."""
    reply = session.run("Restart-VMHost -VMHost esx* -WhatIf")
    assert reply.ok
    assert reply.text.splitlines() == [
        f'What if: Performing the operation "Restart-VMHost" on target "{h}".'
        for h in ("esx-01", "esx-02")]
    reply = session.run("Restart-VMHost -VMHost nope* -Confirm:$false")
    assert not reply.ok and "nope*" in reply.text and "esx-01" in reply.text


@pytest.mark.parametrize("pattern", ["esx-0[1", "esx-0[2-1]"])
def test_an_invalid_wildcard_is_powershells_error(session: Session, pattern: str) -> None:
    """Was: fnmatch read a lone '[' literally (no error, no match)."""
    for line in (f"Get-VMHost '{pattern}'", f"Get-VMHost | where {{$_.Name -like '{pattern}'}}"):
        reply = session.run(line)
        assert not reply.ok
        assert reply.text == f"The specified wildcard character pattern is not valid: {pattern}"


def test_a_hostile_wildcard_is_fast() -> None:
    """Runs of '*' collapse: a 100 kB pattern of '*a' against a host name is one scan, not
    exponential backtracking (a bound on work, not a timed assertion): the glob matcher
    has one token per '*' run and per character, and no regular expression."""
    from vtalab.training.pwsh.filters import wildcard

    pattern = wildcard("*a" * 50000 + "*")
    assert len(pattern.tokens) == 100001
    assert [t[0] for t in wildcard("***esx***").tokens] == ["*", "=", "=", "=", "*"]
    assert not pattern.matches("esx-01")


@pytest.mark.parametrize(("line", "param", "what"), [
    ("Restart-VMHost -VMHost $null -Confirm:$false", "VMHost", "null"),
    ("$h = $null; Restart-VMHost $h -Confirm:$false", "VMHost", "null"),
    ("Restart-VMHost -VMHost '' -Confirm:$false", "VMHost", "an empty string"),
    ("Set-VMHost -VMHost esx-01 -State $null", "State", "null"),
    ("Export-VMHostImageDb -VMHost esx-01 -FilePath $null", "FilePath", "null"),
])
def test_null_to_a_mandatory_parameter_is_powershells_binding_error(
        session: Session, line: str, param: str, what: str) -> None:
    """Was pydantic's words ("argument 'vmhost': Input should be a valid string")."""
    reply = session.run(line)
    assert not reply.ok
    name = line.split("; ")[-1].split()[0]
    assert reply.text.startswith(f"{name}: Cannot bind argument to parameter '{param}' "
                                 f"because it is {what}.")
    assert "Input should be" not in reply.text


def test_null_to_an_optional_filter_is_no_filter(session: Session) -> None:
    reply = session.run("Get-VMHost -Name $null | ft Name")
    assert reply.ok and _names(reply.text) == ["ta-esx-01", "esx-01", "esx-02"]


def test_save_and_debrief_never_replace_someone_elses_file(tmp_path: Path) -> None:
    """Was: 'save FILE' replaced whatever FILE was (a slip such as 'save fix.ps1', the
    transcript being typed from, or a system file for a trainee running as root)."""
    s = Session.start(EXERCISE)
    s.run("Get-VMHost")
    precious = tmp_path / "fix.ps1"
    precious.write_text("Get-VMHost\n", encoding="utf-8")
    for line in (f"save {precious}", f"debrief --html {precious}"):
        reply = s.run(line)
        assert not reply.ok
        assert f"{precious} exists and is not a" in reply.text and "not replaced" in reply.text
    assert precious.read_text(encoding="utf-8") == "Get-VMHost\n"
    # The shell's own earlier files, and empty ones, are replaced as before.
    saved, page, empty = tmp_path / "s.json", tmp_path / "d.html", tmp_path / "empty"
    empty.write_bytes(b"")
    for line in (f"save {saved}", f"save {saved}", f"debrief --html {page}",
                 f"debrief --html {page}", f"save {empty}"):
        assert s.run(line).ok, line
    assert '"commands"' in empty.read_text(encoding="utf-8")


def test_a_100kb_name_does_not_cost_minutes_of_fuzzy_matching(
        session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """Was: 'Get-' + 100 kB (an unknown command) compared the blob with every cmdlet's
    name by difflib (quadratic: 30 s of CPU for 20 kB, the lab's lock held when served).
    A value over 4 times a name's length cannot reach the 0.4 'did you mean' threshold;
    counted, not timed."""
    import difflib

    import vtalab.errors

    sizes: list[int] = []

    class Counting(difflib.SequenceMatcher):  # type: ignore[type-arg]
        def ratio(self) -> float:
            sizes.append(len(self.a))
            return super().ratio()

    monkeypatch.setattr(vtalab.errors.difflib, "SequenceMatcher", Counting)
    for line in ("Get-" + "a" * 100_000, "Get-VMHost " + "a" * 100_000,
                 "Restart-VMHost -" + "V" * 100_000):
        reply = session.run(line)
        assert not reply.ok and "did you mean" not in reply.text
    assert all(n < 1000 for n in sizes)  # only names of comparable length were compared
    reply = session.run("Get-VMHst")  # ... and a typo still gets its suggestion
    assert "did you mean 'Get-VMHost'?" in reply.text and sizes


@pytest.mark.parametrize(("line", "out"), [
    ("Get-VMHost | % { $_.Name }", ["ta-esx-01", "esx-01", "esx-02"]),
    ("Get-VMHost | % {$_.Name} | % {$_.Length}", ["9", "6", "6"]),
    ("Get-VMHost | ForEach-Object { $_.Name -like 'esx*' }", ["False", "True", "True"]),
    ("Get-VMHost | % { $_.NoSuchProperty }", []),
])
def test_foreach_with_an_expression_block_outputs_its_value(session: Session, line: str,
                                                            out: list[str]) -> None:
    """Was: 'ForEach-Object: give a script block, e.g. % { $_.Name }' -- for exactly the
    block the message suggests (a block starting with $_ parsed as a condition)."""
    reply = session.run(line)
    assert reply.ok, reply.text
    assert (reply.text.splitlines() if reply.text else []) == out


def test_several_values_for_a_one_value_parameter_are_refused(session: Session) -> None:
    """Was: Set-VMHost -State Maintenance,Connected ran the cmdlet once per state (the
    host went into maintenance mode and straight out again); PowerShell refuses to bind
    an array to a ValidateSet string or an enum parameter."""
    reply = session.run("Set-VMHost -VMHost esx-01 -State Maintenance,Connected -WhatIf")
    assert not reply.ok and "What if" not in reply.text
    assert reply.text.startswith(
        "Set-VMHost: Cannot validate argument on parameter 'State'. The argument "
        "\"Maintenance Connected\" does not belong to the set \"Maintenance,Connected\"")
    reply = session.run("Get-TrustAuthorityCluster -State Enabled,Disabled")
    assert not reply.ok and "Cannot bind parameter 'State'" in reply.text
    assert "to type \"TrustAuthorityState\"" in reply.text
    # Array parameters still run once per value.
    reply = session.run("Restart-VMHost -VMHost esx-01,esx-02 -WhatIf")
    assert reply.ok and len(reply.text.splitlines()) == 2


@pytest.mark.parametrize(("line", "out"), [
    ("Get-VMHost -Name @('esx-01','esx-02') | ft Name", "Name\n----\nesx-01\nesx-02"),
    ("$one = @('esx-01'); $one.Count", "1"),
    ("$none = @(); $none.Count", "0"),
    ("@(Get-VMHost)[1].Name", "esx-01"),
    ("$zz = @(Get-VMHost | where {$_.Name -like 'zz*'}); $zz.Count", "0"),
    ("@(@(@('x')))", "x"),
])
def test_the_array_subexpression(session: Session, line: str, out: str) -> None:
    """Was: '@' read as a command name ("the term '@' is not recognized"), or -Name
    @('a','b') as a positional argument. @(...) is always an array; @() is empty."""
    reply = session.run(line)
    assert reply.ok, reply.text
    assert reply.text == out


@pytest.fixture
def esxi() -> Session:
    s = Session.start(EXERCISE)
    assert s.run("ssh root@esx-01").ok
    return s


def test_esxi_shell_pipes_into_grep_and_tail(esxi: Session) -> None:
    """Was: 'cat /var/log/kmxa.log | grep -i error' answered 'usage: cat FILE' (the
    '|' and what followed were read as more file names)."""
    whole = esxi.run("cat /var/log/kmxa.log").text.splitlines()
    assert len(whole) > 3
    assert esxi.run("cat /var/log/kmxa.log | tail -n 3").text.splitlines() == whole[-3:]
    attested = [x for x in whole if "attest" in x.lower()]
    assert esxi.run("cat /var/log/kmxa.log | grep -i ATTEST").text.splitlines() == attested
    assert esxi.run("grep -v -i attest /var/log/kmxa.log").text.splitlines() == [
        x for x in whole if "attest" not in x.lower()]
    assert esxi.run("esxcli system version get | grep Build").text.strip().startswith(
        "Build: Releasebuild-")
    assert esxi.run("cat 'a|b'").text.startswith("a|b: No such file")  # quoted: no pipe


@pytest.mark.parametrize(("line", "error", "static"), [
    ("cat /var/log/kmxa.log |", '-sh: syntax error: unexpected "|"', True),
    ("cat /var/log/kmxa.log || grep x", '-sh: syntax error: unexpected "|"', True),
    ("cat /var/log/kmxa.log | less", "-sh: less: not found", True),
    ("cat /var/log/kmxa.log | ls", "-sh: ls does not read a pipe in the lab", True),
    ("grep -c x /var/log/kmxa.log", "grep: invalid option -- 'c'", False),
])
def test_esxi_shell_bad_pipes_are_refused(esxi: Session, line: str, error: str,
                                          static: bool) -> None:
    """A transcript's bad pipe is refused before anything runs (``static``)."""
    if static:
        with pytest.raises(Exception, match=r"^" + re.escape(error)):
            validate_line(line, esxi=True)
    else:
        validate_line(line, esxi=True)
    reply = esxi.run(line)
    assert not reply.ok and reply.text.startswith(error)
