"""The vCenter Server releases the lab can run or upgrade to (the vCenter catalogue).

Each entry: release **name** as the release notes give it (``8.0 U3``), the appliance
**version** (``8.0.3``, compared with an ESXi host's version string), the **ISO build**
the release notes, the installer and the VAMI show, the public release **date**, whether
it ships the vSphere Trust Authority API, and its **source**.

Sources (checked 2026-12-06 with the search tool; the KB page itself was not in reach, so
every row rests on Broadcom's own data plus a second public text):

* 7.0 U3, 8.0 GA, U1, U2, U3 and 8.0 U3a … U3d — Broadcom KB 326316 *Build numbers and
  versions of VMware vCenter Server* (legacy KB 2143838) as transcribed, with release
  names, dates and ISO builds, in the public ``get-vcenter-version.ps1`` (S. Musil,
  "Based on https://knowledge.broadcom.com/external/article?legacyId=2143838"). Second
  texts: the 7.0 U3 release notes "ISO Build 18700403" (govmomi and NVIDIA docs quote
  them), the ISO names ``VMware-VCSA-all-8.0.0-20519528.iso``, VMSA-2023-0023 (fixed in
  "vCenter 8.0 U2 (22385739)"), and Broadcom's VCF Check tool
  (github.com/vmware/vcfcheck ``VcenterMarketingVersionAliases.json``: builds of
  8.0 U1a … U3k, no dates). **The five GA/update builds the catalogue had before were
  unconfirmed; they are confirmed by these texts, unchanged.**
* 8.0 U3e … U3k — builds from VCF Check (above); dates and release-note links
  (``…/vsphere-vcenter-server-80u3X-release-notes.html``) as republished in public
  inventory code and, for U3e, in an upgrade tool's fallback table ("vCenter Server 8.0
  Update 3e", 8.0.3.00500, 2025-04-11, 24674346). There is no vCenter 8.0 U3f (VCF Check
  and KB-derived lists skip from U3e to U3g; ESXi 8.0 U3f was an ESXi-only patch).
  **8.0 U3k (25600417, 2026-07-29) is the last 8.0 U3 patch found** (searched: "vCenter
  Server 8.0 Update 3l").
* 9.0 GA — VMware Cloud Foundation 9.0 release notes, *Bill of Materials*: "VMware vCenter
  9.0.0.0 24755230" (ISO ``VMware-VCSA-all-9.0.0.0.24755230.iso``), GA 2025-06-17.

The Trust Authority API flag: the vSphere Automation API reference marks every
``vcenter/trusted-infrastructure`` resource "deprecated as of vSphere API 8.0.3.0 and
removed in vSphere API 9.0.0.0 ... API is disabled and returns errors as of vSphere API
9.0.0.0" (developer.broadcom.com/xapis/vsphere-automation-api/latest/vcenter/
vcenter-trusted-infrastructure-trust-authority-hosts-attestation).

Patches of other update lines (8.0a … c, 8.0 U1a … e, 8.0 U2a … f, 7.0 U3a …) are not
listed: the lab's plans move between update releases and along 8.0 U3. A plan names a
release by name (``8.0 U3k``), version (``8.0.3``: the update release that introduced
it, never a patch), key or ISO build. Upgrade order is ``(version, build)``.
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
    #: where the row comes from (see the module docstring)
    source: str = ""

    @property
    def order(self) -> tuple[tuple[int, ...], int]:
        """Upgrade order: version, then build (``8.0 U3`` < ``8.0 U3k`` < ``9.0 GA``)."""
        return (version_tuple(self.version), self.build)

    @property
    def key(self) -> str:
        return f"{self.version}-{self.build}"

    @property
    def display_name(self) -> str:
        return f"vCenter Server {self.version} build {self.build} ({self.name})"


_KB = ("Broadcom KB 326316 (legacy 2143838) as transcribed in the public "
       "get-vcenter-version.ps1")
_VCFCHECK = ("Broadcom VCF Check (github.com/vmware/vcfcheck) Data/MarketingVersionAliases/"
             "VcenterMarketingVersionAliases.json")


def _rn(letter: str) -> str:
    return (f"{_VCFCHECK}; release notes https://techdocs.broadcom.com/us/en/vmware-cis/"
            "vsphere/vsphere/8-0/release-notes/vcenter-server-update-and-patch-release-"
            f"notes/vsphere-vcenter-server-80u3{letter}-release-notes.html")


#: In upgrade order (version, then build); along 8.0 U3 that is also the date order.
VCENTER_RELEASES: tuple[VcRelease, ...] = (
    VcRelease("7.0 U3", "7.0.3", 18700403, "2021-10-05",
              source=_KB + "; vCenter Server 7.0 Update 3 release notes (ISO Build 18700403)"),
    VcRelease("8.0 GA", "8.0.0", 20519528, "2022-10-11",
              source=_KB + "; ISO VMware-VCSA-all-8.0.0-20519528.iso"),
    VcRelease("8.0 U1", "8.0.1", 21560480, "2023-04-18", source=_KB),
    VcRelease("8.0 U2", "8.0.2", 22385739, "2023-09-21",
              source=_KB + "; VMSA-2023-0023 (fixed in vCenter 8.0 U2, 22385739)"),
    VcRelease("8.0 U3", "8.0.3", 24022515, "2024-06-25", source=_KB),
    VcRelease("8.0 U3a", "8.0.3", 24091160, "2024-07-18", source=f"{_KB}; {_VCFCHECK}"),
    VcRelease("8.0 U3b", "8.0.3", 24262322, "2024-09-17", source=f"{_KB}; {_VCFCHECK}"),
    VcRelease("8.0 U3c", "8.0.3", 24305161, "2024-10-09", source=f"{_KB}; {_VCFCHECK}"),
    VcRelease("8.0 U3d", "8.0.3", 24322831, "2024-10-21", source=f"{_KB}; {_VCFCHECK}"),
    VcRelease("8.0 U3e", "8.0.3", 24674346, "2025-04-11", source=_rn("e")),
    VcRelease("8.0 U3g", "8.0.3", 24853646, "2025-07-29", source=_rn("g")),
    VcRelease("8.0 U3h", "8.0.3", 25092719, "2025-12-15", source=_rn("h")),
    VcRelease("8.0 U3i", "8.0.3", 25197330, "2026-02-24", source=_rn("i")),
    VcRelease("8.0 U3j", "8.0.3", 25413364, "2026-05-27", source=_rn("j")),
    VcRelease("8.0 U3k", "8.0.3", 25600417, "2026-07-29", source=_rn("k")),
    VcRelease("9.0 GA", "9.0.0", 24755230, "2025-06-17", trust_authority_api=False,
              source="VMware Cloud Foundation 9.0 release notes, Bill of Materials ('VMware "
                     "vCenter 9.0.0.0 24755230'), https://techdocs.broadcom.com/us/en/"
                     "vmware-cis/vcf/vcf-9-0-and-later/9-0/release-notes/vmware-cloud-"
                     "foundation-90-release-notes/vmware-cloud-foundation-bill-of-materials"
                     ".html"),
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
