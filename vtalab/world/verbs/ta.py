"""Trust Authority cluster cmdlets: state, principals, base images, TPM CAs and EKs,
TPM 2.0 settings, the trusted key provider and the services export/import."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from vtalab.core import crypto
from vtalab.domain.attestation import Principal, Tpm2Settings
from vtalab.domain.base_image import BaseImageError, export_imagedb, parse_imagedb
from vtalab.domain.key_provider import KmipServerRef, provider_for
from vtalab.domain.trusted import ServiceInfo
from vtalab.errors import InputError, OperationError
from vtalab.esxi.releases import image_for
from vtalab.world.objects import make
from vtalab.world.registry import PS, Args, Outcome, PSSet, verb
from vtalab.world.verbs.common import (
    DOC,
    FILE_EXISTS_NOTE,
    KEY_ID_NOTE,
    SEED,
    TA_ASSUMED,
    _file,
    _ta_task,
    _tagged_file,
    add_imported_services,
    file_exists,
    health,
    host_by_id,
    primary_key_of,
    server_guid,
    ta_cluster_id,
    ta_service_info,
    uid,
)

if TYPE_CHECKING:
    from vtalab.domain.ta_cluster import TaHost
    from vtalab.world.assembly import World


#: a TA cluster parameter: ``-TrustAuthorityCluster`` (object or name), mandatory on the
#: command line as the reference marks it (a scenario may leave it out: the lab has one)
TA = PS(name="TrustAuthorityCluster", pipeline=True, mandatory=True,
        type="TrustAuthorityCluster")


class ClusterArgs(Args):
    ps_sets = (PSSet("Name", ("name", "state")), PSSet("Id", ("id",), mandatory=("id",)))
    name: Annotated[str | None, PS(name="Name", type="String[]")] = Field(
        None, description="TA cluster name (default: the only one).")
    state: Annotated[Literal["Enabled", "Disabled"] | None, PS(
        name="State", type="TrustAuthorityState")] = Field(
        None, description="Only a cluster in this state.")
    id: Annotated[str | None, PS(name="Id", type="String[]")] = Field(
        None, description="The cluster's Id (ClusterComputeResource-domain-c8).")


class SetClusterArgs(Args):
    name: Annotated[str | None, PS(name="TrustAuthorityCluster", pipeline=True,
                                   mandatory=True, type="TrustAuthorityCluster[]")] = Field(
        None, description="TA cluster name (default: the only one).")
    state: Literal["Enabled", "Disabled"]


class TaClusterArgs(Args):
    trust_authority_cluster: Annotated[str | None, PS(
        name="TrustAuthorityCluster", position=0, pipeline=True, mandatory=True,
        type="TrustAuthorityCluster[]")] = Field(
        None, description="The TA cluster (object or name; a scenario may leave it out).")


def _check_ta_name(world: World, name: str | None) -> None:
    if name is not None and name != world.ta_cluster.name:
        raise InputError(f"unknown Trust Authority cluster {name!r}",
                         what="TA cluster", value=name, choices=[world.ta_cluster.name])


def ta_cluster_object(world: World) -> dict[str, Any]:
    ta = world.ta_cluster
    states = {h.name: h.config.enabled for h in ta.members}
    state = "Enabled" if states and all(states.values()) else "Disabled"
    vc = world.ta_vcenter.name
    return make("TrustAuthorityCluster", Id=ta_cluster_id(world), Name=ta.name,
                ServerGuid=server_guid(vc), State=state,
                Uid=uid(vc, "TrustAuthorityCluster", ta_cluster_id(world)))


@verb("Get-TrustAuthorityCluster", summary="Show the TA cluster and its state.",
      args=ClusterArgs, side="ta", source=SEED + "; PowerCLI reference (the Name and Id "
      "parameter sets; -Name is named, not positional)", output="TrustAuthorityCluster")
def get_cluster(world: World, a: ClusterArgs) -> Outcome:
    _check_ta_name(world, a.name)
    obj = ta_cluster_object(world)
    if a.id is not None and a.id not in (obj["Id"], "domain-c8"):
        raise InputError(f"Get-TrustAuthorityCluster: no Trust Authority cluster with Id "
                         f"{a.id!r}", what="Id", value=a.id, choices=[obj["Id"]])
    return Outcome(True, output=[obj] if a.state in (None, obj["State"]) else [])


@verb("Set-TrustAuthorityCluster", summary="Enable or disable the TA cluster (re-applies "
      "the state to every TA host).", args=SetClusterArgs, side="ta",
      source=DOC + "; PowerCLI reference (-TrustAuthorityCluster and -State, both mandatory "
                   "and named)",
      output="TrustAuthorityCluster", confirm="High", confirm_if="state=Disabled", run_async=True)
def set_cluster(world: World, a: SetClusterArgs) -> Outcome:
    _check_ta_name(world, a.name)
    enabled = a.state == "Enabled"

    def apply(h: TaHost) -> bool:
        h.config.enabled = enabled
        return True

    changed = world.ta_cluster.apply(apply)
    return _ta_task(world, "Update Trust Authority cluster state", world.ta_cluster.name,
                    changed, f"state {a.state}")


class FileArgs(Args):
    file: Annotated[str, PS(name="FilePath", type="String")] = Field(
        description="Name of the file (-FilePath, named as the pages publish it).")


class ExportFileArgs(FileArgs):
    force: Annotated[bool, PS(name="Force", type="SwitchParameter")] = Field(
        False, description="Overwrite an existing file.")


@verb("Export-TrustedPrincipal", summary="Export the workload vCenter's STS signing "
      "certificates (the principal).", args=ExportFileArgs, side="workload",
      source=DOC + "; PowerCLI reference (-FilePath named and mandatory, -Force); "
      + FILE_EXISTS_NOTE)
def export_principal(world: World, a: ExportFileArgs) -> Outcome:
    if (refused := file_exists("Export-TrustedPrincipal", world, a.file, a.force)) is not None:
        return refused
    vc = world.workload_vcenter
    world.files[a.file] = Principal(issuer=vc.name, certificates_der=vc.sts_certificates_der())
    return Outcome(True, message=f"principal of {vc.name} exported to {a.file}")


class NewPrincipalArgs(Args):
    ps_sets = (PSSet("TrustedPrincipal", ("trusted_principal",),
                     mandatory=("trusted_principal",), positions=(("trusted_principal", 0),)),
               PSSet("Name", ("name", "certificate_chain", "domain", "issuer", "type"),
                     mandatory=("name", "certificate_chain", "domain", "issuer"),
                     positions=(("name", 0),)))
    trusted_principal: Annotated[str | None, PS(
        name="TrustedPrincipal", pipeline=True, type="TrustedPrincipal")] = Field(
        None, description="The workload vCenter's principal (Get-TrustedPrincipal).")
    name: Annotated[str | None, PS(name="Name", type="String")] = Field(
        None, description="The principal's name (the workload vCenter's, as "
                          "Get-TrustedPrincipal shows it).")
    certificate_chain: Annotated[tuple[str, ...] | None, PS(
        name="CertificateChain", type="X509Chain[]")] = Field(
        None, description="The STS signing certificate chain, PEM "
                          "((Get-TrustedPrincipal).CertificateChain).")
    domain: Annotated[str | None, PS(name="Domain", type="String")] = Field(
        None, description="The SSO domain (vsphere.local).")
    issuer: Annotated[str | None, PS(name="Issuer", type="String")] = Field(
        None, description="The token issuer: the workload vCenter.")
    type: Annotated[Literal["STS_PRINCIPAL"] | None, PS(name="Type", type="PrincipalType")] \
        = Field(None, description="The principal type (STS_PRINCIPAL).")
    trust_authority_cluster: Annotated[str | None, TA] = Field(
        None, description="The TA cluster (object or name; a scenario may leave it out).")
    file: Annotated[str | None, PS(hidden=True)] = Field(
        None, description="Scenarios: a principal exported with Export-TrustedPrincipal.")


def _trusted_principal(world: World, name: str) -> Principal:
    vc = world.workload_vcenter
    if name not in (vc.name, "vsphere.local"):
        raise InputError(f"no trusted principal {name!r} (Get-TrustedPrincipal lists it)",
                         what="trusted principal", value=name, choices=[vc.name])
    return Principal(issuer=vc.name, certificates_der=vc.sts_certificates_der())


def _pem_chain(cmdlet: str, param: str, pems: tuple[str, ...]) -> tuple[bytes, ...]:
    """PEM certificates given to ``-param``: their DER, or the error naming the value."""
    ders = []
    for pem in pems:
        try:
            ders += [crypto.cert_der(c) for c in crypto.certs_from_pem(pem)]
        except ValueError as exc:
            shown = pem if len(pem) <= 60 else pem[:57] + "..."
            raise InputError(f"{cmdlet}: Cannot bind parameter '{param}'. Cannot convert "
                             f"\"{shown}\" to type \"X509Certificate2\" ({exc})",
                             what=param, value=shown) from None
    if not ders:
        raise InputError(f"{cmdlet}: Cannot bind argument to parameter '{param}' because it "
                         "is an empty array.", what=param)
    return tuple(ders)


@verb("New-TrustAuthorityPrincipal", summary="Trust a workload vCenter's principal (piped "
      "from Get-TrustedPrincipal, or given by -Name -CertificateChain -Domain -Issuer) in "
      "the TA cluster.", args=NewPrincipalArgs, side="ta",
      source="PowerCLI reference, both parameter sets",
      output="TrustAuthorityPrincipal")
def new_principal(world: World, a: NewPrincipalArgs) -> Outcome:
    if a.trusted_principal is not None:
        principal = _trusted_principal(world, a.trusted_principal)
    elif a.certificate_chain is not None:
        if not (a.name and a.issuer and a.domain):
            raise InputError("New-TrustAuthorityPrincipal: -CertificateChain needs -Name, "
                             "-Domain and -Issuer", what="argument", value="certificate_chain")
        # The TA trusts what it is given: a chain that is not the workload vCenter's
        # current one is stored, and its tokens then fail to verify (as in vCenter).
        principal = Principal(issuer=a.issuer, certificates_der=_pem_chain(
            "New-TrustAuthorityPrincipal", "CertificateChain", a.certificate_chain))
    elif a.file is not None:
        principal = _file(world, a.file, Principal)
    else:
        raise InputError("New-TrustAuthorityPrincipal needs -TrustedPrincipal "
                         "(Get-TrustedPrincipal) or -Name -CertificateChain -Domain -Issuer",
                         what="argument", value="trusted_principal")

    def apply(h: TaHost) -> bool:
        if h.config.principals.get(principal.issuer) == principal:
            return False
        h.config.principals[principal.issuer] = principal
        return True

    changed = world.ta_cluster.apply(apply)
    if not changed and world.ta_cluster.reachable_members():
        return Outcome(False, "already_exists", f"principal {principal.issuer} already exists")
    return _ta_task(world, "Add Trust Authority principal", principal.issuer, changed,
                    f"principal {principal.issuer}")


_FORCE = PS(name="Force", type="SwitchParameter")


class VmHostFileArgs(Args):
    file: Annotated[str, PS(name="FilePath", type="String")] = Field(
        description="Where to write boot_imgdb.tgz.")
    vmhost: Annotated[str, PS(pipeline=True, type="VMHost[]")] = Field(
        description="The host whose running image is exported.")
    force: Annotated[bool, _FORCE] = Field(
        False, description="Overwrite an existing file.")


@verb("Export-VMHostImageDb", summary="Export the running ESXi image metadata of a host "
      "(boot_imgdb.tgz).", args=VmHostFileArgs, side="host", run_async=True,
      source=SEED + " (Quick Boot 3); PowerCLI reference (-FilePath and -VMHost both "
      "mandatory and named, -Force, -RunAsync); " + FILE_EXISTS_NOTE)
def export_imagedb_verb(world: World, a: VmHostFileArgs) -> Outcome:
    host = world.host(a.vmhost)
    if not host.is_up:
        raise OperationError(f"cannot export the image database of {a.vmhost!r}: the host is "
                             f"{host.power_state.value}", what="host", value=a.vmhost,
                             choices=[n for n, h in world.hosts.items() if h.is_up])
    if (refused := file_exists("Export-VMHostImageDb", world, a.file, a.force)) is not None:
        return refused
    data = export_imagedb(host.running_image, mtime=world.kernel.epoch_seconds())
    world.files[a.file] = data
    message = f"{host.running_image.display_name} exported from {a.vmhost} to {a.file}"
    if host.last_boot_quick:
        # The seed (Quick Boot, point 3): the cmdlet says the host was Quick Booted and
        # that the file holds the newest metadata; it does not say what the TPM measured.
        message = (f"WARNING: host {a.vmhost} was upgraded with Quick Boot. The exported file "
                   f"contains the newest image metadata ({host.version}), not the metadata "
                   "of the host's last full boot. " + message)
    world.kernel.record(host.source, "imagedb.exported", host=a.vmhost, file=a.file,
                        version=host.version, quick_booted=host.last_boot_quick,
                        message=message)
    return Outcome(True, message=message, output=a.file)


class NewBaseImageArgs(Args):
    trust_authority_cluster: Annotated[str | None, TA] = Field(
        None, description="The TA cluster (object or name; a scenario may leave it out).")
    file: Annotated[str, PS(type="String[]")] = Field(
        description="The boot_imgdb.tgz exported with Export-VMHostImageDb (-FilePath).")


@verb("New-TrustAuthorityVMHostBaseImage", summary="Import a trusted ESXi base image "
      "(from Export-VMHostImageDb).", args=NewBaseImageArgs, side="ta",
      source=SEED + "; " + TA_ASSUMED + " (the command page was not found)")
def new_base_image(world: World, a: NewBaseImageArgs) -> Outcome:
    data = _file(world, a.file, bytes)
    try:
        image = parse_imagedb(data, source=a.file)
    except BaseImageError as exc:
        vc = world.ta_vcenter
        task = vc.start_task("Add trusted ESXi base image", a.file)
        vc.finish_task(task, error=str(exc), reason=exc.status.value)
        return Outcome(False, exc.status.value, str(exc))

    def apply(h: TaHost) -> bool:
        if image.version in h.config.base_images:
            return False
        h.config.base_images.add(image)
        return True

    changed = world.ta_cluster.apply(apply)
    if not changed and world.ta_cluster.reachable_members():
        vc = world.ta_vcenter
        task = vc.start_task("Add trusted ESXi base image", image.version)
        vc.finish_task(task, error=f"base image {image.version} already exists",
                       reason="already_exists")
        return Outcome(False, "already_exists", f"base image {image.version} already exists")
    return _ta_task(world, "Add trusted ESXi base image", image.version, changed,
                    f"base image {image.version}", base_image=image.version, change="add")


@verb("Get-TrustAuthorityVMHostBaseImage", summary="List the trusted ESXi base images "
      "(their last attested time is only in the REST/vAPI base-images API: "
      "Invoke-GetClusterVersionBaseImages).", args=TaClusterArgs, side="ta",
      source=SEED + " (`Get-TrustAuthorityVMHostBaseImage $vTA`: the cluster is the first "
      "positional value); " + TA_ASSUMED + " (the command page was not found)",
      output="TrustAuthorityVMHostBaseImage")
def get_base_images(world: World, a: TaClusterArgs) -> Outcome:
    _check_ta_name(world, a.trust_authority_cluster)
    vc = world.ta_vcenter.name
    rows = [make("TrustAuthorityVMHostBaseImage", Health=health(b["health"]),
                 HealthDescription=[], Id=f"{ta_cluster_id(world)}/{b['version']}",
                 Name=b["display_name"], TrustAuthorityClusterId=ta_cluster_id(world),
                 Uid=uid(vc, "TrustAuthorityVMHostBaseImage", b["version"]),
                 VMHostVersion=b["version"])
            for b in world.base_images()]
    return Outcome(True, output=rows)


class BaseImageInfoArgs(Args):
    cluster: Annotated[str | None, PS(name="Cluster", type="String")] = Field(
        None, description="The TA cluster's id (domain-c8) or name (default: the only one).")
    version: Annotated[str, PS(name="Version", position=0)] = Field(
        description="The base image version (8.0.2-22380479).")


@verb("Invoke-GetClusterVersionBaseImages", summary="The REST/vAPI base-images API (GET "
      ".../trust-authority-clusters/{cluster}/attestation/os/esx/base-images/{version}): "
      "display_name, health and last_attested_time (API 8.0.1 and later).",
      args=BaseImageInfoArgs, side="ta",
      source="assumed: named as VMware.Sdk.vSphere.vCenter.TrustedInfrastructure names its "
             "operations (Invoke-<Operation>, cf. Invoke-DeleteClusterVersionBaseImagesAsync);"
             " fields of BaseImages.Info (vSphere Automation API)")
def base_image_info(world: World, a: BaseImageInfoArgs) -> Outcome:
    if a.cluster is not None and a.cluster not in ("domain-c8", ta_cluster_id(world)):
        _check_ta_name(world, a.cluster)
    version = _resolve_version(world, a.version)
    b = next(x for x in world.base_images() if x["version"] == version)
    when = b["last_attested_time"]
    return Outcome(True, output=[{
        "display_name": b["display_name"], "health": b["health"], "details": [],
        "last_attested_time": rest_time(world, when)}])


def rest_time(world: World, when: float | None) -> str | None:
    """A simulated time as the REST API writes a date-time (``...T08:00:00.000Z``)."""
    if when is None:
        return None
    at = world.kernel.utc(when)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


class VersionArgs(Args):
    ps_ta_context = False
    version: Annotated[str, PS(name="VMHostBaseImage", pipeline=True, by=("VMHostVersion",),
                               type="TrustAuthorityVMHostBaseImage[]")] = Field(
        description="Base image (object, or its version: 8.0.2-22380479 or 8.0 U2).")


def _resolve_version(world: World, text: str) -> str:
    versions = [b["version"] for b in world.base_images()]
    if text in versions:
        return text
    try:
        key = image_for(text).key
    except InputError:
        key = text
    if key not in versions:
        raise InputError(f"no trusted base image {text!r}", what="base image", value=text,
                         choices=versions)
    return key


@verb("Remove-TrustAuthorityVMHostBaseImage", summary="Remove a trusted base image.",
      args=VersionArgs, side="ta", source=SEED, confirm="High")
def remove_base_image(world: World, a: VersionArgs) -> Outcome:
    version = _resolve_version(world, a.version)

    def apply(h: TaHost) -> bool:
        if version in h.config.base_images:
            h.config.base_images.remove(version)
            return True
        return False

    changed = world.ta_cluster.apply(apply)
    in_use = [th.name for c in world.trusted_clusters.values() for th in c.hosts.values()
              if th.host.measured_version == version]
    world.kernel.record(world.ta_vcenter.source, "ta.base_image.removed", version=version,
                        measured_by=in_use,
                        message=f"base image {version} removed"
                        + (f" while still measured by {', '.join(in_use)}" if in_use else ""))
    return _ta_task(world, "Remove trusted ESXi base image", version, changed,
                    f"removal of base image {version}", base_image=version, change="remove")


class VmHostArgs(Args):
    vmhost: Annotated[str, PS(position=0, pipeline=True, type="VMHost[]")]


class EkFileArgs(Args):
    file: Annotated[str, PS(name="FilePath", position=0)] = Field(
        description="Where to write the file.")
    vmhost: Annotated[str, PS(name="Tpm2EndorsementKey", pipeline=True, by=("VMHostId",),
                              type="Tpm2EndorsementKey")] = Field(
        description="The host's TPM endorsement key (Get-Tpm2EndorsementKey -VMHost).")


class ExportCaArgs(Args):
    ps_sets = (PSSet("Certificate", ("certificate",), mandatory=("certificate",)),
               PSSet("Tpm2EndorsementKey", ("vmhost",), mandatory=("vmhost",)))
    file: Annotated[str, PS(name="FilePath", position=0)] = Field(
        description="Where to write the file.")
    certificate: Annotated[str | None, PS(name="Certificate", type="X509Certificate2")] = \
        Field(None, description="An EK certificate, PEM "
                                "((Get-Tpm2EndorsementKey -VMHost HOST).Certificate).")
    vmhost: Annotated[str | None, PS(name="Tpm2EndorsementKey", pipeline=True,
                                     by=("VMHostId",), type="Tpm2EndorsementKey")] = Field(
        None, description="The host's TPM endorsement key (Get-Tpm2EndorsementKey -VMHost).")
    force: Annotated[bool, _FORCE] = Field(False, description="Overwrite an existing file.")


@verb("Export-Tpm2CACertificate", summary="Export the CA certificate of a TPM's endorsement "
      "key certificate (from the key, or from the certificate itself) to a file.",
      args=ExportCaArgs, side="host",
      source="PowerCLI reference, both parameter sets, -Force and -RunAsync; "
             + FILE_EXISTS_NOTE, run_async=True)
def export_tpm_ca(world: World, a: ExportCaArgs) -> Outcome:
    if a.certificate is not None:
        der = _pem_chain("Export-Tpm2CACertificate", "Certificate", (a.certificate,))[0]
        issuer = crypto.cert_from_der(der).issuer.rfc4514_string()
        vendors = sorted({h.tpm_vendor for h in world.hosts.values()})
        vendor = next((v for v in vendors
                       if world.tpm_vendor_ca(v)[0].subject.rfc4514_string() == issuer), None)
        if vendor is None:
            return Outcome(False, "unknown_issuer", f"the CA that issued {issuer} is not "
                           "known (its certificate is not in the TPM vendor's chain)")
    elif a.vmhost is not None:
        vendor = world.trusted_host(host_by_id(world, a.vmhost)).host.tpm_vendor
    else:
        raise InputError("Export-Tpm2CACertificate needs -Tpm2EndorsementKey "
                         "(Get-Tpm2EndorsementKey -VMHost HOST) or -Certificate",
                         what="argument", value="vmhost")
    if (refused := file_exists("Export-Tpm2CACertificate", world, a.file, a.force)) is not None:
        return refused
    cert, _ = world.tpm_vendor_ca(vendor)
    world.files[a.file] = ("tpm-ca", vendor, crypto.cert_der(cert))
    return Outcome(True, message=f"{vendor} TPM CA exported to {a.file}")


def _ca_subject(der: bytes) -> str:
    """A TPM CA certificate's subject, as EK certificates name their issuer (for the trace)."""
    try:
        return str(crypto.cert_from_der(der).subject.rfc4514_string())
    except ValueError:
        return "unparseable certificate " + crypto.sha256(der).hex()[:16]


