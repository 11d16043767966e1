"""vSphere Lifecycle Manager (vLCM): how hosts get upgraded in a vTA estate.

A cluster managed with a vLCM **image** gets a desired ESXi base image
(``Set-Cluster -BaseImage``, the image found with ``Get-LcmImage -Version``), is checked
(``Test-LcmClusterCompliance``) and **remediated** (``Set-Cluster -Remediate -AcceptEULA``).
A cluster managed with **baselines** is remediated with ``Update-Entity -Baseline -Entity``.
Either way vLCM remediates the hosts **in sequence** (vSphere Lifecycle Manager guide,
"Remediate a Cluster Against a Single Image": "the hosts in the cluster are remediated in
sequence"), each one: maintenance mode (its VMs leave by vMotion), stage, reboot, exit
maintenance mode. The reboot is a **Quick Boot** when the cluster's Quick Boot remediation
setting is on and the host supports it; a host with Intel TXT on gets a regular reboot
(KB 425234; its ``loadESX.log`` says why). That setting is the one the seed means by
"disable Quick Boot when the hosts must reboot": a plain ``Restart-VMHost`` is always a
full boot.

Sources: PowerCLI reference (VMware.VimAutomation.Core) ``Set-Cluster`` (``-BaseImage``,
``-Remediate``, ``-AcceptEULA``), ``Get-LcmImage``, ``Test-LcmClusterCompliance``;
VMware.VumAutomation ``Update-Entity -Baseline -Entity``; vSphere Lifecycle Manager guide
(8.0), "Remediating a cluster against a single image" and "Remediation settings"
(Quick Boot). The lab takes the release (``8.0 U3`` or a build key) where the real
``-BaseImage`` takes the object ``Get-LcmImage`` returns, and a baseline by the release it
upgrades to.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from pydantic import Field

from vtalab.domain.vcenter import UNAVAILABLE_ERROR
from vtalab.domain.vcenter_releases import VCENTER_RELEASES, vcenter_release
from vtalab.errors import InputError, OperationError
from vtalab.esxi.releases import image_for
from vtalab.world.registry import Args, Outcome, verb
from vtalab.world.verbs.common import SEED
from vtalab.world.verbs.hosts import remediate_host

if TYPE_CHECKING:
    from vtalab.world.assembly import World

LCM_GUIDE = ("vSphere Lifecycle Manager guide (vSphere 8.0), 'Remediate a Cluster Against a "
             "Single Image' (hosts remediated in sequence) and 'Remediation Settings' "
             "(Quick Boot)")
#: Reason code when remediation is started without accepting the EULA (the vSphere Client
#: and ``Set-Cluster -Remediate`` require it).
EULA_NOT_ACCEPTED = "eula_not_accepted"
#: Reason code when a cluster has no desired image to remediate against.
NO_DESIRED_IMAGE = "no_desired_image"


def cluster_hosts(world: World, cluster: str) -> list[str]:
    """The hosts of ``cluster`` (a Trusted cluster or the TA cluster), in name order."""
    names = sorted({h.cluster for h in world.hosts.values()})
    members = sorted(n for n, h in world.hosts.items() if h.cluster == cluster)
    if not members:
        raise InputError(f"unknown cluster {cluster!r}", what="cluster", value=cluster,
                         choices=names)
    return members


def _desired(world: World) -> dict[str, str]:
    return world.lcm_desired


class SetClusterArgs(Args):
    cluster: str = Field(description="The cluster: a Trusted cluster or the Trust "
                         "Authority cluster.")
    base_image: str | None = Field(None, description="Desired ESXi base image (the release "
                                   "Get-LcmImage -Version finds: 8.0 U3, 8.0.3-24022510 ...).")
    remediate: bool = Field(False, description="Remediate the cluster's hosts against its "
                            "desired image, one host at a time.")
    accept_eula: bool = Field(False, description="Accept the VMware EULA (required with "
                              "-Remediate).")


@verb("Set-Cluster", summary="vLCM: set a cluster's desired ESXi image (-BaseImage) and/or "
      "remediate its hosts against it (-Remediate -AcceptEULA), host by host.",
      args=SetClusterArgs, side="workload", task="Remediate Cluster",
      source="PowerCLI Set-Cluster -BaseImage/-Remediate/-AcceptEULA; " + LCM_GUIDE)
def set_cluster(world: World, a: SetClusterArgs) -> Generator[Any, Any, Outcome]:
    hosts = cluster_hosts(world, a.cluster)
    if a.base_image is None and not a.remediate:
        raise OperationError("Set-Cluster: give -BaseImage, -Remediate, or both",
                             what="argument", value=None, choices=["base_image", "remediate"])
    if a.base_image is not None:
        image = image_for(a.base_image)
        _desired(world)[a.cluster] = image.key
        vc = _vcenter_of(world, hosts[0])
        vc.finish_task(vc.start_task("Update desired image", a.cluster))
        world.kernel.record(vc.source, "lcm.desired_image", cluster=a.cluster,
                            version=image.key, message=f"{a.cluster}: desired image "
                            f"{image.display_name}")
        if not a.remediate:
            return Outcome(True, message=f"{a.cluster} desired image {image.display_name}")
    return (yield from remediate_cluster(world, a.cluster, a.accept_eula))


def _vcenter_of(world: World, host: str) -> Any:
    return (world.ta_vcenter if world.hosts[host].role == "trust-authority"
            else world.workload_vcenter)


def remediate_cluster(world: World, cluster: str, accept_eula: bool,
                      target: str | None = None) -> Generator[Any, Any, Outcome]:
    """Remediate ``cluster`` against its desired image (or ``target``), host by host."""
    hosts = cluster_hosts(world, cluster)
    vc = _vcenter_of(world, hosts[0])
    key = target or _desired(world).get(cluster)
    if not accept_eula:
        return Outcome(False, EULA_NOT_ACCEPTED, "Remediation requires accepting the VMware "
                       "End User License Agreement (-AcceptEULA)")
    if key is None:
        return Outcome(False, NO_DESIRED_IMAGE, f"{cluster} has no desired image "
                       "(Set-Cluster -BaseImage) to remediate against")
    image = image_for(key)
    task = vc.start_task("Remediate Cluster", cluster)
    done: list[str] = []
    for name in hosts:
        h = world.host(name)
        if h.version == image.key:
            continue
        if not h.is_up:
            error = f"{name} is {h.power_state.value}; remediation stopped"
            vc.finish_task(task, error=error, reason="host_down")
            return Outcome(False, "host_down", error, output=done)
        if done:  # the previous host is back: let its agents run before the next one
            yield world.kernel.timeout(0)
        result = yield from remediate_host(world, name, image, "auto",
                                           task_name=f"Remediate host to {image.display_name}")
        if not result.ok:  # vLCM's default failure action: stop the cluster remediation
            vc.finish_task(task, error=result.message, reason=result.error)
            return Outcome(False, result.error, result.message, output=done)
        done.append(name)
    vc.finish_task(task)
    return Outcome(True, message=f"{cluster}: {len(done)} host(s) remediated to "
                   f"{image.display_name}" + (f" ({', '.join(done)})" if done else ""),
                   output=done)


class ClusterArgs(Args):
    cluster: str = Field(description="The cluster: a Trusted cluster or the Trust "
                         "Authority cluster.")


@verb("Test-LcmClusterCompliance", summary="vLCM: compare each host of a cluster with the "
      "cluster's desired image.", args=ClusterArgs, side="workload",
      source="PowerCLI Test-LcmClusterCompliance; " + LCM_GUIDE)
def test_compliance(world: World, a: ClusterArgs) -> Outcome:
    hosts = cluster_hosts(world, a.cluster)
    key = _desired(world).get(a.cluster)
    if key is None:
        return Outcome(False, NO_DESIRED_IMAGE, f"{a.cluster} has no desired image")
    rows = [{"VMHost": n, "Status": "Compliant" if world.host(n).version == key
             else "NonCompliant", "Version": world.host(n).version, "DesiredVersion": key}
            for n in hosts]
    return Outcome(True, output=rows)


class UpdateEntityArgs(Args):
    baseline: str = Field(description="The upgrade baseline, by the ESXi release it upgrades "
                          "to (8.0 U3 ...).")
    entity: str = Field(description="The cluster to remediate.")


@verb("Update-Entity", summary="vLCM baselines: remediate a cluster against an upgrade "
      "baseline, host by host (Quick Boot per the cluster's remediation setting).",
      args=UpdateEntityArgs, side="workload", task="Remediate Cluster",
      source="PowerCLI (VMware.VumAutomation) Update-Entity -Baseline -Entity; " + LCM_GUIDE
      + "; " + SEED + " (Quick Boot with vLCM baselines)", run_async=True)
def update_entity(world: World, a: UpdateEntityArgs) -> Generator[Any, Any, Outcome]:
    image = image_for(a.baseline)
    return (yield from remediate_cluster(world, a.entity, True, target=image.key))


# -- vCenter Server updates and upgrades ---------------------------------------------------

class VcUpgradeArgs(Args):
    vcenter: str = Field(description="The vCenter to upgrade (its name, or 'ta' / 'workload').")
    release: str = Field(description="Target vCenter release (8.0 U3, 8.0.3, 24022515 ...).",
                         json_schema_extra={"refers_to": "vcenter_release"})


def vcenter_named(world: World, name: str) -> Any:
    both = {world.ta_vcenter.name: world.ta_vcenter,
            world.workload_vcenter.name: world.workload_vcenter,
            "ta": world.ta_vcenter, "workload": world.workload_vcenter}
    if name not in both:
        raise InputError(f"unknown vCenter {name!r}", what="vCenter", value=name,
                         choices=list(both))
    return both[name]


@verb("upgrade-vcenter", kind="lab", summary="Install a vCenter Server update/upgrade (VAMI "
      "or the appliance update API): while its services restart its API, Recent Tasks and "
      "events are unavailable; host-to-host attestation and key release keep working.",
      args=VcUpgradeArgs, side="lab",
      source=SEED + " (upgrade order, steps 1 and 3); vCenter Server Upgrade guide; "
      "appliance update API POST /api/appliance/update/pending/{version}?action=install")
def upgrade_vcenter(world: World, a: VcUpgradeArgs) -> Generator[Any, Any, Outcome]:
    vc = vcenter_named(world, a.vcenter)
    target = vcenter_release(a.release)
    if target.order <= vc.release.order:  # 8.0 U3 -> 8.0 U3k is an update (same version)
        raise OperationError(f"{vc.name} runs {vc.release.display_name}; {target.name} is not "
                             "newer", what="release", value=a.release,
                             choices=[r.name for r in VCENTER_RELEASES
                                      if r.order > vc.release.order])
    if not vc.available:
        return Outcome(False, UNAVAILABLE_ERROR, f"{vc.name} is already installing an update")
    before = vc.release
    vc.log(f"Installing update {target.display_name} (from {before.display_name}); "
           "services will restart")
    world.kernel.record(vc.source, "vcenter.upgrade.start", vcenter=vc.name, role=vc.role,
                        version=target.key, previous=before.key,
                        message=f"{vc.name}: installing {target.display_name}; services "
                                "stopping (API, tasks and events unavailable)")
    vc.available = False
    yield world.kernel.timeout(world.params.vcenter_services_restart_seconds)
    vc.release = target
    vc.available = True
    vc.log(f"vCenter Server services started: {target.display_name}")
    world.kernel.record(vc.source, "vcenter.upgraded", vcenter=vc.name, role=vc.role,
                        version=target.key, previous=before.key,
                        message=f"{vc.name} runs {target.display_name}")
    if vc is world.workload_vcenter:  # vpxd resynchronises the hosts' attestation status
        for cluster in world.trusted_clusters.values():
            for th in cluster.hosts.values():
                cluster.publish(th)
    return Outcome(True, message=f"{vc.name} runs {target.display_name}")


class GetViewArgs(Args):
    view_type: str = Field("ServiceInstance", description="The managed object type (the lab "
                           "models ServiceInstance: .Content.About of each vCenter).")
    server: str | None = Field(None, description="One vCenter (default: both connected).")


@verb("Get-View", summary="Get-View ServiceInstance: each connected vCenter's "
      "Content.About (FullName, Version, Build, ApiVersion).", args=GetViewArgs,
      side="lab", source="PowerCLI Get-View; vSphere Web Services API ServiceContent.about "
      "(AboutInfo)")
def get_view(world: World, a: GetViewArgs) -> Outcome:
    if a.view_type != "ServiceInstance":
        raise InputError(f"Get-View: the lab models only ServiceInstance, not {a.view_type!r}",
                         what="view type", value=a.view_type, choices=["ServiceInstance"])
    vcs = ([vcenter_named(world, a.server)] if a.server
           else [world.ta_vcenter, world.workload_vcenter])
    rows = []
    for vc in vcs:
        if not vc.available:
            return Outcome(False, UNAVAILABLE_ERROR, f"Get-View: could not connect to "
                           f"{vc.name}: 503 Service Unavailable (vCenter Server services are "
                           "restarting after an update)")
        r = vc.release
        rows.append({"Server": vc.name,
                     "FullName": f"VMware vCenter Server {r.version} build-{r.build}",
                     "Version": r.version, "Build": str(r.build),
                     "ApiVersion": f"{r.version}.0"})
    return Outcome(True, output=rows)
