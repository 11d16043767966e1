"""ESXi images: what a host boots, and what its bootloader measures.

An image is a version/build plus the **boot modules** listed in ``boot.cfg`` (``b.b00``,
``k.b00``, ``s.v00``, ``sb.v00``, ``esxupdt.v00``, VIB payloads ...), the ``.gz`` boot
options, and the **version records** the bootloader measures into PCR 13. Module payloads
are not simulated byte for byte; each module has a SHA-256 digest derived from the build
and module name, so the same build always measures the same way and two builds never do.

Some measured items are **host-specific** (the package database ``imgdb.tgz``, the
``onetime.tgz`` state, the kernel command line, the NV asset tag): a base image exported
from one host describes the fleet-wide part and tolerates these (Intel SecL's ESXi
template does the same) — see ``HostSpecific``.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field

__all__ = [
    "BootModule",
    "EsxiImage",
    "HostSpecific",
    "PCR_BOOT_OPTIONS",
    "PCR_CORE",
    "PCR_ESXUPDT",
    "PCR_MODULES",
    "VersionRecord",
    "module_pcr",
    "standard_image",
]

#: PCRs used by VMware's esx-boot (uefi/efiutils/tpm.c and mboot).
PCR_ESXUPDT = 11  #: the esxupdt module
PCR_CORE = 12  #: the core modules b, k, s, sb
PCR_MODULES = 13  #: all other boot modules and the version records
PCR_BOOT_OPTIONS = 14  #: .gz boot options, signer certificates, command line, NV asset tag

_CORE = ("b", "k", "s", "sb")

#: The boot modules of a standard ESXi 7.0/8.0 image, in boot.cfg order (a representative
#: subset: real images list ~60 VIB payloads; every one is measured the same way).
STANDARD_MODULES = (
    "b.b00", "jumpstrt.gz", "useropts.gz", "features.gz", "k.b00", "uc_intel.b00",
    "uc_amd.b00", "uc_hygon.b00", "procfs.b00", "vmx.v00", "vim.v00", "tpm.v00", "sb.v00",
    "s.v00", "atlantic.v00", "bnxtnet.v00", "i40en.v00", "nvme_pci.v00", "vmkusb.v00",
    "crx.v00", "esx_dvfi.v00", "esx_ui.v00", "esxupdt.v00", "tpmesxup.v00", "weaselin.v00",
    "loadesx.v00", "lsuv2_hp.v00", "basemisc.tgz", "resvibs.tgz", "imgpayld.tgz",
)

#: Host-specific modules: present on every host, different contents per host.
HOST_SPECIFIC_MODULES = ("imgdb.tgz", "onetime.tgz")


def module_pcr(name: str) -> int:
    """The PCR esx-boot extends for a boot module called ``name``."""
    stem = name.split(".", 1)[0]
    if stem == "esxupdt":
        return PCR_ESXUPDT
    if stem in _CORE:
        return PCR_CORE
    if name.endswith(".gz") and not name.endswith(".tgz"):
        return PCR_BOOT_OPTIONS
    return PCR_MODULES


@dataclass(frozen=True, slots=True)
class BootModule:
    """One module from ``boot.cfg``: its file name and the SHA-256 of its payload."""

    name: str
    digest: bytes
    host_specific: bool = False

    @property
    def pcr(self) -> int:
        return module_pcr(self.name)


@dataclass(frozen=True, slots=True)
class VersionRecord:
    """A version record esx-boot measures into PCR 13 (component, product, version)."""

    component: str
    product: str
    version: str


@dataclass(frozen=True, slots=True)
class HostSpecific:
    """The measured items that differ from host to host (tolerated by base images)."""

    imgdb_digest: bytes
    onetime_digest: bytes
    cmdline: str
    asset_tag: str = ""

    @classmethod
    def for_host(cls, host: str, build: int, cmdline: str = "") -> HostSpecific:
        def d(what: str) -> bytes:
            return hashlib.sha256(f"vtalab-host|{host}|{build}|{what}".encode()).digest()

        return cls(imgdb_digest=d("imgdb.tgz"), onetime_digest=d("onetime.tgz"),
                   cmdline=cmdline or "runweasel", asset_tag="")


@dataclass(frozen=True, slots=True)
class EsxiImage:
    """An ESXi image: ``version`` like ``8.0.2``, ``build`` like ``22380479``."""

    version: str
    build: int
    modules: tuple[BootModule, ...]
    version_records: tuple[VersionRecord, ...]
    signer: str = "VMware, Inc."
    release_name: str = ""
    components: tuple[tuple[str, str], ...] = field(default=())

    @property
    def key(self) -> str:
        """The base-image version string, ``8.0.2-22380479``."""
        return f"{self.version}-{self.build}"

    @property
    def display_name(self) -> str:
        suffix = f" ({self.release_name})" if self.release_name else ""
        return f"ESXi {self.key}{suffix}"

    def module(self, name: str) -> BootModule:
        for m in self.modules:
            if m.name == name:
                return m
        raise KeyError(name)

    def fleet_digests(self) -> dict[str, bytes]:
        """Digests of the fleet-wide modules (what a base image pins), by module name."""
        return {m.name: m.digest for m in self.modules if not m.host_specific}


def _module_digest(build: int, name: str) -> bytes:
    return hashlib.sha256(f"vtalab-esxi|{build}|{name}".encode()).digest()


@functools.lru_cache(maxsize=256, typed=True)
def standard_image(version: str, build: int, release_name: str = "") -> EsxiImage:
    """The standard image of an ESXi release (deterministic module digests).

    Remembered: the image is immutable (frozen, tuples) and a pure function of the
    arguments, and every boot and upgrade asks for it again."""
    modules = tuple(BootModule(n, _module_digest(build, n)) for n in STANDARD_MODULES)
    full = f"{version}-{build}"
    records = (
        VersionRecord("esx", "VMware ESXi", full),
        VersionRecord("esx-base", "VMware ESXi", full),
        VersionRecord("bootloader", "esx-boot", full),
    )
    components = (("ESXi", full), ("esx-update", full), ("esx-base", full))
    return EsxiImage(version=version, build=build, modules=modules, version_records=records,
                     release_name=release_name, components=components)
