"""A trusted key provider's trusted connection with its KMIP servers (issues 11 and 17).

A new provider trusts no KMIP server and has no client certificate, so key requests fail
with a value (``kms_auth_failed``) until the operator sets the trust up: each way the
vSphere Security guide describes (self-signed certificate uploaded to the KMS, a CSR the
KMS signs, a certificate and key the KMS issued) is driven through the registry verbs and
checked with real X.509.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from vtalab import World
from vtalab.core import crypto
from vtalab.errors import InputError
from vtalab.world.topology import (
    KmsSpec,
    TaClusterSpec,
    TaHostSpec,
    Topology,
    TrustedClusterSpec,
    TrustedHostSpec,
    VmSpec,
)

KP = "vTA-KeyProvider"


def _world(configured: bool = True, seed: int = 5) -> World:
    topology = Topology(
        kms=KmsSpec(servers=["kms-01.lab.local", "kms-02.lab.local"]),
        ta_cluster=TaClusterSpec(hosts=[TaHostSpec(name="ta-esx-01")]),
        trusted_clusters=[TrustedClusterSpec(hosts=[TrustedHostSpec(name="esx-01")],
                                             vms=[VmSpec(name="db01", host="esx-01",
                                                         encrypted=True, powered_on=False)])])
    world = World(topology, seed=seed)
    world.run(60)
    return world


def _fresh(world: World, name: str = "kp2") -> None:
    """A second provider, created the way New-TrustAuthorityKeyProvider creates one."""
    assert world.call("New-TrustAuthorityKeyProvider", name=name,
                      kmip_server_address="kms-01.lab.local").ok


def _servers(world: World, name: str = "kp2") -> list[dict[str, Any]]:
    [row] = [r for r in world.call("list-key-providers").output if r["name"] == name]
    return list(row["servers"])


def _status(world: World, name: str = "kp2") -> str:
    """The provider's Status.Health (TrustAuthorityKeyProviderStatus) and its details."""
    [row] = [r for r in world.call("Get-TrustAuthorityKeyProvider").output
             if r["Name"] == name]
    return " ".join([row["Status"]["Health"], *row["Status"]["HealthDetails"]])


def _release(world: World, name: str = "kp2") -> Any:
    th = world.ta_cluster.members[0]
    provider = th.kmxd.providers[name]
    return world.kms.get_key(provider.primary_key_id, username=provider.username,
                             password=provider.password,
                             client_cert_der=provider.client_certificate_der,
                             now=world.kernel.utc(),
                             trusted_server_certs_der=provider.trusted_server_certificates_der,
                             endpoints=[s.endpoint for s in provider.servers])


def test_a_new_provider_trusts_nothing_and_its_status_says_so() -> None:
    world = _world()
    _fresh(world)
    [server] = _servers(world)
    assert server["status"] == "AUTH_FAILED"
    assert server["client_trust_server"] is False and server["server_trust_client"] is False
    assert _status(world).startswith("Error")
    result = _release(world)
    assert not result.ok and result.reason.value == "kms_auth_failed"
    assert "not trusted by the client" in result.message
    # the lab's own provider, set up by the documented procedure, is connected
    assert _status(world, KP) == "Ok"


def test_self_signed_client_certificate_uploaded_to_the_kms() -> None:
    world = _world()
    _fresh(world)
    assert world.call("Add-TrustAuthorityKeyProviderServerCertificate", key_provider="kp2",
                      server="kms-cluster-01").ok
    assert _servers(world)[0]["client_trust_server"] is True
    assert "presented no certificate" in _release(world).message
    out = world.call("New-TrustAuthorityKeyProviderClientCertificate", key_provider="kp2")
    assert out.ok and out.output[0]["Subject"] == "O=vtalab Trust Authority,CN=kp2-kmxd"
    [shown] = world.call("Get-TrustAuthorityKeyProviderClientCertificate",
                         key_provider="kp2").output
    assert shown["Issuer"] == shown["Subject"]  # self-signed
    assert "not trusted by the KMS" in _release(world).message
    assert world.call("Export-TrustAuthorityKeyProviderClientCertificate", key_provider="kp2",
                      file="kp2.pem").ok
    with pytest.raises(InputError, match="-Force"):
        world.call("Export-TrustAuthorityKeyProviderClientCertificate", key_provider="kp2",
                   file="kp2.pem")
    assert world.call("kms-trust-client-certificate", file="kp2.pem").ok
    assert _release(world).ok
    [server] = _servers(world)
    assert (server["status"], server["client_trust_server"],
            server["server_trust_client"]) == ("CONNECTED", True, True)