class NamedFileArgs(Args):
    file: Annotated[str, PS(name="CertificateChain", type="X509Chain")] = Field(
        description="The TPM CA chain (lab: the file Export-Tpm2CACertificate wrote).")
    trust_authority_cluster: Annotated[str | None, TA] = Field(
        None, description="The TA cluster (object or name; a scenario may leave it out).")
    name: str | None = None


def _add_named(world: World, table: str, name: str, der: bytes, task: str,
               what: str, **fields: Any) -> Outcome:
    """Apply one named DER object (TPM CA or EK) to every TA host that lacks it."""

    def apply(h: TaHost) -> bool:
        objects: dict[str, bytes] = getattr(h.config, table)
        if objects.get(name) == der:
            return False
        objects[name] = der
        return True

    return _ta_task(world, task, name, world.ta_cluster.apply(apply), what, **fields)


@verb("New-TrustAuthorityTpm2CACertificate", summary="Trust a TPM vendor CA.",
      args=NamedFileArgs, side="ta", source=DOC)
def new_tpm_ca(world: World, a: NamedFileArgs) -> Outcome:
    vendor, der = _tagged_file(world, a.file, "tpm-ca", "a TPM CA certificate")
    name = a.name or vendor
    return _add_named(world, "tpm_ca_certificates", name, der, "Add TPM 2.0 CA certificate",
                      f"TPM CA {name}", tpm_ca=_ca_subject(der))


