"""An ESXi host and its boots: full boot versus Quick Boot.

Life-cycle: ``poweredOff`` → (power on) → ``booting`` → ``poweredOn`` → (reboot/shutdown)
→ ``shuttingDown`` → ``booting`` (or ``poweredOff``). Boots are SimPy processes that take
simulated time (``Parameters.full_boot_seconds`` / ``quick_boot_seconds``).

The one fact everything in vtalab rests on:

* A **full boot** is a platform reset: the TPM is reset (PCRs zeroed, ``resetCount`` + 1),
  firmware measures PCRs 0–7 and the ESXi bootloader measures the image into PCRs 11–14.
* A **Quick Boot** (``loadESX``) starts the new image from the running ESXi without
  firmware, without a platform reset and **without measuring anything**: PCRs, event log
  and therefore attestation keep describing the image of the **last full boot**. It needs
  the cluster's Quick Boot setting (vLCM-managed cluster) and is refused when Intel TXT is
  on (KB 425234) — a remediation then falls back to a full reboot.

Upgrades stage the new image in the alternate boot bank; the next boot swaps banks. A
revert swaps back (one level of rollback) and fully boots.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import simpy

from vtalab.core import crypto
from vtalab.errors import OperationError
from vtalab.esxi.image import EsxiImage, HostSpecific
from vtalab.esxi.measure import measure_esx_boot, measure_firmware

if TYPE_CHECKING:
    from vtalab.core.kernel import Kernel
    from vtalab.core.parameters import Parameters

__all__ = ["BootMode", "EsxiHost", "PowerState", "BootRecord"]


class PowerState(StrEnum):
    POWERED_OFF = "poweredOff"
    BOOTING = "booting"
    POWERED_ON = "poweredOn"
    SHUTTING_DOWN = "shuttingDown"


class BootMode(StrEnum):
    FULL = "full"
    QUICK = "quick"
    AUTO = "auto"  #: what vLCM remediation does: quick if allowed and supported, else full


@dataclass(frozen=True, slots=True)
class BootRecord:
    """One completed boot, for ``explain`` and the host's history."""

    time: float
    mode: BootMode
    version: str  #: running image after the boot
    measured_version: str  #: image the TPM measurements describe


def _issuer(der: bytes) -> str | None:
    """An EK certificate's issuer (RFC 4514), None if it does not parse (remembered by
    crypto per issuer: every certificate of a vendor names the same one)."""
    try:
        return crypto.cert_issuer(der)
    except ValueError:
        return None


