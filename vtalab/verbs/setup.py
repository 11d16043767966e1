"""The documented vTA setup procedure, run as verbs by ``configured`` topologies."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vtalab.domain.base_image import export_imagedb
from vtalab.esxi.releases import image_for

if TYPE_CHECKING:
    from vtalab.world import World


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
