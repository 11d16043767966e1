r"""What a full (UEFI) boot of an ESXi host measures, and how a verifier reads it back.

Two measuring parties extend the TPM during a cold boot:

* **Firmware** (TCG PC Client Platform Firmware Profile): the CRTM version and firmware
  volume into PCR 0; the Secure Boot policy — ``SecureBoot``, ``PK``, ``KEK``, ``db``,
  ``dbx`` as ``UEFI_VARIABLE_DATA`` — into PCR 7; ``EV_SEPARATOR`` into PCRs 0–7 when
  handing over to the OS loader; then every EFI image it loads (``LoadImage`` measures
  it, whoever asks), as a ``UEFI_IMAGE_LOAD_EVENT`` with the image's device path:

  1. the boot option "VMware ESXi", ``\EFI\VMware\safeboot64.efi`` on the ESXi boot
     disk's EFI system partition (``HD(1,GPT,…,0x40,0x32000)``), as an
     ``EV_EFI_BOOT_SERVICES_APPLICATION`` in PCR 4 — on UEFI disk boot safeboot runs
     first (esx-boot ``README.md``, "UEFI Boot") and picks the bootbank;
  2. ``mboot64.efi``, which safeboot chainloads (``safeboot/chainload.c``:
     ``MBOOT_PATH "/EFI/VMware/mboot64.efi"`` through ``firmware_file_exec``, which calls
     ``LoadImage`` with the boot volume's device path plus a File node of that path,
     forward slashes as given — ``uefi/efiutils/file.c`` ``firmware_image_load``), again
     an ``EV_EFI_BOOT_SERVICES_APPLICATION`` in PCR 4;
  3. ``crypto64.efi``, the Secure Boot crypto driver mboot loads from its own directory
     before the modules (``mboot/mboot.c`` ``load_crypto_module``), an
     ``EV_EFI_BOOT_SERVICES_DRIVER`` in PCR 2.
* **esx-boot** (``vmware/esx-boot``, ``uefi/efiutils/tpm.c``): every record is an
  ``EV_EVENT_TAG`` whose ``TCG_PCClientTaggedEvent`` carries a VMware tag id:

  ======  ====================  ===========================================  ======
  tag     name in tpm.c         tagged data / record digest                  PCR
  ======  ====================  ===========================================  ======
  2       TPM_VMK_EVENT_MOD     module basename + NUL / SHA-256 of payload   11-13
  3       TPM_VMK_EVENT_BOOT_OPT  ``.gz`` module basename + NUL / payload    14
  4       TPM_VMK_EVENT_CMD_OPT   "<kernel> <options>" (no NUL) / its hash   14
  6       TPM_VMK_EVENT_TAG     NV asset tag (index 0x01C10110) / its hash   14
  7       TPM_VMK_EVENT_SIGNER  signer certificate DER / its hash            14
  8       TPM_VMK_EVENT_VERSION ``vm_version_record_t`` + file name / hash   13
  ======  ====================  ===========================================  ======

  ``esxupdt`` goes to PCR 11, ``b``/``k``/``s``/``sb`` to PCR 12, other ``.gz`` modules
  to PCR 14, every other module (``.tgz`` included) to PCR 13. A version record is
  measured just *before* its module, only for the "versioned" modules ``b`` and ``k``
  (``systemModules``), and only the **first** record of the module's ELF ``.version``
  section ("Take only the first record if there is more than one"): at most one per
  module. Its data is that ``vm_version_record_t`` with the module's file path (as
  ``boot.cfg`` gives it: ``b.b00``) appended and ``fileNameOffset``/``fileNameLen``/
  ``totalSize`` fixed up; the record digest is SHA-256 of exactly that data.

Assumptions (the module payloads are not simulated, see ``vtalab.esxi.image``):

* A module's record digest is its ``BootModule.digest`` (esx-boot hashes the payload).
* ``vm_version_record_t`` is little-endian (x86), ``formatVersion`` 1, ``flags`` 0;
  string offsets are from the record start and lengths include the NUL terminator; the
  section's strings follow the 32-byte header without padding. What the sections say
  (``vmkBoot`` in ``b.b00``; ``esx`` then ``esx-base`` in ``k.b00``) is not public:
  see :func:`vtalab.esxi.image.standard_image`.
* The EFI binaries are not simulated byte for byte: their Authenticode digests, load
  addresses and sizes are fixed placeholders, the same for every build (the system
  partition is shared by both bootbanks). The boot disk is a SATA disk behind
  ``PciRoot(0x0)/Pci(0x17,0x0)``; its system partition GUID is derived from the host.
* Order: modules in ``boot.cfg`` order with the host-specific ``imgdb.tgz`` and
  ``onetime.tgz`` last, then the signer certificate, the command line, the asset tag
  (only when set). The signer "certificate" is deterministic placeholder bytes naming
  ``image.signer`` (no X.509 is built here).
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vtalab.core import crypto
from vtalab.esxi.image import (
    PCR_BOOT_OPTIONS,
    PCR_MODULES,
    EsxiImage,
    HostSpecific,
    VersionRecord,
    is_versioned,
    module_pcr,
)
from vtalab.tpm.device import Tpm
from vtalab.tpm.eventlog import (
    EFI_GLOBAL_VARIABLE,
    EFI_IMAGE_SECURITY_DATABASE_GUID,
    EV_EFI_ACTION,
    EV_EFI_BOOT_SERVICES_APPLICATION,
    EV_EFI_BOOT_SERVICES_DRIVER,
    EV_EFI_PLATFORM_FIRMWARE_BLOB,
    EV_EFI_VARIABLE_AUTHORITY,
    EV_EFI_VARIABLE_DRIVER_CONFIG,
    EV_EVENT_TAG,
    EV_S_CRTM_VERSION,
    EV_SEPARATOR,
    Event,
    ImageLoad,
    Measurements,
    TaggedEvent,
    UefiVariable,
    device_path,
    device_path_files,
    dp_file,
    dp_hard_drive,
    dp_pci,
    dp_pci_root,
    dp_sata,
    firmware_blob_data,
    guid_bytes,
    image_load_data,
    share_run,
    tagged_event_data,
    uefi_variable_data,
)

__all__ = [
    "BOOT_CHAIN",
    "CRYPTO",
    "MBOOT",
    "SAFEBOOT",
    "TAG_ASSET_TAG",
    "TAG_BOOT_OPTION",
    "TAG_CMDLINE",
    "TAG_MODULE",
    "TAG_SIGNER",
    "TAG_VERSION",
    "BootRecord",
    "EfiBinary",
    "FirmwareProfile",
    "MeasuredBoot",
    "Record",
    "esx_boot_host_records",
    "esx_boot_image_records",
    "esx_boot_measurements",
    "esx_boot_records",
    "firmware_image_records",
    "firmware_measurements",
    "firmware_records",
    "measure_esx_boot",
    "measure_firmware",
    "measure_full_boot",
    "prepare",
    "esx_boot_layout_problems",
    "read_measured_boot",
    "version_record_data",
]

# esx-boot tag ids (uefi/efiutils/tpm.c, TPM_VMK_EVENT_*).
TAG_MODULE = 2
TAG_BOOT_OPTION = 3
TAG_CMDLINE = 4
TAG_ASSET_TAG = 6
TAG_SIGNER = 7
TAG_VERSION = 8

_KERNEL = "b.b00"  # boot.cfg's kernel= entry, prefixed to the measured command line
_HOST_SPECIFIC = ("imgdb.tgz", "onetime.tgz")
_EFI_CERT_SHA256_GUID = "c1c41626-504c-4092-aca9-41f936934328"
_EFI_CERT_X509_GUID = "a5c059a1-94e4-4aa7-87b5-ab155c2bf072"


# -- firmware -------------------------------------------------------------------------
def _vendor_bytes(vendor: str, what: str, n: int = 32) -> bytes:
    return crypto.sha256(f"vtalab-firmware|{vendor}|{what}".encode())[:n]


def _signature_list(sig_type: str, owner: str, entries: list[bytes]) -> bytes:
    """An ``EFI_SIGNATURE_LIST`` (what PK/KEK/db/dbx hold) of equal-size entries."""
    size = 16 + len(entries[0])
    body = b"".join(guid_bytes(owner) + e for e in entries)
    return guid_bytes(sig_type) + struct.pack("<III", 28 + len(body), 0, size) + body


@dataclass(frozen=True, slots=True)
class FirmwareProfile:
    """A server's UEFI firmware: identity and Secure Boot databases (deterministic)."""

    vendor: str
    bios_version: str
    secure_boot: bool
    pk: bytes
    kek: bytes
    db: bytes
    dbx: bytes
    #: the unique partition GUID of the boot disk's EFI system partition (GPT partition 1)
    esp_guid: str = "00000000-0000-0000-0000-000000000000"

    @classmethod
    def for_vendor(cls, vendor: str, bios_version: str = "U30 v2.90",
                   secure_boot: bool = True, disk_id: str = "") -> FirmwareProfile:
        """A server of ``vendor``; ``disk_id`` (a host name) makes its boot disk's
        partition GUID its own, as an installer's random GUID would be. Remembered: a
        profile is immutable and a pure function of the arguments, and every world of
        a topology builds the same ones (:func:`_firmware_profile`)."""
        if cls is FirmwareProfile:
            return _firmware_profile(vendor, bios_version, secure_boot, disk_id)
        return cls._make(vendor, bios_version, secure_boot, disk_id)

    @classmethod
    def _make(cls, vendor: str, bios_version: str, secure_boot: bool,
              disk_id: str) -> FirmwareProfile:
        return cls(vendor, bios_version, secure_boot, *_secure_boot_databases(vendor),
                   esp_guid=_guid_from(f"vtalab-esp|{vendor}|{disk_id}"))

    def esp_device_path(self, *file: bytes) -> bytes:
        """The device path of the boot disk's EFI system partition, then ``file``."""
        return device_path(_esp_nodes(self.esp_guid), *file)

    @property
    def firmware_volume_digest(self) -> bytes:
        return crypto.sha256(f"vtalab-fv|{self.vendor}|{self.bios_version}".encode())


