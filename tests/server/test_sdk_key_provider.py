"""The official SDK (vmware-vcenter 8.0.3.0) sets up a trusted key provider's trusted
connection against ``vtalab serve`` (issue 17, services of issue 11's key provider cmdlets):
create a provider with its KMIP server, read its status (nothing trusted), trust the
certificate the server presents, get a CSR, have the KMS CA sign it (the KMS
administrator's side, done here in-process with the lab's KMS CA), set the signed
certificate, and read the status again (connected, both trusts true); the credential and
a bad certificate go through the same services. Typed results at each step."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests

pytest.importorskip("com.vmware.vcenter.trusted_infrastructure_client")

from com.vmware.vapi.std.errors_client import InvalidArgument, NotFound  # noqa: E402
from com.vmware.vcenter.trusted_infrastructure.trust_authority_clusters.kms.providers.client_certificate_client import (  # noqa: E402, E501
    Csr,
)
from com.vmware.vcenter.trusted_infrastructure.trust_authority_clusters.kms.providers_client import (  # noqa: E402, E501
    ClientCertificate,
    Credential,
    CurrentPeerCertificates,
    TrustedPeerCertificates,
)
from com.vmware.vcenter.trusted_infrastructure.trust_authority_clusters.kms_client import (  # noqa: E402, E501
    Providers,
)
from com.vmware.vcenter.trusted_infrastructure_client import NetworkAddress  # noqa: E402
from vmware.vapi.lib.connect import get_requests_connector  # noqa: E402
from vmware.vapi.security.session import create_session_security_context  # noqa: E402
from vmware.vapi.stdlib.client.factories import StubConfigurationFactory  # noqa: E402

from vtalab.core import crypto  # noqa: E402
from vtalab.server import Served  # noqa: E402

CLUSTER = "domain-c8"


def _http(opened: list[requests.Session]) -> requests.Session:
    s = requests.Session()
    opened.append(s)
    s.trust_env = False
    return s


@pytest.fixture
def sdk(served: Served) -> Any:
    """The SDK's stub configuration, logged in (JSON-RPC over the served plain HTTP)."""
    opened: list[requests.Session] = []
    lab = served.lab
    r = _http(opened).post(served.ta_url + "/api/session", auth=(lab.user, lab.password))
    assert r.status_code == 201, r.text
    connector = get_requests_connector(session=_http(opened), msg_protocol="json",
                                       url=served.ta_url + "/api")
    connector.set_security_context(create_session_security_context(r.json()))
    yield StubConfigurationFactory.new_std_configuration(connector)
    for s in opened:
        s.close()