@verb("Export-Tpm2EndorsementKey", summary="Export a TPM endorsement key (from "
      "Get-Tpm2EndorsementKey) to a file.", args=EkFileArgs, side="host",
      source="assumed: takes the key object like Export-Tpm2CACertificate (reference §1, "
             "'verify'; the command page was not found)")
def export_ek(world: World, a: EkFileArgs) -> Outcome:
    host = host_by_id(world, a.vmhost)
    th = world.trusted_host(host)
    world.files[a.file] = ("ek", host, crypto.public_der(th.host.tpm.ek))
    return Outcome(True, message=f"endorsement key of {host} exported to {a.file}")


class NewEkArgs(Args):
    ps_sets = (PSSet("Tpm2EndorsementKey", ("vmhost",), mandatory=("vmhost",)),
               PSSet("Name", ("name", "public_key"), mandatory=("name", "public_key")))
    vmhost: Annotated[str | None, PS(name="Tpm2EndorsementKey", pipeline=True,
                                     by=("VMHostId",), type="Tpm2EndorsementKey[]")] = Field(
        None, description="The TPM endorsement key (Get-Tpm2EndorsementKey -VMHost).")
    name: Annotated[str | None, PS(name="Name", type="String")] = Field(
        None, description="The name to give the key (scenarios: default the host).")
    public_key: Annotated[str | None, PS(name="PublicKey", type="String")] = Field(
        None, description="The EK public key, PEM ((Get-Tpm2EndorsementKey).PublicKey).")
    trust_authority_cluster: Annotated[str | None, TA] = Field(
        None, description="The TA cluster (object or name; a scenario may leave it out).")
    file: Annotated[str | None, PS(hidden=True)] = Field(
        None, description="Scenarios: a key exported with Export-Tpm2EndorsementKey.")


