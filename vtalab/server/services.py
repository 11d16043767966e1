"""The service table: every vAPI operation the lab serves, declared once.

Each :class:`Operation` names its vAPI service and operation (``list$task`` ...), its
input and output types (:mod:`vtalab.server.vapi`), the vCenter that serves it, its REST
mapping (method, path under ``/api``, ``?action=``, body parameter) and a handler. JSON-RPC
(``POST /api``) and REST (``/api/...``) both dispatch through this table, and every
handler reads or acts through the registry (:mod:`vtalab.world.registry`): a write runs the
same verb the CLI, scenarios and training shell run (``New-TrustAuthorityVMHostBaseImage``
for ``import_from_imgdb``), a read runs a ``Get-*`` cmdlet or a lab read
(:mod:`vtalab.world.verbs.queries`). The server adds no behaviour of its own: it maps
names, types and errors.

Lab extensions live under the ``vtalab.*`` services and ``/api/vtalab/...`` paths: the
clock, the registry's verbs, Recent Tasks and events, and the host download
``/hosts/{host}/boot_imgdb.tgz``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vtalab.core import crypto
from vtalab.core.simtime import HORIZON_SECONDS, parse_time
from vtalab.domain.attestation import Principal
from vtalab.domain.kms import KMIP_PORT
from vtalab.errors import InputError
from vtalab.server.vapi import (
    AnyError,
    Blob,
    Bool,
    DateTime,
    Double,
    Enum,
    Id,
    Int,
    List,
    LocalizableMessage,
    Map,
    Opaque,
    Opt,
    Secret,
    Str,
    Struct,
    VapiError,
    Void,
    VType,
    message,
)
from vtalab.world.registry import FAULTS, VERBS, Outcome, lookup
from vtalab.world.verbs.common import host_by_id

if TYPE_CHECKING:
    from vtalab.server.lab import Call, ServedLab
    from vtalab.world.assembly import World

__all__ = ["TABLE", "Inventory", "Operation", "Rest"]

TI = "com.vmware.vcenter.trusted_infrastructure"
TAC = f"{TI}.trust_authority_clusters"
TC = f"{TI}.trusted_clusters"
REST_TI = "/vcenter/trusted-infrastructure"


@dataclass(frozen=True)
class Rest:
    method: str
    path: str  #: under /api, with {placeholders} naming input fields
    action: str | None = None  #: ?action=...
    body: str | None = None  #: the input field carried as the request body


Handler = Callable[["ServedLab", "Call", str], Any]


@dataclass(frozen=True)
class Operation:
    service: str
    name: str
    input: Struct
    output: VType
    handler: Handler
    side: str | None = None  #: "ta" | "workload" | None (both)
    rest: Rest | None = None
    result: VType | None = None  #: a task's result type
    login: bool = False  #: authenticates with user name and password
    public: bool = False  #: needs no session
    summary: str = ""

    @property
    def task(self) -> bool:
        return self.name.endswith("$task")


TABLE: dict[tuple[str, str], Operation] = {}


def _op(service: str, name: str, fields: dict[str, VType], output: VType, *,
        side: str | None, rest: Rest | None = None, result: VType | None = None,
        login: bool = False, public: bool = False, summary: str = ""
        ) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        TABLE[(service, name)] = Operation(service, name, Struct("operation-input", fields),
                                           output, fn, side, rest, result, login, public,
                                           summary)
        return fn

    return deco


# -- inventory ids --------------------------------------------------------------------------
class Inventory:
    """vCenter managed-object ids for the world's clusters, hosts and VMs (deterministic:
    topology order). Operations accept the id or, as a lab convenience, the name."""

    TA_CLUSTER = "domain-c8"

    def __init__(self, world: World) -> None:
        self.world = world
        self.clusters = {f"domain-c{10 + i}": name
                         for i, name in enumerate(world.trusted_clusters)}
        self.hosts = {f"host-{21 + i}": name for i, name in enumerate(world.hosts)}
        self.vms = {f"vm-{101 + i}": name for i, name in enumerate(world.vms)}
        self.host_ids = {v: k for k, v in self.hosts.items()}
        self.vm_ids = {v: k for k, v in self.vms.items()}
        self.cluster_ids = {v: k for k, v in self.clusters.items()}

    def ta_cluster(self, value: str, field: str = "cluster") -> str:
        name = self.world.ta_cluster.name
        if value in (self.TA_CLUSTER, name):
            return name
        raise VapiError("not_found", f"{field}: no Trust Authority cluster {value!r} "
                        f"(this vCenter has {self.TA_CLUSTER}, {name!r})", args=(value,))

    def trusted_cluster(self, value: str, field: str = "cluster") -> str:
        if value in self.clusters:
            return self.clusters[value]
        if value in self.cluster_ids:
            return value
        choices = ", ".join(f"{k} ({v!r})" for k, v in self.clusters.items())
        raise VapiError("not_found", f"{field}: no Trusted cluster {value!r} (clusters: "
                        f"{choices})", args=(value,))

    def host(self, value: str, field: str = "host") -> str:
        if value in self.hosts:
            return self.hosts[value]
        if value in self.host_ids:
            return value
        raise VapiError("not_found", f"{field}: no host {value!r} (hosts: "
                        f"{', '.join(self.host_ids)})", args=(value,))


# -- shared types ---------------------------------------------------------------------------
HEALTH = ("NONE", "OK", "WARNING", "ERROR")
NetworkAddress = Struct(f"{TI}.network_address", {"hostname": Str, "port": Opt(Int)})
X509Chain = Struct(f"{TI}.x509_cert_chain", {"cert_chain": List(Str)})
Details = List(LocalizableMessage)


def _health(name: str, values: tuple[str, ...] = HEALTH) -> Enum:
    return Enum(name, values)


def _details(health: str, what: str) -> list[dict[str, Any]]:
    if health in ("OK", "NONE"):
        return []
    return [message(f"com.vmware.vcenter.trusted_infrastructure.health.{health.lower()}",
                    f"{what}: health {health}", what, health)]


def _one(rows: Any) -> dict[str, Any]:
    return rows[0] if rows else {}


def _col(row: dict[str, Any], *names: str, default: Any = None) -> Any:
    """A column of a cmdlet's output row (PowerCLI names vary between versions)."""
    for n in names:
        if n in row:
            return row[n]
    return default


def _call(lab: ServedLab, verb: str, **args: Any) -> Outcome:
    """Run an instantaneous registry verb (a read) and return its outcome."""
    return lab.world.call(verb, **args)


def _refused(outcome: Outcome) -> VapiError:
    kind = {"already_exists": "already_exists", "ta_unreachable": "resource_inaccessible",
            "interrupted": "error", "invalid_request": "invalid_argument"}.get(
        outcome.error or "", "invalid_argument" if (outcome.error or "").startswith(
            ("invalid", "unsupported", "malformed", "not_")) else "error")
    return VapiError(kind, outcome.message or str(outcome.error),
                     msg_id=f"vtalab.reason.{outcome.error}", args=(str(outcome.error),))


def _ok(outcome: Outcome) -> Outcome:
    if not outcome.ok:
        raise _refused(outcome)
    return outcome


def _void(outcome: Outcome) -> None:
    _ok(outcome)


# == com.vmware.cis.session ===============================================================
SessionInfo = Struct("com.vmware.cis.session.info",
                     {"user": Str, "created_time": DateTime, "last_accessed_time": DateTime})


@_op("com.vmware.cis.session", "create", {}, Secret, side=None, login=True,
     rest=Rest("POST", "/session"), summary="Log in (user name and password) to a session.")
def session_create(lab: ServedLab, call: Call, user: str) -> str:
    return lab.new_session(user)


@_op("com.vmware.cis.session", "delete", {}, Void, side=None, rest=Rest("DELETE", "/session"),
     summary="Log out.")
def session_delete(lab: ServedLab, call: Call, user: str) -> None:
    lab.sessions.pop(call.session or "", None)


@_op("com.vmware.cis.session", "get", {}, SessionInfo, side=None,
     rest=Rest("GET", "/session"), summary="The session's user and times.")
def session_get(lab: ServedLab, call: Call, user: str) -> dict[str, Any]:
    s = lab.sessions.get(call.session or "")
    if s is None:
        raise VapiError("unauthenticated", "this call was not made with a session")
    k = lab.kernel
    return {"user": s.user, "created_time": k.utc(s.created), "last_accessed_time": k.utc(s.last)}


# == com.vmware.cis.tasks =================================================================
TaskStatus = Enum("com.vmware.cis.task.status",
                  ("PENDING", "RUNNING", "BLOCKED", "SUCCEEDED", "FAILED"))
Progress = Struct("com.vmware.cis.task.progress",
                  {"total": Int, "completed": Int, "message": LocalizableMessage})
DynamicId = Struct("com.vmware.vapi.std.dynamic_ID", {"type": Str, "id": Id})
TaskInfo = Struct("com.vmware.cis.task.info", {
    "progress": Opt(Progress), "result": Opt(Opaque), "description": LocalizableMessage,
    "service": Id, "operation": Id, "parent": Opt(Id), "target": Opt(DynamicId),
    "status": TaskStatus, "cancelable": Bool, "error": Opt(AnyError),
    "start_time": Opt(DateTime), "end_time": Opt(DateTime), "user": Opt(Str)})
GetSpec = Struct("com.vmware.cis.tasks.get_spec",
                 {"return_all": Opt(Bool), "exclude_result": Opt(Bool)})
TaskFilter = Struct("com.vmware.cis.tasks.filter_spec", {
    "tasks": Opt(List(Id)), "services": Opt(List(Id)), "operations": Opt(List(Id)),
    "status": Opt(List(TaskStatus)), "targets": Opt(List(DynamicId)),
    "users": Opt(List(Str))})

#: Progress of a running task is estimated from its simulated age (an operation's length
#: is not known in advance): half done after this many simulated seconds [assumed].
PROGRESS_HALF_SECONDS = 60.0


def task_info(lab: ServedLab, task: Any, exclude_result: bool = False) -> dict[str, Any]:
    k = lab.kernel
    if task.status == "RUNNING":
        age = max(k.now - task.start, 0.0)
        done = min(99, int(100 * age / (age + PROGRESS_HALF_SECONDS)))
    else:
        done = 100
    progress = {"total": 100, "completed": done,
                "message": message("com.vmware.cis.task.progress", task.description)}
    return {
        "progress": progress,
        "result": None if exclude_result else task.result,
        "description": message(f"{task.service}.{task.operation}", task.description),
        "service": task.service, "operation": task.operation.removesuffix("$task"),
        "parent": None,
        "target": None if task.target is None else {"type": task.target[0],
                                                    "id": task.target[1]},
        "status": task.status, "cancelable": False, "error": task.error,
        "start_time": k.utc(task.start),
        "end_time": None if task.end is None else k.utc(task.end), "user": task.user}


