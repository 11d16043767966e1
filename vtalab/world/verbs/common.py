"""Shared pieces of the verbs: sources, files, TA-wide apply and Recent Tasks."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from vtalab.core import crypto
from vtalab.domain.trusted import ServiceInfo
from vtalab.errors import InputError
from vtalab.world.registry import Outcome

if TYPE_CHECKING:
    from vtalab.world.assembly import World


DOC = "vSphere Security guide, vSphere Trust Authority"
SEED = "seed: vTA administration page"


def _ta_task(world: World, name: str, target: str, changed: list[str], what: str,
             **fields: Any) -> Outcome:
    # ``fields`` name the object changed (``base_image``, ``tpm_ca`` ...) in the trace, so
    # the invariants can rebuild what the TA cluster trusted at any moment.
    vc = world.ta_vcenter
    task = vc.start_task(name, target)
    if not world.ta_cluster.reachable_members():
        vc.finish_task(task, error="no TA host is reachable", reason="ta_unreachable")
        return Outcome(False, "ta_unreachable", "no TA host is reachable")
    vc.finish_task(task)
    # When trusted hosts notice the change is not public (docs/parameters.md, "TA-side
    # changes"): by default at their next scheduled attestation, not now.
    if world.params.ta_change_notice == "immediate":
        for cluster in world.trusted_clusters.values():
            for th in cluster.hosts.values():
                th.agent.wake()
    world.kernel.record(vc.source, "ta.object", what=what, hosts=changed, **fields,
                        message=f"{name}: {what} applied on {', '.join(changed) or 'no host'}")
    return Outcome(True, message=f"{what} applied on {len(changed)} TA host(s)", output=changed)


def _file(world: World, name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in world.files:
        raise InputError(f"no file {name!r} (export it first)", what="file", value=name,
                         choices=list(world.files))
    value = world.files[name]
    if not isinstance(value, kind):
        raise InputError(f"file {name!r} is not the right kind of file for this cmdlet",
                         what="file", value=name)
    return value


def certificates_in(world: World, name: str) -> tuple[bytes, ...]:
    """The certificates in an operator's file (a certificate export or a PEM bundle), or
    given as PEM text (an X509Certificate2 bound to -Certificate)."""
    value = name if name not in world.files and "-----BEGIN" in name else \
        _file(world, name, (tuple, bytes, str))
    if isinstance(value, tuple) and value and value[0] == "certificate":
        return tuple(value[1:])
    if isinstance(value, bytes | str):
        text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
        try:
            return tuple(crypto.cert_der(c) for c in crypto.certs_from_pem(text))
        except ValueError:
            pass
    raise InputError(f"file {name!r} is not a certificate", what="file", value=name,
                     choices=[n for n, v in world.files.items()
                              if isinstance(v, tuple) and v and v[0] == "certificate"])


#: where the workload vCenter keeps the TA services it was given (Import-TrustAuthority-
#: ServicesInfo, Add-AttestationServiceInfo, Add-KeyProviderServiceInfo)
IMPORTED_SERVICES = "__imported_services__"
#: the daemon behind each kind of TA service (its ServiceInfo name is "<TA host>/<daemon>")
SERVICE_DAEMONS = {"attestation": "attestd", "key_provider": "kmxd"}


def imported_services(world: World, kind: str | None = None) -> list[ServiceInfo]:
    """The TA services the workload vCenter knows, in the order they were given to it."""
    return [i for i in world.files.get(IMPORTED_SERVICES, ())
            if kind is None or i.kind == kind]


def ta_service_info(world: World, host: str, kind: str) -> ServiceInfo:
    """What the TA cluster says of one of its services: its name, address, group and the
    SHA-256 of the TLS certificate it presents (Export-TrustAuthorityServicesInfo writes
    these; the Add-...ServiceInfo cmdlets build the same from a service object)."""
    h = next(m for m in world.ta_cluster.members if m.name == host)
    sha = crypto.sha256(crypto.cert_der(h.attestd.certificate)).hex()
    return ServiceInfo(kind, f"{host}/{SERVICE_DAEMONS[kind]}", host, world.ta_cluster.group,
                       sha)


def add_imported_services(world: World, infos: tuple[ServiceInfo, ...], *,
                    replace: bool) -> tuple[ServiceInfo, ...]:
    """Give the workload vCenter TA services: the one path of Import-TrustAuthority-
    ServicesInfo (``replace``: the file's services are the imported ones) and of the
    Add-...ServiceInfo cmdlets (added to those there, a service already there refused)."""
    before = () if replace else tuple(imported_services(world))
    for info in infos:
        if any(i.kind == info.kind and i.name == info.name for i in before):
            what = info.kind.replace("_", " ")
            raise InputError(f"the {what} service information {info.name!r} is already in "
                             f"{world.workload_vcenter.name} (Get-"
                             f"{'Attestation' if info.kind == 'attestation' else 'KeyProvider'}"
                             "ServiceInfo shows it)", what="service", value=info.address)
    world.files[IMPORTED_SERVICES] = (*before, *infos)
    return infos


def _tagged_file(world: World, name: str, tag: str, what: str) -> tuple[Any, ...]:
    """The payload of a file exported with ``tag`` (a TPM CA, an EK, a vTA backup)."""
    value = _file(world, name, tuple)
    if not value or value[0] != tag:
        raise InputError(f"file {name!r} is not {what}", what="file", value=name,
                         choices=[n for n, v in world.files.items()
                                  if isinstance(v, tuple) and v and v[0] == tag])
    return value[1:]




# -- PowerCLI object identities (deterministic: derived from names, never random) ----------
def health(value: str) -> str:
    """A health as PowerCLI prints it: ``Ok``, ``Warning``, ``Error``, ``None``."""
    return value.capitalize()


def server_guid(vcenter: str) -> str:
    """A vCenter's instance UUID (ServerGuid), derived from its name."""
    h = hashlib.sha256(f"vtalab-vcenter|{vcenter}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def uid(vcenter: str, kind: str, ident: str) -> str:
    return f"/VIServer=administrator@vsphere.local@{vcenter}:443/{kind}={ident}/"


def ta_cluster_id(world: World) -> str:
    return "ClusterComputeResource-domain-c8"


def trusted_cluster_id(world: World, name: str) -> str:
    return f"ClusterComputeResource-domain-c{20 + list(world.trusted_clusters).index(name)}"


def host_id(world: World, name: str) -> str:
    return f"HostSystem-host-{1001 + world.ordinal('host', name)}"


def vm_id(world: World, name: str) -> str:
    return f"VirtualMachine-vm-{2001 + world.ordinal('vm', name)}"


def host_by_id(world: World, text: str) -> str:
    """A host named by its name or by its PowerCLI Id (``HostSystem-host-1002``)."""
    for name in world.hosts:
        if text in (name, host_id(world, name)):
            return name
    world.host(text)  # raises with the nearest name
    return text


#: the source note of the key provider cmdlets' two names for the primary key
KEY_ID_NOTE = ("-MasterKeyId is deprecated and scheduled for removal (B: use -PrimaryKeyId); "
               "it still works, without a warning: the public record shows none")


def primary_key_of(primary_key_id: str | None, master_key_id: str | None) -> str | None:
    """The key ``-PrimaryKeyId`` or its deprecated former name ``-MasterKeyId`` names
    (New-/Set-TrustAuthorityKeyProvider take both); two different keys are bad input."""
    if primary_key_id is not None and master_key_id is not None \
            and primary_key_id != master_key_id:
        raise InputError(f"-PrimaryKeyId {primary_key_id!r} and -MasterKeyId "
                         f"{master_key_id!r} name different keys (-MasterKeyId is the "
                         "deprecated name of -PrimaryKeyId; give only -PrimaryKeyId)",
                         what="MasterKeyId", value=master_key_id, choices=[primary_key_id])
    return primary_key_id if primary_key_id is not None else master_key_id


#: why a cmdlet whose page was not found still takes -TrustAuthorityCluster as mandatory
TA_ASSUMED = ("assumed: -TrustAuthorityCluster mandatory like every TA-object cmdlet whose "
              "page was found (Get-/New-TrustAuthorityPrincipal, New-TrustAuthorityTpm2"
              "CACertificate, New-TrustAuthorityTpm2EndorsementKey, Set-TrustAuthorityCluster)")

#: the words of a file export refused because the file exists (PowerCLI's export cmdlets
#: publish -Force: "overwrites the existing destination files"; their error text is not
#: published)
FILE_EXISTS_NOTE = ("assumed: without -Force an existing file is refused with \"The file "
                    "'PATH' already exists. Use the Force parameter to overwrite it.\" (the "
                    "pages publish -Force, not the error's words)")


def file_exists(cmdlet: str, world: World, path: str, force: bool) -> Outcome | None:
    """The refusal of an export to ``path`` when it exists and ``-Force`` was not given."""
    if path in world.files and not force:
        return Outcome(False, "file_exists", f"The file '{path}' already exists. Use the "
                       "Force parameter to overwrite it.")
    return None
