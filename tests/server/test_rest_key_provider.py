"""The key provider's trusted connection over the REST mapping with httpx (paths from the
SDK's rest metadata): create a provider, read the certificates its KMIP server presents,
trust one, make a self-signed client certificate, have the KMS trust it (lab verb), and
read the provider's status; bad input gets invalid_argument naming the field."""

from __future__ import annotations

from collections.abc import Callable

from servekit import TI, Rest

from vtalab.server import Served

KP = f"{TI}/trust-authority-clusters/domain-c8/kms/providers"


def test_trusted_connection_over_rest(served: Served, rest: Callable[[str], Rest]) -> None:
    api = rest("ta")
    world = served.lab.world
    spec = {"provider": "kp-rest", "master_key_id": world.kms_primary_key,
            "key_server": {"type": "KMIP", "kmip_server": {"servers": [
                {"name": "a", "address": {"hostname": world.kms.servers[0].address,
                                          "port": 5696}}]}}}
    r = api.request("POST", KP, json=spec)
    assert r.status_code in (200, 201, 204), r.text
    r = api.get(f"{KP}/kp-rest")
    assert r.status_code == 200, r.text
    status = r.json()["status"]
    assert status["health"] == "ERROR"
    assert status["servers"][0]["client_trust_server"] is False

    r = api.get(f"{KP}/kp-rest/peer-certs/current")
    assert r.status_code == 200, r.text
    [peer] = r.json()
    assert peer["server_name"] == "a" and peer["trusted"] is False
    r = api.request("PATCH", f"{KP}/kp-rest/peer-certs/trusted",
                    json={"certificates": [peer["certificate"]]})
    assert r.status_code in (200, 204), r.text
    assert api.get(f"{KP}/kp-rest/peer-certs/trusted").json() == {
        "certificates": [peer["certificate"]]}

    r = api.request("POST", f"{KP}/kp-rest/client-certificate")
    assert r.status_code in (200, 204), r.text
    pem = api.get(f"{KP}/kp-rest/client-certificate").json()["certificate"]
    assert pem.startswith("-----BEGIN CERTIFICATE-----")
    for verb, arguments in (
            ("Export-TrustAuthorityKeyProviderClientCertificate",
             {"key_provider": "kp-rest", "file": "kp-rest.pem"}),
            ("kms-trust-client-certificate", {"file": "kp-rest.pem"})):
        r = api.request("POST", "/api/vtalab/verbs", json={"verb": verb,
                                                          "arguments": arguments})
        assert r.status_code == 200, r.text
    status = api.get(f"{KP}/kp-rest").json()["status"]
    assert status["health"] == "OK"
    assert status["servers"][0]["server_trust_client"] is True

    r = api.request("PATCH", f"{KP}/kp-rest/client-certificate",
                    json={"certificate": "not a certificate"})
    assert r.status_code == 400, r.text
    assert "spec.certificate" in r.text
    r = api.request("POST", f"{KP}/kp-rest/client-certificate/csr")
    assert r.status_code in (200, 204), r.text
    assert "BEGIN CERTIFICATE REQUEST" in api.get(
        f"{KP}/kp-rest/client-certificate/csr").json()["csr"]