def _task(lab: ServedLab, value: str) -> Any:
    task = lab.tasks.get(value)
    if task is None:
        raise VapiError("not_found", f"task: no task {value!r} (tasks are kept until "
                        f"{lab.limits.max_tasks} newer ones have been created)", args=(value,))
    return task


@_op("com.vmware.cis.tasks", "get", {"task": Id, "spec": Opt(GetSpec)}, TaskInfo, side=None,
     rest=Rest("GET", "/cis/tasks/{task}"), summary="A task's status, progress, result or error.")
def tasks_get(lab: ServedLab, call: Call, user: str) -> dict[str, Any]:
    spec = call.input.get("spec") or {}
    return task_info(lab, _task(lab, call.input["task"]), bool(spec.get("exclude_result")))


@_op("com.vmware.cis.tasks", "list", {"filter_spec": Opt(TaskFilter),
                                      "result_spec": Opt(GetSpec)},
     Map(Id, TaskInfo), side=None, rest=Rest("GET", "/cis/tasks"),
     summary="The tasks of this vCenter (filter by task, service, operation, status, user).")
def tasks_list(lab: ServedLab, call: Call, user: str) -> dict[str, Any]:
    f = call.input.get("filter_spec") or {}
    spec = call.input.get("result_spec") or {}
    out = {}
    for tid, t in lab.tasks.items():
        if t.vcenter != call.vcenter:
            continue
        if f.get("tasks") and tid not in f["tasks"]:
            continue
        if f.get("services") and t.service not in f["services"]:
            continue
        if f.get("operations") and t.operation.removesuffix("$task") not in [
                o.removesuffix("$task") for o in f["operations"]]:
            continue
        if f.get("status") and t.status not in f["status"]:
            continue
        if f.get("users") and t.user not in f["users"]:
            continue
        out[tid] = task_info(lab, t, bool(spec.get("exclude_result", True)))
    return out


@_op("com.vmware.cis.tasks", "cancel", {"task": Id}, Void, side=None,
     rest=Rest("POST", "/cis/tasks/{task}", action="cancel"), summary="Cancel a task.")
def tasks_cancel(lab: ServedLab, call: Call, user: str) -> None:
    task = _task(lab, call.input["task"])
    raise VapiError("unsupported" if task.status == "RUNNING" else
                    "not_allowed_in_current_state",
                    f"task {task.id} cannot be cancelled (status {task.status}; the lab's "
                    "Trust Authority tasks are not cancelable)")


# == trust_authority_clusters =============================================================
TacState = Enum(f"{TAC}.state", ("ENABLE", "DISABLE"))
TacSummary = Struct(f"{TAC}.summary", {"cluster": Id, "state": TacState})
TacInfo = Struct(f"{TAC}.info", {"cluster": Id, "state": TacState})
TacFilter = Struct(f"{TAC}.filter_spec", {"cluster": Opt(List(Id)), "state": Opt(List(TacState))})
TacUpdate = Struct(f"{TAC}.update_spec", {"state": Opt(TacState)})


def _ta_cluster_row(lab: ServedLab) -> dict[str, Any]:
    row = _one(_ok(_call(lab, "Get-TrustAuthorityCluster")).output)
    state = "ENABLE" if _col(row, "State") == "Enabled" else "DISABLE"
    return {"cluster": lab.ids.TA_CLUSTER, "state": state}


@_op(TAC, "list", {"spec": Opt(TacFilter)}, List(TacSummary), side="ta",
     rest=Rest("GET", f"{REST_TI}/trust-authority-clusters"),
     summary="The Trust Authority clusters and their state.")
def tac_list(lab: ServedLab, call: Call, user: str) -> list[dict[str, Any]]:
    row = _ta_cluster_row(lab)
    f = call.input.get("spec") or {}
    if f.get("cluster") and row["cluster"] not in f["cluster"] \
            and lab.world.ta_cluster.name not in f["cluster"]:
        return []
    if f.get("state") and row["state"] not in f["state"]:
        return []
    return [row]


@_op(TAC, "get", {"cluster": Id}, TacInfo, side="ta",
     rest=Rest("GET", f"{REST_TI}/trust-authority-clusters/{{cluster}}"),
     summary="One Trust Authority cluster's state.")
def tac_get(lab: ServedLab, call: Call, user: str) -> dict[str, Any]:
    lab.ids.ta_cluster(call.input["cluster"])
    return _ta_cluster_row(lab)


@_op(TAC, "update$task", {"cluster": Id, "spec": TacUpdate}, Id, side="ta", result=Void,
     rest=Rest("PATCH", f"{REST_TI}/trust-authority-clusters/{{cluster}}", body="spec"),
     summary="Enable or disable the Trust Authority cluster (Set-TrustAuthorityCluster).")
def tac_update(lab: ServedLab, call: Call, user: str) -> str:
    name = lab.ids.ta_cluster(call.input["cluster"])
    state = call.input["spec"]["state"]
    if state is None:
        return lab.read_task(call, TABLE[(TAC, "update$task")], user,
                             "Update Trust Authority cluster", lambda: None)
    if state not in ("ENABLE", "DISABLE"):
        raise VapiError("invalid_argument", f"spec.state: {state!r} is not ENABLE or DISABLE",
                        args=("spec.state",))
    return lab.run_task(call, TABLE[(TAC, "update$task")], user,
                        "Update Trust Authority cluster state", "Set-TrustAuthorityCluster",
                        {"name": name, "state": "Enabled" if state == "ENABLE" else "Disabled"},
                        _void, target=("ClusterComputeResource", lab.ids.TA_CLUSTER))


# == base images ==========================================================================
BI = f"{TAC}.attestation.os.esx.base_images"
BiHealth = _health(f"{BI}.health")
BiSummary = Struct(f"{BI}.summary", {"version": Id, "display_name": Str, "health": BiHealth})
BiInfo = Struct(f"{BI}.info", {"display_name": Str, "last_attested_time": Opt(DateTime),
                               "health": BiHealth, "details": Details})
BiFilter = Struct(f"{BI}.filter_spec", {"version": Opt(List(Id)),
                                        "display_name": Opt(List(Str)),
                                        "health": Opt(List(BiHealth))})
REST_BI = f"{REST_TI}/trust-authority-clusters/{{cluster}}/attestation/os/esx/base-images"


def _base_images(lab: ServedLab) -> list[dict[str, Any]]:
    return list(_ok(_call(lab, "list-base-images")).output)


@_op(BI, "list$task", {"cluster": Id, "spec": Opt(BiFilter)}, Id, side="ta",
     result=List(BiSummary), rest=Rest("GET", REST_BI),
     summary="The trusted ESXi base images (version, display name, health).")
def bi_list(lab: ServedLab, call: Call, user: str) -> str:
    lab.ids.ta_cluster(call.input["cluster"])
    f = call.input.get("spec") or {}

    def compute() -> list[dict[str, Any]]:
        rows = [{"version": b["version"], "display_name": b["display_name"],
                 "health": b["health"]} for b in _base_images(lab)]
        return [r for r in rows
                if (not f.get("version") or r["version"] in f["version"])
                and (not f.get("display_name") or r["display_name"] in f["display_name"])
                and (not f.get("health") or r["health"] in f["health"])]

    return lab.read_task(call, TABLE[(BI, "list$task")], user, "List trusted base images",
                         compute)


def _find_image(lab: ServedLab, version: str) -> dict[str, Any]:
    images = _base_images(lab)
    for b in images:
        if b["version"] == version:
            return b
    raise VapiError("not_found", f"version: no trusted base image {version!r} (versions: "
                    f"{', '.join(b['version'] for b in images) or 'none'})", args=(version,))


@_op(BI, "get$task", {"cluster": Id, "version": Id}, Id, side="ta", result=BiInfo,
     rest=Rest("GET", REST_BI + "/{version}"),
     summary="One base image, with last_attested_time (when a host last attested with it).")
def bi_get(lab: ServedLab, call: Call, user: str) -> str:
    lab.ids.ta_cluster(call.input["cluster"])

    def compute() -> dict[str, Any]:
        b = _find_image(lab, call.input["version"])
        t = b["last_attested_time"]
        return {"display_name": b["display_name"], "health": b["health"],
                "last_attested_time": None if t is None else lab.kernel.utc(t),
                "details": _details(b["health"], f"base image {b['version']}")}

    return lab.read_task(call, TABLE[(BI, "get$task")], user, "Get trusted base image",
                         compute)


@_op(BI, "import_from_imgdb$task", {"cluster": Id, "imgdb": Blob}, Id, side="ta", result=Id,
     rest=Rest("POST", REST_BI, action="import-from-imgdb", body="imgdb"),
     summary="Import a base image from an ESXi host's boot_imgdb.tgz "
             "(New-TrustAuthorityVMHostBaseImage); the result is its version.")
def bi_import(lab: ServedLab, call: Call, user: str) -> str:
    lab.ids.ta_cluster(call.input["cluster"])
    data = call.input["imgdb"]
    name = f"api-upload-{lab.requests}.tgz"

    # The upload is the operator's file for -FilePath, for the verb's first instant only.
    def before() -> None:
        lab.world.files[name] = data

    def after() -> None:
        lab.world.files.pop(name, None)

    def finish(outcome: Outcome) -> str:
        _ok(outcome)
        images = {b["version"] for b in _base_images(lab)}
        version = next((v for v in images if v in outcome.message), None)
        if version is None:
            raise VapiError("error", f"import finished but no version in {outcome.message!r}")
        return version

    return lab.run_task(call, TABLE[(BI, "import_from_imgdb$task")], user,
                        "Add trusted ESXi base image", "New-TrustAuthorityVMHostBaseImage",
                        {"file": name}, finish, before=before, after=after)


@_op(BI, "delete$task", {"cluster": Id, "version": Id}, Id, side="ta", result=Void,
     rest=Rest("DELETE", REST_BI + "/{version}"),
     summary="Remove a trusted base image (Remove-TrustAuthorityVMHostBaseImage).")
def bi_delete(lab: ServedLab, call: Call, user: str) -> str:
    lab.ids.ta_cluster(call.input["cluster"])
    version = call.input["version"]
    op = TABLE[(BI, "delete$task")]
    if version not in {b["version"] for b in _base_images(lab)}:
        return lab.read_task(call, op, user, "Remove trusted ESXi base image",
                             lambda: _find_image(lab, version))
    return lab.run_task(call, op, user, "Remove trusted ESXi base image",
                        "Remove-TrustAuthorityVMHostBaseImage", {"version": version}, _void)


# == files the operator hands to cmdlets (-FilePath) =======================================
def _with_file(lab: ServedLab, value: Any) -> tuple[str, Callable[[], None],
                                                   Callable[[], None]]:
    """A name in the operator's files holding ``value`` for a verb's first instant."""
    name = f"api-request-{lab.requests}"

    def before() -> None:
        lab.world.files[name] = value

    def after() -> None:
        lab.world.files.pop(name, None)

    return name, before, after


