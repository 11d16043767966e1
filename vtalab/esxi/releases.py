"""The public ESXi releases from 7.0 GA through the last 8.0 U3 patch (8.0 U3k) and 9.0 GA.

Every entry is a :class:`Release`: the release **name** VMware uses in release notes
(``8.0 U2``, ``7.0 U3c``, ``8.0a``), the **version** string the host reports
(``esxcli system version get``: ``8.0.2``), the ISO/image **build** number, the public
**release date** and its **kind** (``GA``, ``update`` or ``patch``). The catalog is static
data; nothing here is mutated at run time.

Source
------
The catalog is transcribed from Broadcom KB 316595 *Build numbers and versions of VMware
ESXi/ESX* (formerly VMware KB 2143832), columns *Version* / *Release Name* / *Release
Date* / *Build Number*, and every name/build pair was cross-checked against the build
table of Wireshark's VMware heartbeat dissector (``epan/dissectors/packet-vmware-hb.c``,
which is itself taken from that KB). Fields:

``name``
    the KB *Release Name* without the ``ESXi`` prefix, ``Update N`` shortened to ``UN``
    (``ESXi 8.0 Update 2b`` → ``8.0 U2b``); the major releases are ``7.0 GA``/``8.0 GA``.
``version``
    the first three fields of the KB *Version* column / of the host's version string
    (``ESXi 8.0.2 P03`` → ``8.0.2``). Patches carry the version of the update they patch,
    so ``8.0 U1d`` (released after ``8.0 U2b``) is ``8.0.1``.
``build``
    the KB *Build Number* (the ISO/image-profile build, e.g. ``ESXi-8.0U2b-23305546``).
``date``
    the KB *Release Date*, as ISO ``YYYY-MM-DD``.
``kind``
    ``GA`` for 7.0/8.0 GA, ``update`` for ``U1``/``U2``/``U3``, ``patch`` for every lettered
    release (express patches and patch releases alike).

Releases after 2024 (and 8.0d, 2024-10-07, which the first transcription missed) carry
their own source (:attr:`Release.source`), because the KB text itself was not in reach
when they were added (2026-12-06); each name/build/date comes from Broadcom's own data
and was checked against a second public text:

* **8.0 line patches 8.0d … 8.0g, 8.0 U2d … U2f, 8.0 U3d … U3k** — the ESX marketing
  version table of Broadcom's VCF upgrade pre-check tool (github.com/vmware/vcfcheck,
  ``Data/MarketingVersionAliases/EsxMarketingVersionAliases.json``: name, version.build,
  release date), whose every pre-2025 entry agrees with the KB rows above, and whose
  dates agree with the interoperability data next to it (``Data/Interoperability/Esx.json``
  ``gaDate``). Second texts: KB 395110 (8.0 U3e is ``8.0.3-0.70.24674464``), VMSA-2025-0004
  (``ESXi80U3d-24585383``, ``ESXi80U2d-24585300``), VMSA-2025-0013 (8.0 U3f fixed in
  24784735), the 8.0 U3g … U3k release-note links and dates republished in public
  inventories (U3k: ``ESXi80U3k-25595708``, 2026-07-29). **8.0 U3k (2026-07-29) is the
  last 8.0 U3 patch in that data**; a later one (searched: "ESXi 8.0 Update 3l") was not
  found and is not listed.
* **9.0 GA** — VMware Cloud Foundation 9.0 release notes, *Bill of Materials*: "VMware ESX
  9.0.0.0 24755229" (techdocs.broadcom.com/…/vmware-cloud-foundation-bill-of-materials),
  GA date 2025-06-17 (vcfcheck ``Esx.json`` ``9.0.0.0``), and ``esxcli system version
  get`` of a 9.0 host (``Version: 9.0.0``, ``Build: Releasebuild-24755229``). From 9.0 VMware
  calls the hypervisor *ESX* and versions it ``9.0.0.0``; the catalogue keeps the
  three-field ``9.0.0`` the host reports. Later 9.x releases (9.0.0.0100, 9.0.1, 9.0.2,
  9.1 …) are left out: vTA's API is disabled from 9.0 (see
  :mod:`vtalab.domain.vcenter_releases`), so the lab needs only the first 9.x release.

Deliberately left out: the security-only ``s`` images (``7.0bs``, ``8.0 U2sb`` ...), the
withdrawn 7.0 U3a (18825058) and U3b (18905247) whose release dates the KB no longer
lists, hot patches, and the 7.0 patches after 2024 (7.0 U3s ...; not in the sources
above). One caveat: 7.0 U3 (18644231) was also withdrawn and is no longer in the
KB table; its build is confirmed by the Wireshark table, its date (2021-10-05, the
vSphere 7.0 U3 GA date) is not from the KB. The KB dates 7.0 U3p 2024-04-11, although the
VMSA-2024-0006 fix it carries was announced on 2024-03-05.

Ordering
--------
:data:`RELEASES` is chronological (date, then build). Build numbers are **not** a total
order of "newer": VMware keeps patching older update lines, so ``8.0 U1d`` (2024-03-05,
23299997) came out after ``8.0 U2b`` (2024-02-29, 23305546) with a smaller build. Within
one update line (one version string) builds do rise with time. The upgrade order is
``(major, version, build)`` — see :func:`sort_key` and :func:`is_upgrade`; moving to a
higher version that was released *before* the current one is a "back-in-time" upgrade
(it lacks fixes the current one has), see :func:`is_back_in_time`.

Lookup
------
:func:`lookup` accepts, case- and space-insensitively:

* a key ``8.0.2-22380479`` (also the long form ``8.0.2-0.0.22380479`` of ``boot.cfg``);
* a build, as ``22380479`` or the int ``22380479``;
* a name ``8.0 U2``, ``8.0U2``, ``ESXi 8.0 Update 2``, ``ESXi80U2`` (VMSA style),
  ``8.0`` / ``8.0 GA``; an image-profile name ``ESXi-8.0U2b-23305546-standard`` is
  looked up by its build and must agree with its name;
* a bare version string ``8.0.2``. Several releases share a version string (``8.0 U2``,
  ``8.0 U2b``, ``8.0 U2c`` are all ``8.0.2``); the rule is that a bare version means the
  **GA/update release** that introduced it (``8.0.2`` → ``8.0 U2``, ``7.0.0`` → ``7.0 GA``),
  never a later patch. Use a key, build or name to reach a patch.

An unknown spec raises :class:`vtalab.errors.InputError` naming the nearest known
releases: by build-number distance for numeric input, by spelling otherwise.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from typing import Literal

from vtalab.errors import InputError
from vtalab.esxi.image import EsxiImage, standard_image

__all__ = [
    "KINDS",
    "RELEASES",
    "Release",
    "SOURCE",
    "by_build",
    "image_for",
    "is_back_in_time",
    "is_upgrade",
    "latest",
    "line",
    "lookup",
    "releases_markdown",
    "sort_key",
]

#: Where the catalog comes from (see the module docstring for the field mapping).
SOURCE = (
    "Broadcom KB 316595 (formerly VMware KB 2143832) 'Build numbers and versions of "
    "VMware ESXi/ESX', cross-checked against Wireshark's packet-vmware-hb.c build table"
)

Kind = Literal["GA", "update", "patch"]
KINDS: tuple[str, ...] = ("GA", "update", "patch")


@dataclass(frozen=True, slots=True)
class Release:
    """One public ESXi release: ``Release("8.0 U2", "8.0.2", 22380479, "2023-09-21", "update")``."""

    name: str  #: "8.0 U2"
    version: str  #: "8.0.2"
    build: int  #: 22380479
    date: str  #: ISO date, "2023-09-21"
    kind: Kind  #: "GA" | "update" | "patch"
    #: where this row comes from (every row before 2025 but 8.0d: :data:`SOURCE`)
    source: str = ""

    @property
    def cited(self) -> str:
        """The source of this row: its own, or the catalogue's."""
        return self.source or SOURCE

    @property
    def key(self) -> str:
        """The base-image version string, ``8.0.2-22380479`` (same as ``EsxiImage.key``)."""
        return f"{self.version}-{self.build}"

    @property
    def label(self) -> str:
        """``ESXi 8.0 U2 (8.0.2-22380479)``."""
        return f"ESXi {self.name} ({self.key})"

    @property
    def major(self) -> str:
        """The major line, ``7.0`` or ``8.0``."""
        return self.version.rsplit(".", 1)[0]

    @property
    def version_tuple(self) -> tuple[int, int, int]:
        a, b, c = (int(p) for p in self.version.split("."))
        return (a, b, c)

    def __str__(self) -> str:
        return self.label


