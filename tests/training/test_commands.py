"""The shell's command language against a real world: outputs, actions, risks, help,
completion and suggestions."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from vtalab.training import (
    CommandResult,
    ShellState,
    command_names,
    complete,
    execute,
    help_text,
)
from vtalab.world import registry
from vtalab.world.assembly import World
from vtalab.world.topology import (
    TaClusterSpec,
    TaHostSpec,
    Topology,
    TrustedClusterSpec,
    TrustedHostSpec,
    VmSpec,
)

OLD, NEW = "8.0.1-21495797", "8.0.2-22380479"


@pytest.fixture
def shell() -> Callable[..., tuple[World, ShellState, Callable[[str], CommandResult]]]:
    """A Quick Boot estate (esx-01, esx-02 on 8.0 U1; db01 encrypted on esx-01)."""

    def make(quick_boot: bool = True) -> tuple[World, ShellState,
                                               Callable[[str], CommandResult]]:
        topology = Topology(
            ta_cluster=TaClusterSpec(hosts=[TaHostSpec(name="ta-esx-01")]),
            trusted_clusters=[TrustedClusterSpec(quick_boot=quick_boot, hosts=[
                TrustedHostSpec(name="esx-01", release="8.0 U1"),
                TrustedHostSpec(name="esx-02", release="8.0 U1")],
                vms=[VmSpec(name="db01", host="esx-01", encrypted=True)])])
        world = World(topology, seed=7)
        world.run(60)
        state = ShellState()
        return world, state, lambda line: execute(world, line, state)

    return make


def test_variables_select_star_and_the_table(shell) -> None:  # type: ignore[no-untyped-def]
    world, state, run = shell()
    r = run("$vTA = Get-TrustAuthorityCluster -Name 'vTA Cluster'")
    assert r.ok and r.text == "" and r.actions == ("Get-TrustAuthorityCluster",)
    assert state.variables["vTA"].get("Name") == "vTA Cluster"
    r = run("Get-TrustAuthorityVMHostBaseImage -TrustAuthorityCluster $vTA")
    lines = r.text.split("\n")
    assert lines[0].split() == ["VMHostVersion", "Name", "Health"]  # the default display
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].startswith(OLD + " ESXi 8.0.1-21495797 (8.0 U1) Ok")
    r = run("Get-TrustAuthorityVMHostBaseImage -TrustAuthorityCluster $vTA | select *")
    assert [x.split(" : ")[0].strip() for x in r.text.split("\n")] == [
        "Health", "HealthDescription", "Id", "Name", "TrustAuthorityClusterId", "Uid",
        "VMHostVersion"]  # the published structure, in its order; no last attested time
    assert run("$bm = Get-TrustAuthorityVMHostBaseImage $vTA").ok
    assert run("$bm | select *").text == r.text
    assert run("$bm.VMHostVersion").text == OLD
    assert state.history[0].startswith("$vTA =") and len(state.history) == 6


def test_the_quick_boot_story_through_the_shell(shell) -> None:  # type: ignore[no-untyped-def]
    world, state, run = shell()
    r = run("upgrade-host -VMHost esx-01 -Release '8.0 U2'")
    assert r.ok and r.actions == ("upgrade-host",) and "esx-01 runs " + NEW in r.text
    assert world.host("esx-01").version == NEW and world.kernel.now > 600  # it waited
    assert any("before its base image is imported" in x for x in r.risky)
    r = run("Export-VMHostImageDb -VMHost esx-01 -FilePath c:\\img.tgz")
    assert r.ok and "upgraded with Quick Boot" in r.text and "c:\\img.tgz" in world.files
    r = run("$vTA = Get-TrustAuthorityCluster; "
            "New-TrustAuthorityVMHostBaseImage -TrustAuthorityCluster $vTA -FilePath c:\\img.tgz")
    assert r.ok and r.actions[-1] == "New-TrustAuthorityVMHostBaseImage"
    run("$bm = Get-TrustAuthorityVMHostBaseImage $vTA")
    r = run(f"Remove-TrustAuthorityVMHostBaseImage -VMHostBaseImage ($bm | where VMHostVersion "
            f"-eq '{OLD}')")
    assert not r.ok and "NonInteractive" in (r.error or "") and r.actions == ()
    r = run(f"Remove-TrustAuthorityVMHostBaseImage -VMHostBaseImage ($bm | where VMHostVersion "
            f"-eq '{OLD}') -Confirm:$false")
    assert r.ok and r.actions == ("Remove-TrustAuthorityVMHostBaseImage",)
    assert r.risky == (f"Remove-TrustAuthorityVMHostBaseImage of {OLD}, a version esx-01, "
                       "esx-02 still measure (hosts fail attestation; encrypted VMs lock)",)
    assert [b["version"] for b in world.base_images()] == [NEW]
    r = run("advance 15m")  # nothing shows the mistake yet ...
    assert "failed" not in r.text and r.text.endswith(
        "now T+00:25:30 (2026-01-05T08:25:30+00:00)")
    r = run("advance 1h")  # ... until the hosts' next scheduled attestation
    assert "Trusted Host attestation failed." in r.text and r.text.endswith(
        "now T+01:25:30 (2026-01-05T09:25:30+00:00)")
    assert "FAILED (untrusted_base_image)" not in r.text  # attestd's verdict is the lab's
    r = run("hosts | where Name -eq esx-01 | select Name,Attestation")
    assert r.text.split("\n")[2].split() == ["esx-01", "notAttested"]
    r = run("lab status esx-01 | select Reason")
    assert r.text.startswith("[lab view]") and "untrusted_base_image" in r.text
    assert run("set-quick-boot -Enabled:$false").actions == ("set-quick-boot",)
    r = run("Restart-VMHost esx-01 -Force -Confirm:$false")
    assert r.ok and r.risky == ()  # db01 was moved off by the upgrade; 8.0 U2 is trusted now
    r = run("wait-until attested esx-01 -Timeout 1h")
    assert r.ok and "attested esx-01: reached at" in r.text


def test_refusals_are_errors_not_exceptions(shell) -> None:  # type: ignore[no-untyped-def]
    world, state, run = shell()
    run("Remove-TrustAuthorityVMHostBaseImage -VMHostBaseImage 8.0.1-21495797 -Confirm:$false")
    run("advance 1h")  # noticed at the hosts' next scheduled attestation
    run("Move-VM db01 -Destination esx-02; Stop-VM -VM db01 -Confirm:$false")
    r = run("Start-VM -VM db01")
    assert not r.ok and r.actions == ("Start-VM",)
    assert r.error is not None and r.error.startswith("Start-VM: Cannot power on db01")
    assert "(untrusted_base_image" in r.error and r.error not in r.text
    assert world.vm_state("db01")["power_state"] == "poweredOff"


def test_pipeline_input_and_multiple_values_run_once_each(shell) -> None:  # type: ignore[no-untyped-def]
    world, state, run = shell(quick_boot=False)
    run("upgrade-host esx-02 '8.0 U2'")
    run("Export-VMHostImageDb -VMHost esx-02 -FilePath new.tgz; "
        "New-TrustAuthorityVMHostBaseImage -TrustAuthorityCluster vTA -FilePath new.tgz")
    r = run("Get-TrustAuthorityVMHostBaseImage vTA | Remove-TrustAuthorityVMHostBaseImage "
            "-Confirm:$false")
    assert r.actions == ("Get-TrustAuthorityVMHostBaseImage",
                         *["Remove-TrustAuthorityVMHostBaseImage"] * 2)
    assert len(r.risky) == 2 and world.base_images() == []
    r = run("hosts esx-0* | select -ExpandProperty Name")
    assert r.text == "esx-01\nesx-02"


def test_typos_get_the_nearest_valid_spelling(shell) -> None:  # type: ignore[no-untyped-def]
    world, state, run = shell()
    r = run("Get-TrustAuthorityVMHostBaseImag")
    assert not r.ok and r.actions == () and r.text == ""
    assert "did you mean 'Get-TrustAuthorityVMHostBaseImage'?" in (r.error or "")
    r = run("Export-VMHostImageDb -VMHots esx-01 -FilePath x")
    assert "did you mean -VMHost?" in (r.error or "") and "x" not in world.files
    assert "did you mean 'esx-01'" in (run("Start-VMHost -VMHost esx01").error or "")
    r = run("Set-VMHost -VMHost esx-01 -State Maint")
    assert "did you mean 'Maintenance'" in (r.error or "")
    assert "variable $vta2 is not set" in (run("$vta2.Name").error or "")
    assert "column" in (run("Get-VM 'db01").error or "")
    assert "did you mean 'attested'" in (run("wait-until atested esx-01").error or "")


def test_parameters_case_prefixes_and_switches(shell) -> None:  # type: ignore[no-untyped-def]
    world, state, run = shell()
    r = run("set-trustauthoritytpm2attestationsettings -TrustAuthorityCluster vTA "
            "-RequireCert $false")
    assert not r.ok and "A positional parameter cannot be found that accepts argument " \
        "'False'" in (r.error or "")  # a switch takes :$false, as in PowerShell
    r = run("set-trustauthoritytpm2attestationsettings -TrustAuthorityCluster vTA "
            "-RequireCert:$false")
    assert r.ok and r.risky == ("Set-TrustAuthorityTpm2AttestationSettings "
                                "-RequireCertificateValidation:$false weakens trust",)
    assert not world.ta_cluster.members[0].config.settings.require_certificate_validation
    r = run("Set-TrustedCluster -TrustedCluster 'Trusted Cluster' -Remediate")
    assert r.ok and r.actions == ("Set-TrustedCluster",) and r.risky == ()
    assert "ambiguous" in (run("Set-TrustAuthorityTpm2AttestationSettings "
                               "-TrustAuthorityCluster vTA -Require $true")
                           .error or "")
    r = run("New-TrustAuthorityVMHostBaseImage -TrustAuthorityCluster other -FilePath x")
    assert "Could not find TrustAuthorityCluster with name 'other'." in (r.error or "")


def test_faults_and_lab_verbs(shell) -> None:  # type: ignore[no-untyped-def]
    world, state, run = shell()
    r = run("kms-outage -Duration 30m")
    assert r.ok and r.actions == ("kms-outage",) and "heals after 1800 s" in r.text
    assert world.kernel.now == 60  # a fault is injected, not waited for
    r = run("host-service -VMHost esx-02 -Service kmxa")
    assert r.ok and r.risky == () and "kmxa restarted on esx-02" in r.text
    r = run("host-service -VMHost esx-02 -Service kmxa -Action stop")
    assert r.risky == ("stopping kmxa on esx-02: the host can no longer attest or fetch keys",)
    r = run("Set-TrustAuthorityCluster -TrustAuthorityCluster vTA -State disabled "
            "-Confirm:$false")
    assert r.ok and "stops attestation" in r.risky[0]


def test_lab_commands_look_around(shell) -> None:  # type: ignore[no-untyped-def]
    world, state, run = shell()
    assert run("time").text == "simulated time T+00:01:00 (2026-01-05T08:01:00+00:00)"
    hosts = run("hosts").text.split("\n")
    assert hosts[0].split() == ["Name", "Parent", "PowerState", "ConnectionState", "Version",
                                "Attestation", "Message"]
    assert hosts[3].split()[-1] == "attested"
    assert run("vms db01 | select Name,PowerState,VMHost | ConvertTo-Json -Compress").text == (
        '{"Name":"db01","PowerState":"PoweredOn","VMHost":"esx-01"}')
    assert "Power On virtual machine" in run("tasks -Tail 1").text
    assert "TaHostAttestPassEvent" in run("events -All").text
    log = run("log esx-01 kmxa.log -Tail 1").text.split("\n")
    assert len(log) == 1 and log[0].startswith("2026-01-05T08:00:00.000Z")
    assert run("log esx-01 vpxd.log").text.startswith("(vpxd.log of vcsa-wld.lab.local")
    status = run("status esx-01").text
    assert "MeasuredVersion" not in status and "VMs             : {db01}" in status
    lab = run("lab status esx-01").text
    assert lab.startswith("[lab view]") and "MeasuredVersion         : 8.0.1-21495797" in lab
    assert "principal.json" in run("files").text
    assert run("wait-until vm db01 poweredOff -Timeout 5m").error == (
        "wait-until vm db01 poweredOff: not reached within 00:05:00; "
        "now T+00:06:00 (2026-01-05T08:06:00+00:00)")
    assert "moves only with advance" in run("pause").text


def test_same_lines_same_output(shell) -> None:  # type: ignore[no-untyped-def]
    lines = ["upgrade-host -VMHost esx-01 -Release '8.0 U2'", "advance 30m", "hosts",
             "tasks -All", "events -All"]
    outs = []
    for _ in range(2):
        world, state, run = shell()
        outs.append([run(line).text for line in lines] + [world.kernel.trace.digest()])
    assert outs[0] == outs[1]


def test_help_covers_every_command() -> None:
    names = command_names()
    assert set(registry.VERBS) | set(registry.FAULTS) <= set(names)
    assert {"hosts", "advance", "wait-until", "Select-Object"} <= set(names)
    overview = help_text()
    for name in names:
        assert name in overview
        assert help_text(name).startswith(name)
    text = help_text("Remove-TrustAuthorityVMHostBaseImage")
    assert "Usage: Remove-TrustAuthorityVMHostBaseImage -VMHostBaseImage <string>" in text
    assert "Usage: Set-TrustedCluster [[-TrustedCluster] <string>] [-State " \
           "<Enabled|Disabled>] [-Remediate]" in help_text("Set-TrustedCluster")
    assert "[-RequireCertificateValidation]" in help_text(
        "Set-TrustAuthorityTpm2AttestationSettings")
    with pytest.raises(Exception, match="did you mean 'Start-VM'"):
        help_text("Start-Vn")


def test_completion(shell) -> None:  # type: ignore[no-untyped-def]
    world, state, run = shell()
    run("$vTA = Get-TrustAuthorityCluster")
    assert complete(world, state, "Get-TrustAuthorityVMH", "Get-TrustAuthorityVMH") == [
        "Get-TrustAuthorityVMHostBaseImage"]
    assert complete(world, state, "-", "Export-VMHostImageDb -") == [
        "-FilePath", "-Force", "-RunAsync", "-Server", "-VMHost"]
    assert complete(world, state, "es", "Export-VMHostImageDb -VMHost es") == [
        "esx-01", "esx-02"]
    assert complete(world, state, "", "Start-VM ") == ["db01"]
    assert complete(world, state, "$v", "Get-TrustAuthorityVMHostBaseImage $v") == ["$vTA"]
    assert complete(world, state, "", "Remove-TrustAuthorityVMHostBaseImage "
                                      "-VMHostBaseImage ") == [OLD]
    assert complete(world, state, "'8.0 U", "upgrade-host esx-01 -Release '8.0 U")[:2] == [
        "'8.0 U1'", "'8.0 U1a'"]
    assert complete(world, state, "", "Set-TrustedCluster -State ") == ["Disabled", "Enabled"]
    assert complete(world, state, "k", "log esx-01 k") == ["kmxa.log", "kmxd.log"]
    assert complete(world, state, "", "wait-until vm db01 ") == ["poweredOff", "poweredOn"]
    assert complete(world, state, "-", "hosts | where Name -")[:2] == ["-contains", "-eq"]
    assert complete(world, state, "adv", "$x = adv") == ["advance"]
    assert complete(world, state, "x", "No-Such-Command x") == []


@pytest.mark.parametrize("name", ["vTA", "vta", "'VTA CLUSTER'", "'vTA Cluster'", "'vTA Clu'"])
def test_the_ta_cluster_by_the_name_operators_type(shell, name: str) -> None:  # type: ignore[no-untyped-def]
    world, state, run = shell()
    r = run(f"$vTA = Get-TrustAuthorityCluster -Name {name}")
    assert r.ok, r.error
    assert state.variables["vTA"].get("Name") == "vTA Cluster"
    assert run(f"Get-TrustAuthorityVMHostBaseImage -TrustAuthorityCluster {name}").ok


@pytest.mark.parametrize("line", ["Get-TrustAuthorityCluster -Name 'vTA Clustr'",
                                  "Get-TrustAuthorityVMHostBaseImage -TrustAuthorityCluster "
                                  "'vTA Clustr'"])
def test_an_unknown_ta_cluster_suggests_the_nearest(shell, line: str) -> None:  # type: ignore[no-untyped-def]
    world, state, run = shell()
    r = run(line)
    assert not r.ok and "with name 'vTA Clustr'" in (r.error or "")
    assert "did you mean 'vTA Cluster'?" in (r.error or "")
    assert not run("Get-TrustAuthorityCluster -Name Cluster").ok  # not a prefix


def test_get_vmhost_by_name_and_piped_to_export(shell) -> None:  # type: ignore[no-untyped-def]
    world, state, run = shell()
    for line in ("Get-VMHost esx-02", "Get-VMHost -Name esx-02"):
        r = run(line)
        assert r.ok and r.actions == ("Get-VMHost",)
        rows = r.text.splitlines()[2:]
        assert [row.split()[0] for row in rows] == ["esx-02"]
    assert len(run("Get-VMHost").text.splitlines()) == 2 + len(world.hosts)
    r = run("Get-VMHost esx-2")
    assert not r.ok and "did you mean 'esx-02'?" in (r.error or "")
    r = run("Get-VMHost esx-02 | Export-VMHostImageDb -FilePath x.tgz")
    assert r.ok and r.actions == ("Get-VMHost", "Export-VMHostImageDb"), r.error
    assert "exported from esx-02 to x.tgz" in r.text and "x.tgz" in world.files
    # two hosts to one file: the second export finds the first's file (no -Force)
    r = run("Get-VMHost esx-01, esx-02 | Export-VMHostImageDb -FilePath y.tgz")
    assert [c[1]["vmhost"] for c in r.calls[-2:]] == ["esx-01", "esx-02"]
    assert not r.ok and "The file 'y.tgz' already exists." in (r.error or "")
    r = run("Get-VMHost | where Name -like 'esx-*' | Export-VMHostImageDb -FilePath z.tgz "
            "-Force")
    assert r.ok and r.actions.count("Export-VMHostImageDb") == 2, r.error


def test_vlcm_remediation_and_vcenter_versions_through_the_shell(shell) -> None:  # type: ignore[no-untyped-def]
    """Issue 15: the PowerCLI spelling of cluster remediation and Get-View ServiceInstance."""
    world, state, run = shell()
    r = run("Set-Cluster -Cluster 'Trusted Cluster' -BaseImage '8.0 U2'")
    assert r.ok and r.actions == ("Set-Cluster",), r.text + str(r.error)
    r = run("Set-Cluster -Cluster 'Trusted Cluster' -Remediate -AcceptEULA")
    assert r.ok and "2 host(s) remediated" in r.text, r.text + str(r.error)
    assert {h: world.hosts[h].boots[-1].mode for h in ("esx-01", "esx-02")} == {
        "esx-01": "quick", "esx-02": "quick"}
    r = run("Test-LcmClusterCompliance -Cluster 'Trusted Cluster'")
    assert r.ok and "NonCompliant" not in r.text and "Compliant" in r.text
    r = run("Get-View -ViewType ServiceInstance | select Server,Version,Build")
    assert r.ok and "24022515" in r.text, r.text + str(r.error)


def test_member_access_on_pipelines_and_variables(shell) -> None:  # type: ignore[no-untyped-def]
    world, state, run = shell()
    r = run("(Get-TrustAuthorityCluster).Name")
    assert r.ok, r.error
    assert r.text.strip() == world.ta_cluster.name
    r = run("(Get-VMHost esx-01).Name")
    assert r.ok and r.text.strip() == "esx-01"
    # member enumeration: every host's Name, as PowerShell 3+ gives it
    hosts = ["ta-esx-01", "esx-01", "esx-02"]  # both vCenters' hosts, as Get-VMHost lists
    r = run("(Get-VMHost).Name")
    assert r.ok and r.text.split() == hosts
    assert run("(Get-VMHost).Count").text.strip() == "3"
    assert run("(Get-VMHost)[2].Name").text.strip() == "esx-02"
    assert run("(Get-VMHost -Name esx-01).Count").text.strip() == "1"
    # the same on variables
    assert run("$h = Get-VMHost").ok
    assert run("$h.Name").text.split() == hosts
    assert run("$h.Count").text.strip() == "3"
    assert run("$h.Length").text.strip() == "3"
    assert run("$h[1].Name.Length").text.strip() == "6"
    # as a parameter value
    r = run("Get-VMHost -Name (Get-VMHost)[2].Name")
    assert r.ok and "esx-02" in r.text and "esx-01" not in r.text
    # a property the object lacks is $null (PowerShell), not an error
    r = run("(Get-VMHost esx-01).NoSuchProperty")
    assert r.ok and r.text.strip() == ""
