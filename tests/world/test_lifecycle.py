"""vLCM remediation and vCenter upgrades (issue 15, items 1 and 2)."""

from __future__ import annotations

from typing import Any

import pytest

from vtalab.core.parameters import Parameters
from vtalab.domain.vcenter_releases import VCENTER_RELEASES, vcenter_release
from vtalab.errors import InputError, OperationError
from vtalab.invariants import INVARIANTS
from vtalab.world.assembly import World
from vtalab.world.registry import Outcome
from vtalab.world.topology import (
    TaClusterSpec,
    TaHostSpec,
    Topology,
    TrustedClusterSpec,
    TrustedHostSpec,
    VmSpec,
)


def _world(*, quick_boot: bool = True, vc: str = "8.0 U2", **params: Any) -> World:
    topology = Topology(
        ta_vcenter_release=vc, workload_vcenter_release=vc,
        ta_cluster=TaClusterSpec(hosts=[TaHostSpec(name="ta-1", release="8.0 U2")]),
        trusted_clusters=[TrustedClusterSpec(name="TC", quick_boot=quick_boot, hosts=[
            TrustedHostSpec(name="esx-01", release="8.0 U2"),
            TrustedHostSpec(name="esx-02", release="8.0 U2"),
            TrustedHostSpec(name="esx-03", release="8.0 U2", txt=True)],
            vms=[VmSpec(name="db", host="esx-01", encrypted=True)])])
    world = World(topology, seed=4, params=Parameters(**params))
    world.run(60)
    return world


def _do(world: World, verb: str, **args: Any) -> Outcome:
    outcome = world.kernel.env.run(until=world.perform(verb, args))
    assert isinstance(outcome, Outcome)
    return outcome


def test_cluster_remediation_runs_host_by_host_honouring_quick_boot_and_txt() -> None:
    world = _world()
    assert _do(world, "Set-Cluster", cluster="TC", base_image="8.0 U3").ok
    rows = world.call("Test-LcmClusterCompliance", cluster="TC").output
    assert {r["Status"] for r in rows} == {"NonCompliant"}
    refused = _do(world, "Set-Cluster", cluster="TC", remediate=True)
    assert (refused.ok, refused.error) == (False, "eula_not_accepted")
    out = _do(world, "Set-Cluster", cluster="TC", remediate=True, accept_eula=True)
    assert out.ok and out.output == ["esx-01", "esx-02", "esx-03"], out
    boots = {n: world.hosts[n].boots[-1].mode for n in ("esx-01", "esx-02", "esx-03")}
    assert boots == {"esx-01": "quick", "esx-02": "quick", "esx-03": "full"}  # TXT: full
    # one host at a time: each staging starts after the previous host is back
    staging = [e for e in world.kernel.trace.select("host.upgrade.staging")]
    upped = [e for e in world.kernel.trace.select("host.boot.complete")
             if e.time > staging[0].time]
    assert staging[1].time >= upped[0].time and staging[2].time >= upped[1].time
    assert world.vm_state("db")["power_state"] == "poweredOn"  # moved by vMotion
    assert {r["Status"] for r in world.call("Test-LcmClusterCompliance",
                                            cluster="TC").output} == {"Compliant"}
    task = [t for t in world.tasks() if t["task"] == "Remediate Cluster"]
    assert [t["status"] for t in task] == ["success"]


def test_restart_vmhost_is_always_a_full_boot_and_explicit_quick_boot_has_its_reason() -> None:
    world = _world()
    assert _do(world, "Set-VMHost", vmhost="esx-02", state="Maintenance").ok
    assert _do(world, "Restart-VMHost", vmhost="esx-02").ok
    assert world.hosts["esx-02"].boots[-1].mode == "full"
    out = _do(world, "reboot-host", vmhost="esx-03", mode="quick", force=True)
    assert (out.ok, out.error) == (False, "quick_boot_not_supported")
    assert "Intel TXT" in out.message