@functools.lru_cache(maxsize=1024)
def _esp_nodes(esp_guid: str) -> bytes:
    """The device path nodes down to the EFI system partition with ``esp_guid``: each of a
    server's three boot-chain images is loaded from it (built once, not per image)."""
    return (dp_pci_root(0) + dp_pci(0x17, 0) + dp_sata(0)
            + dp_hard_drive(1, _ESP_START, _ESP_SIZE, esp_guid))


@functools.lru_cache(maxsize=256)
def _secure_boot_databases(vendor: str) -> tuple[bytes, bytes, bytes, bytes]:
    """A vendor's PK, KEK, db and dbx: the same on every server of the vendor, so worked
    out once per vendor, not once per server (a pure function of the name)."""
    owner = "77fa9abd-0359-4d32-bd60-28f4e78f784b"  # Microsoft's owner GUID, as usual

    # Placeholder "certificates" (opaque bytes) in X.509-typed lists; dbx holds hashes.
    def certs(what: str) -> bytes:
        return _signature_list(_EFI_CERT_X509_GUID, owner, [_vendor_bytes(vendor, what, 32)])
    dbx = _signature_list(_EFI_CERT_SHA256_GUID, owner,
                          [_vendor_bytes(vendor, f"dbx{i}") for i in range(3)])
    return certs("PK"), certs("KEK"), certs("db"), dbx


