"""Add-KeyProviderServiceInfo and its twin Add-AttestationServiceInfo pinned against the
published page (B: developer.broadcom.com/powercli/latest/vmware.vimautomation.security/
commands/add-keyproviderserviceinfo; the attestation twin's own page was not found, its
sets are the twin's, assumed) and driven from the training shell with both vCenters
connected, as an operator adds the TA services to the workload vCenter (issue 11). Also
the per-cmdlet "no -Server" of Remove-TrustAuthorityKeyProviderServer's page."""

from __future__ import annotations

from typing import Any

import pytest
from surfacekit import observed_sets

from vtalab import World
from vtalab.training.commands import ShellState, execute
from vtalab.training.pwsh.binding import SERVER, params_of
from vtalab.world import registry
from vtalab.world.topology import (
    KmsSpec,
    TaClusterSpec,
    TaHostSpec,
    Topology,
    TrustedClusterSpec,
    TrustedHostSpec,
)

_MANUAL = {"ServiceAddress": (None, False, True), "ServiceGroup": (None, False, True),
           "TAClusterId": (None, False, True), "FilePath": (None, False, False),
           "ServicePort": (None, False, False), "TrustedCA": (None, False, False)}
#: cmdlet: [(set, {parameter: (position, pipeline, mandatory)})], default set first
SETS: dict[str, list[tuple[str, dict[str, tuple[int | None, bool, bool]]]]] = {
    "Add-KeyProviderServiceInfo": [
        ("Service", {"KeyProviderService": (None, True, True)}), ("Manual", _MANUAL)],
    "Add-AttestationServiceInfo": [
        ("Service", {"AttestationService": (None, True, True)}), ("Manual", _MANUAL)],
}
TYPES = {"KeyProviderService": "TrustAuthorityKeyProviderService[]",
         "AttestationService": "TrustAuthorityAttestationService[]",
         "ServiceAddress": "String", "ServiceGroup": "String", "TAClusterId": "String",
         "FilePath": "String", "ServicePort": "Int32", "TrustedCA": "X509Chain"}
WLD, TA = "vcsa-wld.lab.local", "vcsa-ta.lab.local"


@pytest.mark.parametrize("cmdlet", sorted(SETS))
def test_parameter_sets_types_and_output_as_published(cmdlet: str) -> None:
    entry = registry.lookup(cmdlet)
    specs = {s.field: s for s in params_of(entry) if s.field != SERVER}
    assert observed_sets(cmdlet) == SETS[cmdlet]
    assert {s.name: s.type_name for s in specs.values()} == {
        k: v for k, v in TYPES.items() if k in {s.name for s in specs.values()}}
    assert any(s.field == SERVER for s in params_of(entry))  # both sets: [-Server]
    assert entry.kind == "powercli" and entry.side == "workload"
    assert entry.output == cmdlet.removeprefix("Add-") and entry.confirm == "None"
    assert "add-keyproviderserviceinfo" in entry.source
    if cmdlet == "Add-AttestationServiceInfo":
        assert "assumed" in entry.source


def test_only_the_cmdlets_whose_page_has_no_server_lose_it() -> None:
    for cmdlet, only in (("Remove-TrustAuthorityKeyProviderServer", "KeyProviderServer"),
                         ("Remove-TrustAuthorityPrincipal", "TrustAuthorityPrincipal")):
        assert {s.name for s in params_of(registry.lookup(cmdlet))} == {only}, cmdlet
    for cmdlet in ("Add-TrustAuthorityKeyProviderServer", "Get-TrustAuthorityKeyProviderServer",
                   "Add-KeyProviderServiceInfo"):
        assert "Server" in {s.name for s in params_of(registry.lookup(cmdlet))}, cmdlet


def _shell(*, imported: bool = False) -> tuple[World, Any]:
    topology = Topology(
        kms=KmsSpec(servers=["kms-01.lab.local"]),
        ta_cluster=TaClusterSpec(hosts=[TaHostSpec(name="ta-esx-01"),
                                        TaHostSpec(name="ta-esx-02")]),
        trusted_clusters=[TrustedClusterSpec(hosts=[TrustedHostSpec(name="esx-01")])])
    world = World(topology, seed=3)
    world.run(60)
    if not imported:  # the workload vCenter has not been given the TA services yet
        world.files["__imported_services__"] = ()
    state = ShellState()

    def run(line: str) -> Any:
        return execute(world, line, state)

    for vc in (TA, WLD):
        assert run(f"Connect-VIServer {vc} -User administrator@vsphere.local").ok
    assert run(f"$vTA = Get-TrustAuthorityCluster -Server {TA}").ok
    return world, run


def _imported(world: World) -> list[tuple[str, str]]:
    return [(i.kind, i.name) for i in world.files["__imported_services__"]]