def _r(name: str, version: str, build: int, date: str, kind: Kind = "patch",
       source: str = "") -> Release:
    return Release(name, version, build, date, kind, source)


#: Source of the 8.0 patches from 8.0d on (see the module docstring for the second texts).
VCFCHECK = ("Broadcom VCF Check (github.com/vmware/vcfcheck) Data/MarketingVersionAliases/"
            "EsxMarketingVersionAliases.json and Data/Interoperability/Esx.json")
_RN = "https://techdocs.broadcom.com/us/en/vmware-cis/vsphere/vsphere/8-0/release-notes/" \
      "esxi-update-and-patch-release-notes/vsphere-esxi-80u3{}-release-notes.html"
#: Source of ESXi 9.0 GA.
VCF90_BOM = ("VMware Cloud Foundation 9.0 release notes, Bill of Materials ('VMware ESX "
             "9.0.0.0 24755229'), https://techdocs.broadcom.com/us/en/vmware-cis/vcf/"
             "vcf-9-0-and-later/9-0/release-notes/vmware-cloud-foundation-90-release-notes/"
             "vmware-cloud-foundation-bill-of-materials.html; GA 2025-06-17: " + VCFCHECK)


def _u3(letter: str) -> str:
    return f"{VCFCHECK}; release notes {_RN.format(letter)}"


