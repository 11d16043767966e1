"""The UEFI disk boot chain and esx-boot's version records, pinned against vmware/esx-boot.

* ``uefi/efiutils/tpm.c``: ``systemModules`` marks only ``b`` and ``k`` versioned;
  ``tpm_extend_version`` measures the *first* record of the ``.version`` section into
  PCR 13 (``STATIC_DATA_PCR``) as tag 8, with the file name appended and the record's
  ``fileNameOffset``/``fileNameLen``/``totalSize`` fixed up, right before the module.
* ``README.md`` "UEFI Boot" and ``safeboot/chainload.c``: the firmware starts safeboot,
  which starts ``/EFI/VMware/mboot64.efi``; both are EFI applications the firmware
  measures into PCR 4; mboot then loads ``crypto64.efi`` (``load_crypto_module``).
"""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path

import pytest

from vtalab.core import crypto
from vtalab.esxi.image import (
    VERSIONED_MODULES,
    EsxiImage,
    HostSpecific,
    VersionRecord,
    is_versioned,
    module_pcr,
    standard_image,
)
from vtalab.esxi.measure import (
    BOOT_CHAIN,
    TAG_MODULE,
    TAG_VERSION,
    FirmwareProfile,
    measure_esx_boot,
    measure_full_boot,
    read_measured_boot,
    version_record_data,
)
from vtalab.tpm import Tpm, parse_eventlog, replay
from vtalab.tpm.eventlog import (
    EV_EFI_ACTION,
    EV_EFI_BOOT_SERVICES_APPLICATION,
    EV_EFI_BOOT_SERVICES_DRIVER,
    EV_EVENT_TAG,
    EV_SEPARATOR,
    ImageLoad,
    TaggedEvent,
    device_path_files,
    device_path_text,
    parse_device_path,
)

from .conftest import make_tpm
from .tools import eventlog_pcrs, tpm2_checkquote, tpm2_eventlog, write_quote_files

NONCE = bytes.fromhex("b007c4a1" * 8)


def _tags(tpm: Tpm) -> list[tuple[int, int, bytes]]:
    return [(e.pcr, e.parsed.tag_id, e.parsed.data) for e in tpm.log
            if e.event_type == EV_EVENT_TAG and isinstance(e.parsed, TaggedEvent)]


def _boot(image: EsxiImage, fw: FirmwareProfile | None = None) -> Tpm:
    t = make_tpm()
    t.power_on(0)
    t.startup_clear()
    measure_full_boot(t, fw or FirmwareProfile.for_vendor("Dell Inc.", disk_id="esx-01"),
                      image, HostSpecific.for_host("esx-01", image.build))
    return t


# -- version records ---------------------------------------------------------------------
def test_exactly_one_version_record_for_each_of_b_and_k_and_none_for_others(
        booted: Tpm, image: EsxiImage) -> None:
    tags = _tags(booted)
    versions = [d for _, t, d in tags if t == TAG_VERSION]
    files = [d[struct.unpack_from("<H", d, 28)[0]:].rstrip(b"\x00").decode() for d in versions]
    assert files == ["b.b00", "k.b00"]
    modules = [d[:-1].decode() for _, t, d in tags if t != TAG_VERSION and d.endswith(b"\x00")]
    versioned = [m for m in modules if is_versioned(m)]
    assert versioned == ["b.b00", "k.b00"] and VERSIONED_MODULES == ("b", "k")
    # each right before its module, in PCR 13
    for i, (pcr, tag, data) in enumerate(tags):
        if tag == TAG_VERSION:
            assert pcr == 13
            assert tags[i + 1][1:] == (TAG_MODULE, data[-6:])  # "b.b00\0" / "k.b00\0"
            assert tags[i + 1][0] == module_pcr(data[-6:-1].decode()) == 12
    assert read_measured_boot(booted.log).versions == list(image.version_records)


