"""More of a hostile or clumsy trainee (and hostile lab files) at the training shell:
PowerCLI's answer for a name on the wrong vCenter, a bounded regular expression,
control characters shown instead of obeyed, only the shell's own files replaced, and
JSON numbers too long to convert refused with their place."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vtalab.cli import main, term
from vtalab.core.files import MAX_INT_DIGITS, JSONNumberError, loads
from vtalab.core.text import visible
from vtalab.errors import InputError, ScenarioError
from vtalab.training.pwsh.filters import wildcard
from vtalab.training.session import Session
from vtalab.training.shell import run_interactive

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
HUGE = "9" * (MAX_INT_DIGITS + 1)


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
                           f"{MAX_INT_DIGITS + 1:,} digits; at most "
                           f"{MAX_INT_DIGITS:,}"), text
    assert "set_int_max_str_digits" not in text


@pytest.mark.parametrize("interpreter_limit", [0, 4300, 100_000])
def test_loads_refuses_the_same_whatever_the_interpreter_allows(
        interpreter_limit: int) -> None:
    """The limit is vtalab's (MAX_INT_DIGITS), not what the process was told."""
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


# -- a user's regular expression or wildcard runs in bounded time ----------------------------
#: A guard against a hang, not a timing assertion: the old code (Python's re on the user's
#: pattern) never returned on these lines, and the test must fail rather than hang.
HANG_GUARD_SECONDS = 300
_RUN_LINES = """
import json, sys
from vtalab.training.pwsh.filters import wildcard
from vtalab.training.session import Session
s = Session.start(sys.argv[1])
print(json.dumps([[r.ok, r.text] for r in (s.run(line) for line in json.loads(sys.argv[2]))]))
"""


