"""Details of esx-boot's record rules and of the device paths in image-load records, with
their exact words (kills the mutants mutation run 5 found surviving in the code of
"Measured boot as esx-boot does it": docs/security.md)."""

from __future__ import annotations

import pytest

from vtalab.core import crypto
from vtalab.esxi.measure import (
    TAG_BOOT_OPTION,
    TAG_MODULE,
    TAG_VERSION,
    BootRecord,
    _version_record_problems,
    esx_boot_layout_problems,
    read_measured_boot,
)
from vtalab.tpm.eventlog import (
    EV_EFI_BOOT_SERVICES_APPLICATION,
    EV_EVENT_TAG,
    Event,
    device_path,
    device_path_files,
    dp_file,
    dp_pci_root,
    image_load_data,
    parse_device_path,
    tagged_event_data,
)


def mod(name: str, pcr: int = 12) -> BootRecord:
    return BootRecord(pcr, EV_EVENT_TAG, TAG_MODULE, name)


def ver(file: str) -> BootRecord:
    return BootRecord(13, EV_EVENT_TAG, TAG_VERSION, file)


def problems(records: list[BootRecord]) -> list[str]:
    """The version-record rules alone (the whole layout also wants a command line ...)."""
    return _version_record_problems(records)


# -- version records ----------------------------------------------------------------------------
def test_a_version_record_names_its_module_by_the_last_part_of_its_path() -> None:
    # a PXE boot.cfg with a prefix: the record's file has directories, the module is b.b00
    assert problems([ver("/esx/8.0/b.b00"), mod("b.b00")]) == []


def test_a_version_record_just_before_the_last_record_is_followed_by_it() -> None:
    assert problems([mod("k.b00"), ver("b.b00"), mod("b.b00")]) == []
    assert problems([mod("b.b00"), ver("b.b00")]) == [
        "the version record for b.b00 is not followed by b.b00"]


def test_every_version_record_is_judged_after_one_for_an_unversioned_module() -> None:
    assert problems([ver("vmx.v00"), mod("vmx.v00", 13), ver("b.b00"), mod("b.b00"),
                     ver("b.b00"), mod("k.b00")]) == [
        "a version record for vmx.v00 (esx-boot measures version records only for b and k)",
        "the version record for b.b00 is not followed by b.b00",
        "2 version records for b.b00 (esx-boot measures only the first)"]


# -- what read_measured_boot keeps ----------------------------------------------------------------
def test_an_unknown_tag_is_reported_in_the_pcr_it_was_measured_in() -> None:
    data = tagged_event_data(5, b"?")
    mb = read_measured_boot([Event.make(12, EV_EVENT_TAG, crypto.sha256(data), data)])
    assert esx_boot_layout_problems(mb) == ["a record with unknown esx-boot tag 5 in PCR 12"]


def test_image_loads_keep_their_pcr_type_path_and_digest() -> None:
    path = device_path(dp_pci_root(), dp_file(r"\EFI\VMware\safeboot64.efi"))
    data = image_load_data(0x1000, 0x2000, path)
    digest = crypto.sha256(b"safeboot64.efi")
    mb = read_measured_boot([Event.make(4, EV_EFI_BOOT_SERVICES_APPLICATION, digest, data)])
    [image] = mb.efi_images
    assert (image.pcr, image.event_type, image.path, image.digest) == (
        4, EV_EFI_BOOT_SERVICES_APPLICATION, r"\EFI\VMware\safeboot64.efi", digest)


def test_a_module_record_keeps_its_pcr_and_event_type() -> None:
    data = tagged_event_data(TAG_BOOT_OPTION, b"jumpstrt.gz\x00")
    mb = read_measured_boot([Event.make(14, EV_EVENT_TAG, crypto.sha256(b"gz"), data)])
    assert mb.records == [BootRecord(14, EV_EVENT_TAG, TAG_BOOT_OPTION, "jumpstrt.gz")]


# -- device paths ------------------------------------------------------------------------------
def test_device_path_files_joins_file_nodes_and_says_none_without_one() -> None:
    assert device_path_files(device_path(dp_file(r"\EFI"), dp_file(r"\VMware\mboot64.efi"))
                             ) == r"\EFI\VMware\mboot64.efi"
    assert device_path_files(device_path(dp_pci_root())) is None
    assert parse_device_path(device_path()) == []


@pytest.mark.parametrize("data, message", [
    (b"", "device path ends without an End Entire Device Path node"),
    (dp_pci_root(), "device path ends without an End Entire Device Path node"),
    (b"\x04\x04\x02\x00" + b"\x00" * 8 + device_path(), "device path node at 0 has a bad "
                                                         "length 2"),
    (b"\x04\x04\x00\x00" + device_path(), "device path node at 0 has a bad length 0"),
    (b"\x04\x04\x28\x00" + device_path(), "device path node at 0 has a bad length 40"),
    (device_path() + b"\x00", "bytes after the End Entire Device Path node"),
], ids=["empty", "no-end", "short-node", "zero-length-node", "overrun", "bytes-after-end"])
def test_a_malformed_device_path_says_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_device_path(data)
    assert str(caught.value) == message
