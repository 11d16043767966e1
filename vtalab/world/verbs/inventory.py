"""The rest of the PowerCLI vocabulary: listing and removing vTA objects.

The other modules hold the cmdlets that *create* and *change* (and the lab verbs); this one
adds their ``Get-*`` / ``Remove-*`` / ``Set-*`` counterparts from the
VMware.VimAutomation.Security module (vta-domain.md §9), into the same registry.
Removals are applied to every reachable TA host, like additions, so a removal on a
partly-down cluster leaves health inconsistent until it is repeated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from vtalab.core import crypto
from vtalab.errors import InputError
from vtalab.world.objects import make
from vtalab.world.registry import Args, Outcome, verb
from vtalab.world.verbs.common import DOC, _ta_task
from vtalab.world.verbs.workload import TrustedClusterArgs

if TYPE_CHECKING:
    from vtalab.domain.ta_cluster import TaHost
    from vtalab.world.assembly import World


__all__: list[str] = []


class NameArgs(Args):
    name: str = Field(description="Name of the object (as Get-* lists it).")


def _objects(world: World, table: str) -> dict[str, Any]:
    """Every named object of one kind on the TA hosts (the first member's copy of each)."""
    found: dict[str, Any] = {}
    for member in world.ta_cluster.members:
        for key, value in getattr(member.config, table).items():
            found.setdefault(key, value)
    return found


def _names(world: World, table: str) -> list[str]:
    return list(_objects(world, table))


def _remove_named(world: World, table: str, name: str, task: str, what: str) -> Outcome:
    names = _names(world, table)
    if name not in names:
        raise InputError(f"no {what} {name!r}", what=what, value=name, choices=names)

    def apply(h: TaHost) -> bool:
        return getattr(h.config, table).pop(name, None) is not None

    return _ta_task(world, task, name, world.ta_cluster.apply(apply), f"removal of {what} {name}")


@verb("Get-TrustAuthorityPrincipal", summary="List the trusted workload vCenter principals.",
      side="ta", source=DOC)
def get_principals(world: World, a: Args) -> Outcome:
    rows = []
    for name, principal in _objects(world, "principals").items():
        rows.append({"Name": name, "Certificates": len(principal.certificates_der),
                     "Health": world.ta_cluster.health("principals")})
    return Outcome(True, output=rows)


@verb("Remove-TrustAuthorityPrincipal", summary="Stop trusting a workload vCenter principal.",
      args=NameArgs, side="ta", source=DOC)
def remove_principal(world: World, a: NameArgs) -> Outcome:
    return _remove_named(world, "principals", a.name, "Remove Trust Authority principal",
                         "principal")


@verb("Get-TrustAuthorityTpm2CACertificate", summary="List the trusted TPM CA certificates.",
      side="ta", source=DOC)
def get_tpm_cas(world: World, a: Args) -> Outcome:
    rows = []
    for name, der in _objects(world, "tpm_ca_certificates").items():
        cert = crypto.cert_from_der(der)
        rows.append({"Name": name, "Subject": cert.subject.rfc4514_string(),
                     "NotAfter": cert.not_valid_after_utc.isoformat(),
                     "Health": world.ta_cluster.health("tpm2_ca_certificates")})
    return Outcome(True, output=rows)


@verb("Remove-TrustAuthorityTpm2CACertificate", summary="Stop trusting a TPM CA certificate.",
      args=NameArgs, side="ta", source=DOC)
def remove_tpm_ca(world: World, a: NameArgs) -> Outcome:
    return _remove_named(world, "tpm_ca_certificates", a.name,
                         "Remove TPM 2.0 CA certificate", "TPM CA certificate")


@verb("Get-TrustAuthorityTpm2EndorsementKey", summary="List the trusted TPM endorsement keys.",
      side="ta", source=DOC)
def get_eks(world: World, a: Args) -> Outcome:
    rows = []
    for name, der in _objects(world, "endorsement_keys").items():
        rows.append({"Name": name, "KeyId": crypto.key_id(crypto.public_from_der(der)),
                     "Health": world.ta_cluster.health("tpm2_endorsement_keys")})
    return Outcome(True, output=rows)


@verb("Remove-TrustAuthorityTpm2EndorsementKey", summary="Stop trusting a TPM endorsement key.",
      args=NameArgs, side="ta", source=DOC)
def remove_ek(world: World, a: NameArgs) -> Outcome:
    return _remove_named(world, "endorsement_keys", a.name, "Remove TPM 2.0 endorsement key",
                         "endorsement key")


@verb("Get-TrustAuthorityKeyProvider", summary="List the trusted key providers and the "
      "status of their KMIP servers.", side="ta", source=DOC)
def get_key_providers(world: World, a: Args) -> Outcome:
    rows = []
    members = world.ta_cluster.reachable_members()
    if members:
        for status in members[0].kmxd.status(world.kms, world.kernel.utc()):
            rows.append({"Name": status.provider, "KmsServer": status.server,
                         "Address": f"{status.address}:{status.port}",
                         "Status": status.status.value,
                         "Health": world.ta_cluster.health("key_providers")})
    return Outcome(True, output=rows)


class SetKeyProviderArgs(Args):
    name: str | None = None
    password: str | None = Field(None, description="New KMIP password for the provider.")
    primary_key_id: str | None = None


@verb("Set-TrustAuthorityKeyProvider", summary="Change a trusted key provider's KMIP "
      "credentials or primary key on every TA host.", args=SetKeyProviderArgs, side="ta",
      source=DOC)
def set_key_provider(world: World, a: SetKeyProviderArgs) -> Outcome:
    name = a.name or world.key_provider_name
    known = sorted({n for h in world.ta_cluster.members for n in h.kmxd.providers})
    if name not in known:
        raise InputError(f"no trusted key provider {name!r}", what="key provider", value=name,
                         choices=known)

    def apply(h: TaHost) -> bool:
        provider = h.kmxd.providers.get(name)
        if provider is None:
            return False
        if a.password is not None:
            provider = provider.with_password(a.password)
        if a.primary_key_id is not None:
            provider = provider.with_primary_key(a.primary_key_id)
        h.kmxd.set_provider(provider)
        return True

    return _ta_task(world, "Update trusted key provider", name, world.ta_cluster.apply(apply),
                    f"key provider {name}")


@verb("Remove-TrustAuthorityKeyProvider", summary="Remove a trusted key provider.",
      args=NameArgs, side="ta", source=DOC)
def remove_key_provider(world: World, a: NameArgs) -> Outcome:
    known = sorted({n for h in world.ta_cluster.members for n in h.kmxd.providers})
    if a.name not in known:
        raise InputError(f"no trusted key provider {a.name!r}", what="key provider",
                         value=a.name, choices=known)

    def apply(h: TaHost) -> bool:
        return h.kmxd.providers.pop(a.name, None) is not None

    return _ta_task(world, "Remove trusted key provider", a.name,
                    world.ta_cluster.apply(apply), f"removal of key provider {a.name}")


@verb("Get-TrustedCluster", summary="Show Trusted clusters: state and health.",
      args=TrustedClusterArgs, side="workload", source=DOC)
def get_trusted_cluster(world: World, a: TrustedClusterArgs) -> Outcome:
    clusters = ([world.trusted_cluster(a.cluster)] if a.cluster is not None
                else list(world.trusted_clusters.values()))
    return Outcome(True, output=[{"Name": c.name, "State": "Enabled" if c.enabled else "Disabled",
                                  "Health": c.health()} for c in clusters])


class RemoveServiceArgs(TrustedClusterArgs):
    vmhost: str = Field(description="The TA host whose service is removed.")


def _remove_service(world: World, a: RemoveServiceArgs, kind: str) -> Outcome:
    cluster = world.trusted_cluster(a.cluster)
    present = [s.address for s in cluster.desired if s.kind == kind]
    if a.vmhost not in present:
        raise InputError(f"trusted cluster {cluster.name!r} has no {kind.replace('_', ' ')} "
                         f"service on {a.vmhost!r}", what="TA host", value=a.vmhost,
                         choices=present)
    cluster.desired = tuple(s for s in cluster.desired
                            if not (s.kind == kind and s.address == a.vmhost))
    vc = world.workload_vcenter
    vc.finish_task(vc.start_task(f"Remove {kind.replace('_', ' ')} service info", cluster.name))
    return Outcome(True, message=f"{kind} service of {a.vmhost} removed from the desired "
                                 f"configuration of {cluster.name}; remediate to apply")


@verb("Remove-TrustedClusterAttestationServiceInfo", summary="Remove an attestation service "
      "from a Trusted cluster's desired configuration.", args=RemoveServiceArgs,
      side="workload", source=DOC)
def remove_attestation_info(world: World, a: RemoveServiceArgs) -> Outcome:
    return _remove_service(world, a, "attestation")


@verb("Remove-TrustedClusterKeyProviderServiceInfo", summary="Remove a key provider service "
      "from a Trusted cluster's desired configuration.", args=RemoveServiceArgs,
      side="workload", source=DOC)
def remove_kp_info(world: World, a: RemoveServiceArgs) -> Outcome:
    return _remove_service(world, a, "key_provider")


class GetVMHostArgs(Args):
    name: str | None = Field(None, description="Only this host (Get-VMHost esx-03); "
                                               "default: every host.")


#: What the lab's hosts report as hardware (assumed: one server model for every host; the
#: numbers only fill the columns Get-VMHost prints by default).
HARDWARE = {"NumCpu": 32, "CpuTotalMhz": 67200, "MemoryTotalGB": 511.7,
            "Manufacturer": "Dell Inc.", "Model": "PowerEdge R750",
            "ProcessorType": "Intel(R) Xeon(R) Gold 6338N CPU @ 2.20GHz"}


def vmhost_object(world: World, name: str) -> dict[str, Any]:
    """A host as PowerCLI's ``VMHost`` shows it: no measured version, no Quick Boot flag
    (an operator learns those on the host itself, see ``ssh`` in the training shell)."""
    h = world.host(name)
    index = list(world.hosts).index(name)
    vc = world.ta_vcenter if h.role == "trust-authority" else world.workload_vcenter
    state = ("Maintenance" if h.in_maintenance else
             "Connected" if h.is_up else "NotResponding")
    power = {"poweredOn": "PoweredOn", "poweredOff": "PoweredOff"}.get(
        h.power_state.value, "Unknown")
    host_id = f"HostSystem-host-{1001 + index}"
    up = h.is_up
    return make("VMHost", Build=str(h.running_image.build), ConnectionState=state,
                CpuTotalMhz=HARDWARE["CpuTotalMhz"],
                CpuUsageMhz=(1200 + 37 * index) if up else 0, Id=host_id,
                IsStandalone=False, Manufacturer=HARDWARE["Manufacturer"],
                MemoryTotalGB=HARDWARE["MemoryTotalGB"],
                MemoryUsageGB=(24.5 + index) if up else 0.0, Model=HARDWARE["Model"],
                Name=name, NumCpu=HARDWARE["NumCpu"], Parent=h.cluster,
                ParentId=f"ClusterComputeResource-{h.cluster}", PowerState=power,
                ProcessorType=HARDWARE["ProcessorType"], State=state,
                Uid=f"/VIServer=administrator@vsphere.local@{vc.name}:443/VMHost={host_id}/",
                Version=h.running_image.version)


@verb("Get-VMHost", summary="List hosts as PowerCLI shows them: connection and power "
      "state, version and build (not what the TPM measured: log in to the host for that).",
      args=GetVMHostArgs, side="host", source="PowerCLI Get-VMHost", output="VMHost")
def get_vmhost(world: World, a: GetVMHostArgs) -> Outcome:
    if a.name is not None and a.name not in world.hosts:
        raise InputError(f"no host {a.name!r}", what="host", value=a.name,
                         choices=list(world.hosts))
    rows = [vmhost_object(world, n) for n in world.hosts if a.name is None or n == a.name]
    return Outcome(True, output=rows)
