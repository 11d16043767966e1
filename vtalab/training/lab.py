"""Shell commands outside PowerCLI: looking around the lab and controlling simulated time.

Looking around (what the vSphere Client, an SSH session or a log viewer would show):
``hosts``, ``vms`` (``Get-VM``), ``tasks`` (Recent Tasks), ``events``,
``log HOST attestd.log|kmxa.log|kmxd.log|vpxd.log [-Tail N]``, ``status HOST|VM``,
``files`` (what ``-FilePath`` names exist), ``history``. They return objects, so
``hosts | where Attestation -ne attested`` works like any pipeline.

Time: the simulated clock stands still between commands and moves only when told to:
``advance 15m`` runs the world for that long, ``wait-until attested esx-01 [-Timeout 1h]``
and ``wait-until vm db01 poweredOn`` run it event by event until the condition holds (the
earliest simulated instant it does) or the timeout passes; both print what happened
meanwhile, as a timeline. ``time`` and ``pause`` show the clock. Help and completion live
in :mod:`.assist`; the registry's lab verbs (``upgrade-host``, ``reboot-host`` ...) and
faults are not here: they run through the registry like the PowerCLI cmdlets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from vtalab.core.kernel import SIM_EPOCH, format_time
from vtalab.domain.reasons import operator_text
from vtalab.errors import InputError
from vtalab.scenario.expect import LOG_NAMES, parse_time
from vtalab.scenario.timeline import render_timeline
from vtalab.training.esxi import banner as esxi_banner
from vtalab.training.pwsh import format as fmt
from vtalab.training.pwsh.binding import NO_PIPE, as_values, not_found
from vtalab.training.pwsh.filters import bind_simple, is_wildcard, matching
from vtalab.training.pwsh.parser import Command, PSObject
from vtalab.training.pwsh.servers import NON_INTERACTIVE, check_servers, connected, on_servers
from vtalab.world.objects import object_type
from vtalab.world.verbs.common import host_id, vm_id
from vtalab.world.verbs.inventory import vm_object

if TYPE_CHECKING:
    from vtalab.training.commands import Run
    from vtalab.world.assembly import World

__all__ = ["CONDITIONS", "SHELL", "LabCommand"]

DEFAULT_TAIL = 15
DEFAULT_TIMEOUT = 3600.0
HAPPENED_HEAD, HAPPENED_TAIL = 10, 20


@dataclass(frozen=True)
class LabCommand:
    name: str
    aliases: tuple[str, ...]
    summary: str
    usage: str
    params: tuple[str, ...]  #: named parameters (values)
    switches: tuple[str, ...]
    run: Callable[[Run, Command, list[Any] | None], list[Any]]
    #: what each positional value is, for completion: host, vm, log, condition, name, command
    positional: tuple[str, ...] = ()


def _args(run: Run, cmd: Command, spec: LabCommand, most: int) -> tuple[dict[str, Any],
                                                                       list[str]]:
    named, pos = bind_simple(run, cmd, spec.params, spec.switches, display=spec.name)
    values = [fmt.cell(run.eval(p)) for p in pos]
    if len(values) > most:
        raise InputError(f"{spec.name}: unexpected value {values[most]!r}",
                         hint=f"usage: {spec.usage}")
    return named, values


def _tail(named: dict[str, Any], spec: LabCommand) -> int | None:
    if named.get("All"):
        return None
    raw = named.get("Tail", DEFAULT_TAIL)
    try:
        n = int(fmt.cell(raw))
    except ValueError:
        n = -1
    if n < 0:
        raise InputError(f"{spec.name}: -Tail needs a whole number, not {fmt.cell(raw)!r}")
    return n


def _last(rows: list[Any], n: int | None) -> list[Any]:
    return rows if n is None else (rows[len(rows) - n:] if n else [])


def _need(values: list[str], i: int, spec: LabCommand, what: str) -> str:
    if len(values) <= i:
        raise InputError(f"{spec.name}: missing {what}", hint=f"usage: {spec.usage}")
    return values[i]


# -- looking around ------------------------------------------------------------------------
#: The header of every lab view: what follows is what the lab knows, not what the
#: operator's tools show.
LAB_VIEW = ("[lab view] facts the operator's tools do not show (measured version, Quick "
            "Boot, reason codes, VM locks); for the trainer and the debrief")


def host_object(world: World, name: str) -> PSObject:
    """A host as the vSphere Client's host list and its Monitor > Security tab show it."""
    h = world.host(name)
    attestation = message = None
    if h.role == "trusted":
        s = world.attestation_status(name)
        attestation = s["status"]
        message = "; ".join(operator_text(m) for m in s["messages"]) or None
    state = "Maintenance" if h.in_maintenance else (
        "Connected" if h.is_up else "NotResponding")
    return PSObject("VMHostSummary", {
        "Name": name, "Parent": h.cluster, "PowerState": h.power_state.value,
        "ConnectionState": state, "Version": h.version, "Attestation": attestation,
        "Message": message})


