"""Workload vCenter cmdlets: Trusted clusters, their desired and applied trust
configuration, and the TA services status."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from vtalab.errors import InputError
from vtalab.world.objects import make
from vtalab.world.registry import PS, Args, Outcome, verb
from vtalab.world.verbs.common import (
    DOC,
    TA_ASSUMED,
    host_id,
    imported_services,
    ta_cluster_id,
    trusted_cluster_id,
    uid,
)

if TYPE_CHECKING:
    from vtalab.world.assembly import World


class TrustedClusterArgs(Args):
    cluster: Annotated[str | None, PS(name="TrustedCluster", position=0, pipeline=True,
                                      type="TrustedCluster[]")] = Field(
        None, description="Trusted cluster (default: the only one).")


class AddAttestationArgs(TrustedClusterArgs):
    service: Annotated[str | None, PS(name="AttestationServiceInfo", pipeline=True,
                                      by=("Id",), mandatory=True,
                                      type="AttestationServiceInfo[]")] = Field(
        None, description="The service (Get-AttestationServiceInfo); scenarios: default "
                          "every imported one.")


class AddKeyProviderArgs(TrustedClusterArgs):
    service: Annotated[str | None, PS(name="KeyProviderServiceInfo", pipeline=True,
                                      by=("Id",), mandatory=True,
                                      type="KeyProviderServiceInfo[]")] = Field(
        None, description="The service (Get-KeyProviderServiceInfo); scenarios: default "
                          "every imported one.")


def _add_services(world: World, a: Any, kind: str) -> Outcome:
    cluster = world.trusted_cluster(a.cluster)
    infos = imported_services(world, kind)
    if a.service is not None:
        chosen = [i for i in infos if a.service in (i.name, i.address)]
        if not chosen:
            raise InputError(f"no imported {kind.replace('_', ' ')} service {a.service!r} "
                             "(Import-TrustAuthorityServicesInfo first)", what="service",
                             value=a.service, choices=[i.name for i in infos])
        infos = chosen
    wanted = [i for i in infos if i not in cluster.desired]
    cluster.desired = tuple([*cluster.desired, *wanted])
    vc = world.workload_vcenter
    vc.finish_task(vc.start_task(f"Add {kind.replace('_', ' ')} service info", cluster.name))
    return Outcome(True, message=f"{len(wanted)} {kind} services added to {cluster.name}")


@verb("Add-TrustedClusterAttestationServiceInfo", summary="Add the imported attestation "
      "services to a Trusted cluster's desired configuration.", args=AddAttestationArgs,
      side="workload", source=DOC)
def add_attestation_info(world: World, a: AddAttestationArgs) -> Outcome:
    return _add_services(world, a, "attestation")


@verb("Add-TrustedClusterKeyProviderServiceInfo", summary="Add the imported key provider "
      "services to a Trusted cluster's desired configuration.", args=AddKeyProviderArgs,
      side="workload", source=DOC)
def add_kp_info(world: World, a: AddKeyProviderArgs) -> Outcome:
    return _add_services(world, a, "key_provider")


class SetTrustedClusterArgs(TrustedClusterArgs):
    state: Literal["Enabled", "Disabled"] | None = None
    remediate: bool = Field(False, description="Apply the desired trust configuration to "
                                               "the cluster's hosts.")


@verb("Set-TrustedCluster", summary="Enable/disable a Trusted cluster, or -Remediate: push "
      "the desired trust configuration to its hosts.", args=SetTrustedClusterArgs,
      side="workload", source=DOC, output="TrustedCluster", confirm="High",
      confirm_if="state=Disabled")
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
      "configuration per host.", args=TrustedClusterArgs, side="workload", source=DOC,
      output="TrustedClusterAppliedStatus")
def applied_status(world: World, a: TrustedClusterArgs) -> Outcome:
    cluster = world.trusted_cluster(a.cluster)
    ident = trusted_cluster_id(world, cluster.name)
    rows = [make("TrustedClusterAppliedStatus", TrustedClusterId=ident,
                 VMHostId=host_id(world, n), Status=s,
                 Uid=uid(world.workload_vcenter.name, "TrustedClusterAppliedStatus",
                         f"{ident}/{n}"))
            for n, s in cluster.applied_status().items()]
    return Outcome(True, output=rows)


class ServicesStatusArgs(Args):
    trust_authority_cluster: Annotated[str | None, PS(
        name="TrustAuthorityCluster", position=0, pipeline=True, mandatory=True,
        type="TrustAuthorityCluster[]")] = Field(
        None, description="The TA cluster (object or name; a scenario may leave it out).")


def _service_health(world: World, daemon: str) -> str:
    members = world.ta_cluster.members
    if not members:
        return "None"
    up = [h for h in members if h.host.is_up and h.host.services.get(daemon, False)]
    if len(up) == len(members):
        return "Ok"
    return "Warning" if up else "Error"


@verb("Get-TrustAuthorityServicesStatus", summary="Health of the Attestation and Key "
      "Provider Services of the TA cluster (Ok, Warning, Error, None).",
      args=ServicesStatusArgs, side="ta", output="TrustAuthorityServicesStatus",
      source=DOC + "; " + TA_ASSUMED + " (the command page was not found)")
def services_status(world: World, a: ServicesStatusArgs) -> Outcome:
    vc = world.ta_vcenter.name
    ident = ta_cluster_id(world)

    def status(kind: str, daemon: str) -> dict[str, Any]:
        # TrustAuthorityAttestationServiceStatus / ...KeyProviderServiceStatus (structure
        # pages): Details, Health, TrustAuthorityClusterId, Uid
        return {"Details": [], "Health": _service_health(world, daemon),
                "TrustAuthorityClusterId": ident, "Uid": uid(vc, kind, ident)}

    return Outcome(True, output=[make(
        "TrustAuthorityServicesStatus",
        AttestationServiceStatus=status("TrustAuthorityAttestationServiceStatus", "attestd"),
        KeyProviderServiceStatus=status("TrustAuthorityKeyProviderServiceStatus", "kmxd"),
        TrustAuthorityClusterId=ident, Uid=uid(vc, "TrustAuthorityServicesStatus", ident))])


class AppliedConfigArgs(TrustedClusterArgs):
    kind: Literal["attestation", "key_provider"] | None = Field(
        None, description="Only the attestation or only the key provider services "
                          "(default: both).")


def _what(kind: str | None) -> str:
    return "" if kind is None else f"{kind.replace('_', ' ')} "


@verb("delete-applied-config", kind="lab", summary="Delete the trust configuration applied "
      "to a Trusted cluster's hosts (the desired configuration stays; remediate re-applies "
      "it). The vSphere Automation API's services_applied_config delete (with kind: its "
      "attestation. or kms. variant).",
      args=AppliedConfigArgs, side="workload",
      source="vSphere Automation API: trusted_clusters.services_applied_config.delete")
def delete_applied_config(world: World, a: AppliedConfigArgs) -> Outcome:
    cluster = world.trusted_cluster(a.cluster)
    vc = world.workload_vcenter
    task = vc.start_task(f"Delete Trusted cluster {_what(a.kind)}applied configuration",
                         cluster.name)
    changed = []
    for th in cluster.hosts.values():
        keep = () if a.kind is None else tuple(s for s in th.applied if s.kind != a.kind)
        if th.host.is_up and th.applied != keep:
            th.applied = keep
            changed.append(th.name)
            th.agent.wake()
    vc.finish_task(task)
    for host in changed:  # the hosts no longer carry the cluster's trust configuration
        vc.post_event("com.vmware.vc.TrustAuthority.HostNotConfigured", host)
    world.kernel.record(vc.source, "trusted.applied_deleted", cluster=cluster.name,
                        hosts=changed, **({} if a.kind is None else {"services": a.kind}),
                        message=f"Trusted cluster {cluster.name}: {_what(a.kind)}applied "
                                f"configuration deleted on {', '.join(changed) or 'no host'}")
    return Outcome(True, output=changed)


class RemediateServicesArgs(TrustedClusterArgs):
    kind: Literal["attestation", "key_provider"] = Field(
        description="Push only the attestation or only the key provider services.")


@verb("remediate-applied-config", kind="lab", summary="Push one kind of a Trusted "
      "cluster's desired services (attestation or key provider) to its hosts, leaving the "
      "other kind's applied services as they are (Set-TrustedCluster -Remediate pushes "
      "both). The vSphere Automation API's attestation./kms.services_applied_config "
      "update.", args=RemediateServicesArgs, side="workload",
      source="vSphere Automation API: trusted_clusters.attestation.services_applied_config"
             ".update")
def remediate_applied_config(world: World, a: RemediateServicesArgs) -> Outcome:
    cluster = world.trusted_cluster(a.cluster)
    vc = world.workload_vcenter
    task = vc.start_task(f"Update Trusted cluster {_what(a.kind)}applied configuration",
                         cluster.name)
    changed = cluster.remediate(a.kind)
    vc.finish_task(task)
    world.kernel.record(vc.source, "trusted.remediate", cluster=cluster.name, hosts=changed,
                        services=a.kind,
                        message=f"Trusted cluster {cluster.name}: {_what(a.kind)}services "
                                f"applied to {', '.join(changed) or 'no host (already applied)'}")
    return Outcome(True, output=changed)