@functools.lru_cache(maxsize=4096)
def _firmware_profile(vendor: str, bios_version: str, secure_boot: bool,
                      disk_id: str) -> FirmwareProfile:
    return FirmwareProfile._make(vendor, bios_version, secure_boot, disk_id)


def _guid_from(seed: str) -> str:
    """A version-4-shaped GUID derived from ``seed`` (deterministic, not random)."""
    b = bytearray(crypto.sha256(seed.encode())[:16])
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


#: The ESXi 7.0+ system partition: GPT partition 1, LBA 64, 204,800 sectors (100 MB), as
#: ``partedUtil getptbl`` shows it (VMware KB 84268 / 324877).
_ESP_START, _ESP_SIZE = 0x40, 0x32000


@dataclass(frozen=True, slots=True)
class EfiBinary:
    """An esx-boot EFI binary on the system partition, as the firmware measures it."""

    path: str  #: as the device path's File node holds it
    event_type: int
    pcr: int
    load_address: int  #: ImageLocationInMemory (placeholder)
    size: int  #: ImageLengthInMemory (placeholder)

    @property
    def file_name(self) -> str:
        return self.path.replace("\\", "/").rsplit("/", 1)[-1]

    @property
    def digest(self) -> bytes:
        """Its Authenticode (PE/COFF) digest — not simulated byte for byte."""
        return crypto.sha256(f"vtalab-esx-boot|{self.file_name}".encode())


#: The firmware starts the boot option "VMware ESXi" (the installer writes
#: ``HD(1,GPT,…)/File(\EFI\VMware\safeboot64.efi)``; UEFI paths use backslashes).
SAFEBOOT = EfiBinary("\\EFI\\VMware\\safeboot64.efi", EV_EFI_BOOT_SERVICES_APPLICATION, 4,
                     0x6E5A1000, 0x2D000)
#: safeboot chainloads ``MBOOT_PATH`` (safeboot/chainload.c), a Unix-style path that
#: ``firmware_image_load`` puts into the File node unchanged.
MBOOT = EfiBinary("/EFI/VMware/mboot64.efi", EV_EFI_BOOT_SERVICES_APPLICATION, 4,
                  0x6E4E7000, 0x4A000)
#: mboot's Secure Boot crypto driver, from mboot's own directory (``load_crypto_module``;
#: ``make_path`` turns the directory and ``CRYPTO_DRIVER`` into a Unix-style path).
CRYPTO = EfiBinary("/EFI/VMware/crypto64.efi", EV_EFI_BOOT_SERVICES_DRIVER, 2,
                   0x6E3B2000, 0x5C000)
#: The EFI images a UEFI disk boot of ESXi loads, in order (PCR 4 twice, then PCR 2).
BOOT_CHAIN = (SAFEBOOT, MBOOT, CRYPTO)


#: One record as a measuring party hands it to the TPM: PCR, event type, event data and
#: the digest extended (None: SHA-256 of the event data) -- :meth:`Tpm.extend`'s arguments.
Record = tuple[int, int, bytes, bytes | None]

#: How many firmware models and images keep their prepared records (the parts every
#: host of a kind shares; the host-specific parts are remembered per host, below).
_PREPARED_LIMIT = 1024


def _image_record(fw: FirmwareProfile, image: EfiBinary) -> Record:
    file, digest = _image_parts(image)
    return (image.pcr, image.event_type,
            image_load_data(image.load_address, image.size, fw.esp_device_path(file)),
            digest)


@functools.lru_cache(maxsize=64)
def _image_parts(image: EfiBinary) -> tuple[bytes, bytes]:
    """An EFI binary's File Path node and digest: the same for every server loading it."""
    return dp_file(image.path), image.digest


def firmware_records(fw: FirmwareProfile) -> list[Record]:
    """The firmware's records until mboot starts loading modules: its own, then the EFI
    images of the boot chain (safeboot, mboot, mboot's crypto driver), in order."""
    return _firmware_own_records(fw) + firmware_image_records(fw)