def test_only_the_first_record_of_a_section_and_only_for_b_and_k() -> None:
    """k.b00's section holds two records (esx, esx-base): only the first is measured. A
    .version section on any other module (s.v00 here) is not read at all."""
    base = standard_image("8.0.2", 22380479)
    k = base.module("k.b00")
    assert [r.component for r in k.version_section] == ["esx", "esx-base"]
    assert k.measured_version == k.version_section[0]
    extra = VersionRecord("esx-tboot", "VMware ESXi", base.key)
    modules = tuple(replace(m, version_section=(extra,)) if m.name in ("s.v00", "vmx.v00")
                    else m for m in base.modules)
    image = replace(base, modules=modules)
    assert image.version_records == base.version_records
    tpm = make_tpm()
    tpm.power_on(0)
    tpm.startup_clear()
    measure_esx_boot(tpm, image, HostSpecific.for_host("esx-01", image.build))
    mb = read_measured_boot(tpm.log)
    assert [v.component for v in mb.versions] == ["vmkBoot", "esx"]
    assert mb.version_files == ["b.b00", "k.b00"]


def test_version_record_layout_is_tpm_c_s() -> None:
    """vm_version_record_t (packed): totalSize, formatVersion, flags, then offset/length
    pairs for component, product, version and file name; the file name appended last,
    its offset the section record's old totalSize; digest = SHA-256 of the data."""
    rec = VersionRecord("esx", "VMware ESXi", "8.0.2-22380479")
    data = version_record_data(rec, "k.b00")
    total, fmt, flags, *pairs = struct.unpack_from("<IIQ8H", data)
    assert struct.calcsize("<IIQ8H") == 32
    assert (total, fmt, flags) == (len(data), 1, 0)
    strings = [data[o:o + n] for o, n in zip(pairs[::2], pairs[1::2], strict=True)]
    assert strings == [b"esx\x00", b"VMware ESXi\x00", b"8.0.2-22380479\x00", b"k.b00\x00"]
    section_size = 32 + 4 + 12 + 15
    assert pairs[6:] == [section_size, len("k.b00") + 1]  # fileNameOffset/Len fixed up
    assert data.endswith(b"k.b00\x00") and len(data) == section_size + 6
    tpm = make_tpm()
    tpm.power_on(0)
    tpm.startup_clear()
    image = standard_image("8.0.2", 22380479)
    measure_esx_boot(tpm, image, HostSpecific.for_host("esx-01", image.build))
    e = next(e for e in tpm.log if isinstance(e.parsed, TaggedEvent)
             and e.parsed.tag_id == TAG_VERSION and e.parsed.data.endswith(b"k.b00\x00"))
    assert e.parsed.data == data  # type: ignore[union-attr]
    assert e.digest == crypto.sha256(data) and e.pcr == 13


# -- safeboot, then mboot ------------------------------------------------------------------
def test_safeboot_then_mboot_in_pcr_4_then_crypto_driver_in_pcr_2(booted: Tpm) -> None:
    events = list(booted.log)
    pcr4 = [e for e in events if e.pcr == 4]
    assert [e.event_type for e in pcr4] == [EV_EFI_ACTION, EV_SEPARATOR,
                                            EV_EFI_BOOT_SERVICES_APPLICATION,
                                            EV_EFI_BOOT_SERVICES_APPLICATION]
    assert pcr4[0].parsed == "Calling EFI Application from Boot Option"
    # EDK2's order: PCR 7's separator right after the policy, then at ReadyToBoot the
    # boot attempt (PCR 4), then the separators of PCRs 0-6, then the images.
    seps = [e.pcr for e in events if e.event_type == EV_SEPARATOR]
    assert seps == [7, 0, 1, 2, 3, 4, 5, 6]
    action = next(i for i, e in enumerate(events) if e.event_type == EV_EFI_ACTION)
    assert events[action - 1].event_type == EV_SEPARATOR and events[action - 1].pcr == 7
    apps = [device_path_files(e.parsed.device_path) for e in pcr4[2:]  # type: ignore[union-attr]
            if isinstance(e.parsed, ImageLoad)]
    assert apps == ["\\EFI\\VMware\\safeboot64.efi", "/EFI/VMware/mboot64.efi"]
    images = [e for e in events if isinstance(e.parsed, ImageLoad)]
    assert [(e.pcr, e.event_type) for e in images] == [
        (4, EV_EFI_BOOT_SERVICES_APPLICATION), (4, EV_EFI_BOOT_SERVICES_APPLICATION),
        (2, EV_EFI_BOOT_SERVICES_DRIVER)]
    # all before esx-boot's first record, and each digest is that binary's
    first_tag = next(i for i, e in enumerate(events) if e.event_type == EV_EVENT_TAG)
    assert all(events.index(e) < first_tag for e in images)
    assert [e.digest for e in images] == [b.digest for b in BOOT_CHAIN]
    assert len({b.digest for b in BOOT_CHAIN}) == 3
    mb = read_measured_boot(booted.log)
    assert [(i.pcr, i.kind, i.path) for i in mb.efi_images] == [
        (4, "application", "\\EFI\\VMware\\safeboot64.efi"),
        (4, "application", "/EFI/VMware/mboot64.efi"),
        (2, "driver", "/EFI/VMware/crypto64.efi")]


