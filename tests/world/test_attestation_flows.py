"""Attestation through the world: rejections (item 2), upgrade before import (item 3),
Quick Boot (item 4) and a replaced TPM (item 8).

The unit-level verdicts live in tests/domain/test_attestation.py; here each rejection is
reached the way an operator meets it: through verbs, faults and kmxa's re-attestation.
"""

from __future__ import annotations

from vtalab.domain.base_image import parse_imagedb
from vtalab.world.topology import TpmSpec, TrustedHostSpec, VmSpec

U1 = "8.0.1-21495797"
U2 = "8.0.2-22380479"
WLD_VC = "vcsa-wld.lab.local"
LOCKED = "com.vmware.vc.vm.Crypto.VMLocked.TAKMSClusterUnavaliable"


# -- item 2 ------------------------------------------------------------------------------------
def test_secure_boot_off_host_fails_with_secure_boot_off(make_world, status, event_ids):
    world = make_world(hosts=(TrustedHostSpec(name="esx-01"),
                              TrustedHostSpec(name="esx-02", secure_boot=False)))
    assert status(world, "esx-01") == ("attested", None)
    assert status(world, "esx-02") == ("notAttested", "secure_boot_off")
    assert event_ids(world, "esx-02") == ["com.vmware.vc.TaHostAttestFailEvent"]
    assert any("esx-02 attestation failed: secure_boot_off" in line
               for line in world.log_lines(WLD_VC, "vpxd.log"))
    [result] = world.kernel.trace.select("attest.result", host="esx-02")
    assert (result.fields["status"], result.fields["reason"]) == ("notAttested",
                                                                  "secure_boot_off")


def test_ek_not_registered_with_require_endorsement_keys(make_world, status, settle):
    world = make_world()
    assert world.call("Set-TrustAuthorityTpm2AttestationSettings",
                      require_endorsement_keys=True).ok
    settle(world, world.params.reattest_period_seconds + 1)  # noticed at the next attestation
    assert status(world, "esx-01") == ("notAttested", "ek_not_registered")
    assert world.call("Export-Tpm2EndorsementKey", vmhost="esx-01", file="ek.pem").ok
    assert world.call("New-TrustAuthorityTpm2EndorsementKey", file="ek.pem").ok
    settle(world, world.params.failed_reattest_seconds + 1)  # noticed at the next retry
    assert status(world, "esx-01") == ("attested", None)
    assert world.health()["ta_cluster/tpm2_endorsement_keys"] == "OK"


def test_host_without_ek_certificate_attests_by_registered_ek(make_world, status):
    """Setup switches to the EK list when a TPM has no EK certificate."""
    world = make_world(hosts=(TrustedHostSpec(name="esx-01",
                                              tpm=TpmSpec(ek_certificate=False)),))
    assert status(world, "esx-01") == ("attested", None)
    [settings] = world.call("Get-TrustAuthorityTpm2AttestationSettings").output
    assert settings["RequireEndorsementKey"] is True
    assert settings["RequireCertificateValidation"] is False


def test_sts_rotation_breaks_trust_until_principal_reimported(make_world, status, settle,
                                                               event_ids, do):
    world = make_world(vms=(VmSpec(name="vm1", host="esx-01", encrypted=True),))
    assert world.call("sts-rotation").ok
    assert "com.vmware.vc.TrustAuthority.StsCertificatesChange" in event_ids(world)
    # kmxa re-attests on its period and is then refused
    world.run(world.params.reattest_period_seconds + 120)
    assert status(world, "esx-01") == ("notAttested", "untrusted_principal")
    assert "not signed by any imported STS certificate" in \
        world.attestation_status("esx-01")["messages"][0]
    assert world.vm_state("vm1")["power_state"] == "poweredOn"  # running VMs keep running
    assert world.call("Export-TrustedPrincipal", file="p2.json").ok
    out = world.call("New-TrustAuthorityPrincipal", file="p2.json")
    assert out.ok and out.output == ["ta-01"]
    settle(world, world.params.failed_reattest_seconds + 1)  # noticed at the next retry
    assert status(world, "esx-01") == ("attested", None)
    # importing the same principal again is refused
    again = world.call("New-TrustAuthorityPrincipal", file="p2.json")
    assert (again.ok, again.error) == (False, "already_exists")