def _hosts(run: Run, cmd: Command, piped: list[Any] | None) -> list[Any]:
    spec = SHELL["hosts"]
    named, values = _args(run, cmd, spec, 1)
    pattern = fmt.cell(named.get("Name", values[0] if values else "*"))
    names = matching(pattern, list(run.world.hosts))  # PowerShell's wildcards, any case
    if not names and not is_wildcard(pattern):
        run.world.host(pattern)  # raises with the nearest host name
    return [host_object(run.world, n) for n in names]


def _vm_object(world: World, name: str) -> PSObject:
    return PSObject("VirtualMachine", vm_object(world, name),
                    display=object_type("VirtualMachine").display)


def _vms(run: Run, cmd: Command, piped: list[Any] | None) -> list[Any]:
    """``Get-VM`` as PowerCLI's default parameter set has it: ``[-Name] String[]``
    (wildcards), ``-Location VIContainer[]`` (hosts and clusters, by name or as objects;
    what ``Get-VMHost esx-03 | Get-VM`` binds the piped hosts to), ``-Server``. A name
    that matches no VM is PowerCLI's non-terminating error and the other names still
    list; a location that names nothing is its Object-by-Name error."""
    spec = SHELL["vms"]
    named, pos = bind_simple(run, cmd, spec.params, spec.switches, display="Get-VM")
    if len(pos) > 1 or (pos and "Name" in named):
        extra = fmt.cell(run.eval(pos[-1]))
        raise InputError(f"Get-VM: A positional parameter cannot be found that accepts "
                         f"argument '{extra}'.", hint=f"usage: {spec.usage}")
    given = named["Name"] if "Name" in named else (run.eval(pos[0]) if pos else None)
    patterns = ["*"] if given is None else [fmt.cell(v) for v in as_values(given)]
    every = list(run.world.vms)
    names: list[str] = []
    for pattern in patterns:
        hits = matching(pattern, every)
        if not hits and not is_wildcard(pattern):
            run.errors.append(not_found("Get-VM", "VirtualMachine", pattern, True, every))
        names += [n for n in hits if n not in names]
    places = _locations(run, named.get("Location"), piped)
    if places is not None:
        names = [n for n in names if run.world.vms[n].host in places]
    found = [_vm_object(run.world, n) for n in names]
    if named.get("Server") is None:
        return found
    servers = check_servers("Get-VM", named["Server"], connected(run.world, run.state))
    shown = on_servers(found, servers)
    if found and not shown and given is not None and not any(map(is_wildcard, patterns)):
        raise InputError(f"Get-VM: VM with name '{', '.join(patterns)}' was not found "
                         "using the specified filter(s).", hint=f"VMs are on "
                         f"{run.world.workload_vcenter.name}, not on {', '.join(servers)}")
    return shown


def _clusters(world: World) -> dict[str, list[str]]:
    """Each cluster's hosts (the TA cluster's and each Trusted cluster's), by name."""
    out = {world.ta_cluster.name: [h for h, x in world.hosts.items()
                                   if x.role == "trust-authority"]}
    out.update({name: list(c.hosts) for name, c in world.trusted_clusters.items()})
    return out


#: What a -Location (VIContainer) or -Entity (VIObject) may name, as the error lists them
_CHOICES = {"VIContainer": "hosts and clusters", "VIObject": "hosts, VMs and clusters"}


def _inventory_names(run: Run, command: str, kind: str, given: Any,
                     piped: list[Any] | None, objects: tuple[str, ...],
                     choices: list[str]) -> list[str]:
    """The names a ``-Location``/``-Entity`` parameter (or the objects piped to it)
    matches among ``choices``: names and wildcards, or objects of the ``objects`` types
    (read by Name). A name that matches nothing is PowerCLI's Object-by-Name failure
    (non-terminating, the nearest name added); a string piped in, or an object of another
    type, is PowerShell's binding error."""
    param = "Location" if kind == "VIContainer" else "Entity"
    if given is not None and piped:
        raise InputError(f"{command}: {NO_PIPE}",
                         hint=f"-{param} is given: pipe the objects or name them, not both")
    hits: list[str] = []
    for item in as_values(given if given is not None else piped):
        if given is None and not isinstance(item, PSObject):  # PowerCLI: no string input
            raise InputError(f"{command}: {NO_PIPE}",
                             hint=f"pipe objects, or name them: -{param} NAME")
        if isinstance(item, PSObject):
            if item.type_name not in objects:
                raise InputError(f"{command}: Cannot bind parameter '{param}'. Cannot "
                                 f"convert the \"{item.type_name}\" value to type "
                                 f"\"{kind}\".", hint=f"one of: {', '.join(objects)}, or "
                                 "a cluster's name")
            item = item.get("Name")
        text = fmt.cell(item)
        found = matching(text, choices)
        if not found and not is_wildcard(text):
            run.errors.append(not_found(command, kind, text, False, choices,
                                        _CHOICES[kind]))
        hits += found
    return hits