#: Every catalogued release, in chronological order (date, then build).
RELEASES: tuple[Release, ...] = (
    _r("7.0 GA", "7.0.0", 15843807, "2020-04-02", "GA"),
    _r("7.0b", "7.0.0", 16324942, "2020-06-23"),
    _r("7.0 U1", "7.0.1", 16850804, "2020-10-06", "update"),
    _r("7.0 U1a", "7.0.1", 17119627, "2020-11-04"),
    _r("7.0 U1b", "7.0.1", 17168206, "2020-11-19"),
    _r("7.0 U1c", "7.0.1", 17325551, "2020-12-17"),
    _r("7.0 U1d", "7.0.1", 17551050, "2021-02-02"),
    _r("7.0 U2", "7.0.2", 17630552, "2021-03-09", "update"),
    _r("7.0 U2a", "7.0.2", 17867351, "2021-04-29"),
    _r("7.0 U2c", "7.0.2", 18426014, "2021-08-24"),
    _r("7.0 U2d", "7.0.2", 18538813, "2021-09-14"),
    _r("7.0 U3", "7.0.3", 18644231, "2021-10-05", "update"),
    _r("7.0 U3c", "7.0.3", 19193900, "2022-01-27"),
    _r("7.0 U2e", "7.0.2", 19290878, "2022-02-15"),
    _r("7.0 U1e", "7.0.1", 19324898, "2022-02-15"),
    _r("7.0 U3d", "7.0.3", 19482537, "2022-03-29"),
    _r("7.0 U3e", "7.0.3", 19898904, "2022-06-14"),
    _r("7.0 U3f", "7.0.3", 20036589, "2022-07-12"),
    _r("7.0 U3g", "7.0.3", 20328353, "2022-09-01"),
    _r("8.0 GA", "8.0.0", 20513097, "2022-10-11", "GA"),
    _r("7.0 U3i", "7.0.3", 20842708, "2022-12-08"),
    _r("8.0a", "8.0.0", 20842819, "2022-12-08"),
    _r("7.0 U3j", "7.0.3", 21053776, "2023-01-31"),
    _r("8.0b", "8.0.0", 21203435, "2023-02-14"),
    _r("7.0 U3k", "7.0.3", 21313628, "2023-02-21"),
    _r("7.0 U3l", "7.0.3", 21424296, "2023-03-30"),
    _r("8.0c", "8.0.0", 21493926, "2023-03-30"),
    _r("8.0 U1", "8.0.1", 21495797, "2023-04-18", "update"),
    _r("7.0 U3m", "7.0.3", 21686933, "2023-05-03"),
    _r("8.0 U1a", "8.0.1", 21813344, "2023-06-01"),
    _r("7.0 U3n", "7.0.3", 21930508, "2023-07-07"),
    _r("8.0 U1c", "8.0.1", 22088125, "2023-07-27"),
    _r("8.0 U2", "8.0.2", 22380479, "2023-09-21", "update"),
    _r("7.0 U3o", "7.0.3", 22348816, "2023-09-28"),
    _r("8.0 U2b", "8.0.2", 23305546, "2024-02-29"),
    _r("8.0 U1d", "8.0.1", 23299997, "2024-03-05"),
    _r("7.0 U3p", "7.0.3", 23307199, "2024-04-11"),
    _r("7.0 U3q", "7.0.3", 23794027, "2024-05-21"),
    _r("8.0 U2c", "8.0.2", 23825572, "2024-05-21"),
    _r("8.0 U3", "8.0.3", 24022510, "2024-06-25", "update"),
    _r("8.0 U3b", "8.0.3", 24280767, "2024-09-17"),
    _r("8.0d", "8.0.0", 24118393, "2024-10-07", source=VCFCHECK),
    _r("7.0 U3r", "7.0.3", 24411414, "2024-12-12"),
    _r("8.0 U3c", "8.0.3", 24414501, "2024-12-12"),
    _r("8.0 U2d", "8.0.2", 24585300, "2025-03-04",
       source=VCFCHECK + "; VMSA-2025-0004 (ESXi80U2d-24585300)"),
    _r("8.0 U3d", "8.0.3", 24585383, "2025-03-04",
       source=_u3("d") + "; VMSA-2025-0004 (ESXi80U3d-24585383)"),
    _r("8.0e", "8.0.0", 24569005, "2025-03-11", source=VCFCHECK),
    _r("8.0 U3e", "8.0.3", 24674464, "2025-04-10",
       source=_u3("e") + "; Broadcom KB 395110 (8.0 U3e = 8.0.3-0.70.24674464)"),
    _r("9.0 GA", "9.0.0", 24755229, "2025-06-17", "GA", source=VCF90_BOM),
    _r("8.0 U3f", "8.0.3", 24784735, "2025-07-15",
       source=_u3("f") + "; VMSA-2025-0013 (fixed in 24784735)"),
    _r("8.0 U2e", "8.0.2", 24789317, "2025-07-15", source=VCFCHECK),
    _r("8.0f", "8.0.0", 24814147, "2025-07-15", source=VCFCHECK),
    _r("8.0 U3g", "8.0.3", 24859861, "2025-07-29", source=_u3("g")),
    _r("8.0 U3h", "8.0.3", 25067014, "2025-12-15", source=_u3("h")),
    _r("8.0g", "8.0.0", 25191479, "2026-02-13", source=VCFCHECK),
    _r("8.0 U3i", "8.0.3", 25205845, "2026-02-24", source=_u3("i")),
    _r("8.0 U3j", "8.0.3", 25429389, "2026-05-27", source=_u3("j")),
    _r("8.0 U3k", "8.0.3", 25595708, "2026-07-29", source=_u3("k")),
    _r("8.0 U2f", "8.0.2", 25626445, "2026-08-03", source=VCFCHECK),
)