def _firmware_own_records(fw: FirmwareProfile) -> list[Record]:
    """The firmware's own records: the same on every server of a model, BIOS version and
    Secure Boot setting (they do not name the boot disk)."""
    records: list[Record] = [
        (0, EV_S_CRTM_VERSION, (fw.bios_version + "\x00").encode("utf-16-le"), None),
        # The record names where the volume is; the digest is of the volume itself.
        (0, EV_EFI_PLATFORM_FIRMWARE_BLOB, firmware_blob_data(0xFF000000, 0x01000000),
         fw.firmware_volume_digest),
    ]
    # PCR 7: the Secure Boot policy. The digest is SHA-256 of the whole UEFI_VARIABLE_DATA.
    for guid, name, value in (
        (EFI_GLOBAL_VARIABLE, "SecureBoot", b"\x01" if fw.secure_boot else b"\x00"),
        (EFI_GLOBAL_VARIABLE, "PK", fw.pk),
        (EFI_GLOBAL_VARIABLE, "KEK", fw.kek),
        (EFI_IMAGE_SECURITY_DATABASE_GUID, "db", fw.db),
        (EFI_IMAGE_SECURITY_DATABASE_GUID, "dbx", fw.dbx),
    ):
        records.append((7, EV_EFI_VARIABLE_DRIVER_CONFIG,
                        uefi_variable_data(guid, name, value), None))
    # The PCR 7 separator closes the policy before any image is verified; at ReadyToBoot
    # the firmware logs the boot attempt, then closes PCRs 0-6 (EDK2 Tcg2Dxe:
    # MeasureSecureBootPolicy, OnReadyToBoot; PC Client profile, PCR 4 usage).
    records.append((7, EV_SEPARATOR, bytes(4), None))
    records.append((4, EV_EFI_ACTION, b"Calling EFI Application from Boot Option", None))
    records += [(pcr, EV_SEPARATOR, bytes(4), None) for pcr in range(7)]
    if fw.secure_boot:
        # The db entry that authorised the bootloader (PC Client §10.4.4 / §3.3.4.8).
        records.append((7, EV_EFI_VARIABLE_AUTHORITY,
                        uefi_variable_data(EFI_IMAGE_SECURITY_DATABASE_GUID, "db", fw.db[28:]),
                        None))
    return records


def firmware_image_records(fw: FirmwareProfile) -> list[Record]:
    """The EFI images the firmware loads (after its own records): their device paths
    name the server's own boot disk.

    The db entry that authorised safeboot also authorises mboot and crypto64.efi (all
    signed by the same CA): the firmware measures an authority once (PC Client §3.3.4.8),
    in :func:`firmware_records` before the images."""
    return [_image_record(fw, image) for image in BOOT_CHAIN]


def prepare(records: Iterable[Record]) -> Measurements:
    """``records`` as log records ready for :meth:`Tpm.measure` (``ValueError`` for a
    record :meth:`Tpm.extend` would refuse)."""
    return Measurements(Event.make(pcr, event_type, crypto.sha256(data) if digest is None
                                   else digest, data)
                        for pcr, event_type, data, digest in records)


def _prepare_shared(records: Iterable[Record]) -> Measurements:
    """:func:`prepare` for records many hosts measure alike: their log bytes are also
    handed to :func:`vtalab.tpm.eventlog.share_run`, so that parsing a log that holds
    them takes them whole."""
    measurements = prepare(records)
    share_run(measurements)
    return measurements


#: One batch of records for each host-specific part (a server's boot disk, a host's own
#: esx-boot items): room for a 10,000-host estate three times over, never emptied mid-run.
_HOST_PARTS_LIMIT = crypto.MEMO_SIZE


def firmware_measurements(fw: FirmwareProfile) -> tuple[Measurements, Measurements]:
    """:func:`firmware_records` of ``fw``, prepared in two batches measured one after the
    other: the firmware's own records (remembered per model, BIOS version and Secure Boot
    setting: every server of a kind measures the same) and the boot chain's images
    (remembered per profile, a pure function of the frozen profile). Extending the two in
    order is extending :func:`firmware_records` (tests/tpm/test_measure_prepared.py)."""
    if type(fw) is not FirmwareProfile:  # a subclass may measure otherwise: no memo
        return prepare(_firmware_own_records(fw)), prepare(firmware_image_records(fw))
    own = _FIRMWARE_OWN.get(key := (fw.vendor, fw.bios_version, fw.secure_boot,
                                    fw.pk, fw.kek, fw.db, fw.dbx))
    if own is None:
        own = _prepare_shared(_firmware_own_records(fw))
        _FIRMWARE_OWN.keep(key, own)
    images = _FIRMWARE_IMAGES.get(fw)
    if images is None:
        images = prepare(firmware_image_records(fw))
        _FIRMWARE_IMAGES.keep(fw, images)
    return own, images


_FIRMWARE_OWN = crypto.Memo(_PREPARED_LIMIT)
_FIRMWARE_IMAGES = crypto.Memo(_HOST_PARTS_LIMIT)


def measure_firmware(tpm: Tpm, fw: FirmwareProfile) -> None:
    """The firmware's measurements (:func:`firmware_records`) into ``tpm``."""
    tpm.measure(*firmware_measurements(fw))


