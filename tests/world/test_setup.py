"""Issue item 1: the documented setup procedure, run verb by verb from an unconfigured world."""

from __future__ import annotations

from vtalab.world.topology import TpmSpec, TrustedHostSpec, VmSpec

HOSTS = (TrustedHostSpec(name="esx-01"),
         TrustedHostSpec(name="esx-02", tpm=TpmSpec(vendor="Nuvoton")))
VMS = (VmSpec(name="vm1", host="esx-01", powered_on=False),
       VmSpec(name="vm2", host="esx-02", powered_on=False))


def run_setup(world, *, skip_ca_of: str | None = None) -> None:
    """The documented procedure (vSphere Security guide), one verb at a time."""
    call = world.call
    assert call("Set-TrustAuthorityCluster", state="Enabled").ok
    assert call("Export-TrustedPrincipal", file="principal.json").ok
    assert call("New-TrustAuthorityPrincipal", file="principal.json").ok
    for host in ("esx-01", "esx-02"):
        vendor = world.hosts[host].tpm_vendor
        if vendor == skip_ca_of:
            continue
        assert call("Export-Tpm2CACertificate", vmhost=host, file=f"{host}-ca.cer").ok
        assert call("New-TrustAuthorityTpm2CACertificate", file=f"{host}-ca.cer").ok
    out = call("Export-VMHostImageDb", vmhost="esx-01", file="boot_imgdb.tgz")
    assert out.ok and out.output == "boot_imgdb.tgz"
    assert call("New-TrustAuthorityVMHostBaseImage", file="boot_imgdb.tgz").ok
    assert call("New-TrustAuthorityKeyProvider").ok
    # the trusted connection with the KMS: kmxd's client certificate (a CSR the KMS
    # signs) and the KMS CA as trusted server certificate
    assert call("New-TrustAuthorityKeyProviderClientCertificateCSR").ok
    assert call("Get-TrustAuthorityKeyProviderClientCertificateCSR", file="kmxd.csr").ok
    assert call("kms-sign-csr", file="kmxd.csr", out="kmxd.pem").ok
    assert call("Set-TrustAuthorityKeyProviderClientCertificate", certificate="kmxd.pem").ok
    assert call("kms-export-ca-certificate", file="kms-ca.pem").ok
    assert call("Add-TrustAuthorityKeyProviderServerCertificate", file="kms-ca.pem").ok
    assert call("Export-TrustAuthorityServicesInfo", file="services.json").ok
    assert call("Import-TrustAuthorityServicesInfo", file="services.json").ok
    assert call("Add-TrustedClusterAttestationServiceInfo").ok
    assert call("Add-TrustedClusterKeyProviderServiceInfo").ok
    out = call("Set-TrustedCluster", state="Enabled")
    assert out.ok and out.output == ["esx-01", "esx-02"]


def test_unconfigured_world_has_no_trust(make_world, do, status, failed_tasks):
    world = make_world(configured=False, hosts=HOSTS, vms=VMS)
    for host in ("esx-01", "esx-02"):
        assert status(world, host) == ("unknown", None)
        assert world.attestation_status(host)["per_service"] == {}
    assert world.kernel.trace.select("attest.result") == []
    out = do(world, "encrypt-vm", vm="vm1")
    assert (out.ok, out.error) == (False, "no_key_provider")
    assert world.vm_state("vm1")["encrypted"] is False
    [task] = failed_tasks(world, "vm1")
    assert task["task"] == "Reconfigure virtual machine (encrypt)"
    assert task["reason"] == "no_key_provider"
    health = world.health()
    assert health["ta_cluster/principals"] == "NONE"
    assert health["ta_cluster/base_images"] == "NONE"
    assert health["ta_cluster/key_providers"] == "NONE"
    assert health["trusted_cluster/Trusted Cluster"] == "NONE"
    assert world.call("Get-TrustAuthorityCluster").output[0]["State"] == "Disabled"