def _locations(run: Run, given: Any, piped: list[Any] | None) -> set[str] | None:
    """The hosts ``Get-VM -Location`` (or hosts piped to it) stands for: a host is
    itself, a cluster its hosts; ``None`` when no location is given."""
    if given is None and not piped:
        return None
    clusters = _clusters(run.world)
    hits = _inventory_names(run, "Get-VM", "VIContainer", given, piped,
                            ("VMHost", "VMHostSummary"), [*run.world.hosts, *clusters])
    return {h for hit in hits for h in clusters.get(hit, [hit])}


#: PowerCLI's EventCategory (Get-VIEvent -Types) and the event severities it stands for
_CATEGORIES = {"error": "error", "info": "info", "warning": "warning"}
#: DateTime texts -Start/-Finish take (the invariant culture's, ISO 8601, and Get-Date's
#: own output); a time without a zone is UTC, the lab's only zone
_DATE_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M",
                 "%Y-%m-%d", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y",
                 "%A, %B %d, %Y %I:%M:%S %p")
#: Get-VIEvent's -MaxSamples when no time range is given (the PowerCLI reference)
DEFAULT_MAX_SAMPLES = 100


def _vi_events(run: Run, cmd: Command, piped: list[Any] | None) -> list[Any]:
    """PowerCLI's ``Get-VIEvent`` (VMware.VimAutomation.Core): the connected vCenters'
    events, newest first, as ``VMware.Vim.EventEx`` objects, filtered by ``-Entity`` (hosts,
    VMs and clusters, by name with wildcards or as objects; piped objects bind to it),
    ``-Start``/``-Finish``, ``-Types`` (Error, Info, Warning), ``-Username`` and
    ``-Server``; at most ``-MaxSamples`` (default 100; ignored when both -Start and
    -Finish are given, as the reference says)."""
    spec = SHELL["Get-VIEvent"]
    named, pos = bind_simple(run, cmd, spec.params, spec.switches, display="Get-VIEvent")
    if pos:
        raise InputError("Get-VIEvent: A positional parameter cannot be found that accepts "
                         f"argument '{fmt.cell(run.eval(pos[0]))}'.",
                         hint=f"usage: {spec.usage}")
    world = run.world
    servers = (check_servers("Get-VIEvent", named["Server"], connected(world, run.state))
               if named.get("Server") is not None else connected(world, run.state))
    start = _date(named, "Start")
    finish = _date(named, "Finish")
    types = None if named.get("Types") is None else {
        _category(v) for v in as_values(named["Types"])}
    user = None if named.get("Username") is None else fmt.cell(named["Username"])
    most: int | None = _max_samples(named.get("MaxSamples"))
    if start is not None and finish is not None:
        most = None
    targets = _entities(run, named.get("Entity"), piped)
    wanted = {n.lower() for n in servers}
    rows = [(vc, i, e) for vc in (world.ta_vcenter, world.workload_vcenter)
            if vc.name.lower() in wanted for i, e in enumerate(vc.events)]
    rows.sort(key=lambda r: (r[2].time, r[0].name, r[1]), reverse=True)
    out: list[PSObject] = []
    for _vc, i, e in rows:
        if most is not None and len(out) >= most:
            break
        if targets is not None and e.target not in targets:
            continue
        if (start is not None and e.time < start) or (finish is not None and e.time > finish):
            continue
        if types is not None and e.severity not in types:
            continue
        if user is not None and not matching(user, [""]):  # system events: no user name
            continue
        out.append(_event_object(world, i, e))
    return out


def _event_object(world: World, index: int, e: Any) -> PSObject:
    """One event as PowerCLI shows a ``VMware.Vim.EventEx``: its own properties, then
    ``Event``'s, in the vSphere API's order (the object has no format view, so the
    console lists every property). ``Key``/``ChainId`` count the vCenter's events from 1
    and ``Datacenter`` is left empty [assumed: the lab has no datacenter object]."""
    host_name = e.target if e.target in world.hosts else (
        world.vms[e.target].host if e.target in world.vms else None)
    host = None if host_name is None else PSObject("VMware.Vim.HostEventArgument", {
        "Host": host_id(world, host_name).removeprefix("HostSystem-"), "Name": host_name})
    vm = None if e.target not in world.vms else PSObject("VMware.Vim.VmEventArgument", {
        "Vm": vm_id(world, e.target).removeprefix("VirtualMachine-"),
        "Name": e.target})
    cluster = None if host_name is None else world.hosts[host_name].cluster
    compute = None if not cluster else PSObject("VMware.Vim.ComputeResourceEventArgument",
                                                {"ComputeResource": None, "Name": cluster})
    kind, ident = (("VirtualMachine", vm.get("Vm")) if vm is not None else
                   ("HostSystem", host.get("Host")) if host is not None else (None, None))
    return PSObject("VMware.Vim.EventEx", {
        "EventTypeId": e.event_id, "Severity": e.severity, "Message": None, "Arguments": None,
        "ObjectId": ident, "ObjectType": kind, "ObjectName": e.target, "Fault": None,
        "Key": index + 1, "ChainId": index + 1,
        "CreatedTime": world.kernel.utc(e.time).isoformat(), "UserName": None,
        "Datacenter": None, "ComputeResource": compute, "Host": host, "Vm": vm, "Ds": None,
        "Net": None, "Dvs": None, "FullFormattedMessage": e.message, "ChangeTag": None},
        view="list")