# -- esx-boot ---------------------------------------------------------------------------
def version_record_data(record: VersionRecord, file_name: str) -> bytes:
    """``vm_version_record_t`` with the module file name appended (as tpm_extend_version)."""
    strings = [s.encode() + b"\x00" for s in
               (record.component, record.product, record.version, file_name)]
    header_size = 32
    offsets, pos = [], header_size
    for s in strings:
        offsets += [pos, len(s)]
        pos += len(s)
    return struct.pack("<IIQ8H", pos, 1, 0, *offsets) + b"".join(strings)


def _parse_version_record(data: bytes) -> tuple[VersionRecord, str]:
    if len(data) < 32:
        raise ValueError("version record too short")
    total, fmt, _flags, *fields = struct.unpack_from("<IIQ8H", data)
    if total != len(data) or fmt == 0:
        raise ValueError("version record size/format mismatch")
    out = []
    for off, n in zip(fields[::2], fields[1::2], strict=True):
        if off < 32 or off + n > total:
            raise ValueError("version record string out of bounds")
        out.append(data[off:off + n].rstrip(b"\x00").decode("utf-8", "strict"))
    return VersionRecord(out[0], out[1], out[2]), out[3]


def _tagged_record(pcr: int, tag: int, data: bytes, digest: bytes | None = None) -> Record:
    return (pcr, EV_EVENT_TAG, tagged_event_data(tag, data),
            crypto.sha256(data) if digest is None else digest)


def _tagged(tpm: Tpm, pcr: int, tag: int, data: bytes, digest: bytes | None = None) -> None:
    """Extend one esx-boot tagged record into ``tpm`` (what tests forge logs with)."""
    tpm.extend(*_tagged_record(pcr, tag, data, digest))


def _signer_blob(signer: str) -> bytes:
    return b"vtalab-signer-certificate|" + signer.encode()


def esx_boot_records(image: EsxiImage, host_specific: HostSpecific) -> list[Record]:
    """What esx-boot measures while loading ``image`` on a host (see module docstring)."""
    return esx_boot_image_records(image) + esx_boot_host_records(image, host_specific)


def esx_boot_image_records(image: EsxiImage) -> list[Record]:
    """The first part of :func:`esx_boot_records`: the image's own modules (and their
    version records), the same on every host that boots ``image``."""
    records: list[Record] = []
    for m in image.modules:
        if m.name in _HOST_SPECIFIC:
            continue
        _module_records(records, m.name, m.digest, m.measured_version)
    return records


def esx_boot_host_records(image: EsxiImage, host_specific: HostSpecific) -> list[Record]:
    """The rest of :func:`esx_boot_records`: the host-specific modules, loaded last, then
    the signer, the command line and the asset tag."""
    records: list[Record] = []
    _module_records(records, "imgdb.tgz", host_specific.imgdb_digest, None)
    _module_records(records, "onetime.tgz", host_specific.onetime_digest, None)
    records.append(_tagged_record(PCR_BOOT_OPTIONS, TAG_SIGNER, _signer_blob(image.signer)))
    cmdline = f"{_KERNEL} {host_specific.cmdline}" if host_specific.cmdline else _KERNEL
    records.append(_tagged_record(PCR_BOOT_OPTIONS, TAG_CMDLINE, cmdline.encode()))  # no NUL
    if host_specific.asset_tag:
        records.append(_tagged_record(PCR_BOOT_OPTIONS, TAG_ASSET_TAG,
                               host_specific.asset_tag.encode()))
    return records


def _module_records(records: list[Record], name: str, digest: bytes,
                    version: VersionRecord | None) -> None:
    if version is not None:  # tpm_extend_module: tpm_extend_version, then the module
        records.append(_tagged_record(PCR_MODULES, TAG_VERSION,
                                      version_record_data(version, name)))
    pcr = module_pcr(name)
    tag = TAG_BOOT_OPTION if pcr == PCR_BOOT_OPTIONS else TAG_MODULE
    records.append(_tagged_record(pcr, tag, name.encode() + b"\x00", digest))


#: id(image) -> (image, its prepared :func:`esx_boot_image_records`). Keyed by the
#: image's identity (hashing an image hashes all its modules; hosts boot the same image
#: object, see ``standard_image``), and holding the image so that its id cannot be
#: reused while the entry lives; an equal image that is another object is simply
#: prepared again.
_ESX_BOOT = crypto.Memo(_PREPARED_LIMIT)
#: (signer, host-specific items) -> the host's prepared :func:`esx_boot_host_records`
#: (all they take from the image is its signer).
_ESX_BOOT_HOST = crypto.Memo(_HOST_PARTS_LIMIT)