def test_trusted_connection_set_up_with_the_official_sdk(served: Served, sdk: Any) -> None:
    providers = Providers(sdk)
    kms = served.lab.world.kms
    address = kms.servers[0].address
    spec = Providers.CreateSpec(
        provider="kp-sdk", master_key_id=served.lab.world.kms_primary_key,
        key_server=Providers.KeyServerCreateSpec(
            type=Providers.KeyServerCreateSpec.Type.KMIP, description="from the SDK",
            proxy_server=NetworkAddress(hostname="proxy.lab.local", port=3128),
            connection_timeout=20,
            kmip_server=Providers.KmipServerCreateSpec(
                servers=[Providers.Server(name="kmip-a", address=NetworkAddress(
                    hostname=address, port=5696))], username="vtalab-kmxd")))
    assert providers.create_task(CLUSTER, spec).get_info().status == "SUCCEEDED"
    listed = {s.provider: s.health for s in providers.list_task(CLUSTER).get_result()}
    assert listed["kp-sdk"] == "ERROR" and listed["vTA-KeyProvider"] == "OK"

    info = providers.get_task(CLUSTER, "kp-sdk").get_result()
    assert info.key_server.kmip_server.username == "vtalab-kmxd"
    assert (info.key_server.description, info.key_server.proxy_server.hostname,
            info.key_server.proxy_server.port, info.key_server.connection_timeout) == (
        "from the SDK", "proxy.lab.local", 3128, 20)
    assert [s.name for s in info.key_server.kmip_server.servers] == ["kmip-a"]
    [server] = info.status.servers
    assert (server.name, server.client_trust_server, server.server_trust_client) == (
        "kmip-a", False, False)
    assert info.status.health == "ERROR" and server.details

    # kmxd sees the server's certificate, not yet trusted; trust it.
    [peer] = CurrentPeerCertificates(sdk).list_task(CLUSTER, "kp-sdk").get_result()
    assert peer.server_name == "kmip-a" and peer.trusted is False
    assert crypto.certs_from_pem(peer.certificate)
    trusted = TrustedPeerCertificates(sdk)
    update = TrustedPeerCertificates.UpdateSpec(certificates=[peer.certificate])
    assert trusted.update_task(CLUSTER, "kp-sdk", update).get_info().status == "SUCCEEDED"
    assert trusted.get_task(CLUSTER, "kp-sdk").get_result().certificates == [peer.certificate]
    [peer] = CurrentPeerCertificates(sdk).list_task(CLUSTER, "kp-sdk").get_result()
    assert peer.trusted is True

    # A CSR, signed by the KMS CA (the KMS administrator), becomes the client certificate.
    csrs = Csr(sdk)
    assert csrs.create_task(CLUSTER, "kp-sdk").get_info().status == "SUCCEEDED"
    csr_pem = csrs.get_task(CLUSTER, "kp-sdk").get_result().csr
    world = served.lab.world
    ca = crypto.cert_from_der(world.kms_identity.ca_certificate_der)
    ca_key = crypto.derive_private_key(world.seed, f"kms/{kms.name}/ca")
    now = world.kernel.utc()
    signed = crypto.sign_csr(crypto.csr_from_pem(csr_pem), ca, ca_key, now,
                             now + timedelta(days=30))
    signed_pem = crypto.cert_pem(signed).decode()
    certs = ClientCertificate(sdk)
    bad = certs.update_task(CLUSTER, "kp-sdk", ClientCertificate.UpdateSpec(
        certificate=crypto.cert_pem(ca).decode())).get_info()
    assert bad.status == "FAILED" and "pending CSR" in str(bad.error)
    assert certs.update_task(CLUSTER, "kp-sdk", ClientCertificate.UpdateSpec(
        certificate=signed_pem)).get_info().status == "SUCCEEDED"
    assert certs.get_task(CLUSTER, "kp-sdk").get_result().certificate == signed_pem

    info = providers.get_task(CLUSTER, "kp-sdk").get_result()
    [server] = info.status.servers
    assert (server.health, server.client_trust_server, server.server_trust_client) == (
        "OK", True, True)
    assert info.status.health == "OK"

    # A wrong KMIP password breaks it again, and the status says so.
    assert Credential(sdk).set_task(CLUSTER, "kp-sdk", "wrong").get_info().status == \
        "SUCCEEDED"
    info = providers.get_task(CLUSTER, "kp-sdk").get_result()
    assert info.status.health == "ERROR"
    assert "KMIP authentication failed" in info.status.servers[0].details[0].default_message

    # A self-signed client certificate: made by kmxd, then the KMS does not trust it.
    assert certs.create_task(CLUSTER, "kp-sdk").get_info().status == "SUCCEEDED"
    mine = crypto.certs_from_pem(certs.get_task(CLUSTER, "kp-sdk").get_result().certificate)
    assert mine[0].issuer == mine[0].subject


def test_key_provider_sub_services_refuse_bad_input(served: Served, sdk: Any) -> None:
    missing = ClientCertificate(sdk).get_task(CLUSTER, "no-such-provider").get_info()
    assert missing.status == "FAILED" and "no trusted key provider" in str(missing.error)
    none = Csr(sdk).get_task(CLUSTER, "vTA-KeyProvider").get_info()
    assert none.status == "FAILED" and "no certificate signing request" in str(none.error)
    with pytest.raises(InvalidArgument):
        ClientCertificate(sdk).update_task(CLUSTER, "vTA-KeyProvider",
                                           ClientCertificate.UpdateSpec(
                                               certificate="not a certificate"))
    with pytest.raises(NotFound):
        Credential(sdk).set_task(CLUSTER, "no-such-provider", "secret")


