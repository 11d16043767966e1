"""The key provider trust cmdlets pinned against the public record, and driven from the
training shell as an operator types them (issue 11; the same pattern as
test_powercli_surface.py). ``B:`` is Broadcom's PowerCLI reference
(developer.broadcom.com/powercli/latest/vmware.vimautomation.security/...), ``helper``
VMware's VMware.TrustedInfrastructure.Helper module, ``assumed`` a choice where neither
shows the parameter (the verb's source says why)."""

from __future__ import annotations

from typing import Any

import pytest

from vtalab import World
from vtalab.training.commands import ShellState, execute
from vtalab.training.pwsh.binding import SERVER, params_of
from vtalab.world import registry
from vtalab.world.objects import OBJECT_TYPES
from vtalab.world.topology import (
    KmsSpec,
    TaClusterSpec,
    TaHostSpec,
    Topology,
    TrustedClusterSpec,
    TrustedHostSpec,
)

#: cmdlet: ({parameter: (position, pipeline)}, source)
PARAMETERS: dict[str, tuple[dict[str, tuple[int | None, bool]], str]] = {
    "Add-TrustAuthorityKeyProviderServer": (
        {"Address": (0, False), "KeyProvider": (None, True), "Name": (None, False),
         "Port": (None, False), "TrustAuthorityCluster": (None, False)},
        "B: add-trustauthoritykeyproviderserver"),
    "Get-TrustAuthorityKeyProviderServer": (
        {"KeyProvider": (None, True), "Name": (None, False),
         "TrustAuthorityCluster": (None, False)}, "B: get-trustauthoritykeyproviderserver"),
    "Remove-TrustAuthorityKeyProviderServer": (
        {"KeyProviderServer": (None, True)}, "B: remove-trustauthoritykeyproviderserver"),
    "New-TrustAuthorityKeyProviderClientCertificate": (
        {"KeyProvider": (None, True), "TrustAuthorityCluster": (None, False)}, "helper"),
    "Get-TrustAuthorityKeyProviderClientCertificate": (
        {"KeyProvider": (None, True), "TrustAuthorityCluster": (None, False)}, "helper"),
    "Set-TrustAuthorityKeyProviderClientCertificate": (
        {"KeyProvider": (None, True), "TrustAuthorityCluster": (None, False),
         "Certificate": (None, False), "PrivateKey": (None, False)}, "helper"),
    "Export-TrustAuthorityKeyProviderClientCertificate": (
        {"KeyProvider": (None, True), "TrustAuthorityCluster": (None, False),
         "FilePath": (None, False), "Force": (None, False)},
        "B: export-trustauthoritykeyproviderclientcertificate"),
    "New-TrustAuthorityKeyProviderClientCertificateCSR": (
        {"KeyProvider": (None, True), "TrustAuthorityCluster": (None, False)}, "assumed"),
    "Get-TrustAuthorityKeyProviderClientCertificateCSR": (
        {"KeyProvider": (None, True), "TrustAuthorityCluster": (None, False)},
        "B: get-trustauthoritykeyproviderclientcertificatecsr"),
    "Get-TrustAuthorityKeyProviderServerCertificate": (
        {"KeyProvider": (None, True), "TrustAuthorityCluster": (None, False)}, "helper"),
    "Add-TrustAuthorityKeyProviderServerCertificate": (
        {"Certificate": (None, False), "FilePath": (None, False), "KeyProvider": (None, True),
         "TrustAuthorityCluster": (None, False), "ServerCertificate": (None, True)},
        "B: add-trustauthoritykeyproviderservercertificate; -ServerCertificate assumed"),
    "Set-TrustAuthorityKeyProviderServerCertificate": (
        {"KeyProvider": (None, True), "TrustAuthorityCluster": (None, False),
         "Certificate": (None, False)}, "helper"),
    "Remove-TrustAuthorityKeyProviderServerCertificate": (
        {"ServerCertificate": (None, True)}, "assumed"),
}

OUTPUTS: dict[str, tuple[list[str], str]] = {
    "TrustAuthorityKeyProviderServer": (
        ["Address", "Id", "KeyProviderId", "Name", "Port", "TrustAuthorityClusterId", "Uid"],
        "B: structures/...trustauthoritykeyproviderserver"),
    "TrustAuthorityKeyProviderServerCertificate": (
        ["Certificate", "CertificateRawData", "KeyProviderId", "KeyProviderServerId",
         "TrustAuthorityClusterId", "Trusted", "Uid"],
        "B: structures/...trustauthoritykeyproviderservercertificate"),
}


