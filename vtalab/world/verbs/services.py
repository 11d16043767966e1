"""Starting and stopping the vTA daemons: from vCenter for attestd/kmxd on TA hosts,
only by logging in to the host for kmxa on a trusted host (seed page)."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from vtalab.errors import InputError, OperationError
from vtalab.world.objects import make
from vtalab.world.registry import PS, Args, Outcome, PSComposite, verb
from vtalab.world.verbs.common import SEED, host_by_id, host_id, uid
from vtalab.world.verbs.hosts import (
    _host_task,
)
from vtalab.world.verbs.ta import VmHostArgs

if TYPE_CHECKING:
    from vtalab.world.assembly import World


class ServiceArgs(VmHostArgs):
    service: Literal["attestd", "kmxd", "kmxa"]


_HIDDEN = PS(hidden=True)


class HostServiceArgs(Args):
    """``-HostService``: a HostService object from ``Get-VMHostService -VMHost`` (its
    ``VMHost`` and ``Key``); scenarios give ``vmhost`` and ``service``."""

    ps_composites = (PSComposite("HostService", (("vmhost", "VMHost"), ("service", "Key")),
                                 "HostService[]", position=0, pipeline=True),)
    vmhost: Annotated[str, _HIDDEN]
    service: Annotated[Literal["attestd", "kmxd", "kmxa"], _HIDDEN]


#: the labels ESXi gives the vTA daemons (assumed: the HostService label is the daemon's
#: product name; the keys are the init script names the seed uses)
LABELS = {"attestd": "vSphere Trust Authority Attestation Service",
          "kmxd": "vSphere Trust Authority Key Provider Service",
          "kmxa": "vSphere Trust Authority Key Provider Client"}


class GetServiceArgs(Args):
    vmhost: Annotated[str, PS(name="VMHost", position=0, pipeline=True, type="VMHost[]")] = \
        Field(description="The host whose services to list.")
    refresh: bool = Field(False, description="Refresh the services' state first.")


@verb("Get-VMHostService", summary="List a host's services (key, label, policy, running): "
      "pipe one to Start-/Stop-/Restart-VMHostService.", args=GetServiceArgs, side="host",
      source=SEED + " (starting and stopping services); PowerCLI Get-VMHostService",
      output="HostService")
def get_services(world: World, a: GetServiceArgs) -> Outcome:
    name = host_by_id(world, a.vmhost)
    h = world.host(name)
    vc = world.ta_vcenter if h.role == "trust-authority" else world.workload_vcenter
    rows = [make("HostService", Key=key, Label=LABELS.get(key, key), Policy="on",
                 Required=False, Ruleset=[], Running=bool(up and h.is_up),
                 Uid=uid(vc.name, "HostService", f"{host_id(world, name)}/{key}"),
                 Uninstallable=False, VMHost=name, VMHostId=host_id(world, name))
            for key, up in sorted(h.services.items())]
    return Outcome(True, output=rows)


def _service(world: World, host: str, service: str, action: str) -> Generator[Any, Any, Outcome]:
    h = world.host(host)
    if service not in h.services:
        raise InputError(f"service {service!r} does not run on {host!r}", what="service",
                         value=service, choices=list(h.services))
    if not h.is_up:
        raise OperationError(f"host {host!r} is {h.power_state.value}", what="host", value=host)
    if action in ("stop", "restart"):
        h.services[service] = False
        world.kernel.log(host, f"{service}.log", f"{service} stopping")
        world.kernel.record(h.source, "service.stopped", host=host, service=service,
                            message=f"{service} stopped on {host}")
    if action in ("start", "restart"):
        yield world.kernel.timeout(world.params.service_restart_seconds)
        h.services[service] = True
        world.kernel.log(host, f"{service}.log", f"{service} started")
        world.kernel.record(h.source, "service.started", host=host, service=service,
                            message=f"{service} started on {host}")
        if service == "kmxa":
            world.trusted_host(host).agent.wake()
    # BUG FIX (world tests): f"{action}ed" gave "stoped"; use the real past tenses.
    done = {"start": "started", "stop": "stopped", "restart": "restarted"}[action]
    return Outcome(True, message=f"{service} {done} on {host}")


def _vcenter_service(world: World, a: HostServiceArgs, action: str
                     ) -> Generator[Any, Any, Outcome]:
    h = world.host(a.vmhost)
    if h.role == "trusted":
        vc = world.workload_vcenter
        task = vc.start_task(f"{action.capitalize()} service {a.service}", a.vmhost)
        error = (f"{a.service} on trusted host {a.vmhost} cannot be managed from vCenter; "
                 "log in to the host itself to restart it")
        vc.finish_task(task, error=error, reason="host_login_required")
        return Outcome(False, "host_login_required", error)
    vc, task = _host_task(world, a.vmhost, f"{action.capitalize()} service {a.service}")
    result = yield from _service(world, a.vmhost, a.service, action)
    vc.finish_task(task)
    return result


_SERVICE_SRC = SEED + "; PowerCLI -HostService <HostService[]> from Get-VMHostService"


@verb("Restart-VMHostService", summary="Restart attestd or kmxd on a TA host from vCenter "
      "(refused for kmxa on a trusted host).", args=HostServiceArgs, side="host",
      source=_SERVICE_SRC, confirm="High")
def restart_service(world: World, a: HostServiceArgs) -> Generator[Any, Any, Outcome]:
    return (yield from _vcenter_service(world, a, "restart"))


@verb("Stop-VMHostService", summary="Stop attestd or kmxd on a TA host from vCenter.",
      args=HostServiceArgs, side="host", source=_SERVICE_SRC, confirm="High")
def stop_service(world: World, a: HostServiceArgs) -> Generator[Any, Any, Outcome]:
    return (yield from _vcenter_service(world, a, "stop"))


@verb("Start-VMHostService", summary="Start attestd or kmxd on a TA host from vCenter.",
      args=HostServiceArgs, side="host", source=_SERVICE_SRC)
def start_service(world: World, a: HostServiceArgs) -> Generator[Any, Any, Outcome]:
    return (yield from _vcenter_service(world, a, "start"))


class LoginServiceArgs(ServiceArgs):
    action: Literal["start", "stop", "restart"] = "restart"


@verb("host-service", kind="lab", summary="Log in to a host (SSH/DCUI) and start, stop or "
      "restart a vTA daemon (/etc/init.d/kmxa restart; in the shell: ssh root@HOST).",
      args=LoginServiceArgs, side="host", source=SEED + " (starting and stopping services)")
def host_service(world: World, a: LoginServiceArgs) -> Generator[Any, Any, Outcome]:
    return (yield from _service(world, a.vmhost, a.service, a.action))


