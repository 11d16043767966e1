"""Items 6 and 7: vTA services on TA and trusted hosts; the failed TA host upgrade path."""

from __future__ import annotations

import pytest

from vtalab.errors import InputError
from vtalab.world.topology import TrustedHostSpec, VmSpec

TA2 = ("ta-01", "ta-02")
ENC_OFF = (VmSpec(name="db", host="esx-01", encrypted=True, powered_on=False),)


# -- item 6 ------------------------------------------------------------------------------------
@pytest.mark.parametrize("service", ["attestd", "kmxd"])
def test_restart_ta_service_from_vcenter(make_world, do, service, status):
    world = make_world(ta_hosts=TA2)
    start = world.kernel.now
    out = do(world, "Restart-VMHostService", vmhost="ta-01", service=service)
    assert out.ok and out.message == f"{service} restarted on ta-01"
    assert world.kernel.now == start + world.params.service_restart_seconds
    lines = world.log_lines("ta-01", f"{service}.log")
    assert [line.split(f"{service}: ")[1] for line in lines[-2:]] == [f"{service} stopping",
                                                                f"{service} started"]
    [task] = [t for t in world.tasks() if t["task"] == f"Restart service {service}"]
    assert (task["vcenter"], task["target"], task["status"]) == ("vcsa-ta.lab.local",
                                                                 "ta-01", "success")
    assert world.hosts["ta-01"].services[service] is True
    assert status(world, "esx-01") == ("attested", None)


def test_stop_service_message(make_world, do):
    world = make_world()
    out = do(world, "Stop-VMHostService", vmhost="ta-01", service="kmxd")
    assert out.ok and out.message == "kmxd stopped on ta-01"
    (status,) = world.call("Get-TrustAuthorityServicesStatus").output
    assert status["KeyProviderServiceStatus"]["Health"] == "Error"  # its only TA host
    # TrustAuthorityAttestationServiceStatus, as its structure page lists it
    assert list(status["AttestationServiceStatus"]) == ["Details", "Health",
                                                        "TrustAuthorityClusterId", "Uid"]
    assert status["AttestationServiceStatus"]["Health"] == "Ok"


def test_kmxa_cannot_be_restarted_from_vcenter(make_world, do, failed_tasks, settle):
    world = make_world()
    before = list(world.log_lines("esx-01", "kmxa.log"))
    out = do(world, "Restart-VMHostService", vmhost="esx-01", service="kmxa")
    assert (out.ok, out.error) == (False, "host_login_required")
    [task] = failed_tasks(world, "esx-01")
    assert task["task"] == "Restart service kmxa"
    assert task["reason"] == "host_login_required"
    assert task["vcenter"] == "vcsa-wld.lab.local"
    assert "log in to the host" in task["error"]
    assert world.log_lines("esx-01", "kmxa.log") == before  # nothing happened on the host
    # logging in to the host works
    out = do(world, "host-service", vmhost="esx-01", service="kmxa")
    assert out.ok and out.message == "kmxa restarted on esx-01"
    lines = world.log_lines("esx-01", "kmxa.log")
    assert lines[-2].endswith("kmxa stopping") and lines[-1].endswith("kmxa started")
    # kmxa re-attests as soon as it is back
    back = world.kernel.now
    settle(world)
    results = world.kernel.trace.select("attest.result", host="esx-01")
    assert results[-1].time == back


@pytest.mark.parametrize("verb", ["host-service", "service-crash"])
def test_unknown_service_is_an_input_error(make_world, verb):
    world = make_world()
    with pytest.raises(InputError, match="does not run on 'ta-01'"):
        world.perform(verb, {"vmhost": "ta-01", "service": "kmxa"})
    assert "kmxa" not in world.hosts["ta-01"].services


def test_crashed_kmxa_cannot_fetch_keys(make_world, do):
    world = make_world(vms=ENC_OFF)
    world.perform("service-crash", {"vmhost": "esx-01", "service": "kmxa"})
    world.run(world.kernel.now + 1)
    assert any("terminated unexpectedly" in line for line in world.log_lines("esx-01", "kmxa.log"))
    out = do(world, "Start-VM", vm="db")
    assert (out.ok, out.error) == (False, "service_stopped")
    assert do(world, "host-service", vmhost="esx-01", service="kmxa", action="start").ok
    assert do(world, "Start-VM", vm="db").ok


def test_a_kmxa_crash_that_heals_re_attests_at_once(make_world, do):
    """kmxa coming back after a crash attests at once (as after a restart), not at the
    next re-attestation an hour later."""
    world = make_world()
    assert do(world, "service-crash", vmhost="esx-01", service="kmxa", duration=60).ok
    healed = world.kernel.now + 60
    world.run(healed + 1)
    after = [e.time for e in world.kernel.trace.select("attest.result", host="esx-01")
             if e.time >= healed]
    assert after and after[0] == healed


