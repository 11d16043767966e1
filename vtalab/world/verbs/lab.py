"""Lab verbs around the TA cluster's membership and backup, and letting time pass."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from pydantic import Field

from vtalab.core import crypto
from vtalab.domain.ta_cluster import TaConfig
from vtalab.world.registry import Args, Outcome, verb
from vtalab.world.verbs.common import SEED, _ta_task, _tagged_file
from vtalab.world.verbs.ta import FileArgs, VmHostArgs, _ca_subject

if TYPE_CHECKING:
    from vtalab.domain.ta_cluster import TaHost
    from vtalab.world.assembly import World


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

    member.config = TaConfig()
    member.kmxd = world.ta_cluster.new_kmxd(a.vmhost)
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