def test_a_csr_signed_by_the_kms_ca() -> None:
    world = _world()
    _fresh(world)
    pem = world.call("New-TrustAuthorityKeyProviderClientCertificateCSR",
                     key_provider="kp2").output[0]
    assert pem.startswith("-----BEGIN CERTIFICATE REQUEST-----")
    assert world.call("Get-TrustAuthorityKeyProviderClientCertificateCSR", key_provider="kp2",
                      file="kp2.csr").output == [pem]
    assert world.call("kms-sign-csr", file="kp2.csr", out="kp2.pem").ok
    # a certificate that answers no CSR of this provider is refused, naming the file
    assert world.call("kms-issue-client-certificate", file="other.pem", key_file="other.key").ok
    with pytest.raises(InputError, match="pending CSR"):
        world.call("Set-TrustAuthorityKeyProviderClientCertificate", key_provider="kp2",
                   certificate="other.pem")
    assert world.call("Set-TrustAuthorityKeyProviderClientCertificate", key_provider="kp2",
                      certificate="kp2.pem").ok
    assert world.call("Get-TrustAuthorityKeyProviderClientCertificateCSR",
                      key_provider="kp2").output == []  # the CSR is answered
    assert world.call("kms-export-ca-certificate", file="ca.pem").ok
    assert world.call("Add-TrustAuthorityKeyProviderServerCertificate", key_provider="kp2",
                      file="ca.pem").ok
    assert _release(world).ok
    cert = crypto.cert_from_der(world.ta_cluster.members[0].kmxd.providers["kp2"]
                                .client_certificate_der)
    ca = crypto.cert_from_der(world.kms_identity.ca_certificate_der)
    assert crypto.chain_problem(cert, [ca], world.kernel.utc()) is None


def test_a_certificate_and_key_the_kms_issued_must_belong_together() -> None:
    world = _world()
    _fresh(world)
    world.call("kms-issue-client-certificate", file="c.pem", key_file="c.key")
    world.files["wrong.key"] = ("private-key", crypto.private_pem(
        crypto.derive_private_key(1, "not-it")).decode())
    with pytest.raises(InputError, match="does not belong"):
        world.call("Set-TrustAuthorityKeyProviderClientCertificate", key_provider="kp2",
                   certificate="c.pem", private_key="wrong.key")
    assert world.call("Set-TrustAuthorityKeyProviderClientCertificate", key_provider="kp2",
                      certificate="c.pem", private_key="c.key").ok


def test_kmip_servers_added_and_removed() -> None:
    world = _world()
    _fresh(world)
    out = world.call("Add-TrustAuthorityKeyProviderServer", key_provider="kp2",
                     address="kms-02.lab.local", name="second")
    assert out.ok and out.output[0]["Name"] == "second" and out.output[0]["Port"] == 5696
    assert world.call("Add-TrustAuthorityKeyProviderServer", key_provider="kp2",
                      address="kms-09.lab.local").ok  # nobody answers there
    rows = world.call("Get-TrustAuthorityKeyProviderServer", key_provider="kp2").output
    assert [r["Name"] for r in rows] == ["kms-cluster-01", "second", "kms-09.lab.local"]
    assert [s["status"] for s in _servers(world)][2] == "UNREACHABLE"
    with pytest.raises(InputError, match="already has a KMIP server"):
        world.call("Add-TrustAuthorityKeyProviderServer", key_provider="kp2",
                   address="kms-02.lab.local", name="again")
    assert world.call("Remove-TrustAuthorityKeyProviderServer", key_provider="kp2",
                      server="kms-09.lab.local").ok
    assert world.call("Remove-TrustAuthorityKeyProviderServer", key_provider="kp2",
                      server="second").ok
    with pytest.raises(InputError, match="needs at least one"):
        world.call("Remove-TrustAuthorityKeyProviderServer", key_provider="kp2",
                   server="kms-cluster-01")


