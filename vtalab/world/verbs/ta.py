"""Trust Authority cluster cmdlets: state, principals, base images, TPM CAs and EKs,
TPM 2.0 settings, the trusted key provider and the services export/import."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from vtalab.core import crypto
from vtalab.domain.attestation import Principal, Tpm2Settings
from vtalab.domain.base_image import BaseImageError, export_imagedb, parse_imagedb
from vtalab.domain.key_provider import provider_for
from vtalab.domain.trusted import ServiceInfo
from vtalab.errors import InputError, OperationError
from vtalab.esxi.releases import image_for
from vtalab.world.registry import Args, Outcome, verb
from vtalab.world.verbs.common import DOC, SEED, _file, _ta_task, _tagged_file

if TYPE_CHECKING:
    from vtalab.domain.ta_cluster import TaHost
    from vtalab.world.assembly import World


class ClusterArgs(Args):
    name: str | None = Field(None, description="TA cluster name (default: the only one).")


class SetClusterArgs(ClusterArgs):
    state: Literal["Enabled", "Disabled"]


def _check_ta_name(world: World, name: str | None) -> None:
    if name is not None and name != world.ta_cluster.name:
        raise InputError(f"unknown Trust Authority cluster {name!r}",
                         what="TA cluster", value=name, choices=[world.ta_cluster.name])


@verb("Get-TrustAuthorityCluster", summary="Show the TA cluster, its state and health.",
      args=ClusterArgs, side="ta", source=SEED)
def get_cluster(world: World, a: ClusterArgs) -> Outcome:
    _check_ta_name(world, a.name)
    ta = world.ta_cluster
    states = {h.name: h.config.enabled for h in ta.members}
    state = "Enabled" if states and all(states.values()) else "Disabled"
    return Outcome(True, output=[{"Name": ta.name, "State": state,
                                  "Health": ta.health("state")}])


@verb("Set-TrustAuthorityCluster", summary="Enable or disable the TA cluster (re-applies "
      "the state to every TA host).", args=SetClusterArgs, side="ta", source=DOC)
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
    file: str = Field(description="Name of the exported file (-FilePath).")


@verb("Export-TrustedPrincipal", summary="Export the workload vCenter's STS signing "
      "certificates (the principal).", args=FileArgs, side="workload", source=DOC)
def export_principal(world: World, a: FileArgs) -> Outcome:
    vc = world.workload_vcenter
    world.files[a.file] = Principal(issuer=vc.name, certificates_der=vc.sts_certificates_der())
    return Outcome(True, message=f"principal of {vc.name} exported to {a.file}")


@verb("New-TrustAuthorityPrincipal", summary="Import a workload vCenter principal into "
      "the TA cluster.", args=FileArgs, side="ta", source=DOC)
def new_principal(world: World, a: FileArgs) -> Outcome:
    principal = _file(world, a.file, Principal)

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


class VmHostFileArgs(Args):
    vmhost: str
    file: str


@verb("Export-VMHostImageDb", summary="Export the running ESXi image metadata of a host "
      "(boot_imgdb.tgz).", args=VmHostFileArgs, side="host", source=SEED + " (Quick Boot 3)")
def export_imagedb_verb(world: World, a: VmHostFileArgs) -> Outcome:
    host = world.host(a.vmhost)
    if not host.is_up:
        raise OperationError(f"cannot export the image database of {a.vmhost!r}: the host is "
                             f"{host.power_state.value}", what="host", value=a.vmhost,
                             choices=[n for n, h in world.hosts.items() if h.is_up])
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


@verb("New-TrustAuthorityVMHostBaseImage", summary="Import a trusted ESXi base image "
      "(from Export-VMHostImageDb).", args=FileArgs, side="ta", source=SEED)
def new_base_image(world: World, a: FileArgs) -> Outcome:
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
        vc.finish_task(task, error=f"already_exists: base image {image.version}",
                       reason="already_exists")
        return Outcome(False, "already_exists", f"base image {image.version} already exists")
    return _ta_task(world, "Add trusted ESXi base image", image.version, changed,
                    f"base image {image.version}", base_image=image.version, change="add")


@verb("Get-TrustAuthorityVMHostBaseImage", summary="List trusted base images with their "
      "last attested time.", args=ClusterArgs, side="ta", source=SEED)
def get_base_images(world: World, a: ClusterArgs) -> Outcome:
    _check_ta_name(world, a.name)
    rows = [{"Version": b["version"], "DisplayName": b["display_name"], "Health": b["health"],
             "LastAttestedTime": (world.kernel.utc(b["last_attested_time"]).isoformat()
                                  if b["last_attested_time"] is not None else None)}
            for b in world.base_images()]
    return Outcome(True, output=rows)


class VersionArgs(Args):
    version: str = Field(description="Base image version, e.g. 8.0.2-22380479 or 8.0 U2.")


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
      args=VersionArgs, side="ta", source=SEED)
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
    vmhost: str


@verb("Export-Tpm2CACertificate", summary="Export the TPM vendor CA certificate of a "
      "trusted host's TPM.", args=VmHostFileArgs, side="host", source=DOC)
def export_tpm_ca(world: World, a: VmHostFileArgs) -> Outcome:
    th = world.trusted_host(a.vmhost)
    vendor = th.host.tpm_vendor
    cert, _ = world.tpm_vendor_ca(vendor)
    world.files[a.file] = ("tpm-ca", vendor, crypto.cert_der(cert))
    return Outcome(True, message=f"{vendor} TPM CA exported to {a.file}")


def _ca_subject(der: bytes) -> str:
    """A TPM CA certificate's subject, as EK certificates name their issuer (for the trace)."""
    try:
        return str(crypto.cert_from_der(der).subject.rfc4514_string())
    except ValueError:
        return "unparseable certificate " + crypto.sha256(der).hex()[:16]