def test_power_loss_powers_the_hosts_vms_off_at_once(make_world, do):
    world = make_world(vms=(VmSpec(name="db", host="esx-01", encrypted=True),))
    if world.vms["db"].power_state != "poweredOn":
        assert do(world, "Start-VM", vm="db").ok
    at = world.kernel.now
    assert do(world, "power-loss", vmhost="esx-01").ok
    assert world.vms["db"].power_state == "poweredOff"
    [off] = [e for e in world.kernel.trace.events if e.kind.startswith("vm.power")
             and e.time == at and e.fields.get("vm") == "db"]
    assert "host power loss" in str(off.fields)


def test_a_host_lost_while_a_vm_powers_on_fails_the_power_on(make_world):
    """The host loses power after the key arrived, before the VM is up: the power-on task
    fails (host_down) and the VM stays off."""
    world = make_world(vms=ENC_OFF)
    starting = world.perform("Start-VM", {"vm": "db"})
    world.run(world.kernel.now + world.params.vm_power_on_seconds / 2)
    assert not starting.triggered
    world.perform("power-loss", {"vmhost": "esx-01"})
    outcome = world.kernel.env.run(until=starting)
    assert (outcome.ok, outcome.error) == (False, "host_down")
    assert world.vms["db"].power_state == "poweredOff"
    [task] = [t for t in world.tasks() if t["task"] == "Power On virtual machine"]
    assert (task["status"], task["reason"]) == ("error", "host_down")


@pytest.mark.parametrize("encrypted", [False, True])
def test_only_a_powered_off_vm_is_encrypted(make_world, do, encrypted):
    world = make_world(vms=(VmSpec(name="db", host="esx-01", encrypted=encrypted),))
    assert world.vms["db"].power_state == "poweredOn"
    out = do(world, "encrypt-vm", vm="db")
    assert (out.ok, out.error) == (False, "invalid_state")
    [task] = [t for t in world.tasks() if t["task"].startswith("Reconfigure virtual machine")]
    assert task["reason"] == "invalid_state"
    assert world.vms["db"].encrypted is encrypted


def test_an_encryption_that_gets_no_key_leaves_the_vm_as_it_was(make_world, do):
    world = make_world(vms=(VmSpec(name="db", host="esx-01", powered_on=False),))
    assert do(world, "service-crash", vmhost="esx-01", service="kmxa").ok
    out = do(world, "encrypt-vm", vm="db")
    assert (out.ok, out.error) == (False, "service_stopped")
    vm = world.vms["db"]
    assert (vm.encrypted, vm.key_id, vm.last_error) == (False, None, "service_stopped")


def test_attestd_stopped_everywhere_makes_hosts_unknown(make_world, do, status):
    world = make_world(ta_hosts=TA2, vms=ENC_OFF)
    for ta in TA2:
        assert do(world, "Stop-VMHostService", vmhost=ta, service="attestd").ok
    # the token is still valid: vCenter keeps showing attested, with the unreachable reason
    world.run(world.params.reattest_period_seconds + 120)
    s = world.attestation_status("esx-01")
    assert (s["status"], s["reason"]) == ("attested", "attestation_unreachable")
    assert "attestd is stopped on ta-01" in s["messages"][0] or \
        "attestd is stopped on ta-02" in s["messages"][0]
    # kmxd still runs: with a valid token the key is released
    assert do(world, "Start-VM", vm="db").ok
    # after the token expires: unknown, never notAttested
    world.run(world.params.token_lifetime_seconds + 120)
    assert status(world, "esx-01") == ("unknown", "attestation_unreachable")
    assert world.attestation_status("esx-01")["per_service"] == {
        "ta-01/attestd": "unknown", "ta-02/attestd": "unknown"}
    assert not world.kernel.trace.select("attest.result", host="esx-01", status="notAttested")
    assert "com.vmware.vc.TaHostAttestUnsetEvent" in [e["event_id"] for e in world.events()]
    # a fresh boot re-attests at once: still unknown
    assert do(world, "Restart-VMHost", vmhost="esx-01", force=True).ok
    assert status(world, "esx-01") == ("unknown", "attestation_unreachable")
    # start attestd again: attested
    assert do(world, "Start-VMHostService", vmhost="ta-02", service="attestd").ok
    world.run(world.kernel.now + world.params.retry_max_seconds + 1)
    assert status(world, "esx-01") == ("attested", None)


# -- item 7 ------------------------------------------------------------------------------------
def _ta_health(world) -> dict[str, str]:
    return {k: v for k, v in world.health().items() if k.startswith("ta_cluster/")}