@verb("New-TrustAuthorityTpm2EndorsementKey", summary="Trust a TPM endorsement key (piped "
      "from Get-Tpm2EndorsementKey, or given by -Name -PublicKey).", args=NewEkArgs,
      side="ta",
      source="PowerCLI reference, both parameter sets; assumed: -PublicKey of the -Name set "
             "(reference §1 and the vAPI EndorsementKeys.CreateSpec; the stored page's text "
             "breaks off after -TrustAuthorityCluster)")
def new_ek(world: World, a: NewEkArgs) -> Outcome:
    if a.vmhost is not None:
        host = host_by_id(world, a.vmhost)
        der = crypto.public_der(world.trusted_host(host).host.tpm.ek)
    elif a.public_key is not None:
        if not a.name:
            raise InputError("New-TrustAuthorityTpm2EndorsementKey: -PublicKey needs -Name",
                             what="argument", value="name")
        try:
            der = crypto.public_der(crypto.public_from_pem(a.public_key.encode()))
        except (ValueError, TypeError) as exc:
            shown = a.public_key if len(a.public_key) <= 60 else a.public_key[:57] + "..."
            raise InputError(f"New-TrustAuthorityTpm2EndorsementKey: -PublicKey is not a PEM "
                             f"public key ({exc})", what="PublicKey", value=shown) from None
        host = a.name
    elif a.file is not None:
        host, der = _tagged_file(world, a.file, "ek", "an endorsement key")
    else:
        raise InputError("New-TrustAuthorityTpm2EndorsementKey needs -Tpm2EndorsementKey "
                         "(Get-Tpm2EndorsementKey -VMHost HOST) or -Name -PublicKey",
                         what="argument", value="vmhost")
    name = a.name or host
    return _add_named(world, "endorsement_keys", name, der, "Add TPM 2.0 endorsement key",
                      f"endorsement key {name}", endorsement_key=crypto.sha256(der).hex())


