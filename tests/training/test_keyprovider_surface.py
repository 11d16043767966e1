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
    "New-TrustAuthorityKeyProvider": (
        {"Name": (0, False), "KmipServerAddress": (None, False),
         "PrimaryKeyId": (None, False), "MasterKeyId": (None, False),
         "TrustAuthorityCluster": (None, True), "ConnectionTimeOutSeconds": (None, False),
         "Description": (None, False), "KmipServerName": (None, False),
         "KmipServerPassword": (None, False), "KmipServerPort": (None, False),
         "KmipServerUsername": (None, False), "ProxyAddress": (None, False),
         "ProxyPort": (None, False)},
        "B: new-trustauthoritykeyprovider (-MasterKeyId deprecated for -PrimaryKeyId)"),
    "Set-TrustAuthorityKeyProvider": (
        {"KeyProvider": (0, True), "ConnectionTimeoutSeconds": (None, False),
         "Description": (None, False), "KmipServerUsername": (None, False),
         "MasterKeyId": (None, False), "PrimaryKeyId": (None, False),
         "ProxyAddress": (None, False), "ProxyPort": (None, False),
         "TrustAuthorityCluster": (None, False), "Type": (None, False),
         "KmipServerPassword": (None, False)},
        "B: set-trustauthoritykeyprovider; -KmipServerPassword and position 0 assumed"),
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


def _provider(world: World, name: str = "vTA-KeyProvider") -> Any:
    return world.ta_cluster.members[0].kmxd.providers[name]


def test_primary_key_id_and_its_deprecated_name_both_work() -> None:
    world, state, run = _shell()
    assert run("$vTA = Get-TrustAuthorityCluster").ok
    key = world.kms.create_key(now=world.kernel.utc())
    r = run(f"New-TrustAuthorityKeyProvider kp2 -TrustAuthorityCluster $vTA "
            f"-KmipServerAddress kms-01.lab.local -PrimaryKeyId {key} -Description 'second' "
            "-ProxyAddress proxy.lab.local -ProxyPort 3128 -ConnectionTimeOutSeconds 30")
    assert r.ok, r.error
    assert "WARNING" not in r.text  # PowerCLI's page documents no warning
    kp2 = _provider(world, "kp2")
    assert kp2.primary_key_id == key
    assert (kp2.description, kp2.proxy_address, kp2.proxy_port,
            kp2.connection_timeout_seconds) == ("second", "proxy.lab.local", 3128, 30)
    assert kp2.record()["proxy_address"] == "proxy.lab.local"
    other = world.kms.create_key(now=world.kernel.utc())
    r = run(f"Set-TrustAuthorityKeyProvider -KeyProvider kp2 -MasterKeyId {other}")
    assert r.ok, r.error
    assert _provider(world, "kp2").primary_key_id == other
    r = run(f"Set-TrustAuthorityKeyProvider -KeyProvider kp2 -PrimaryKeyId {key}")
    assert r.ok, r.error
    assert _provider(world, "kp2").primary_key_id == key
    assert key in run("Get-TrustAuthorityKeyProvider -TrustAuthorityCluster $vTA "
                      "| where {$_.Name -eq 'kp2'}").text


def test_both_key_names_naming_different_keys_is_bad_input() -> None:
    world, state, run = _shell()
    before = _provider(world).primary_key_id
    r = run("Set-TrustAuthorityKeyProvider -KeyProvider vTA-KeyProvider "
            "-PrimaryKeyId a -MasterKeyId b")
    assert not r.ok and "MasterKeyId" in r.error and "PrimaryKeyId" in r.error
    assert _provider(world).primary_key_id == before


def test_set_stores_the_key_server_settings() -> None:
    world, state, run = _shell()
    r = run("Set-TrustAuthorityKeyProvider -KeyProvider vTA-KeyProvider -Description prod "
            "-ProxyAddress proxy.lab.local -ProxyPort 8080 -ConnectionTimeoutSeconds 45 "
            "-Type KMIP")
    assert r.ok, r.error
    p = _provider(world)
    assert (p.description, p.proxy_address, p.proxy_port, p.connection_timeout_seconds,
            p.type) == ("prod", "proxy.lab.local", 8080, 45, "KMIP")
    # leaving a setting out keeps it
    assert run("Set-TrustAuthorityKeyProvider -KeyProvider vTA-KeyProvider "
               "-Description other").ok
    assert _provider(world).proxy_port == 8080
    bad = run("Set-TrustAuthorityKeyProvider -KeyProvider vTA-KeyProvider -Type SKS")
    assert not bad.ok and "KMIP" in bad.error
    bad = run("Set-TrustAuthorityKeyProvider -KeyProvider vTA-KeyProvider -ProxyPort 70000")
    assert not bad.ok


def test_set_kmip_server_username_is_what_the_provider_logs_in_with() -> None:
    world, state, run = _shell()
    assert run("Set-TrustAuthorityKeyProvider -KeyProvider vTA-KeyProvider "
               "-KmipServerUsername someone-else").ok
    assert _provider(world).username == "someone-else"
    assert "someone-else" in run("Get-TrustAuthorityKeyProvider "
                                 "-TrustAuthorityCluster (Get-TrustAuthorityCluster) "
                                 "| Format-List *").text
