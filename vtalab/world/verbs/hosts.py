"""Host cmdlets and lab verbs: reboots (full or Quick Boot), power, maintenance mode
(evacuating VMs), vLCM-style upgrades, revert, and the cluster's Quick Boot setting."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from vtalab.errors import OperationError
from vtalab.esxi.releases import image_for
from vtalab.world import vm_ops
from vtalab.world.registry import Outcome, verb
from vtalab.world.verbs.common import SEED
from vtalab.world.verbs.inventory import vmhost_object
from vtalab.world.verbs.ta import VmHostArgs
from vtalab.world.verbs.workload import TrustedClusterArgs

if TYPE_CHECKING:
    from vtalab.world.assembly import World


class RestartArgs(VmHostArgs):
    force: bool = Field(False, description="Restart even if the host is not in maintenance "
                                           "mode (running VMs stop).")


def _stop_vms_on(world: World, host: str, cause: str) -> None:
    for vm in world.vms.values():
        if vm.host == host and vm.power_state == "poweredOn":
            vm_ops.power_off(world, vm, cause=cause)


def _require_quiet(world: World, host: str, force: bool, action: str) -> None:
    """A lab verb's refusal to take a host down under running VMs (``force`` stops them).
    A host in maintenance mode runs none: entering it evacuates them, and no VM powers on
    there (:func:`vtalab.world.vm_ops.power_on`)."""
    world.host(host)  # an unknown host: InputError naming the nearest
    running = [v.name for v in world.vms.values()
               if v.host == host and v.power_state == "poweredOn"]
    if running and not force:
        raise OperationError(f"cannot {action} {host!r}: VMs are running on it "
                             f"({', '.join(running)}); enter maintenance mode or use force",
                             what="host", value=host)


def _host_task(world: World, host: str, name: str) -> Any:
    vc = world.ta_vcenter if world.hosts[host].role == "trust-authority" else world.workload_vcenter
    return vc, vc.start_task(name, host)


def _outside_maintenance(world: World, host: str, force: bool, task_name: str
                         ) -> Outcome | None:
    """The refusal of a reboot or shutdown without -Force of a host that is not in
    maintenance mode (RebootHost_Task and ShutdownHost_Task: ``force`` "regardless of
    whether it is in maintenance mode"), as a failed Recent Task; ``None`` if it may go."""
    if world.host(host).in_maintenance or force:
        return None
    vc, task = _host_task(world, host, task_name)
    error = (f'The operation for the entity "{host}" failed with the following '
             'message: "The operation is not allowed in the current state." (the host '
             "is not in maintenance mode: enter it, or use -Force)")
    vc.finish_task(task, error=error, reason="not_in_maintenance")
    return Outcome(False, "not_in_maintenance", error)


@verb("Restart-VMHost", summary="Reboot a host (a full boot: firmware, TPM reset, "
      "measurements); -Force outside maintenance mode.", args=RestartArgs, side="host",
      source="PowerCLI Restart-VMHost", confirm="High", run_async=True, output="VMHost")
def restart_host(world: World, a: RestartArgs) -> Generator[Any, Any, Outcome]:
    if (refused := _outside_maintenance(world, a.vmhost, a.force, "Reboot host")) is not None:
        return refused
    # In maintenance mode no VM runs (entering it evacuates them, none powers on there);
    # -Force reboots "even if there are virtual machines running" (HostSystem.
    # RebootHost_Task): they stop with the host. Nothing else can refuse here.
    proc = world.host(a.vmhost).reboot("full", reason="Restart-VMHost")
    _stop_vms_on(world, a.vmhost, "host reboot")
    vc, task = _host_task(world, a.vmhost, "Reboot host")
    yield proc
    vc.finish_task(task)
    return Outcome(True, message=f"{a.vmhost} rebooted",
                   output=[vmhost_object(world, a.vmhost)])


class RebootArgs(VmHostArgs):
    mode: Literal["full", "quick"] = "full"
    force: bool = False


@verb("reboot-host", kind="lab", summary="Reboot a host with a full boot or a Quick Boot "
      "(refused on TXT hosts or without the cluster setting).", args=RebootArgs, side="host",
      source=SEED + " (Quick Boot)")
def reboot_host(world: World, a: RebootArgs) -> Generator[Any, Any, Outcome]:
    _require_quiet(world, a.vmhost, a.force, "reboot")
    if a.mode == "quick" and (refused := quick_boot_refusal(world, a.vmhost)):
        return refused
    proc = world.host(a.vmhost).reboot(a.mode, reason=f"{a.mode} reboot")
    _stop_vms_on(world, a.vmhost, "host reboot")
    yield proc
    return Outcome(True, message=f"{a.vmhost} rebooted ({a.mode})")


def _start_in_task(world: World, host: str, name: str, start: Any) -> tuple[Any, Any, Any]:
    """Start a host operation as the vCenter task ``name``; a refusal fails the task (and
    is raised as before, so the caller sees the same refusal)."""
    vc, task = _host_task(world, host, name)
    try:
        proc = start()
    except OperationError as exc:
        vc.finish_task(task, error=str(exc), reason="invalid_state")
        raise
    return vc, task, proc


# Task names as the vSphere Client shows the vim methods the cmdlets call [assumed from
# VMware's API reference]: Start-VMHost -> HostSystem.PowerUpHostFromStandBy_Task ("Exit
# standby mode"), Stop-VMHost -> HostSystem.ShutdownHost_Task ("Shut down host").
@verb("Start-VMHost", summary="Power on a host.", args=VmHostArgs, side="host",
      source="PowerCLI Start-VMHost", run_async=True, output="VMHost")
def start_host(world: World, a: VmHostArgs) -> Generator[Any, Any, Outcome]:
    vc, task, proc = _start_in_task(world, a.vmhost, "Exit standby mode",
                                    world.host(a.vmhost).power_on)
    yield proc
    vc.finish_task(task)
    return Outcome(True, message=f"{a.vmhost} powered on",
                   output=[vmhost_object(world, a.vmhost)])


@verb("Stop-VMHost", summary="Shut a host down; -Force outside maintenance mode (its "
      "running VMs stop).", args=RestartArgs, side="host",
      source="PowerCLI Stop-VMHost (-Force: stop hosts not in maintenance mode); vSphere "
      "API ShutdownHost_Task (force: regardless of maintenance mode, even with VMs "
      "running)", confirm="High", run_async=True, output="VMHost")
def stop_host(world: World, a: RestartArgs) -> Generator[Any, Any, Outcome]:
    if (refused := _outside_maintenance(world, a.vmhost, a.force, "Shut down host")
            ) is not None:
        return refused
    vc, task, proc = _start_in_task(world, a.vmhost, "Shut down host",
                                    world.host(a.vmhost).shutdown)
    _stop_vms_on(world, a.vmhost, "host shutdown")
    yield proc
    vc.finish_task(task)
    return Outcome(True, message=f"{a.vmhost} powered off",
                   output=[vmhost_object(world, a.vmhost)])


class MaintenanceArgs(VmHostArgs):
    state: Literal["Maintenance", "Connected"]


def _evacuate(world: World, host: str) -> Generator[Any, Any, Outcome]:
    h = world.host(host)
    peers = [n for n, x in world.hosts.items()
             if n != host and x.cluster == h.cluster and x.is_up and not x.in_maintenance]
    for vm in [v for v in world.vms.values() if v.host == host and v.power_state == "poweredOn"]:
        result = None
        for dest in peers:
            result = yield from vm_ops.migrate(world, vm, dest)
            if result.ok:
                break
        if result is None or not result.ok:
            why = result.error if result else "no other host is available"
            return Outcome(False, why, f"cannot evacuate {vm.name} from {host}: {why}")
    return Outcome(True)


def enter_maintenance(world: World, host: str) -> Generator[Any, Any, Outcome]:
    vc, task = _host_task(world, host, "Enter maintenance mode")
    result = yield from _evacuate(world, host)
    if not result.ok:
        vc.finish_task(task, error=result.message, reason=result.error)
        return result
    yield world.kernel.timeout(world.params.maintenance_mode_seconds)
    world.host(host).enter_maintenance()
    vc.finish_task(task)
    return Outcome(True, message=f"{host} in maintenance mode")


@verb("Set-VMHost", summary="Enter (evacuating VMs by vMotion) or exit maintenance mode.",
      args=MaintenanceArgs, side="host", source="PowerCLI Set-VMHost -State", run_async=True,
      output="VMHost")
def set_vmhost(world: World, a: MaintenanceArgs) -> Generator[Any, Any, Outcome]:
    h = world.host(a.vmhost)
    if not h.is_up:
        raise OperationError(f"host {a.vmhost!r} is {h.power_state.value}", what="host",
                             value=a.vmhost)
    if a.state == "Maintenance":
        done = yield from enter_maintenance(world, a.vmhost)
    else:
        h.exit_maintenance()
        done = Outcome(True, message=f"{a.vmhost} connected")
    return (Outcome(True, message=done.message, output=[vmhost_object(world, a.vmhost)])
            if done.ok else done)


class UpgradeArgs(VmHostArgs):
    release: str = Field(description="Target ESXi release (8.0 U3, 8.0.3-24022510 ...).")
    reboot: Literal["auto", "quick", "full", "none"] = Field(
        "auto", description="auto = Quick Boot when the cluster allows it and the host "
        "supports it (vLCM behaviour), else a full boot; none = stage only.")


#: Reason code of a Quick Boot that was asked for and is not possible on the host (Intel
#: TXT on, KB 425234, or the cluster's vLCM Quick Boot setting off): not a generic
#: ``invalid_request``, so plans and exercises can name it.
QUICK_BOOT_NOT_SUPPORTED = "quick_boot_not_supported"


def quick_boot_refusal(world: World, host: str) -> Outcome | None:
    """The refusal of an explicit Quick Boot on ``host``, or ``None`` when it is possible."""
    why = world.host(host).quick_boot_problem()
    if why is None:
        return None
    return Outcome(False, QUICK_BOOT_NOT_SUPPORTED, f"Quick Boot refused on {host!r}: {why}")


def remediate_host(world: World, host: str, image: Any, reboot: str = "auto",
                   task_name: str | None = None) -> Generator[Any, Any, Outcome]:
    """vLCM remediation of one host to ``image``: maintenance mode (VMs leave by vMotion),
    stage into the alternate boot bank, reboot (Quick Boot when the cluster's setting is
    on and the host supports it, else a full boot; ``none`` = stage only), exit
    maintenance mode. Shared by cluster remediation and the ``upgrade-host`` shortcut."""
    h = world.host(host)
    vc, task = _host_task(world, host, task_name or f"Remediate host to {image.display_name}")
    if not h.in_maintenance:
        result = yield from enter_maintenance(world, host)
        if not result.ok:
            vc.finish_task(task, error=result.message, reason=result.error)
            return result
    yield h.stage_upgrade(image)
    # BUG FIX (world tests): a power loss during staging or the reboot left the host off;
    # the verb then crashed on h.reboot() (or reported success) and its Recent Tasks row
    # stayed "running". Fail the task instead.
    if h.is_up and reboot != "none":
        yield h.reboot(reboot, reason=f"upgrade to {image.key}")
        if h.is_up:
            h.exit_maintenance()
    if not h.is_up:
        error = f"{host} went down during the remediation ({h.power_state.value})"
        vc.finish_task(task, error=error, reason="host_down")
        return Outcome(False, "host_down", error)
    vc.finish_task(task)
    mode = "Quick Boot" if h.last_boot_quick and reboot != "none" else "full boot"
    world.kernel.record(h.source, "host.upgraded", host=host, version=h.version,
                        measured_version=h.measured_version,
                        message=f"{host} upgraded to {image.display_name} ({mode}); TPM "
                                f"measurements describe {h.measured_version}")
    return Outcome(True, message=f"{host} runs {h.version}")


@verb("upgrade-host", kind="lab", summary="Lab shortcut for vLCM remediation of ONE host "
      "(Set-Cluster -Remediate applied to this host only): maintenance mode, stage, reboot "
      "(Quick Boot if the cluster's setting is on), exit maintenance.",
      args=UpgradeArgs, side="host", source=SEED + " (upgrade and patching); vSphere "
      "Lifecycle Manager guide, 'Remediate a single host against the cluster image'")
def upgrade_host(world: World, a: UpgradeArgs) -> Generator[Any, Any, Outcome]:
    h = world.host(a.vmhost)
    image = image_for(a.release)
    if not h.is_up:
        raise OperationError(f"cannot upgrade {a.vmhost!r}: it is {h.power_state.value}",
                             what="host", value=a.vmhost)
    if image.key == h.version:
        raise OperationError(f"{a.vmhost!r} already runs {image.key}", what="release",
                             value=a.release)
    if a.reboot == "quick" and (refused := quick_boot_refusal(world, a.vmhost)):
        return refused
    return (yield from remediate_host(world, a.vmhost, image, a.reboot))


@verb("revert-host", kind="lab", summary="Boot the previous ESXi image from the alternate "
      "boot bank (Shift+R; one level of rollback).", args=VmHostArgs, side="host",
      source=SEED + " (troubleshooting upgrades), KB 77234")
def revert_host(world: World, a: VmHostArgs) -> Generator[Any, Any, Outcome]:
    _require_quiet(world, a.vmhost, False, "revert")
    yield world.host(a.vmhost).revert()
    return Outcome(True, message=f"{a.vmhost} runs {world.host(a.vmhost).version}")


class QuickBootArgs(TrustedClusterArgs):
    enabled: bool


@verb("set-quick-boot", kind="lab", summary="Enable or disable Quick Boot for a cluster "
      "(vLCM remediation setting).", args=QuickBootArgs, side="workload",
      source=SEED + " (Quick Boot 1)")
def set_quick_boot(world: World, a: QuickBootArgs) -> Outcome:
    cluster = world.trusted_cluster(a.cluster)
    vc = world.workload_vcenter
    # vSphere Lifecycle Manager's cluster remediation settings (where Quick Boot is set);
    # the task name is the lab's [assumed].
    task = vc.start_task("Edit remediation settings", cluster.name)
    cluster.quick_boot = a.enabled
    for th in cluster.hosts.values():
        th.host.quick_boot_enabled = a.enabled
    world.kernel.record(vc.source, "cluster.quick_boot",
                        cluster=cluster.name, enabled=a.enabled,
                        message=f"Quick Boot {'enabled' if a.enabled else 'disabled'} for "
                                f"{cluster.name}")
    vc.finish_task(task)
    return Outcome(True)


