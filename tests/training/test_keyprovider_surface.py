"""The key provider trust cmdlets pinned against the public record, and driven from the
training shell as an operator types them (issue 11; the same pattern as
test_powercli_surface.py). ``B:`` is Broadcom's PowerCLI reference
(developer.broadcom.com/powercli/latest/vmware.vimautomation.security/...), ``helper``
VMware's VMware.TrustedInfrastructure.Helper module, ``assumed`` a choice where neither
shows the parameter (the verb's source says why)."""

from __future__ import annotations

from typing import Any

import pytest
from surfacekit import observed_parameters, observed_sets

from vtalab import World
from vtalab.core import crypto
from vtalab.training.commands import ShellState, execute
from vtalab.training.pwsh.binding import ALL_SETS, param_sets, params_of
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
    "Remove-TrustAuthorityKeyProviderServer": (
        {"KeyProviderServer": (None, True)}, "B: remove-trustauthoritykeyproviderserver"),
    "New-TrustAuthorityKeyProviderClientCertificate": (
        {"KeyProvider": (None, True), "TrustAuthorityCluster": (None, False)},
        "PowerCLI 13.3 help; helper"),
    "Get-TrustAuthorityKeyProviderClientCertificate": (
        {"KeyProvider": (None, True), "TrustAuthorityCluster": (None, False)},
        "PowerCLI 13.3 help; helper"),
    "Export-TrustAuthorityKeyProviderClientCertificate": (
        {"KeyProvider": (None, True), "TrustAuthorityCluster": (None, False),
         "FilePath": (None, False), "Force": (None, False)},
        "B: export-trustauthoritykeyproviderclientcertificate"),
    "New-TrustAuthorityKeyProviderClientCertificateCSR": (
        {"KeyProvider": (None, True), "TrustAuthorityCluster": (None, False)},
        "PowerCLI 13.3 help; pipeline assumed"),
    "Get-TrustAuthorityKeyProviderClientCertificateCSR": (
        {"KeyProvider": (None, True), "TrustAuthorityCluster": (None, False)},
        "B: get-trustauthoritykeyproviderclientcertificatecsr"),
    "Set-TrustAuthorityKeyProviderServerCertificate": (
        {"KeyProvider": (None, True), "TrustAuthorityCluster": (None, False),
         "Certificate": (None, False)}, "PowerCLI 13.3 help; helper"),
    "Remove-TrustAuthorityKeyProviderServerCertificate": (
        {"ServerCertificate": (None, True)}, "PowerCLI 13.3 help; pipeline assumed"),
    "Get-TrustAuthorityKeyProvider": (
        {"TrustAuthorityCluster": (None, True), "Name": (0, False)},
        "B: get-trustauthoritykeyprovider ([-Name] position 1 = slot 0)"),
    "Remove-TrustAuthorityKeyProvider": (
        {"KeyProvider": (None, False), "TrustAuthorityCluster": (None, False)},
        "B: remove-trustauthoritykeyprovider (no pipeline feature on -KeyProvider)"),
    "Get-TrustAuthorityKeyProviderService": (
        {"VMHost": (0, True), "ServiceAddress": (None, False), "ServiceGroup": (None, False),
         "TrustAuthorityCluster": (None, True)}, "B: get-trustauthoritykeyproviderservice"),
}