class EsxiHost:
    """A simulated ESXi host (trusted host or Trust Authority host)."""

    def __init__(self, kernel: Kernel, params: Parameters, name: str, image: EsxiImage, *,
                 role: str, tpm: Any = None, firmware: Any = None, txt: bool = False,
                 cluster: str = "") -> None:
        self.kernel = kernel
        self.params = params
        self.name = name
        self.role = role
        self.cluster = cluster
        self.tpm = tpm
        self.tpm_vendor = ""  #: whose CA issued the EK certificate (trusted hosts)
        self.tpm_generation = 1  #: +1 each time the TPM/motherboard is replaced
        self.firmware = firmware
        self.txt = txt
        #: The cluster's Quick Boot setting (vLCM); set by the cluster/vCenter.
        self.quick_boot_enabled = False
        self.power_state = PowerState.POWERED_OFF
        self.in_maintenance = False
        self.running_image = image  #: what ESXi runs (and what ``Get-VMHost`` reports)
        self.alternate_image: EsxiImage | None = None  #: altbootbank
        self.staged = False  #: the alternate bank holds an upgrade to boot next
        self.measured_image: EsxiImage | None = None  #: the image of the last full boot
        self.last_boot_quick = False  #: ``vsish -e get /system/loadESX/isBootLoadESX``
        self.quick_boots_since_full = 0
        self.boots: list[BootRecord] = []
        self.network_up = True  #: False during a network partition fault
        self.clock_skew = 0.0  #: seconds this host's clock is ahead of true time
        #: configured state of the vTA daemons on this host (attestd/kmxd or kmxa); a
        #: daemon runs when the host is up and its entry is True
        self.services: dict[str, bool] = {}
        self.on_up: list[Callable[[EsxiHost, BootMode], None]] = []
        self.on_down: list[Callable[[EsxiHost, str], None]] = []
        self._proc: simpy.Process | None = None
        #: (EK, EK certificate, their trace identity): see :meth:`_tpm_identity`
        self._identity: tuple[Any, bytes | None, dict[str, str | None]] | None = None

    # -- queries -------------------------------------------------------------------------
    @property
    def source(self) -> str:
        return f"{self.role}/{self.name}"

    @property
    def is_up(self) -> bool:
        return self.power_state is PowerState.POWERED_ON

    @property
    def busy(self) -> bool:
        return self._proc is not None and self._proc.is_alive

    @property
    def version(self) -> str:
        return self.running_image.key

    @property
    def measured_version(self) -> str | None:
        return self.measured_image.key if self.measured_image else None

    def quick_boot_problem(self) -> str | None:
        """Why a Quick Boot is not possible now (``None`` when it is)."""
        if not self.quick_boot_enabled:
            return "Quick Boot is not enabled for the cluster (vLCM setting)"
        if self.txt:
            return "Intel TXT is enabled on the host (Quick Boot is not supported, KB 425234)"
        return None

    def host_specific(self) -> HostSpecific:
        return HostSpecific.for_host(self.name, self.running_image.build)

    # -- operations (validate first, then start a process) ---------------------------------
    def _require(self, *states: PowerState, action: str) -> None:
        if self.power_state not in states:
            raise OperationError(
                f"cannot {action} host {self.name!r}: it is {self.power_state.value}",
                what="power state", value=self.power_state.value,
                choices=[s.value for s in states])
        if self.busy:
            raise OperationError(f"cannot {action} host {self.name!r}: an operation is running")

    def power_on(self) -> simpy.Process:
        self._require(PowerState.POWERED_OFF, action="power on")
        return self._start(self._boot(BootMode.FULL, reason="power on"))

    def reboot(self, mode: BootMode | str = BootMode.FULL, reason: str = "reboot") -> simpy.Process:
        mode = BootMode(mode)
        self._require(PowerState.POWERED_ON, action="reboot")
        if mode is BootMode.QUICK and (why := self.quick_boot_problem()):
            raise OperationError(f"Quick Boot refused on host {self.name!r}: {why}",
                                 what="boot mode", value="quick", choices=["full"])
        return self._start(self._restart(mode, reason))

    def shutdown(self) -> simpy.Process:
        self._require(PowerState.POWERED_ON, action="shut down")
        return self._start(self._shutdown_then_off())

    def power_loss(self) -> None:
        """Cut the power now: no orderly shutdown (the next quote has ``safe = 0``)."""
        if self._proc is not None and self._proc.is_alive:
            self._proc.interrupt("power loss")
        self._proc = None
        was = self.power_state
        self.power_state = PowerState.POWERED_OFF
        if self.tpm is not None and self.tpm.powered:
            self.tpm.power_off(self._ms())  # no TPM2_Shutdown: the next quote has safe = 0
        self.kernel.record(self.source, "host.power.lost", host=self.name, was=was.value)
        self._down("power loss")

    def stage_upgrade(self, image: EsxiImage) -> simpy.Process:
        """Write ``image`` to the alternate boot bank (the next boot runs it)."""
        self._require(PowerState.POWERED_ON, action="upgrade")
        if image.key == self.running_image.key:
            raise OperationError(f"host {self.name!r} already runs {image.key}",
                                 what="version", value=image.key)
        return self._start(self._stage(image))

    def revert(self) -> simpy.Process:
        """Boot the previous image from the alternate bank (one level of rollback)."""
        self._require(PowerState.POWERED_ON, action="revert")
        if self.alternate_image is None:
            raise OperationError(f"host {self.name!r} has no previous image to revert to")
        return self._start(self._revert())

    def enter_maintenance(self) -> None:
        self.in_maintenance = True
        self.kernel.record(self.source, "host.maintenance", host=self.name, entered=True)

    def exit_maintenance(self) -> None:
        self.in_maintenance = False
        self.kernel.record(self.source, "host.maintenance", host=self.name, entered=False)

    def start_running(self, measured: EsxiImage | None = None, quick_boots: int = 0) -> None:
        """Initial state: the host has been up since before T=0.

        ``measured`` (a snapshot) is the image of its last full boot when it differs from
        the running image, followed by ``quick_boots`` Quick Boot upgrades.
        """
        running = self.running_image
        if measured is not None and measured.key != running.key:
            self.running_image = measured
            self._measure_full_boot()
            self.alternate_image, self.running_image = measured, running
        else:
            self._measure_full_boot()
        self.quick_boots_since_full = quick_boots if self.measured_version != self.version else 0
        self.last_boot_quick = self.quick_boots_since_full > 0
        self.power_state = PowerState.POWERED_ON
        self.boots.append(BootRecord(self.kernel.now, BootMode.FULL, self.version,
                                     self.measured_version or ""))
        self.kernel.record(self.source, "host.initial", host=self.name, version=self.version,
                           measured_version=self.measured_version,
                           quick_boots_since_full=self.quick_boots_since_full)
        for hook in list(self.on_up):
            hook(self, BootMode.FULL)

    # -- processes -----------------------------------------------------------------------
    def _start(self, gen: Generator[Any, Any, Any]) -> simpy.Process:
        self._proc = self.kernel.process(self._guard(gen))
        return self._proc

    def _guard(self, gen: Generator[Any, Any, Any]) -> Generator[Any, Any, Any]:
        try:
            yield from gen
        except simpy.Interrupt:
            # Power was cut. An operation started in the same instant may have run its
            # first step (setting booting/shuttingDown, powering the TPM) after the cut:
            # whatever it set, the host and its TPM are off now.
            self.power_state = PowerState.POWERED_OFF
            if self.tpm is not None and self.tpm.powered:
                self.tpm.power_off(self._ms())

    def _stage(self, image: EsxiImage) -> Generator[Any, Any, None]:
        self.kernel.record(self.source, "host.upgrade.staging", host=self.name,
                           version=image.key)
        yield self.kernel.timeout(self.params.upgrade_stage_seconds)
        self.alternate_image = image
        self.staged = True
        self.kernel.log(self.name, "esxupdate.log",
                        f"Image {image.display_name} staged in the alternate boot bank; "
                        "a reboot is required.")
        self.kernel.record(self.source, "host.upgrade.staged", host=self.name, version=image.key)

    def _revert(self) -> Generator[Any, Any, None]:
        assert self.alternate_image is not None
        self.kernel.record(self.source, "host.revert", host=self.name,
                           from_version=self.running_image.key,
                           to_version=self.alternate_image.key)
        self.staged = True  # the boot swaps banks
        yield from self._restart(BootMode.FULL, "revert to previous image")

    def _shutdown_then_off(self) -> Generator[Any, Any, None]:
        yield from self._shutdown("shutdown")
        self._tpm_orderly_off()
        self.power_state = PowerState.POWERED_OFF
        self.kernel.record(self.source, "host.power.off", host=self.name)

    def _shutdown(self, reason: str) -> Generator[Any, Any, None]:
        self.power_state = PowerState.SHUTTING_DOWN
        self.kernel.record(self.source, "host.shutdown", host=self.name, reason=reason)
        self._down(reason)
        yield self.kernel.timeout(self.params.shutdown_seconds)

    def _restart(self, mode: BootMode, reason: str) -> Generator[Any, Any, None]:
        if mode is BootMode.AUTO:
            why = self.quick_boot_problem()
            if why is None:
                mode = BootMode.QUICK
            else:
                mode = BootMode.FULL
                if self.quick_boot_enabled:  # enabled but refused: say so, like vLCM does
                    self.kernel.log(self.name, "loadESX.log",
                                    f"Quick Boot not possible: {why}; using a regular reboot.",
                                    level="warning")
                    self.kernel.record(self.source, "host.quickboot.refused", host=self.name,
                                       reason=why)
        yield from self._shutdown(reason)
        if mode is BootMode.FULL:
            self._tpm_orderly_off()
        yield from self._boot(mode, reason)

    def _boot(self, mode: BootMode, reason: str) -> Generator[Any, Any, None]:
        self.power_state = PowerState.BOOTING
        if self.staged and self.alternate_image is not None:
            self.running_image, self.alternate_image = self.alternate_image, self.running_image
            self.staged = False
        self.kernel.record(self.source, "host.boot.start", host=self.name, mode=mode.value,
                           version=self.running_image.key, reason=reason)
        if mode is BootMode.QUICK:
            self.kernel.log(self.name, "loadESX.log",
                            f"loadESX: starting {self.running_image.display_name} "
                            "without a platform reset")
            yield self.kernel.timeout(self.params.quick_boot_seconds)
            self.quick_boots_since_full += 1
            self.last_boot_quick = True
        else:
            self._tpm_platform_reset()  # the firmware starts the TPM at the platform reset
            yield self.kernel.timeout(self.params.full_boot_seconds)
            self._measure_boot_chain()
            self.quick_boots_since_full = 0
            self.last_boot_quick = False
        self.power_state = PowerState.POWERED_ON
        # The vTA daemons are part of the image and start with the host (service policy
        # "start and stop with host"): a daemon that crashed or was stopped runs again.
        for daemon in sorted(self.services):
            if not self.services[daemon]:
                self.services[daemon] = True
                self.kernel.log(self.name, f"{daemon}.log", f"{daemon} started at boot")
        record = BootRecord(self.kernel.now, mode, self.running_image.key,
                            self.measured_version or "")
        self.boots.append(record)
        fields: dict[str, Any] = {"host": self.name, "mode": mode.value,
                                  "version": record.version,
                                  "measured_version": record.measured_version}
        if self.tpm is not None:
            fields["reset_count"] = self.tpm.reset_count
        self.kernel.record(self.source, "host.boot.complete", **fields)
        for hook in list(self.on_up):
            hook(self, mode)

    def _measure_full_boot(self) -> None:
        """A whole full boot at once (hosts that were up before T=0)."""
        self._tpm_platform_reset()
        self._measure_boot_chain()

    def _tpm_platform_reset(self) -> None:
        """Platform reset: the TPM is powered and started (a TPM Reset) at the start of a
        full boot, so a power loss during the boot is an unorderly TPM power cycle."""
        if self.tpm is None:
            return
        self.tpm.power_on(self._ms())
        self.tpm.startup_clear()
        self.kernel.record(self.source, "tpm.reset", host=self.name,
                           reset_count=self.tpm.reset_count,
                           restart_count=self.tpm.restart_count, safe=self.tpm.safe,
                           **self._tpm_identity())

    def _measure_boot_chain(self) -> None:
        """Firmware then esx-boot measure the running image (end of a full boot)."""
        self.measured_image = self.running_image
        if self.tpm is None:
            return

        if self.firmware is not None:
            measure_firmware(self.tpm, self.firmware)
        measure_esx_boot(self.tpm, self.running_image, self.host_specific())
        self.kernel.record(self.source, "tpm.measured", host=self.name,
                           version=self.running_image.key, events=len(self.tpm.log.events))

    def _tpm_identity(self) -> dict[str, str | None]:
        """The TPM's identity for the trace: its EK fingerprint and its EK certificate's
        issuer (what the invariants compare with the TA cluster's trusted TPM objects).
        A pure function of the EK and the certificate: worked out again only when either
        is another object (a replaced TPM, a new certificate)."""
        assert self.tpm is not None
        ek, der = self.tpm.ek, self.tpm.ek_certificate_der
        known = self._identity
        if known is None or known[0] is not ek or known[1] is not der:
            known = self._identity = (ek, der, self._tpm_identity_of(ek, der))
        return dict(known[2])

    @staticmethod
    def _tpm_identity_of(ek: crypto.PrivateKey, der: bytes | None) -> dict[str, str | None]:
        return {"ek": crypto.sha256(crypto.public_der(ek)).hex(),
                "ek_issuer": None if der is None
                else _issuer(der)}

    def _ms(self) -> int:
        return int(round(self.kernel.now * 1000))

    def _tpm_orderly_off(self) -> None:
        """ESXi sends TPM2_Shutdown(CLEAR), then the platform loses power (a TPM Reset next)."""
        if self.tpm is not None and self.tpm.powered:
            self.tpm.shutdown(orderly=True)
            self.tpm.power_off(self._ms())

    def _down(self, reason: str) -> None:
        for hook in list(self.on_down):
            hook(self, reason)
