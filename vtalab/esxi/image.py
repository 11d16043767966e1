"""ESXi images: what a host boots, and what its bootloader measures.

An image is a version/build plus the **boot modules** listed in ``boot.cfg`` (``b.b00``,
``k.b00``, ``s.v00``, ``sb.v00``, ``esxupdt.v00``, VIB payloads ...) and the ``.gz`` boot
options. Module payloads are not simulated byte for byte; each module has a SHA-256 digest
derived from the build and module name, so the same build always measures the same way
and two builds never do. The ELF modules ``b.b00`` and ``k.b00`` carry a ``.version``
section (:attr:`BootModule.version_section`); esx-boot measures the **first** record of
it into PCR 13, for those two modules only (``uefi/efiutils/tpm.c``: ``systemModules``
marks ``b`` and ``k`` ``versioned``; ``tpm_extend_version`` "Take only the first
record"). :attr:`EsxiImage.version_records` is what that yields.

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
    "VERSIONED_MODULES",
    "VersionRecord",
    "is_versioned",
    "module_pcr",
    "standard_image",
]

#: PCRs used by VMware's esx-boot (uefi/efiutils/tpm.c and mboot).
PCR_ESXUPDT = 11  #: the esxupdt module
PCR_CORE = 12  #: the core modules b, k, s, sb
PCR_MODULES = 13  #: all other boot modules and the version records
PCR_BOOT_OPTIONS = 14  #: .gz boot options, signer certificates, command line, NV asset tag

_CORE = ("b", "k", "s", "sb")
#: The modules whose first ``.version`` record esx-boot measures (tpm.c ``systemModules``,
#: ``versioned = true``); every other module's version section, if any, is not read.
VERSIONED_MODULES = ("b", "k")

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


def _stem(name: str) -> str:
    """tpm.c's normalised name: the basename up to its *last* dot (``b.b00`` -> ``b``)."""
    base = name.rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] if "." in base else base


def is_versioned(name: str) -> bool:
    """Whether esx-boot measures a version record for the module ``name``."""
    return _stem(name) in VERSIONED_MODULES


def module_pcr(name: str) -> int:
    """The PCR esx-boot extends for a boot module called ``name``."""
    stem = _stem(name)
    if stem == "esxupdt":
        return PCR_ESXUPDT
    if stem in _CORE:
        return PCR_CORE
    base = name.rsplit("/", 1)[-1]
    if "." in base and base.rsplit(".", 1)[1] == "gz":  # tpm.c: the last extension
        return PCR_BOOT_OPTIONS
    return PCR_MODULES


@dataclass(frozen=True, slots=True)
class VersionRecord:
    """A version record esx-boot measures into PCR 13 (component, product, version)."""

    component: str
    product: str
    version: str


@dataclass(frozen=True, slots=True)
class BootModule:
    """One module from ``boot.cfg``: its file name and the SHA-256 of its payload."""

    name: str
    digest: bytes
    host_specific: bool = False
    #: the records of the module's ELF ``.version`` section, in section order (empty: none)
    version_section: tuple[VersionRecord, ...] = ()

    @property
    def measured_version(self) -> VersionRecord | None:
        """The record esx-boot measures before this module: the section's first, and
        only for ``b`` and ``k`` (tpm.c ``tpm_extend_module`` / ``tpm_extend_version``)."""
        if self.version_section and is_versioned(self.name):
            return self.version_section[0]
        return None

    @property
    def pcr(self) -> int:
        return module_pcr(self.name)


@dataclass(frozen=True, slots=True)
class HostSpecific:
    """The measured items that differ from host to host (tolerated by base images)."""

    imgdb_digest: bytes
    onetime_digest: bytes
    cmdline: str
    asset_tag: str = ""

    @classmethod
    def for_host(cls, host: str, build: int, cmdline: str = "") -> HostSpecific:
        """A host's items for a build. Remembered: frozen and a pure function of the
        arguments, and every full boot of the host asks for them again."""
        made = _host_specific(host, build, cmdline)
        if cls is HostSpecific:
            return made
        return cls(made.imgdb_digest, made.onetime_digest, made.cmdline, made.asset_tag)


@functools.lru_cache(maxsize=4096, typed=True)
def _host_specific(host: str, build: int, cmdline: str) -> HostSpecific:
    def d(what: str) -> bytes:
        return hashlib.sha256(f"vtalab-host|{host}|{build}|{what}".encode()).digest()

    return HostSpecific(imgdb_digest=d("imgdb.tgz"), onetime_digest=d("onetime.tgz"),
                        cmdline=cmdline or "runweasel", asset_tag="")


@dataclass(frozen=True, slots=True)
class EsxiImage:
    """An ESXi image: ``version`` like ``8.0.2``, ``build`` like ``22380479``."""

    version: str
    build: int
    modules: tuple[BootModule, ...]
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

    @property
    def version_records(self) -> tuple[VersionRecord, ...]:
        """The version records esx-boot measures for this image, in boot order: one for
        each of ``b.b00`` and ``k.b00``, the first of its ``.version`` section."""
        return tuple(v for m in self.modules if (v := m.measured_version) is not None)

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
    full = f"{version}-{build}"
    # What the .version sections hold is not public (only their layout, in tpm.c); the
    # contents here are an assumption, documented in docs/attestation.md. k.b00's section
    # holds two records so that "esx-boot takes only the first" is exercised.
    sections = {
        "b.b00": (VersionRecord("vmkBoot", "VMware ESXi", full),),
        "k.b00": (VersionRecord("esx", "VMware ESXi", full),
                  VersionRecord("esx-base", "VMware ESXi", full)),
    }
    modules = tuple(BootModule(n, _module_digest(build, n), version_section=sections.get(n, ()))
                    for n in STANDARD_MODULES)
    components = (("ESXi", full), ("esx-update", full), ("esx-base", full))
    return EsxiImage(version=version, build=build, modules=modules,
                     release_name=release_name, components=components)
