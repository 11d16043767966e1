"""Full-boot measurements and reading back which ESXi version and modules were booted."""

from __future__ import annotations

import pytest

from vtalab.esxi.image import EsxiImage, HostSpecific, standard_image
from vtalab.esxi.measure import (
    TAG_BOOT_OPTION,
    TAG_CMDLINE,
    TAG_MODULE,
    TAG_VERSION,
    FirmwareProfile,
    measure_full_boot,
    read_measured_boot,
    version_record_data,
)
from vtalab.tpm import Tpm, parse_eventlog, replay
from vtalab.tpm.eventlog import EV_EVENT_TAG, Event, TaggedEvent, tagged_event_data

from .conftest import make_tpm


def test_read_back_versions_and_modules(booted: Tpm, image: EsxiImage,
                                        host_specific: HostSpecific) -> None:
    mb = read_measured_boot(parse_eventlog(booted.log.to_bytes()))
    assert mb.esxi_version == "8.0.2-22380479"
    assert set(mb.versions) == set(image.version_records)
    assert mb.secure_boot is True
    assert mb.crtm_version == "2.19.1"
    assert mb.fleet_modules() == image.fleet_digests()
    assert mb.modules["imgdb.tgz"] == host_specific.imgdb_digest
    assert mb.modules["onetime.tgz"] == host_specific.onetime_digest
    assert mb.host_specific == {"imgdb.tgz", "onetime.tgz", "cmdline"}
    assert mb.cmdline == "b.b00 runweasel"
    assert mb.module_pcrs["esxupdt.v00"] == 11
    assert {mb.module_pcrs[n] for n in ("b.b00", "k.b00", "s.v00", "sb.v00")} == {12}
    assert mb.module_pcrs["jumpstrt.gz"] == 14
    assert mb.module_pcrs["imgdb.tgz"] == 13
    assert len(mb.signers) == 1


def test_esx_boot_tags_and_pcrs(booted: Tpm) -> None:
    tags = [(e.pcr, e.parsed.tag_id, e.parsed.data) for e in booted.log
            if isinstance(e.parsed, TaggedEvent)]
    assert (14, TAG_BOOT_OPTION, b"useropts.gz\x00") in tags
    assert (13, TAG_MODULE, b"vmx.v00\x00") in tags
    assert (14, TAG_CMDLINE, b"b.b00 runweasel") in tags
    # One version record right before each of b and k (esx-boot's tpm_extend_module order).
    kinds = [(t[1], t[2]) for t in tags]
    for name in (b"b.b00\x00", b"k.b00\x00"):
        at = kinds.index((TAG_MODULE, name))
        assert kinds[at - 1][0] == TAG_VERSION and kinds[at - 2][0] != TAG_VERSION
        assert kinds[at - 1][1].endswith(name)  # its data ends with the module's file name
    assert all(e.pcr in (11, 12, 13, 14) for e in booted.log if e.event_type == EV_EVENT_TAG)


def test_secure_boot_off_and_different_builds_differ(firmware: FirmwareProfile) -> None:
    def boot(image: EsxiImage, fw: FirmwareProfile, host: str = "h") -> Tpm:
        t = make_tpm()
        t.power_on(0)
        t.startup_clear()
        measure_full_boot(t, fw, image, HostSpecific.for_host(host, image.build))
        return t

    a = boot(standard_image("8.0.2", 22380479), firmware)
    b = boot(standard_image("8.0.3", 24022510), firmware)
    off = boot(standard_image("8.0.2", 22380479),
               FirmwareProfile.for_vendor("Dell Inc.", "2.19.1", secure_boot=False))
    other_host = boot(standard_image("8.0.2", 22380479), firmware, host="h2")
    assert a.pcrs[12] != b.pcrs[12] and a.pcrs[0] == b.pcrs[0]
    assert read_measured_boot(b.log).esxi_version == "8.0.3-24022510"
    assert read_measured_boot(off.log).secure_boot is False
    assert off.pcrs[7] != a.pcrs[7]
    assert other_host.pcrs[12] == a.pcrs[12] and other_host.pcrs[13] != a.pcrs[13]
    assert replay(a.log) == dict(enumerate(a.pcrs))


def test_version_record_round_trip_and_rejection() -> None:
    rec = standard_image("8.0.2", 22380479).version_records[0]
    data = version_record_data(rec, "k.b00")
    from vtalab.core import crypto
    ok = Event.make(13, EV_EVENT_TAG, crypto.sha256(data), tagged_event_data(TAG_VERSION, data))
    assert read_measured_boot([ok]).versions == [rec]
    broken = data[:-3]
    bad = Event.make(13, EV_EVENT_TAG, crypto.sha256(broken),
                     tagged_event_data(TAG_VERSION, broken))
    with pytest.raises(ValueError):
        read_measured_boot([bad])
    lying = Event.make(13, EV_EVENT_TAG, bytes(32), tagged_event_data(TAG_VERSION, data))
    with pytest.raises(ValueError, match="digest"):
        read_measured_boot([lying])