def test_vcenter_upgrade_refuses_its_cmdlets_while_attestation_goes_on() -> None:
    world = _world(vcenter_services_restart_seconds=4000)  # spans a scheduled attestation
    proc = world.perform("upgrade-vcenter", {"vcenter": "workload", "release": "8.0 U3"})
    world.run(world.kernel.now + 60)
    assert not world.workload_vcenter.available
    out = _do(world, "Get-TrustedCluster")
    assert (out.ok, out.error) == (False, "vcenter_unavailable")
    assert "503 Service Unavailable" in out.message
    assert _do(world, "Get-TrustAuthorityCluster").ok  # the other vCenter answers
    events_before = len(world.workload_vcenter.events)
    world.run(world.params.reattest_period_seconds + 30)  # a scheduled re-attestation
    assert world.attestation_status("esx-01")["status"] == "attested"
    assert any(e.kind == "attest.result" and e.time >= 3600
               for e in world.kernel.trace.select("attest.result", host="esx-01"))
    assert len(world.workload_vcenter.events) == events_before  # vpxd posts nothing
    world.kernel.env.run(until=proc)
    assert world.workload_vcenter.available
    assert world.workload_vcenter.release == vcenter_release("8.0 U3")
    about = {r["Server"]: r for r in world.call("Get-View").output}
    assert about["vcsa-wld.lab.local"]["Build"] == "24022515"
    assert about["vcsa-ta.lab.local"]["Version"] == "8.0.2"


def test_vcenter_catalogue_and_bad_input() -> None:
    assert vcenter_release("24022515").name == "8.0 U3"
    assert vcenter_release("vCenter Server 8.0 Update 2").build == 22385739
    assert not vcenter_release("9.0").trust_authority_api
    assert [r.name for r in VCENTER_RELEASES][-1] == "9.0 GA"
    assert [r.order for r in VCENTER_RELEASES] == sorted(r.order for r in VCENTER_RELEASES)
    assert all(r.source for r in VCENTER_RELEASES)  # every row says where it comes from
    # the last 8.0 U3 patch and 9.0 GA, as Broadcom's data gives them
    assert (vcenter_release("8.0 U3k").build, vcenter_release("8.0 U3k").date) == (
        25600417, "2026-07-29")
    assert vcenter_release("24755230").name == "9.0 GA"
    assert vcenter_release("8.0.3").name == "8.0 U3"  # a bare version: the update, not a patch
    with pytest.raises(InputError):
        vcenter_release("8.0 U3f")  # there is no vCenter 8.0 U3f
    with pytest.raises(InputError, match="8.0 U3"):
        vcenter_release("8.0 U4")
    world = _world(vc="8.0 U3")
    with pytest.raises(OperationError, match="not newer"):
        world.perform("upgrade-vcenter", {"vcenter": "ta", "release": "8.0 U2"})
    with pytest.raises(OperationError, match="not newer"):
        world.perform("upgrade-vcenter", {"vcenter": "ta", "release": "8.0 U3"})


def test_documented_order_checks_all_four_steps() -> None:
    # A TA host upgraded while the TA vCenter is older, and the vCenters in the wrong order.
    world = _world()
    assert _do(world, "upgrade-vcenter", vcenter="workload", release="8.0 U3").ok
    assert _do(world, "upgrade-host", vmhost="ta-1", release="8.0 U3").ok
    assert _do(world, "upgrade-vcenter", vcenter="ta", release="8.0 U3").ok
    found = [v.detail for v in INVARIANTS["documented-upgrade-order"].check(world)]
    assert any("while its vCenter (TA vCenter) runs 8.0.2" in d for d in found), found
    assert any("TA host ta-1 upgraded after the trusted vCenter" in d for d in found), found
    assert any(d.startswith("TA vCenter vcsa-ta.lab.local upgraded after TA host ta-1")
               for d in found), found


def test_vcenter_9_disables_the_vta_api_and_the_advice_names_the_source() -> None:
    world = _world(vc="8.0 U3")
    assert _do(world, "upgrade-vcenter", vcenter="workload", release="9.0").ok
    out = _do(world, "Get-TrustedCluster")
    assert (out.ok, out.error) == (False, "trust_authority_api_disabled")
    assert _do(world, "Get-VMHost").ok  # not a vTA cmdlet: still answered
    assert _do(world, "Get-TrustAuthorityCluster").ok  # the TA vCenter is still 8.0 U3
    found = INVARIANTS["vta-gone-in-9-0"].check(world)
    assert [v.subject for v in found] == ["vcsa-wld.lab.local"]
    assert "developer.broadcom.com/xapis/vsphere-automation-api" in found[0].detail
    assert INVARIANTS["vta-gone-in-9-0"].kind == "advice"