CONFIGURED = {"ta_cluster/state": "OK", "ta_cluster/principals": "OK",
              "ta_cluster/base_images": "OK", "ta_cluster/tpm2_ca_certificates": "OK",
              "ta_cluster/tpm2_endorsement_keys": "NONE", "ta_cluster/tpm2_settings": "OK",
              "ta_cluster/key_providers": "OK"}


def _failed_upgrade(world, do) -> None:
    assert do(world, "upgrade-host", vmhost="ta-01", release="8.0 U2", reboot="full").ok
    assert do(world, "remove-ta-host", vmhost="ta-01").ok
    assert _ta_health(world) == CONFIGURED  # ta-02 alone is consistent
    assert do(world, "revert-host", vmhost="ta-01").ok
    assert world.hosts["ta-01"].version == "8.0.1-21495797"
    assert do(world, "add-ta-host", vmhost="ta-01").ok


def test_failed_ta_upgrade_restored_from_vta_backup(make_world, do, status, settle):
    world = make_world(ta_hosts=TA2, ta_release="8.0 U1", vms=ENC_OFF)
    assert do(world, "backup-ta-config", file="vta-backup").ok
    _failed_upgrade(world, do)
    health = _ta_health(world)
    for kind in ("state", "principals", "base_images", "tpm2_ca_certificates",
                 "key_providers"):
        assert health[f"ta_cluster/{kind}"] in ("ERROR", "WARNING"), (kind, health)
    assert "Health" not in world.call("Get-TrustAuthorityCluster").output[0]  # PowerCLI's
    out = do(world, "restore-ta-config", file="vta-backup")
    assert out.ok and out.output == ["ta-01", "ta-02"]
    assert _ta_health(world) == CONFIGURED
    settle(world)
    assert status(world, "esx-01") == ("attested", None)
    assert world.attestation_status("esx-01")["per_service"] == {
        "ta-01/attestd": "attested", "ta-02/attestd": "attested"}
    assert do(world, "Start-VM", vm="db").ok


def test_vcenter_backup_does_not_restore_vta_objects(make_world, do):
    world = make_world(ta_hosts=TA2, ta_release="8.0 U1")
    _failed_upgrade(world, do)
    broken = _ta_health(world)
    out = do(world, "restore-vcenter-backup")
    assert out.ok and "vTA objects unchanged" in out.message
    assert world.kernel.trace.select("vcenter.restored")
    assert _ta_health(world) == broken
    assert broken["ta_cluster/base_images"] == "ERROR"


def test_ta_host_down_gives_warning(make_world, do):
    world = make_world(ta_hosts=TA2)
    world.perform("ta-host-down", {"vmhost": "ta-02"})
    world.run(world.kernel.now + 1)
    assert _ta_health(world)["ta_cluster/base_images"] == "WARNING"
    (status,) = world.call("Get-TrustAuthorityServicesStatus").output
    assert status["AttestationServiceStatus"]["Health"] == "Warning"  # one of two is down


def test_power_loss_during_upgrade_fails_the_task(make_world, do, status):
    world = make_world(hosts=(TrustedHostSpec(name="esx-01", release="8.0 U1"),))
    proc = world.perform("upgrade-host", {"vmhost": "esx-01", "release": "8.0 U2",
                                          "reboot": "full"})
    world.run(world.kernel.now + 100)  # staging
    world.perform("power-loss", {"vmhost": "esx-01", "duration": 100})
    outcome = world.kernel.env.run(until=proc)
    assert (outcome.ok, outcome.error) == (False, "host_down")
    [task] = [t for t in world.tasks() if t["task"].startswith("Remediate host")]
    assert (task["status"], task["reason"]) == ("error", "host_down")
    world.run(world.kernel.now + world.params.full_boot_seconds + 200)
    assert world.hosts["esx-01"].is_up
    assert world.hosts["esx-01"].version == "8.0.1-21495797"  # staging never completed
    assert status(world, "esx-01") == ("attested", None)


def test_a_crashed_daemon_runs_again_after_its_host_reboots() -> None:
    from vtalab import World
    from vtalab.world.topology import (
        TaClusterSpec,
        TaHostSpec,
        Topology,
        TrustedClusterSpec,
        TrustedHostSpec,
    )

    world = World(Topology(ta_cluster=TaClusterSpec(hosts=[TaHostSpec(name="ta-1")]),
                           trusted_clusters=[TrustedClusterSpec(
                               hosts=[TrustedHostSpec(name="esx-01")])]), seed=5)
    world.run(10)
    world.perform("service-crash", {"vmhost": "ta-1", "service": "attestd"})
    world.run(20)
    assert world.host("ta-1").services["attestd"] is False
    world.perform("Restart-VMHost", {"vmhost": "ta-1", "force": True})
    world.run(2000)
    assert world.host("ta-1").services["attestd"] is True
    assert any("attestd started at boot" in line
               for line in world.log_lines("ta-1", "attestd.log"))