def test_update_replaces_the_kmip_servers_and_stores_the_key_server_settings(
        served: Served, sdk: Any) -> None:
    """``Providers.update`` with ``key_server.kmip_server`` replaces the provider's KMIP
    servers (and user name) on the TA hosts; description, proxy and timeout are stored as
    Set-TrustAuthorityKeyProvider stores them, in a separate call."""
    providers = Providers(sdk)
    address = served.lab.world.kms.servers[0].address
    before = providers.get_task(CLUSTER, "vTA-KeyProvider").get_result()
    assert len(before.key_server.kmip_server.servers) >= 1

    servers = [Providers.Server(name="kmip-a", address=NetworkAddress(hostname=address,
                                                                      port=5696)),
               Providers.Server(name="kmip-b", address=NetworkAddress(hostname=address,
                                                                      port=5697))]
    update = Providers.UpdateSpec(key_server=Providers.KeyServerUpdateSpec(
        type=Providers.KeyServerUpdateSpec.Type.KMIP,
        kmip_server=Providers.KmipServerUpdateSpec(servers=servers, username="kmxd-2")))
    assert providers.update_task(CLUSTER, "vTA-KeyProvider", update).get_info().status \
        == "SUCCEEDED"
    after = providers.get_task(CLUSTER, "vTA-KeyProvider").get_result()
    assert [(s.name, s.address.port) for s in after.key_server.kmip_server.servers] == \
        [("kmip-a", 5696), ("kmip-b", 5697)]
    assert after.key_server.kmip_server.username == "kmxd-2"

    # no servers at all: the task fails (a provider keeps at least one)
    empty = Providers.UpdateSpec(key_server=Providers.KeyServerUpdateSpec(
        type=Providers.KeyServerUpdateSpec.Type.KMIP,
        kmip_server=Providers.KmipServerUpdateSpec(servers=[])))
    assert providers.update_task(CLUSTER, "vTA-KeyProvider", empty).get_info().status \
        == "FAILED"
    # a proxy (stored, as Set-TrustAuthorityKeyProvider -ProxyAddress stores it) with the
    # servers in one call is refused, naming the fields; alone it is stored and reported
    both = Providers.UpdateSpec(key_server=Providers.KeyServerUpdateSpec(
        type=Providers.KeyServerUpdateSpec.Type.KMIP,
        proxy_server=NetworkAddress(hostname="proxy.lab.local", port=3128),
        kmip_server=Providers.KmipServerUpdateSpec(username="kmxd-3")))
    with pytest.raises(InvalidArgument) as refused:
        providers.update_task(CLUSTER, "vTA-KeyProvider", both)
    assert "proxy_server" in str(refused.value)
    still = providers.get_task(CLUSTER, "vTA-KeyProvider").get_result()
    assert [s.name for s in still.key_server.kmip_server.servers] == ["kmip-a", "kmip-b"]
    assert still.key_server.kmip_server.username == "kmxd-2"
    proxy = Providers.UpdateSpec(key_server=Providers.KeyServerUpdateSpec(
        proxy_server=NetworkAddress(hostname="proxy.lab.local", port=3128),
        connection_timeout=15))
    assert providers.update_task(CLUSTER, "vTA-KeyProvider", proxy).get_info().status \
        == "SUCCEEDED"
    got = providers.get_task(CLUSTER, "vTA-KeyProvider").get_result().key_server
    assert (got.proxy_server.hostname, got.proxy_server.port, got.connection_timeout) == (
        "proxy.lab.local", 3128, 15)
    assert [s.name for s in got.kmip_server.servers] == ["kmip-a", "kmip-b"]