def test_the_ta_services_piped_from_the_ta_vcenter_are_added() -> None:
    world, run = _shell()
    r = run(f"Get-TrustAuthorityKeyProviderService -TrustAuthorityCluster $vTA -Server {TA} | "
            f"Add-KeyProviderServiceInfo -Server {WLD}")
    assert r.ok, r.error
    assert [line.split()[0] for line in r.text.splitlines()[2:]] == ["ta-esx-01", "ta-esx-02"]
    assert _imported(world) == [("key_provider", "ta-esx-01/kmxd"),
                                ("key_provider", "ta-esx-02/kmxd")]
    # the same state Import-TrustAuthorityServicesInfo makes: the Get- cmdlet shows it ...
    shown = run(f"Get-KeyProviderServiceInfo -Server {WLD} | Format-List *").text
    assert "ta-esx-02" in shown and "ClusterComputeResource-" in shown
    assert run("Get-AttestationServiceInfo").text == ""
    r = run(f"Get-TrustAuthorityAttestationService -TrustAuthorityCluster $vTA -Server {TA} | "
            "Add-AttestationServiceInfo")
    assert r.ok, r.error
    assert ("attestation", "ta-esx-02/attestd") in _imported(world)
    # ... and the Trusted cluster takes it into its desired configuration
    cluster = next(iter(world.trusted_clusters.values()))
    cluster.desired = ()
    assert run(f"Get-KeyProviderServiceInfo -ServiceAddress ta-esx-01 | "
               f"Add-TrustedClusterKeyProviderServiceInfo -TrustedCluster '{cluster.name}'").ok
    assert [(i.kind, i.address) for i in cluster.desired] == [("key_provider", "ta-esx-01")]


def test_a_service_already_there_is_refused() -> None:
    world, run = _shell(imported=True)
    before = _imported(world)
    r = run(f"Get-TrustAuthorityKeyProviderService -TrustAuthorityCluster $vTA -Server {TA} | "
            "Add-KeyProviderServiceInfo")
    assert not r.ok and "already in vcsa-wld.lab.local" in (r.error or "")
    assert _imported(world) == before


def test_by_hand_the_details_are_checked() -> None:
    world, run = _shell()
    assert run(f"$as = Get-TrustAuthorityAttestationService -TrustAuthorityCluster $vTA "
               f"-Server {TA}").ok
    good = "-ServiceAddress ta-esx-01 -ServiceGroup $as[0].ServiceGroup -TAClusterId $vTA.Id"
    add = "Add-AttestationServiceInfo "
    r = run(add + good.replace("$vTA.Id", "domain-c99") + " -TrustedCA $as[0].TrustedCA")
    assert not r.ok and "no Trust Authority cluster with Id 'domain-c99'" in (r.error or "")
    assert "ClusterComputeResource-" in (r.error or "")  # the valid Id is named
    r = run(add + good.replace("$as[0].ServiceGroup", "other") + " -TrustedCA $as[0].TrustedCA")
    assert not r.ok and "service group" in (r.error or "")
    r = run(add + good.replace("ta-esx-01", "ta-esx-09") + " -TrustedCA $as[0].TrustedCA")
    assert not r.ok and "ta-esx-01" in (r.error or "")
    r = run(add + good + " -TrustedCA $as[1].TrustedCA")  # ta-esx-02's certificate
    assert not r.ok and "does not hold the certificate" in (r.error or "")
    r = run(add + good + " -TrustedCA 'not a certificate'")
    assert not r.ok and "Cannot convert" in (r.error or "")
    r = run(add + good)
    assert not r.ok and "-TrustedCA and -FilePath" in (r.error or "")
    r = run(add + good + " -ServicePort 8443 -TrustedCA $as[0].TrustedCA")
    assert not r.ok and "443" in (r.error or "")
    r = run(add + "-AttestationService ta-esx-01 -ServiceGroup x")
    assert not r.ok and "Parameter set cannot be resolved" in (r.error or "")
    assert _imported(world) == []
    r = run(add + good + " -ServicePort 443 -TrustedCA $as[0].TrustedCA")
    assert r.ok, r.error
    assert "ta-esx-01" in r.text
    assert _imported(world) == [("attestation", "ta-esx-01/attestd")]


def test_by_hand_from_a_pem_file() -> None:
    world, run = _shell()
    assert run("$ks = Get-TrustAuthorityKeyProviderService -TrustAuthorityCluster $vTA "
               f"-Server {TA}").ok
    world.files["kp.pem"] = run("$ks[1].TrustedCARawData[0]").text + "\n"
    r = run("Add-KeyProviderServiceInfo -ServiceAddress ta-esx-02 -ServiceGroup "
            "$ks[1].ServiceGroup -TAClusterId $vTA.Id -FilePath kp.pem")
    assert r.ok, r.error
    assert _imported(world) == [("key_provider", "ta-esx-02/kmxd")]
    r = run("Add-KeyProviderServiceInfo -ServiceAddress ta-esx-01 -ServiceGroup "
            "$ks[0].ServiceGroup -TAClusterId $vTA.Id -FilePath nosuch.pem")
    assert not r.ok and "nosuch.pem" in (r.error or "")


def test_remove_key_provider_server_takes_no_server() -> None:
    _, run = _shell()
    r = run("Get-TrustAuthorityCluster | Get-TrustAuthorityKeyProvider | "
            "Get-TrustAuthorityKeyProviderServer | select -Last 1 | "
            f"Remove-TrustAuthorityKeyProviderServer -Server {TA} -Confirm:$false")
    assert not r.ok
    assert "A parameter cannot be found that matches parameter name 'Server'" in (r.error or "")
