"""Which commands weaken trust or put VMs at risk, judged before they run.

The grading of an exercise counts *risky actions*: a fix that works by turning off
certificate validation, or a clean-up that removes a base image a host still measures,
must not look as good as the careful fix. Each rule here reads the world **before** the
verb runs (afterwards the evidence is gone: the image is removed, the VMs are off) and
returns the reasons, in words an instructor would use. Rules follow the seed document's
warnings (Quick Boot: do not remove the originally trusted image while hosts still
measure it; import the new image before upgrading trusted hosts) and the vSphere Security
guide (disabling certificate/EK checks, disabling the TA cluster, stopping its services).

An exercise adds its own: what its goal forbids (``forbid`` rules of
:mod:`vtalab.training.constraints`, "without rebooting the host"). A forbidden *action* is
judged here before it runs, like the rules above; a forbidden *effect* is only visible in
the trace, so :func:`forbidden_effects` judges the events a line caused, after it ran.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from vtalab.errors import InputError
from vtalab.esxi.releases import image_for
from vtalab.training.constraints import Forbid, action_breaks, effect_violations
from vtalab.world.verbs import _resolve_version

if TYPE_CHECKING:
    from vtalab.core.trace import TraceEvent
    from vtalab.world.assembly import World

__all__ = ["FORBIDDEN", "RULES", "assess", "forbidden_effects"]

#: how a broken ``forbid`` rule reads among the risky actions
FORBIDDEN = "forbidden by the goal: "

Rule = Callable[["World", dict[str, Any]], list[str]]


def _trusted(world: World) -> list[Any]:
    return [th for c in world.trusted_clusters.values() for th in c.hosts.values()]


def _image_versions(world: World) -> list[str]:
    return [b["version"] for b in world.base_images()]


def _running_vms(world: World, host: str) -> list[str]:
    return [v.name for v in world.vms.values()
            if v.host == host and v.power_state == "poweredOn"]


def _remove_image(world: World, a: dict[str, Any]) -> list[str]:

    try:
        version = _resolve_version(world, str(a["version"]))
    except InputError:
        return []
    users = [th.name for th in _trusted(world) if th.host.measured_version == version]
    if not users:
        return []
    return [f"Remove-TrustAuthorityVMHostBaseImage of {version}, a version "
            f"{', '.join(users)} still measure{'s' if len(users) == 1 else ''} "
            "(hosts fail attestation; encrypted VMs lock)"]


def _settings(world: World, a: dict[str, Any]) -> list[str]:
    current = [h.config.settings for h in world.ta_cluster.members]
    out = []
    for arg, param in (("require_certificate_validation", "RequireCertificateValidation"),
                       ("require_endorsement_keys", "RequireEndorsementKey")):
        if a.get(arg) is False and any(getattr(s, arg) for s in current):
            out.append(f"Set-TrustAuthorityTpm2AttestationSettings -{param}:$false "
                       "weakens trust")
    return out


def _ta_state(world: World, a: dict[str, Any]) -> list[str]:
    if a.get("state") == "Disabled":
        return ["Set-TrustAuthorityCluster -State Disabled stops attestation and key release "
                "for every trusted host"]
    return []


def _trusted_state(world: World, a: dict[str, Any]) -> list[str]:
    if a.get("state") == "Disabled":
        return ["Set-TrustedCluster -State Disabled takes the cluster out of vSphere Trust "
                "Authority (weakens trust)"]
    return []


def _full_boot_version(world: World, host: str) -> str | None:
    h = world.hosts.get(host)
    if h is None or h.role != "trusted":
        return None
    image = h.alternate_image if h.staged and h.alternate_image is not None else h.running_image
    return str(image.key)


def _reboot(name: str) -> Rule:
    def rule(world: World, a: dict[str, Any]) -> list[str]:
        host = str(a.get("vmhost"))
        out = []
        running = _running_vms(world, host)
        h = world.hosts.get(host)
        if running and a.get("force") and h is not None and not h.in_maintenance:
            out.append(f"{name} -Force on {host} powers off running VMs "
                       f"({', '.join(running)})")
        if a.get("mode", "full") == "full" and name != "Stop-VMHost":
            version = _full_boot_version(world, host)
            if version is not None and version not in _image_versions(world):
                out.append(f"{name} of {host}: after a full boot it measures {version}, "
                           "which is not a trusted base image (import it first)")
        return out

    return rule


def _upgrade(world: World, a: dict[str, Any]) -> list[str]:
    h = world.hosts.get(str(a.get("vmhost")))
    if h is None or h.role != "trusted":
        return []

    try:
        version = image_for(str(a.get("release"))).key
    except InputError:
        return []
    if version in _image_versions(world):
        return []
    return [f"upgrade-host {h.name} to {version} before its base image is imported "
            "(export it from a test host and import it first)"]


def _ta_service(world: World, a: dict[str, Any]) -> list[str]:
    host, service = str(a.get("vmhost")), str(a.get("service"))
    action = a.get("action", "restart")  # host-service restarts unless told otherwise
    if action != "stop":
        return []
    h = world.hosts.get(host)
    if h is not None and h.role == "trusted" and service == "kmxa":
        return [f"stopping kmxa on {host}: the host can no longer attest or fetch keys"]
    others = [m.name for m in world.ta_cluster.reachable_members()
              if m.name != host and m.host.services.get(service, False)]
    if h is not None and h.role == "trust-authority" and not others:
        return [f"stopping {service} on {host}, the last TA host running it"]
    return []


def _remove_ta_host(world: World, a: dict[str, Any]) -> list[str]:
    others = [m.name for m in world.ta_cluster.members if m.name != a.get("vmhost")]
    if not others:
        return [f"remove-ta-host {a.get('vmhost')}: the last TA host (no attestation, no "
                "key release)"]
    return []


def _always(reason: str) -> Rule:
    return lambda world, a: [reason.format(**{k: a.get(k) for k in ("name",)})]


RULES: dict[str, Rule] = {
    "Remove-TrustAuthorityPrincipal": _always(
        "Remove-TrustAuthorityPrincipal {name}: the trusted hosts of that vCenter can no "
        "longer attest"),
    "Remove-TrustAuthorityKeyProvider": _always(
        "Remove-TrustAuthorityKeyProvider {name}: encrypted VMs can no longer get their keys"),
    "Remove-TrustAuthorityVMHostBaseImage": _remove_image,
    "Set-TrustAuthorityTpm2AttestationSettings": _settings,
    "Set-TrustAuthorityCluster": _ta_state,
    "Set-TrustedCluster": _trusted_state,
    "Restart-VMHost": _reboot("Restart-VMHost"),
    "reboot-host": _reboot("reboot-host"),
    "Stop-VMHost": _reboot("Stop-VMHost"),
    "upgrade-host": _upgrade,
    "Stop-VMHostService": lambda w, a: _ta_service(w, {**a, "action": "stop"}),
    "host-service": _ta_service,
    "remove-ta-host": _remove_ta_host,
}


def assess(world: World, verb: str, args: dict[str, Any],
           forbid: Sequence[Forbid] = ()) -> list[str]:
    """The reasons ``verb`` with ``args`` is risky in the world as it is now (``forbid``:
    the exercise's rules; an action they forbid is risky, with the rule's reason)."""
    rule = RULES.get(verb)
    out = rule(world, args) if rule is not None else []
    out += [f"{FORBIDDEN}{r.reason} ({verb})" for r in forbid if action_breaks(r, verb, args)]
    return out


def forbidden_effects(world: World, forbid: Sequence[Forbid],
                      events: Iterable[TraceEvent]) -> list[str]:
    """The forbidden effects among ``events`` (what a line just caused), as risk reasons."""
    return [FORBIDDEN + v.text() for v in effect_violations(forbid, world, events)]