def test_documented_setup_attests_hosts_and_runs_an_encrypted_vm(make_world, do, status,
                                                                 settle, event_ids):
    world = make_world(configured=False, hosts=HOSTS, vms=VMS)
    run_setup(world)
    settle(world)
    for host in ("esx-01", "esx-02"):
        assert status(world, host) == ("attested", None)
        assert world.attestation_status(host)["per_service"] == {"ta-01/attestd": "attested"}
        assert "com.vmware.vc.TaHostAttestPassEvent" in event_ids(world, host)
    assert world.call("Get-TrustAuthorityCluster").output[0]["State"] == "Enabled"
    assert set(world.health().values()) <= {"OK", "NONE"}
    assert world.health()["ta_cluster/base_images"] == "OK"
    assert world.health()["trusted_cluster/Trusted Cluster"] == "OK"
    [image] = world.base_images()
    assert image["version"] == "8.0.2-22380479"
    assert image["last_attested_time"] is not None

    out = do(world, "encrypt-vm", vm="vm1")
    assert out.ok, out
    assert world.vm_state("vm1")["encrypted"] is True
    out = do(world, "Start-VM", vm="vm1")
    assert out.ok, out
    assert world.vm_state("vm1") == {"power_state": "poweredOn", "host": "esx-01",
                                     "encrypted": True, "last_error": None, "locked": False}
    released = world.kernel.trace.select("key.release", host="esx-01", ok=True)
    assert released and released[0].fields["token_sub"] == "esx-01"
    assert any("released to esx-01" in line for line in world.log_lines("ta-01", "kmxd.log"))
    tasks = [t for t in world.tasks() if t["target"] == "vm1"]
    assert [(t["task"], t["status"]) for t in tasks] == [
        ("Reconfigure virtual machine (encrypt)", "success"),
        ("Power On virtual machine", "success")]


def test_setup_without_a_vendor_ca_leaves_that_host_untrusted(make_world, status, settle,
                                                              do):
    """Item 2, world path: a host whose TPM vendor CA was never imported."""
    world = make_world(configured=False, hosts=HOSTS, vms=VMS)
    run_setup(world, skip_ca_of="Nuvoton")
    settle(world)
    assert status(world, "esx-01") == ("attested", None)
    assert status(world, "esx-02") == ("notAttested", "untrusted_ek_ca")
    messages = world.attestation_status("esx-02")["messages"]
    assert messages[0].startswith("untrusted_ek_ca:")
    assert any("esx-02 failed: untrusted_ek_ca" in line
               for line in world.log_lines("ta-01", "attestd.log"))
    out = do(world, "encrypt-vm", vm="vm2")
    assert not out.ok and out.error in ("untrusted_ek_ca", "no_token")
    # importing the missing CA fixes it
    assert world.call("Export-Tpm2CACertificate", vmhost="esx-02", file="n.cer").ok
    assert world.call("New-TrustAuthorityTpm2CACertificate", file="n.cer").ok
    settle(world, world.params.failed_reattest_seconds + 1)  # noticed at the next retry
    assert status(world, "esx-02") == ("attested", None)


def test_configured_topology_matches_manual_setup(make_world, status):
    """A ``configured`` topology is the same procedure run at T=0."""
    world = make_world(hosts=HOSTS, vms=VMS)
    assert status(world, "esx-01") == ("attested", None)
    assert status(world, "esx-02") == ("attested", None)
    kinds = [e.fields["what"] for e in world.kernel.trace.select("ta.object")]
    assert kinds[0] == "state Enabled"
    assert "principal vcsa-wld.lab.local" in kinds
    assert "key provider vTA-KeyProvider" in kinds


def test_encrypted_vm_in_unconfigured_topology_stays_off(make_world, failed_tasks, event_ids):
    world = make_world(configured=False,
                       vms=(VmSpec(name="db", host="esx-01", encrypted=True),))
    assert world.vm_state("db")["power_state"] == "poweredOff"
    assert world.vm_state("db")["last_error"] == "no_key_provider"
    [task] = failed_tasks(world, "db")
    assert (task["task"], task["reason"]) == ("Power On virtual machine", "no_key_provider")
    assert "com.vmware.vc.vm.Crypto.VMLocked.TAKMSClusterUnavaliable" in event_ids(world, "db")
