"""Operator verbs: PowerCLI cmdlets where one exists, lab verbs for the rest.

Each verb is registered once (``vtalab.registry``) with its argument model and source;
the CLI, scenarios, the checker and the docs read the registry. Files that cmdlets
exchange (``-FilePath``) live in ``world.files`` under the name the operator gives.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from vtalab import crypto
from vtalab.domain import vm as vm_ops
from vtalab.domain.attestation import Principal, Tpm2Settings
from vtalab.domain.base_image import BaseImageError, export_imagedb, parse_imagedb
from vtalab.domain.key_provider import provider_for
from vtalab.domain.trusted import ServiceInfo
from vtalab.errors import InputError, OperationError
from vtalab.esxi.releases import image_for
from vtalab.registry import Args, Outcome, verb

if TYPE_CHECKING:
    from vtalab.domain.ta_cluster import TaHost
    from vtalab.world import World

__all__ = ["setup_procedure"]

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
    for cluster in world.trusted_clusters.values():  # hosts re-attest against the change
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


def _tagged_file(world: World, name: str, tag: str, what: str) -> tuple[Any, ...]:
    """The payload of a file exported with ``tag`` (a TPM CA, an EK, a vTA backup)."""
    value = _file(world, name, tuple)
    if not value or value[0] != tag:
        raise InputError(f"file {name!r} is not {what}", what="file", value=name,
                         choices=[n for n, v in world.files.items()
                                  if isinstance(v, tuple) and v and v[0] == tag])
    return value[1:]


# -- Trust Authority cluster -------------------------------------------------------------------
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
        message = (f"WARNING: host {a.vmhost} was upgraded with Quick Boot. The exported file "
                   f"contains the newest image metadata ({host.version}); the host's "
                   f"attestation measurements describe its last full boot "
                   f"({host.measured_version}). " + message)
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
        infos.append(ServiceInfo("attestation", f"{h.name}/attestd", h.name, world.ta_cluster.group, sha))
        infos.append(ServiceInfo("key_provider", f"{h.name}/kmxd", h.name, world.ta_cluster.group, sha))
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


class TrustedClusterArgs(Args):
    cluster: str | None = Field(None, description="Trusted cluster (default: the only one).")


def _add_services(world: World, a: TrustedClusterArgs, kind: str) -> Outcome:
    cluster = world.trusted_cluster(a.cluster)
    infos = world.files.get("__imported_services__", ())
    wanted = [i for i in infos if i.kind == kind and i not in cluster.desired]
    cluster.desired = tuple([*cluster.desired, *wanted])
    vc = world.workload_vcenter
    vc.finish_task(vc.start_task(f"Add {kind.replace('_', ' ')} service info", cluster.name))
    return Outcome(True, message=f"{len(wanted)} {kind} services added to {cluster.name}")


@verb("Add-TrustedClusterAttestationServiceInfo", summary="Add the imported attestation "
      "services to a Trusted cluster's desired configuration.", args=TrustedClusterArgs,
      side="workload", source=DOC)
def add_attestation_info(world: World, a: TrustedClusterArgs) -> Outcome:
    return _add_services(world, a, "attestation")


@verb("Add-TrustedClusterKeyProviderServiceInfo", summary="Add the imported key provider "
      "services to a Trusted cluster's desired configuration.", args=TrustedClusterArgs,
      side="workload", source=DOC)
def add_kp_info(world: World, a: TrustedClusterArgs) -> Outcome:
    return _add_services(world, a, "key_provider")


class SetTrustedClusterArgs(TrustedClusterArgs):
    state: Literal["Enabled", "Disabled"] | None = None
    remediate: bool = False


@verb("Set-TrustedCluster", summary="Enable/disable a Trusted cluster, or -Remediate: push "
      "the desired trust configuration to its hosts.", args=SetTrustedClusterArgs,
      side="workload", source=DOC)
def set_trusted_cluster(world: World, a: SetTrustedClusterArgs) -> Outcome:
    cluster = world.trusted_cluster(a.cluster)
    vc = world.workload_vcenter
    if a.state is not None:
        cluster.enabled = a.state == "Enabled"
    changed = cluster.remediate() if (a.remediate or a.state == "Enabled") else []
    vc.finish_task(vc.start_task("Update Trusted cluster", cluster.name))
    world.kernel.record(vc.source, "trusted.remediate", cluster=cluster.name, hosts=changed,
                        message=f"Trusted cluster {cluster.name}: configuration applied to "
                                f"{', '.join(changed) or 'no host (already applied)'}")
    return Outcome(True, output=changed)


@verb("Get-TrustedClusterAppliedStatus", summary="Compare desired and applied trust "
      "configuration per host.", args=TrustedClusterArgs, side="workload", source=DOC)
def applied_status(world: World, a: TrustedClusterArgs) -> Outcome:
    cluster = world.trusted_cluster(a.cluster)
    rows = [{"VMHost": n, "Status": s} for n, s in cluster.applied_status().items()]
    return Outcome(True, output=rows)


@verb("Get-TrustAuthorityServicesStatus", summary="State of attestd and kmxd on each TA "
      "host.", side="ta", source=DOC)
def services_status(world: World, a: Args) -> Outcome:
    rows = []
    for h in world.ta_cluster.hosts.values():
        for svc in ("attestd", "kmxd"):
            up = h.host.is_up and h.host.services.get(svc, False)
            rows.append({"VMHost": h.name, "Service": svc,
                         "Status": "RUNNING" if up else "STOPPED",
                         "Health": "OK" if up else "ERROR"})
    return Outcome(True, output=rows)


# -- hosts -----------------------------------------------------------------------------------
class RestartArgs(VmHostArgs):
    force: bool = Field(False, description="Reboot even if VMs are running (they stop).")


def _stop_vms_on(world: World, host: str, cause: str) -> None:
    for vm in world.vms.values():
        if vm.host == host and vm.power_state == "poweredOn":
            vm_ops.power_off(world, vm, cause=cause)


def _require_quiet(world: World, host: str, force: bool, action: str) -> None:
    h = world.host(host)
    running = [v.name for v in world.vms.values()
               if v.host == host and v.power_state == "poweredOn"]
    if running and not force and not h.in_maintenance:
        raise OperationError(f"cannot {action} {host!r}: VMs are running on it "
                             f"({', '.join(running)}); enter maintenance mode or use force",
                             what="host", value=host)


def _host_task(world: World, host: str, name: str) -> Any:
    vc = world.ta_vcenter if world.hosts[host].role == "trust-authority" else world.workload_vcenter
    return vc, vc.start_task(name, host)


def _wait(proc: Any) -> Generator[Any, Any, None]:
    yield proc


@verb("Restart-VMHost", summary="Reboot a host (a full boot: firmware, TPM reset, "
      "measurements).", args=RestartArgs, side="host", source="PowerCLI Restart-VMHost")
def restart_host(world: World, a: RestartArgs) -> Generator[Any, Any, Outcome]:
    _require_quiet(world, a.vmhost, a.force, "restart")
    proc = world.host(a.vmhost).reboot("full", reason="Restart-VMHost")
    _stop_vms_on(world, a.vmhost, "host reboot")
    vc, task = _host_task(world, a.vmhost, "Reboot host")
    yield proc
    vc.finish_task(task)
    return Outcome(True, message=f"{a.vmhost} rebooted")


class RebootArgs(VmHostArgs):
    mode: Literal["full", "quick"] = "full"
    force: bool = False


@verb("reboot-host", kind="lab", summary="Reboot a host with a full boot or a Quick Boot "
      "(refused on TXT hosts or without the cluster setting).", args=RebootArgs, side="host",
      source=SEED + " (Quick Boot)")
def reboot_host(world: World, a: RebootArgs) -> Generator[Any, Any, Outcome]:
    _require_quiet(world, a.vmhost, a.force, "reboot")
    proc = world.host(a.vmhost).reboot(a.mode, reason=f"{a.mode} reboot")
    _stop_vms_on(world, a.vmhost, "host reboot")
    yield proc
    return Outcome(True, message=f"{a.vmhost} rebooted ({a.mode})")


@verb("Start-VMHost", summary="Power on a host.", args=VmHostArgs, side="host",
      source="PowerCLI Start-VMHost")
def start_host(world: World, a: VmHostArgs) -> Generator[Any, Any, Outcome]:
    yield world.host(a.vmhost).power_on()
    return Outcome(True, message=f"{a.vmhost} powered on")


@verb("Stop-VMHost", summary="Shut a host down.", args=RestartArgs, side="host",
      source="PowerCLI Stop-VMHost")
def stop_host(world: World, a: RestartArgs) -> Generator[Any, Any, Outcome]:
    _require_quiet(world, a.vmhost, a.force, "shut down")
    proc = world.host(a.vmhost).shutdown()
    _stop_vms_on(world, a.vmhost, "host shutdown")
    yield proc
    return Outcome(True, message=f"{a.vmhost} powered off")


class MaintenanceArgs(VmHostArgs):
    state: Literal["Maintenance", "Connected"]


def _evacuate(world: World, host: str) -> Generator[Any, Any, Outcome]:
    h = world.host(host)
    peers = [n for n, x in world.hosts.items()
             if n != host and x.cluster == h.cluster and x.is_up and not x.in_maintenance]
    for vm in [v for v in world.vms.values() if v.host == host and v.power_state == "poweredOn"]:
        result = None
        for dest in peers:
            result = yield from vm_ops.migrate(world, vm, dest)
            if result.ok:
                break
        if result is None or not result.ok:
            why = result.error if result else "no other host is available"
            return Outcome(False, why, f"cannot evacuate {vm.name} from {host}: {why}")
    return Outcome(True)


def enter_maintenance(world: World, host: str) -> Generator[Any, Any, Outcome]:
    vc, task = _host_task(world, host, "Enter maintenance mode")
    result = yield from _evacuate(world, host)
    if not result.ok:
        vc.finish_task(task, error=result.message, reason=result.error)
        return result
    yield world.kernel.timeout(world.params.maintenance_mode_seconds)
    world.host(host).enter_maintenance()
    vc.finish_task(task)
    return Outcome(True, message=f"{host} in maintenance mode")


@verb("Set-VMHost", summary="Enter (evacuating VMs by vMotion) or exit maintenance mode.",
      args=MaintenanceArgs, side="host", source="PowerCLI Set-VMHost -State")
def set_vmhost(world: World, a: MaintenanceArgs) -> Generator[Any, Any, Outcome]:
    h = world.host(a.vmhost)
    if not h.is_up:
        raise OperationError(f"host {a.vmhost!r} is {h.power_state.value}", what="host",
                             value=a.vmhost)
    if a.state == "Maintenance":
        return (yield from enter_maintenance(world, a.vmhost))
    h.exit_maintenance()
    return Outcome(True, message=f"{a.vmhost} connected")


class UpgradeArgs(VmHostArgs):
    release: str = Field(description="Target ESXi release (8.0 U3, 8.0.3-24022510 ...).")
    reboot: Literal["auto", "quick", "full", "none"] = Field(
        "auto", description="auto = Quick Boot when the cluster allows it and the host "
        "supports it (vLCM behaviour), else a full boot; none = stage only.")


@verb("upgrade-host", kind="lab", summary="Remediate a host to an ESXi release (vLCM): "
      "maintenance mode, stage, reboot (Quick Boot if enabled), exit maintenance.",
      args=UpgradeArgs, side="host", source=SEED + " (upgrade and patching)")
def upgrade_host(world: World, a: UpgradeArgs) -> Generator[Any, Any, Outcome]:
    h = world.host(a.vmhost)
    image = image_for(a.release)
    if not h.is_up:
        raise OperationError(f"cannot upgrade {a.vmhost!r}: it is {h.power_state.value}",
                             what="host", value=a.vmhost)
    if image.key == h.version:
        raise OperationError(f"{a.vmhost!r} already runs {image.key}", what="release",
                             value=a.release)
    if a.reboot == "quick" and (why := h.quick_boot_problem()):
        raise OperationError(f"Quick Boot refused on {a.vmhost!r}: {why}", what="reboot",
                             value="quick", choices=["auto", "full", "none"])
    vc, task = _host_task(world, a.vmhost, f"Remediate host to {image.display_name}")
    if not h.in_maintenance:
        result = yield from enter_maintenance(world, a.vmhost)
        if not result.ok:
            vc.finish_task(task, error=result.message, reason=result.error)
            return result
    yield h.stage_upgrade(image)
    # BUG FIX (world tests): a power loss during staging or the reboot left the host off;
    # the verb then crashed on h.reboot() (or reported success) and its Recent Tasks row
    # stayed "running". Fail the task instead.
    if h.is_up and a.reboot != "none":
        yield h.reboot(a.reboot, reason=f"upgrade to {image.key}")
        if h.is_up:
            h.exit_maintenance()
    if not h.is_up:
        error = f"{a.vmhost} went down during the remediation ({h.power_state.value})"
        vc.finish_task(task, error=error, reason="host_down")
        return Outcome(False, "host_down", error)
    vc.finish_task(task)
    mode = "Quick Boot" if h.last_boot_quick and a.reboot != "none" else "full boot"
    world.kernel.record(h.source, "host.upgraded", host=a.vmhost, version=h.version,
                        measured_version=h.measured_version,
                        message=f"{a.vmhost} upgraded to {image.display_name} ({mode}); TPM "
                                f"measurements describe {h.measured_version}")
    return Outcome(True, message=f"{a.vmhost} runs {h.version}")


@verb("revert-host", kind="lab", summary="Boot the previous ESXi image from the alternate "
      "boot bank (Shift+R; one level of rollback).", args=VmHostArgs, side="host",
      source=SEED + " (troubleshooting upgrades), KB 77234")
def revert_host(world: World, a: VmHostArgs) -> Generator[Any, Any, Outcome]:
    _require_quiet(world, a.vmhost, False, "revert")
    yield world.host(a.vmhost).revert()
    return Outcome(True, message=f"{a.vmhost} runs {world.host(a.vmhost).version}")


class QuickBootArgs(TrustedClusterArgs):
    enabled: bool


@verb("set-quick-boot", kind="lab", summary="Enable or disable Quick Boot for a cluster "
      "(vLCM remediation setting).", args=QuickBootArgs, side="workload",
      source=SEED + " (Quick Boot 1)")
def set_quick_boot(world: World, a: QuickBootArgs) -> Outcome:
    cluster = world.trusted_cluster(a.cluster)
    cluster.quick_boot = a.enabled
    for th in cluster.hosts.values():
        th.host.quick_boot_enabled = a.enabled
    world.kernel.record(world.workload_vcenter.source, "cluster.quick_boot",
                        cluster=cluster.name, enabled=a.enabled,
                        message=f"Quick Boot {'enabled' if a.enabled else 'disabled'} for "
                                f"{cluster.name}")
    return Outcome(True)


# -- services ---------------------------------------------------------------------------------
class ServiceArgs(VmHostArgs):
    service: Literal["attestd", "kmxd", "kmxa"]


def _service(world: World, host: str, service: str, action: str) -> Generator[Any, Any, Outcome]:
    h = world.host(host)
    if service not in h.services:
        raise InputError(f"service {service!r} does not run on {host!r}", what="service",
                         value=service, choices=list(h.services))
    if not h.is_up:
        raise OperationError(f"host {host!r} is {h.power_state.value}", what="host", value=host)
    if action in ("stop", "restart"):
        h.services[service] = False
        world.kernel.log(host, f"{service}.log", f"{service} stopping")
        world.kernel.record(h.source, "service.stopped", host=host, service=service,
                            message=f"{service} stopped on {host}")
    if action in ("start", "restart"):
        yield world.kernel.timeout(world.params.service_restart_seconds)
        h.services[service] = True
        world.kernel.log(host, f"{service}.log", f"{service} started")
        world.kernel.record(h.source, "service.started", host=host, service=service,
                            message=f"{service} started on {host}")
        if service == "kmxa":
            world.trusted_host(host).agent.wake()
    # BUG FIX (world tests): f"{action}ed" gave "stoped"; use the real past tenses.
    done = {"start": "started", "stop": "stopped", "restart": "restarted"}[action]
    return Outcome(True, message=f"{service} {done} on {host}")


def _vcenter_service(world: World, a: ServiceArgs, action: str) -> Generator[Any, Any, Outcome]:
    h = world.host(a.vmhost)
    if h.role == "trusted":
        vc = world.workload_vcenter
        task = vc.start_task(f"{action.capitalize()} service {a.service}", a.vmhost)
        error = (f"{a.service} on trusted host {a.vmhost} cannot be managed from vCenter; "
                 "log in to the host itself to restart it")
        vc.finish_task(task, error=error, reason="host_login_required")
        return Outcome(False, "host_login_required", error)
    vc, task = _host_task(world, a.vmhost, f"{action.capitalize()} service {a.service}")
    result = yield from _service(world, a.vmhost, a.service, action)
    vc.finish_task(task)
    return result


@verb("Restart-VMHostService", summary="Restart attestd or kmxd on a TA host from vCenter "
      "(refused for kmxa on a trusted host).", args=ServiceArgs, side="host", source=SEED)
def restart_service(world: World, a: ServiceArgs) -> Generator[Any, Any, Outcome]:
    return (yield from _vcenter_service(world, a, "restart"))


@verb("Stop-VMHostService", summary="Stop attestd or kmxd on a TA host from vCenter.",
      args=ServiceArgs, side="host", source=SEED)
def stop_service(world: World, a: ServiceArgs) -> Generator[Any, Any, Outcome]:
    return (yield from _vcenter_service(world, a, "stop"))


@verb("Start-VMHostService", summary="Start attestd or kmxd on a TA host from vCenter.",
      args=ServiceArgs, side="host", source=SEED)
def start_service(world: World, a: ServiceArgs) -> Generator[Any, Any, Outcome]:
    return (yield from _vcenter_service(world, a, "start"))


class HostServiceArgs(ServiceArgs):
    action: Literal["start", "stop", "restart"] = "restart"


@verb("host-service", kind="lab", summary="Log in to a host (SSH/DCUI) and start, stop or "
      "restart a vTA daemon (/etc/init.d/kmxa restart).", args=HostServiceArgs, side="host",
      source=SEED + " (starting and stopping services)")
def host_service(world: World, a: HostServiceArgs) -> Generator[Any, Any, Outcome]:
    return (yield from _service(world, a.vmhost, a.service, a.action))


# -- VMs ---------------------------------------------------------------------------------------
class VmArgs(Args):
    vm: str


@verb("Start-VM", summary="Power on a VM (an encrypted VM needs its key on the host).",
      args=VmArgs, side="workload", source="PowerCLI Start-VM")
def start_vm(world: World, a: VmArgs) -> Generator[Any, Any, Outcome]:
    vm = world.vm(a.vm)
    if vm.power_state == "poweredOn":
        raise OperationError(f"VM {a.vm!r} is already powered on", what="VM", value=a.vm)
    return (yield from vm_ops.power_on(world, vm))


@verb("Stop-VM", summary="Power off a VM.", args=VmArgs, side="workload",
      source="PowerCLI Stop-VM")
def stop_vm(world: World, a: VmArgs) -> Outcome:
    return vm_ops.power_off(world, world.vm(a.vm))


class MoveArgs(VmArgs):
    destination: str


@verb("Move-VM", summary="vMotion a VM to another host (the destination must get the key).",
      args=MoveArgs, side="workload", source="PowerCLI Move-VM")
def move_vm(world: World, a: MoveArgs) -> Generator[Any, Any, Outcome]:
    world.host(a.destination)
    return (yield from vm_ops.migrate(world, world.vm(a.vm), a.destination))


@verb("encrypt-vm", kind="lab", summary="Encrypt a powered-off VM with the trusted key "
      "provider.", args=VmArgs, side="workload", source=SEED)
def encrypt_vm(world: World, a: VmArgs) -> Generator[Any, Any, Outcome]:
    return (yield from vm_ops.encrypt(world, world.vm(a.vm)))


# -- TA host membership and backup -------------------------------------------------------------
@verb("remove-ta-host", kind="lab", summary="Remove a host from the TA cluster.",
      args=VmHostArgs, side="ta", source=SEED + " (troubleshooting, step 1)")
def remove_ta_host(world: World, a: VmHostArgs) -> Outcome:
    member = world.ta_host(a.vmhost)
    member.member = False
    world.ta_cluster.refresh_trust()
    world.kernel.record(world.ta_vcenter.source, "ta.host.removed", host=a.vmhost,
                        message=f"{a.vmhost} removed from the TA cluster")
    return Outcome(True)


@verb("add-ta-host", kind="lab", summary="Add a host to the TA cluster (it comes back "
      "without the cluster's objects; KB 77234).", args=VmHostArgs, side="ta",
      source=SEED + " (troubleshooting, step 3), KB 77234")
def add_ta_host(world: World, a: VmHostArgs) -> Outcome:
    member = world.ta_host(a.vmhost)
    from vtalab.domain.key_provider import KeyProviderService
    from vtalab.domain.ta_cluster import TaConfig

    member.config = TaConfig()
    member.kmxd = KeyProviderService(a.vmhost, world.ta_cluster.group)
    member.member = True
    world.ta_cluster.refresh_trust()
    world.kernel.record(world.ta_vcenter.source, "ta.host.added", host=a.vmhost,
                        message=f"{a.vmhost} added to the TA cluster (no vTA objects yet)")
    return Outcome(True)


@verb("backup-ta-config", kind="lab", summary="Back up the vTA configuration (every TA "
      "object and the base-image files) from a consistent TA host.", args=FileArgs,
      side="ta", source=SEED + " (backing up the vTA configuration)")
def backup_ta(world: World, a: FileArgs) -> Outcome:
    members = [h for h in world.ta_cluster.reachable_members() if h.config.enabled]
    if not members:
        return Outcome(False, "ta_unreachable", "no configured TA host to back up")
    src = members[0]
    world.files[a.file] = ("ta-backup", {
        "enabled": src.config.enabled,
        "principals": dict(src.config.principals),
        "base_images": src.config.base_images.snapshot(),
        "tpm_ca_certificates": dict(src.config.tpm_ca_certificates),
        "endorsement_keys": dict(src.config.endorsement_keys),
        "settings": src.config.settings,
        "key_providers": dict(src.kmxd.providers),
    })
    return Outcome(True, message=f"vTA configuration of {src.name} backed up to {a.file}")


@verb("restore-ta-config", kind="lab", summary="Re-apply a vTA configuration backup to "
      "every TA host that lacks it.", args=FileArgs, side="ta",
      source=SEED + " (backing up the vTA configuration)")
def restore_ta(world: World, a: FileArgs) -> Outcome:
    (data,) = _tagged_file(world, a.file, "ta-backup", "a vTA configuration backup")

    def apply(h: TaHost) -> bool:
        h.config.enabled = data["enabled"]
        h.config.principals = dict(data["principals"])
        h.config.base_images.replace_all(data["base_images"])
        h.config.tpm_ca_certificates = dict(data["tpm_ca_certificates"])
        h.config.endorsement_keys = dict(data["endorsement_keys"])
        h.config.settings = data["settings"]
        h.kmxd.providers = dict(data["key_providers"])
        return True

    settings = data["settings"]
    return _ta_task(world, "Restore vTA configuration", world.ta_cluster.name,
                    world.ta_cluster.apply(apply), "vTA configuration backup",
                    base_images=sorted(i.version for i in data["base_images"]),
                    tpm_cas=sorted(_ca_subject(d) for d in data["tpm_ca_certificates"].values()),
                    endorsement_keys=sorted(crypto.sha256(d).hex()
                                            for d in data["endorsement_keys"].values()),
                    require_certificate_validation=settings.require_certificate_validation,
                    require_endorsement_keys=settings.require_endorsement_keys)


@verb("restore-vcenter-backup", kind="lab", summary="Restore the TA vCenter from its file "
      "backup: vTA objects live on the TA hosts, so nothing of them comes back.",
      side="ta", source=SEED + " (backing up the vTA configuration)")
def restore_vcenter(world: World, a: Args) -> Outcome:
    world.kernel.record(world.ta_vcenter.source, "vcenter.restored",
                        message=f"{world.ta_vcenter.name} restored from backup; the vTA "
                                "configuration is not part of a vCenter backup")
    return Outcome(True, message="vCenter restored; vTA objects unchanged")


class WaitArgs(Args):
    seconds: float = Field(ge=0)


@verb("wait", kind="lab", summary="Let simulated time pass.", args=WaitArgs)
def wait(world: World, a: WaitArgs) -> Generator[Any, Any, Outcome]:
    yield world.kernel.timeout(a.seconds)
    return Outcome(True)


# -- the documented setup procedure -----------------------------------------------------------
def setup_procedure(world: World) -> None:
    """Configure vTA the documented way (used by ``configured`` topologies at T=0)."""
    call = world.call
    call("Set-TrustAuthorityCluster", state="Enabled")
    call("Export-TrustedPrincipal", file="principal.json")
    call("New-TrustAuthorityPrincipal", file="principal.json")
    trusted = [th for c in world.trusted_clusters.values() for th in c.hosts.values()]
    vendors: dict[str, str] = {}
    for th in trusted:
        vendors.setdefault(th.host.tpm_vendor, th.name)
    for vendor, host in vendors.items():
        call("Export-Tpm2CACertificate", vmhost=host, file=f"{vendor}-ca.cer")
        call("New-TrustAuthorityTpm2CACertificate", file=f"{vendor}-ca.cer")
    without_cert = [th for th in trusted if th.host.tpm.ek_certificate_der is None]
    if without_cert:
        for th in trusted:
            call("Export-Tpm2EndorsementKey", vmhost=th.name, file=f"{th.name}-ek.pem")
            call("New-TrustAuthorityTpm2EndorsementKey", file=f"{th.name}-ek.pem")
        call("Set-TrustAuthorityTpm2AttestationSettings", require_certificate_validation=False,
             require_endorsement_keys=True)
    explicit = world.topology.ta_cluster.base_images
    if explicit is not None:
        for release in explicit:
            name = f"{image_for(release).key}.tgz"
            world.files[name] = export_imagedb(image_for(release),
                                               mtime=world.kernel.epoch_seconds())
            call("New-TrustAuthorityVMHostBaseImage", file=name)
    else:
        done: set[str] = set()
        for th in trusted:
            if th.host.is_up and th.host.version not in done:
                done.add(th.host.version)
                call("Export-VMHostImageDb", vmhost=th.name, file=f"{th.host.version}.tgz")
                call("New-TrustAuthorityVMHostBaseImage", file=f"{th.host.version}.tgz")
    call("New-TrustAuthorityKeyProvider")
    call("Export-TrustAuthorityServicesInfo", file="services.json")
    call("Import-TrustAuthorityServicesInfo", file="services.json")
    for cluster in world.trusted_clusters.values():
        call("Add-TrustedClusterAttestationServiceInfo", cluster=cluster.name)
        call("Add-TrustedClusterKeyProviderServiceInfo", cluster=cluster.name)
        call("Set-TrustedCluster", cluster=cluster.name, state="Enabled")