def _run_isolated(lines: list[str]) -> list[tuple[bool, str]]:
    """Run ``lines`` in a fresh session in a child process; a hang fails the test."""
    try:
        done = subprocess.run([sys.executable, "-c", _RUN_LINES, EXERCISE, json.dumps(lines)],
                              capture_output=True, text=True, timeout=HANG_GUARD_SECONDS,
                              check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the shell did not answer within {HANG_GUARD_SECONDS} s: {lines}")
    assert done.returncode == 0, done.stderr
    return [(ok, text) for ok, text in json.loads(done.stdout)]


def test_a_catastrophic_regex_is_an_error_not_a_hang() -> None:
    """Was: Python's re on the user's pattern; '(a+)+$' on 36 a's and a '!' never
    returned (a served lab's lock held for ever). Now the regex engine: that pattern is
    answered, and one it cannot answer in MATCH_TIMEOUT_SECONDS is .NET's timeout error."""
    (ok1, text1), (ok2, text2), (ok3, text3) = _run_isolated([
        "Get-VMHost | where {'" + "a" * 36 + "!' -match '(a+)+$'} | select Name",
        "Get-VMHost | where {'" + "a" * 60 + "!' -match '(a|aa)+$'} | select Name",
        "Get-VMHost | where {$_.Name -notmatch '^ta-'} | select Name"])
    assert ok1 and text1 == "", text1
    assert not ok2, text2
    assert text2.startswith("-match: The RegEx engine has timed out while trying to match a "
                            "pattern to an input string."), text2
    assert "Traceback" not in text2
    assert ok3 and "esx-01" in text3 and "ta-esx-01" not in text3


def test_a_hostile_wildcard_against_a_hostile_name_is_answered() -> None:
    """Was: the wildcard became a regex ('.*a.*a...b'); against 200 a's its fullmatch
    backtracked for ever (50 a's: 26 s of CPU). Now a glob matcher without backtracking
    beyond the last '*'."""
    pattern = "*a" * 8 + "*b"
    [(ok, text), (ok2, text2)] = _run_isolated([
        "Get-VMHost | where {'" + "a" * 200 + "' -like '" + pattern + "'} | select Name",
        "Get-VMHost | where {'" + "a" * 200 + "b' -like '" + pattern + "'} | select Name"])
    assert ok and text == "", text
    assert ok2 and "esx-01" in text2


@pytest.mark.parametrize(("pattern", "name", "hit"), [
    ("esx-0[1-2]", "ESX-02", True), ("esx-0[!1]", "esx-01", True), ("esx-0[!1]", "esx-02", False),
    ("*`*", "a*", True), ("*`*", "ab", False), ("e?x*", "esx", True), ("e?x*", "ex", False),
    ("[a-c]*", "B", True), ("*", "", True), ("?", "", False), ("a**b", "ab", True),
    ("ta-*-01", "ta-esx-01", True), ("ta-*-01", "ta-esx-011", False)])
def test_wildcards_match_as_powershell_does(pattern: str, name: str, hit: bool) -> None:
    assert wildcard(pattern).matches(name) is hit


@pytest.mark.parametrize("pattern", ["esx[", "[z-a]*"])
def test_a_bad_wildcard_is_powershells_error(pattern: str) -> None:
    with pytest.raises(InputError, match="The specified wildcard character pattern is not "
                       "valid"):
        wildcard(pattern)


# -- -Server: names are looked up on the vCenters named (PowerCLI's Object-by-Name) ----------
TA, WLD = "vcsa-ta.lab.local", "vcsa-wld.lab.local"


def _state(s: Session, host: str) -> str:
    reply = s.run(f"Get-VMHost -Name {host} | select -ExpandProperty State")
    assert reply.ok, reply.text
    return reply.text.strip()


def test_a_name_on_another_vcenter_is_an_obn_failure() -> None:
    """Was: 'Set-VMHost -VMHost esx-01 -Server <TA vCenter>' put the workload host in
    maintenance through the TA vCenter, which does not manage it."""
    s = Session.start(EXERCISE)
    reply = s.run(f"Set-VMHost -VMHost esx-01 -Server {TA} -State Maintenance "
                  "-Confirm:$false")
    assert not reply.ok
    assert reply.text.startswith("Set-VMHost: Could not find VMHost with name 'esx-01'."), \
        reply.text
    assert f"VMHost on {TA}: ta-esx-01" in reply.text
    assert _state(s, "esx-01") == "Connected"
    # Non-terminating: the names that are on the server still run.
    reply = s.run(f"Set-VMHost -VMHost esx-01,ta-esx-01 -Server {TA} -State Maintenance "
                  "-Confirm:$false | select Name")
    assert not reply.ok and "Could not find VMHost with name 'esx-01'." in reply.text
    assert "ta-esx-01" in reply.text.splitlines()[2]
    assert _state(s, "ta-esx-01") == "Maintenance" and _state(s, "esx-01") == "Connected"
    # On its own vCenter the same line acts.
    assert s.run(f"Set-VMHost -VMHost esx-01 -Server {WLD} -State Maintenance "
                 "-Confirm:$false").ok
    assert _state(s, "esx-01") == "Maintenance"


def test_an_object_from_another_vcenter_keeps_its_own_server() -> None:
    s = Session.start(EXERCISE)
    reply = s.run(f"Get-VMHost -Name esx-02 -Server {WLD} | Set-VMHost -Server {TA} "
                  "-State Maintenance -Confirm:$false | select Name,State")
    assert reply.ok, reply.text
    assert _state(s, "esx-02") == "Maintenance"
    reply = s.run(f"Get-TrustAuthorityKeyProvider -TrustAuthorityCluster vTA -Server {TA} | "
                  f"Set-TrustAuthorityKeyProvider -Description piped -Server {WLD} "
                  "-Confirm:$false")
    assert reply.ok, reply.text
    reply = s.run("Get-TrustAuthorityKeyProvider -TrustAuthorityCluster vTA | "
                  "select -ExpandProperty Description")
    assert reply.text.strip() == "piped", reply.text


@pytest.mark.parametrize(("line", "error"), [
    (f"Start-VM -VM db01 -Server {TA} -Confirm:$false",
     "Start-VM: Could not find VirtualMachine with name 'db01'."),
    (f"Set-VMHost -VMHost 'esx-*' -Server {TA} -State Maintenance -Confirm:$false",
     "Set-VMHost: Could not find VMHost with name 'esx-*'."),
    (f"Get-TrustAuthorityKeyProvider -TrustAuthorityCluster 'vTA Cluster' -Server {WLD}",
     "Get-TrustAuthorityKeyProvider: Could not find TrustAuthorityCluster with name "
     "'vTA Cluster'."),
    (f"Get-VM -Name db01 -Server {TA}",
     "Get-VM: VM with name 'db01' was not found using the specified filter(s)."),
    (f"Get-VMHost -Name esx-01 -Server {TA}",
     "Get-VMHost: VMHost with name 'esx-01' was not found using the specified filter(s)."),
    (f"Get-TrustedCluster -Name 'Trusted Cluster' -Server {TA}",
     "Get-TrustedCluster: TrustedCluster with name 'Trusted Cluster' was not found using "
     "the specified filter(s)."),
    (f"Test-LcmClusterCompliance -Cluster 'Trusted Cluster' -Server {TA}",
     "Test-LcmClusterCompliance: Could not find Cluster with name 'Trusted Cluster'."),
    (f"Remove-TrustAuthorityVMHostBaseImage -VMHostBaseImage 8.0.2 -Server {WLD} "
     "-Confirm:$false",
     "Remove-TrustAuthorityVMHostBaseImage: Could not find TrustAuthorityVMHostBaseImage "
     "with name '8.0.2'."),
    (f"Set-TrustAuthorityKeyProvider -KeyProvider vTA-KeyProvider -Description x "
     f"-Server {WLD} -Confirm:$false",
     "Set-TrustAuthorityKeyProvider: Could not find TrustAuthorityKeyProvider with name "
     "'vTA-KeyProvider'."),
])
def test_every_cmdlet_resolves_names_on_the_server_given(line: str, error: str) -> None:
    s = Session.start(EXERCISE)
    before = len(s.world.kernel.trace)
    reply = s.run(line)
    assert not reply.ok and reply.text.startswith(error), reply.text
    assert len(s.world.kernel.trace) == before  # nothing ran


def test_names_on_the_server_given_still_resolve_in_any_case_and_by_wildcard(
        session: Session) -> None:
    reply = session.run(f"Get-VMHost -Name 'ESX-0*' -Server {WLD} | select Name")
    assert reply.ok and reply.text.split()[2:] == ["esx-01", "esx-02"], reply.text
    reply = session.run(f"Get-TrustAuthorityKeyProvider -TrustAuthorityCluster vta -Server {TA}"
                        " | select Name")
    assert reply.ok, reply.text


# -- control characters are shown, not obeyed, on a terminal --------------------------------
class _Terminal(io.StringIO):
    """A stand-in for a terminal: a text stream that says it is a tty."""

    def isatty(self) -> bool:
        return True


ESC_NAME = "x\x1b[2J\x1b]0;pwned\x07\r\u202e"


def test_visible_escapes_controls_and_keeps_layout() -> None:
    assert visible(ESC_NAME) == "x\\x1b[2J\\x1b]0;pwned\\x07\\r\\u202e"
    assert visible("a\tb\nc ü €") == "a\tb\nc ü €"


@pytest.mark.parametrize("color", ["never", "always"])
def test_a_terminal_never_gets_a_control_character(color: str) -> None:
    tty = _Terminal()
    out = term.output(tty, color)
    out.write(f"Get-VMHost: no host '{ESC_NAME}'\n")
    out.flush()
    shown = re.sub(r"\x1b\[[0-9;]*m", "", tty.getvalue())  # rich's own colours
    assert "\\x1b[2J" in shown and "\\r" in shown
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f]", shown), repr(shown)