def esx_boot_measurements(image: EsxiImage, host_specific: HostSpecific
                          ) -> tuple[Measurements, Measurements]:
    """:func:`esx_boot_records`, prepared in two batches measured one after the other:
    the image's records (prepared once per image: every host booting it measures the
    same 50-odd records, with the same PCR values after them from a reset) and the
    host's own few (remembered per host). Extending the two in order is extending
    :func:`esx_boot_records` (tests/tpm/test_measure_prepared.py)."""
    hit = _ESX_BOOT.get(id(image))
    if hit is not None and hit[0] is image:
        fleet = hit[1]
    else:
        fleet = _prepare_shared(esx_boot_image_records(image))
        _ESX_BOOT.keep(id(image), (image, fleet))
    own = _ESX_BOOT_HOST.get(key := (image.signer, host_specific))
    if own is None:
        own = prepare(esx_boot_host_records(image, host_specific))
        _ESX_BOOT_HOST.keep(key, own)
    return fleet, own


def measure_esx_boot(tpm: Tpm, image: EsxiImage, host_specific: HostSpecific) -> None:
    """esx-boot's measurements (:func:`esx_boot_records`) of ``image`` into ``tpm``."""
    tpm.measure(*esx_boot_measurements(image, host_specific))


def measure_full_boot(tpm: Tpm, fw: FirmwareProfile, image: EsxiImage,
                      host_specific: HostSpecific) -> None:
    """Firmware then esx-boot: everything a cold boot measures (TPM already started)."""
    measure_firmware(tpm, fw)
    measure_esx_boot(tpm, image, host_specific)


# -- reading it back ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BootRecord:
    """One record in esx-boot's PCRs (11-14), in log order, as a verifier saw it."""

    pcr: int
    event_type: int
    tag: int | None = None  #: the esx-boot tag id of an ``EV_EVENT_TAG`` record
    #: the module name of a module or boot-option record; the file of a version record
    name: str | None = None


@dataclass(frozen=True, slots=True)
class LoadedImage:
    """An EFI image the firmware measured (``UEFI_IMAGE_LOAD_EVENT``), in log order."""

    pcr: int
    event_type: int
    path: str | None  #: the file its device path names (None: no File node / unreadable)
    digest: bytes

    @property
    def kind(self) -> str:
        return "driver" if self.event_type == EV_EFI_BOOT_SERVICES_DRIVER else "application"


@dataclass
class MeasuredBoot:
    """What a verifier learns from a (replay-checked) event log."""

    versions: list[VersionRecord] = field(default_factory=list)
    version_files: list[str] = field(default_factory=list)
    modules: dict[str, bytes] = field(default_factory=dict)  #: name -> payload digest
    module_pcrs: dict[str, int] = field(default_factory=dict)
    host_specific: set[str] = field(default_factory=set)  #: names of host-specific items
    secure_boot: bool | None = None
    crtm_version: str | None = None
    cmdline: str | None = None
    asset_tag: str | None = None
    signers: list[bytes] = field(default_factory=list)
    #: every record in PCRs 11-14, in log order (what :func:`esx_boot_layout_problems` reads)
    records: list[BootRecord] = field(default_factory=list)
    #: module names measured more than once (``modules`` keeps the last digest only)
    duplicates: list[str] = field(default_factory=list)
    #: EFI images the firmware loaded (PCRs 2 and 4): safeboot, mboot, crypto64.efi
    efi_images: list[LoadedImage] = field(default_factory=list)

    @property
    def esxi_version(self) -> str | None:
        """The ``esx`` component's version (``8.0.2-22380479``), if measured."""
        return next((v.version for v in self.versions if v.component == "esx"), None)

    def fleet_modules(self) -> dict[str, bytes]:
        """Module digests without the host-specific ones (what a base image pins)."""
        return {n: d for n, d in self.modules.items() if n not in self.host_specific}


def read_measured_boot(events: Iterable[Event]) -> MeasuredBoot:
    """Decode firmware and esx-boot records; ``ValueError`` on a malformed esx-boot record.

    Only meaningful on a log whose replay matched a verified quote: a log proves PCR
    indexes and digests, so this also checks that each tagged record's digest is what
    esx-boot would have extended for its data (except modules, whose payload we lack).

    Each record is read on its own (:func:`_reading`, remembered per record object: every
    host of an image presents the same records), then the readings are folded in order.
    """
    mb = MeasuredBoot()
    readings = _READINGS
    for e in events:
        held = readings.get(id(e))
        if held is not None and held[0] is e:
            reading = held[1]
        else:
            reading = _reading(e)  # ValueError for a malformed record: nothing remembered
            readings.keep(id(e), (e, reading))
        if reading is not None:
            _fold(mb, reading)
    return mb


#: What one record says, for :func:`read_measured_boot`: ``(kind, BootRecord or None,
#: value, ...)``; ``None`` for a record it does not read. All immutable.
_Reading = tuple[Any, ...] | None
#: id(record) -> (record, its reading). Records are frozen and shared (``Event.make``
#: remembers them; logs parse to the same objects); the entry holds the record so that
#: its id cannot be reused while the entry lives. Room for every record of a
#: 10,000-host estate (about 7 of its own per host, the rest shared).
_READINGS = crypto.Memo(4 * crypto.MEMO_SIZE)

_MODULE, _RECORD, _VERSION, _CMDLINE, _ASSET_TAG, _SIGNER, _SECURE_BOOT, _CRTM, _IMAGE = (
    range(9))