class NamedFileArgs(FileArgs):
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


@verb("Export-Tpm2EndorsementKey", summary="Export the TPM endorsement key of a trusted "
      "host.", args=VmHostFileArgs, side="host", source=DOC)
def export_ek(world: World, a: VmHostFileArgs) -> Outcome:
    th = world.trusted_host(a.vmhost)
    world.files[a.file] = ("ek", a.vmhost, crypto.public_der(th.host.tpm.ek))
    return Outcome(True, message=f"endorsement key of {a.vmhost} exported to {a.file}")


@verb("New-TrustAuthorityTpm2EndorsementKey", summary="Trust a TPM endorsement key.",
      args=NamedFileArgs, side="ta", source=DOC)
def new_ek(world: World, a: NamedFileArgs) -> Outcome:
    host, der = _tagged_file(world, a.file, "ek", "an endorsement key")
    name = a.name or host
    return _add_named(world, "endorsement_keys", name, der, "Add TPM 2.0 endorsement key",
                      f"endorsement key {name}", endorsement_key=crypto.sha256(der).hex())


class SettingsArgs(Args):
    require_certificate_validation: bool | None = None
    require_endorsement_keys: bool | None = None


@verb("Set-TrustAuthorityTpm2AttestationSettings", summary="Set the TPM 2.0 attestation "
      "settings.", args=SettingsArgs, side="ta", source=DOC)
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


@verb("Get-TrustAuthorityTpm2AttestationSettings", summary="Show the TPM 2.0 settings.",
      side="ta", source=DOC)
def get_settings(world: World, a: Args) -> Outcome:
    rows = [{"VMHost": h.name,
             "RequireCertificateValidation": h.config.settings.require_certificate_validation,
             "RequireEndorsementKeys": h.config.settings.require_endorsement_keys}
            for h in world.ta_cluster.members]
    return Outcome(True, output=rows)


class KeyProviderArgs(Args):
    name: str | None = None
    primary_key_id: str | None = None


@verb("New-TrustAuthorityKeyProvider", summary="Create the trusted key provider on every "
      "TA host (KMIP servers, credentials, client certificate).", args=KeyProviderArgs,
      side="ta", source=DOC)
def new_key_provider(world: World, a: KeyProviderArgs) -> Outcome:
    name = a.name or world.key_provider_name
    key_id = a.primary_key_id or world.kms_primary_key
    if key_id is None:
        key_id = world.kms.create_key(now=world.kernel.utc())
        world.kms.activate(key_id) if world.kms.key(key_id).state != "Active" else None
    world.kms_primary_key = key_id
    provider = provider_for(name, world.kms, world.kms_identity, key_id)

    def apply(h: TaHost) -> bool:
        if name in h.kmxd.providers:
            return False
        h.kmxd.add_provider(provider)
        return True

    return _ta_task(world, "Add trusted key provider", name, world.ta_cluster.apply(apply),
                    f"key provider {name}")


@verb("Export-TrustAuthorityServicesInfo", summary="Export the attestation and key "
      "provider services of the TA cluster.", args=FileArgs, side="ta", source=DOC)
def export_services(world: World, a: FileArgs) -> Outcome:
    infos = []
    for h in world.ta_cluster.members:
        sha = crypto.sha256(crypto.cert_der(h.attestd.certificate)).hex()
        group = world.ta_cluster.group
        infos.append(ServiceInfo("attestation", f"{h.name}/attestd", h.name, group, sha))
        infos.append(ServiceInfo("key_provider", f"{h.name}/kmxd", h.name, group, sha))
    world.files[a.file] = tuple(infos)
    return Outcome(True, message=f"{len(infos)} services exported to {a.file}")


@verb("Import-TrustAuthorityServicesInfo", summary="Import TA services info into the "
      "workload vCenter.", args=FileArgs, side="workload", source=DOC)
def import_services(world: World, a: FileArgs) -> Outcome:
    infos = _file(world, a.file, tuple)
    if not infos or not all(isinstance(i, ServiceInfo) for i in infos):
        raise InputError(f"file {a.file!r} is not a Trust Authority services export "
                         "(Export-TrustAuthorityServicesInfo)", what="file", value=a.file)
    world.files["__imported_services__"] = infos
    return Outcome(True, message=f"{len(infos)} services imported into "
                                 f"{world.workload_vcenter.name}")