def _pem_certs(chain: list[str], field: str) -> list[bytes]:
    out = []
    for i, text in enumerate(chain):
        try:
            out += [crypto.cert_der(c) for c in crypto.certs_from_pem(text)]
        except ValueError as exc:
            raise VapiError("invalid_argument", f"{field}[{i}]: not a PEM certificate ({exc})",
                            args=(f"{field}[{i}]",)) from None
    if not out:
        raise VapiError("invalid_argument", f"{field}: no certificate", args=(field,))
    return out


def _objects(lab: ServedLab, kind: str) -> list[dict[str, Any]]:
    return list(_ok(_call(lab, "list-trust-objects", kind=kind)).output)


def _object(lab: ServedLab, kind: str, name: str, what: str) -> dict[str, Any]:
    rows = _objects(lab, kind)
    for row in rows:
        if row["name"] == name:
            return row
    raise VapiError("not_found", f"no {what} {name!r} (known: "
                    f"{', '.join(r['name'] for r in rows) or 'none'})", args=(name,))


def _verb_args(verb: str, **candidates: Any) -> dict[str, Any]:
    """Arguments for ``verb`` under the names its model has (``a|b`` = either name)."""
    fields = lookup(verb).args.model_fields
    out = {}
    for key, value in candidates.items():
        for name in key.split("__"):
            if name in fields:
                out[name] = value
                break
    return out


# == consumer principals ==================================================================
CP = f"{TAC}.consumer_principals"
CpHealth = _health(f"{CP}.health")
StsPrincipal = Struct(f"{TI}.sts_principal", {
    "id": Struct(f"{TI}.sts_principal_id", {"name": Str, "domain": Str}),
    "type": Enum(f"{TI}.sts_principal_type", ("STS_USER", "STS_GROUP"))})
CpSummary = Struct(f"{CP}.summary", {"id": Id, "principal": StsPrincipal,
                                     "issuer_alias": Id, "issuer": Str})
CpInfo = Struct(f"{CP}.info", {"id": Id, "principal": StsPrincipal, "issuer_alias": Id,
                               "issuer": Str, "certificates": List(X509Chain),
                               "health": CpHealth, "message": Opt(LocalizableMessage)})
CpCreate = Struct(f"{CP}.create_spec", {"certificates": List(X509Chain), "issuer_alias": Id,
                                        "issuer": Str, "principal": StsPrincipal})
CpFilter = Struct(f"{CP}.filter_spec", {"id": Opt(List(Id)), "principals": Opt(List(StsPrincipal)),
                                        "issuer": Opt(List(Id))})
REST_CP = f"{REST_TI}/trust-authority-clusters/{{cluster}}/consumer-principals"
#: The STS principal vTA trusts in a workload vCenter's domain [assumed: the lab models the
#: issuer's signing certificates, not the solution user's name].
STS_PRINCIPAL = {"id": {"name": "vpxd-extension", "domain": "vsphere.local"}, "type": "STS_USER"}


def _cp(row: dict[str, Any], full: bool) -> dict[str, Any]:
    out = {"id": row["name"], "principal": STS_PRINCIPAL, "issuer_alias": row["name"],
           "issuer": row["issuer"]}
    if full:
        out.update({"certificates": [{"cert_chain": row["certificates_pem"]}],
                    "health": row["health"], "message": None})
    return out


@_op(CP, "list$task", {"cluster": Id, "spec": Opt(CpFilter)}, Id, side="ta",
     result=List(CpSummary), rest=Rest("POST", REST_CP, action="query", body="spec"),
     summary="The workload vCenters (STS principals) the TA cluster trusts "
             "(Get-TrustAuthorityPrincipal).")
def cp_list(lab: ServedLab, call: Call, user: str) -> str:
    lab.ids.ta_cluster(call.input["cluster"])
    f = call.input.get("spec") or {}

    def compute() -> list[dict[str, Any]]:
        return [_cp(r, False) for r in _objects(lab, "principals")
                if (not f.get("id") or r["name"] in f["id"])
                and (not f.get("issuer") or r["issuer"] in f["issuer"])]

    return lab.read_task(call, TABLE[(CP, "list$task")], user,
                         "List Trust Authority principals", compute)


@_op(CP, "get$task", {"cluster": Id, "profile": Id}, Id, side="ta", result=CpInfo,
     rest=Rest("GET", REST_CP + "/{profile}"), summary="One trusted principal.")
def cp_get(lab: ServedLab, call: Call, user: str) -> str:
    lab.ids.ta_cluster(call.input["cluster"])
    return lab.read_task(call, TABLE[(CP, "get$task")], user, "Get Trust Authority principal",
                         lambda: _cp(_object(lab, "principals", call.input["profile"],
                                             "principal"), True))


@_op(CP, "create$task", {"cluster": Id, "spec": CpCreate}, Id, side="ta", result=Id,
     rest=Rest("POST", REST_CP, body="spec"),
     summary="Trust a workload vCenter's STS signing certificates "
             "(New-TrustAuthorityPrincipal).")
def cp_create(lab: ServedLab, call: Call, user: str) -> str:
    lab.ids.ta_cluster(call.input["cluster"])
    spec = call.input["spec"]
    ders = [d for i, c in enumerate(spec["certificates"])
            for d in _pem_certs(c["cert_chain"], f"spec.certificates[{i}].cert_chain")]
    name, before, after = _with_file(lab, Principal(issuer=spec["issuer"],
                                                    certificates_der=tuple(ders)))
    return lab.run_task(call, TABLE[(CP, "create$task")], user,
                        "Add Trust Authority principal", "New-TrustAuthorityPrincipal",
                        {"file": name}, lambda o: (_ok(o), spec["issuer"])[1],
                        before=before, after=after)


@_op(CP, "delete$task", {"cluster": Id, "profile": Id}, Id, side="ta", result=Void,
     rest=Rest("DELETE", REST_CP + "/{profile}"),
     summary="Stop trusting a principal (Remove-TrustAuthorityPrincipal).")
def cp_delete(lab: ServedLab, call: Call, user: str) -> str:
    lab.ids.ta_cluster(call.input["cluster"])
    return lab.run_task(call, TABLE[(CP, "delete$task")], user,
                        "Remove Trust Authority principal", "Remove-TrustAuthorityPrincipal",
                        _verb_args("Remove-TrustAuthorityPrincipal",
                                   name__trust_authority_principal=call.input["profile"]),
                        _void)


# == TPM 2.0: CA certificates, endorsement keys, settings =================================
T2 = f"{TAC}.attestation.tpm2"
REST_T2 = f"{REST_TI}/trust-authority-clusters/{{cluster}}/attestation/tpm2"


def _named_tpm2(kind: str, svc_name: str, rest_name: str, what: str, info_fields: dict[str, VType],
                info: Callable[[dict[str, Any]], dict[str, Any]], create_fields: dict[str, VType],
                create: Callable[[ServedLab, dict[str, Any]], tuple[str, Any, str]],
                new_verb: str, remove_verb: str, task_what: str) -> None:
    svc = f"{T2}.{svc_name}"
    health_t = _health(f"{svc}.health")
    summary_t = Struct(f"{svc}.summary", {"name": Id, "health": health_t})
    info_t = Struct(f"{svc}.info", {**info_fields, "health": health_t, "details": Details})
    create_t = Struct(f"{svc}.create_spec", create_fields)
    path = f"{REST_T2}/{rest_name}"

    @_op(svc, "list$task", {"cluster": Id}, Id, side="ta", result=List(summary_t),
         rest=Rest("GET", path), summary=f"The trusted {what}s.")
    def list_(lab: ServedLab, call: Call, user: str) -> str:
        lab.ids.ta_cluster(call.input["cluster"])
        return lab.read_task(call, TABLE[(svc, "list$task")], user, f"List {task_what}s",
                             lambda: [{"name": r["name"], "health": r["health"]}
                                      for r in _objects(lab, kind)])

    @_op(svc, "get$task", {"cluster": Id, "name": Id}, Id, side="ta", result=info_t,
         rest=Rest("GET", path + "/{name}"), summary=f"One trusted {what}.")
    def get(lab: ServedLab, call: Call, user: str) -> str:
        lab.ids.ta_cluster(call.input["cluster"])

        def compute() -> dict[str, Any]:
            row = _object(lab, kind, call.input["name"], what)
            return {**info(row), "health": row["health"],
                    "details": _details(row["health"], f"{what} {row['name']}")}

        return lab.read_task(call, TABLE[(svc, "get$task")], user, f"Get {task_what}",
                             compute)

    @_op(svc, "create$task", {"cluster": Id, "spec": create_t}, Id, side="ta", result=Void,
         rest=Rest("POST", path, body="spec"), summary=f"Trust a {what} ({new_verb}).")
    def create_(lab: ServedLab, call: Call, user: str) -> str:
        lab.ids.ta_cluster(call.input["cluster"])
        name, value, label = create(lab, call.input["spec"])
        file, before, after = _with_file(lab, value)
        return lab.run_task(call, TABLE[(svc, "create$task")], user, f"Add {task_what}",
                            new_verb, {"file": file, "name": name}, _void,
                            before=before, after=after)

    @_op(svc, "delete$task", {"cluster": Id, "name": Id}, Id, side="ta", result=Void,
         rest=Rest("DELETE", path + "/{name}"), summary=f"Stop trusting a {what} "
                                                         f"({remove_verb}).")
    def delete(lab: ServedLab, call: Call, user: str) -> str:
        lab.ids.ta_cluster(call.input["cluster"])
        _object(lab, kind, call.input["name"], what)
        return lab.run_task(call, TABLE[(svc, "delete$task")], user, f"Remove {task_what}",
                            remove_verb, {"name": call.input["name"]}, _void)


def _create_ca(lab: ServedLab, spec: dict[str, Any]) -> tuple[str, Any, str]:
    if spec["cert_chain"] is None:
        raise VapiError("invalid_argument", "spec.cert_chain: the CA certificate chain is "
                        "required", args=("spec.cert_chain",))
    ders = _pem_certs(spec["cert_chain"]["cert_chain"], "spec.cert_chain.cert_chain")
    return spec["name"], ("tpm-ca", spec["name"], ders[-1]), "TPM CA"


def _create_ek(lab: ServedLab, spec: dict[str, Any]) -> tuple[str, Any, str]:
    if spec["public_key"] is None:
        raise VapiError("invalid_argument", "spec.public_key: the EK public key (PEM) is "
                        "required", args=("spec.public_key",))
    try:
        der = crypto.public_der(crypto.public_from_pem(spec["public_key"].encode()))
    except (ValueError, TypeError) as exc:
        raise VapiError("invalid_argument", f"spec.public_key: not a PEM public key ({exc})",
                        args=("spec.public_key",)) from None
    return spec["name"], ("ek", spec["name"], der), "EK"