_SWITCH = PS(type="SwitchParameter")


class SettingsArgs(Args):
    trust_authority_cluster: Annotated[str | None, TA] = Field(
        None, description="The TA cluster (object or name; a scenario may leave it out).")
    require_certificate_validation: Annotated[bool | None, _SWITCH] = Field(
        None, description="Validate EK certificates against the trusted TPM CAs "
                          "(-RequireCertificateValidation:$false turns it off).")
    require_endorsement_keys: Annotated[bool | None, PS(
        name="RequireEndorsementKey", type="SwitchParameter")] = Field(
        None, description="Require imported endorsement keys (-RequireEndorsementKey).")


@verb("Set-TrustAuthorityTpm2AttestationSettings", summary="Set the TPM 2.0 attestation "
      "settings.", args=SettingsArgs, side="ta",
      source=DOC + "; " + TA_ASSUMED + " (the command page was not found)")
def set_settings(world: World, a: SettingsArgs) -> Outcome:
    def apply(h: TaHost) -> bool:
        s = h.config.settings
        h.config.settings = Tpm2Settings(
            require_certificate_validation=(s.require_certificate_validation
                                            if a.require_certificate_validation is None
                                            else a.require_certificate_validation),
            require_endorsement_keys=(s.require_endorsement_keys
                                      if a.require_endorsement_keys is None
                                      else a.require_endorsement_keys))
        return True

    return _ta_task(world, "Update TPM 2.0 attestation settings", world.ta_cluster.name,
                    world.ta_cluster.apply(apply), "TPM 2.0 attestation settings",
                    require_certificate_validation=a.require_certificate_validation,
                    require_endorsement_keys=a.require_endorsement_keys)


