"""Every way parse_eventlog refuses a log, with its exact message and at its exact bound
(kills the surviving mutants of the parser, docs/security.md)."""

from __future__ import annotations

import struct

import pytest

from vtalab.core import crypto
from vtalab.tpm.eventlog import (
    EV_EFI_ACTION,
    EV_EVENT_TAG,
    EV_S_CRTM_VERSION,
    Event,
    EventLog,
    Undecoded,
    parse_eventlog,
    tagged_event_data,
)

HEADER = EventLog([]).to_bytes()
REC = Event.make(13, EV_EVENT_TAG, crypto.sha256(b"x"), tagged_event_data(2, b"x\x00"))


def record(pcr: int = 13, etype: int = EV_EVENT_TAG, count: int = 1, alg: int = 0x000B,
           size: int | None = None, data: bytes = tagged_event_data(2, b"x\x00")) -> bytes:
    n = len(data) if size is None else size
    return (struct.pack("<III", pcr, etype, count) + struct.pack("<H", alg) + bytes(32)
            + struct.pack("<I", n) + data)


@pytest.mark.parametrize(("tail", "message"), [
    (b"\x00" * 11, f"truncated record header at {len(HEADER)}"),
    (record(count=2), f"record at {len(HEADER)} has 2 digests (expected 1)"),
    (record()[:12 + 2 + 32 + 3], "truncated digest"),
    (record(alg=0x8004), "unexpected digest algorithm 0x8004"),
    (record(alg=0x0004), "unexpected digest algorithm 0x0004"),
    (record(size=99), "event data overruns the log"),
    (record(size=(1 << 24) + 1, data=b""), "event data overruns the log"),
])
def test_malformed_record_messages(tail: bytes, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_eventlog(HEADER + tail)
    assert str(err.value) == message


def test_exact_bounds_are_accepted() -> None:
    # a record that ends exactly at the end of the log, with zero-length data
    log = parse_eventlog(HEADER + record(etype=EV_EFI_ACTION, data=b""))
    assert [(e.pcr, e.event_type, e.data) for e in log] == [(13, EV_EFI_ACTION, b"")]
    assert len(parse_eventlog(HEADER + REC.to_bytes() + REC.to_bytes())) == 2


def test_event_make_bounds_and_undecoded_data() -> None:
    assert Event.make(0, EV_EFI_ACTION, bytes(32), b"ok").pcr == 0
    assert Event.make(23, EV_EFI_ACTION, bytes(32), b"ok").pcr == 23
    for pcr in (-1, 24):
        with pytest.raises(ValueError) as err:
            Event.make(pcr, EV_EFI_ACTION, bytes(32), b"ok")
        assert str(err.value) == f"PCR {pcr} out of range"
    with pytest.raises(ValueError) as err:
        Event.make(0, EV_EFI_ACTION, bytes(31), b"ok")
    assert str(err.value) == "SHA-256 digest must be 32 bytes"
    e = Event.make(0, EV_S_CRTM_VERSION, bytes(32), b"abc")
    assert e.parsed == Undecoded("EV_S_CRTM_VERSION must be UCS-2")
    assert e.data == b"abc" and e.digest == bytes(32) and e.event_type == EV_S_CRTM_VERSION


def test_event_size_cap_is_exactly_16_mib() -> None:
    cap = 1 << 24
    ok = parse_eventlog(HEADER + record(etype=EV_EFI_ACTION + 1, data=bytes(cap)))
    assert len(next(iter(ok)).data) == cap
    with pytest.raises(ValueError, match="overruns"):  # present in full, yet over the cap
        parse_eventlog(HEADER + record(etype=EV_EFI_ACTION + 1, data=bytes(cap + 1)))


def test_a_complete_header_without_its_digest_is_a_truncated_digest() -> None:
    with pytest.raises(ValueError) as err:
        parse_eventlog(HEADER + record()[:12])
    assert str(err.value) == "truncated digest"


def test_a_size_with_the_top_bit_set_is_refused_not_read_backwards() -> None:
    with pytest.raises(ValueError) as err:
        parse_eventlog(HEADER + record(size=0xFFFFFFF0, data=b"") + REC.to_bytes())
    assert str(err.value) == "event data overruns the log"
