"""The lab's cmdlets pinned against the public record (issue 11).

Each row: cmdlet -> its parameters (name, position, pipeline) and its output object's
properties, with the page it comes from. ``B:`` is Broadcom's PowerCLI reference
(developer.broadcom.com/powercli/latest/<module>/commands|structures/...), ``ref §N`` the
project's reference/powercli-surface.md, ``assumed`` a choice made where no page was
found (docs/powercli.md says why).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from surfacekit import observed_parameters, observed_sets

from vtalab import World
from vtalab.training.commands import ShellState, execute
from vtalab.training.pwsh.binding import ALL_SETS, param_sets, params_of
from vtalab.training.session import Session
from vtalab.world import registry
from vtalab.world.objects import OBJECT_TYPES
from vtalab.world.topology import (
    TaClusterSpec,
    TaHostSpec,
    Topology,
    TrustedClusterSpec,
    TrustedHostSpec,
    VmSpec,
)

#: cmdlet: ({parameter: (position, pipeline)}, source)
PARAMETERS: dict[str, tuple[dict[str, tuple[int | None, bool]], str]] = {
    "Set-TrustAuthorityCluster": ({"TrustAuthorityCluster": (None, True),
                                   "State": (None, False)}, "B: set-trustauthoritycluster"),
    "Get-TrustAuthorityVMHostBaseImage": ({"TrustAuthorityCluster": (0, True)},
                                          "seed: Get-TrustAuthorityVMHostBaseImage $vTA"),
    "New-TrustAuthorityVMHostBaseImage": ({"TrustAuthorityCluster": (None, True),
                                           "FilePath": (None, False)}, "ref §1 (keep)"),
    "Remove-TrustAuthorityVMHostBaseImage": ({"VMHostBaseImage": (None, True)},
                                             "ref §1 (keep); seed"),
    "Set-TrustAuthorityTpm2AttestationSettings": (
        {"TrustAuthorityCluster": (None, True), "RequireCertificateValidation": (None, False),
         "RequireEndorsementKey": (None, False)}, "ref §1"),
    "Get-TrustAuthorityTpm2AttestationSettings": ({"TrustAuthorityCluster": (0, True)},
                                                  "ref §1"),
    "Get-TrustAuthorityServicesStatus": ({"TrustAuthorityCluster": (0, True)}, "ref §1"),
    "Set-TrustedCluster": ({"TrustedCluster": (0, True), "State": (None, False),
                            "Remediate": (None, False)}, "ref §1 (keep)"),
    "Export-Tpm2EndorsementKey": ({"FilePath": (0, False),
                                   "Tpm2EndorsementKey": (None, True)}, "assumed (ref §1)"),
    "Get-Tpm2EndorsementKey": ({"VMHost": (None, True)}, "B: get-tpm2endorsementkey"),
    "Remove-TrustAuthorityPrincipal": ({"TrustAuthorityPrincipal": (None, True)},
                                       "B: remove-trustauthorityprincipal"),
    "New-TrustAuthorityTpm2CACertificate": ({"CertificateChain": (None, False),
                                             "TrustAuthorityCluster": (None, True),
                                             "Name": (None, False)},
                                            "B: new-trustauthoritytpm2cacertificate"),
    "Add-TrustedClusterAttestationServiceInfo": ({"TrustedCluster": (0, True),
                                                  "AttestationServiceInfo": (None, True)},
                                                 "ref §1"),
    "Remove-TrustedClusterKeyProviderServiceInfo": ({"TrustedCluster": (0, True),
                                                     "KeyProviderServiceInfo": (None, True)},
                                                    "ref §1"),
    "Get-VMHostService": ({"VMHost": (0, True), "Refresh": (None, False)},
                          "B (core): get-vmhostservice"),
    "Restart-VMHostService": ({"HostService": (0, True)}, "ref §1; B (core)"),
    "Stop-VMHostService": ({"HostService": (0, True)}, "ref §1; B (core)"),
    "Start-VMHostService": ({"HostService": (0, True)}, "ref §1; B (core)"),
    "Restart-VMHost": ({"VMHost": (0, True), "Force": (None, False)}, "B (core)"),
    "Export-VMHostImageDb": ({"FilePath": (None, False), "VMHost": (None, True),
                              "Force": (None, False)}, "B: export-vmhostimagedb (both named)"),
    "Export-TrustedPrincipal": ({"FilePath": (None, False), "Force": (None, False)},
                                "B: export-trustedprincipal"),
    "Import-TrustAuthorityServicesInfo": ({"FilePath": (None, False)},
                                          "B: import-trustauthorityservicesinfo"),
    "Get-VMHost": ({"Name": (0, False)}, "B (core)"),
    "Start-VM": ({"VM": (0, True)}, "B (core)"),
}

#: -TrustAuthorityCluster: mandatory or not, as the command page marks it (B: page found;
#: "assumed": page not found, mandatory like the TA-object cmdlets whose pages were found)
TA_CLUSTER_MANDATORY: dict[str, tuple[bool, str]] = {
    "Set-TrustAuthorityCluster": (True, "B: set-trustauthoritycluster"),
    "Get-TrustAuthorityPrincipal": (True, "B: get-trustauthorityprincipal"),
    "New-TrustAuthorityPrincipal": (True, "B: new-trustauthorityprincipal"),
    "New-TrustAuthorityTpm2CACertificate": (True, "B: new-trustauthoritytpm2cacertificate"),
    "New-TrustAuthorityTpm2EndorsementKey": (True, "B: new-trustauthoritytpm2endorsementkey"),
    "Get-TrustAuthorityKeyProviderService": (False, "B: get-trustauthoritykeyproviderservice"),
    "Remove-TrustAuthorityKeyProvider": (False, "B: remove-trustauthoritykeyprovider"),
    "Get-TrustAuthorityAttestationService": (False, "assumed: as its twin "
                                             "Get-TrustAuthorityKeyProviderService"),
    "Get-TrustAuthorityVMHostBaseImage": (True, "assumed; seed passes $vTA positionally"),
    "New-TrustAuthorityVMHostBaseImage": (True, "assumed"),
    "Get-TrustAuthorityTpm2AttestationSettings": (True, "assumed"),
    "Set-TrustAuthorityTpm2AttestationSettings": (True, "assumed"),
    "Get-TrustAuthorityServicesStatus": (True, "assumed"),
    "Get-TrustAuthorityTpm2CACertificate": (True, "assumed"),
    "Get-TrustAuthorityTpm2EndorsementKey": (True, "assumed"),
}


@pytest.mark.parametrize("name", sorted(TA_CLUSTER_MANDATORY))
def test_trust_authority_cluster_is_mandatory_where_the_page_marks_it(name: str) -> None:
    mandatory, source = TA_CLUSTER_MANDATORY[name]
    entry = registry.VERBS[name]
    spec = next(s for s in params_of(entry) if s.name == "TrustAuthorityCluster")
    in_sets = [spec.field in st.mandatory for st in param_sets(entry)
               if spec.field in st.fields]
    assert in_sets and all(m == mandatory for m in in_sets), f"{source}: {in_sets}"
    if source.startswith("assumed"):
        assert "assumed" in entry.source, entry.source


#: cmdlets with several published parameter sets, default first:
#: [(set, {parameter: (position, pipeline, mandatory)})], source
PARAMETER_SETS: dict[str, tuple[list[tuple[str, dict[str, tuple[int | None, bool, bool]]]],
                                str]] = {
    "Get-TrustAuthorityCluster": ([
        ("Name", {"Name": (None, False, False), "State": (None, False, False)}),
        ("Id", {"Id": (None, False, True)}),
    ], "B: get-trustauthoritycluster (the Name set is the default: no parameter needed)"),
    "Get-TrustedCluster": ([
        ("Name", {"Name": (None, False, False), "State": (None, False, False)}),
        ("Id", {"Id": (None, False, True)}),
    ], "B: get-trustedcluster"),
    "Get-TrustAuthorityPrincipal": ([
        ("TrustAuthorityCluster", {"TrustAuthorityCluster": (None, True, True),
                                   "Domain": (None, False, False),
                                   "Issuer": (None, False, False),
                                   "Name": (None, False, False)}),
        ("Id", {"Id": (None, False, True)}),
    ], "B: get-trustauthorityprincipal (TrustAuthorityCluster: required)"),
    "New-TrustAuthorityPrincipal": ([
        ("TrustedPrincipal", {"TrustedPrincipal": (0, True, True),
                              "TrustAuthorityCluster": (None, True, True)}),
        ("Name", {"Name": (0, False, True), "CertificateChain": (None, False, True),
                  "Domain": (None, False, True), "Issuer": (None, False, True),
                  "Type": (None, False, False), "TrustAuthorityCluster": (None, True, True)}),
    ], "B: new-trustauthorityprincipal (TrustAuthorityCluster: required in both sets)"),
    "Get-AttestationServiceInfo": ([
        ("Filter", {"ServiceAddress": (None, False, False), "ServiceGroup": (None, False, False),
                    "ServicePort": (None, False, False), "TAClusterId": (None, False, False)}),
        ("Id", {"Id": (None, False, True)}),
    ], "B: get-attestationserviceinfo"),
    "Get-Task": ([
        ("Status", {"Status": (None, True, False)}),
        ("Id", {"Id": (None, False, True)}),
    ], "B (common): get-task"),
    "Export-Tpm2CACertificate": ([
        ("Certificate", {"FilePath": (0, False, True), "Certificate": (None, False, True),
                         "Force": (None, False, False)}),
        ("Tpm2EndorsementKey", {"FilePath": (0, False, True),
                                "Tpm2EndorsementKey": (None, True, True),
                                "Force": (None, False, False)}),
    ], "B: export-tpm2cacertificate (-Force in both sets; -RunAsync: RUN_ASYNC)"),
    "New-TrustAuthorityTpm2EndorsementKey": ([
        ("Tpm2EndorsementKey", {"Tpm2EndorsementKey": (None, True, True),
                                "TrustAuthorityCluster": (None, True, True)}),
        ("Name", {"Name": (None, False, True), "PublicKey": (None, False, True),
                  "TrustAuthorityCluster": (None, True, True)}),
    ], "B: new-trustauthoritytpm2endorsementkey; -PublicKey assumed (ref §1, CreateSpec)"),
}

#: output type: its properties in the structure page's order, and the page
OUTPUTS: dict[str, tuple[list[str], str]] = {
    "TrustAuthorityServicesStatus": (["AttestationServiceStatus", "KeyProviderServiceStatus",
                                      "TrustAuthorityClusterId", "Uid"],
                                     "B: structures/...trustauthorityservicesstatus"),
    "TrustAuthorityAttestationService": (["ServerGuid", "ServiceAddress", "ServiceGroup",
                                          "ServicePort", "TrustAuthorityClusterId",
                                          "TrustedCA", "TrustedCARawData", "Uid", "VMHostId"],
                                         "B: structures/...trustauthorityattestationservice"),
    "Task": (["Description", "FinishTime", "Id", "IsCancelable", "Name", "ObjectId",
              "PercentComplete", "Result", "StartTime", "State", "Uid"],
             "B: vmware.vimautomation.sdk/structures/...types.v1.task"),
    "TrustAuthorityVMHostBaseImage": (["Health", "HealthDescription", "Id", "Name",
                                       "TrustAuthorityClusterId", "Uid", "VMHostVersion"],
                                      "B: structures/...trustauthorityvmhostbaseimage"),
    "TrustAuthorityCluster": (["Id", "Name", "ServerGuid", "State", "Uid"],
                              "B: structures/...trustauthoritycluster"),
    "TrustedCluster": (["AttestationServiceInfo", "Id", "KeyProviderServiceInfo", "Name",
                        "State", "Uid"], "B: structures/...trustedcluster"),
    "TrustAuthorityTpm2AttestationSettings": (
        ["Health", "HealthDescription", "Id", "Name", "RequireCertificateValidation",
         "RequireEndorsementKey", "TrustAuthorityClusterId", "Uid"],
        "B: structures/...trustauthoritytpm2attestationsettings"),
    "TrustAuthorityPrincipal": (["CertificateChain", "Domain", "Health", "HealthDescription",
                                 "Id", "Issuer", "IssuerAlias", "Name",
                                 "TrustAuthorityClusterId", "Type", "Uid"],
                                "B: structures/...trustauthorityprincipal"),
    "TrustedPrincipal": (["CertificateChain", "Domain", "Id", "Issuer", "Name", "Type", "Uid"],
                         "B: structures/...trustedprincipal"),
    "TrustAuthorityTpm2CACertificate": (["CertificateChain", "Health", "HealthDescription",
                                         "Id", "Name", "TrustAuthorityClusterId", "Uid"],
                                        "B: structures/...trustauthoritytpm2cacertificate"),
    "TrustAuthorityTpm2EndorsementKey": (["Health", "HealthDescription", "Id", "Name",
                                          "PublicKey", "TrustAuthorityClusterId", "Uid"],
                                         "B: structures/...trustauthoritytpm2endorsementkey"),
    "Tpm2EndorsementKey": (["Certificate", "CertificateRawData", "PublicKey", "TpmId", "Uid",
                            "VMHostId", "VMHostUuid"], "B: structures/...tpm2endorsementkey"),
    "HostService": (["Key", "Label", "Policy", "Required", "Ruleset", "Running", "Uid",
                     "Uninstallable", "VMHost", "VMHostId"],
                    "B (core): structures/...host.hostservice (ExtensionData left out)"),
    "TrustAuthorityKeyProviderService": (
        ["ServerGuid", "ServiceAddress", "ServiceGroup", "ServicePort",
         "TrustAuthorityClusterId", "TrustedCA", "TrustedCARawData", "Uid", "VMHostId"],
        "B: structures/...trustauthoritykeyproviderservice"),
}


@pytest.mark.parametrize("cmdlet", sorted(PARAMETERS))
def test_parameters_positions_and_pipeline_as_published(cmdlet: str) -> None:
    want, source = PARAMETERS[cmdlet]
    entry = registry.lookup(cmdlet)
    assert observed_parameters(cmdlet) == want, source
    assert entry.kind == "powercli"


@pytest.mark.parametrize("cmdlet", sorted(PARAMETER_SETS))
def test_parameter_sets_as_published(cmdlet: str) -> None:
    want, source = PARAMETER_SETS[cmdlet]
    assert observed_sets(cmdlet) == want, source


def test_single_set_cmdlets_have_one_set() -> None:
    for cmdlet in PARAMETERS:
        assert [st.name for st in param_sets(registry.lookup(cmdlet))] == [ALL_SETS], cmdlet


@pytest.mark.parametrize("type_name", sorted(OUTPUTS))
def test_output_properties_in_the_published_order(type_name: str) -> None:
    want, source = OUTPUTS[type_name]
    assert list(OBJECT_TYPES[type_name].names) == want, source


def test_every_cmdlet_cites_a_page_or_says_assumed() -> None:
    for entry in registry.VERBS.values():
        if entry.kind == "powercli":
            assert entry.source, entry.name
        if entry.output is not None:
            t = OBJECT_TYPES[entry.output]
            assert t.source.startswith(("https://", "assumed")), t.name


def test_the_reference_section_2_cmdlets_exist() -> None:
    for name in ("Get-VMHostService", "Get-Tpm2EndorsementKey", "Get-TrustedPrincipal",
                 "Get-AttestationServiceInfo", "Get-KeyProviderServiceInfo",
                 "Get-TrustAuthorityAttestationService", "Get-TrustAuthorityKeyProviderService"):
        assert registry.lookup(name).kind == "powercli"


def _shell(ta_name: str = "vTA Cluster") -> tuple[World, ShellState, Any]:
    topology = Topology(
        ta_cluster=TaClusterSpec(name=ta_name, hosts=[TaHostSpec(name="ta-esx-01")]),
        trusted_clusters=[TrustedClusterSpec(hosts=[
            TrustedHostSpec(name="esx-01"), TrustedHostSpec(name="esx-02")],
            vms=[VmSpec(name="db01", host="esx-01", encrypted=True)])])
    world = World(topology, seed=3)
    world.run(60)
    state = ShellState()
    return world, state, lambda line: execute(world, line, state)


def test_a_missing_mandatory_parameter_is_asked_for_or_refused() -> None:
    """PowerShell: interactive, it asks for each missing mandatory parameter ("Supply
    values for the following parameters:", an array one value by value until an empty
    answer); an empty first answer aborts; scripted, it is refused and nothing runs."""
    world, state, run = _shell()
    r = run("Get-TrustAuthorityVMHostBaseImage")  # scripted (no prompt): refused
    assert not r.ok and r.actions == ()
    assert ("Get-TrustAuthorityVMHostBaseImage: Cannot process command because of one or "
            "more missing mandatory parameters: TrustAuthorityCluster.") in (r.error or "")
    asked: list[str] = []
    answers = iter(["vTA", ""])

    def answer(question: str) -> str:
        asked.append(question)
        return next(answers)

    state.prompt = answer
    r = run("$bm = Get-TrustAuthorityVMHostBaseImage")
    assert r.ok and r.actions == ("Get-TrustAuthorityVMHostBaseImage",), r.error
    assert asked == ["cmdlet Get-TrustAuthorityVMHostBaseImage at command pipeline "
                     "position 1\nSupply values for the following parameters:\n"
                     "TrustAuthorityCluster[0]: ", "TrustAuthorityCluster[1]: "]
    assert run("$bm | select -ExpandProperty VMHostVersion").text == "8.0.2-22380479"
    # a scalar parameter is asked once; an empty answer aborts with PowerShell's error
    asked.clear()
    answers = iter([""])
    r = run("New-TrustAuthorityVMHostBaseImage -FilePath x.tgz")
    assert asked == ["cmdlet New-TrustAuthorityVMHostBaseImage at command pipeline "
                     "position 1\nSupply values for the following parameters:\n"
                     "TrustAuthorityCluster: "]
    assert not r.ok and r.actions == () and (
        "New-TrustAuthorityVMHostBaseImage: Cannot bind argument to parameter "
        "'TrustAuthorityCluster' because it is an empty string.") in (r.error or "")
    answers = iter([""])
    r = run("Get-TrustAuthorityServicesStatus")
    assert not r.ok and "'TrustAuthorityCluster' because it is an empty array." in (
        r.error or "")
    # a wrong answer is checked like a typed value
    answers = iter(["nosuch", ""])
    r = run("Get-TrustAuthorityTpm2AttestationSettings")
    assert not r.ok and "Could not find TrustAuthorityCluster with name 'nosuch'." in (
        r.error or "")


def test_the_seeds_own_lines_run_unchanged() -> None:
    world, state, run = _shell(ta_name="trustedCluster")
    assert run("$vTA = Get-TrustAuthorityCluster -name trustedCluster").ok
    assert run("$bm = Get-TrustAuthorityVMHostBaseImage $vTA").ok
    shown = run("$bm | select *").text
    assert "VMHostVersion           : 8.0.2-22380479" in shown
    assert "TrustAuthorityClusterId : ClusterComputeResource-domain-c8" in shown
    assert run("$baseImages = Get-TrustAuthorityVMHostBaseImage "
               "-TrustAuthorityCluster $vTA").ok
    r = run("Remove-TrustAuthorityVMHostBaseImage -VMHostBaseImage $baseImages")
    assert not r.ok and "NonInteractive" in (r.error or "")  # it asks; a script cannot
    assert [b["version"] for b in world.base_images()] == ["8.0.2-22380479"]
    state.prompt = lambda question: "N"  # an operator who answers No
    r = run("Remove-TrustAuthorityVMHostBaseImage -VMHostBaseImage $baseImages")
    assert r.ok and r.actions == () and world.base_images()
    asked: list[str] = []
    state.prompt = lambda question: asked.append(question) or "Y"  # type: ignore[func-returns-value]
    r = run("Remove-TrustAuthorityVMHostBaseImage -VMHostBaseImage $baseImages")
    assert r.actions == ("Remove-TrustAuthorityVMHostBaseImage",) and not world.base_images()
    assert 'Performing the operation "Remove-TrustAuthorityVMHostBaseImage" on target ' \
           '"8.0.2-22380479"' in asked[0] and "[A] Yes to All" in asked[0]


def test_confirm_false_and_yes_to_all() -> None:
    world, state, run = _shell()
    run("Export-VMHostImageDb -VMHost esx-01 -FilePath a.tgz; "
        "New-TrustAuthorityVMHostBaseImage "
        "-TrustAuthorityCluster vTA -FilePath a.tgz")
    assert run("upgrade-host esx-02 '8.0 U3'").ok
    run("Export-VMHostImageDb -VMHost esx-02 -FilePath b.tgz; "
        "New-TrustAuthorityVMHostBaseImage "
        "-TrustAuthorityCluster vTA -FilePath b.tgz")
    answers = iter(["A"])
    state.prompt = lambda question: next(answers)
    r = run("Get-TrustAuthorityVMHostBaseImage -TrustAuthorityCluster vTA "
            "| Remove-TrustAuthorityVMHostBaseImage")
    assert r.actions.count("Remove-TrustAuthorityVMHostBaseImage") == 2  # asked once
    state.prompt = None
    r = run("Set-TrustAuthorityCluster -TrustAuthorityCluster vTA -State Enabled")  # no ask
    assert r.ok
    assert not run("Set-TrustAuthorityCluster -TrustAuthorityCluster vTA -State Disabled").ok
    assert run("Set-TrustAuthorityCluster -TrustAuthorityCluster vTA -State Disabled "
               "-Confirm:$false").ok
    # -TrustAuthorityCluster is named, as published: a positional value is refused
    r = run("Set-TrustAuthorityCluster vTA -State Enabled")
    assert "A positional parameter cannot be found that accepts argument 'vTA'." in (
        r.error or "")


@pytest.mark.parametrize("line,name", [
    ("Remove-TrustAuthorityVMHostBaseImage -Version 8.0.2-22380479", "Version"),
    ("Set-TrustAuthorityTpm2AttestationSettings -RequireEndorsementKeys:$false",
     "RequireEndorsementKeys"),
    ("Remove-TrustAuthorityPrincipal -Name vcsa-wld.lab.local", "Name"),
    ("New-TrustAuthorityPrincipal -FilePath principal.json", "FilePath"),
    ("Restart-VMHostService -VMHost ta-esx-01 -Service attestd", "VMHost"),
    ("Get-VMHost -Confirm:$false", "Confirm"),
])
def test_invented_parameters_are_rejected_as_powershell_does(line: str, name: str) -> None:
    world, state, run = _shell()
    r = run(line)
    assert not r.ok and r.actions == ()
    assert f"A parameter cannot be found that matches parameter name '{name}'." in (
        r.error or "")


def test_host_services_through_get_vmhostservice() -> None:
    world, state, run = _shell()
    r = run("Get-VMHostService -VMHost ta-esx-01 | where Key -eq kmxd | "
            "Stop-VMHostService -Confirm:$false")
    assert r.ok and r.actions == ("Get-VMHostService", "Stop-VMHostService")
    assert not world.host("ta-esx-01").services["kmxd"]
    r = run("Get-VMHostService ta-esx-01 | where Key -eq kmxd | Start-VMHostService")
    assert r.ok and world.host("ta-esx-01").services["kmxd"]
    r = run("Get-VMHostService esx-01 | Restart-VMHostService -Confirm:$false")
    assert not r.ok and "log in to the host" in (r.error or "")  # kmxa: only on the host
    r = run("Restart-VMHostService -HostService kmxa -Confirm:$false")
    assert not r.ok and "Cannot bind parameter 'HostService'" in (r.error or "")


def test_restart_vmhost_needs_force_outside_maintenance_mode() -> None:
    world, state, run = _shell()
    r = run("Restart-VMHost esx-02 -Confirm:$false")
    assert not r.ok and "The operation is not allowed in the current state." in (r.error or "")
    assert world.host("esx-02").is_up and world.host("esx-02").boots[-1].time == 0
    assert run("Set-VMHost esx-02 -State Maintenance").ok
    assert run("Restart-VMHost esx-02 -Confirm:$false").ok


def test_servers_connect_and_choose() -> None:
    world, state, run = _shell()
    assert run("$global:DefaultVIServers.Count").text == "2"
    assert run("Disconnect-VIServer -Server vcsa-ta.lab.local -Confirm:$false").ok
    r = run("Get-TrustAuthorityCluster")
    assert not r.ok and "Connect-VIServer -Server vcsa-ta.lab.local" in (r.error or "")
    assert run("Get-VMHost -Server vcsa-wld.lab.local").ok
    assert run("Connect-VIServer vcsa-ta.lab.local -User administrator@vsphere.local").ok
    assert run("Get-TrustAuthorityCluster -Server vcsa-ta.lab.local").ok
    r = run("Get-TrustAuthorityCluster -Server vc-other")
    assert "Could not find VIServer with name 'vc-other'." in (r.error or "")


def test_idioms_operators_type() -> None:
    s = Session.start("quick-boot-intermediate-images")
    assert s.run("$vTA = Get-TrustAuthorityCluster").ok
    assert s.run("$bm = Get-TrustAuthorityVMHostBaseImage $vTA").ok
    assert s.run("$bm | % { Write-Host $_.VMHostVersion }").text.split("\n") == [
        "8.0.1-21495797", "8.0.2-22380479", "8.0.3-24022510"]
    r = s.run("foreach ($b in $bm) { Invoke-GetClusterVersionBaseImages -Version "
              "$b.VMHostVersion }")
    assert r.ok and r.text.count("ESXi 8.0.") == 3
    r = s.run("$bm | % { Invoke-GetClusterVersionBaseImages -Version $_.VMHostVersion } | "
              "select -ExpandProperty last_attested_time")
    assert r.text.split("\n") == ["2026-01-05T09:00:00.000Z", "2026-01-05T09:00:00.000Z"]
    assert s.run("Get-Date -Format yyyy-MM-dd").text == "2026-01-05"
    assert s.run("cls").ok and s.run("Clear-Host").ok


def test_whatif_says_what_would_happen_and_changes_nothing() -> None:
    world, state, run = _shell()
    tasks = len(world.ta_vcenter.tasks)
    r = run("Get-TrustAuthorityVMHostBaseImage -TrustAuthorityCluster vTA "
            "| Remove-TrustAuthorityVMHostBaseImage -WhatIf")
    assert r.ok and r.actions == ("Get-TrustAuthorityVMHostBaseImage",)
    assert r.text == ('What if: Performing the operation "Remove-TrustAuthorityVMHostBaseImage"'
                      ' on target "8.0.2-22380479".')
    assert world.base_images()  # nothing removed, no prompt needed (not even scripted)
    r = run("Set-TrustAuthorityCluster -TrustAuthorityCluster vTA -State Disabled -WhatIf")
    assert r.ok and r.text.endswith('on target "vTA Cluster".')
    assert all(h.config.enabled for h in world.ta_cluster.members)
    assert len(world.ta_vcenter.tasks) == tasks  # no Recent Task either
    # -WhatIf still binds: a wrong parameter is the usual error
    r = run("Remove-TrustAuthorityVMHostBaseImage -Version 1 -WhatIf")
    assert not r.ok and "matches parameter name 'Version'" in (r.error or "")
    # a Get- cmdlet has no -WhatIf, as in PowerShell
    r = run("Get-TrustAuthorityCluster -WhatIf")
    assert not r.ok and "matches parameter name 'WhatIf'" in (r.error or "")


def test_whatif_and_confirm_preferences() -> None:
    world, state, run = _shell()
    assert run("$WhatIfPreference = $true").ok
    r = run("Set-TrustAuthorityCluster -TrustAuthorityCluster vTA -State Disabled")
    assert r.ok and r.text.startswith("What if:") and r.actions == ()
    r = run("Set-TrustAuthorityCluster -TrustAuthorityCluster vTA -State Disabled "
            "-WhatIf:$false -Confirm:$false")
    assert r.actions == ("Set-TrustAuthorityCluster",)
    assert run("$WhatIfPreference = $false").ok
    r = run("$ConfirmPreference = 'Sometimes'")
    assert not r.ok and "ConfirmImpact" in (r.error or "") and "None, Low, Medium, High" in (
        r.error or "")
    # Medium: Set-VMHost (Medium, PowerShell's default impact) now asks; scripted: refused
    assert run("$ConfirmPreference = 'medium'").ok
    r = run("Set-VMHost esx-02 -State Maintenance")
    assert not r.ok and "NonInteractive" in (r.error or "") and r.actions == ()
    # None: nothing asks, not even a High-impact removal
    assert run("$global:ConfirmPreference = 'None'").ok
    assert run("Set-VMHost esx-02 -State Maintenance").ok
    r = run("Get-TrustAuthorityVMHostBaseImage -TrustAuthorityCluster vTA "
            "| Remove-TrustAuthorityVMHostBaseImage")
    assert r.actions[-1] == "Remove-TrustAuthorityVMHostBaseImage" and not world.base_images()


def test_confirm_switch_asks_whatever_the_preference() -> None:
    """-Confirm asks even for a Medium cmdlet under the default ConfirmPreference (High):
    scripted (no one to answer) it is refused and nothing runs; without it, it runs."""
    world, state, run = _shell()
    r = run("Set-VMHost esx-02 -State Maintenance -Confirm")
    assert not r.ok and "NonInteractive" in (r.error or "") and r.actions == ()
    assert not world.hosts["esx-02"].in_maintenance
    assert run("Set-VMHost esx-02 -State Maintenance").actions == ("Set-VMHost",)
    assert world.hosts["esx-02"].in_maintenance


def test_whatif_still_binds_and_validates_the_parameters() -> None:
    """-WhatIf runs nothing, but a wrong value is the same error as without it."""
    world, state, run = _shell()
    r = run("Set-VMHost esx-02 -State Maintenence -WhatIf")
    assert not r.ok and "Maintenence" in (r.error or "") and "What if" not in r.text
    r = run("Set-VMHost esx-02 -State Maintenance -WhatIf")
    assert r.ok and r.text.startswith("What if:") and not world.hosts["esx-02"].in_maintenance


def test_disconnect_viserver_asks_first() -> None:
    """Disconnect-VIServer is ConfirmImpact High: scripted, without -Confirm:$false, it is
    refused and the session stays connected."""
    world, state, run = _shell()
    r = run("Disconnect-VIServer -Server vcsa-ta.lab.local")
    assert not r.ok and "NonInteractive" in (r.error or "")
    assert run("Get-TrustAuthorityCluster").ok
    assert run("Disconnect-VIServer -Server vcsa-ta.lab.local -Confirm:$false").ok
    assert not run("Get-TrustAuthorityCluster").ok


def test_second_parameter_sets_work_and_sets_do_not_mix() -> None:
    world, state, run = _shell()
    run("$vTA = Get-TrustAuthorityCluster; $tp = Get-TrustedPrincipal")
    # the principal by -Name -CertificateChain -Domain -Issuer: the chain itself is bound
    # (the cells show subjects, the parameter gets the certificates)
    ta = world.ta_cluster.members[0]
    ta.config.principals.clear()
    r = run("New-TrustAuthorityPrincipal $tp.Name -CertificateChain $tp.CertificateChain "
            "-Domain $tp.Domain -Issuer $tp.Issuer -TrustAuthorityCluster $vTA")
    assert r.ok, r.error
    got = ta.config.principals["vcsa-wld.lab.local"]
    assert got.certificates_der == world.workload_vcenter.sts_certificates_der()
    r = run("New-TrustAuthorityPrincipal -Name x -TrustedPrincipal $tp")
    assert not r.ok and "Parameter set cannot be resolved" in (r.error or "")
    r = run("New-TrustAuthorityPrincipal -TrustAuthorityCluster vTA -Name x -Domain vsphere.local")
    assert "missing mandatory parameters: CertificateChain Issuer." in (r.error or "")
    r = run("New-TrustAuthorityPrincipal -TrustAuthorityCluster vTA "
            "x -CertificateChain 'CN=a' -Domain d -Issuer i")
    assert not r.ok and 'Cannot convert "CN=a" to type "X509Certificate2"' in (r.error or "")
    # the CA export from the certificate itself, or from the key piped in
    run("$ek = Get-Tpm2EndorsementKey -VMHost esx-01")
    assert run("Export-Tpm2CACertificate ca.cer -Certificate $ek.Certificate").ok
    assert run("$ek | Export-Tpm2CACertificate ca2.cer").ok
    assert world.files["ca.cer"] == world.files["ca2.cer"]
    assert world.files["ca.cer"][0] == "tpm-ca"
    r = run("Export-Tpm2CACertificate ca3.cer -Certificate $ek.Certificate "
            "-Tpm2EndorsementKey $ek")
    assert "Parameter set cannot be resolved" in (r.error or "") and "ca3.cer" not in world.files
    # the EK by -Name -PublicKey (PEM, as Get-Tpm2EndorsementKey shows it)
    r = run("New-TrustAuthorityTpm2EndorsementKey -Name esx-01 -PublicKey $ek.PublicKey "
            "-TrustAuthorityCluster $vTA")
    assert r.ok, r.error
    assert "esx-01" in ta.config.endorsement_keys
    r = run("New-TrustAuthorityTpm2EndorsementKey -TrustAuthorityCluster vTA "
            "-Name esx-02 -PublicKey nonsense")
    assert not r.ok and "not a PEM public key" in (r.error or "")
    r = run("New-TrustAuthorityTpm2EndorsementKey -TrustAuthorityCluster vTA -Name esx-02")
    assert "missing mandatory parameters: PublicKey." in (r.error or "")


def test_get_cmdlets_by_name_or_by_id_as_published() -> None:
    world, state, run = _shell()
    assert run("$c = Get-TrustAuthorityCluster -Name vTA; $c.Name").text == "vTA Cluster"
    assert run("$c = Get-TrustAuthorityCluster -Id ClusterComputeResource-domain-c8; "
               "$c.Name").text == "vTA Cluster"
    assert run("Get-TrustAuthorityCluster -State Disabled").text == ""
    r = run("Get-TrustAuthorityCluster -Name vTA -Id ClusterComputeResource-domain-c8")
    assert "Parameter set cannot be resolved" in (r.error or "")
    r = run("Get-TrustAuthorityCluster vTA")  # -Name is named only
    assert "A positional parameter cannot be found" in (r.error or "")
    assert run("$t = Get-TrustedCluster -Id ClusterComputeResource-domain-c20; $t.Name").text \
        == "Trusted Cluster"
    r = run("Get-TrustedCluster -Name 'Trusted Cluster' -Id ClusterComputeResource-domain-c20")
    assert "Parameter set cannot be resolved" in (r.error or "")
    assert "vcsa-wld.lab.local" in run("Get-TrustAuthorityPrincipal -TrustAuthorityCluster vTA "
                                       "-Issuer vcsa-wld.lab.local "
                                       "-Domain vsphere.local").text
    assert run("Get-TrustAuthorityPrincipal -TrustAuthorityCluster vTA -Name other").text == ""
    assert "vcsa-wld" in run("Get-TrustAuthorityPrincipal -Id principal-vcsa-wld.lab.local").text


#: spellings the real module does not have (reference §1), which the lab once used (the
#: labelled lab view, `lab status`, may still show omniscient facts such as MeasuredVersion)
STALE = ("RequireEndorsementKeys", "LastAttestedTime",
         "Export-Tpm2CACertificate -VMHost", "Export-Tpm2EndorsementKey -VMHost",
         "New-TrustAuthorityPrincipal -FilePath", "New-TrustAuthorityTpm2CACertificate -FilePath",
         "New-TrustAuthorityTpm2EndorsementKey -FilePath", "Remove-TrustAuthorityPrincipal -Name",
         "Set-TrustAuthorityKeyProvider -Name", "-VMHost esx-01 -Service")


def test_exercises_hints_and_training_texts_use_the_real_names() -> None:
    import vtalab

    root = Path(vtalab.__file__).resolve().parent
    texts = [*sorted((root / "data" / "exercises").glob("*.yaml")),
             *sorted((root / "training").rglob("*.py"))]
    assert len(texts) > 10
    for path in texts:
        text = path.read_text(encoding="utf-8")
        for stale in STALE:
            assert stale not in text, f"{path.name}: {stale}"


def test_every_cmdlet_has_each_parameter_once() -> None:
    """-Server appears once even where the cmdlet has its own (Get-View)."""
    for entry in registry.VERBS.values():
        names = [s.name for s in params_of(entry)]
        assert len(names) == len(set(names)), (entry.name, names)


def test_get_tpm2_endorsement_key_says_its_vmhosttpm_set_is_not_modelled() -> None:
    """Broadcom's page has two sets, -VMHostTPM and -VMHost; the lab has no VMHostTPM
    object, so only -VMHost is offered and the entry says so (docs/powercli.md shows it)."""
    entry = registry.lookup("Get-Tpm2EndorsementKey")
    assert "VMHostTPM" not in {s.name for s in params_of(entry)}
    assert "VMHostTPM" not in OBJECT_TYPES
    assert "-VMHostTPM" in entry.source and "not modelled" in entry.source


def test_run_async_returns_the_task_and_wait_task_waits_for_it() -> None:
    """-RunAsync (published by Restart-VMHost, Export-VMHostImageDb ...): the Task object
    at once while the cmdlet runs on in simulated time; the task is in Get-Task and the
    Recent Tasks; Wait-Task moves time until it ends and returns the cmdlet's result."""
    world, state, run = _shell()
    r = run("Get-TrustAuthorityCluster -RunAsync")  # a cmdlet that does not publish it
    assert "A parameter cannot be found that matches parameter name 'RunAsync'." in (
        r.error or "")
    before = world.kernel.now
    r = run("$t = Restart-VMHost -VMHost esx-02 -Force -Confirm:$false -RunAsync")
    assert r.ok and r.actions == ("Restart-VMHost",)
    assert world.kernel.now == before  # returned at once: no simulated time went by
    assert world.hosts["esx-02"].power_state.value != "poweredOn"
    shown = run("$t | select Name, State, PercentComplete, Id").text
    assert "Reboot host" in shown and "Running" in shown
    assert run("(Get-Task -Status Running).Name").text == "Reboot host"
    assert any(t["task"] == "Reboot host" and t["status"] == "running"
               for t in world.tasks())  # the same task in Recent Tasks
    r = run("$t | Wait-Task")
    # Wait-Task returns what the cmdlet returns: Restart-VMHost's VMHost object
    assert r.ok and "esx-02 Connected       PoweredOn" in r.text, r.error
    assert world.kernel.now > before and world.hosts["esx-02"].power_state.value == "poweredOn"
    assert run("Get-Task -Status Running").text == ""
    assert "Success" in run("Get-Task -Id $t.Id | select -ExpandProperty State").text
    # a cmdlet that starts no vCenter task: PowerCLI's client-side task, already done
    r = run("$e = Export-VMHostImageDb -VMHost esx-01 -FilePath e.tgz -RunAsync")
    assert r.ok and run("$e.Id").text == "ClientSideTask-1"
    assert run("$e.State").text == "Success" and "e.tgz" in world.files
    assert "exported from esx-01 to e.tgz" in run("Wait-Task -Task $e").text
    r = run("Wait-Task $e")  # -Task is named
    assert "A positional parameter cannot be found that accepts argument" in (r.error or "")
    # another session's task (any Recent Task): Wait-Task waits for the vCenter task
    other = ShellState()
    assert execute(world, "Restart-VMHost -VMHost esx-01 -Force -Confirm:$false -RunAsync",
                   other).ok
    r = run("Get-Task -Status Running | Wait-Task")
    assert r.ok and run("Get-Task -Status Running").text == ""
    r = run("Wait-Task -Task nosuch")
    assert not r.ok and "no task with Id 'nosuch'" in (r.error or "")
    # -RunAsync appears in the syntax of the cmdlets that publish it, and only there
    assert "[-RunAsync]" in registry_usage("Restart-VMHost")
    assert "[-RunAsync]" not in registry_usage("Get-VMHost")