def _entities(run: Run, given: Any, piped: list[Any] | None) -> set[str] | None:
    """The event targets ``-Entity`` (or objects piped to it) stands for: a host or VM is
    itself, a cluster itself, its hosts and their VMs (PowerCLI collects the children's
    events too); ``None`` when none is given."""
    if given is None and not piped:
        return None
    world = run.world
    clusters = _clusters(world)
    hits = _inventory_names(run, "Get-VIEvent", "VIObject", given, piped,
                            ("VMHost", "VMHostSummary", "VirtualMachine"),
                            [*world.hosts, *world.vms, *clusters])
    targets: set[str] = set()
    for hit in hits:
        hosts = clusters.get(hit, [hit] if hit in world.hosts else [])
        targets.update([hit, *hosts])
        targets.update(v for v, x in world.vms.items() if x.host in hosts)
    return targets


def _date(named: dict[str, Any], param: str) -> float | None:
    """A -Start/-Finish DateTime as a simulated second (``None`` if not given)."""
    if named.get(param) is None:
        return None
    text = fmt.cell(as_values(named[param])[0]).strip()
    for pattern in _DATE_FORMATS:
        try:
            when = datetime.strptime(text.removesuffix("Z").split("+")[0], pattern)
        except ValueError:
            continue
        return (when.replace(tzinfo=UTC) - SIM_EPOCH).total_seconds()
    raise InputError(f"Get-VIEvent: Cannot bind parameter '{param}'. Cannot convert value "
                     f"\"{text}\" to type \"System.DateTime\". Error: \"String '{text}' was "
                     "not recognized as a valid DateTime.\"",
                     hint="e.g. '2026-01-05 08:30' (UTC, the lab's time zone), or Get-Date")


def _category(value: Any) -> str:
    text = fmt.cell(value)
    found = _CATEGORIES.get(text.lower())
    if found is None:
        raise InputError("Get-VIEvent: Cannot bind parameter 'Types'. Cannot convert value "
                         f"\"{text}\" to type \"VMware.VimAutomation.ViCore.Types.V1."
                         "EventCategory\". Error: \"Unable to match the identifier name "
                         f"{text} to a valid enumerator name. Specify one of the following "
                         "enumerator names and try again: Error, Info, Warning\"")
    return found


def _max_samples(value: Any) -> int:
    if value is None:
        return DEFAULT_MAX_SAMPLES
    text = fmt.cell(value)
    try:
        n = int(text)
    except ValueError:
        n = None
    if n is None or not -2**31 <= n < 2**31:
        raise InputError("Get-VIEvent: Cannot bind parameter 'MaxSamples'. Cannot convert "
                         f"value \"{text}\" to type \"System.Int32\". Error: \"Input "
                         "string was not in a correct format.\"",
                         hint="a whole number of events, 0 or more")
    if n < 0:  # [assumed] PowerShell's ValidateRange wording; the page gives no range
        raise InputError(f"Get-VIEvent: Cannot validate argument on parameter 'MaxSamples'. "
                         f"The {n} argument is less than the minimum allowed range of 0. "
                         "Supply an argument that is greater than or equal to 0 and then "
                         "try the command again.")
    return n


def _tasks(run: Run, cmd: Command, piped: list[Any] | None) -> list[Any]:
    spec = SHELL["tasks"]
    named, _ = _args(run, cmd, spec, 0)
    rows = [PSObject("Task", {"Time": format_time(t["time"]), "Name": t["task"],
                              "Target": t["target"], "Status": t["status"],
                              "Error": t["error"]})
            for t in run.world.tasks()]
    return _last(rows, _tail(named, spec))


def _events(run: Run, cmd: Command, piped: list[Any] | None) -> list[Any]:
    spec = SHELL["events"]
    named, _ = _args(run, cmd, spec, 0)
    target = named.get("Target")
    rows = [PSObject("Event", {"Time": format_time(e["time"]), "EventTypeId": e["event_id"],
                               "Target": e["target"], "Message": e["message"]})
            for e in run.world.events()
            if target is None or e["target"] == fmt.cell(target)]
    return _last(rows, _tail(named, spec))