_named_tpm2("tpm2_ca_certificates", "ca_certificates", "ca-certificates", "TPM CA certificate",
            {"cert_chain": X509Chain}, lambda r: {"cert_chain": {"cert_chain":
                                                                 r["certificates_pem"]}},
            {"name": Id, "cert_chain": Opt(X509Chain)}, _create_ca,
            "New-TrustAuthorityTpm2CACertificate", "Remove-TrustAuthorityTpm2CACertificate",
            "TPM 2.0 CA certificate")
_named_tpm2("tpm2_endorsement_keys", "endorsement_keys", "endorsement-keys", "endorsement key",
            {"public_key": Str}, lambda r: {"public_key": r["public_key_pem"]},
            {"name": Id, "public_key": Opt(Str), "certificate": Opt(Str)}, _create_ek,
            "New-TrustAuthorityTpm2EndorsementKey", "Remove-TrustAuthorityTpm2EndorsementKey",
            "TPM 2.0 endorsement key")

SETTINGS = f"{T2}.settings"
SettingsInfo = Struct(f"{SETTINGS}.info", {
    "require_endorsement_keys": Bool, "require_certificate_validation": Bool,
    "health": _health(f"{SETTINGS}.health"), "details": Details})
SettingsUpdate = Struct(f"{SETTINGS}.update_spec", {
    "require_endorsement_keys": Opt(Bool), "require_certificate_validation": Opt(Bool)})


@_op(SETTINGS, "get$task", {"cluster": Id}, Id, side="ta", result=SettingsInfo,
     rest=Rest("GET", f"{REST_T2}/settings"),
     summary="The TPM 2.0 attestation settings (Get-TrustAuthorityTpm2AttestationSettings).")
def settings_get(lab: ServedLab, call: Call, user: str) -> str:
    lab.ids.ta_cluster(call.input["cluster"])

    def compute() -> dict[str, Any]:
        rows = _objects(lab, "tpm2_settings")
        if not rows:
            raise VapiError("resource_inaccessible", "no TA host is in the cluster")
        return {**rows[0], "details": _details(rows[0]["health"], "TPM 2.0 settings")}

    return lab.read_task(call, TABLE[(SETTINGS, "get$task")], user,
                         "Get TPM 2.0 attestation settings", compute)


@_op(SETTINGS, "update$task", {"cluster": Id, "spec": SettingsUpdate}, Id, side="ta",
     result=Void, rest=Rest("PATCH", f"{REST_T2}/settings", body="spec"),
     summary="Change the TPM 2.0 attestation settings "
             "(Set-TrustAuthorityTpm2AttestationSettings).")
def settings_update(lab: ServedLab, call: Call, user: str) -> str:
    lab.ids.ta_cluster(call.input["cluster"])
    spec = call.input["spec"]
    verb = "Set-TrustAuthorityTpm2AttestationSettings"
    args = _verb_args(verb, require_endorsement_keys__require_endorsement_key=spec[
        "require_endorsement_keys"], require_certificate_validation=spec[
        "require_certificate_validation"])
    return lab.run_task(call, TABLE[(SETTINGS, "update$task")], user,
                        "Update TPM 2.0 attestation settings", verb,
                        {k: v for k, v in args.items() if v is not None}, _void)


# == KMS: trusted key providers ===========================================================
KP = f"{TAC}.kms.providers"
KpHealth = _health(f"{KP}.health")
KmipServer = Struct(f"{KP}.server", {"name": Str, "address": NetworkAddress})
KpSummary = Struct(f"{KP}.summary", {"provider": Id, "health": KpHealth})
KpInfo = Struct(f"{KP}.info", {
    "master_key_id": Str,
    "key_server": Struct(f"{KP}.key_server_info", {
        "type": Enum(f"{KP}.key_server_info.type", ("KMIP",)), "description": Str,
        "proxy_server": Opt(NetworkAddress), "connection_timeout": Opt(Int),
        "kmip_server": Opt(Struct(f"{KP}.kmip_server_info", {
            "servers": List(KmipServer), "username": Opt(Str)}))}),
    "status": Struct(f"{KP}.status", {
        "health": KpHealth, "details": Details,
        "servers": List(Struct(f"{KP}.server_info", {
            "health": KpHealth, "details": Details, "client_trust_server": Bool,
            "server_trust_client": Bool, "name": Str}))})})
KpCreate = Struct(f"{KP}.create_spec", {
    "provider": Id, "master_key_id": Str,
    "key_server": Struct(f"{KP}.key_server_create_spec", {
        "type": Enum(f"{KP}.key_server_create_spec.type", ("KMIP",)),
        "description": Opt(Str), "proxy_server": Opt(NetworkAddress),
        "connection_timeout": Opt(Int),
        "kmip_server": Opt(Struct(f"{KP}.kmip_server_create_spec", {
            "servers": List(KmipServer), "username": Opt(Str)}))})})
KpUpdate = Struct(f"{KP}.update_spec", {"master_key_id": Opt(Str), "key_server": Opt(Struct(
    f"{KP}.key_server_update_spec", {
        "type": Opt(Enum(f"{KP}.key_server_update_spec.type", ("KMIP",))),
        "description": Opt(Str), "proxy_server": Opt(NetworkAddress),
        "connection_timeout": Opt(Int),
        "kmip_server": Opt(Struct(f"{KP}.kmip_server_update_spec", {
            "servers": Opt(List(KmipServer)), "username": Opt(Str)}))}))})
REST_KP = f"{REST_TI}/trust-authority-clusters/{{cluster}}/kms/providers"


def _worst(*values: str) -> str:
    """The worst of several health values (ERROR > WARNING > OK > NONE)."""
    order = ("NONE", "OK", "WARNING", "ERROR")
    return max(values, key=order.index)


def _provider(lab: ServedLab, name: str) -> dict[str, Any]:
    rows = list(_ok(_call(lab, "list-key-providers")).output)
    for row in rows:
        if row["name"] == name:
            return row
    raise VapiError("not_found", f"provider: no trusted key provider {name!r} (providers: "
                    f"{', '.join(r['name'] for r in rows) or 'none'})", args=(name,))


@_op(KP, "list$task", {"cluster": Id}, Id, side="ta", result=List(KpSummary),
     rest=Rest("GET", REST_KP),
     summary="The trusted key providers (Get-TrustAuthorityKeyProvider).")
def kp_list(lab: ServedLab, call: Call, user: str) -> str:
    lab.ids.ta_cluster(call.input["cluster"])
    return lab.read_task(call, TABLE[(KP, "list$task")], user, "List trusted key providers",
                         lambda: [{"provider": r["name"],
                                   "health": _worst(r["health"], r["status_health"])}
                                  for r in _ok(_call(lab, "list-key-providers")).output])


@_op(KP, "get$task", {"cluster": Id, "provider": Id}, Id, side="ta", result=KpInfo,
     rest=Rest("GET", REST_KP + "/{provider}"),
     summary="One trusted key provider: primary key, KMIP servers and their status.")
def kp_get(lab: ServedLab, call: Call, user: str) -> str:
    lab.ids.ta_cluster(call.input["cluster"])

    def compute() -> dict[str, Any]:
        row = _provider(lab, call.input["provider"])
        servers = []
        for s in row["servers"]:
            ok = s["status"] == "CONNECTED"
            servers.append({"health": "OK" if ok else "ERROR",
                            "details": [] if ok else [message(f"{KP}.server.status",
                                                              f"{s['name']}: {s['message']}",
                                                              s["name"], s["status"])],
                            "client_trust_server": s["client_trust_server"],
                            "server_trust_client": s["server_trust_client"],
                            "name": s["name"]})
        health = _worst(row["health"], row["status_health"])
        return {"master_key_id": row["primary_key_id"],
                "key_server": {"type": row["type"], "description": row["description"],
                               "proxy_server": (None if row["proxy_address"] is None else {
                                   "hostname": row["proxy_address"],
                                   "port": row["proxy_port"]}),
                               "connection_timeout": row["connection_timeout_seconds"],
                               "kmip_server": {
                                   "servers": [{"name": s["name"], "address": {
                                       "hostname": s["address"], "port": s["port"]}}
                                       for s in row["servers"]],
                                   "username": row["username"]}},
                "status": {"health": health,
                           "details": _details(health, f"key provider {row['name']}"),
                           "servers": servers}}

    return lab.read_task(call, TABLE[(KP, "get$task")], user, "Get trusted key provider",
                         compute)


@_op(KP, "create$task", {"cluster": Id, "spec": KpCreate}, Id, side="ta", result=Void,
     rest=Rest("POST", REST_KP, body="spec"),
     summary="Create a trusted key provider on every TA host (New-TrustAuthorityKeyProvider; "
             "the lab's KMS cluster is the topology's, whatever servers the spec names).")
def kp_create(lab: ServedLab, call: Call, user: str) -> str:
    lab.ids.ta_cluster(call.input["cluster"])
    spec = call.input["spec"]
    verb = "New-TrustAuthorityKeyProvider"
    args = _verb_args(verb, name__key_provider=spec["provider"],
                      primary_key_id__master_key_id=spec["master_key_id"])
    key_server = spec["key_server"]
    proxy = key_server.get("proxy_server") or {}
    for arg, value in (("description", key_server.get("description")),
                       ("proxy_address", proxy.get("hostname")),
                       ("proxy_port", proxy.get("port")),
                       ("connection_timeout_seconds", key_server.get("connection_timeout"))):
        if value is not None:
            args[arg] = value
    kmip = key_server.get("kmip_server") or {}
    servers = kmip.get("servers") or []
    if servers:
        first = servers[0]
        args.update(kmip_server_name=first["name"],
                    kmip_server_address=first["address"]["hostname"])
        if first["address"].get("port") is not None:
            args["kmip_server_port"] = first["address"]["port"]
        args["more_servers"] = [(s["name"], s["address"]["hostname"],
                                 s["address"].get("port") or KMIP_PORT) for s in servers[1:]]
    if kmip.get("username") is not None:
        args["kmip_server_username"] = kmip["username"]
    return lab.run_task(call, TABLE[(KP, "create$task")], user, "Add trusted key provider",
                        verb, args, _void)


@_op(KP, "update$task", {"cluster": Id, "provider": Id, "spec": KpUpdate}, Id, side="ta",
     result=Void, rest=Rest("PATCH", REST_KP + "/{provider}", body="spec"),
     summary="Change a trusted key provider's primary key, description, proxy and "
             "connection timeout (Set-TrustAuthorityKeyProvider) or its KMIP servers and "
             "user name (key_server.kmip_server: the lab verb "
             "update-key-provider-servers).")
