"""What the vSphere Client shows of the world, as plain JSON values (no behaviour).

The console's pages need data the vSphere Automation REST API does not carry: the
inventory tree, per-host attestation status, host services, events and Recent Tasks. In
vCenter the vSphere Client reads them from the VIM (SOAP) API --
``HostSystem.summary.trustAuthorityAttestationInfos[]``, ``HostServiceSystem``,
``EventManager``, ``TaskManager.recentTask`` -- which the lab does not speak. These
functions read the same facts from the world, each shaped after its VIM counterpart, and
:mod:`vtalab.server.lab_api` serves them under ``/api/vtalab/``.

**Fog of war.** Only what the vSphere Client shows is in the default views: no measured
version, no "last boot was a Quick Boot", no reason codes, no "still measured by". Those
omniscient facts are in :func:`lab_view` and the ``lab`` member of a view, and the
console shows them only in its labelled lab view.

Side ``ta`` is the Trust Authority vCenter, ``wl`` the workload vCenter; a view of one
side never shows objects the other vCenter manages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from vtalab.domain.reasons import operator_text
from vtalab.errors import InputError
from vtalab.esxi.releases import RELEASES

if TYPE_CHECKING:
    from vtalab.world.assembly import World

__all__ = [
    "SERVICE_LABELS", "Side", "host_view", "inventory", "lab_view",
    "release_rows", "task_rows", "vm_view",
]

Side = Literal["ta", "wl"]

#: Names the vSphere Client's Host > Configure > Services list shows for the vTA daemons
#: [assumed: the public record names the daemons and their logs, not the list's labels].
SERVICE_LABELS = {
    "attestd": "vSphere Trust Authority Attestation Service",
    "kmxd": "vSphere Trust Authority Key Provider Service",
    "kmxa": "vSphere Trust Authority Host Agent",
}

#: vCenter task states as ``com.vmware.cis.tasks`` names them.
TASK_STATUS = {"running": "RUNNING", "success": "SUCCEEDED", "error": "FAILED"}

#: Host attestation status as the VIM API spells it, upper-cased the way the REST
#: mapping writes enums.
ATTESTATION = {"attested": "ATTESTED", "notAttested": "NOT_ATTESTED", "unknown": "UNKNOWN"}


def _vcenter(world: World, side: Side) -> Any:
    return world.ta_vcenter if side == "ta" else world.workload_vcenter


def _side_of_host(world: World, name: str) -> Side:
    return "ta" if world.host(name).role == "trust-authority" else "wl"


def _require_host(world: World, side: Side, name: str) -> None:
    if name not in world.hosts or _side_of_host(world, name) != side:
        raise InputError(f"unknown host {name!r} on the {_vcenter(world, side).name} vCenter",
                         what="host", value=name,
                         choices=[n for n in world.hosts if _side_of_host(world, n) == side])


def _iso(world: World, t: float | None) -> str | None:
    return None if t is None else world.kernel.utc(t).isoformat().replace("+00:00", "Z")


def _power(host: Any) -> str:
    return "POWERED_ON" if host.is_up else str(host.power_state.name)


def _connection(host: Any) -> str:
    return "CONNECTED" if host.is_up else "NOT_RESPONDING"


def _vm_power(vm: Any) -> str:
    return "POWERED_ON" if vm.power_state == "poweredOn" else "POWERED_OFF"


def _host_row(world: World, name: str, vms: list[Any]) -> dict[str, Any]:
    h = world.hosts[name]
    row: dict[str, Any] = {
        "name": name, "connection_state": _connection(h), "power_state": _power(h),
        "in_maintenance": h.in_maintenance,
        "vms": [{"name": v.name, "power_state": _vm_power(v)} for v in vms]}
    if h.role == "trusted":  # the client marks a host whose attestation failed
        status = world.trusted_host(name).summary().status
        if status == "notAttested":
            row["alarm"] = "Host TPM attestation alarm"
    return row


def inventory(world: World, side: Side) -> dict[str, Any]:
    """The navigator's tree of one vCenter: its clusters, their hosts and their VMs."""
    vc = _vcenter(world, side)
    on: dict[str, list[Any]] = {}  # each host's VMs, in one pass (not one per host)
    for v in world.vms.values():
        on.setdefault(v.host, []).append(v)
    if side == "ta":
        clusters = [{"name": world.ta_cluster.name,
                     "hosts": [_host_row(world, n, on.get(n, []))
                               for n in world.ta_cluster.hosts]}]
    else:
        clusters = [{"name": c.name, "hosts": [_host_row(world, n, on.get(n, []))
                                               for n in c.hosts]}
                    for c in world.trusted_clusters.values()]
    return {"name": vc.name, "role": "trust-authority" if side == "ta" else "workload",
            "clusters": clusters}


