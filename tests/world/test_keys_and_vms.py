"""Item 5: key release through the world (running VMs, KMS outage and key persistence,
token expiry under clock skew, network partition)."""

from __future__ import annotations

import pytest

from vtalab.world.topology import TrustedHostSpec, VmSpec

ENC = (VmSpec(name="db", host="esx-01", encrypted=True),)
ENC_OFF = (VmSpec(name="db", host="esx-01", encrypted=True, powered_on=False),)


def test_running_encrypted_vm_survives_loss_of_attestation(make_world, do, status, settle):
    world = make_world(hosts=(TrustedHostSpec(name="esx-01", release="8.0 U1"),),
                       vms=ENC + (VmSpec(name="plain", host="esx-01", powered_on=False),))
    assert world.vm_state("db")["power_state"] == "poweredOn"
    assert do(world, "Remove-TrustAuthorityVMHostBaseImage", version="8.0 U1").ok
    settle(world, world.params.reattest_period_seconds + 1)  # noticed at the next attestation
    assert status(world, "esx-01") == ("notAttested", "untrusted_base_image")
    world.run(world.kernel.now + 3600)
    assert world.vm_state("db")["power_state"] == "poweredOn"
    assert world.vm_state("db")["locked"] is False
    assert not world.kernel.trace.select("vm.power", vm="db", state="poweredOff")
    # an unencrypted VM can still be powered on there
    assert do(world, "Start-VM", vm="plain").ok
    # but a stopped encrypted VM cannot come back
    assert do(world, "Stop-VM", vm="db").ok
    out = do(world, "Start-VM", vm="db")
    assert not out.ok and out.error in ("untrusted_base_image", "no_token")


@pytest.mark.parametrize("persistence", [False, True])
def test_kms_outage_across_reboot(make_world, do, status, persistence, event_ids):
    world = make_world(vms=ENC, key_persistence=persistence)
    assert world.vm_state("db")["power_state"] == "poweredOn"
    assert do(world, "Stop-VM", vm="db").ok
    world.perform("kms-outage", {})  # no duration: lasts
    world.run(world.kernel.now + 1)
    assert "com.vmware.vc.kms.crypto.TrustAuthority.KmsUnhealthy" in event_ids(world)
    # with the key cached in memory, the VM powers on despite the outage
    assert do(world, "Start-VM", vm="db").ok
    assert do(world, "Stop-VM", vm="db").ok
    assert do(world, "Restart-VMHost", vmhost="esx-01", force=True).ok
    assert status(world, "esx-01") == ("attested", None)  # attestation needs no KMS
    out = do(world, "Start-VM", vm="db")
    if persistence:
        assert out.ok, out
        assert world.vm_state("db")["power_state"] == "poweredOn"
    else:
        assert (out.ok, out.error) == (False, "kms_unreachable")
        assert world.vm_state("db")["locked"] is True
        refused = world.kernel.trace.select("key.release", host="esx-01", ok=False)
        assert refused[-1].fields["reason"] == "kms_unreachable"
        assert any("reason=kms_unreachable" in line
                   for line in world.log_lines("ta-01", "kmxd.log"))


def test_kms_outage_heals_after_its_duration(make_world, do):
    world = make_world(vms=ENC_OFF)
    world.perform("kms-outage", {"duration": 300})
    world.run(world.kernel.now + 1)
    assert do(world, "Start-VM", vm="db").error == "kms_unreachable"
    world.run(world.kernel.now + 300)
    assert world.kernel.trace.select("fault.healed", fault="kms-outage")
    assert do(world, "Start-VM", vm="db").ok


def test_expired_token_refused_under_clock_skew(make_world, do, status):
    """The host's clock is behind by more than renew_before_expiry_seconds: it still
    believes its token valid when it has expired, and kmxd refuses it (token_expired)."""
    world = make_world(vms=ENC_OFF, ta_hosts=("ta-01",))
    p = world.params
    skew = p.renew_before_expiry_seconds * 2
    assert world.call("clock-skew", vmhost="esx-01", seconds=-skew).ok
    # attestd crashes, so kmxa cannot renew; the host keeps its token by its own clock
    world.perform("service-crash", {"vmhost": "ta-01", "service": "attestd"})
    [attested] = world.kernel.trace.select("attest.result", host="esx-01", status="attested")
    exp_at = attested.time + p.token_lifetime_seconds
    world.run(exp_at + 100)  # true time: expired; host time: exp - skew + 100
    s = world.attestation_status("esx-01")
    assert s["status"] == "attested" and s["reason"] == "attestation_unreachable"
    out = do(world, "Start-VM", vm="db")
    assert (out.ok, out.error) == (False, "token_expired")
    [release] = world.kernel.trace.select("key.release", host="esx-01")
    assert release.fields["ok"] is False
    assert release.fields["reason"] == "token_expired"
    assert release.fields["token_sub"] == "esx-01"
    assert release.fields["token_exp"] <= release.fields["now_epoch"]
    assert any("reason=token_expired" in line for line in world.log_lines("ta-01", "kmxd.log"))
    # once the host's own clock passes exp, it no longer claims to be attested
    world.run(exp_at + skew + 10)
    assert status(world, "esx-01") == ("unknown", "attestation_unreachable")


def test_no_skew_no_expired_token(make_world, do):
    """Control for the skew test: a correct clock renews before expiry."""
    world = make_world(vms=ENC_OFF)
    world.run(world.params.token_lifetime_seconds + 100)
    assert do(world, "Start-VM", vm="db").ok
    assert all(e.fields["ok"] for e in world.kernel.trace.select("key.release"))


def test_network_partition_is_unknown_never_not_attested(make_world, do, status):
    world = make_world(vms=ENC)
    lifetime = world.params.token_lifetime_seconds
    world.perform("network-partition", {"vmhost": "esx-01", "duration": lifetime + 3600})
    world.run(lifetime + 600)
    s = world.attestation_status("esx-01")
    assert (s["status"], s["reason"]) == ("unknown", "attestation_unreachable")
    assert "this is not an attestation failure" in s["messages"][0]
    assert world.kernel.trace.select("attest.unreachable", host="esx-01")
    statuses = {e.fields["status"] for e in world.kernel.trace.select("attest.result",
                                                                       host="esx-01")}
    assert "notAttested" not in statuses
    assert "com.vmware.vc.TaHostAttestFailEvent" not in [e["event_id"] for e in world.events()]
    assert world.vm_state("db")["power_state"] == "poweredOn"
    assert any("unreachable" in line for line in world.log_lines("esx-01", "kmxa.log"))
    # after the heal kmxa attests at once
    world.run(60 + lifetime + 3600 + 1)
    assert status(world, "esx-01") == ("attested", None)
    assert world.kernel.trace.select("fault.healed", fault="network-partition esx-01")
    assert do(world, "Stop-VM", vm="db").ok
    assert do(world, "Start-VM", vm="db").ok


def test_partition_blocks_key_fetch(make_world, do):
    world = make_world(vms=ENC_OFF)
    world.perform("network-partition", {"vmhost": "esx-01"})
    world.run(world.kernel.now + 1)
    out = do(world, "Start-VM", vm="db")
    assert not out.ok
    assert out.error == "key_provider_unreachable"
    assert "network partition" in out.message
