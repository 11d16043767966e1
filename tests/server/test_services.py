"""Every served service once over REST: principals, TPM 2.0 CAs, EKs and settings, key
providers, service status, Trusted-cluster services and applied configuration, inventory.
Each change is checked through a second read (and the registry's Recent Tasks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from servekit import TI, Rest

from vtalab.core import crypto
from vtalab.server import Served

TAC = f"{TI}/trust-authority-clusters/domain-c8"


def _done(api: Rest, r: Any) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    info = api.task(r.json())
    return info


def test_ta_services(served: Served, rest: Callable[[str], Rest]) -> None:
    api = rest("ta")
    task = {"vmw-task": "true"}
    # Service status: attestd and kmxd run on the one TA host.
    for kind in ("attestation", "kms"):
        r = api.get(f"{TAC}/{kind}/service-status")
        assert r.status_code == 200 and r.json() == {"health": "OK", "details": []}

    # Consumer principals: the workload vCenter's, then removed and trusted again.
    r = api.request("POST", f"{TAC}/consumer-principals", params={"action": "query"}, json={})
    principals = r.json()
    assert [p["issuer"] for p in principals] == ["vcsa-wld.lab.local"]
    info = api.get(f"{TAC}/consumer-principals/vcsa-wld.lab.local").json()
    pem = info["certificates"][0]["cert_chain"][0]
    assert pem.startswith("-----BEGIN CERTIFICATE-----") and info["health"] == "OK"
    wl_principal = rest("workload").get(f"{TI}/principal").json()
    assert wl_principal["certificates"][0]["cert_chain"] == [pem]
    r = api.request("DELETE", f"{TAC}/consumer-principals/vcsa-wld.lab.local", params=task)
    assert _done(api, r)["status"] == "SUCCEEDED"
    assert api.request("POST", f"{TAC}/consumer-principals", params={"action": "query"},
                       json={}).json() == []
    spec = {"certificates": [{"cert_chain": [pem]}], "issuer_alias": "vcsa-wld.lab.local",
            "issuer": "vcsa-wld.lab.local", "principal": {
                "id": {"name": "vpxd-extension", "domain": "vsphere.local"}, "type": "STS_USER"}}
    info = _done(api, api.request("POST", f"{TAC}/consumer-principals", params=task, json=spec))
    assert info["status"] == "SUCCEEDED" and info["result"] == "vcsa-wld.lab.local"
    bad = dict(spec, certificates=[{"cert_chain": ["not a certificate"]}])
    r = api.request("POST", f"{TAC}/consumer-principals", json=bad)
    assert r.status_code == 400 and "cert_chain[0]" in r.json()["messages"][0][
        "default_message"]

    # TPM 2.0 CA certificates and endorsement keys.
    cas = api.get(f"{TAC}/attestation/tpm2/ca-certificates").json()
    assert cas == [{"name": "Infineon", "health": "OK"}]
    ca = api.get(f"{TAC}/attestation/tpm2/ca-certificates/Infineon").json()
    chain = ca["cert_chain"]["cert_chain"]
    assert _done(api, api.request("DELETE", f"{TAC}/attestation/tpm2/ca-certificates/Infineon",
                                  params=task))["status"] == "SUCCEEDED"
    info = _done(api, api.request("POST", f"{TAC}/attestation/tpm2/ca-certificates",
                                  params=task, json={"name": "Vendor-B",
                                                     "cert_chain": {"cert_chain": chain}}))
    assert info["status"] == "SUCCEEDED"
    assert [c["name"] for c in api.get(f"{TAC}/attestation/tpm2/ca-certificates").json()] \
        == ["Vendor-B"]
    r = api.get(f"{TAC}/attestation/tpm2/ca-certificates/Infineon")
    assert r.status_code == 404
    assert api.get(f"{TAC}/attestation/tpm2/endorsement-keys").json() == []
    ek = crypto.public_pem(served.lab.world.hosts["esx-01"].tpm.ek).decode()
    info = _done(api, api.request("POST", f"{TAC}/attestation/tpm2/endorsement-keys",
                                  params=task, json={"name": "esx-01", "public_key": ek}))
    assert info["status"] == "SUCCEEDED"
    got = api.get(f"{TAC}/attestation/tpm2/endorsement-keys/esx-01").json()
    assert got["public_key"] == ek
    r = api.request("POST", f"{TAC}/attestation/tpm2/endorsement-keys",
                    json={"name": "x", "public_key": "nope"})
    assert r.status_code == 400 and "spec.public_key" in r.json()["messages"][0][
        "default_message"]

    # TPM 2.0 settings.
    settings = api.get(f"{TAC}/attestation/tpm2/settings").json()
    assert settings["require_certificate_validation"] is True
    info = _done(api, api.request("PATCH", f"{TAC}/attestation/tpm2/settings", params=task,
                                  json={"require_endorsement_keys": True}))
    assert info["status"] == "SUCCEEDED"
    assert api.get(f"{TAC}/attestation/tpm2/settings").json()[
        "require_endorsement_keys"] is True

    # Key providers.
    providers = api.get(f"{TAC}/kms/providers").json()
    assert providers == [{"provider": "vTA-KeyProvider", "health": "OK"}]
    kp = api.get(f"{TAC}/kms/providers/vTA-KeyProvider").json()
    assert kp["key_server"]["kmip_server"]["servers"][0]["address"]["port"] == 5696
    assert kp["status"]["servers"][0]["health"] == "OK"
    assert kp["key_server"]["description"] == ""
    assert "proxy_server" not in kp["key_server"]  # unset optionals are left out
    r = api.request("PATCH", f"{TAC}/kms/providers/vTA-KeyProvider", params=task,
                    json={"master_key_id": kp["master_key_id"],
                          "key_server": {"description": "production keys"}})
    assert _done(api, r)["status"] == "SUCCEEDED"
    # what Set-TrustAuthorityKeyProvider -Description stored, the vAPI reports
    kp = api.get(f"{TAC}/kms/providers/vTA-KeyProvider").json()
    assert kp["key_server"]["description"] == "production keys"
    assert api.get(f"{TAC}/kms/providers/nope").status_code == 404
    r = api.request("PATCH", f"{TI}/trust-authority-clusters/domain-c8", params=task,
                    json={"state": "DISABLE"})
    assert _done(api, r)["status"] == "SUCCEEDED"
    assert api.get(f"{TI}/trust-authority-clusters/domain-c8").json()["state"] == "DISABLE"
    names = [t["name"] for t in api.get("/api/vtalab/recent-tasks").json()]
    for expected in ("Remove Trust Authority principal", "Add TPM 2.0 CA certificate",
                     "Update TPM 2.0 attestation settings", "Update trusted key provider",
                     "Update Trust Authority cluster state"):
        assert expected in names


def test_workload_services(served: Served, rest: Callable[[str], Rest]) -> None:
    wl = rest("workload")
    task = {"vmw-task": "true"}
    base = f"{TI}/trusted-clusters/domain-c10"
    services = wl.request("POST", f"{base}/attestation/services", params={"action": "query"},
                          json={}).json()
    assert services == [{"service": "ta-esx-01:attestd", "address": {
        "hostname": "ta-esx-01", "port": 443}, "group": "vTA-group",
        "trust_authority_cluster": "vTA Cluster"}]
    got = wl.get(f"{base}/kms/services/ta-esx-01:kmxd").json()
    assert got["address"]["hostname"] == "ta-esx-01"
    assert wl.get(f"{base}/kms/services/nope").status_code == 404
    # Remove the attestation service from the desired configuration: drift until remediated.
    r = wl.request("DELETE", f"{base}/attestation/services/ta-esx-01:attestd", params=task)
    assert _done(wl, r)["status"] == "SUCCEEDED"
    assert wl.get(f"{base}/services-applied-config").json()["health"] == "ERROR"
    info = _done(wl, wl.request("POST", f"{base}/attestation/services", params=task,
                                json={"type": "CLUSTER"}))
    assert info["status"] == "SUCCEEDED" and info["result"] == "ta-esx-01:attestd"
    # (The world compares desired and applied in order: re-adding a removed service is
    # drift until the next remediation.)
    assert _done(wl, wl.request("PATCH", f"{base}/services-applied-config",
                                params=task))["status"] == "SUCCEEDED"
    assert wl.get(f"{base}/services-applied-config").json()["health"] == "OK"
    # Delete the applied configuration; remediate re-applies it.
    assert _done(wl, wl.request("DELETE", f"{base}/services-applied-config",
                                params=task))["status"] == "SUCCEEDED"
    health = wl.get(f"{base}/services-applied-config").json()
    assert health["health"] == "ERROR" and len(health["details"]) == 2
    assert _done(wl, wl.request("PATCH", f"{base}/services-applied-config",
                                params=task))["status"] == "SUCCEEDED"
    assert wl.get(f"{base}/services-applied-config").json()["health"] == "OK"
    # Inventory: hosts of each vCenter, VMs with power state and filters.
    ta_hosts = rest("ta").get("/api/vcenter/host").json()
    assert [h["name"] for h in ta_hosts] == ["ta-esx-01"]
    hosts = wl.get("/api/vcenter/host", params={"names": "esx-02"}).json()
    assert hosts == [{"host": "host-23", "name": "esx-02", "connection_state": "CONNECTED",
                      "power_state": "POWERED_ON"}]
    # db01 is powering on: the clock stands at T=0 and a power-on takes 5 simulated s.
    vms = wl.get("/api/vcenter/vm", params={"power_states": "POWERED_OFF"}).json()
    assert vms == [{"vm": "vm-101", "name": "db01", "power_state": "POWERED_OFF"}]
    wl.advance("10s")
    assert wl.get("/api/vcenter/vm", params={"power_states": "POWERED_OFF"}).json() == []
    assert rest("ta").get("/api/vcenter/vm").status_code == 404  # the TA vCenter has no VMs


def test_per_service_applied_config_and_single_service_create(
        served: Served, rest: Callable[[str], Rest]) -> None:
    """``trusted_clusters.attestation/kms.services_applied_config`` (list with a filter,
    get by address, update = remediate one kind, delete one kind) and ``services``
    create with type SERVICE, over REST; the other kind is left as it was each time."""
    wl = rest("workload")
    task = {"vmw-task": "true"}
    base = f"{TI}/trusted-clusters/domain-c10"
    att, kms = f"{base}/attestation/services-applied-config", \
        f"{base}/kms/services-applied-config"
    addr = {"address.hostname": "ta-esx-01", "address.port": "443"}

    def listed(path: str, spec: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        info = _done(wl, wl.request("POST", path, params={"action": "query", **task},
                                    json=spec or {}))
        assert info["status"] == "SUCCEEDED", info
        return list(info["result"])

    ok = {"health": "OK", "address": {"hostname": "ta-esx-01", "port": 443}}
    assert listed(att) == [{**ok, "service": "ta-esx-01:attestd"}]
    assert listed(kms) == [{**ok, "service": "ta-esx-01:kmxd"}]
    got = wl.get(att, params=addr).json()
    assert got == {**ok, "service": "ta-esx-01:attestd", "groups": [], "trustedc_as": [],
                   "details": []}
    r = wl.get(att, params={"address.hostname": "nowhere"})
    assert r.status_code == 404 and "ta-esx-01" in r.text  # names what there is
    # Delete only the applied attestation services: that kind drifts, the KMS one not.
    assert _done(wl, wl.request("DELETE", att, params=task))["status"] == "SUCCEEDED"
    assert listed(att, {"health": ["ERROR"]}) == [{**ok, "health": "ERROR",
                                                   "service": "ta-esx-01:attestd"}]
    assert listed(att, {"health": ["OK"]}) == []
    assert listed(kms) == [{**ok, "service": "ta-esx-01:kmxd"}]
    got = wl.get(att, params=addr).json()
    assert got["health"] == "ERROR" and [d["args"][0] for d in got["details"]] == [
        "esx-01", "esx-02"]
    assert wl.get(f"{base}/services-applied-config").json()["health"] == "ERROR"
    # Remediating the KMS kind does not fix attestation; remediating attestation does.
    assert _done(wl, wl.request("PATCH", kms, params=task))["status"] == "SUCCEEDED"
    assert wl.get(att, params=addr).json()["health"] == "ERROR"
    assert _done(wl, wl.request("PATCH", att, params=task))["status"] == "SUCCEEDED"
    assert wl.get(att, params=addr).json()["health"] == "OK"
    assert wl.get(f"{base}/services-applied-config").json()["health"] == "OK"
    # The tasks ran the registry's verbs: they are in the workload vCenter's Recent Tasks.
    names = [t["name"] for t in wl.get("/api/vtalab/recent-tasks").json()]
    assert "Delete Trusted cluster attestation applied configuration" in names
    assert "Update Trusted cluster key provider applied configuration" in names
    # Single-service create (type SERVICE): remove the KMS service, add it back by id.
    kms_services = f"{base}/kms/services"
    r = wl.request("DELETE", f"{kms_services}/ta-esx-01:kmxd", params=task)
    assert _done(wl, r)["status"] == "SUCCEEDED"
    assert wl.request("POST", kms_services, params={"action": "query"}, json={}).json() == []
    r = wl.request("POST", kms_services, params=task, json={"type": "SERVICE"})
    assert r.status_code == 400 and "spec.service" in r.text
    r = wl.request("POST", kms_services, params=task,
                   json={"type": "SERVICE", "service": "ta-esx-09:kmxd"})
    assert r.status_code == 404 and "ta-esx-01:kmxd" in r.text
    info = _done(wl, wl.request("POST", kms_services, params=task,
                                json={"type": "SERVICE", "service": "ta-esx-01:kmxd"}))
    assert info["status"] == "SUCCEEDED" and info["result"] == "ta-esx-01:kmxd", info
    assert [s["service"] for s in wl.request(
        "POST", kms_services, params={"action": "query"}, json={}).json()] == ["ta-esx-01:kmxd"]
