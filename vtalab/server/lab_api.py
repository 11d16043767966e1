"""Lab reads the console needs and the vSphere Automation API lacks (``/api/vtalab/...``).

The vSphere Client reads its inventory tree, a host's attestation status
(``HostSystem.summary.trustAuthorityAttestationInfos[]``), a host's services, a VM's
placement and a cluster's vLCM remediation settings through the VIM (SOAP) API and the
ESX settings API, which the lab does not speak. These operations stand in for those reads,
under the lab's namespace (services ``vtalab.console.*``, paths ``/api/vtalab/...``), in
the same service table as everything else (:mod:`vtalab.server.services`): each request
is authenticated, recorded in the trace and replayable like any other.

They add no behaviour: each one shapes facts of the world (:mod:`vtalab.server.lab_views`)
or runs a registry verb (``Get-TrustedClusterAppliedStatus``). Everything the console
*does* goes through the registry's verbs over the public API: ``POST /api/vtalab/verbs``
(hosts' maintenance mode, reboot, remediation, services; VM power and vMotion; the Quick
Boot setting) and the trusted-infrastructure REST operations (base images, remediation of
a Trusted cluster).

The exercise operations (``vtalab.exercise``: goal, hint, check, debrief) answer only on a
lab that runs an exercise (:class:`vtalab.server.exercise.ExerciseLab`).

Lab values are plain JSON: the REST mapping returns them as they are; over JSON-RPC they
travel as one string of canonical JSON (a lab extension no SDK binding knows).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vtalab.core.trace import canonical
from vtalab.server import lab_views as views
from vtalab.server.services import TABLE, Operation, Rest
from vtalab.server.vapi import BadValue, Str, Struct, VapiError, VType
from vtalab.world.verbs.common import host_by_id

if TYPE_CHECKING:
    from vtalab.server.lab import Call, ServedLab

__all__ = ["Json", "OPERATIONS"]


class _Json(VType):
    """A plain JSON value (lab reads): itself over REST, canonical JSON text over RPC."""

    name = "json"

    def rpc_in(self, raw: Any, path: str) -> Any:
        raise BadValue(path, "lab JSON values are output only")

    def rpc_out(self, value: Any) -> Any:
        return canonical(value)

    def rest_out(self, value: Any) -> Any:
        return value


Json = _Json()


def _side(call: Call) -> views.Side:
    return "ta" if call.vcenter == "ta" else "wl"


def _exercise(lab: ServedLab) -> Any:
    ex = getattr(lab, "exercise", None)
    if ex is None:
        raise VapiError("not_found", "no exercise runs on this lab (start it with "
                        "vtalab serve --exercise NAME)", args=("exercise",))
    return ex


def _inventory(lab: ServedLab, call: Call, user: str) -> Any:
    tree = views.inventory(lab.world, _side(call))
    ids = lab.ids
    for c in tree["clusters"]:  # the managed-object ids the REST paths take
        c["id"] = ids.TA_CLUSTER if call.vcenter == "ta" else ids.cluster_ids[c["name"]]
        for h in c["hosts"]:
            h["id"] = ids.host_ids[h["name"]]
            for v in h["vms"]:
                v["id"] = ids.vm_ids[v["name"]]
    return tree


def _host(lab: ServedLab, call: Call, user: str) -> Any:
    return views.host_view(lab.world, _side(call), lab.ids.host(call.input["host"]))


def _vm(lab: ServedLab, call: Call, user: str) -> Any:
    value = call.input["vm"]
    name = lab.ids.vms.get(value, value)
    return views.vm_view(lab.world, name)


def _remediation_policy(lab: ServedLab, call: Call, user: str) -> Any:
    name = lab.ids.trusted_cluster(call.input["cluster"])
    cluster = lab.world.trusted_clusters[name]
    # vLCM's cluster remediation policy (com.vmware.esx.settings.clusters.policies.apply);
    # the lab models only Quick Boot, the other fields show vLCM's defaults.
    return {"enable_quick_boot": bool(cluster.quick_boot),
            "failure_action": {"action": "FAIL"},
            "pre_remediation_power_action": "DO_NOT_CHANGE_VMS_POWER_STATE",
            "disable_dpm": True, "disable_hac": False, "evacuate_offline_vms": False,
            "enforce_hcl_validation": False}


def _applied_status(lab: ServedLab, call: Call, user: str) -> Any:
    name = lab.ids.trusted_cluster(call.input["cluster"])
    out = lab.world.call("Get-TrustedClusterAppliedStatus", cluster=name)
    return [{"host": host_by_id(lab.world, r["VMHostId"]), "health": r["Status"]}
            for r in out.output]


def _operations(lab: ServedLab, call: Call, user: str) -> Any:
    side = "ta" if call.vcenter == "ta" else "workload"
    return sorted(({"service": op.service, "operation": op.name, "method": op.rest.method,
                    "path": "/api" + op.rest.path, "action": op.rest.action}
                   for op in TABLE.values()
                   if op.rest is not None and op.side in (None, side)),
                  key=lambda r: (r["path"], r["method"], r["action"] or ""))


def _lab_view(lab: ServedLab, call: Call, user: str) -> Any:
    world: Any = lab.world
    return views.lab_view(world)


def _debrief(lab: ServedLab, call: Call, user: str) -> Any:
    return {"html": _exercise(lab).debrief_html()}


Handler = Callable[["ServedLab", "Call", str], Any]

#: (service, operation, input fields, side, REST method and path, handler, summary)
_SPECS: tuple[tuple[str, str, dict[str, VType], str | None, str, str, Handler, str], ...] = (
    ("vtalab.console.inventory", "get", {}, None, "GET", "/vtalab/inventory",
     _inventory,
     "[lab] This vCenter's inventory tree: clusters, hosts, VMs (the Navigator)."),
    ("vtalab.console.hosts", "get", {"host": Str}, None, "GET", "/vtalab/hosts/{host}",
     _host, "[lab] A host as Summary, Monitor > Security (attestation per attestation "
     "service) and Configure > Services show it."),
    ("vtalab.console.vms", "get", {"vm": Str}, "workload", "GET", "/vtalab/vms/{vm}",
     _vm, "[lab] A VM's power state, host and encryption (Summary)."),
    ("vtalab.console.remediation_policy", "get", {"cluster": Str}, "workload", "GET",
     "/vtalab/clusters/{cluster}/remediation-policy", _remediation_policy,
     "[lab] A cluster's vLCM remediation settings (Quick Boot)."),
    ("vtalab.console.applied_status", "list", {"cluster": Str}, "workload", "GET",
     "/vtalab/clusters/{cluster}/applied-status", _applied_status,
     "[lab] The applied trust configuration per host (Get-TrustedClusterAppliedStatus)."),
    ("vtalab.console.operations", "list", {}, None, "GET", "/vtalab/operations",
     _operations, "[lab] The REST operations this vCenter serves (method, path, action): "
     "what a client may call here."),
    ("vtalab.console.releases", "list", {}, None, "GET", "/vtalab/releases",
     lambda lab, call, user: views.release_rows(),
     "[lab] ESXi releases a host can be remediated to (vLCM's depot)."),
    ("vtalab.console.lab_view", "get", {}, None, "GET", "/vtalab/lab-view",
     _lab_view,
     "[lab] Omniscient facts for the trainer's lab view (not in the vSphere Client)."),
    ("vtalab.exercise", "get", {}, None, "GET", "/vtalab/exercise",
     lambda lab, call, user: _exercise(lab).summary(),
     "[lab] The exercise that runs: goal, hints used."),
    ("vtalab.exercise", "hint", {}, None, "POST", "/vtalab/exercise/hint",
     lambda lab, call, user: _exercise(lab).hint(),
     "[lab] The next hint (counted on the scorecard)."),
    ("vtalab.exercise", "check", {}, None, "POST", "/vtalab/exercise/check",
     lambda lab, call, user: _exercise(lab).check(),
     "[lab] Grade now, as `check` in vtalab train."),
    ("vtalab.exercise", "debrief", {}, None, "GET", "/vtalab/exercise/debrief",
     _debrief, "[lab] The HTML debrief of the session so far."),
)


def _register() -> tuple[Operation, ...]:
    ops = []
    for service, name, fields, side, method, path, handler, summary in _SPECS:
        op = Operation(service, name, Struct("operation-input", fields), Json, handler,
                       side, Rest(method, path), summary=summary)
        TABLE.setdefault((service, name), op)
        ops.append(op)
    return tuple(ops)


#: The console's lab operations, registered in the service table on import.
OPERATIONS = _register()
