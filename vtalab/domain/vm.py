"""Virtual machines, encrypted or not.

An encrypted VM needs its key **on the host** to power on, to be encrypted, or to arrive by
vMotion; what an unattested host does to them is :mod:`vtalab.world.vm_ops`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LOCKED_KEY", "LOCKED_PROVIDER", "Vm"]

LOCKED_PROVIDER = "com.vmware.vc.vm.Crypto.VMLocked.TAKMSClusterUnavaliable"
LOCKED_KEY = "com.vmware.vc.vm.Crypto.VMLocked.TAKeyMissingOnHost"


@dataclass
class Vm:
    name: str
    host: str
    encrypted: bool = False
    key_id: str | None = None
    power_state: str = "poweredOff"
    last_error: str | None = None
    locked: bool = False
