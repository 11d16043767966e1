"""Prepared measurements (``Tpm.measure``) against the reference: one ``Tpm.extend`` per record.

A full boot's records are a pure function of the firmware profile, the image and the
host-specific items, so they are prepared once and applied to a TPM in one step, with the
PCR values for a starting state remembered. These tests hold the fast path to the slow one:
the same PCR values, the same log records and the same log bytes, from any starting state,
interleaved with single extends, on every call (cold and remembered; conftest empties
the memos before each test).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vtalab.core import crypto
from vtalab.errors import OperationError
from vtalab.esxi import measure
from vtalab.esxi.image import BootModule, EsxiImage, HostSpecific, standard_image
from vtalab.esxi.measure import (
    FirmwareProfile,
    Record,
    esx_boot_measurements,
    esx_boot_records,
    firmware_measurements,
    firmware_records,
    measure_full_boot,
    prepare,
)
from vtalab.tpm import Tpm, eventlog
from vtalab.tpm.eventlog import (
    EV_EFI_ACTION,
    EV_EVENT_TAG,
    EV_NO_ACTION,
    EV_POST_CODE,
    EV_SEPARATOR,
    EventLog,
    Measurements,
    parse_eventlog,
    replay,
)

from .conftest import make_tpm


def started(seed: int = 7, host: str = "esx-01") -> Tpm:
    t = make_tpm(seed, host)
    t.power_on(0)
    t.startup_clear()
    return t


def reference(t: Tpm, records: list[Record]) -> None:
    """The slow path: what a measuring party does without preparing, record by record."""
    for pcr, event_type, data, digest in records:
        t.extend(pcr, event_type, data, digest=digest)


def same_state(fast: Tpm, slow: Tpm) -> None:
    assert fast.pcrs == slow.pcrs
    assert fast.log.events == slow.log.events
    assert [e.parsed for e in fast.log] == [e.parsed for e in slow.log]  # not compared by ==
    assert fast.log.to_bytes() == slow.log.to_bytes()
    assert replay(parse_eventlog(fast.log.to_bytes())) == dict(enumerate(fast.pcrs))


FIRMWARES = [FirmwareProfile.for_vendor("Dell Inc.", "2.19.1", disk_id="esx-01"),
             FirmwareProfile.for_vendor("HPE", "U30 v2.90", secure_boot=False, disk_id="esx-02"),
             FirmwareProfile.for_vendor("Lenovo", "1.31", disk_id="esx-01")]
IMAGES = [standard_image("8.0.2", 22380479), standard_image("8.0.3", 24022510)]
HOSTS = [HostSpecific.for_host("esx-01", 22380479),
         HostSpecific(crypto.sha256(b"imgdb"), crypto.sha256(b"onetime"),
                      "autoPartition=FALSE", asset_tag="rack-7/u12"),
         HostSpecific(crypto.sha256(b"i"), crypto.sha256(b"o"), "")]


@pytest.mark.parametrize("fw", FIRMWARES, ids=lambda f: f"{f.vendor}-sb{int(f.secure_boot)}")
@pytest.mark.parametrize("image", IMAGES, ids=lambda i: i.key)
@pytest.mark.parametrize("hs", HOSTS, ids=["default", "asset-tag", "no-cmdline"])
def test_full_boot_is_the_records_extended_one_by_one(fw: FirmwareProfile, image: EsxiImage,
                                                       hs: HostSpecific) -> None:
    slow = started()
    reference(slow, firmware_records(fw) + esx_boot_records(image, hs))
    for _ in range(3):  # cold, then remembered (records, PCRs after, serialisation)
        fast = started()
        measure_full_boot(fast, fw, image, hs)
        same_state(fast, slow)


def test_the_records_are_what_esx_boot_and_the_firmware_measure() -> None:
    """The prepared boot is the documented sequence, not just self-consistent."""
    fw, image, hs = FIRMWARES[0], IMAGES[0], HOSTS[1]
    t = started()
    measure_full_boot(t, fw, image, hs)
    kinds = [(e.pcr, e.event_type) for e in t.log]
    assert kinds[:2] == [(0, 0x8), (0, 0x80000008)]  # CRTM version, firmware volume
    assert kinds.count((7, 0x80000001)) == 5  # SecureBoot, PK, KEK, db, dbx
    assert [p for p, k in kinds if k == EV_SEPARATOR] == [7, 0, 1, 2, 3, 4, 5, 6]
    tagged = [e for e in t.log if e.event_type == EV_EVENT_TAG]
    names = [e.parsed.data for e in tagged if e.parsed.tag_id in (2, 3)]  # type: ignore[union-attr]
    assert names[-2:] == [b"imgdb.tgz\x00", b"onetime.tgz\x00"]
    assert len(names) == len(image.modules) + 2  # and the two host-specific ones
    assert [e.parsed.data for e in tagged[-2:]] == [  # type: ignore[union-attr]
        b"b.b00 autoPartition=FALSE", b"rack-7/u12"]
    assert len(t.log) == len(firmware_records(fw)) + len(esx_boot_records(image, hs))


def test_from_a_state_other_than_reset_and_between_single_extends() -> None:
    """``measure`` folds from whatever the PCRs hold, and the log keeps every record in order
    (single extends before, between and after batches; serialised at any point)."""
    fw, image, hs = FIRMWARES[1], IMAGES[1], HOSTS[0]
    fast, slow = started(), started()
    for t in (fast, slow):
        t.extend(4, EV_EFI_ACTION, b"before")
        t.extend(13, EV_POST_CODE, b"", digest=crypto.sha256(b"early module"))
    assert fast.log.to_bytes() == slow.log.to_bytes()  # serialised before the batches
    fast.measure(*firmware_measurements(fw))
    reference(slow, firmware_records(fw))
    same_state(fast, slow)
    for t in (fast, slow):
        t.extend(14, EV_EFI_ACTION, b"between")
    fast.measure(*esx_boot_measurements(image, hs))
    reference(slow, esx_boot_records(image, hs))
    fast.extend(0, EV_NO_ACTION, b"after")
    slow.extend(0, EV_NO_ACTION, b"after")
    same_state(fast, slow)
    # The same batch again, now from the PCRs it left: another starting state.
    fast.measure(*esx_boot_measurements(image, hs))
    reference(slow, esx_boot_records(image, hs))
    same_state(fast, slow)


record_st = st.tuples(
    st.integers(0, eventlog.NUM_PCRS - 1),
    st.sampled_from([EV_POST_CODE, EV_NO_ACTION, EV_SEPARATOR, EV_EFI_ACTION, 0xD]),
    st.binary(max_size=24),
    st.one_of(st.none(), st.binary(min_size=32, max_size=32)),
)
step_st = st.one_of(st.tuples(st.just("extend"), record_st),
                    st.tuples(st.just("batch"), st.lists(record_st, max_size=8)),
                    st.tuples(st.just("to_bytes"), st.none()))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step_st, max_size=12), repeat=st.booleans())
def test_any_records_any_order_match_the_reference(steps: list[tuple[str, object]],
                                                   repeat: bool) -> None:
    fast, slow = started(), started()
    batches: dict[int, Measurements] = {}
    for i, (kind, arg) in enumerate(steps):
        if kind == "extend":
            one: Record = arg  # type: ignore[assignment]
            for t in (fast, slow):
                t.extend(one[0], one[1], one[2], digest=one[3])
        elif kind == "batch":
            records: list[Record] = arg  # type: ignore[assignment]
            m = batches.setdefault(i, prepare(records))
            fast.measure(m)
            reference(slow, records)
            if repeat:  # the same object applied twice: its remembered results serve
                fast.measure(m)
                reference(slow, records)
        else:
            assert fast.log.to_bytes() == slow.log.to_bytes()
    same_state(fast, slow)


def test_measure_needs_startup_and_refuses_bad_records() -> None:
    t = make_tpm()
    m = prepare([(0, EV_POST_CODE, b"x", None)])
    with pytest.raises(OperationError):
        t.measure(m)
    t.power_on(0)
    with pytest.raises(OperationError):
        t.measure(m)
    with pytest.raises(ValueError, match="out of range"):
        prepare([(24, EV_POST_CODE, b"x", None)])
    with pytest.raises(ValueError, match="32 bytes"):
        prepare([(0, EV_POST_CODE, b"x", b"short")])


def test_remembered_results_are_bounded() -> None:
    m = prepare([(0, EV_POST_CODE, b"x", None), (3, EV_POST_CODE, b"y", None)])
    assert m.pcrs == (0, 3)
    starts = [(crypto.sha256(bytes([i])), bytes(32)) for i in range(3 * eventlog._AFTER_LIMIT)]  # noqa: SLF001
    for s in starts:
        after = m.after(s)
        assert after[0] == crypto.sha256(s[0] + crypto.sha256(b"x"))
        assert len(m._after) <= eventlog._AFTER_LIMIT  # noqa: SLF001
    with pytest.raises(ValueError):
        m.after((bytes(32),))
    image = IMAGES[0]
    host_limit = measure._HOST_PARTS_LIMIT  # noqa: SLF001
    assert host_limit >= 3 * 10_000  # a 10,000-host estate never empties it mid-run
    measure._ESX_BOOT_HOST.limit = 40  # noqa: SLF001  (the same code at a testable size)
    try:
        for i in range(100):
            esx_boot_measurements(image, HostSpecific.for_host(f"h{i}", image.build))
            assert len(measure._ESX_BOOT_HOST) <= 40  # noqa: SLF001
    finally:
        measure._ESX_BOOT_HOST.limit = host_limit  # noqa: SLF001
    assert len(measure._ESX_BOOT) == 1  # noqa: SLF001  (one image: one shared part)
    for _ in range(measure._PREPARED_LIMIT + 5):  # noqa: SLF001
        twin = EsxiImage(image.version, image.build, image.modules, image.signer)
        esx_boot_measurements(twin, HOSTS[0])
        assert len(measure._ESX_BOOT) <= measure._PREPARED_LIMIT  # noqa: SLF001
    assert len(eventlog._RUNS) <= eventlog._RUNS_LIMIT  # noqa: SLF001


def test_esx_boot_memo_is_per_image_object_and_value() -> None:
    image, hs = IMAGES[0], HOSTS[0]
    first = esx_boot_measurements(image, hs)
    again = esx_boot_measurements(image, hs)
    assert again[0] is first[0] and again[1] is first[1]
    # An equal image that is another object is prepared again, to the same records.
    twin = EsxiImage(image.version, image.build, image.modules, image.signer,
                     image.release_name, image.components)
    again = esx_boot_measurements(twin, hs)
    assert again[0] is not first[0] and events(again) == events(first)
    # A different image (one module's payload changed) never gets the remembered records.
    changed = EsxiImage(image.version, image.build,
                        (BootModule("b.b00", crypto.sha256(b"patched"),
                                    version_section=image.modules[0].version_section),
                         *image.modules[1:]))
    assert events(esx_boot_measurements(changed, hs)) != events(first)
    other_host = esx_boot_measurements(image, HOSTS[2])
    assert other_host[0] is first[0]  # the image's part is shared by its hosts
    assert events(other_host) != events(first)
    other_signer = EsxiImage(image.version, image.build, image.modules, "Someone Else")
    assert esx_boot_measurements(other_signer, hs)[1].events != first[1].events


def events(parts: tuple[Measurements, ...]) -> list[eventlog.Event]:
    return [e for part in parts for e in part.events]


def test_every_host_shares_the_firmware_and_image_parts() -> None:
    """Hosts of one server model and image share the prepared records that do not name
    them; what does (the boot disk's partition, imgdb/onetime, the command line) is their
    own, and each host's boot is still exactly its own records extended one by one."""
    image = IMAGES[0]
    seen = []
    for host in ("esx-01", "esx-02", "esx-03"):
        fw = FirmwareProfile.for_vendor("Dell Inc.", "2.19.1", disk_id=host)
        hs = HostSpecific.for_host(host, image.build)
        parts = firmware_measurements(fw) + esx_boot_measurements(image, hs)
        slow = started(host=host)
        reference(slow, firmware_records(fw) + esx_boot_records(image, hs))
        fast = started(host=host)
        fast.measure(*parts)
        same_state(fast, slow)
        seen.append(parts)
    assert seen[0][0] is seen[1][0] is seen[2][0]  # the firmware's own records
    assert seen[0][2] is seen[1][2] is seen[2][2]  # the image's records
    assert len({id(p[1]) for p in seen}) == len({id(p[3]) for p in seen}) == 3
    # A subclass of the profile may measure otherwise: prepared afresh, never shared.

    class Custom(FirmwareProfile):
        __slots__ = ()

    fw = FirmwareProfile.for_vendor("Dell Inc.", "2.19.1", disk_id="esx-01")
    custom = Custom(*(getattr(fw, f) for f in ("vendor", "bios_version", "secure_boot", "pk",
                                                "kek", "db", "dbx", "esp_guid")))
    assert firmware_measurements(custom)[0] is not seen[0][0]
    assert events(firmware_measurements(custom)) == events(seen[0][:2])


def test_log_serialisation_survives_removed_records() -> None:
    """The log is append-only by contract; if records are removed anyway, ``to_bytes``
    starts again from the records it holds rather than serve a stale prefix."""
    m = prepare(firmware_records(FIRMWARES[0]))
    log = EventLog()
    log.extend(m)
    full = log.to_bytes()
    del log.events[-3:]
    assert log.to_bytes() == EventLog(log.events).to_bytes() != full
    log.extend(m)
    assert log.to_bytes() == EventLog(log.events).to_bytes()


def test_host_specific_is_remembered_and_typed() -> None:
    a = HostSpecific.for_host("esx-01", 22380479)
    assert HostSpecific.for_host("esx-01", 22380479) is a
    assert HostSpecific.for_host("esx-01", 22380479, "runweasel") == a
    assert HostSpecific.for_host("esx-02", 22380479) != a
    assert HostSpecific.for_host("esx-01", 24022510) != a

    class Custom(HostSpecific):
        __slots__ = ()

    c = Custom.for_host("esx-01", 22380479)
    assert type(c) is Custom and c.imgdb_digest == a.imgdb_digest


def test_host_boots_record_the_current_tpm_identity() -> None:
    """The host remembers its TPM's trace identity, and works it out again when the EK
    certificate or the TPM itself is replaced (a new motherboard, a re-issued certificate)."""
    from datetime import datetime

    from vtalab.core.kernel import Kernel
    from vtalab.core.parameters import Parameters
    from vtalab.esxi.host import EsxiHost
    from vtalab.esxi.releases import image_for

    def ca_issued(name: str, tpm: Tpm) -> bytes:
        key = crypto.derive_private_key(3, name)
        when = (datetime(2020, 1, 1), datetime(2040, 1, 1))  # noqa: DTZ001
        ca = crypto.make_ca(name, key, *when)
        return crypto.cert_der(crypto.issue_certificate("EK", tpm.ek, ca, key, *when))

    k = Kernel(5)
    tpm = make_tpm()
    h = EsxiHost(k, Parameters(), "esx-01", image_for("8.0 U2"), role="trusted", tpm=tpm,
                 firmware=FIRMWARES[0])
    tpm.ek_certificate_der = ca_issued("Vendor A TPM CA", tpm)
    seen = []
    for change in ("none", "none", "certificate", "tpm"):
        if change == "certificate":
            tpm.ek_certificate_der = ca_issued("Vendor B TPM CA", tpm)
        elif change == "tpm":
            tpm = h.tpm = make_tpm(host="esx-01-new-board")
        if h.is_up:
            h.reboot("full")
        else:
            h.power_on()
        k.run()
        reset = [e for e in k.trace if e.kind == "tpm.reset"][-1].fields
        assert reset["ek"] == crypto.sha256(crypto.public_der(tpm.ek)).hex()
        seen.append(reset["ek_issuer"])
    assert seen[0] == seen[1] and "Vendor A" in seen[0]
    assert "Vendor B" in seen[2]
    assert seen[3] is None  # the new TPM has no certificate yet


def test_a_vendors_secure_boot_databases_are_worked_out_once() -> None:
    """Every server of a vendor holds the same PK, KEK, db and dbx (the bytes the firmware
    measures into PCR 7): the same objects, and what the profile always held."""
    from vtalab.esxi.measure import (
        _EFI_CERT_SHA256_GUID,
        _EFI_CERT_X509_GUID,
        _signature_list,
        _vendor_bytes,
    )

    owner = "77fa9abd-0359-4d32-bd60-28f4e78f784b"
    for vendor in ("Dell Inc.", "HPE"):
        expected = tuple(_signature_list(_EFI_CERT_X509_GUID, owner,
                                         [_vendor_bytes(vendor, what, 32)])
                         for what in ("PK", "KEK", "db")) + (
            _signature_list(_EFI_CERT_SHA256_GUID, owner,
                            [_vendor_bytes(vendor, f"dbx{i}") for i in range(3)]),)
        a = FirmwareProfile.for_vendor(vendor, disk_id="esx-01")
        b = FirmwareProfile.for_vendor(vendor, "1.0", secure_boot=False, disk_id="esx-02")
        for fw in (a, b):
            assert (fw.pk, fw.kek, fw.db, fw.dbx) == expected
        assert a.db is b.db and a.esp_guid != b.esp_guid
    assert FirmwareProfile.for_vendor("HPE").pk != FirmwareProfile.for_vendor("Dell Inc.").pk


@pytest.mark.parametrize("disk", ["esx-01", "esx-02", ""])
def test_image_records_are_the_straightforward_ones(disk: str) -> None:
    """The boot-chain image records, built from the remembered ESP nodes and File nodes
    (measure._esp_nodes, measure._image_parts), are the records written out in full."""
    from vtalab.tpm import eventlog as el

    fw = measure.FirmwareProfile.for_vendor("Dell", disk_id=disk)
    for _ in range(2):  # the second time remembered
        want = [(image.pcr, image.event_type,
                 el.image_load_data(image.load_address, image.size, el.device_path(
                     el.dp_pci_root(0), el.dp_pci(0x17, 0), el.dp_sata(0),
                     el.dp_hard_drive(1, 0x40, 0x32000, fw.esp_guid), el.dp_file(image.path))),
                 crypto.sha256(f"vtalab-esx-boot|{image.file_name}".encode()))
                for image in measure.BOOT_CHAIN]
        assert measure.firmware_image_records(fw) == want
