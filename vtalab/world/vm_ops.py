"""Virtual machines, encrypted or not, and what an unattested host does to them.

An encrypted VM needs its key **on the host** to power on, to be encrypted, or to arrive by
vMotion. The host gets keys through kmxa from the Key Provider Service, which demands a
valid attestation token. So on an unattested host encrypted VMs cannot be powered on
(``com.vmware.vc.vm.Crypto.VMLocked.TAKMSClusterUnavaliable`` — sic — and a Recent Tasks
error) while VMs that are already running keep running: their keys are in memory.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from vtalab.domain.outcome import Outcome
from vtalab.domain.reasons import operator_text
from vtalab.domain.vm import LOCKED_KEY, LOCKED_PROVIDER, Vm

if TYPE_CHECKING:
    from vtalab.world.assembly import World

__all__ = ["encrypt", "migrate", "power_off", "power_on"]


def _get_key(world: World, vm: Vm, host: str) -> tuple[bool, str | None, str]:
    th = world.trusted_host(host)
    if vm.key_id is None:
        # BUG FIX (world tests): an encrypted VM in an unconfigured topology has no key
        # (no key provider yet); this was an ``assert`` that crashed ``world.run()``.
        return False, "no_key_provider", "no key provider is registered for the VM's key"
    return th.agent.get_key(world.key_provider_name, vm.key_id)


def _locked(world: World, vm: Vm, reason: str | None, message: str = "") -> None:
    event = LOCKED_KEY if reason == "key_not_found" else LOCKED_PROVIDER
    vm.locked = True
    vc = world.workload_vcenter
    if reason == "kms_certificate_expired":  # which side's certificate ran out
        side = "Server" if "server certificate" in message else "Client"
        vc.post_event(f"com.vmware.vc.TrustAuthority.KMS{side}CertExpirationEvent",
                      world.key_provider_name)
    vc.post_event(event, vm.name)


def power_on(world: World, vm: Vm) -> Generator[Any, Any, Outcome]:
    vc = world.workload_vcenter
    task = vc.start_task("Power On virtual machine", vm.name)
    host = world.hosts[vm.host]
    if not host.is_up:
        error = f"host {vm.host} is not responding"
        vc.finish_task(task, error=error, reason="host_down")
        vm.last_error = "host_down"
        return Outcome(False, "host_down", error)
    if host.in_maintenance:
        # vSphere: "While in maintenance mode, the host does not allow you to deploy or
        # power on a virtual machine" (so a host in maintenance mode runs no VM).
        error = (f"Cannot power on {vm.name} on {vm.host}: The operation is not allowed in "
                 "the current state of the host. (the host is in maintenance mode)")
        vc.finish_task(task, error=error, reason="host_in_maintenance")
        return Outcome(False, "host_in_maintenance", error)
    if vm.encrypted:
        ok, reason, message = _get_key(world, vm, vm.host)
        if not ok:
            error = (f"Cannot power on {vm.name} on {vm.host}: the encryption key is not "
                     f"available from the trusted key provider ({operator_text(message)})")
            vm.last_error = reason
            _locked(world, vm, reason, message)
            vc.finish_task(task, error=error, reason=reason)
            world.kernel.record("vm/" + vm.name, "vm.power_on.failed", vm=vm.name,
                                host=vm.host, reason=reason, message=error)
            return Outcome(False, reason, error)
    yield world.kernel.timeout(world.params.vm_power_on_seconds)
    if not host.is_up:
        vc.finish_task(task, error=f"host {vm.host} went down", reason="host_down")
        return Outcome(False, "host_down", "host went down")
    vm.power_state = "poweredOn"
    vm.last_error = None
    if vm.locked:
        vm.locked = False
        vc.post_event("com.vmware.vc.vm.Crypto.VMUnlocked", vm.name)
    vc.finish_task(task)
    world.kernel.record("vm/" + vm.name, "vm.power", vm=vm.name, host=vm.host,
                        state="poweredOn", message=f"VM {vm.name} powered on on {vm.host}")
    return Outcome(True, message=f"{vm.name} powered on")


def power_off(world: World, vm: Vm, *, cause: str = "operator") -> Outcome:
    was = vm.power_state
    vm.power_state = "poweredOff"
    if was == "poweredOn":
        world.kernel.record("vm/" + vm.name, "vm.power", vm=vm.name, host=vm.host,
                            state="poweredOff", cause=cause,
                            encrypted=vm.encrypted,
                            message=f"VM {vm.name} powered off on {vm.host} ({cause})")
    return Outcome(True, message=f"{vm.name} powered off")


def encrypt(world: World, vm: Vm) -> Generator[Any, Any, Outcome]:
    vc = world.workload_vcenter
    task = vc.start_task("Reconfigure virtual machine (encrypt)", vm.name)
    if vm.power_state != "poweredOff":
        vc.finish_task(task, error="the VM must be powered off to be encrypted",
                       reason="invalid_state")
        return Outcome(False, "invalid_state", "VM must be powered off")
    key_id = world.kms_primary_key
    if key_id is None:
        vc.finish_task(task, error="no key provider is registered", reason="no_key_provider")
        return Outcome(False, "no_key_provider", "no key provider")
    vm.key_id = key_id
    ok, reason, message = _get_key(world, vm, vm.host)
    if not ok:
        vm.key_id = None
        error = (f"Cannot encrypt {vm.name}: key not available on {vm.host} "
                 f"({operator_text(message)})")
        vm.last_error = reason
        vc.finish_task(task, error=error, reason=reason)
        return Outcome(False, reason, error)
    yield world.kernel.timeout(world.params.vm_encrypt_seconds)
    vm.encrypted = True
    vm.last_error = None  # a success clears the previous failure (as power_on does)
    vc.finish_task(task)
    world.kernel.record("vm/" + vm.name, "vm.encrypted", vm=vm.name, host=vm.host,
                        message=f"VM {vm.name} encrypted with key {key_id[:8]}…")
    return Outcome(True, message=f"{vm.name} encrypted")


def migrate(world: World, vm: Vm, dest: str) -> Generator[Any, Any, Outcome]:
    vc = world.workload_vcenter
    task = vc.start_task("Migrate virtual machine", vm.name)
    target = world.hosts[dest]
    if not target.is_up or target.in_maintenance:
        error = f"destination {dest} is not available"
        vc.finish_task(task, error=error, reason="host_unavailable")
        return Outcome(False, "host_unavailable", error)
    if vm.encrypted and vm.power_state == "poweredOn":
        ok, reason, message = _get_key(world, vm, dest)
        if not ok:
            error = (f"Cannot migrate {vm.name} to {dest}: the destination cannot get the "
                     f"encryption key ({operator_text(message)})")
            vm.last_error = reason
            vc.finish_task(task, error=error, reason=reason)
            world.kernel.record("vm/" + vm.name, "vm.migrate.failed", vm=vm.name, host=dest,
                                reason=reason, message=error)
            return Outcome(False, reason, error)
    if vm.power_state == "poweredOn":
        yield world.kernel.timeout(world.params.vmotion_seconds)
    source = vm.host
    vm.host = dest
    vc.finish_task(task)
    world.kernel.record("vm/" + vm.name, "vm.migrated", vm=vm.name, from_host=source, host=dest,
                        message=f"VM {vm.name} migrated {source} -> {dest}")
    return Outcome(True, message=f"{vm.name} on {dest}")