@verb("Get-TrustAuthorityTpm2AttestationSettings", summary="Show the TPM 2.0 attestation "
      "settings of the TA cluster.", args=TaClusterArgs, side="ta",
      source=DOC + "; " + TA_ASSUMED + " (the command page was not found)",
      output="TrustAuthorityTpm2AttestationSettings")
def get_settings(world: World, a: TaClusterArgs) -> Outcome:
    _check_ta_name(world, a.trust_authority_cluster)
    members = world.ta_cluster.reachable_members() or world.ta_cluster.members
    if not members:
        return Outcome(True, output=[])
    s = members[0].config.settings
    vc = world.ta_vcenter.name
    ident = f"{ta_cluster_id(world)}/tpm2-settings"
    return Outcome(True, output=[make(
        "TrustAuthorityTpm2AttestationSettings",
        Health=health(world.ta_cluster.health("tpm2_settings")), HealthDescription=[],
        Id=ident, Name=world.ta_cluster.name,
        RequireCertificateValidation=s.require_certificate_validation,
        RequireEndorsementKey=s.require_endorsement_keys,
        TrustAuthorityClusterId=ta_cluster_id(world),
        Uid=uid(vc, "TrustAuthorityTpm2AttestationSettings", ident))])


class KeyProviderArgs(Args):
    # Broadcom's page: a -MasterKeyId set and a -PrimaryKeyId set, each with [-Name] at
    # position 1, -KmipServerAddress and -TrustAuthorityCluster mandatory. The PrimaryKeyId
    # set is the default here [assumed: the page does not say which is; -MasterKeyId is
    # the deprecated one]. Scenarios may leave all of them out (the lab's defaults).
    ps_sets = (PSSet("PrimaryKeyId", ("primary_key_id",), mandatory=("primary_key_id",)),
               PSSet("MasterKeyId", ("master_key_id",), mandatory=("master_key_id",)))
    trust_authority_cluster: Annotated[str | None, PS(
        name="TrustAuthorityCluster", pipeline=True, mandatory=True,
        type="TrustAuthorityCluster")] = Field(
        None, description="The TA cluster (object or name; scenarios: default the only one).")
    name: Annotated[str | None, PS(position=0, mandatory=True)] = Field(
        None, description="The key provider's name.")
    primary_key_id: Annotated[str | None, PS(name="PrimaryKeyId")] = Field(
        None, description="The KMIP key to use as the provider's primary key.")
    master_key_id: Annotated[str | None, PS(name="MasterKeyId")] = Field(
        None, description="Deprecated and scheduled for removal: -PrimaryKeyId's former "
                          "name (still works, as in PowerCLI).")
    connection_timeout_seconds: Annotated[int | None, PS(name="ConnectionTimeOutSeconds",
                                                         type="Int64")] = Field(
        None, ge=0, description="Timeout of the connection to the KMIP servers (stored and "
                                "shown by the vAPI; the lab's KMIP servers never time out).")
    description: str | None = Field(None, description="The provider's description.")
    proxy_address: str | None = Field(
        None, description="Proxy to the KMIP servers (stored and shown by the vAPI; the "
                          "lab's KMIP traffic goes through no proxy).")
    proxy_port: Annotated[int | None, PS(type="Int32")] = Field(
        None, ge=1, le=65535, description="That proxy's port.")
    kmip_server_address: Annotated[str | None, PS(mandatory=True)] = Field(
        None, description="The first KMIP server's address (the lab's KMS servers only; "
                          "scenarios: default every server of the lab's KMS).")
    kmip_server_name: str | None = Field(None, description="That server's name.")
    kmip_server_port: Annotated[int | None, PS(type="Int32")] = Field(
        None, description="Its port (5696).")
    kmip_server_username: str | None = Field(
        None, description="The KMIP account (default: the one the lab's KMS administrator "
                          "created for vTA).")
    kmip_server_password: Annotated[str | None, PS(type="SecureString")] = Field(
        None, description="Its password (default: the one the KMS administrator handed over).")
    more_servers: Annotated[list[tuple[str, str, int]] | None, PS(hidden=True)] = Field(
        None, description="API: further KMIP servers (name, address, port) of the create "
                          "spec, as Add-TrustAuthorityKeyProviderServer adds them.")