#: cmdlets with several published parameter sets, default first:
#: [(set, {parameter: (position, pipeline, mandatory)})], source
PARAMETER_SETS: dict[str, tuple[list[tuple[str, dict[str, tuple[int | None, bool, bool]]]],
                                str]] = {
    "New-TrustAuthorityKeyProvider": ([
        ("PrimaryKeyId", {
            "TrustAuthorityCluster": (None, True, True), "Name": (0, False, True),
            "PrimaryKeyId": (None, False, True),
            "ConnectionTimeOutSeconds": (None, False, False), "Description": (None, False, False),
            "ProxyAddress": (None, False, False), "ProxyPort": (None, False, False),
            "KmipServerAddress": (None, False, True), "KmipServerName": (None, False, False),
            "KmipServerPort": (None, False, False), "KmipServerUsername": (None, False, False),
            "KmipServerPassword": (None, False, False)}),
        ("MasterKeyId", {
            "TrustAuthorityCluster": (None, True, True), "Name": (0, False, True),
            "MasterKeyId": (None, False, True),
            "ConnectionTimeOutSeconds": (None, False, False), "Description": (None, False, False),
            "ProxyAddress": (None, False, False), "ProxyPort": (None, False, False),
            "KmipServerAddress": (None, False, True), "KmipServerName": (None, False, False),
            "KmipServerPort": (None, False, False), "KmipServerUsername": (None, False, False),
            "KmipServerPassword": (None, False, False)}),
    ], "B: new-trustauthoritykeyprovider (the MasterKeyId set and the PrimaryKeyId set; "
       "which is the default is assumed)"),
    "Set-TrustAuthorityKeyProvider": ([
        ("Settings", {
            "KeyProvider": (None, True, True), "ConnectionTimeoutSeconds": (None, False, False),
            "Description": (None, False, False), "KmipServerUsername": (None, False, False),
            "PrimaryKeyId": (None, False, False), "MasterKeyId": (None, False, False),
            "ProxyAddress": (None, False, False), "ProxyPort": (None, False, False),
            "TrustAuthorityCluster": (None, False, False), "Type": (None, False, False)}),
        ("KmipServerPassword", {
            "KeyProvider": (None, True, True), "KmipServerPassword": (None, False, True),
            "TrustAuthorityCluster": (None, False, False)}),
    ], "B: set-trustauthoritykeyprovider (the settings set); PowerCLI 13.3 help "
       "(-KmipServerPassword mandatory); VMware's helper (-KeyProvider -TrustAuthorityCluster "
       "-KmipServerPassword)"),
    "Get-TrustAuthorityKeyProviderServer": ([
        ("Name", {"KeyProvider": (None, True, True), "Name": (None, False, False),
                  "TrustAuthorityCluster": (None, False, False)}),
        ("Address", {"KeyProvider": (None, True, True), "Address": (None, False, False),
                     "TrustAuthorityCluster": (None, False, False)}),
    ], "B: get-trustauthoritykeyproviderserver (the -Name set and the -Address set)"),
    "Set-TrustAuthorityKeyProviderClientCertificate": ([
        ("Certificate", {"KeyProvider": (None, True, True), "Certificate": (None, False, True),
                         "PrivateKey": (None, False, False),
                         "TrustAuthorityCluster": (None, False, False)}),
        ("CertificateFilePath", {"KeyProvider": (None, True, True),
                                 "CertificateFilePath": (None, False, True),
                                 "PrivateKeyFilePath": (None, False, False),
                                 "TrustAuthorityCluster": (None, False, False)}),
    ], "PowerCLI 13.3 help (Certificate/PrivateKey, CertificateFilePath/PrivateKeyFilePath); "
       "helper; pipeline assumed"),
    "Get-TrustAuthorityKeyProviderServerCertificate": ([
        ("KeyProvider", {"KeyProvider": (None, True, True),
                         "TrustAuthorityCluster": (None, False, False)}),
        ("KeyProviderServer", {"KeyProviderServer": (None, True, True),
                               "TrustAuthorityCluster": (None, False, False)}),
    ], "PowerCLI 13.3 help (-KeyProvider | -KeyProviderServer); pipeline assumed"),
    "Add-TrustAuthorityKeyProviderServerCertificate": ([
        ("Certificate", {"Certificate": (None, False, True), "KeyProvider": (None, True, True),
                         "TrustAuthorityCluster": (None, False, False)}),
        ("FilePath", {"FilePath": (None, False, True), "KeyProvider": (None, True, True),
                      "TrustAuthorityCluster": (None, False, False)}),
        ("ServerCertificate", {"ServerCertificate": (None, True, True),
                               "TrustAuthorityCluster": (None, False, False)}),
    ], "B: add-trustauthoritykeyproviderservercertificate (-Certificate, -FilePath sets); "
       "the -ServerCertificate set from PowerCLI 13.3 help (pipeline assumed)"),
    "Get-KeyProviderServiceInfo": ([
        ("Filter", {"ServiceAddress": (None, False, False), "ServiceGroup": (None, False, False),
                    "ServicePort": (None, False, False), "TAClusterId": (None, False, False)}),
        ("Id", {"Id": (None, False, True)}),
    ], "B: get-keyproviderserviceinfo"),
}