def test_the_shell_on_a_terminal_shows_a_typed_escape(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Was: an ESC[2J in a name reached the terminal raw (it cleared the screen); a pipe
    still gets the text as it is."""
    transcript = tmp_path / "t.ps1"
    # ESC c resets the terminal ('[' would make the name a wildcard pattern)
    transcript.write_text("Get-VMHost -Name 'x\x1bc\x07'\n", encoding="utf-8")
    monkeypatch.setenv("NO_COLOR", "1")
    for stream, raw in ((_Terminal(), False), (io.StringIO(), True)):
        monkeypatch.setattr(sys, "stdout", stream)
        main(["train", EXERCISE, "--commands", str(transcript)])
        text = stream.getvalue()
        assert "VMHost with name 'x" in text, text
        # the echoed line (the error quotes the name with repr: escaped either way)
        assert ("Get-VMHost -Name 'x\x1bc\x07'" in text) is raw, repr(text[-400:])
        assert ("Get-VMHost -Name 'x\\x1bc\\x07'" in text) is not raw
    # An error on stderr (a terminal) too.
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert main(["train", "x\x1b[2J"]) == 2
    assert "'x\\x1b[2J'" in sys.stderr.getvalue()  # type: ignore[attr-defined]


def test_the_interactive_prompt_shows_escapes(monkeypatch: pytest.MonkeyPatch) -> None:
    """input() writes the prompt itself (it does not go through the styled stream)."""
    s = Session.start(EXERCISE)
    monkeypatch.setattr(s, "prompt", lambda: f"[root@{ESC_NAME}:~] ")
    asked: list[str] = []

    def read(prompt: str) -> str:
        asked.append(prompt)
        raise EOFError

    run_interactive(s, io.StringIO(), read=read)
    assert asked == ["[root@x\\x1b[2J\\x1b]0;pwned\\x07\\r\\u202e:~] "]


def test_a_huge_integer_in_a_scenario_or_plan_is_located(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """YAML too: PyYAML's int() quoted the same sys.set_int_max_str_digits hint."""
    source = Path(__file__).parent.parent / "scenarios" / "quick-boot-upgrade.yaml"
    text = source.read_text(encoding="utf-8")
    assert "\nseed: 7\n" in text
    plan = tmp_path / "huge.yaml"
    plan.write_text(text.replace("\nseed: 7\n", "\nseed: " + HUGE + "\n"), encoding="utf-8")
    line = text[:text.index("\nseed: 7\n")].count("\n") + 2
    for command in ("run", "check"):
        assert main([command, str(plan)]) == 2
        err = capsys.readouterr().err
        assert f"{plan}:{line}:7: an integer of {MAX_INT_DIGITS + 1:,} digits; at most " \
               f"{MAX_INT_DIGITS:,} digits are read (MAX_INT_DIGITS)" in err, err
        assert "set_int_max_str_digits" not in err


def test_server_with_no_connection_is_the_not_connected_error() -> None:
    s = Session.start(EXERCISE)
    assert s.run("Disconnect-VIServer -Server * -Confirm:$false").ok
    reply = s.run(f"Set-VMHost -VMHost esx-01 -Server {TA} -State Maintenance "
                  "-Confirm:$false")
    assert not reply.ok
    assert reply.text.startswith("Set-VMHost: You are not currently connected to any "
                                 "servers."), reply.text