def _reading(e: Event) -> _Reading:
    """What record ``e`` contributes to a :class:`MeasuredBoot` (``ValueError`` for a
    malformed esx-boot record): a pure function of the record."""
    p = e.parsed
    if e.pcr >= PCR_ESX_BOOT_FIRST:  # esx-boot's PCRs: every record counts
        if e.event_type == EV_EVENT_TAG and isinstance(p, TaggedEvent):
            return _tag_reading(e, p)
        return (_RECORD, BootRecord(e.pcr, e.event_type))
    if e.event_type == EV_EFI_VARIABLE_DRIVER_CONFIG and isinstance(p, UefiVariable):
        if e.pcr == 7 and p.name == "SecureBoot" and p.guid == EFI_GLOBAL_VARIABLE:
            return (_SECURE_BOOT, None, p.data[:1] == b"\x01")
    elif e.event_type == EV_S_CRTM_VERSION and isinstance(p, str):
        return (_CRTM, None, p)
    elif e.event_type in (EV_EFI_BOOT_SERVICES_APPLICATION, EV_EFI_BOOT_SERVICES_DRIVER):
        return (_IMAGE, None, LoadedImage(e.pcr, e.event_type, _image_path(p), e.digest))
    return None


def _fold(mb: MeasuredBoot, reading: tuple[Any, ...]) -> None:
    """Add one record's reading to ``mb`` (in log order)."""
    kind, record = reading[0], reading[1]
    if record is not None:
        mb.records.append(record)
    if kind == _MODULE:
        _, _, name, digest, pcr, host_specific = reading
        if name in mb.modules and name not in mb.duplicates:
            mb.duplicates.append(name)
        mb.modules[name] = digest
        mb.module_pcrs[name] = pcr
        if host_specific:
            mb.host_specific.add(name)
    elif kind == _VERSION:
        mb.versions.append(reading[2])
        mb.version_files.append(reading[3])
    elif kind == _CMDLINE:
        mb.cmdline = reading[2]
        mb.host_specific.add("cmdline")
    elif kind == _ASSET_TAG:
        mb.asset_tag = reading[2]
        mb.host_specific.add("asset_tag")
    elif kind == _SIGNER:
        mb.signers.append(reading[2])
    elif kind == _SECURE_BOOT:
        mb.secure_boot = reading[2]
    elif kind == _CRTM:
        mb.crtm_version = reading[2]
    elif kind == _IMAGE:
        mb.efi_images.append(reading[2])


def _image_path(p: object) -> str | None:
    """The file an image-load record names; None if its data or device path is damaged
    (a claim only — the digest is what the PCR proves — so not a reason to fail)."""
    if not isinstance(p, ImageLoad):
        return None
    try:
        return device_path_files(p.device_path)
    except ValueError:
        return None


def _tag_reading(e: Event, p: TaggedEvent) -> tuple[Any, ...]:
    if p.tag_id in (TAG_MODULE, TAG_BOOT_OPTION):
        if not p.data.endswith(b"\x00"):
            raise ValueError("module name is not NUL-terminated")
        name = p.data[:-1].decode("utf-8")
        return (_MODULE, BootRecord(e.pcr, e.event_type, p.tag_id, name), name, e.digest,
                e.pcr, name in _HOST_SPECIFIC)
    if p.tag_id not in (TAG_VERSION, TAG_CMDLINE, TAG_ASSET_TAG, TAG_SIGNER):
        # a tag esx-boot does not use: esx_boot_layout_problems reports it
        return (_RECORD, BootRecord(e.pcr, e.event_type, p.tag_id))
    if crypto.sha256(p.data) != e.digest:
        raise ValueError(f"tag {p.tag_id} record digest does not match its data")
    if p.tag_id == TAG_VERSION:
        record, file_name = _parse_version_record(p.data)
        return (_VERSION, BootRecord(e.pcr, e.event_type, p.tag_id, file_name), record,
                file_name)
    boot_record = BootRecord(e.pcr, e.event_type, p.tag_id)
    if p.tag_id == TAG_CMDLINE:
        return (_CMDLINE, boot_record, p.data.decode("utf-8"))
    if p.tag_id == TAG_ASSET_TAG:
        return (_ASSET_TAG, boot_record, p.data.decode("utf-8", "replace"))
    return (_SIGNER, boot_record, p.data)


#: The first PCR esx-boot extends (11: ``esxupdt``); 11-14 are all esx-boot's.
PCR_ESX_BOOT_FIRST = 11
_TAG_NAMES = {TAG_MODULE: "module", TAG_BOOT_OPTION: "boot option", TAG_CMDLINE:
              "command line", TAG_ASSET_TAG: "asset tag", TAG_SIGNER: "signer",
              TAG_VERSION: "version record"}