@verb("New-TrustAuthorityKeyProvider", summary="Create a trusted key provider on every TA "
      "host: its KMIP server(s) and credentials. It trusts no KMIP server and has no client "
      "certificate yet, so it cannot fetch keys until the trust is set up "
      "(…KeyProviderClientCertificate, …KeyProviderServerCertificate).",
      args=KeyProviderArgs, side="ta",
      source="B: https://developer.broadcom.com/powercli/latest/"
             "vmware.vimautomation.security/commands/new-trustauthoritykeyprovider (the "
             "-MasterKeyId and -PrimaryKeyId sets; " + KEY_ID_NOTE + "); scenarios and the "
             "vAPI may leave out the key, the first server and the cluster: the lab KMS's "
             "primary key and every KMIP server of the lab's KMS")
def new_key_provider(world: World, a: KeyProviderArgs) -> Outcome:
    _check_ta_name(world, a.trust_authority_cluster)
    _check_kmip_server(world, a)
    name = a.name or world.key_provider_name
    key_id = primary_key_of(a.primary_key_id, a.master_key_id) or world.kms_primary_key
    if key_id is None:
        key_id = world.kms.create_key(now=world.kernel.utc())
        world.kms.activate(key_id) if world.kms.key(key_id).state != "Active" else None
    world.kms_primary_key = key_id
    template = provider_for(name, world.kms, world.kms_identity, key_id)
    servers = template.servers
    if a.kmip_server_address is not None:
        first = next(s for s in world.kms.servers if s.address == a.kmip_server_address)
        servers = (KmipServerRef(a.kmip_server_name or first.name, first.address,
                                 a.kmip_server_port or first.port),)
    for server_name, address, port in a.more_servers or []:
        ref = KmipServerRef(server_name, address, int(port))
        if any(r.name == ref.name or r.endpoint == ref.endpoint for r in servers):
            raise InputError(f"KMIP server {server_name!r} ({address}:{port}) is listed twice",
                             what="KMIP server", value=server_name)
        servers = (*servers, ref)
    provider = replace(template, servers=servers,
                       username=a.kmip_server_username or template.username,
                       password=(a.kmip_server_password if a.kmip_server_password is not None
                                 else template.password),
                       client_certificate_der=b"", trusted_server_certificates_der=(),
                       description=a.description or "", proxy_address=a.proxy_address,
                       proxy_port=a.proxy_port,
                       connection_timeout_seconds=a.connection_timeout_seconds)

    def apply(h: TaHost) -> bool:
        if name in h.kmxd.providers:
            return False
        h.kmxd.add_provider(provider)
        return True

    return _ta_task(world, "Add trusted key provider", name, world.ta_cluster.apply(apply),
                    f"key provider {name}")