_BY_BUILD: dict[int, Release] = {r.build: r for r in RELEASES}
_BY_KEY: dict[str, Release] = {r.key: r for r in RELEASES}


@functools.lru_cache(maxsize=1024)
def _norm_name(text: str) -> str:
    """Canonical spelling of a release name: ``ESXi 8.0 Update 2`` → ``8.0u2``.

    Remembered (a pure function of the text, bounded): every boot, upgrade and
    judged ``upgrade-host`` step looks its release up by name, five regexes each."""
    s = text.strip().lower()
    s = re.sub(r"^(vmware\s*)?esxi?[\s_-]*", "", s)
    s = re.sub(r"update\s*", "u", s)
    s = re.sub(r"[\s_]+", "", s)
    s = re.sub(r"^(\d)(\d)(?=u|[a-z]?$)", r"\1.\2", s)  # VMSA style: 80U2b -> 8.0u2b
    s = re.sub(r"^(\d+\.\d+)(ga)?$", r"\1ga", s)  # "8.0" and "8.0 GA" are the GA release
    return s


_BY_NAME: dict[str, Release] = {_norm_name(r.name): r for r in RELEASES}
_BY_VERSION: dict[str, Release] = {r.version: r for r in RELEASES if r.kind != "patch"}

_RE_BUILD = re.compile(r"\d{5,9}")
_RE_KEY = re.compile(r"(\d+\.\d+\.\d+)-(?:\d+\.\d+\.)?(\d+)")
_RE_VERSION = re.compile(r"\d+\.\d+\.\d+")
_RE_PROFILE = re.compile(r"(.+?)-(\d{5,9})(?:-[a-z-]+)?")