def esx_boot_layout_problems(mb: MeasuredBoot) -> list[str]:
    """Where the esx-boot records of ``mb`` differ from what esx-boot measures.

    esx-boot (``uefi/efiutils/tpm.c``, ``mboot/mboot.c``) extends PCRs 11-14 only with
    tagged events: each module once, into the PCR and with the tag its name dictates
    (:func:`vtalab.esxi.image.module_pcr`); version records into PCR 13; then, after
    every module, the signer certificates, **one** command line and at most one asset
    tag into PCR 14. The host-specific modules ``imgdb.tgz`` and ``onetime.tgz`` are
    ordinary PCR-13 modules loaded last, in that order. A verifier leaves only those and
    the command line out of the base-image comparison, so anything else about them --
    a second copy, another PCR or tag, an earlier position -- is a record the base
    image does not account for. Returns one phrase per problem (empty: as esx-boot).

    A pure function of the records and the duplicates, remembered: every host booting an
    image lays its records out alike (the host-specific ones differ in digest and data,
    not in what a :class:`BootRecord` holds).
    """
    key = (tuple(mb.records), tuple(mb.duplicates))
    problems = _LAYOUTS.get(key)
    if problems is None:
        problems = tuple(_layout_problems(mb.records, mb.duplicates))
        _LAYOUTS.keep(key, problems)
    return list(problems)


#: (records, duplicates) -> :func:`esx_boot_layout_problems`: a few layouts per image.
_LAYOUTS = crypto.Memo(_PREPARED_LIMIT)


def _layout_problems(records: Sequence[BootRecord], duplicates: Sequence[str]) -> list[str]:
    problems = [f"{name} measured more than once" for name in duplicates]
    problems += _version_record_problems(records)
    any_module = False
    fleet_after_host_specific: list[str] = []
    host_specific_order: list[str] = []
    after_modules = False  # a signer, command line or asset tag has been measured
    cmdlines = asset_tags = 0
    for r in records:
        where = f"PCR {r.pcr}"
        if r.tag is None:
            problems.append(f"a record of event type 0x{r.event_type:08x} in {where} "
                            "(esx-boot measures only tagged events there)")
            continue
        if r.tag not in _TAG_NAMES:
            problems.append(f"a record with unknown esx-boot tag {r.tag} in {where}")
            continue
        if r.tag in (TAG_MODULE, TAG_BOOT_OPTION):
            name = r.name or ""
            pcr = module_pcr(name)
            tag = TAG_BOOT_OPTION if pcr == PCR_BOOT_OPTIONS else TAG_MODULE
            if (r.pcr, r.tag) != (pcr, tag):
                problems.append(f"{name} measured as a {_TAG_NAMES[r.tag]} in {where} "
                                f"(esx-boot measures it as a {_TAG_NAMES[tag]} in PCR {pcr})")
            if after_modules:
                problems.append(f"{name} measured after the signer or command line")
            any_module = True
            if name in _HOST_SPECIFIC:
                host_specific_order.append(name)
            elif host_specific_order:
                fleet_after_host_specific.append(name)
            continue
        if r.tag == TAG_VERSION:
            if r.pcr != PCR_MODULES:
                problems.append(f"a version record in {where} (esx-boot: PCR {PCR_MODULES})")
            continue
        after_modules = True
        if r.pcr != PCR_BOOT_OPTIONS:
            problems.append(f"a {_TAG_NAMES[r.tag]} record in {where} "
                            f"(esx-boot: PCR {PCR_BOOT_OPTIONS})")
        if r.tag == TAG_CMDLINE:
            cmdlines += 1
            if asset_tags:
                problems.append("the command line measured after the asset tag")
        elif r.tag == TAG_ASSET_TAG:
            asset_tags += 1
        elif cmdlines or asset_tags:  # a signer after the command line or asset tag
            problems.append("a signer measured after the command line")
    if fleet_after_host_specific:
        problems.append(f"{', '.join(fleet_after_host_specific)} measured after the "
                        "host-specific modules (esx-boot loads imgdb.tgz and onetime.tgz "
                        "last)")
    expected_order = [n for n in _HOST_SPECIFIC if n in host_specific_order]
    if host_specific_order != expected_order and not duplicates:
        problems.append(f"host-specific modules in the order {', '.join(host_specific_order)}"
                        f" (esx-boot: {', '.join(_HOST_SPECIFIC)})")
    if cmdlines > 1:
        problems.append(f"{cmdlines} command lines measured (esx-boot measures one)")
    if asset_tags > 1:
        problems.append(f"{asset_tags} asset tags measured (esx-boot measures at most one)")
    if any_module and not cmdlines:
        problems.append("no command line measured (esx-boot always measures one)")
    return problems


def _version_record_problems(records: Sequence[BootRecord]) -> list[str]:
    """A version record is measured right before its module, only for ``b`` and ``k``,
    and at most once per module (tpm.c takes the first record of a ``.version``)."""
    problems: list[str] = []
    counts: dict[str, int] = {}
    for i, r in enumerate(records):
        if r.tag != TAG_VERSION:
            continue
        file = r.name or ""
        base = file.rsplit("/", 1)[-1]
        counts[base] = counts.get(base, 0) + 1
        if not is_versioned(base):
            problems.append(f"a version record for {base or 'no file'} (esx-boot measures "
                            "version records only for b and k)")
            continue
        nxt = records[i + 1] if i + 1 < len(records) else None
        if nxt is None or nxt.tag not in (TAG_MODULE, TAG_BOOT_OPTION) or nxt.name != base:
            problems.append(f"the version record for {base} is not followed by {base}")
    problems += [f"{n} version records for {base} (esx-boot measures only the first)"
                 for base, n in counts.items() if n > 1 and is_versioned(base)]
    return problems