def _check_kmip_server(world: World, a: KeyProviderArgs) -> None:
    """The KMIP server address given must be one of the lab's (its KMS cluster is
    simulated); the server's name is the operator's label for it."""
    servers = list(getattr(world.kms, "servers", []) or [])
    known = {(getattr(s, "name", None), getattr(s, "address", None), getattr(s, "port", None))
             for s in servers}
    for value, index, what in ((a.kmip_server_address, 1, "KMIP server address"),
                               (a.kmip_server_port, 2, "KMIP server port")):
        choices = sorted({str(k[index]) for k in known})
        if value is not None and known and str(value) not in choices:
            raise InputError(f"unknown {what} {value!r} (the lab's KMS cluster has "
                             f"{', '.join(choices)})", what=what, value=value,
                             choices=choices)


@verb("Export-TrustAuthorityServicesInfo", summary="Export the attestation and key "
      "provider services of the TA cluster.", args=FileArgs, side="ta", source=DOC)
def export_services(world: World, a: FileArgs) -> Outcome:
    infos = []
    for h in world.ta_cluster.members:
        infos.append(ta_service_info(world, h.name, "attestation"))
        infos.append(ta_service_info(world, h.name, "key_provider"))
    world.files[a.file] = tuple(infos)
    return Outcome(True, message=f"{len(infos)} services exported to {a.file}")


@verb("Import-TrustAuthorityServicesInfo", summary="Import TA services info into the "
      "workload vCenter.", args=FileArgs, side="workload", source=DOC)
def import_services(world: World, a: FileArgs) -> Outcome:
    infos = _file(world, a.file, tuple)
    if not infos or not all(isinstance(i, ServiceInfo) for i in infos):
        raise InputError(f"file {a.file!r} is not a Trust Authority services export "
                         "(Export-TrustAuthorityServicesInfo)", what="file", value=a.file)
    add_imported_services(world, infos, replace=True)
    return Outcome(True, message=f"{len(infos)} services imported into "
                                 f"{world.workload_vcenter.name}")