def kp_update(lab: ServedLab, call: Call, user: str) -> str:
    lab.ids.ta_cluster(call.input["cluster"])
    row = _provider(lab, call.input["provider"])
    spec = call.input["spec"]
    key_server = spec.get("key_server") or {}
    proxy = key_server.get("proxy_server") or {}
    settings = {"description": key_server.get("description"),
                "proxy_address": proxy.get("hostname"), "proxy_port": proxy.get("port"),
                "connection_timeout_seconds": key_server.get("connection_timeout"),
                "type": key_server.get("type")}
    kmip = key_server.get("kmip_server") or {}
    servers, username = kmip.get("servers"), kmip.get("username")
    changes_servers = servers is not None or username is not None
    changes_other = spec.get("master_key_id") is not None or any(
        v is not None for k, v in settings.items() if k != "type")
    if changes_servers and changes_other:
        raise VapiError("invalid_argument", "spec: the lab applies key_server.kmip_server "
                        "and the other fields (master_key_id, description, proxy_server, "
                        "connection_timeout) in separate updates (one task each); send "
                        "them as two calls", args=("spec",))
    if changes_servers:
        verb = "update-key-provider-servers"
        listed = servers if servers is not None else [
            {"name": s["name"], "address": {"hostname": s["address"], "port": s["port"]}}
            for s in row["servers"]]
        args: dict[str, Any] = {"key_provider": call.input["provider"], "servers": [
            (s["name"], s["address"]["hostname"], s["address"].get("port") or KMIP_PORT)
            for s in listed]}
        if username is not None:
            args["username"] = username
        return lab.run_task(call, TABLE[(KP, "update$task")], user,
                            "Update trusted key provider", verb, args, _void)
    verb = "Set-TrustAuthorityKeyProvider"
    args = _verb_args(verb, name__key_provider=call.input["provider"],
                      primary_key_id__master_key_id=spec.get("master_key_id"), **settings)
    return lab.run_task(call, TABLE[(KP, "update$task")], user, "Update trusted key provider",
                        verb, {k: v for k, v in args.items() if v is not None}, _void)


@_op(KP, "delete$task", {"cluster": Id, "provider": Id}, Id, side="ta", result=Void,
     rest=Rest("DELETE", REST_KP + "/{provider}"),
     summary="Remove a trusted key provider (Remove-TrustAuthorityKeyProvider).")
def kp_delete(lab: ServedLab, call: Call, user: str) -> str:
    lab.ids.ta_cluster(call.input["cluster"])
    _provider(lab, call.input["provider"])
    verb = "Remove-TrustAuthorityKeyProvider"
    return lab.run_task(call, TABLE[(KP, "delete$task")], user, "Remove trusted key provider",
                        verb, _verb_args(verb, name__key_provider=call.input["provider"]),
                        _void)


# == KMS: a provider's client certificate, CSR, credential and peer certificates ==========
# Sub-services of kms.providers as vmware-vcenter 8.0.3.0 names them
# (kms/providers_client.py and kms/providers/client_certificate_client.py). Each runs the
# key provider cmdlet of the same job (vtalab.world.verbs.keyprovider).
KPC = f"{KP}.client_certificate"
KPCSR = f"{KPC}.csr"
KPCRED = f"{KP}.credential"
KPCUR = f"{KP}.current_peer_certificates"
KPTRUST = f"{KP}.trusted_peer_certificates"
REST_KPP = REST_KP + "/{provider}"
KpcInfo = Struct(f"{KPC}.info", {"certificate": Str})
KpcUpdate = Struct(f"{KPC}.update_spec", {"certificate": Str, "private_key": Opt(Secret)})
CsrInfo = Struct(f"{KPCSR}.info", {"csr": Str})
PeerSummary = Struct(f"{KPCUR}.summary", {"server_name": Str, "certificate": Opt(Str),
                                          "error_messages": List(LocalizableMessage),
                                          "trusted": Bool})
PeerFilter = Struct(f"{KPCUR}.filter_spec", {"server_names": Opt(List(Str)),
                                             "trusted": Opt(Bool)})
TrustedInfo = Struct(f"{KPTRUST}.info", {"certificates": List(Str)})
TrustedUpdate = Struct(f"{KPTRUST}.update_spec", {"certificates": Opt(List(Str))})


def _files(lab: ServedLab, values: dict[str, Any]) -> tuple[dict[str, str], Callable[[], None],
                                                            Callable[[], None]]:
    """Names in the operator's files for several values, for a verb's first instant."""
    names = {k: f"api-request-{lab.requests}-{k}" for k in values}

    def before() -> None:
        for k, v in values.items():
            lab.world.files[names[k]] = v

    def after() -> None:
        for n in names.values():
            lab.world.files.pop(n, None)

    return names, before, after


def _pem_text(text: str, field: str) -> str:
    """A PEM certificate from a client, checked (invalid_argument names the field)."""
    _pem_certs([text], field)
    return text


def _kp_verb(lab: ServedLab, call: Call, user: str, service: str, name: str, description: str,
             verb: str, **args: Any) -> str:
    lab.ids.ta_cluster(call.input["cluster"])
    _provider(lab, call.input["provider"])
    return lab.run_task(call, TABLE[(service, name)], user, description, verb,
                        {"key_provider": call.input["provider"], **args}, _void)


def _kp_read(lab: ServedLab, call: Call, user: str, service: str, name: str, description: str,
             verb: str, pick: Callable[[list[Any]], Any]) -> str:
    lab.ids.ta_cluster(call.input["cluster"])

    def compute() -> Any:
        _provider(lab, call.input["provider"])
        return pick(list(_ok(_call(lab, verb, key_provider=call.input["provider"])).output))

    return lab.read_task(call, TABLE[(service, name)], user, description, compute)


@_op(KPC, "create$task", {"cluster": Id, "provider": Id}, Id, side="ta", result=Void,
     rest=Rest("POST", REST_KPP + "/client-certificate"),
     summary="Make kmxd a new self-signed client certificate "
             "(New-TrustAuthorityKeyProviderClientCertificate).")
def kpc_create(lab: ServedLab, call: Call, user: str) -> str:
    return _kp_verb(lab, call, user, KPC, "create$task", "Generate key provider client "
                    "certificate", "New-TrustAuthorityKeyProviderClientCertificate")


def _no(what: str) -> VapiError:
    return VapiError("not_found", f"the key provider has no {what}", args=(what,))


@_op(KPC, "get$task", {"cluster": Id, "provider": Id}, Id, side="ta", result=KpcInfo,
     rest=Rest("GET", REST_KPP + "/client-certificate"),
     summary="The client certificate kmxd presents "
             "(Get-TrustAuthorityKeyProviderClientCertificate).")
def kpc_get(lab: ServedLab, call: Call, user: str) -> str:
    def pick(rows: list[Any]) -> dict[str, Any]:
        if not rows:
            raise _no("client certificate")
        return {"certificate": rows[0]["Subject"].pem}  # the object carries its DER

    return _kp_read(lab, call, user, KPC, "get$task", "Get key provider client certificate",
                    "Get-TrustAuthorityKeyProviderClientCertificate", pick)


@_op(KPC, "update$task", {"cluster": Id, "provider": Id, "spec": KpcUpdate}, Id, side="ta",
     result=Void, rest=Rest("PATCH", REST_KPP + "/client-certificate", body="spec"),
     summary="Set kmxd's client certificate: a signed CSR, or a certificate with its private "
             "key (Set-TrustAuthorityKeyProviderClientCertificate).")
def kpc_update(lab: ServedLab, call: Call, user: str) -> str:
    lab.ids.ta_cluster(call.input["cluster"])
    _provider(lab, call.input["provider"])
    spec = call.input["spec"]
    values = {"certificate": _pem_text(spec["certificate"], "spec.certificate")}
    if spec.get("private_key") is not None:
        try:
            crypto.private_from_pem(spec["private_key"])
        except ValueError as exc:
            raise VapiError("invalid_argument", f"spec.private_key: {exc}",
                            args=("spec.private_key",)) from None
        values["private_key"] = spec["private_key"]
    names, before, after = _files(lab, values)
    return lab.run_task(call, TABLE[(KPC, "update$task")], user, "Update key provider client "
                        "certificate", "Set-TrustAuthorityKeyProviderClientCertificate",
                        {"key_provider": call.input["provider"], **names}, _void,
                        before=before, after=after)


@_op(KPCSR, "create$task", {"cluster": Id, "provider": Id}, Id, side="ta", result=Void,
     rest=Rest("POST", REST_KPP + "/client-certificate/csr"),
     summary="Make kmxd a new key and CSR "
             "(New-TrustAuthorityKeyProviderClientCertificateCSR).")
def csr_create(lab: ServedLab, call: Call, user: str) -> str:
    return _kp_verb(lab, call, user, KPCSR, "create$task", "Generate key provider client "
                    "certificate CSR", "New-TrustAuthorityKeyProviderClientCertificateCSR")


@_op(KPCSR, "get$task", {"cluster": Id, "provider": Id}, Id, side="ta", result=CsrInfo,
     rest=Rest("GET", REST_KPP + "/client-certificate/csr"),
     summary="The pending CSR (Get-TrustAuthorityKeyProviderClientCertificateCSR).")
def csr_get(lab: ServedLab, call: Call, user: str) -> str:
    def pick(rows: list[Any]) -> dict[str, Any]:
        if not rows:
            raise _no("certificate signing request")
        return {"csr": rows[0]}

    return _kp_read(lab, call, user, KPCSR, "get$task", "Get key provider client certificate "
                    "CSR", "Get-TrustAuthorityKeyProviderClientCertificateCSR", pick)


@_op(KPCRED, "set$task", {"cluster": Id, "provider": Id, "credential": Secret}, Id, side="ta",
     result=Void, rest=Rest("PUT", REST_KPP + "/credential", body="credential"),
     summary="Set the KMIP password (Set-TrustAuthorityKeyProvider -KmipServerPassword).")
def credential_set(lab: ServedLab, call: Call, user: str) -> str:
    lab.ids.ta_cluster(call.input["cluster"])
    _provider(lab, call.input["provider"])
    verb = "Set-TrustAuthorityKeyProvider"
    return lab.run_task(call, TABLE[(KPCRED, "set$task")], user, "Update trusted key provider",
                        verb, _verb_args(verb, name__key_provider=call.input["provider"],
                                         password__kmip_server_password=call.input[
                                             "credential"]), _void)


@_op(KPCUR, "list$task", {"cluster": Id, "provider": Id, "spec": Opt(PeerFilter)}, Id,
     side="ta", result=List(PeerSummary), rest=Rest("GET", REST_KPP + "/peer-certs/current"),
     summary="The certificate each KMIP server presents and whether kmxd trusts it "
             "(Get-TrustAuthorityKeyProviderServerCertificate).")
def peers_current(lab: ServedLab, call: Call, user: str) -> str:
    f = call.input.get("spec") or {}

    def pick(rows: list[Any]) -> list[dict[str, Any]]:
        shown = {r["KeyProviderServerId"]: r for r in rows}
        out = []
        for server in _provider(lab, call.input["provider"])["servers"]:
            row = shown.get(server["name"])
            out.append({"server_name": server["name"],
                        "certificate": row["CertificateRawData"] if row else None,
                        "error_messages": [] if row else [message(
                            f"{KPCUR}.unreachable", f"{server['name']}: {server['message']}",
                            server["name"])],
                        "trusted": bool(row and row["Trusted"])})
        return [r for r in out
                if (not f.get("server_names") or r["server_name"] in f["server_names"])
                and (f.get("trusted") is None or r["trusted"] == f["trusted"])]

    return _kp_read(lab, call, user, KPCUR, "list$task", "List key provider server "
                    "certificates", "Get-TrustAuthorityKeyProviderServerCertificate", pick)