def test_disabled_ta_cluster_fails_attestation(make_world, status, settle):
    world = make_world()
    assert world.call("Set-TrustAuthorityCluster", state="Disabled").ok
    settle(world, world.params.reattest_period_seconds + 1)  # noticed at the next attestation
    assert status(world, "esx-01") == ("notAttested", "ta_cluster_disabled")
    assert world.call("Get-TrustAuthorityCluster").output[0]["State"] == "Disabled"
    assert world.call("Set-TrustAuthorityCluster", state="Enabled").ok
    settle(world, world.params.failed_reattest_seconds + 1)  # noticed at the next retry
    assert status(world, "esx-01") == ("attested", None)


# -- item 3 ------------------------------------------------------------------------------------
def test_upgrade_before_base_image_import(make_world, do, status, settle, event_ids,
                                          failed_tasks):
    world = make_world(hosts=(TrustedHostSpec(name="esx-01", release="8.0 U1"),
                              TrustedHostSpec(name="esx-02", release="8.0 U1")),
                       vms=(VmSpec(name="db", host="esx-01", encrypted=True, powered_on=False),
                            VmSpec(name="web", host="esx-01", powered_on=False)))
    assert status(world, "esx-01") == ("attested", None)
    out = do(world, "upgrade-host", vmhost="esx-01", release="8.0 U2", reboot="full")
    assert out.ok, out
    upgraded_at = world.kernel.now
    s = world.attestation_status("esx-01")
    assert (s["status"], s["reason"]) == ("notAttested", "untrusted_base_image")
    assert (s["version"], s["measured_version"]) == (U2, U2)
    assert status(world, "esx-02") == ("attested", None)

    out = do(world, "Start-VM", vm="db")
    assert not out.ok and out.error in ("untrusted_base_image", "no_token")
    assert world.vm_state("db")["power_state"] == "poweredOff"
    assert world.vm_state("db")["locked"] is True
    assert LOCKED in event_ids(world, "db")
    out = do(world, "encrypt-vm", vm="web")
    assert not out.ok and out.error in ("untrusted_base_image", "no_token")
    assert world.vm_state("web")["encrypted"] is False
    errors = {t["target"]: t for t in failed_tasks(world)}
    assert errors["db"]["task"] == "Power On virtual machine"
    assert "Cannot power on db on esx-01" in errors["db"]["error"]
    assert errors["web"]["task"] == "Reconfigure virtual machine (encrypt)"

    attestd = world.log_lines("ta-01", "attestd.log")
    assert any("Attestation of esx-01 failed: untrusted_base_image" in line and " error " in line
               for line in attestd)
    kmxa = world.log_lines("esx-01", "kmxa.log")
    assert any("failed: untrusted_base_image" in line for line in kmxa)
    vpxd = world.log_lines(WLD_VC, "vpxd.log")
    assert any("esx-01 attestation failed: untrusted_base_image" in line for line in vpxd)
    assert any("Power On virtual machine on db failed" in line for line in vpxd)

    # the documented fix
    out = do(world, "Export-VMHostImageDb", vmhost="esx-01", file="u2.tgz")
    assert out.ok and "WARNING" not in out.message
    assert parse_imagedb(world.files["u2.tgz"]).version == U2
    out = do(world, "New-TrustAuthorityVMHostBaseImage", file="u2.tgz")
    assert out.ok and out.output == ["ta-01"]
    settle(world, world.params.failed_reattest_seconds + 1)  # noticed at the next retry
    assert status(world, "esx-01") == ("attested", None)
    # the import is noticed at kmxa's next retry, not at once (docs/parameters.md)
    assert world.kernel.now < upgraded_at + world.params.failed_reattest_seconds + 10
    assert do(world, "Start-VM", vm="db").ok
    assert world.vm_state("db") == {"power_state": "poweredOn", "host": "esx-01",
                                    "encrypted": True, "last_error": None, "locked": False}
    assert event_ids(world, "db")[-1] == "com.vmware.vc.vm.Crypto.VMUnlocked"
    dup = do(world, "New-TrustAuthorityVMHostBaseImage", file="u2.tgz")
    assert (dup.ok, dup.error) == (False, "already_exists")