@pytest.mark.parametrize("cmdlet", sorted(PARAMETERS))
def test_parameters_as_published(cmdlet: str) -> None:
    want, source = PARAMETERS[cmdlet]
    entry = registry.lookup(cmdlet)
    got = {s.name: (s.position, s.pipeline) for s in params_of(entry) if s.field != SERVER}
    assert got == want, source
    assert entry.kind == "powercli" and entry.source


@pytest.mark.parametrize("type_name", sorted(OUTPUTS))
def test_output_properties_in_the_published_order(type_name: str) -> None:
    want, source = OUTPUTS[type_name]
    assert list(OBJECT_TYPES[type_name].names) == want, source


def test_removals_ask_for_confirmation() -> None:
    for name in ("Remove-TrustAuthorityKeyProviderServer",
                 "Remove-TrustAuthorityKeyProviderServerCertificate"):
        assert registry.lookup(name).confirm == "High"


def _shell() -> tuple[World, ShellState, Any]:
    topology = Topology(
        kms=KmsSpec(servers=["kms-01.lab.local", "kms-02.lab.local"]),
        ta_cluster=TaClusterSpec(hosts=[TaHostSpec(name="ta-esx-01")]),
        trusted_clusters=[TrustedClusterSpec(hosts=[TrustedHostSpec(name="esx-01")])])
    world = World(topology, seed=3)
    world.run(60)
    state = ShellState()
    return world, state, lambda line: execute(world, line, state)


def _servers(world: World, provider: str) -> list[str]:
    return [s.name for s in world.ta_cluster.members[0].kmxd.providers[provider].servers]


def test_an_operator_sets_up_the_trust_in_the_shell() -> None:
    world, state, run = _shell()
    vta = "$vTA = Get-TrustAuthorityCluster"
    assert run(vta).ok
    assert run("New-TrustAuthorityKeyProvider kp2 -TrustAuthorityCluster $vTA "
               "-KmipServerAddress kms-01.lab.local").ok
    assert run("$kp = Get-TrustAuthorityKeyProvider -TrustAuthorityCluster $vTA "
               "| where {$_.Name -eq 'kp2'}").ok
    assert "AUTH_FAILED" in run("$kp").text
    assert run("Add-TrustAuthorityKeyProviderServer kms-02.lab.local -KeyProvider $kp "
               "-Name second").ok
    assert _servers(world, "kp2") == ["kms-cluster-01", "second"]
    shown = run("Get-TrustAuthorityKeyProviderServerCertificate -KeyProvider $kp").text
    assert "False" in shown and "kms-cluster-01" in shown
    r = run("Get-TrustAuthorityKeyProviderServerCertificate -KeyProvider $kp | "
            "Add-TrustAuthorityKeyProviderServerCertificate")
    assert r.ok, r.error
    assert "False" not in run("Get-TrustAuthorityKeyProviderServerCertificate "
                              "-KeyProvider $kp").text
    assert run("New-TrustAuthorityKeyProviderClientCertificate -KeyProvider $kp").ok
    assert run("Export-TrustAuthorityKeyProviderClientCertificate -KeyProvider $kp "
               "-FilePath kp2.pem").ok
    assert run("kms-trust-client-certificate kp2.pem").ok
    assert "CONNECTED" in run("Get-TrustAuthorityKeyProvider -TrustAuthorityCluster $vTA "
                              "| where {$_.Name -eq 'kp2'}").text
    # A removal prompts; a script without -Confirm:$false cannot answer.
    r = run("Get-TrustAuthorityKeyProviderServer -KeyProvider $kp | select -Last 1 | "
            "Remove-TrustAuthorityKeyProviderServer")
    assert not r.ok and "NonInteractive" in (r.error or "")
    assert run("Get-TrustAuthorityKeyProviderServer -KeyProvider $kp | select -Last 1 | "
               "Remove-TrustAuthorityKeyProviderServer -Confirm:$false").ok
    assert _servers(world, "kp2") == ["kms-cluster-01"]


def test_invented_parameters_are_refused_with_powershells_error() -> None:
    _, _, run = _shell()
    r = run("Add-TrustAuthorityKeyProviderServer kms-02.lab.local -KeyProvider vTA-KeyProvider "
            "-ServerAddress x")
    assert not r.ok
    assert "A parameter cannot be found that matches parameter name 'ServerAddress'" in (
        r.error or "")