OUTPUTS: dict[str, tuple[list[str], str]] = {
    "TrustAuthorityKeyProviderStatus": (
        ["Health", "HealthDetails", "KeyProviderId", "ServerStatus"],
        "B: structures/...trustauthoritykeyproviderstatus"),
    "TrustAuthorityKeyProviderServerStatus": (
        ["ClientTrustServer", "Health", "HealthDetails", "Name", "ServerTrustClient"],
        "B: structures/...trustauthoritykeyproviderserverstatus"),
    "KeyProviderServiceInfo": (
        ["CertificateChain", "Id", "Name", "ServiceAddress", "ServiceGroup", "ServicePort",
         "TAClusterId", "Uid"], "B: structures/...keyproviderserviceinfo"),
    "TrustAuthorityKeyProviderService": (
        ["ServerGuid", "ServiceAddress", "ServiceGroup", "ServicePort",
         "TrustAuthorityClusterId", "TrustedCA", "TrustedCARawData", "Uid", "VMHostId"],
        "B: structures/...trustauthoritykeyproviderservice"),
    # assumed (no structure page): what VMware's helper reads, MasterKeyId, Status (the
    # published TrustAuthorityKeyProviderStatus), Type and PowerCLI's ids; no password
    "TrustAuthorityKeyProvider": (
        ["ConnectionTimeoutSeconds", "Description", "Id", "KmipServerUsername", "MasterKeyId",
         "Name", "PrimaryKeyId", "ProxyAddress", "ProxyPort", "Status",
         "TrustAuthorityClusterId", "Type", "Uid"], "assumed: helper + vAPI Providers.Info"),
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
    assert observed_parameters(cmdlet) == want, source
    assert entry.kind == "powercli" and entry.source


@pytest.mark.parametrize("cmdlet", sorted(PARAMETER_SETS))
def test_parameter_sets_as_published(cmdlet: str) -> None:
    want, source = PARAMETER_SETS[cmdlet]
    entry = registry.lookup(cmdlet)
    assert observed_sets(cmdlet) == want, source
    assert entry.kind == "powercli" and entry.source


def test_single_set_cmdlets_have_one_set() -> None:
    for cmdlet in PARAMETERS:
        assert [st.name for st in param_sets(registry.lookup(cmdlet))] == [ALL_SETS], cmdlet


def test_sources_cite_the_page_or_say_assumed() -> None:
    for cmdlet in (*PARAMETERS, *PARAMETER_SETS):
        source = registry.lookup(cmdlet).source
        assert "developer.broadcom.com" in source or "assumed" in source or \
            "Helper" in source, cmdlet
    for cmdlet in ("Get-TrustAuthorityKeyProvider", "New-TrustAuthorityKeyProvider",
                   "Set-TrustAuthorityKeyProvider", "Remove-TrustAuthorityKeyProvider",
                   "Get-KeyProviderServiceInfo", "Get-TrustAuthorityKeyProviderService"):
        assert ("https://developer.broadcom.com/powercli/latest/vmware.vimautomation.security/"
                "commands/" + cmdlet.lower()) in registry.lookup(cmdlet).source, cmdlet


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
    key = world.kms_primary_key  # the KMS administrator hands the key's id over
    assert run("New-TrustAuthorityKeyProvider kp2 -TrustAuthorityCluster $vTA "
               f"-KmipServerAddress kms-01.lab.local -PrimaryKeyId {key}").ok
    assert run("$kp = Get-TrustAuthorityKeyProvider -TrustAuthorityCluster $vTA "
               "| where {$_.Name -eq 'kp2'}").ok
    # the status as PowerCLI publishes it: Health and, per KMIP server, who trusts whom
    assert run("$kp.Status.Health").text.strip() == "Error"
    shown = run("$kp.Status.ServerStatus").text
    assert "Name=kms-cluster-01" in shown and "ClientTrustServer=False" in shown
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
    assert run("(Get-TrustAuthorityCluster | Get-TrustAuthorityKeyProvider kp2)"
               ".Status.Health").text.strip() == "Ok"
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


def test_get_needs_its_cluster_and_takes_a_name() -> None:
    """-TrustAuthorityCluster is mandatory (PowerShell's missing-mandatory error); [-Name]
    is positional; a TA cluster by pipeline."""
    _, _, run = _shell()
    r = run("Get-TrustAuthorityKeyProvider")
    assert not r.ok
    assert "missing mandatory parameters: TrustAuthorityCluster" in (r.error or "")
    assert "vTA-KeyProvider" in run("Get-TrustAuthorityCluster | "
                                    "Get-TrustAuthorityKeyProvider vTA-KeyProvider").text
    assert run("Get-TrustAuthorityCluster | Get-TrustAuthorityKeyProvider nope").text == ""
    r = run("Get-TrustAuthorityKeyProvider -TrustAuthorityCluster elsewhere")
    assert not r.ok and "elsewhere" in (r.error or "")


def test_the_provider_object_shows_no_password_and_the_settings_it_has() -> None:
    _, _, run = _shell()
    assert run("Set-TrustAuthorityKeyProvider -KeyProvider vTA-KeyProvider "
               "-KmipServerPassword s3cret").ok
    shown = run("Get-TrustAuthorityCluster | Get-TrustAuthorityKeyProvider | "
                "Format-List *").text
    assert "s3cret" not in shown and "Password" not in shown
    for prop in ("PrimaryKeyId", "KmipServerUsername", "ProxyAddress", "Status", "Type"):
        assert prop in shown


def test_new_takes_the_published_sets() -> None:
    world, _, run = _shell()
    key = world.kms_primary_key
    base = "New-TrustAuthorityKeyProvider -TrustAuthorityCluster (Get-TrustAuthorityCluster) "
    r = run(base + "kp3 -PrimaryKeyId " + str(key))  # no -KmipServerAddress
    assert not r.ok and "missing mandatory parameters: KmipServerAddress" in (r.error or "")
    r = run(base + "kp3 -KmipServerAddress kms-01.lab.local")  # no key at all
    assert not r.ok and "PrimaryKeyId" in (r.error or "")
    r = run(base + f"kp3 -KmipServerAddress kms-01.lab.local -PrimaryKeyId {key} "
            f"-MasterKeyId {key}")  # two sets at once
    assert not r.ok and "Parameter set cannot be resolved" in (r.error or "")
    r = run(f"New-TrustAuthorityKeyProvider kp3 -KmipServerAddress kms-01.lab.local "
            f"-MasterKeyId {key}")  # the cluster is mandatory in every set
    assert not r.ok and "TrustAuthorityCluster" in (r.error or "")
    assert run(base + f"kp3 -KmipServerAddress kms-01.lab.local -MasterKeyId {key}").ok
    assert _provider(world, "kp3").primary_key_id == key


def test_the_password_is_its_own_parameter_set() -> None:
    """PowerCLI 13.3: -KmipServerPassword is mandatory in its set; VMware's helper sets it
    alone. Mixing it with the settings set is PowerShell's set error, and nothing changes."""
    world, _, run = _shell()
    r = run("Set-TrustAuthorityKeyProvider -KeyProvider vTA-KeyProvider "
            "-KmipServerPassword x -Description y")
    assert not r.ok and "Parameter set cannot be resolved" in (r.error or "")
    assert _provider(world).description != "y"
    before = _provider(world).password
    assert run("Get-TrustAuthorityCluster | Get-TrustAuthorityKeyProvider | "
               "Set-TrustAuthorityKeyProvider -KmipServerPassword n3w").ok
    assert _provider(world).password == "n3w" != before


def test_remove_takes_the_provider_by_name_only() -> None:
    world, _, run = _shell()
    r = run("Remove-TrustAuthorityKeyProvider vTA-KeyProvider -Confirm:$false")
    assert not r.ok and "positional parameter cannot be found" in (r.error or "")
    assert run("Remove-TrustAuthorityKeyProvider -KeyProvider vTA-KeyProvider "
               "-Confirm:$false").ok
    assert "vTA-KeyProvider" not in world.ta_cluster.members[0].kmxd.providers


def test_key_provider_services_by_host_and_by_filter() -> None:
    _, _, run = _shell()
    assert "ta-esx-01" in run("Get-TrustAuthorityKeyProviderService ta-esx-01").text
    assert run("Get-TrustAuthorityKeyProviderService -ServiceGroup nope").text == ""
    assert not run("Get-TrustAuthorityKeyProviderService esx-99").ok
    shown = run("Get-KeyProviderServiceInfo | Format-List *").text
    assert "ServiceAddress" in shown and "TAClusterId" in shown
    assert run("Get-KeyProviderServiceInfo -ServiceGroup nope").text == ""
    r = run("Get-KeyProviderServiceInfo -Id x -ServiceGroup y")
    assert not r.ok and "Parameter set cannot be resolved" in (r.error or "")
    assert not run("Get-KeyProviderServiceInfo -ServicePort 443").ok


def test_the_second_sets_of_the_trust_cmdlets() -> None:
    """-Address (Get-...Server), -KeyProviderServer (Get-...ServerCertificate) and
    -CertificateFilePath/-PrivateKeyFilePath (Set-...ClientCertificate) work; their sets
    do not mix with the first ones."""
    world, _, run = _shell()
    assert run("$kp = Get-TrustAuthorityCluster | Get-TrustAuthorityKeyProvider").ok
    shown = run("Get-TrustAuthorityKeyProviderServer -KeyProvider $kp "
                "-Address kms-02.lab.local").text
    assert "kms-cluster-02" in shown and "kms-cluster-01" not in shown
    r = run("Get-TrustAuthorityKeyProviderServer -KeyProvider $kp -Address a -Name b")
    assert not r.ok and "Parameter set cannot be resolved" in (r.error or "")
    shown = run("Get-TrustAuthorityKeyProviderServer -KeyProvider $kp -Name kms-cluster-02 | "
                "Get-TrustAuthorityKeyProviderServerCertificate").text
    assert "kms-cluster-02" in shown and "kms-cluster-01" not in shown
    assert run("kms-issue-client-certificate c.pem c.key").ok
    r = run("Set-TrustAuthorityKeyProviderClientCertificate -KeyProvider $kp "
            "-CertificateFilePath c.pem -PrivateKey c.key")
    assert not r.ok and "Parameter set cannot be resolved" in (r.error or "")
    assert run("New-TrustAuthorityKeyProviderClientCertificate -KeyProvider $kp").ok
    before = _provider(world).client_certificate_der
    assert run("Set-TrustAuthorityKeyProviderClientCertificate -KeyProvider $kp "
               "-CertificateFilePath c.pem -PrivateKeyFilePath c.key").ok
    after = _provider(world).client_certificate_der
    assert after != before and after == world.kms_identity.certificate_der
    r = run("Add-TrustAuthorityKeyProviderServerCertificate -KeyProvider $kp")
    assert not r.ok and "missing mandatory parameters: Certificate" in (r.error or "")


#: -KeyProvider's type as published (B: the page, 13.3: PowerCLI 13.3 help)
KEY_PROVIDER_TYPES = {
    "Get-TrustAuthorityKeyProviderServer": "TrustAuthorityKeyProvider[]",  # B
    "Get-TrustAuthorityKeyProviderClientCertificate": "TrustAuthorityKeyProvider[]",  # 13.3
    "Get-TrustAuthorityKeyProviderClientCertificateCSR": "TrustAuthorityKeyProvider[]",  # B
    "Get-TrustAuthorityKeyProviderServerCertificate": "TrustAuthorityKeyProvider[]",  # 13.3
    "Set-TrustAuthorityKeyProviderClientCertificate": "TrustAuthorityKeyProvider[]",  # 13.3
    "Remove-TrustAuthorityKeyProvider": "TrustAuthorityKeyProvider[]",  # B
    "Add-TrustAuthorityKeyProviderServer": "TrustAuthorityKeyProvider",  # B
    "Export-TrustAuthorityKeyProviderClientCertificate": "TrustAuthorityKeyProvider",  # B
    "New-TrustAuthorityKeyProviderClientCertificate": "TrustAuthorityKeyProvider",  # 13.3
    "New-TrustAuthorityKeyProviderClientCertificateCSR": "TrustAuthorityKeyProvider",  # 13.3
    "Add-TrustAuthorityKeyProviderServerCertificate": "TrustAuthorityKeyProvider",  # B
    "Set-TrustAuthorityKeyProviderServerCertificate": "TrustAuthorityKeyProvider",  # 13.3
    "Set-TrustAuthorityKeyProvider": "TrustAuthorityKeyProvider",  # B
}


@pytest.mark.parametrize("cmdlet", sorted(KEY_PROVIDER_TYPES))
def test_key_provider_parameter_types_as_published(cmdlet: str) -> None:
    [spec] = [s for s in params_of(registry.lookup(cmdlet)) if s.name == "KeyProvider"]
    assert spec.type_name == KEY_PROVIDER_TYPES[cmdlet]


def test_key_provider_services_of_an_enabled_cluster_only_with_their_chain() -> None:
    """The page: "from the specified enabled Trust Authority cluster". TrustedCA is the
    service's X509Chain: the certificate itself, as Add-KeyProviderServiceInfo takes it."""
    world, _, run = _shell()
    [row] = world.call("Get-TrustAuthorityKeyProviderService").output
    [cert] = row["TrustedCA"]
    assert cert.der == crypto.cert_der(world.ta_cluster.members[0].attestd.certificate)
    assert row["TrustedCARawData"][0].startswith("-----BEGIN CERTIFICATE-----")
    assert run("Set-TrustAuthorityCluster -TrustAuthorityCluster (Get-TrustAuthorityCluster) "
               "-State Disabled -Confirm:$false").ok
    assert world.call("Get-TrustAuthorityKeyProviderService").output == []