def test_replaced_server_certificate_fails_key_requests_until_trusted() -> None:
    world = _world()
    rows = world.call("Get-TrustAuthorityKeyProviderServerCertificate").output
    assert [(r["KeyProviderServerId"], r["Trusted"]) for r in rows] == [
        ("kms-cluster-01", True), ("kms-cluster-02", True)]
    assert world.call("kms-server-certificate-replaced", server="kms-cluster-01").ok
    rows = world.call("Get-TrustAuthorityKeyProviderServerCertificate").output
    assert [r["Trusted"] for r in rows] == [False, True]
    assert _release(world, KP).ok  # the second server still answers
    assert world.call("kms-server-certificate-replaced", server="kms-cluster-02").ok
    assert _status(world, KP).startswith("Error")
    failed = _release(world, KP)
    assert not failed.ok and failed.reason.value == "kms_auth_failed"
    assert world.call("Add-TrustAuthorityKeyProviderServerCertificate",
                      server="kms-cluster-02").ok
    assert [s["status"] for s in _servers(world, KP)] == ["AUTH_FAILED", "CONNECTED"]
    assert world.call("Remove-TrustAuthorityKeyProviderServerCertificate",
                      server="kms-cluster-02").ok
    with pytest.raises(InputError, match="not in key provider"):
        world.call("Remove-TrustAuthorityKeyProviderServerCertificate", server="kms-cluster-02")
    assert _status(world, KP).startswith("Error")


def test_the_same_seed_makes_the_same_certificates() -> None:
    made = []
    for _ in range(2):
        world = _world(seed=9)
        _fresh(world)
        world.call("New-TrustAuthorityKeyProviderClientCertificate", key_provider="kp2")
        csr = world.call("New-TrustAuthorityKeyProviderClientCertificateCSR",
                         key_provider="kp2").output[0]
        made.append((world.ta_cluster.members[0].kmxd.providers["kp2"].client_certificate_der,
                     csr))
    assert made[0] == made[1]


def test_provider_record_never_holds_a_private_key() -> None:
    world = _world()
    provider = world.ta_cluster.members[0].kmxd.providers[KP]
    assert provider.client_private_key is not None
    text = repr(provider) + repr(provider.record())
    assert "PRIVATE KEY" not in text and "private_key" not in text


def test_an_expired_client_certificate_fails_with_its_vcenter_event(do, event_ids) -> None:
    """A client certificate the KMS CA issued for two hours: after it expires, power-on of
    an encrypted VM fails with kms_certificate_expired and vCenter posts
    KMSClientCertExpirationEvent; the provider's status is CERT_EXPIRED."""
    world = _world()
    ca = crypto.cert_from_der(world.kms_identity.ca_certificate_der)
    ca_key = crypto.derive_private_key(world.seed, f"kms/{world.kms.name}/ca")
    key = crypto.derive_private_key(world.seed, "test/short-lived")
    now = world.kernel.utc()
    cert = crypto.issue_certificate("short-lived", key, ca, ca_key, now,
                                    now + timedelta(hours=2))
    world.files["short.pem"] = ("certificate", crypto.cert_der(cert))
    world.files["short.key"] = ("private-key", crypto.private_pem(key).decode())
    assert world.call("Set-TrustAuthorityKeyProviderClientCertificate", certificate="short.pem",
                      private_key="short.key").ok
    assert _status(world, KP) == "Ok"
    world.run(world.kernel.now + 3 * 3600)
    assert _status(world, KP).startswith("Error") and "expired" in _status(world, KP)
    out = do(world, "Start-VM", vm="db01")
    assert not out.ok and out.error == "kms_certificate_expired"
    assert "com.vmware.vc.TrustAuthority.KMSClientCertExpirationEvent" in event_ids(world, KP)
