"""``read_measured_boot`` reads each record once (remembered per record object) and folds
the readings: held here to the straightforward fold it replaced, record by record, on
real boots and on any mix of well-formed and malformed records, cold and remembered."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vtalab.core import crypto
from vtalab.esxi import measure
from vtalab.esxi.image import HostSpecific, VersionRecord, standard_image
from vtalab.esxi.measure import (
    _HOST_SPECIFIC,
    EFI_GLOBAL_VARIABLE,
    PCR_ESX_BOOT_FIRST,
    TAG_ASSET_TAG,
    TAG_BOOT_OPTION,
    TAG_CMDLINE,
    TAG_MODULE,
    TAG_SIGNER,
    TAG_VERSION,
    BootRecord,
    FirmwareProfile,
    LoadedImage,
    MeasuredBoot,
    _image_path,
    _parse_version_record,
    esx_boot_layout_problems,
    measure_full_boot,
    read_measured_boot,
    version_record_data,
)
from vtalab.tpm.eventlog import (
    EV_EFI_BOOT_SERVICES_APPLICATION,
    EV_EFI_BOOT_SERVICES_DRIVER,
    EV_EFI_VARIABLE_DRIVER_CONFIG,
    EV_EVENT_TAG,
    EV_POST_CODE,
    EV_S_CRTM_VERSION,
    Event,
    TaggedEvent,
    UefiVariable,
    parse_eventlog,
    tagged_event_data,
    uefi_variable_data,
)

from .conftest import make_tpm


def reference(events: list[Event]) -> MeasuredBoot:
    """The fold as it was written before readings were remembered."""
    mb = MeasuredBoot()
    for e in events:
        p = e.parsed
        if e.pcr >= PCR_ESX_BOOT_FIRST:
            if e.event_type == EV_EVENT_TAG and isinstance(p, TaggedEvent):
                _read_tag(mb, e, p)
            else:
                mb.records.append(BootRecord(e.pcr, e.event_type))
        elif e.event_type == EV_EFI_VARIABLE_DRIVER_CONFIG and isinstance(p, UefiVariable):
            if e.pcr == 7 and p.name == "SecureBoot" and p.guid == EFI_GLOBAL_VARIABLE:
                mb.secure_boot = p.data[:1] == b"\x01"
        elif e.event_type == EV_S_CRTM_VERSION and isinstance(p, str):
            mb.crtm_version = p
        elif e.event_type in (EV_EFI_BOOT_SERVICES_APPLICATION, EV_EFI_BOOT_SERVICES_DRIVER):
            mb.efi_images.append(LoadedImage(e.pcr, e.event_type, _image_path(p), e.digest))
    return mb


def _read_tag(mb: MeasuredBoot, e: Event, p: TaggedEvent) -> None:
    if p.tag_id in (TAG_MODULE, TAG_BOOT_OPTION):
        if not p.data.endswith(b"\x00"):
            raise ValueError("module name is not NUL-terminated")
        name = p.data[:-1].decode("utf-8")
        mb.records.append(BootRecord(e.pcr, e.event_type, p.tag_id, name))
        if name in mb.modules and name not in mb.duplicates:
            mb.duplicates.append(name)
        mb.modules[name] = e.digest
        mb.module_pcrs[name] = e.pcr
        if name in _HOST_SPECIFIC:
            mb.host_specific.add(name)
        return
    if p.tag_id not in (TAG_VERSION, TAG_CMDLINE, TAG_ASSET_TAG, TAG_SIGNER):
        mb.records.append(BootRecord(e.pcr, e.event_type, p.tag_id))
        return
    if crypto.sha256(p.data) != e.digest:
        raise ValueError(f"tag {p.tag_id} record digest does not match its data")
    if p.tag_id == TAG_VERSION:
        record, file_name = _parse_version_record(p.data)
        mb.records.append(BootRecord(e.pcr, e.event_type, p.tag_id, file_name))
        mb.versions.append(record)
        mb.version_files.append(file_name)
        return
    mb.records.append(BootRecord(e.pcr, e.event_type, p.tag_id))
    if p.tag_id == TAG_CMDLINE:
        mb.cmdline = p.data.decode("utf-8")
        mb.host_specific.add("cmdline")
    elif p.tag_id == TAG_ASSET_TAG:
        mb.asset_tag = p.data.decode("utf-8", "replace")
        mb.host_specific.add("asset_tag")
    elif p.tag_id == TAG_SIGNER:
        mb.signers.append(p.data)


def outcome(read: object, events: list[Event]) -> MeasuredBoot | str:
    try:
        return read(events)  # type: ignore[operator,no-any-return]
    except ValueError as exc:
        return f"{type(exc).__name__}: {exc}"


def check(events: list[Event]) -> None:
    expected = outcome(reference, events)
    for _ in range(2):  # cold, then every reading remembered
        got = outcome(read_measured_boot, events)
        assert got == expected
        if isinstance(got, MeasuredBoot):  # the layout, remembered, as worked out afresh
            layout = measure._layout_problems(got.records, got.duplicates)  # noqa: SLF001
            assert esx_boot_layout_problems(got) == layout


def test_real_boots_read_as_the_reference() -> None:
    image = standard_image("8.0.2", 22380479)
    for host, secure_boot in (("esx-01", True), ("esx-02", False), ("esx-03", True)):
        tpm = make_tpm(host=host)
        tpm.power_on(0)
        tpm.startup_clear()
        measure_full_boot(tpm, FirmwareProfile.for_vendor("HPE", secure_boot=secure_boot,
                                                          disk_id=host),
                          image, HostSpecific(crypto.sha256(host.encode()), bytes(32),
                                              "autoPartition=FALSE", asset_tag=host))
        events = list(parse_eventlog(tpm.log.to_bytes()))
        check(events)
        mb = read_measured_boot(events)
        assert mb.asset_tag == host and mb.secure_boot is secure_boot
        assert len(mb.efi_images) == 3 and mb.esxi_version == "8.0.2-22380479"


def tagged(pcr: int, tag: int, data: bytes, good_digest: bool) -> Event:
    digest = crypto.sha256(data) if good_digest else crypto.sha256(b"other" + data)
    return Event.make(pcr, EV_EVENT_TAG, digest, tagged_event_data(tag, data))


name_st = st.sampled_from(["b.b00", "k.b00", "imgdb.tgz", "onetime.tgz", "useropts.gz",
                           "vmx.v00", "esxupdt.v00"])
event_st = st.one_of(
    st.builds(lambda pcr, tag, name, nul, good: tagged(
        pcr, tag, name.encode() + (b"\x00" if nul else b"\xff"), good),
        st.integers(11, 14), st.sampled_from([TAG_MODULE, TAG_BOOT_OPTION]), name_st,
        st.booleans(), st.booleans()),
    st.builds(lambda tag, data, good: tagged(14, tag, data, good),
              st.sampled_from([TAG_CMDLINE, TAG_ASSET_TAG, TAG_SIGNER, 5]),
              st.sampled_from([b"b.b00 runweasel", b"rack\xff7", b"signer", b""]),
              st.booleans()),
    st.builds(lambda name, good, damaged: tagged(
        13, TAG_VERSION, (version_record_data(VersionRecord("esx", "ESXi", "8.0.2"), name)
                          [:-3] if damaged else
                          version_record_data(VersionRecord("esx", "ESXi", "8.0.2"), name)),
        good), name_st, st.booleans(), st.booleans()),
    st.builds(lambda pcr: Event.make(pcr, EV_POST_CODE, bytes(32), b"x"),
              st.integers(0, 14)),
    st.builds(lambda on: Event.make(7, EV_EFI_VARIABLE_DRIVER_CONFIG, bytes(32),
                                    uefi_variable_data(EFI_GLOBAL_VARIABLE, "SecureBoot",
                                                       b"\x01" if on else b"\x00")),
              st.booleans()),
    st.builds(lambda v: Event.make(0, EV_S_CRTM_VERSION, bytes(32),
                                   (v + "\x00").encode("utf-16-le")),
              st.sampled_from(["2.19.1", "U30"])),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(event_st, max_size=12), cold=st.booleans())
def test_any_records_read_as_the_reference(events: list[Event], cold: bool) -> None:
    if cold:
        measure._READINGS.cache_clear()  # noqa: SLF001
    check(events)


def test_a_layout_is_remembered_by_its_records_not_by_the_boot() -> None:
    image = standard_image("8.0.2", 22380479)
    tpm = make_tpm()
    tpm.power_on(0)
    tpm.startup_clear()
    measure_full_boot(tpm, FirmwareProfile.for_vendor("HPE"), image,
                      HostSpecific.for_host("esx-01", image.build))
    mb = read_measured_boot(list(tpm.log))
    assert esx_boot_layout_problems(mb) == []
    first = esx_boot_layout_problems(mb)
    first.append("a caller's own list")  # a fresh list each time: the memo is not touched
    assert esx_boot_layout_problems(mb) == []
    mb.records.append(mb.records[-1])  # a second command line: another layout
    assert esx_boot_layout_problems(mb) == ["2 command lines measured (esx-boot measures one)"]
    mb.records.pop()
    mb.duplicates.append("imgdb.tgz")
    assert esx_boot_layout_problems(mb) == ["imgdb.tgz measured more than once"]


def test_readings_are_per_record_object_and_bounded() -> None:
    a = tagged(14, TAG_CMDLINE, b"b.b00 one", True)
    read_measured_boot([a])
    assert measure._READINGS[id(a)][0] is a  # noqa: SLF001  (held: its id stays its own)
    bad = tagged(14, TAG_CMDLINE, b"b.b00 two", False)
    for _ in range(2):  # a malformed record is never remembered: it fails every time
        with pytest.raises(ValueError, match="does not match"):
            read_measured_boot([bad])
    assert id(bad) not in measure._READINGS  # noqa: SLF001
    limit = measure._READINGS.limit  # noqa: SLF001
    assert limit >= 7 * 10_000  # a 10,000-host estate's own records, and the shared ones
    measure._READINGS.limit = 8  # noqa: SLF001  (the same code at a testable size)
    try:
        for i in range(30):
            read_measured_boot([tagged(14, TAG_CMDLINE, f"b.b00 {i}".encode(), True)])
            assert len(measure._READINGS) <= 8  # noqa: SLF001
    finally:
        measure._READINGS.limit = limit  # noqa: SLF001