def registry_usage(name: str) -> str:
    from vtalab.training.pwsh.binding import usage
    return usage(registry.VERBS[name])


#: cmdlets whose page publishes -RunAsync (B: page found; core: PowerCLI's host and VM
#: power cmdlets, as Suspend-VMHost's page shows for its family)
RUN_ASYNC = {"Set-TrustAuthorityCluster": "B: set-trustauthoritycluster",
             "Export-VMHostImageDb": "B: export-vmhostimagedb",
             "Export-Tpm2CACertificate": "B: export-tpm2cacertificate",
             "Restart-VMHost": "core", "Start-VM": "core", "Stop-VM": "core",
             "Move-VM": "core", "Set-VMHost": "core", "Start-VMHost": "core",
             "Stop-VMHost": "core", "Update-Entity": "core"}


def test_run_async_only_where_published() -> None:
    published = {n for n, v in registry.VERBS.items() if v.run_async}
    assert published == set(RUN_ASYNC)


def test_force_overwrites_an_existing_file_else_the_export_is_refused() -> None:
    world, state, run = _shell()
    assert run("Export-VMHostImageDb -VMHost esx-01 -FilePath a.tgz").ok
    world.files["a.tgz"] = b"old"
    r = run("Export-VMHostImageDb -VMHost esx-01 -FilePath a.tgz")
    assert not r.ok and "The file 'a.tgz' already exists. Use the Force parameter to " \
        "overwrite it." in (r.error or "")
    assert world.files["a.tgz"] == b"old"  # refused: nothing written
    assert run("Export-VMHostImageDb -VMHost esx-01 -FilePath a.tgz -Force").ok
    assert world.files["a.tgz"] != b"old"
    # positional values are refused: the page declares both parameters named
    r = run("Export-VMHostImageDb esx-01 b.tgz")
    assert not r.ok and "A positional parameter cannot be found" in (r.error or "")
    run("$ek = Get-Tpm2EndorsementKey -VMHost esx-01")
    assert run("Export-Tpm2CACertificate ca.pem -Tpm2EndorsementKey $ek").ok
    r = run("Export-Tpm2CACertificate ca.pem -Tpm2EndorsementKey $ek")
    assert not r.ok and "already exists" in (r.error or "")
    assert run("Export-Tpm2CACertificate ca.pem -Tpm2EndorsementKey $ek -Force").ok
    assert run("Export-TrustedPrincipal -FilePath p.json").ok
    assert not run("Export-TrustedPrincipal -FilePath p.json").ok
    assert run("Export-TrustedPrincipal -FilePath p.json -Force").ok