def test_device_paths_name_the_boot_disks_system_partition() -> None:
    a = _boot(standard_image("8.0.2", 22380479))
    fw = FirmwareProfile.for_vendor("Dell Inc.", disk_id="esx-02")
    b = _boot(standard_image("8.0.2", 22380479), fw)
    paths = [device_path_text(e.parsed.device_path) for e in a.log  # type: ignore[union-attr]
             if isinstance(e.parsed, ImageLoad)]
    guid = FirmwareProfile.for_vendor("Dell Inc.", disk_id="esx-01").esp_guid.upper()
    disk = f"PciRoot(0x0)/Pci(0x17,0x0)/Sata(0x0,0xFFFF,0x0)/HD(1,GPT,{guid},0x40,0x32000)"
    assert paths == [f"{disk}/\\EFI\\VMware\\safeboot64.efi",
                     f"{disk}//EFI/VMware/mboot64.efi",
                     f"{disk}//EFI/VMware/crypto64.efi"]
    assert guid[14] == "4" and guid != fw.esp_guid.upper()  # another host, another disk
    # The device path is event data, not the measured thing (the digest is the image's):
    # two disks give two logs but the same PCR 4.
    assert a.pcrs[4] == b.pcrs[4] and a.log.to_bytes() != b.log.to_bytes()
    nodes = parse_device_path(next(e.parsed.device_path for e in a.log  # type: ignore[union-attr]
                                   if isinstance(e.parsed, ImageLoad)))
    assert [(n.type, n.subtype) for n in nodes] == [(2, 1), (1, 1), (3, 0x12), (4, 1), (4, 4)]


@pytest.mark.parametrize("data", [b"", b"\x04\x04\x02\x00\x7f\xff\x04\x00",
                                  b"\x04\x04\x09\x00abcde", b"\x7f\xff\x04\x00x"])
def test_a_malformed_device_path_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        parse_device_path(data)


def test_a_damaged_image_record_leaves_the_rest_readable(booted: Tpm) -> None:
    """An image-load record is a claim (its digest is what PCR 4 proves): a bad device
    path gives an image without a path, not a failed read."""
    from vtalab.tpm.eventlog import image_load_data
    booted.extend(4, EV_EFI_BOOT_SERVICES_APPLICATION,
                  image_load_data(0x1000, 0x1000, b"\x04\x04\x02\x00"), digest=bytes(32))
    mb = read_measured_boot(parse_eventlog(booted.log.to_bytes()))
    assert mb.efi_images[-1].path is None and mb.esxi_version == "8.0.2-22380479"


# -- the log replays to the quote -------------------------------------------------------------
@pytest.mark.conformance
def test_tpm2_tools_replay_of_the_log_equals_the_quoted_pcrs(booted: Tpm,
                                                            tmp_path: Path) -> None:
    pcrs = [0, 1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 14]
    files = write_quote_files(tmp_path, booted, booted.quote(NONCE, pcrs))
    checked = tpm2_checkquote(files, NONCE, serialized=True, eventlog=True)
    assert checked.returncode == 0, checked.stderr
    out = tpm2_eventlog(files.eventlog)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    replayed = eventlog_pcrs(out.stdout)
    assert {p: replayed[p] for p in pcrs} == {p: booted.pcrs[p] for p in pcrs}
    assert replay(parse_eventlog(files.eventlog.read_bytes())) == dict(enumerate(booted.pcrs))
    # tpm2_eventlog decodes both PCR 4 applications and the PCR 2 driver
    assert out.stdout.count("EventType: EV_EFI_BOOT_SERVICES_APPLICATION") == 2
    assert out.stdout.count("EventType: EV_EFI_BOOT_SERVICES_DRIVER") == 1
    safeboot = "\\EFI\\VMware\\safeboot64.efi\x00".encode("utf-16-le").hex()
    mboot = "/EFI/VMware/mboot64.efi\x00".encode("utf-16-le").hex()
    assert 0 < out.stdout.index(safeboot) < out.stdout.index(mboot)
