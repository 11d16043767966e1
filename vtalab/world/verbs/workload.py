"""Workload vCenter cmdlets: Trusted clusters, their desired and applied trust
configuration, and the TA services status."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from vtalab.world.registry import Args, Outcome, verb
from vtalab.world.verbs.common import DOC

if TYPE_CHECKING:
    from vtalab.world.assembly import World


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




@verb("delete-applied-config", kind="lab", summary="Delete the trust configuration applied "
      "to a Trusted cluster's hosts (the desired configuration stays; remediate re-applies "
      "it). The vSphere Automation API's services_applied_config delete.",
      args=TrustedClusterArgs, side="workload",
      source="vSphere Automation API: trusted_clusters.services_applied_config.delete")
def delete_applied_config(world: World, a: TrustedClusterArgs) -> Outcome:
    cluster = world.trusted_cluster(a.cluster)
    vc = world.workload_vcenter
    task = vc.start_task("Delete Trusted cluster applied configuration", cluster.name)
    changed = []
    for th in cluster.hosts.values():
        if th.host.is_up and th.applied:
            th.applied = ()
            changed.append(th.name)
            th.agent.wake()
    vc.finish_task(task)
    world.kernel.record(vc.source, "trusted.applied_deleted", cluster=cluster.name,
                        hosts=changed,
                        message=f"Trusted cluster {cluster.name}: applied configuration "
                                f"deleted on {', '.join(changed) or 'no host'}")
    return Outcome(True, output=changed)