def by_build(build: int) -> Release | None:
    """The release with this build number, or ``None``."""
    return _BY_BUILD.get(build)


def _nearest_by_build(build: int, n: int = 3) -> list[Release]:
    return sorted(RELEASES, key=lambda r: (abs(r.build - build), r.build))[:n]


def _nearest_by_spelling(text: str, n: int = 3) -> list[Release]:
    """Releases whose name, key or version is closest in spelling to ``text``."""
    spellings: dict[str, Release] = {}
    for r in RELEASES:
        spellings.setdefault(_norm_name(r.name), r)
        spellings.setdefault(r.key, r)
    probe = _norm_name(text) if not _RE_KEY.fullmatch(text) else text
    if _RE_VERSION.fullmatch(text):
        spellings.update({v: r for v, r in _BY_VERSION.items()})
    found: list[Release] = []
    for s in difflib.get_close_matches(probe, list(spellings), n=len(spellings), cutoff=0.0):
        r = spellings[s]
        if r not in found:
            found.append(r)
        if len(found) == n:
            break
    return found


def _unknown(spec: object, reason: str, near: list[Release]) -> InputError:
    shown = ", ".join(r.label for r in near)
    err = InputError(
        f"{reason}; nearest known: {shown}",
        what="ESXi release",
        value=spec,
        choices=[r.key for r in near],
    )
    # InputError guesses its "did you mean" by spelling among the choices; for a build
    # number the nearest is by distance, so make the suggestion agree with the list.
    if near and err.suggestion != near[0].key:
        err.suggestion = near[0].key
        err.args = (err._render(),)
    return err


def lookup(spec: str | int | Release) -> Release:
    """The release named by ``spec`` (key, build, name or version string; see module doc).

    Raises :class:`~vtalab.errors.InputError` for anything not in :data:`RELEASES`.
    """
    if isinstance(spec, Release):
        return spec
    if isinstance(spec, bool) or not isinstance(spec, (str, int)):
        raise InputError(
            f"an ESXi release is named by a string or a build number, not {type(spec).__name__}",
            what="ESXi release", value=spec,
        )
    if isinstance(spec, int):
        return _lookup_build(spec, spec)
    return _lookup_text(spec)


@functools.lru_cache(maxsize=1024)
def _lookup_text(spec: str) -> Release:
    """:func:`lookup` of a string, remembered (bounded; a refused one is not): a pure
    function of the text, asked at every boot, upgrade and judged upgrade step."""
    text = spec.strip()
    if not text:
        raise InputError("empty ESXi release", what="ESXi release", value=spec,
                         choices=[r.key for r in RELEASES[-3:]])
    if text.isdigit():
        return _lookup_build(int(text), spec)
    m = _RE_KEY.fullmatch(text)
    if m:
        version, build = m.group(1), int(m.group(2))
        r = _BY_BUILD.get(build)
        if r is None:
            raise _unknown(spec, f"unknown ESXi build {build} in {text!r}",
                           _nearest_by_build(build))
        if r.version != version:
            raise _unknown(spec, f"build {build} is ESXi {r.name}, version {r.version}, "
                                 f"not {version}", [r])
        return r
    if _RE_VERSION.fullmatch(text):
        r = _BY_VERSION.get(text)
        if r is None:
            raise _unknown(spec, f"unknown ESXi version {text!r}", _nearest_by_spelling(text))
        return r
    r = _BY_NAME.get(_norm_name(text))
    if r is not None:
        return r
    m = _RE_PROFILE.fullmatch(text.lower())
    if m:  # image profile ESXi-8.0U2b-23305546-standard
        build = int(m.group(2))
        r = _BY_BUILD.get(build)
        if r is None:
            raise _unknown(spec, f"unknown ESXi build {build} in {text!r}",
                           _nearest_by_build(build))
        named = _BY_NAME.get(_norm_name(m.group(1)))
        if named is not None and named is not r:
            raise _unknown(spec, f"{text!r} names ESXi {named.name} but build {build} "
                                 f"is ESXi {r.name}", [r, named])
        return r
    raise _unknown(spec, f"unknown ESXi release {text!r}", _nearest_by_spelling(text))