@_op(KPTRUST, "get$task", {"cluster": Id, "provider": Id}, Id, side="ta", result=TrustedInfo,
     rest=Rest("GET", REST_KPP + "/peer-certs/trusted"),
     summary="The KMIP server certificates kmxd trusts.")
def peers_trusted_get(lab: ServedLab, call: Call, user: str) -> str:
    lab.ids.ta_cluster(call.input["cluster"])

    def compute() -> dict[str, Any]:
        name = _provider(lab, call.input["provider"])["name"]
        for h in lab.world.ta_cluster.members:
            provider = h.kmxd.providers.get(name)
            if provider is not None:
                return {"certificates": [crypto.cert_pem(crypto.cert_from_der(d)).decode()
                                         for d in provider.trusted_server_certificates_der]}
        return {"certificates": []}  # pragma: no cover - _provider found it

    return lab.read_task(call, TABLE[(KPTRUST, "get$task")], user, "Get key provider trusted "
                         "server certificates", compute)


@_op(KPTRUST, "update$task", {"cluster": Id, "provider": Id, "spec": TrustedUpdate}, Id,
     side="ta", result=Void, rest=Rest("PATCH", REST_KPP + "/peer-certs/trusted", body="spec"),
     summary="Replace the KMIP server certificates kmxd trusts "
             "(Set-TrustAuthorityKeyProviderServerCertificate).")
def peers_trusted_update(lab: ServedLab, call: Call, user: str) -> str:
    lab.ids.ta_cluster(call.input["cluster"])
    _provider(lab, call.input["provider"])
    certs = call.input["spec"].get("certificates")
    if certs is None:  # "If unset, the trusted server certificates will not be updated."
        return lab.read_task(call, TABLE[(KPTRUST, "update$task")], user, "Update key provider "
                             "server certificates", lambda: None)
    text = "".join(_pem_text(c, f"spec.certificates[{i}]") for i, c in enumerate(certs))
    names, before, after = _files(lab, {"certificate": text})
    return lab.run_task(call, TABLE[(KPTRUST, "update$task")], user, "Update key provider "
                        "server certificates", "Set-TrustAuthorityKeyProviderServerCertificate",
                        {"key_provider": call.input["provider"], **names}, _void,
                        before=before, after=after)


# == trusted clusters: attestation / kms services =========================================
def _service_id(row: dict[str, Any]) -> str:
    return str(row["name"]).replace("/", ":")


def _trusted_services(kind: str, rest_kind: str, remove_verb: str, add_verb: str,
                      info_verb: str) -> None:
    svc = f"{TC}.{rest_kind}.services"
    summary_t = Struct(f"{svc}.summary", {"service": Id, "address": NetworkAddress,
                                          "group": Str, "trust_authority_cluster": Str})
    info_t = Struct(f"{svc}.info", {"address": NetworkAddress, "trusted_CA": X509Chain,
                                    "group": Str, "trust_authority_cluster": Str})
    filter_t = Struct(f"{svc}.filter_spec", {
        "services": Opt(List(Id)), "address": Opt(List(NetworkAddress)),
        "group": Opt(List(Str)), "trust_authority_cluster": Opt(List(Str))})
    path = f"{REST_TI}/trusted-clusters/{{cluster}}/{rest_kind}/services"
    port = 443

    def rows(lab: ServedLab, cluster: str) -> list[dict[str, Any]]:
        return list(_ok(_call(lab, "list-trusted-services", cluster=cluster,
                              kind=kind)).output)

    def summary(row: dict[str, Any]) -> dict[str, Any]:
        return {"service": _service_id(row),
                "address": {"hostname": row["address"], "port": port},
                "group": row["group"], "trust_authority_cluster": row["trust_authority_cluster"]}

    @_op(svc, "list", {"cluster": Id, "spec": Opt(filter_t)}, List(summary_t),
         side="workload", rest=Rest("POST", path, action="query", body="spec"),
         summary=f"The {kind.replace('_', ' ')} services a Trusted cluster is configured with.")
    def list_(lab: ServedLab, call: Call, user: str) -> list[dict[str, Any]]:
        name = lab.ids.trusted_cluster(call.input["cluster"])
        f = call.input.get("spec") or {}
        out = [summary(r) for r in rows(lab, name)]
        return [s for s in out
                if (not f.get("services") or s["service"] in f["services"])
                and (not f.get("group") or s["group"] in f["group"])
                and (not f.get("trust_authority_cluster")
                     or s["trust_authority_cluster"] in f["trust_authority_cluster"])
                and (not f.get("address") or s["address"]["hostname"] in
                     [a["hostname"] for a in f["address"]])]

    def find(lab: ServedLab, cluster: str, service: str) -> dict[str, Any]:
        found = rows(lab, cluster)
        for r in found:
            if _service_id(r) == service:
                return r
        raise VapiError("not_found", f"service: no {kind.replace('_', ' ')} service "
                        f"{service!r} (services: {', '.join(map(_service_id, found)) or 'none'})",
                        args=(service,))

    @_op(svc, "get", {"cluster": Id, "service": Id}, info_t, side="workload",
         rest=Rest("GET", path + "/{service}"), summary="One configured service.")
    def get(lab: ServedLab, call: Call, user: str) -> dict[str, Any]:
        name = lab.ids.trusted_cluster(call.input["cluster"])
        r = find(lab, name, call.input["service"])
        return {"address": {"hostname": r["address"], "port": port},
                "trusted_CA": {"cert_chain": []}, "group": r["group"],
                "trust_authority_cluster": r["trust_authority_cluster"]}

    @_op(svc, "delete$task", {"cluster": Id, "service": Id}, Id, side="workload", result=Void,
         rest=Rest("DELETE", path + "/{service}"),
         summary=f"Remove a service from the desired configuration ({remove_verb}).")
    def delete(lab: ServedLab, call: Call, user: str) -> str:
        name = lab.ids.trusted_cluster(call.input["cluster"])
        r = find(lab, name, call.input["service"])
        return lab.run_task(call, TABLE[(svc, "delete$task")], user,
                            f"Remove {kind.replace('_', ' ')} service info", remove_verb,
                            _verb_args(remove_verb, cluster__trusted_cluster=name,
                                       vmhost=r["address"]), _void,
                            target=("ClusterComputeResource", lab.ids.cluster_ids[name]))


    create_t = Struct(f"{svc}.create_spec", {
        "type": Enum(f"{svc}.create_spec.source_type", ("CLUSTER", "SERVICE")),
        "service": Opt(Id), "trust_authority_cluster": Opt(Str)})

    @_op(svc, "create$task", {"cluster": Id, "spec": create_t}, Id, side="workload",
         result=Id, rest=Rest("POST", path, body="spec"),
         summary=f"Configure the Trust Authority cluster's {kind.replace('_', ' ')} services "
                 f"(Export-/Import-TrustAuthorityServicesInfo, {add_verb}; type CLUSTER: "
                 "all of them, SERVICE: the one named).")
    def create(lab: ServedLab, call: Call, user: str) -> str:
        name = lab.ids.trusted_cluster(call.input["cluster"])
        spec = call.input["spec"]
        single = spec["type"] == "SERVICE"
        if single and spec["service"] is None:
            raise VapiError("invalid_argument", "spec.service: required when spec.type is "
                            "SERVICE (the id of one service, e.g. from list)",
                            args=("spec.service",))
        ta = spec["trust_authority_cluster"]
        if not single and ta is not None:
            lab.ids.ta_cluster(ta, "spec.trust_authority_cluster")
        file = f"api-services-{lab.requests}"
        try:  # the export/import an operator does before adding the services
            _ok(_call(lab, "Export-TrustAuthorityServicesInfo", file=file))
            _ok(_call(lab, "Import-TrustAuthorityServicesInfo", file=file))
        finally:
            lab.world.files.pop(file, None)
        args = _verb_args(add_verb, cluster__trusted_cluster=name)
        if single:  # one registered service: its id is the service name, "/" as ":"
            infos = _ok(_call(lab, info_verb)).output
            ids = {str(_col(r, "Id", "Name")).replace("/", ":"): r for r in infos}
            wanted = spec["service"]
            if wanted not in ids:
                raise VapiError("not_found", f"spec.service: no registered "
                                f"{kind.replace('_', ' ')} service {wanted!r} (services: "
                                f"{', '.join(ids) or 'none'})", args=(wanted,))
            args["service"] = wanted.replace(":", "/")

        def finish(outcome: Outcome) -> str:
            _ok(outcome)
            if single:
                return str(spec["service"])
            found = rows(lab, name)
            if not found:
                raise VapiError("not_found", f"the Trust Authority cluster has no "
                                f"{kind.replace('_', ' ')} service to configure")
            return _service_id(found[0])

        return lab.run_task(call, TABLE[(svc, "create$task")], user,
                            f"Add {kind.replace('_', ' ')} service info", add_verb, args,
                            finish,
                            target=("ClusterComputeResource", lab.ids.cluster_ids[name]))


_trusted_services("attestation", "attestation", "Remove-TrustedClusterAttestationServiceInfo",
                  "Add-TrustedClusterAttestationServiceInfo", "Get-AttestationServiceInfo")
_trusted_services("key_provider", "kms", "Remove-TrustedClusterKeyProviderServiceInfo",
                  "Add-TrustedClusterKeyProviderServiceInfo", "Get-KeyProviderServiceInfo")


# == service status =======================================================================
def _status_op(kind: str, daemon: str, what: str) -> None:
    svc = f"{TAC}.{kind}.service_status"
    health_t = _health(f"{svc}.health")
    info = Struct(f"{svc}.info", {"health": health_t, "details": Details})

    @_op(svc, "get$task", {"cluster": Id}, Id, side="ta", result=info,
         rest=Rest("GET", f"{REST_TI}/trust-authority-clusters/{{cluster}}/{kind}/"
                          "service-status"),
         summary=f"Health of the {what} on the TA hosts (Get-TrustAuthorityServicesStatus).")
    def get(lab: ServedLab, call: Call, user: str) -> str:
        lab.ids.ta_cluster(call.input["cluster"])

        def compute() -> dict[str, Any]:
            # the vAPI status lists each TA host's daemon (PowerCLI's object only the
            # cluster's health), so it reads the TA hosts rather than the cmdlet
            hosts = list(lab.world.ta_cluster.hosts.values())
            running = {h.name: h.host.is_up and h.host.services.get(daemon, False)
                       for h in hosts}
            up = [n for n, ok in running.items() if ok]
            health = ("NONE" if not running else "OK" if len(up) == len(running)
                      else "ERROR" if not up else "WARNING")
            down = [n for n, ok in running.items() if not ok]
            details = [message(f"{svc}.stopped", f"{daemon} is not running on {h}", daemon, h)
                       for h in down]
            return {"health": health, "details": details}

        return lab.read_task(call, TABLE[(svc, "get$task")], user,
                             f"Get {what} status", compute)