# -- item 4 ------------------------------------------------------------------------------------
def test_quick_boot_keeps_attesting_last_full_boot(make_world, do, status, settle):
    world = make_world(quick_boot=True,
                       hosts=(TrustedHostSpec(name="esx-01", release="8.0 U1"),),
                       vms=(VmSpec(name="db", host="esx-01", encrypted=True,
                                   powered_on=False),))
    out = do(world, "upgrade-host", vmhost="esx-01", release="8.0 U2")  # reboot=auto
    assert out.ok, out
    s = world.attestation_status("esx-01")
    assert (s["status"], s["version"], s["measured_version"]) == ("attested", U2, U1)
    [upgraded] = world.kernel.trace.select("host.upgraded", host="esx-01")
    assert "(Quick Boot)" in upgraded.fields["message"]
    assert world.log_lines("esx-01", "loadESX.log")

    out = do(world, "Export-VMHostImageDb", vmhost="esx-01", file="u2.tgz")
    assert out.ok
    assert out.message.startswith("WARNING: host esx-01 was upgraded with Quick Boot")
    assert f"({U1})" not in out.message  # what the TPM measured is not the cmdlet's to say
    assert parse_imagedb(world.files["u2.tgz"]).version == U2  # the NEWEST image
    assert do(world, "New-TrustAuthorityVMHostBaseImage", file="u2.tgz").ok
    out = do(world, "Remove-TrustAuthorityVMHostBaseImage", version="8.0 U1")
    assert out.ok
    [removed] = world.kernel.trace.select("ta.base_image.removed")
    assert removed.fields["measured_by"] == ["esx-01"]
    settle(world, world.params.reattest_period_seconds + 1)  # noticed at the next attestation
    s = world.attestation_status("esx-01")
    assert (s["status"], s["reason"], s["measured_version"]) == (
        "notAttested", "untrusted_base_image", U1)
    assert [b["version"] for b in world.base_images()] == [U2]

    # a reboot would Quick Boot again; disable Quick Boot and fully reboot
    assert do(world, "set-quick-boot", enabled=False).ok
    assert world.hosts["esx-01"].quick_boot_enabled is False
    out = do(world, "Restart-VMHost", vmhost="esx-01", force=True)
    assert out.ok
    settle(world)
    s = world.attestation_status("esx-01")
    assert (s["status"], s["reason"], s["version"], s["measured_version"]) == (
        "attested", None, U2, U2)
    assert world.hosts["esx-01"].boots[-1].mode == "full"
    assert do(world, "Start-VM", vm="db").ok
    assert world.base_images()[0]["last_attested_time"] is not None


def test_quick_boot_host_fixed_by_maintenance_reboot(make_world, do, status, settle):
    world = make_world(quick_boot=True,
                       hosts=(TrustedHostSpec(name="esx-01", release="8.0 U1"),))
    assert do(world, "upgrade-host", vmhost="esx-01", release="8.0 U2").ok
    assert do(world, "Export-VMHostImageDb", vmhost="esx-01", file="u2.tgz").ok
    assert do(world, "New-TrustAuthorityVMHostBaseImage", file="u2.tgz").ok
    assert do(world, "Remove-TrustAuthorityVMHostBaseImage", version=U1).ok
    settle(world, world.params.reattest_period_seconds + 1)  # noticed at the next attestation
    assert status(world, "esx-01") == ("notAttested", "untrusted_base_image")
    assert do(world, "set-quick-boot", enabled=False).ok
    assert do(world, "Set-VMHost", vmhost="esx-01", state="Maintenance").ok
    assert do(world, "Restart-VMHost", vmhost="esx-01", force=True).ok
    settle(world)
    assert status(world, "esx-01") == ("attested", None)
    assert world.attestation_status("esx-01")["measured_version"] == U2