def _log(run: Run, cmd: Command, piped: list[Any] | None) -> list[Any]:
    spec = SHELL["log"]
    named, values = _args(run, cmd, spec, 2)
    world = run.world
    host = _need(values, 0, spec, "the host (or vCenter)")
    log = _need(values, 1, spec, "the log name")
    if log not in LOG_NAMES:
        raise InputError(f"log: unknown log {log!r}", what="log", value=log,
                         choices=LOG_NAMES)
    vcenters = [world.ta_vcenter.name, world.workload_vcenter.name]
    if host not in vcenters:
        h = world.host(host)
        if log == "vpxd.log":  # vpxd runs on the vCenter that manages the host
            vc = world.ta_vcenter if h.role == "trust-authority" else world.workload_vcenter
            run.console.append(f"(vpxd.log of {vc.name}, which manages {host})")
            host = vc.name
    return _last(world.log_lines(host, log), _tail(named, spec))


def _status(run: Run, cmd: Command, piped: list[Any] | None) -> list[Any]:
    spec = SHELL["status"]
    _, values = _args(run, cmd, spec, 1)
    world = run.world
    name = _need(values, 0, spec, "a host or VM name")
    if name in world.vms:
        obj = _vm_object(world, name)
        obj.view = "list"
        obj.display = None
        return [obj]
    props = host_object(world, name).props
    h = world.host(name)
    props["Services"] = [f"{s}:{'running' if up and h.is_up else 'stopped'}"
                         for s, up in sorted(h.services.items())]
    if h.role == "trusted":  # HostSystem.summary.trustAuthorityAttestationInfos (VIM API)
        s = world.attestation_status(name)
        when = {k: (world.kernel.utc(s[k]).isoformat() if s[k] is not None else None)
                for k in ("attested_at", "attested_until")}
        props.update({"AttestedAt": when["attested_at"], "AttestedUntil": when["attested_until"],
                      "PerService": [f"{k}:{v}" for k, v in s["per_service"].items()]})
        props["VMs"] = [v for v in world.vms if world.vms[v].host == name]
    else:
        member = world.ta_host(name)
        props["TaMember"] = member.member
    return [PSObject("VMHostStatus", props, view="list")]


def _lab_host(world: World, name: str) -> dict[str, Any]:
    h = world.host(name)
    props: dict[str, Any] = {
        "Name": name, "Role": "TA" if h.role == "trust-authority" else "Trusted",
        "PowerState": h.power_state.value, "Version": h.version,
        "MeasuredVersion": h.measured_version, "QuickBooted": h.last_boot_quick,
        "QuickBootsSinceFullBoot": h.quick_boots_since_full}
    if h.role == "trusted":
        s = world.attestation_status(name)
        props.update({"Attestation": s["status"], "Reason": s["reason"],
                      "Messages": s["messages"]})
    return props


def _lab(run: Run, cmd: Command, piped: list[Any] | None) -> list[Any]:
    spec = SHELL["lab"]
    _, values = _args(run, cmd, spec, 2)
    world = run.world
    what = _need(values, 0, spec, "what to show (status)")
    if what.lower() != "status":
        raise InputError(f"lab: unknown view {what!r}", what="lab view", value=what,
                         choices=["status"])
    run.console.append(LAB_VIEW)  # a console line: the objects stay pipeable
    out: list[Any] = []
    if len(values) > 1:
        name = values[1]
        if name in world.vms:
            v = world.vm_state(name)
            out.append(PSObject("LabVMStatus", {
                "Name": name, "PowerState": v["power_state"], "VMHost": v["host"],
                "Encrypted": v["encrypted"], "Locked": v["locked"],
                "LastError": v["last_error"]}, view="list"))
            return out
        out.append(PSObject("LabHostStatus", _lab_host(world, name), view="list"))
        return out
    out += [PSObject("LabHostStatus", {k: v for k, v in _lab_host(world, n).items()
                                       if k not in ("Messages", "QuickBootsSinceFullBoot")})
            for n in world.hosts]
    out += [PSObject("LabVMStatus", {"Name": n, "PowerState": v["power_state"],
                                     "VMHost": v["host"], "Encrypted": v["encrypted"],
                                     "Locked": v["locked"], "LastError": v["last_error"]})
            for n, v in ((n, world.vm_state(n)) for n in world.vms)]
    return out


def _ssh(run: Run, cmd: Command, piped: list[Any] | None) -> list[Any]:
    spec = SHELL["ssh"]
    _, values = _args(run, cmd, spec, 1)
    target = _need(values, 0, spec, "the host, e.g. root@esx-01")
    user, _, host = target.rpartition("@")
    if user not in ("", "root"):
        raise InputError(f"ssh: {user}@{host}: Permission denied (the lab's ESXi hosts "
                         "take root logins)", what="user", value=user, choices=["root"])
    h = run.world.host(host)
    if not h.is_up:
        raise InputError(f"ssh: connect to host {host} port 22: Connection refused "
                         f"(the host is {h.power_state.value})")
    run.state.esxi = host
    return [esxi_banner(host)]


def _viserver(run: Run, text: str) -> str:
    names = [run.world.ta_vcenter.name, run.world.workload_vcenter.name]
    if text not in names:
        raise InputError(f"Could not resolve the requested VC server '{text}'.",
                         what="server", value=text, choices=names)
    return text