_status_op("attestation", "attestd", "Attestation Service")
_status_op("kms", "kmxd", "Key Provider Service")


# == trusted clusters: services applied config ============================================
SAC = f"{TC}.services_applied_config"
SacInfo = Struct(f"{SAC}.info", {"health": _health(f"{SAC}.health", ("NONE", "OK", "ERROR")),
                                 "details": Details})
REST_SAC = f"{REST_TI}/trusted-clusters/{{cluster}}/services-applied-config"


@_op(SAC, "get$task", {"cluster": Id}, Id, side="workload", result=SacInfo,
     rest=Rest("GET", REST_SAC),
     summary="Health of the trust configuration applied to a Trusted cluster's hosts "
             "(Get-TrustedClusterAppliedStatus).")
def sac_get(lab: ServedLab, call: Call, user: str) -> str:
    name = lab.ids.trusted_cluster(call.input["cluster"])

    def compute() -> dict[str, Any]:
        rows = _ok(_call(lab, "Get-TrustedClusterAppliedStatus", cluster=name)).output
        health = lab.world.trusted_cluster(name).health().upper()
        if health not in ("NONE", "OK", "ERROR"):
            health = "ERROR"
        bad = [host_by_id(lab.world, str(_col(r, "VMHostId"))) for r in rows
               if str(_col(r, "Status")).upper() != "OK"]
        details = [message(f"{SAC}.host.drift", f"host {h}: the applied trust configuration "
                           "differs from the cluster's desired configuration; remediate",
                           h) for h in bad] if health == "ERROR" else []
        return {"health": health, "details": details}

    return lab.read_task(call, TABLE[(SAC, "get$task")], user,
                         "Get Trusted cluster applied configuration", compute,
                         target=("ClusterComputeResource", lab.ids.cluster_ids[name]))


@_op(SAC, "update$task", {"cluster": Id}, Id, side="workload", result=Void,
     rest=Rest("PATCH", REST_SAC),
     summary="Remediate: push the desired trust configuration to the cluster's hosts "
             "(Set-TrustedCluster -Remediate).")
def sac_update(lab: ServedLab, call: Call, user: str) -> str:
    name = lab.ids.trusted_cluster(call.input["cluster"])
    return lab.run_task(call, TABLE[(SAC, "update$task")], user, "Update Trusted cluster",
                        "Set-TrustedCluster", {"cluster": name, "remediate": True}, _void,
                        target=("ClusterComputeResource", lab.ids.cluster_ids[name]))


@_op(SAC, "delete$task", {"cluster": Id}, Id, side="workload", result=Void,
     rest=Rest("DELETE", REST_SAC),
     summary="Delete the trust configuration applied to the cluster's hosts "
             "(delete-applied-config; remediate re-applies the desired one).")
def sac_delete(lab: ServedLab, call: Call, user: str) -> str:
    name = lab.ids.trusted_cluster(call.input["cluster"])
    return lab.run_task(call, TABLE[(SAC, "delete$task")], user,
                        "Delete Trusted cluster applied configuration",
                        "delete-applied-config", {"cluster": name}, _void,
                        target=("ClusterComputeResource", lab.ids.cluster_ids[name]))


def _sac_kind(kind: str, rest_kind: str) -> None:
    """``trusted_clusters.attestation.services_applied_config`` and its ``kms.`` twin: the
    applied configuration of one kind of service, per service address."""
    svc = f"{TC}.{rest_kind}.services_applied_config"
    what = kind.replace("_", " ")
    health_t = _health(f"{svc}.health", ("NONE", "OK", "ERROR"))
    summary_t = Struct(f"{svc}.summary", {"health": health_t, "address": NetworkAddress,
                                          "service": Opt(Id)})
    filter_t = Struct(f"{svc}.filter_spec", {"health": Opt(List(health_t)),
                                             "address": Opt(List(NetworkAddress))})
    info_t = Struct(f"{svc}.info", {"health": health_t, "address": NetworkAddress,
                                    "service": Opt(Id), "groups": List(Str),
                                    "trustedc_as": List(X509Chain), "details": Details})
    path = f"{REST_TI}/trusted-clusters/{{cluster}}/{rest_kind}/services-applied-config"
    port = 443  # the TA services listen on the TA hosts' 443 (as .services reports)

    def rows(lab: ServedLab, cluster: str) -> list[dict[str, Any]]:
        return list(_ok(_call(lab, "list-applied-services", cluster=cluster,
                              kind=kind)).output)

    def summary(row: dict[str, Any]) -> dict[str, Any]:
        return {"health": row["health"], "address": {"hostname": row["address"],
                                                     "port": port},
                "service": None if row["service"] is None
                else str(row["service"]).replace("/", ":")}

    def target(lab: ServedLab, name: str) -> tuple[str, str]:
        return ("ClusterComputeResource", lab.ids.cluster_ids[name])

    @_op(svc, "list$task", {"cluster": Id, "spec": Opt(filter_t)}, Id, side="workload",
         result=List(summary_t), rest=Rest("POST", path, action="query", body="spec"),
         summary=f"Health of each {what} service's configuration applied to a Trusted "
                 "cluster's hosts (list-applied-services).")
    def list_(lab: ServedLab, call: Call, user: str) -> str:
        name = lab.ids.trusted_cluster(call.input["cluster"])
        f = call.input.get("spec") or {}

        def compute() -> list[dict[str, Any]]:
            out = [summary(r) for r in rows(lab, name)]
            return [s for s in out
                    if (not f.get("health") or s["health"] in f["health"])
                    and (not f.get("address") or s["address"]["hostname"] in
                         [a["hostname"] for a in f["address"]])]

        return lab.read_task(call, TABLE[(svc, "list$task")], user,
                             f"List Trusted cluster {what} applied configuration", compute,
                             target=target(lab, name))

    @_op(svc, "get$task", {"cluster": Id, "address": NetworkAddress}, Id, side="workload",
         result=info_t, rest=Rest("GET", path),
         summary=f"The {what} service at an address: applied as desired on every host? "
                 "(REST: ?address.hostname=...&address.port=...)")
    def get(lab: ServedLab, call: Call, user: str) -> str:
        name = lab.ids.trusted_cluster(call.input["cluster"])
        hostname = call.input["address"]["hostname"]

        def compute() -> dict[str, Any]:
            found = rows(lab, name)
            row = next((r for r in found if r["address"] == hostname), None)
            if row is None:
                raise VapiError("not_found", f"address: no {what} service at {hostname!r} "
                                f"in {name!r} (services at: "
                                f"{', '.join(r['address'] for r in found) or 'none'})",
                                args=(hostname,))
            details = [message(f"{svc}.host.drift", f"host {h}: the applied {what} service "
                               f"at {hostname} differs from the desired configuration; "
                               "remediate", h, hostname) for h in row["hosts"]]
            return {**summary(row), "groups": row["groups"], "trustedc_as": [],
                    "details": details}

        return lab.read_task(call, TABLE[(svc, "get$task")], user,
                             f"Get Trusted cluster {what} applied configuration", compute,
                             target=target(lab, name))

    @_op(svc, "update$task", {"cluster": Id}, Id, side="workload", result=Void,
         rest=Rest("PATCH", path),
         summary=f"Remediate the {what} services only (remediate-applied-config).")
    def update(lab: ServedLab, call: Call, user: str) -> str:
        name = lab.ids.trusted_cluster(call.input["cluster"])
        return lab.run_task(call, TABLE[(svc, "update$task")], user,
                            f"Update Trusted cluster {what} applied configuration",
                            "remediate-applied-config", {"cluster": name, "kind": kind},
                            _void, target=target(lab, name))

    @_op(svc, "delete$task", {"cluster": Id}, Id, side="workload", result=Void,
         rest=Rest("DELETE", path),
         summary=f"Delete the applied {what} services from the cluster's hosts "
                 "(delete-applied-config with kind).")
    def delete(lab: ServedLab, call: Call, user: str) -> str:
        name = lab.ids.trusted_cluster(call.input["cluster"])
        return lab.run_task(call, TABLE[(svc, "delete$task")], user,
                            f"Delete Trusted cluster {what} applied configuration",
                            "delete-applied-config", {"cluster": name, "kind": kind},
                            _void, target=target(lab, name))


_sac_kind("attestation", "attestation")
_sac_kind("key_provider", "kms")


# == the workload vCenter's own principal =================================================
PrincipalInfo = Struct(f"{TI}.principal.info", {
    "certificates": List(X509Chain), "issuer": Str, "principal": StsPrincipal, "name": Str})


@_op(f"{TI}.principal", "get", {}, PrincipalInfo, side="workload",
     rest=Rest("GET", f"{REST_TI}/principal"),
     summary="This vCenter's STS signing certificates, the principal the TA cluster must "
             "trust (Export-TrustedPrincipal).")
def principal_get(lab: ServedLab, call: Call, user: str) -> dict[str, Any]:
    name = f"api-principal-{lab.requests}"
    try:
        _ok(_call(lab, "Export-TrustedPrincipal", file=name))
        principal = lab.world.files[name]
    finally:
        lab.world.files.pop(name, None)
    pems = [crypto.cert_pem(crypto.cert_from_der(d)).decode()
            for d in principal.certificates_der]
    return {"certificates": [{"cert_chain": pems}], "issuer": principal.issuer,
            "principal": STS_PRINCIPAL, "name": principal.issuer}


# == vcenter.host, vcenter.VM =============================================================
ConnState = Enum("com.vmware.vcenter.host.connection_state",
                 ("CONNECTED", "DISCONNECTED", "NOT_RESPONDING"))
HostPower = Enum("com.vmware.vcenter.host.power_state", ("POWERED_ON", "POWERED_OFF", "STANDBY"))
HostSummary = Struct("com.vmware.vcenter.host.summary", {
    "host": Id, "name": Str, "connection_state": ConnState, "power_state": Opt(HostPower)})
HostFilter = Struct("com.vmware.vcenter.host.filter_spec", {
    "hosts": Opt(List(Id)), "names": Opt(List(Str)), "folders": Opt(List(Id)),
    "datacenters": Opt(List(Id)), "standalone": Opt(Bool), "clusters": Opt(List(Id)),
    "connection_states": Opt(List(ConnState))})


@_op("com.vmware.vcenter.host", "list", {"filter": Opt(HostFilter)}, List(HostSummary),
     side=None, rest=Rest("GET", "/vcenter/host"),
     summary="The hosts this vCenter manages, with connection and power state (Get-VMHost).")
