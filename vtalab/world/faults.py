"""Injectable faults: what the world does to an operator, each tagged with the real failure.

Same shape as verbs (``vtalab.world.registry``). A fault with a ``duration`` heals itself after
that many simulated seconds; without one it lasts until the operator fixes it.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import Field

from vtalab.core import crypto
from vtalab.core.simtime import Time
from vtalab.errors import InputError
from vtalab.tpm import Tpm
from vtalab.world.registry import Args, Outcome, fault
from vtalab.world.vm_ops import power_off

if TYPE_CHECKING:
    from vtalab.world.assembly import World

__all__: list[str] = []

DOMAIN = "vta-domain.md §8"


class Duration(Args):
    duration: Time | None = Field(None, description="Heal after this long (e.g. 90, '10m'); "
                                  "the fault is injected at once and heals in the background.")


class HostFault(Duration):
    vmhost: str


def _note(world: World, source: str, kind: str, message: str, **fields: Any) -> None:
    world.kernel.record(source, kind, message=message, **fields)


def _heal_after(world: World, duration: float | None, heal: Callable[[], Any],
                what: str) -> Outcome:
    """Inject now; with a ``duration``, heal in the background (the timeline goes on)."""
    if duration is not None:
        def healer() -> Generator[Any, Any, None]:
            yield world.kernel.timeout(duration)
            result = heal()
            if isinstance(result, Generator):  # healing itself may take time (a boot)
                yield from result
            _note(world, "faults", "fault.healed", f"fault healed: {what}", fault=what)

        world.kernel.process(healer())
    return Outcome(True, message=what + (f" (heals after {duration:g} s)"
                                         if duration is not None else ""))


class KmsArgs(Duration):
    server: str | None = Field(None, description="KMIP server name (default: all).")


class KmsChangeArgs(Args):
    """A KMS change that does not undo itself (no ``duration``): the operator repairs it."""

    server: str | None = Field(None, description="KMIP server name (default: all).")


def _kms_servers(world: World, name: str | None) -> list[Any]:
    if name is None:
        return list(world.kms.servers)
    return [world.kms.server(name)]


@fault("kms-outage", summary="The KMIP server(s) stop answering.",
       stands_for="KMS unreachable (KmsUnhealthy)", args=KmsArgs, source=DOMAIN)
def kms_outage(world: World, a: KmsArgs) -> Outcome:
    servers = _kms_servers(world, a.server)
    for s in servers:
        s.set_available(False)
    world.workload_vcenter.post_event("com.vmware.vc.kms.crypto.TrustAuthority.KmsUnhealthy",
                                      world.key_provider_name)
    _note(world, "kms", "fault.kms_outage", f"KMS outage: {', '.join(s.name for s in servers)}")

    def heal() -> None:
        for s in servers:
            s.set_available(True)

    return _heal_after(world, a.duration, heal, "kms-outage")


@fault("kms-wrong-credentials", summary="The KMS account password is changed on the KMS "
       "side; kmxd's stored credentials no longer work until the operator gives the key "
       "provider the new one (no duration: a password change does not undo itself).",
       stands_for="KMS wrong password", args=KmsChangeArgs, source=DOMAIN)
def kms_password(world: World, a: KmsChangeArgs) -> Outcome:
    new_password = f"{world.kms.name}-rotated"  # what the KMS admin tells the vTA admin
    for s in _kms_servers(world, a.server):
        s.rotate_password(world.kms_identity.username, new_password)
    _note(world, "kms", "fault.kms_credentials",
          f"KMS administrator changed the password of {world.kms_identity.username} to "
          f"{new_password!r}; the trusted key provider's stored credentials are now stale "
          "(fix: Set-TrustAuthorityKeyProvider -KmipServerPassword)", new_password=new_password)
    return Outcome(True)


@fault("kms-certificate-expired", summary="The KMS server certificate expires.",
       stands_for="KMS server certificate expiry", args=KmsArgs, source=DOMAIN)
def kms_cert_expired(world: World, a: KmsArgs) -> Outcome:
    now = world.kernel.utc()
    servers = _kms_servers(world, a.server)
    valid = {s.name: s.server_cert for s in servers}  # what a renewal puts back
    for s in servers:
        ca_key = crypto.derive_private_key(world.seed, f"kms/{world.kms.name}/ca")
        # the server's own key (its certificate's): only the validity dates change
        cert = crypto.issue_certificate(s.address, crypto.cert_public_key(s.server_cert),
                                        s.ca_cert, ca_key,
                                        now - timedelta(days=400), now - timedelta(seconds=1),
                                        org="vtalab KMS")
        s.set_server_certificate(cert)
    _note(world, "kms", "fault.kms_certificate", "KMS server certificate expired")

    def heal() -> None:  # the KMS administrator renews it: valid again, the same key
        for s in servers:
            s.set_server_certificate(valid[s.name])

    return _heal_after(world, a.duration, heal, "kms-certificate-expired")


@fault("power-loss", summary="A host loses power (no orderly shutdown; VMs on it crash). "
       "With a duration, it is powered on again afterwards.",
       stands_for="host power loss", args=HostFault, source=DOMAIN)
def power_loss(world: World, a: HostFault) -> Outcome:
    host = world.host(a.vmhost)
    for vm in world.vms.values():
        if vm.host == a.vmhost and vm.power_state == "poweredOn":
            power_off(world, vm, cause="host power loss")
    host.power_loss()
    _note(world, host.source, "fault.power_loss", f"{a.vmhost} lost power", host=a.vmhost)

    def restore_power() -> Generator[Any, Any, None]:
        if host.power_state.value == "poweredOff":  # an operator may have powered it on
            yield host.power_on()

    return _heal_after(world, a.duration, restore_power, f"power-loss {a.vmhost}")


@fault("ta-host-down", summary="A Trust Authority host fails (power loss).",
       stands_for="TA host down", args=HostFault, source=DOMAIN)
def ta_host_down(world: World, a: HostFault) -> Outcome:
    world.ta_host(a.vmhost)
    return power_loss(world, a)


class ServiceFault(HostFault):
    service: str


@fault("service-crash", summary="A vTA daemon (attestd, kmxd, kmxa) crashes.",
       stands_for="attestd/kmxd/kmxa stopped", args=ServiceFault, source=DOMAIN)
def service_crash(world: World, a: ServiceFault) -> Outcome:
    host = world.host(a.vmhost)
    if a.service not in host.services:
        raise InputError(f"service {a.service!r} does not run on {a.vmhost!r}",
                         what="service", value=a.service, choices=list(host.services))
    host.services[a.service] = False
    world.kernel.log(a.vmhost, f"{a.service}.log", f"{a.service} terminated unexpectedly",
                     level="error")
    _note(world, host.source, "fault.service_crash", f"{a.service} crashed on {a.vmhost}",
          host=a.vmhost, service=a.service)

    def heal() -> None:
        host.services[a.service] = True
        if a.service == "kmxa":
            world.trusted_host(a.vmhost).agent.wake()

    return _heal_after(world, a.duration, heal, f"service-crash {a.service}")


@fault("network-partition", summary="A host cannot reach (or be reached from) the TA "
       "cluster.", stands_for="network partition between trusted host and TA hosts",
       args=HostFault, source=DOMAIN)
def partition(world: World, a: HostFault) -> Outcome:
    host = world.host(a.vmhost)
    host.network_up = False
    _note(world, host.source, "fault.partition", f"{a.vmhost} is partitioned from the TA "
          "cluster", host=a.vmhost)

    def heal() -> None:
        host.network_up = True
        if host.role == "trusted":
            world.trusted_host(a.vmhost).agent.wake()

    return _heal_after(world, a.duration, heal, f"network-partition {a.vmhost}")


class SkewArgs(Args):
    vmhost: str
    seconds: float = Field(description="How far the host's clock is ahead (negative: behind).")


@fault("clock-skew", summary="A host's clock drifts from true time.",
       stands_for="clock skew against token validity", args=SkewArgs, source=DOMAIN)
def clock_skew(world: World, a: SkewArgs) -> Outcome:
    host = world.host(a.vmhost)
    host.clock_skew = a.seconds
    _note(world, host.source, "fault.clock_skew",
          f"{a.vmhost} clock skewed by {a.seconds:+.0f} s", host=a.vmhost, seconds=a.seconds)
    return Outcome(True)


class VmHostOnly(Args):
    vmhost: str


@fault("tpm-replaced", summary="The TPM (or motherboard) of a trusted host is replaced: a "
       "new EK and AK; the host is powered off for the repair and boots fully.",
       stands_for="TPM or motherboard replaced (TpmEndorsementKeyMismatch)", args=VmHostOnly,
       source=DOMAIN)
def tpm_replaced(world: World, a: VmHostOnly) -> Generator[Any, Any, Outcome]:
    th = world.trusted_host(a.vmhost)
    host = th.host
    if host.is_up:
        for vm in world.vms.values():
            if vm.host == a.vmhost and vm.power_state == "poweredOn":
                power_off(world, vm, cause="hardware repair")
        host.power_loss()
    host.tpm_generation += 1
    generation = host.tpm_generation
    tpm = Tpm(crypto.derive_private_key(world.seed, f"tpm/{a.vmhost}/ek/{generation}"),
              crypto.derive_private_key(world.seed, f"tpm/{a.vmhost}/ak/{generation}"))
    if host.tpm is not None and host.tpm.ek_certificate_der is not None:
        tpm.ek_certificate_der = world.ek_certificate(host.tpm_vendor, tpm)
    host.tpm = tpm
    _note(world, host.source, "fault.tpm_replaced", f"TPM of {a.vmhost} replaced (new EK)",
          host=a.vmhost)
    yield host.power_on()
    world.workload_vcenter.post_event("com.vmware.vc.host.TpmEndorsementKeyMismatch", a.vmhost)
    return Outcome(True)


@fault("sts-rotation", summary="The workload vCenter's STS signing certificate is rotated.",
       stands_for="workload vCenter STS certificate rotation (StsCertificatesChange)",
       source=DOMAIN)
def sts_rotation(world: World, a: Args) -> Outcome:
    world.workload_vcenter.rotate_sts()
    _note(world, world.workload_vcenter.source, "fault.sts_rotation",
          f"STS signing certificate of {world.workload_vcenter.name} rotated")
    return Outcome(True)
