"""What a Get- cmdlet selects, as in PowerCLI. ``-Server``: each vCenter answers for its
own inventory (the TA hosts are the TA vCenter's, the trusted hosts the workload
vCenter's); it was checked and then ignored, so ``Get-VMHost -Server`` the TA vCenter
listed the workload hosts too. ``-Name``: PowerShell's wildcards, a pattern that matches
nothing being no output (Get-VM and Get-TrustAuthorityCluster did otherwise)."""

from __future__ import annotations

import re

import pytest

from vtalab.training.session import Session

EXERCISE = "failed-ta-host-upgrade"  # connected to both vCenters from the start


@pytest.fixture(scope="module")
def session() -> Session:
    return Session.start(EXERCISE)


def _names(session: Session, line: str) -> list[str]:
    reply = session.run(line + " | Select-Object -ExpandProperty Name")
    assert reply.ok, reply.text
    return [w for w in reply.text.split() if w]


def test_each_vcenter_answers_for_its_own_hosts(session: Session) -> None:
    everything = _names(session, "Get-VMHost")
    ta = _names(session, "Get-VMHost -Server vcsa-ta.lab.local")
    wld = _names(session, "Get-VMHost -Server vcsa-wld.lab.local")
    assert ta == ["ta-esx-01", "ta-esx-02"] and wld == ["esx-01", "esx-02"]
    assert sorted(ta + wld) == sorted(everything)
    # both by name, or the connected VIServer objects: everything, in the usual order
    assert _names(session, "Get-VMHost -Server vcsa-ta.lab.local,vcsa-wld.lab.local") \
        == everything
    assert _names(session, "Get-VMHost -Server $global:DefaultVIServers") == everything


def test_objects_follow_their_uid(session: Session) -> None:
    reply = session.run("Get-Task -Server vcsa-ta.lab.local | Select-Object -ExpandProperty Uid")
    uids = reply.text.split()
    assert reply.ok and uids
    assert all(re.match(r"/VIServer=[^/]*@vcsa-ta\.lab\.local:443/", u) for u in uids), uids


def test_a_server_not_connected_is_still_refused(session: Session) -> None:
    reply = session.run("Get-VMHost -Server vcsa-other.lab.local")
    assert not reply.ok and "Could not find VIServer with name 'vcsa-other.lab.local'" \
        in reply.text


def test_get_vm_takes_server_and_powershell_wildcards(session: Session) -> None:
    """Get-VM (the lab's ``vms``) refused -Server ("vms: A parameter cannot be found ...")
    and matched names with fnmatch, where PowerShell reads ``[!x]`` as '!' or 'x'."""
    assert _names(session, "Get-VM -Server vcsa-wld.lab.local") == ["db01"]
    assert _names(session, "Get-VM -Server vcsa-ta.lab.local") == []
    assert _names(session, "Get-VM DB0?") == ["db01"]
    assert _names(session, "Get-VM '[!x]b01'") == []  # '!' is no negation in PowerShell
    reply = session.run("Get-VM -Server vcsa-other.lab.local")
    assert not reply.ok and "Get-VM: Could not find VIServer with name" in reply.text
    reply = session.run("Get-VM db0[1")
    assert not reply.ok and "wildcard character pattern is not valid" in reply.text


def test_get_trust_authority_cluster_name_is_a_filter(session: Session) -> None:
    """-Name takes wildcards as a filter: a pattern that matches nothing is no output, as
    for Get-VMHost (it was "unknown Trust Authority cluster 'x*'"); a plain name that
    matches nothing is still refused with the nearest one."""
    assert _names(session, "Get-TrustAuthorityCluster -Name x*") == []
    assert _names(session, "Get-TrustAuthorityCluster -Name vta*") == ["vTA", "Cluster"]
    assert _names(session, "Get-TrustAuthorityCluster -Name vTA") == ["vTA", "Cluster"]
    reply = session.run("Get-TrustAuthorityCluster -Name nothere")
    assert not reply.ok and "vTA Cluster" in reply.text
