"""The crypto-agile event log: layout, parse/serialize round trip, replay, rejections."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vtalab.core import crypto
from vtalab.esxi.image import HostSpecific, standard_image
from vtalab.esxi.measure import FirmwareProfile, measure_full_boot
from vtalab.tpm import parse_eventlog, replay
from vtalab.tpm.eventlog import (
    EFI_GLOBAL_VARIABLE,
    EV_EFI_VARIABLE_DRIVER_CONFIG,
    EV_EVENT_TAG,
    EV_NO_ACTION,
    EV_POST_CODE,
    EV_SEPARATOR,
    Event,
    EventLog,
    TaggedEvent,
    UefiVariable,
    tagged_event_data,
    uefi_variable_data,
)

from .conftest import make_tpm


def test_header_is_spec_id_event() -> None:
    raw = EventLog().to_bytes()
    pcr, etype = struct.unpack_from("<II", raw)
    assert (pcr, etype) == (0, EV_NO_ACTION)
    assert raw[8:28] == bytes(20)
    assert raw[32:48] == b"Spec ID Event03\x00"
    assert len(parse_eventlog(raw)) == 0


def test_round_trip_keeps_parsed_data() -> None:
    log = EventLog([
        Event.make(7, EV_EFI_VARIABLE_DRIVER_CONFIG,
                   crypto.sha256(b"v"), uefi_variable_data(EFI_GLOBAL_VARIABLE, "SecureBoot",
                                                           b"\x01")),
        Event.make(13, EV_EVENT_TAG, crypto.sha256(b"m"), tagged_event_data(2, b"k.b00\x00")),
    ])
    back = parse_eventlog(log.to_bytes())
    assert list(back) == list(log)
    assert back.events[0].parsed == UefiVariable(EFI_GLOBAL_VARIABLE, "SecureBoot", b"\x01")
    assert back.events[1].parsed == TaggedEvent(2, b"k.b00\x00")


def test_replay_rule() -> None:
    d = crypto.sha256(b"a")
    events = [Event.make(4, EV_POST_CODE, d, b""), Event.make(4, EV_SEPARATOR, d, bytes(4))]
    assert replay(events)[4] == crypto.sha256(crypto.sha256(bytes(32) + d) + d)
    assert replay(events)[0] == bytes(32)


def test_no_action_not_extended_but_startup_locality_sets_pcr0() -> None:
    loc = Event.make(0, EV_NO_ACTION, bytes(32), b"StartupLocality\x00\x03")
    assert replay([loc])[0] == bytes(31) + b"\x03"


@pytest.mark.parametrize("mutate", [
    lambda b: b[:20],  # shorter than the header
    lambda b: b[:-1],  # last event truncated
    lambda b: b"\x01" + b[1:],  # header PCR index not 0
    lambda b: b[:32] + b"Spec ID Event02\x00" + b[48:],
    lambda b: b + b"\x00" * 5,  # dangling record header
])
def test_malformed_logs_rejected(mutate) -> None:  # type: ignore[no-untyped-def]
    log = EventLog([Event.make(13, EV_EVENT_TAG, bytes(32), tagged_event_data(2, b"x\x00"))])
    with pytest.raises(ValueError):
        parse_eventlog(mutate(log.to_bytes()))


def test_malformed_event_data_rejected() -> None:
    with pytest.raises(ValueError, match="taggedEventDataSize"):
        Event.make(13, EV_EVENT_TAG, bytes(32), struct.pack("<II", 2, 9) + b"x")
    with pytest.raises(ValueError, match="UEFI_VARIABLE_DATA"):
        Event.make(7, EV_EFI_VARIABLE_DRIVER_CONFIG, bytes(32), b"short")
    with pytest.raises(ValueError):
        Event.make(24, EV_SEPARATOR, bytes(32), bytes(4))


_IMAGES = [standard_image("8.0.2", 22380479), standard_image("8.0.3", 24022510)]

_steps = st.lists(st.one_of(
    st.tuples(st.just("extend"), st.integers(0, 23), st.binary(max_size=40)),
    st.tuples(st.just("tag"), st.integers(8, 15), st.binary(max_size=20)),
    st.tuples(st.just("boot"), st.integers(0, 1), st.booleans()),
    st.tuples(st.just("reset"), st.just(0), st.booleans()),
), max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_steps)
def test_replay_of_serialized_log_matches_pcrs(steps: list[tuple[str, int, object]]) -> None:
    tpm = make_tpm()
    now = 0
    tpm.power_on(now)
    tpm.startup_clear()
    for kind, n, arg in steps:
        if kind == "extend":
            assert isinstance(arg, bytes)
            tpm.extend(n, EV_POST_CODE, arg)
        elif kind == "tag":
            assert isinstance(arg, bytes)
            tpm.extend(n, EV_EVENT_TAG, tagged_event_data(n, arg), digest=crypto.sha256(arg))
        elif kind == "boot":
            image = _IMAGES[n]
            measure_full_boot(tpm, FirmwareProfile.for_vendor("HPE", secure_boot=bool(arg)),
                              image, HostSpecific.for_host("h", image.build))
        else:
            now += 1000
            tpm.shutdown(orderly=bool(arg))
            tpm.power_off(now)
            tpm.power_on(now)
            tpm.startup_clear()
        assert replay(parse_eventlog(tpm.log.to_bytes())) == dict(enumerate(tpm.pcrs))
