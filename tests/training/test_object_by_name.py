"""Names that name nothing, and Get-VM, as PowerCLI has them.

VMware's "Selecting Objects in PowerCLI" (about_OBN): "If you provide a non-existing
object name, an OBN failure occurs. In such cases, PowerCLI generates a non-terminating
error and runs the cmdlet ignoring the invalid name." The lab used to end the whole line
with its own words (``no host 'nosuch'``), so ``Get-VMHost nosuch, esx-01`` listed
nothing; ``Get-VM`` took one name only (``Get-VM db01, web01`` was ``unknown VM '{db01,
web01}'``) and ignored hosts piped to it (``Get-VMHost esx-03 | Get-VM`` listed every VM).
"""

from __future__ import annotations

import pytest

from vtalab.training.session import Session

EXERCISE = "upgrade-before-import"  # web01 on esx-01 (running), db01 on esx-03 (off)


@pytest.fixture()
def session() -> Session:
    return Session.start(EXERCISE)


def _names(text: str) -> list[str]:
    """The first column of a table's rows."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if set(line) <= {"-", " "} and line),
                 None)
    if start is None:
        return []
    return [line.split()[0] for line in lines[start + 1:]
            if line and not line.startswith(("Get-", "Set-"))]


def test_a_name_that_names_nothing_is_a_non_terminating_error(session: Session) -> None:
    reply = session.run("Get-VMHost nosuch, esx-01")
    assert not reply.ok
    assert _names(reply.text) == ["esx-01"]  # the other name still lists
    assert reply.text.splitlines()[-1] == (
        "Get-VMHost: VMHost with name 'nosuch' was not found using the specified "
        "filter(s). (VMHost: ta-esx-01, esx-01, esx-02, esx-03)")


def test_an_object_given_by_a_wrong_name_is_an_obn_failure_the_rest_runs(
        session: Session) -> None:
    reply = session.run("Set-VMHost -VMHost esx-0, esx-02 -State Maintenance")
    assert not reply.ok
    assert ("Set-VMHost: Could not find VMHost with name 'esx-0'. (did you mean "
            "'esx-01'? VMHost: ta-esx-01, esx-01, esx-02, esx-03)") in reply.text
    world = session.world
    assert world.host("esx-02").in_maintenance  # ran for the name that exists
    assert not world.host("esx-01").in_maintenance


def test_only_wrong_names_run_nothing(session: Session) -> None:
    reply = session.run("Set-VMHost -VMHost nosuch -State Maintenance")
    assert not reply.ok and "Could not find VMHost with name 'nosuch'." in reply.text
    assert not any(h.in_maintenance for h in session.world.hosts.values())


def test_get_vm_takes_several_names_and_wildcards(session: Session) -> None:
    reply = session.run("Get-VM db01, web01")
    assert reply.ok and _names(reply.text) == ["db01", "web01"]
    reply = session.run("Get-VM -Name *01")
    assert reply.ok and sorted(_names(reply.text)) == ["db01", "web01"]
    reply = session.run("Get-VM -Name db01, nosuch")
    assert not reply.ok and _names(reply.text) == ["db01"]
    assert reply.text.splitlines()[-1] == (
        "Get-VM: VM with name 'nosuch' was not found using the specified filter(s). "
        "(VirtualMachine: web01, db01)")
    reply = session.run("Get-VM db0")
    assert not reply.ok and "(did you mean 'db01'?" in reply.text
    reply = session.run("Get-VM nothing*")  # a wildcard that matches nothing: no output
    assert reply.ok and reply.text == ""


@pytest.mark.parametrize("line,vms", [
    ("Get-VMHost esx-03 | Get-VM", ["db01"]),
    ("Get-VMHost esx-01, esx-02 | Get-VM", ["web01"]),
    ("Get-VMHost esx-02 | Get-VM", []),
    ("Get-VM -Location esx-03", ["db01"]),
    ("Get-VM -Location (Get-VMHost esx-03)", ["db01"]),
    ("Get-VM -Location 'Trusted Cluster'", ["web01", "db01"]),
    ("Get-VM -Location 'vTA Cluster'", []),
    ("Get-VM -Location esx-0*", ["web01", "db01"]),
    ("Get-VM web* -Location esx-03", []),
    ("Get-VM db* -Location esx-03", ["db01"]),
])
def test_get_vm_lists_the_vms_of_the_hosts_and_clusters_given(session: Session, line: str,
                                                              vms: list[str]) -> None:
    reply = session.run(line)
    assert reply.ok, reply.text
    assert _names(reply.text) == vms


@pytest.mark.parametrize("line,needle", [
    ("Get-VM -Location esx-9", "Get-VM: Could not find VIContainer with name 'esx-9'. (did "
                               "you mean 'esx-01'?"),
    ("Get-TrustAuthorityCluster | Get-VM", "Cannot convert the \"TrustAuthorityCluster\" "
                                          "value to type \"VIContainer\""),
    ("'esx-03' | Get-VM", "The input object cannot be bound to any parameters"),
    ("Get-VM db01 web01", "A positional parameter cannot be found that accepts argument "
                          "'web01'."),
    ("Get-VMHost esx-03 | Get-VM -Location esx-01", "The input object cannot be bound"),
])
def test_get_vm_refuses_what_powercli_refuses(session: Session, line: str,
                                              needle: str) -> None:
    reply = session.run(line)
    assert not reply.ok and needle in reply.text, reply.text


@pytest.mark.parametrize("line", [
    "Get-VMHost nosuch | Get-VM",
    "@() | Get-VM",
    "Get-VMHost esx-0* | Where-Object {$_.Name -eq 'x'} | Get-VM",
    "Get-VMHost nosuch | Get-VIEvent",
])
def test_after_a_stage_that_output_nothing_a_cmdlet_outputs_nothing(session: Session,
                                                                     line: str) -> None:
    """Was: every VM (and every event), as if nothing had been piped: a typo upstream of
    ``| Get-VM | Stop-VM`` would have stopped every VM. PowerShell calls a cmdlet's
    ProcessRecord once per input object, so after an empty stage it outputs nothing."""
    reply = session.run(line)
    assert "db01" not in reply.text and "EventTypeId" not in reply.text, reply.text
    assert not _names(reply.text)


@pytest.mark.parametrize("line", ["Restart-VMHost -VMHost @() -Confirm:$false",
                                  "Set-VMHost -VMHost @() -State Maintenance"])
def test_an_empty_array_for_an_object_is_powershells_binding_error(session: Session,
                                                                   line: str) -> None:
    """Was: nothing ran and the line ended ok (the name lookup found no names to run)."""
    reply = session.run(line)
    assert not reply.ok
    assert "Cannot bind argument to parameter 'VMHost' because it is an empty array." in \
        reply.text
