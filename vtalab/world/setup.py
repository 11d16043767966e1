"""The documented vTA setup procedure, run as verbs by ``configured`` topologies, and the
bootstrap step that restores an estate snapshot's attestation history."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vtalab.core.kernel import format_time
from vtalab.domain.base_image import export_imagedb
from vtalab.esxi.releases import image_for

if TYPE_CHECKING:
    from vtalab.world.assembly import World


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
    # A snapshot states the estate's TPM 2.0 settings; without them, EK attestation is
    # chosen only when a TPM has no EK certificate (the only way such a host attests).
    settings = world.topology.ta_cluster.tpm2_settings
    if without_cert or (settings is not None and settings.require_endorsement_keys):
        for th in trusted:
            call("Export-Tpm2EndorsementKey", vmhost=th.name, file=f"{th.name}-ek.pem")
            call("New-TrustAuthorityTpm2EndorsementKey", file=f"{th.name}-ek.pem")
    if settings is not None:
        call("Set-TrustAuthorityTpm2AttestationSettings",
             require_certificate_validation=settings.require_certificate_validation,
             require_endorsement_keys=settings.require_endorsement_keys)
    elif without_cert:
        call("Set-TrustAuthorityTpm2AttestationSettings", require_certificate_validation=False,
             require_endorsement_keys=True)
    explicit = world.topology.ta_cluster.base_image_specs()
    if explicit is not None:
        for spec in explicit:
            name = f"{image_for(spec.release).key}.tgz"
            world.files[name] = export_imagedb(image_for(spec.release),
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
    # The trusted connection: a client certificate and key the KMS issued, and the KMS CA
    # (which issued every KMIP server's certificate) as the trusted server certificate.
    call("kms-issue-client-certificate", file="kmxd-client.pem", key_file="kmxd-client.key")
    call("Set-TrustAuthorityKeyProviderClientCertificate", certificate="kmxd-client.pem",
         private_key="kmxd-client.key")
    call("kms-export-ca-certificate", file="kms-ca.pem")
    call("Add-TrustAuthorityKeyProviderServerCertificate", file="kms-ca.pem")
    call("Export-TrustAuthorityServicesInfo", file="services.json")
    call("Import-TrustAuthorityServicesInfo", file="services.json")
    for cluster in world.trusted_clusters.values():
        call("Add-TrustedClusterAttestationServiceInfo", cluster=cluster.name)
        call("Add-TrustedClusterKeyProviderServiceInfo", cluster=cluster.name)
        call("Set-TrustedCluster", cluster=cluster.name, state="Enabled")


def restore_attestation_history(world: World) -> None:
    """Bootstrap step of an estate snapshot: when a host last attested with each image.

    "Last attested" is history, not configuration: the Attestation Service stamps an image
    when a host attests with it, and no cmdlet sets it. A snapshot topology states it
    (``ta_cluster.base_images: [{release, last_attested}]``, seconds before T=0) so that
    ``Get-TrustAuthorityVMHostBaseImage`` in the lab shows what the real estate showed;
    this step writes it into the TA cluster's table at T=0, after :func:`setup_procedure`
    imported the images, and records one ``ta.base_image.last_attested`` trace event per
    image (``vtalab explain`` reads them). Later attestations in the lab overwrite it as
    they would in the estate. Nothing happens for topologies without such times.
    """
    trusted = {b["version"] for b in world.base_images()}
    times: dict[str, float] = {}
    for spec in world.topology.ta_cluster.base_image_specs() or []:
        version = image_for(spec.release).key
        if spec.last_attested is not None and version in trusted:
            times[version] = max(spec.last_attested, times.get(version, spec.last_attested))
    kernel = world.kernel
    for version in sorted(times):
        at = times[version]
        world.ta_cluster.last_attested[version] = at
        kernel.record(world.ta_vcenter.source, "ta.base_image.last_attested", version=version,
                      last_attested_time=at,
                      message=f"snapshot history: base image {version} last attested "
                              f"{kernel.utc(at).isoformat()} ({format_time(-at)[2:]} before "
                              "the lab started)")