def test_snapshot_host_quick_booted_before_joining_vta(make_world, status):
    """Seed Quick Boot (d): exported image is the new version, measurements the old one."""
    world = make_world(quick_boot=True, hosts=(
        TrustedHostSpec(name="esx-01", release="8.0 U2", last_full_boot="8.0 U1",
                        quick_boots_since=1),))
    s = world.attestation_status("esx-01")
    assert (s["status"], s["reason"], s["measured_version"], s["version"]) == (
        "notAttested", "untrusted_base_image", U1, U2)


def test_txt_host_upgrade_falls_back_to_full_boot(make_world, do, status):
    world = make_world(quick_boot=True,
                       hosts=(TrustedHostSpec(name="esx-01", release="8.0 U1", txt=True),),
                       base_images=["8.0 U1", "8.0 U2"])
    assert world.attestation_status("esx-01")["measured_version"] == U1
    assert do(world, "upgrade-host", vmhost="esx-01", release="8.0 U2", reboot="auto").ok
    s = world.attestation_status("esx-01")
    assert (s["status"], s["version"], s["measured_version"]) == ("attested", U2, U2)
    assert world.hosts["esx-01"].boots[-1].mode == "full"
    [refused] = world.kernel.trace.select("host.quickboot.refused", host="esx-01")
    assert "Intel TXT" in refused.fields["reason"]
    assert any("Quick Boot not possible" in line
               for line in world.log_lines("esx-01", "loadESX.log"))


def test_quick_reboot_of_txt_host_is_refused_without_changing_the_world(make_world):
    world = make_world(quick_boot=True, hosts=(TrustedHostSpec(name="esx-01", txt=True),))
    before = len(world.kernel.trace)
    digest = world.kernel.trace.digest()
    # A refusal of the simulated world: a value with its own reason code (issue 15).
    for verb, args in (("reboot-host", {"vmhost": "esx-01", "mode": "quick"}),
                       ("upgrade-host", {"vmhost": "esx-01", "release": "8.0 U3",
                                         "reboot": "quick"})):
        outcome = world.kernel.env.run(until=world.perform(verb, args))
        assert (outcome.ok, outcome.error) == (False, "quick_boot_not_supported")
        assert "Intel TXT" in outcome.message and "Quick Boot refused" in outcome.message
        assert len(world.kernel.trace) == before
        assert world.kernel.trace.digest() == digest
        assert world.hosts["esx-01"].is_up and not world.hosts["esx-01"].busy
    world.run(world.kernel.now + 10)  # nothing was left scheduled that would crash


# -- item 8 ------------------------------------------------------------------------------------
def test_tpm_replaced_needs_new_endorsement_key(make_world, do, status, settle, event_ids):
    world = make_world(hosts=(TrustedHostSpec(name="esx-01"),
                              TrustedHostSpec(name="esx-02", tpm=TpmSpec(ek_certificate=False))))
    assert status(world, "esx-01") == ("attested", None)
    old_ek = world.hosts["esx-01"].tpm.ek.public_key().public_numbers()
    out = do(world, "tpm-replaced", vmhost="esx-01")
    assert out.ok
    assert world.hosts["esx-01"].tpm.ek.public_key().public_numbers() != old_ek
    ids = event_ids(world, "esx-01")
    assert "com.vmware.vc.host.TpmEndorsementKeyMismatch" in ids
    assert status(world, "esx-01") == ("notAttested", "ek_not_registered")
    assert ids[-1] == "com.vmware.vc.TaHostAttestFailEvent"
    assert status(world, "esx-02") == ("attested", None)
    assert world.call("Export-Tpm2EndorsementKey", vmhost="esx-01", file="ek2.pem").ok
    assert world.call("New-TrustAuthorityTpm2EndorsementKey", file="ek2.pem").ok
    settle(world, world.params.failed_reattest_seconds + 1)  # noticed at the next retry
    assert status(world, "esx-01") == ("attested", None)


def test_tpm_replaced_with_certificate_validation_only_still_attests(make_world, do, status,
                                                                     event_ids):
    world = make_world()
    assert do(world, "tpm-replaced", vmhost="esx-01").ok
    assert "com.vmware.vc.host.TpmEndorsementKeyMismatch" in event_ids(world, "esx-01")
    assert status(world, "esx-01") == ("attested", None)  # new EK cert, same vendor CA