def host_view(world: World, side: Side, name: str) -> dict[str, Any]:
    """Host > Summary, Monitor > Security and Configure > Services of one host."""
    _require_host(world, side, name)
    h = world.hosts[name]
    boots = h.boots
    out: dict[str, Any] = {
        "name": name, "cluster": h.cluster, "version": h.running_image.display_name,
        "hypervisor": "VMware ESXi, " + ", ".join(h.version.split("-", 1)),
        "connection_state": _connection(h), "power_state": _power(h),
        "in_maintenance": h.in_maintenance,
        "boot_time": _iso(world, boots[-1].time) if boots and h.is_up else None,
        "services": [{"key": s, "label": SERVICE_LABELS.get(s, s),
                      "running": bool(up and h.is_up)} for s, up in sorted(h.services.items())],
        "vms": [{"name": v.name, "power_state": _vm_power(v)}
                for v in world.vms.values() if v.host == name],
        "secure_boot": bool(h.firmware.secure_boot) if h.firmware is not None else None,
        "tpm": "TPM 2.0" if h.tpm is not None else None,
        "attestation": None, "attestation_summary": None,
    }
    lab: dict[str, Any] = {"Running ESXi version": h.version,
                           "Version the TPM measured (last full boot)": h.measured_version,
                           "Last boot was a Quick Boot": h.last_boot_quick,
                           "Quick Boots since the last full boot": h.quick_boots_since_full}
    if h.role == "trusted":
        th = world.trusted_host(name)
        rows = []
        for service, r in sorted(th.agent.results.items()):
            rows.append({"service": service, "status": ATTESTATION.get(r.status, "UNKNOWN"),
                         "messages": [operator_text(m) for m in r.messages],
                         "attested_at": _iso(world, r.attested_at),
                         "attested_until": _iso(world, r.attested_until)})
        out["attestation"] = rows
        s = th.summary()
        out["attestation_summary"] = ATTESTATION.get(s.status, "UNKNOWN")
        lab["Attestation reason code"] = s.reason
        lab["Key cache (key ids held in memory)"] = sorted(th.agent.key_cache)
    else:
        lab["Member of the TA cluster"] = world.ta_host(name).member
    out["lab"] = lab
    return out


def vm_view(world: World, name: str) -> dict[str, Any]:
    v = world.vm(name)
    return {"name": name, "host": v.host, "power_state": _vm_power(v), "encrypted": v.encrypted,
            "lab": {"Last power-on refusal (reason code)": v.last_error,
                    "Locked (key missing)": v.locked, "Key id": v.key_id}}


def task_rows(world: World, side: Side) -> list[dict[str, Any]]:
    """Recent Tasks of one vCenter, oldest first (``seq`` orders tasks of one instant)."""
    vc = _vcenter(world, side)
    return [{"key": t.key, "seq": i, "name": t.name, "target": t.target,
             "status": TASK_STATUS.get(t.status, "RUNNING"), "error": t.error,
             "start_time": _iso(world, t.start), "end_time": _iso(world, t.end),
             "initiator": "VSPHERE.LOCAL\\Administrator", "server": vc.name}
            for i, t in enumerate(vc.tasks)]


def release_rows() -> list[dict[str, str]]:
    """The ESXi releases a host can be remediated to (vLCM's image depot)."""
    return [{"key": r.key, "display_name": f"ESXi {r.name}"} for r in RELEASES]


def lab_view(world: World) -> dict[str, Any]:
    """The omniscient facts (lab view only): which hosts still measure each base image."""
    measured: dict[str, list[str]] = {}
    for cluster in world.trusted_clusters.values():
        for th in cluster.hosts.values():
            if th.host.measured_version is not None:
                measured.setdefault(th.host.measured_version, []).append(th.name)
    return {"measured_by": measured,
            "hosts": {n: {"version": h.version, "measured_version": h.measured_version,
                          "last_boot_quick": h.last_boot_quick}
                      for n, h in world.hosts.items()}}
