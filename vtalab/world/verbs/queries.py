"""Reads the vSphere Automation API makes that no PowerCLI cmdlet shows.

``Get-TrustAuthorityVMHostBaseImage`` has no last-attested time (only the REST/vAPI
base-images API has ``last_attested_time``), PowerCLI's ``Get-VM`` is the training shell's
``vms`` view, and the key provider and service-info reads of the API return structures no
single cmdlet prints. These lab verbs return plain values (not PowerCLI tables) so the API
server (``vtalab serve``), scenarios and the training shell read the same facts from one
place. They change nothing in the world.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from vtalab.core import crypto
from vtalab.world.registry import Args, Outcome, verb
from vtalab.world.verbs.workload import TrustedClusterArgs

if TYPE_CHECKING:
    from vtalab.world.assembly import World

__all__: list[str] = []

API = "vSphere Automation API (vmware-vcenter 8.0.3.0)"


@verb("list-base-images", kind="lab", summary="The trusted base images as the TA vCenter's "
      "API lists them: version, display name, health and last attested time (simulated "
      "seconds).", side="ta", source=API + ": base_images Info.last_attested_time")
def list_base_images(world: World, a: Args) -> Outcome:
    return Outcome(True, output=world.base_images())


@verb("list-vms", kind="lab", summary="The VMs of the workload vCenter: host and power state "
      "(vcenter.VM list).", side="workload", source=API + ": vcenter.VM")
def list_vms(world: World, a: Args) -> Outcome:
    return Outcome(True, output=[{"name": n, "host": v.host, "power_state": v.power_state}
                                 for n, v in world.vms.items()])


@verb("list-key-providers", kind="lab", summary="The trusted key providers: primary key, "
      "KMIP servers and their connection status, health.", side="ta",
      source=API + ": trust_authority_clusters.kms.providers")
def list_key_providers(world: World, a: Args) -> Outcome:
    health = world.ta_cluster.health("key_providers")
    members = world.ta_cluster.members
    reachable = world.ta_cluster.reachable_members()
    status: dict[str, list[Any]] = {}
    if reachable:
        for s in reachable[0].kmxd.status(world.kms, world.kernel.utc()):
            status.setdefault(s.provider, []).append(s)
    rows: dict[str, dict[str, Any]] = {}
    for member in members:
        for name, p in member.kmxd.providers.items():
            if name in rows:
                continue
            servers = [{"name": s.server, "address": s.address, "port": s.port,
                        "status": s.status.value, "message": s.message,
                        "client_trust_server": s.client_trust_server,
                        "server_trust_client": s.server_trust_client}
                       for s in status.get(name, [])]
            connected = sum(s["status"] == "CONNECTED" for s in servers)
            # the provider's connection health (vAPI status.health): every KMIP server
            # connected, some, or none [assumed: vCenter's rule is not published]
            connection = ("NONE" if not servers else "OK" if connected == len(servers)
                          else "WARNING" if connected else "ERROR")
            rows[name] = {
                "name": name, "primary_key_id": p.primary_key_id, "health": health,
                "status_health": connection, "username": p.username,
                "servers": servers, "description": p.description,
                "proxy_address": p.proxy_address, "proxy_port": p.proxy_port,
                "connection_timeout_seconds": p.connection_timeout_seconds, "type": p.type}
    return Outcome(True, output=list(rows.values()))


class ServiceInfoArgs(TrustedClusterArgs):
    kind: Literal["attestation", "key_provider"] = Field(
        description="attestation or key_provider services")


@verb("list-trusted-services", kind="lab", summary="The attestation or key provider services "
      "in a Trusted cluster's desired configuration.", args=ServiceInfoArgs,
      side="workload", source=API + ": trusted_clusters.attestation.services")
def list_trusted_services(world: World, a: ServiceInfoArgs) -> Outcome:
    cluster = world.trusted_cluster(a.cluster)
    return Outcome(True, output=[
        {"name": s.name, "address": s.address, "group": s.group,
         "trust_authority_cluster": world.ta_cluster.name}
        for s in cluster.desired if s.kind == a.kind])


@verb("list-applied-services", kind="lab", summary="Per attestation or key provider "
      "service of a Trusted cluster: whether its hosts applied it as desired (OK/ERROR), the "
      "hosts that differ and the groups they carry.", args=ServiceInfoArgs,
      side="workload", source=API + ": trusted_clusters.attestation.services_applied_config")
def list_applied_services(world: World, a: ServiceInfoArgs) -> Outcome:
    return Outcome(True, output=world.trusted_cluster(a.cluster).applied_services(a.kind))


class TrustObjectArgs(Args):
    kind: Literal["principals", "tpm2_ca_certificates", "tpm2_endorsement_keys",
                  "tpm2_settings"] = Field(description="Which objects of the TA cluster.")


_TABLES = {"principals": "principals", "tpm2_ca_certificates": "tpm_ca_certificates",
           "tpm2_endorsement_keys": "endorsement_keys"}


@verb("list-trust-objects", kind="lab", summary="The TA cluster's principals, TPM CA "
      "certificates, endorsement keys (PEM) or TPM 2.0 settings, with their health.",
      args=TrustObjectArgs, side="ta",
      source=API + ": trust_authority_clusters.consumer_principals, attestation.tpm2")
def list_trust_objects(world: World, a: TrustObjectArgs) -> Outcome:
    health = world.ta_cluster.health(a.kind)
    members = world.ta_cluster.members
    if a.kind == "tpm2_settings":
        s = members[0].config.settings if members else None
        return Outcome(True, output=[] if s is None else [{
            "require_endorsement_keys": s.require_endorsement_keys,
            "require_certificate_validation": s.require_certificate_validation,
            "health": health}])
    found: dict[str, Any] = {}
    for member in members:
        for key, value in getattr(member.config, _TABLES[a.kind]).items():
            found.setdefault(key, value)
    rows: list[dict[str, Any]] = []
    for name, value in found.items():
        row: dict[str, Any] = {"name": name, "health": health}
        if a.kind == "principals":
            row["issuer"] = value.issuer
            row["certificates_pem"] = [crypto.cert_pem(crypto.cert_from_der(d)).decode()
                                       for d in value.certificates_der]
        elif a.kind == "tpm2_ca_certificates":
            row["certificates_pem"] = [crypto.cert_pem(crypto.cert_from_der(value)).decode()]
        else:
            row["public_key_pem"] = crypto.public_pem(crypto.public_from_der(value)).decode()
        rows.append(row)
    return Outcome(True, output=rows)
