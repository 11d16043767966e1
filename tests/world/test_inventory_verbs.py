"""The Get-/Remove-/Set- counterparts of the TA and trusted-cluster cmdlets."""

from __future__ import annotations

import pytest

from vtalab import InputError, World
from vtalab.world.topology import (
    TaClusterSpec,
    TaHostSpec,
    Topology,
    TrustedClusterSpec,
    TrustedHostSpec,
)


@pytest.fixture()
def world() -> World:
    w = World(Topology(ta_cluster=TaClusterSpec(hosts=[TaHostSpec(name="ta-1"),
                                                      TaHostSpec(name="ta-2")]),
                       trusted_clusters=[TrustedClusterSpec(
                           hosts=[TrustedHostSpec(name="esx-01")])]), seed=11)
    w.run(1)
    return w


def test_listing_cmdlets_show_what_setup_imported(world: World) -> None:
    assert [r["Name"] for r in world.call("Get-TrustAuthorityPrincipal").output] == [
        "vcsa-wld.lab.local"]
    assert [r["Name"] for r in world.call("Get-TrustAuthorityTpm2CACertificate").output] == [
        "Infineon"]
    assert world.call("Get-TrustAuthorityKeyProvider").output[0]["Status"]["Health"] == "Ok"
    (cluster,) = world.call("Get-TrustedCluster").output
    assert list(cluster) == ["AttestationServiceInfo", "Id", "KeyProviderServiceInfo",
                             "Name", "State", "Uid"]  # the published TrustedCluster
    assert (cluster["Name"], cluster["State"]) == ("Trusted Cluster", "Enabled")
    assert cluster["AttestationServiceInfo"] == ["ta-1/attestd", "ta-2/attestd"]
    hosts = {r["Name"]: r for r in world.call("Get-VMHost").output}
    assert hosts["esx-01"]["ConnectionState"] == "Connected"
    assert hosts["esx-01"]["Version"] == "8.0.2"
    assert not {"isBootLoadESX", "MeasuredVersion"} & set(hosts["esx-01"])  # the host knows


def test_removing_the_tpm_ca_makes_the_host_fail_with_untrusted_ek_ca(world: World) -> None:
    world.call("Remove-TrustAuthorityTpm2CACertificate", name="Infineon")
    world.run(world.kernel.now + world.params.reattest_period_seconds + 1)  # next attestation
    assert world.attestation_status("esx-01")["reason"] == "untrusted_ek_ca"
    with pytest.raises(InputError, match="Infineon"):
        world.call("Remove-TrustAuthorityTpm2CACertificate", name="Infineon")


def test_removing_the_principal_makes_the_host_fail_with_untrusted_principal(
        world: World) -> None:
    world.call("Remove-TrustAuthorityPrincipal", name="vcsa-wld.lab.local")
    world.run(world.kernel.now + world.params.reattest_period_seconds + 1)  # next attestation
    assert world.attestation_status("esx-01")["reason"] == "untrusted_principal"


def test_rotated_kms_password_is_fixed_with_set_key_provider(world: World) -> None:
    world.perform("kms-wrong-credentials")
    world.run(world.kernel.now + 1)
    assert world.call("Get-TrustAuthorityKeyProvider").output[0]["Status"]["Health"] == "Error"
    note = world.kernel.trace.select("fault.kms_credentials")[-1]
    world.call("Set-TrustAuthorityKeyProvider", password=note.fields["new_password"])
    assert world.call("Get-TrustAuthorityKeyProvider").output[0]["Status"]["Health"] == "Ok"


def test_removed_service_info_is_applied_by_remediate(world: World) -> None:
    world.call("Remove-TrustedClusterAttestationServiceInfo", vmhost="ta-2")
    def applied() -> list[tuple[str, str]]:
        return [(r["VMHostId"], r["Status"])
                for r in world.call("Get-TrustedClusterAppliedStatus").output]

    esx01 = "HostSystem-host-1003"  # after ta-1 and ta-2
    assert applied() == [(esx01, "ERROR")]
    world.call("Set-TrustedCluster", remediate=True)
    assert applied() == [(esx01, "OK")]
    with pytest.raises(InputError, match="ta-1"):
        world.call("Remove-TrustedClusterAttestationServiceInfo", vmhost="ta-9")
