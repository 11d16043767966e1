"""VM cmdlets: power, vMotion and encryption (each needs the key on the host)."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Annotated, Any

from vtalab.errors import OperationError
from vtalab.world import vm_ops
from vtalab.world.registry import PS, Args, Outcome, verb
from vtalab.world.verbs.common import SEED
from vtalab.world.verbs.inventory import vm_object

if TYPE_CHECKING:
    from vtalab.world.assembly import World


class VmArgs(Args):
    vm: Annotated[str, PS(name="VM", position=0, pipeline=True, type="VirtualMachine[]")]


@verb("Start-VM", summary="Power on a VM (an encrypted VM needs its key on the host).",
      args=VmArgs, side="workload", source="PowerCLI Start-VM", run_async=True,
      output="VirtualMachine")
def start_vm(world: World, a: VmArgs) -> Generator[Any, Any, Outcome]:
    vm = world.vm(a.vm)
    if vm.power_state == "poweredOn":
        raise OperationError(f"VM {a.vm!r} is already powered on", what="VM", value=a.vm)
    return _with_vm(world, a.vm, (yield from vm_ops.power_on(world, vm)))


def _with_vm(world: World, name: str, done: Outcome) -> Outcome:
    """``done`` carrying the VM's VirtualMachine object, as the PowerCLI cmdlet returns it
    (a refusal carries nothing)."""
    if not done.ok:
        return done
    return Outcome(True, done.error, done.message, output=[vm_object(world, name)])


@verb("Stop-VM", summary="Power off a VM.", args=VmArgs, side="workload",
      source="PowerCLI Stop-VM", confirm="High", run_async=True, output="VirtualMachine")
def stop_vm(world: World, a: VmArgs) -> Outcome:
    vm = world.vm(a.vm)
    vc = world.workload_vcenter
    task = vc.start_task("Power Off virtual machine", vm.name)  # VirtualMachine.PowerOffVM_Task
    if vm.power_state != "poweredOn":  # vCenter: InvalidPowerState, the task fails
        error = ("The attempted operation cannot be performed in the current state "
                 f"(Powered off). (VM {vm.name})")
        vc.finish_task(task, error=error, reason="invalid_state")
        return Outcome(False, "invalid_state", error)
    outcome = vm_ops.power_off(world, vm)
    vc.finish_task(task)
    return _with_vm(world, a.vm, outcome)


class MoveArgs(VmArgs):
    destination: str


@verb("Move-VM", summary="vMotion a VM to another host (the destination must get the key).",
      args=MoveArgs, side="workload", source="PowerCLI Move-VM", run_async=True,
      output="VirtualMachine")
def move_vm(world: World, a: MoveArgs) -> Generator[Any, Any, Outcome]:
    world.host(a.destination)
    return _with_vm(world, a.vm, (yield from vm_ops.migrate(world, world.vm(a.vm),
                                                            a.destination)))


@verb("encrypt-vm", kind="lab", summary="Encrypt a powered-off VM with the trusted key "
      "provider.", args=VmArgs, side="workload", source=SEED)
def encrypt_vm(world: World, a: VmArgs) -> Generator[Any, Any, Outcome]:
    return (yield from vm_ops.encrypt(world, world.vm(a.vm)))