def test_patch_upgrades_along_8_0_u3_and_esxi_9_0_host_is_flagged() -> None:
    # 8.0 U3 -> 8.0 U3k is the same version string with a higher build: an update.
    world = _world(vc="8.0 U3")
    assert _do(world, "upgrade-vcenter", vcenter="ta", release="8.0 U3k").ok
    assert world.ta_vcenter.release.build == 25600417
    # An ESXi host remediated to 9.0 GA (now in the ESXi catalogue) is flagged with the
    # source, like a vCenter going to 9.0.
    assert _do(world, "upgrade-vcenter", vcenter="workload", release="9.0 GA").ok
    assert _do(world, "upgrade-host", vmhost="esx-02", release="9.0 GA").ok
    found = INVARIANTS["vta-gone-in-9-0"].check(world)
    hosts = [v for v in found if v.subject == "esx-02"]
    assert hosts and "9.0.0-24755229" in hosts[0].detail
    assert "developer.broadcom.com" in hosts[0].detail


@pytest.mark.parametrize("verb,args", [
    ("reboot-host", {}), ("reboot-host", {"mode": "quick"}), ("revert-host", {})])
def test_a_host_running_vms_outside_maintenance_is_not_taken_down_without_force(
        verb: str, args: dict[str, Any]) -> None:
    world = _world()
    if world.vms["db"].power_state != "poweredOn":
        assert _do(world, "Start-VM", vm="db").ok
    with pytest.raises(OperationError, match="VMs are running on it .db.; enter "
                                             "maintenance mode or use force"):
        _do(world, verb, vmhost="esx-01", **args)
    assert world.vms["db"].power_state == "poweredOn" and world.hosts["esx-01"].is_up
    if verb != "revert-host":  # (revert has no force: maintenance mode is the way)
        assert _do(world, verb, vmhost="esx-01", force=True, **args).ok
        assert world.vms["db"].power_state == "poweredOff"


@pytest.mark.parametrize("verb,task", [("Stop-VMHost", "Shut down host"),
                                       ("Restart-VMHost", "Reboot host")])
def test_powercli_takes_a_host_down_outside_maintenance_mode_only_with_force(
        verb: str, task: str) -> None:
    """PowerCLI's Stop-VMHost and Restart-VMHost (ShutdownHost_Task and RebootHost_Task:
    ``force`` "regardless of whether it is in maintenance mode"): without -Force a host
    not in maintenance mode is refused, a failed Recent Task, VMs running or not; with it
    the host goes down and its VMs stop. (Stop-VMHost used to shut a host without VMs down
    outside maintenance mode.)"""
    world = _world()
    assert world.vms["db"].host == "esx-01"
    n = len(world.tasks())
    out = _do(world, verb, vmhost="esx-02")  # no VM runs there: refused all the same
    assert (out.ok, out.error) == (False, "not_in_maintenance")
    assert "The operation is not allowed in the current state." in out.message
    assert [(t["task"], t["status"]) for t in world.tasks()[n:]] == [(task, "error")]
    assert world.hosts["esx-02"].is_up
    if world.vms["db"].power_state != "poweredOn":
        assert _do(world, "Start-VM", vm="db").ok
    assert _do(world, verb, vmhost="esx-01", force=True).ok
    assert world.vms["db"].power_state == "poweredOff"


def test_upgrading_a_host_to_the_release_it_runs_is_refused_and_changes_nothing() -> None:
    world = _world()
    boots = len(world.hosts["esx-01"].boots)
    with pytest.raises(OperationError, match="'esx-01' already runs 8.0.2"):
        _do(world, "upgrade-host", vmhost="esx-01", release="8.0 U2")
    assert len(world.hosts["esx-01"].boots) == boots
    assert not list(world.kernel.trace.select("host.upgrade.staging"))


def test_starting_a_running_vm_is_refused_and_asks_no_key() -> None:
    world = _world()
    if world.vms["db"].power_state != "poweredOn":
        assert _do(world, "Start-VM", vm="db").ok
    releases = len(list(world.kernel.trace.select("key.release")))
    with pytest.raises(OperationError, match="VM 'db' is already powered on"):
        _do(world, "Start-VM", vm="db")
    assert len(list(world.kernel.trace.select("key.release"))) == releases


def test_the_ta_vcenter_upgraded_after_the_trusted_vcenter_breaks_the_order() -> None:
    world = _world()
    assert _do(world, "upgrade-vcenter", vcenter="workload", release="8.0 U3").ok
    assert _do(world, "upgrade-vcenter", vcenter="ta", release="8.0 U3").ok
    found = [v.detail for v in INVARIANTS["documented-upgrade-order"].check(world)]
    assert len(found) == 1 and found[0].startswith(
        "TA vCenter vcsa-ta.lab.local upgraded after the trusted vCenter (at T+"), found