def _connect(run: Run, cmd: Command, piped: list[Any] | None) -> list[Any]:
    spec = SHELL["Connect-VIServer"]
    named, values = _args(run, cmd, spec, 1)
    server = _viserver(run, fmt.cell(named.get("Server", _need(values, 0, spec, "-Server"))))
    user = fmt.cell(named.get("User", "administrator@vsphere.local"))
    now = connected(run.world, run.state)
    run.state.servers = [*now, server] if server not in now else now
    return [PSObject("VIServer", {"Name": server, "Port": 443, "User": user})]


def _wait_task(run: Run, cmd: Command, piped: list[Any] | None) -> list[Any]:
    """PowerCLI's Wait-Task -Task <Task[]> (named, pipeline): waits for each task to end,
    moving simulated time; returns each task's result (the cmdlet's output)."""
    spec = SHELL["Wait-Task"]
    named, values = _args(run, cmd, spec, 1 << 16)
    if values:  # -Task is named on the page: PowerShell's words for a positional value
        raise InputError(f"Wait-Task: A positional parameter cannot be found that accepts "
                         f"argument '{values[0]}'.", hint=f"usage: {spec.usage}")
    given = named.get("Task", piped)
    if given is None or given == []:
        raise InputError("Wait-Task: Cannot process command because of one or more missing "
                         "mandatory parameters: Task.", hint=f"usage: {spec.usage}")
    out: list[Any] = []
    for task in given if isinstance(given, list) else [given]:
        if isinstance(task, PSObject):
            uid = task.get("Uid")
            out += run.wait_task(fmt.cell(task.get("Id")), fmt.cell(uid) if uid else None)
        else:
            out += run.wait_task(fmt.cell(task))
    return out


def _disconnect(run: Run, cmd: Command, piped: list[Any] | None) -> list[Any]:
    spec = SHELL["Disconnect-VIServer"]
    named, values = _args(run, cmd, spec, 1)
    raw = named.get("Server", values[0] if values else None)
    now = connected(run.world, run.state)
    targets = now if raw is None or fmt.cell(raw) == "*" else [_viserver(run, fmt.cell(raw))]
    if named.get("Confirm", True) is not False:  # ConfirmImpact High
        if run.state.prompt is None:
            raise InputError(f"Disconnect-VIServer: {NON_INTERACTIVE}")
        answer = run.state.prompt(
            "\nConfirm\nAre you sure you want to perform this action?\nPerforming the "
            f'operation "Disconnect VIServer" on target "User: administrator@vsphere.local, '
            f'Server: {", ".join(targets)}, Port: 443".\n[Y] Yes  [N] No  '
            '(default is "Y"): ')
        if (answer or "Y").strip()[:1].upper() not in ("Y", "A"):
            return []
    run.state.servers = [n for n in now if n not in targets]
    return []


def _files(run: Run, cmd: Command, piped: list[Any] | None) -> list[Any]:
    _args(run, cmd, SHELL["files"], 0)

    def kind(value: Any) -> str:
        if isinstance(value, bytes):
            return "boot_imgdb.tgz"
        if isinstance(value, tuple) and value and isinstance(value[0], str):
            return {"tpm-ca": "TPM CA certificate", "ek": "TPM endorsement key",
                    "ta-backup": "vTA configuration backup"}.get(value[0], value[0])
        if isinstance(value, tuple):
            return "TA services info"
        return type(value).__name__

    return [PSObject("File", {"Name": n, "Kind": kind(v)})
            for n, v in sorted(run.world.files.items()) if not n.startswith("__")]


def _history(run: Run, cmd: Command, piped: list[Any] | None) -> list[Any]:
    _args(run, cmd, SHELL["history"], 0)
    return [PSObject("HistoryInfo", {"Id": i + 1, "CommandLine": line})
            for i, line in enumerate(run.state.history)]


# -- time ------------------------------------------------------------------------------------
def _happened(run: Run, since: int) -> None:
    """What happened since trace event ``since``, as timeline lines (a long stretch is
    shortened in the middle: ``events``, ``tasks`` and ``log`` show everything)."""
    trace = run.world.kernel.trace
    lines = render_timeline(trace[i] for i in range(since, len(trace)))
    if len(lines) > HAPPENED_HEAD + HAPPENED_TAIL:
        skipped = len(lines) - HAPPENED_HEAD - HAPPENED_TAIL
        lines = [*lines[:HAPPENED_HEAD], f"... {skipped} more lines (events, tasks, log "
                 "show them) ...", *lines[len(lines) - HAPPENED_TAIL:]]
    run.console += lines


def _clock(world: World) -> str:
    return f"{format_time(world.kernel.now)} ({world.kernel.utc().isoformat()})"


def _duration(spec: LabCommand, text: Any, what: str) -> float:
    try:
        return parse_time(fmt.cell(text))
    except ValueError as exc:
        raise InputError(f"{spec.name}: {what}: {exc}") from None