def test_get_attestation_service_info_filters_as_published() -> None:
    world, state, run = _shell()
    run("Export-TrustAuthorityServicesInfo -FilePath s.json")
    assert run("Import-TrustAuthorityServicesInfo -FilePath s.json").ok
    every = run("Get-AttestationServiceInfo | select -ExpandProperty ServiceAddress").text
    assert every == "ta-esx-01"
    assert run("Get-AttestationServiceInfo -ServiceAddress ta-esx-01 -ServicePort 443").text
    assert run("Get-AttestationServiceInfo -ServiceAddress nosuch").text == ""
    ident = run("(Get-AttestationServiceInfo).Id").text
    assert run(f"Get-AttestationServiceInfo -Id {ident} | select -ExpandProperty ServiceAddress"
               ).text == "ta-esx-01"
    assert not run("Get-AttestationServiceInfo -Id nosuch").ok
    assert not run("Get-AttestationServiceInfo -ServicePort 443").ok  # needs -ServiceAddress
    r = run("Get-AttestationServiceInfo -Id x -ServicePort 443")
    assert not r.ok and "Parameter set cannot be resolved" in (r.error or "")
    # the attestation twin shows the properties of KeyProviderServiceInfo's structure page
    def props(cmdlet: str) -> list[str]:
        shown = run(f"{cmdlet} | Format-List *").text
        return [line.split(":")[0].strip() for line in shown.splitlines() if ":" in line]

    assert props("Get-AttestationServiceInfo") == [
        "CertificateChain", "Id", "Name", "ServiceAddress", "ServiceGroup", "ServicePort",
        "TAClusterId", "Uid"] == props("Get-KeyProviderServiceInfo")


def test_host_and_vm_cmdlets_return_their_objects() -> None:
    """Set-VMHost, Restart-/Start-/Stop-VMHost return VMHost; Start-/Stop-/Move-VM return
    VirtualMachine (the Output of their PowerCLI reference pages), not a console line; a
    refusal returns nothing."""
    world, _, run = _shell()
    r = run("Set-VMHost -VMHost esx-02 -State Maintenance")
    assert r.ok and r.text.splitlines()[0].split()[:3] == ["Name", "ConnectionState",
                                                              "PowerState"]
    assert "esx-02 Maintenance" in r.text
    assert run("(Set-VMHost -VMHost esx-02 -State Connected).ConnectionState").text == \
        "Connected"
    vm = next(v for v in world.vms if world.vm_state(v)["power_state"] == "poweredOn")
    shown = run(f"Stop-VM -VM {vm} -Confirm:$false | select Name, PowerState").text
    assert shown.splitlines()[-1].split() == [vm, "PoweredOff"]
    assert not run(f"Stop-VM -VM {vm} -Confirm:$false").text  # refused: no object