def host_list(lab: ServedLab, call: Call, user: str) -> list[dict[str, Any]]:
    role = "trust-authority" if call.vcenter == "ta" else "trusted"
    f = call.input.get("filter") or {}
    out = []
    for row in _ok(_call(lab, "Get-VMHost")).output:
        name = str(_col(row, "Name"))
        if lab.world.hosts[name].role != role:
            continue
        power = str(_col(row, "PowerState", default=""))
        on = power.lower() in ("poweredon", "on")
        conn = "CONNECTED" if on else "NOT_RESPONDING"
        entry = {"host": lab.ids.host_ids[name], "name": name, "connection_state": conn,
                 "power_state": "POWERED_ON" if on else "POWERED_OFF"}
        if f.get("hosts") and entry["host"] not in f["hosts"]:
            continue
        if f.get("names") and name not in f["names"]:
            continue
        if f.get("connection_states") and conn not in f["connection_states"]:
            continue
        if f.get("clusters"):
            cluster = lab.world.hosts[name].cluster
            ids = {lab.ids.cluster_ids.get(cluster, ""), cluster}
            if role == "trust-authority":
                ids.add(lab.ids.TA_CLUSTER)
            if not ids & set(f["clusters"]):
                continue
        out.append(entry)
    return out


VmPower = Enum("com.vmware.vcenter.vm.power.state", ("POWERED_OFF", "POWERED_ON", "SUSPENDED"))
VmSummary = Struct("com.vmware.vcenter.VM.summary", {
    "vm": Id, "name": Str, "power_state": VmPower, "cpu_count": Opt(Int),
    "memory_size_MiB": Opt(Int)})
VmFilter = Struct("com.vmware.vcenter.VM.filter_spec", {
    "vms": Opt(List(Id)), "names": Opt(List(Str)), "folders": Opt(List(Id)),
    "datacenters": Opt(List(Id)), "hosts": Opt(List(Id)), "clusters": Opt(List(Id)),
    "resource_pools": Opt(List(Id)), "power_states": Opt(List(VmPower))})


@_op("com.vmware.vcenter.VM", "list", {"filter": Opt(VmFilter)}, List(VmSummary),
     side="workload", rest=Rest("GET", "/vcenter/vm"),
     summary="The VMs of the workload vCenter with their power state.")
def vm_list(lab: ServedLab, call: Call, user: str) -> list[dict[str, Any]]:
    f = call.input.get("filter") or {}
    out = []
    for row in _ok(_call(lab, "list-vms")).output:
        entry = {"vm": lab.ids.vm_ids[row["name"]], "name": row["name"],
                 "power_state": "POWERED_ON" if row["power_state"] == "poweredOn"
                 else "POWERED_OFF", "cpu_count": None, "memory_size_MiB": None}
        if f.get("vms") and entry["vm"] not in f["vms"]:
            continue
        if f.get("names") and row["name"] not in f["names"]:
            continue
        if f.get("hosts") and lab.ids.host_ids.get(row["host"]) not in f["hosts"] \
                and row["host"] not in f["hosts"]:
            continue
        if f.get("power_states") and entry["power_state"] not in f["power_states"]:
            continue
        out.append(entry)
    return out


# == lab extensions (vtalab.*) ============================================================
ClockInfo = Struct("vtalab.clock.info", {
    "now": DateTime, "seconds": Double, "running": Bool, "speed": Double,
    "horizon_seconds": Double})
ClockSpec = Struct("vtalab.clock.update_spec", {
    "running": Opt(Bool), "speed": Opt(Double), "advance": Opt(Str)})


def _clock(lab: ServedLab) -> dict[str, Any]:
    k = lab.kernel
    return {"now": k.utc(), "seconds": k.now, "running": lab.clock.running,
            "speed": lab.clock.speed, "horizon_seconds": HORIZON_SECONDS}


@_op("vtalab.clock", "get", {}, ClockInfo, side=None, rest=Rest("GET", "/vtalab/clock"),
     summary="[lab] The simulated clock: now (UTC and seconds since T=0), running, speed.")
def clock_get(lab: ServedLab, call: Call, user: str) -> dict[str, Any]:
    return _clock(lab)


@_op("vtalab.clock", "update", {"spec": ClockSpec}, ClockInfo, side=None,
     rest=Rest("PATCH", "/vtalab/clock", body="spec"),
     summary="[lab] Pause (running=false), run (running=true), set the speed (simulated "
             "seconds per real second) or advance by a duration ('90s', '10m', '2h').")
def clock_update(lab: ServedLab, call: Call, user: str) -> dict[str, Any]:
    spec = call.input["spec"]
    if spec["speed"] is not None:
        speed = spec["speed"]
        if not 0 < speed <= 1e6:
            raise VapiError("invalid_argument", f"spec.speed: {speed!r} is not in (0, 1e6] "
                            "simulated seconds per real second", args=("spec.speed",))
    if spec["advance"] is not None:
        try:
            seconds = parse_time(spec["advance"])
        except ValueError as exc:
            raise VapiError("invalid_argument", f"spec.advance: {exc}",
                            args=("spec.advance",)) from None
        lab.advance(seconds)
    if spec["speed"] is not None:
        lab.clock.rebase(lab.kernel.now)
        lab.clock.speed = float(spec["speed"])
    if spec["running"] is not None and spec["running"] != lab.clock.running:
        lab.clock.rebase(lab.kernel.now)
        lab.clock.running = bool(spec["running"])
    return _clock(lab)


VerbInfo = Struct("vtalab.verbs.summary", {
    "name": Str, "kind": Str, "side": Str, "summary": Str, "task": Opt(Str),
    "arguments": List(Str)})
VerbRun = Struct("vtalab.verbs.run_spec", {"verb": Str, "arguments": Opt(Map(Str, Str))})
VerbResult = Struct("vtalab.verbs.result", {"ok": Bool, "error": Opt(Str), "message": Str})


@_op("vtalab.verbs", "list", {}, List(VerbInfo), side=None, rest=Rest("GET", "/vtalab/verbs"),
     summary="[lab] The registry's verbs and faults (what `vtalab verbs` lists).")
def verbs_list(lab: ServedLab, call: Call, user: str) -> list[dict[str, Any]]:
    lookup("wait")  # fill the registries
    return [{"name": v.name, "kind": v.kind, "side": v.side, "summary": v.summary,
             "task": v.task, "arguments": list(v.args.model_fields)}
            for v in [*VERBS.values(), *FAULTS.values()]]


@_op("vtalab.verbs", "run$task", {"spec": VerbRun}, Id, side=None, result=VerbResult,
     rest=Rest("POST", "/vtalab/verbs", body="spec"),
     summary="[lab] Run any registry verb or fault (upgrade-host, Restart-VMHost, "
             "kms-outage ...) as a task; RUNNING while it takes simulated time. Arguments "
             "are strings, parsed as YAML scalars (true, 10m, 8.0 U2).")
def verbs_run(lab: ServedLab, call: Call, user: str) -> str:
    spec = call.input["spec"]
    try:
        entry = lookup(spec["verb"])
    except InputError as exc:
        raise VapiError("invalid_argument", f"spec.verb: {exc}", args=("spec.verb",)) from None
    # The verb's argument model parses the strings ("true", "10m", "8.0 U2") as a scenario
    # step's arguments are parsed.
    args = dict(spec["arguments"] or {})

    def finish(outcome: Outcome) -> dict[str, Any]:
        return {"ok": outcome.ok, "error": outcome.error, "message": outcome.message}

    return lab.run_task(call, TABLE[("vtalab.verbs", "run$task")], user,
                        f"{entry.name}", entry.name, args, finish)


RecentTask = Struct("vtalab.recent_tasks.summary", {
    "key": Str, "name": Str, "target": Str, "status": Str, "error": Opt(Str),
    "start_time": DateTime, "end_time": Opt(DateTime)})


@_op("vtalab.recent_tasks", "list", {}, List(RecentTask), side=None,
     rest=Rest("GET", "/vtalab/recent-tasks"),
     summary="[lab] This vCenter's Recent Tasks pane (every verb's tasks, oldest first).")
def recent_tasks(lab: ServedLab, call: Call, user: str) -> list[dict[str, Any]]:
    vc = lab.world.ta_vcenter if call.vcenter == "ta" else lab.world.workload_vcenter
    k = lab.kernel
    return [{"key": t.key, "name": t.name, "target": t.target, "status": t.status,
             "error": t.error, "start_time": k.utc(t.start),
             "end_time": None if t.end is None else k.utc(t.end)} for t in vc.tasks]


VcEvent = Struct("vtalab.events.summary", {
    "time": DateTime, "event_type_id": Str, "target": Str, "message": Str, "severity": Str})


@_op("vtalab.events", "list", {}, List(VcEvent), side=None, rest=Rest("GET", "/vtalab/events"),
     summary="[lab] This vCenter's events (event type ids from the vCenter catalogue; "
     "severity info, warning or error).")
def events(lab: ServedLab, call: Call, user: str) -> list[dict[str, Any]]:
    vc = lab.world.ta_vcenter if call.vcenter == "ta" else lab.world.workload_vcenter
    k = lab.kernel
    return [{"time": k.utc(e.time), "event_type_id": e.event_id, "target": e.target,
             "message": e.message, "severity": e.severity} for e in vc.events]


LabInfo = Struct("vtalab.lab.info", {
    "scenario": Str, "seed": Int, "vcenter": Str, "role": Str, "topology_only": Bool,
    "ta_vcenter": Str, "workload_vcenter": Str})


@_op("vtalab.lab", "get", {}, LabInfo, side=None, public=True, rest=Rest("GET", "/vtalab/lab"),
     summary="[lab] Which lab and which vCenter this endpoint is (no session needed).")
def lab_info(lab: ServedLab, call: Call, user: str) -> dict[str, Any]:
    return {"scenario": lab.scenario.name, "seed": lab.seed,
            "vcenter": lab.vcenter_name(call.vcenter), "role": call.vcenter,
            "topology_only": lab.topology_only, "ta_vcenter": lab.vcenter_name("ta"),
            "workload_vcenter": lab.vcenter_name("workload")}


ImgdbExport = Struct("vtalab.hosts.imgdb", {"data": Blob, "notice": Opt(Str), "version": Str})


@_op("vtalab.hosts", "export_imgdb", {"host": Id}, ImgdbExport, side=None,
     rest=Rest("GET", "/vtalab/hosts/{host}/boot_imgdb.tgz"),
     summary="[lab] Download a host's boot_imgdb.tgz (Export-VMHostImageDb; the stand-in "
             "for https://<esxi-host>/boot_imgdb.tgz, also served at "
             "/hosts/{host}/boot_imgdb.tgz).")
def export_imgdb(lab: ServedLab, call: Call, user: str) -> dict[str, Any]:
    host = lab.ids.host(call.input["host"])
    name = f"api-download-{lab.requests}.tgz"
    try:
        outcome = _ok(_call(lab, "Export-VMHostImageDb", vmhost=host, file=name))
        data = lab.world.files[name]
    finally:
        lab.world.files.pop(name, None)
    notice = outcome.message if outcome.message.startswith("WARNING") else None
    return {"data": data, "notice": notice, "version": lab.world.hosts[host].version}