def _advance(run: Run, cmd: Command, piped: list[Any] | None) -> list[Any]:
    spec = SHELL["advance"]
    _, values = _args(run, cmd, spec, 1)
    seconds = _duration(spec, _need(values, 0, spec, "a duration, e.g. 15m"), "duration")
    world = run.world
    since = len(world.kernel.trace)
    world.run(world.kernel.now + seconds)
    _happened(run, since)
    run.console.append(f"now {_clock(world)}")
    return []


def _attestation(status: str) -> Callable[[World, str, str | None], bool]:
    return lambda w, name, _: w.attestation_status(name)["status"] == status


#: wait-until conditions: name -> (test(world, target, state), what the target is, states)
CONDITIONS: dict[str, tuple[Callable[[World, str, str | None], bool], str, tuple[str, ...]]] = {
    "attested": (_attestation("attested"), "host", ()),
    "notAttested": (_attestation("notAttested"), "host", ()),
    "unknown": (_attestation("unknown"), "host", ()),
    "vm": (lambda w, name, state: w.vm_state(name)["power_state"] == state, "vm",
           ("poweredOn", "poweredOff")),
    "host": (lambda w, name, state: w.host(name).power_state.value == state
             or (state == "maintenance" and w.host(name).in_maintenance), "host",
             ("poweredOn", "poweredOff", "maintenance")),
}


def _wait_until(run: Run, cmd: Command, piped: list[Any] | None) -> list[Any]:
    spec = SHELL["wait-until"]
    named, values = _args(run, cmd, spec, 3)
    world = run.world
    given = _need(values, 0, spec, "a condition (" + ", ".join(CONDITIONS) + ")")
    cond = next((c for c in CONDITIONS if c.lower() == given.lower()), None)
    if cond is None:
        raise InputError(f"wait-until: unknown condition {given!r}", what="condition",
                         value=given, choices=list(CONDITIONS))
    test, target_kind, states = CONDITIONS[cond]
    target = _need(values, 1, spec, f"the {target_kind}")
    if target_kind == "vm":
        world.vm(target)
    elif cond in ("attested", "notAttested", "unknown"):
        world.trusted_host(target)
    else:
        world.host(target)
    state = None
    if states:
        raw = _need(values, 2, spec, "the state (" + ", ".join(states) + ")")
        state = next((s for s in states if s.lower() == raw.lower()), None)
        if state is None:
            raise InputError(f"wait-until {cond}: unknown state {raw!r}", what="state",
                             value=raw, choices=states)
    elif len(values) > 2:
        raise InputError(f"wait-until: unexpected value {values[2]!r}",
                         hint=f"usage: {spec.usage}")
    timeout = _duration(spec, named.get("Timeout", DEFAULT_TIMEOUT), "-Timeout")
    env = world.kernel.env
    start, since = world.kernel.now, len(world.kernel.trace)
    deadline = start + timeout
    met = test(world, target, state)
    while not met and env.peek() <= deadline:
        env.step()
        met = test(world, target, state)
    if not met:
        world.run(deadline)
    _happened(run, since)
    what = " ".join(v for v in (cond, target, state) if v)
    if met:
        run.console.append(f"{what}: reached at {_clock(world)} "
                           f"(after {format_time(world.kernel.now - start)[2:]})")
    else:
        run.errors.append(f"wait-until {what}: not reached within "
                          f"{format_time(timeout)[2:]}; now {_clock(world)}")
    return []


def _time(run: Run, cmd: Command, piped: list[Any] | None) -> list[Any]:
    _args(run, cmd, SHELL["time"], 0)
    return [f"simulated time {_clock(run.world)}"]


def _pause(run: Run, cmd: Command, piped: list[Any] | None) -> list[Any]:
    _args(run, cmd, SHELL["pause"], 0)
    return [f"simulated time stands at {_clock(run.world)}; it moves only with advance, "
            "wait-until and commands that take time"]


#: The help of every command, installed by :mod:`vtalab.training.assist` when it is imported
#: (with the package): help lists these commands too, so it is written above this module.
_help_text: list[Callable[[str | None], str]] = []


def install_help(render: Callable[[str | None], str]) -> None:
    """Make ``help`` print what ``render`` returns for a command name (or ``None``)."""
    _help_text[:] = [render]


def _help(run: Run, cmd: Command, piped: list[Any] | None) -> list[Any]:
    _, values = _args(run, cmd, SHELL["help"], 1)
    return [fmt.Formatted(_help_text[0](values[0] if values else None))]