@pytest.mark.parametrize("release", ["8.0.1", "8.0.2", "8.0.3"])
@pytest.mark.parametrize("asset_tag", ["", "rack-7"])
def test_what_esx_boot_measures_has_no_layout_problem(release: str, asset_tag: str) -> None:
    from dataclasses import replace

    from vtalab.esxi.measure import esx_boot_layout_problems, measure_esx_boot

    image = standard_image(release, 22380479)
    tpm = make_tpm()
    tpm.power_on(0)
    tpm.startup_clear()
    hs = replace(HostSpecific.for_host("esx-9", image.build, "autoPartition=FALSE"),
                 asset_tag=asset_tag)
    measure_esx_boot(tpm, image, hs)
    mb = read_measured_boot(tpm.log)
    assert esx_boot_layout_problems(mb) == []
    assert [r.name for r in mb.records if r.name in ("imgdb.tgz", "onetime.tgz")] == [
        "imgdb.tgz", "onetime.tgz"]
    assert mb.duplicates == []


def test_read_measured_boot_keeps_every_esx_boot_record() -> None:
    from dataclasses import replace

    from vtalab.esxi.measure import (
        TAG_ASSET_TAG,
        TAG_SIGNER,
        BootRecord,
        _tagged,
        esx_boot_layout_problems,
        measure_esx_boot,
    )
    from vtalab.tpm.eventlog import EV_EFI_ACTION

    image = standard_image("8.0.2", 22380479)
    tpm = make_tpm()
    tpm.power_on(0)
    tpm.startup_clear()
    hs = replace(HostSpecific.for_host("esx-9", image.build), asset_tag="rack-\xe9")
    measure_esx_boot(tpm, image, hs)
    mb = read_measured_boot(tpm.log)
    assert mb.asset_tag == "rack-\xe9" and {"cmdline", "asset_tag"} <= mb.host_specific
    assert mb.version_files == ["b.b00", "k.b00"]
    assert mb.signers == [b"vtalab-signer-certificate|VMware, Inc."]
    assert mb.records[-3:] == [BootRecord(14, EV_EVENT_TAG, TAG_SIGNER),
                               BootRecord(14, EV_EVENT_TAG, TAG_CMDLINE),
                               BootRecord(14, EV_EVENT_TAG, TAG_ASSET_TAG)]
    first_module = next(r for r in mb.records if r.tag == TAG_MODULE)
    assert first_module.event_type == EV_EVENT_TAG and first_module.name
    # an untagged record in an esx-boot PCR is kept as such (and judged by the layout)
    tpm.extend(12, EV_EFI_ACTION, b"x")
    for name in ("vmx.v00", "vmx.v00"):  # a module measured three times: one duplicate
        _tagged(tpm, 13, TAG_MODULE, name.encode() + b"\x00", bytes(32))
    mb = read_measured_boot(tpm.log)
    assert mb.records[-3] == BootRecord(12, EV_EFI_ACTION)
    assert mb.duplicates == ["vmx.v00"]
    assert "a record of event type 0x80000007 in PCR 12 (esx-boot measures only tagged events " \
           "there)" in esx_boot_layout_problems(mb)


def test_module_name_must_be_nul_terminated() -> None:
    tpm = make_tpm()
    tpm.power_on(0)
    tpm.startup_clear()
    tpm.extend(13, EV_EVENT_TAG, tagged_event_data(TAG_MODULE, b"vmx.v00"))
    with pytest.raises(ValueError) as err:
        read_measured_boot(tpm.log)
    assert str(err.value) == "module name is not NUL-terminated"


def test_secure_boot_is_read_from_the_driver_config_variable_only() -> None:
    from vtalab.tpm.eventlog import (
        EFI_GLOBAL_VARIABLE,
        EV_EFI_VARIABLE_AUTHORITY,
        EV_EFI_VARIABLE_DRIVER_CONFIG,
        uefi_variable_data,
    )

    def secure_boot(*records: tuple[int, bytes]) -> bool | None:
        tpm = make_tpm()
        tpm.power_on(0)
        tpm.startup_clear()
        for etype, value in records:
            tpm.extend(7, etype, uefi_variable_data(EFI_GLOBAL_VARIABLE, "SecureBoot", value))
        return read_measured_boot(tpm.log).secure_boot

    assert secure_boot((EV_EFI_VARIABLE_DRIVER_CONFIG, b"\x01")) is True
    assert secure_boot((EV_EFI_VARIABLE_DRIVER_CONFIG, b"\x01\x00")) is True  # first byte
    assert secure_boot((EV_EFI_VARIABLE_DRIVER_CONFIG, b"\x00"),
                       (EV_EFI_VARIABLE_AUTHORITY, b"\x01")) is False
    assert secure_boot() is None


def test_an_asset_tag_that_is_not_utf8_is_read_with_replacement() -> None:
    from vtalab.esxi.measure import TAG_ASSET_TAG, _tagged

    tpm = make_tpm()
    tpm.power_on(0)
    tpm.startup_clear()
    _tagged(tpm, 14, TAG_ASSET_TAG, b"rack\xff7")
    assert read_measured_boot(tpm.log).asset_tag == "rack\ufffd7"