def _lookup_build(build: int, spec: object) -> Release:
    r = _BY_BUILD.get(build)
    if r is None:
        raise _unknown(spec, f"unknown ESXi build {build}", _nearest_by_build(build))
    return r


def image_for(spec: str | int | Release) -> EsxiImage:
    """The standard image of a release (``standard_image(version, build, name)``)."""
    r = lookup(spec)
    return standard_image(r.version, r.build, r.name)


def sort_key(release: str | int | Release) -> tuple[int, int, int, int]:
    """Upgrade order: ``(major, minor, update, build)``; higher is newer code line."""
    r = lookup(release)
    return (*r.version_tuple, r.build)


def is_upgrade(from_release: str | int | Release, to_release: str | int | Release) -> bool:
    """True if moving from ``from_release`` to ``to_release`` goes forward.

    Forward means a higher version string, or the same version with a higher build
    (``8.0 U2`` → ``8.0 U2b``, ``7.0 U3q`` → ``8.0 GA``). Same release → False.
    A forward move can still be "back in time": see :func:`is_back_in_time`.
    """
    return sort_key(to_release) > sort_key(from_release)


def is_back_in_time(from_release: str | int | Release, to_release: str | int | Release) -> bool:
    """True for an upgrade to a release published *before* the current one.

    Such a target lacks the fixes of the newer patch it replaces (``8.0 U1d`` →
    ``8.0 U2b``: 8.0.2 > 8.0.1, but U2b is dated 2024-02-29 and U1d 2024-03-05);
    VMware does not support these moves.
    """
    a, b = lookup(from_release), lookup(to_release)
    return is_upgrade(a, b) and b.date < a.date


def line(spec: str) -> tuple[Release, ...]:
    """The releases of a major line (``"8.0"``) or update line (``"8.0.2"``), in order."""
    s = spec.strip()
    if s.lower().startswith("esxi"):
        s = s[4:].strip()
    if re.fullmatch(r"\d+\.\d+", s):
        found = tuple(r for r in RELEASES if r.major == s)
    elif _RE_VERSION.fullmatch(s):
        found = tuple(r for r in RELEASES if r.version == s)
    else:
        found = ()
    if not found:
        lines = sorted({r.major for r in RELEASES} | {r.version for r in RELEASES})
        raise InputError(f"no ESXi release line {spec!r}", what="ESXi release line",
                         value=spec, choices=lines)
    return found


def latest(spec: str | None = None) -> Release:
    """The most recently published release (of a major or update line, if given)."""
    pool = RELEASES if spec is None else line(spec)
    return max(pool, key=lambda r: (r.date, r.build))


def releases_markdown() -> str:
    """The catalog as Markdown; ``docs/releases.md`` is exactly this text."""
    out = [
        "<!-- Generated by vtalab.esxi.releases.releases_markdown(); do not edit by hand.",
        "     Regenerate: python -m vtalab.esxi.releases > docs/releases.md -->",
        "",
        "# ESXi releases",
        "",
        f"The {len(RELEASES)} public ESXi releases vtalab knows, from "
        f"{RELEASES[0].name} ({RELEASES[0].date}) to {RELEASES[-1].name} "
        f"({RELEASES[-1].date}), oldest first.",
        "",
        f"Source: {SOURCE}.",
        "",
        "`vtalab.esxi.releases.lookup()` accepts the key (`8.0.2-22380479`), the build "
        "(`22380479`), the name (`8.0 U2`, `ESXi 8.0 Update 2`) or a bare version "
        "(`8.0.2`, meaning the GA/update release that introduced it).",
        "",
        "Rows marked * have their own source (listed below the table).",
        "",
        "| Release | Version | Build | Key | Released | Kind |",
        "|---|---|---:|---|---|---|",
    ]
    for r in RELEASES:
        mark = " *" if r.source else ""
        out.append(f"| ESXi {r.name}{mark} | {r.version} | {r.build} | `{r.key}` | {r.date} | "
                   f"{r.kind} |")
    out += ["", "Sources of the rows marked *:", ""]
    out += [f"- ESXi {r.name}: {r.source}" for r in RELEASES if r.source]
    out += [
        "",
        "Patches carry the version of the update they patch, so the build order is not "
        "the upgrade order: ESXi 8.0 U1d (8.0.1, 2024-03-05) came out after "
        "ESXi 8.0 U2b (8.0.2, 2024-02-29) with a smaller build.",
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover
    print(releases_markdown(), end="")