SHELL: dict[str, LabCommand] = {c.name: c for c in (
    LabCommand("hosts", (), "Hosts as the vSphere Client lists them: cluster, power, "
               "connection state, ESXi version, attestation status and its message "
               "(Monitor > Security).", "hosts [NAME]", ("Name",), (), _hosts, ("host",)),
    LabCommand("vms", ("Get-VM",), "VMs (PowerCLI VirtualMachine objects): power state, "
               "host; PowerCLI's Get-VM (names with wildcards, -Location hosts or "
               "clusters, or hosts piped: Get-VMHost esx-03 | Get-VM).",
               "Get-VM [[-Name] NAME[]] [-Location HOST|CLUSTER[]] [-Server VCENTER]",
               ("Name", "Location", "Server"), (), _vms, ("vm",)),
    LabCommand("tasks", (), "Recent Tasks of both vCenters (default: the last 15).",
               "tasks [-Tail N] [-All]", ("Tail",), ("All",), _tasks),
    LabCommand("events", (), "vCenter events (default: the last 15).",
               "events [-Tail N] [-All] [-Target NAME]", ("Tail", "Target"), ("All",),
               _events),
    LabCommand("log", (), "A host's (or vCenter's) log: " + ", ".join(LOG_NAMES)
               + " (default: the last 15 lines).", "log HOST LOG [-Tail N] [-All]",
               ("Tail",), ("All",), _log, ("host", "log")),
    LabCommand("status", (), "One host (or VM) as vCenter shows it: power, version, "
               "services, attestation details (attestedAt, attestedUntil, messages).",
               "status HOST|VM", (), (), _status, ("host",)),
    LabCommand("Get-VIEvent", (), "The connected vCenters' events, newest first, as "
               "PowerCLI's Get-VIEvent returns them (VMware.Vim.EventEx: EventTypeId, "
               "Severity, CreatedTime, FullFormattedMessage ...; https://developer."
               "broadcom.com/powercli/latest/vmware.vimautomation.core/commands/"
               "get-vievent).",
               "Get-VIEvent [-Entity HOST|VM|CLUSTER[]] [-Start DATE] [-Finish DATE] "
               "[-Types Error|Info|Warning[]] [-Username USER] [-MaxSamples N] "
               "[-Server VCENTER] (or piped: Get-VMHost esx-03 | Get-VIEvent)",
               ("Entity", "Start", "Finish", "Types", "Username", "MaxSamples", "Server"),
               (), _vi_events),
    LabCommand("Wait-Task", (), "Wait for tasks started with -RunAsync (or any vCenter "
               "task, Get-Task) to end; simulated time moves on; returns their results "
               "(PowerCLI's Wait-Task, https://developer.broadcom.com/powercli/latest/"
               "vmware.vimautomation.common/commands/wait-task).",
               "Wait-Task -Task TASK[] (or piped: $task | Wait-Task)", ("Task",), (),
               _wait_task),
    LabCommand("Connect-VIServer", (), "Connect to a vCenter Server (the lab's TA and "
               "workload vCenters; a session starts connected to both).",
               "Connect-VIServer [-Server] NAME [-User USER] [-Password PASSWORD]",
               ("Server", "User", "Password", "Protocol", "Port"), ("Force",), _connect,
               ("name",)),
    LabCommand("Disconnect-VIServer", (), "Disconnect from a vCenter Server (asks unless "
               "-Confirm:$false).", "Disconnect-VIServer [[-Server] NAME|*] [-Confirm:$false]",
               ("Server",), ("Confirm", "Force"), _disconnect, ("name",)),
    LabCommand("ssh", (), "Log in to a host's ESXi shell (vsish, /etc/init.d/kmxa, "
               "/var/log/*.log, esxcli system version get); 'exit' returns.",
               "ssh root@HOST", (), (), _ssh, ("host",)),
    LabCommand("lab", (), "The lab's own view, labelled as such: 'lab status [HOST|VM]' "
               "shows what the operator's tools do not (measured version, Quick Boot, "
               "reason codes, VM locks).", "lab status [HOST|VM]", (), (), _lab,
               ("name", "host")),
    LabCommand("files", ("ls", "dir", "Get-ChildItem"), "Files exported so far (the names "
               "-FilePath takes).", "files", (), (), _files),
    LabCommand("history", ("Get-History",), "The commands typed in this session.",
               "history", (), (), _history),
    LabCommand("advance", (), "Let simulated time pass and show what happened.",
               "advance DURATION   (e.g. advance 15m, advance 1h30m)", (), (), _advance),
    LabCommand("wait-until", (), "Run simulated time until a condition holds (default "
               "timeout 1h): attested|notAttested|unknown HOST, vm VM poweredOn|poweredOff, "
               "host HOST poweredOn|poweredOff|maintenance.",
               "wait-until CONDITION TARGET [STATE] [-Timeout DURATION]", ("Timeout",), (),
               _wait_until, ("condition", "target", "state")),
    LabCommand("time", (), "Show the simulated clock.", "time", (), (), _time),
    LabCommand("pause", (), "Time stands still between commands: show where it stands.",
               "pause", (), (), _pause),
    LabCommand("help", ("Get-Help", "man"), "List the commands, or explain one.",
               "help [COMMAND]", (), (), _help, ("command",)),
)}
