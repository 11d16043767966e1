"""The vCenter Server releases the lab can run or upgrade to (the vCenter catalogue).

Each entry: release **name** as the release notes give it (``8.0 U3``), the appliance
**version** (``8.0.3``, compared with an ESXi host's version string), the **ISO build**
the release notes, the installer and the VAMI show, the public release **date**, and
whether it ships the vSphere Trust Authority API.

Source: Broadcom KB 326316 *Build numbers and versions of VMware vCenter Server* (formerly
VMware KB 2143838) and the vCenter Server release notes of each release (ISO build column).
The 9.0 entry: vCenter Server 9.0 release notes (VCF 9.0, 2025-06-17). The Trust Authority
API flag: the vSphere Automation API reference marks every ``vcenter/trusted-infrastructure``
resource "deprecated as of vSphere API 8.0.3.0 and removed in vSphere API 9.0.0.0 ... API
is disabled and returns errors as of vSphere API 9.0.0.0"
(developer.broadcom.com/xapis/vsphere-automation-api/latest/vcenter/
vcenter-trusted-infrastructure-trust-authority-hosts-attestation).

Only the GA/update releases are listed (the lab does not need every vCenter patch); a
plan names one by name (``8.0 U3``), version (``8.0.3``) or ISO build.
"""

from __future__ import annotations

from dataclasses import dataclass

from vtalab.errors import InputError

__all__ = ["API_DISABLED_ERROR", "API_REMOVED_SOURCE", "VCENTER_RELEASES", "VcRelease",
           "is_trust_authority_verb", "vcenter_release", "version_tuple"]

#: Reason code of a vTA cmdlet against a vCenter whose trusted-infrastructure API is gone.
API_DISABLED_ERROR = "trust_authority_api_disabled"
#: Where the public record says so.
API_REMOVED_SOURCE = (
    "vSphere Automation API reference, vcenter/trusted-infrastructure (e.g. 'Trust Authority "
    "Hosts Attestation APIs'): 'deprecated as of vSphere API 8.0.3.0 and removed in vSphere "
    "API 9.0.0.0 ... API is disabled and returns errors as of vSphere API 9.0.0.0', "
    "https://developer.broadcom.com/xapis/vsphere-automation-api/latest/vcenter/"
    "vcenter-trusted-infrastructure-trust-authority-hosts-attestation")


def is_trust_authority_verb(name: str) -> bool:
    """A cmdlet of the vTA API (TA cluster objects, trusted clusters, principals)."""
    return any(part in name for part in ("TrustAuthority", "TrustedCluster", "TrustedPrincipal"))


@dataclass(frozen=True, slots=True)
class VcRelease:
    name: str
    version: str
    build: int
    date: str
    #: False from 9.0: the trusted-infrastructure API is disabled and returns errors.
    trust_authority_api: bool = True

    @property
    def key(self) -> str:
        return f"{self.version}-{self.build}"

    @property
    def display_name(self) -> str:
        return f"vCenter Server {self.version} build {self.build} ({self.name})"


VCENTER_RELEASES: tuple[VcRelease, ...] = (
    VcRelease("7.0 U3", "7.0.3", 18700403, "2021-10-05"),
    VcRelease("8.0 GA", "8.0.0", 20519528, "2022-10-11"),
    VcRelease("8.0 U1", "8.0.1", 21560480, "2023-04-18"),
    VcRelease("8.0 U2", "8.0.2", 22385739, "2023-09-21"),
    VcRelease("8.0 U3", "8.0.3", 24022515, "2024-06-25"),
    VcRelease("9.0 GA", "9.0.0", 24755230, "2025-06-17", trust_authority_api=False),
)


def version_tuple(version: str) -> tuple[int, ...]:
    """``8.0.3`` -> (8, 0, 3); also accepts ESXi keys (``8.0.3-24022510``)."""
    return tuple(int(p) for p in version.split("-")[0].split(".")[:3])


def vcenter_release(spec: str | int) -> VcRelease:
    """A vCenter release by name (``8.0 U3``), version (``8.0.3``), key or ISO build."""
    text = str(spec).strip()
    norm = text.lower().replace("vcenter server", "").replace("update ", "u").replace(" ", "")
    for r in VCENTER_RELEASES:
        if norm in (r.name.lower().replace(" ", ""), r.version, r.key, str(r.build),
                    r.name.lower().replace(" ga", "").replace(" ", "")):
            return r
    raise InputError(f"unknown vCenter release {text!r}", what="vCenter releases",
                     value=text, choices=[r.name for r in VCENTER_RELEASES])
