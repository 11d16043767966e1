"""Shared runs of records (``eventlog.share_run``) against the reference parser.

Every host of a server model and image logs the same firmware and esx-boot records, so
``parse_eventlog`` takes such a run whole where a log holds exactly its bytes at a record
boundary. These tests hold it to parsing record by record (no runs): the same records,
the same ``parsed`` data, the same error for a damaged log, whatever surrounds the runs.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vtalab.esxi.image import HostSpecific, standard_image
from vtalab.esxi.measure import (
    FirmwareProfile,
    esx_boot_measurements,
    firmware_measurements,
    measure_full_boot,
)
from vtalab.tpm import eventlog
from vtalab.tpm.eventlog import (
    EV_EFI_ACTION,
    EV_NO_ACTION,
    EV_POST_CODE,
    EventLog,
    Measurements,
    parse_eventlog,
    replay,
    share_run,
)

from .conftest import make_tpm

IMAGE = standard_image("8.0.2", 22380479)


def reference(data: bytes) -> list[eventlog.Event] | str:
    """Record by record, no runs: the events, or the error's message."""
    try:
        data = bytes(data)
        return eventlog._parse_records(data, eventlog._parse_header(data), {})  # noqa: SLF001
    except ValueError as exc:
        return f"ValueError: {exc}"


def parsed(data: bytes) -> list[eventlog.Event] | str:
    try:
        return list(parse_eventlog(data))
    except ValueError as exc:
        return f"ValueError: {exc}"


def same(a: list[eventlog.Event] | str, b: list[eventlog.Event] | str) -> None:
    assert a == b
    if not isinstance(a, str):
        assert not isinstance(b, str)
        assert [e.parsed for e in a] == [e.parsed for e in b]


def replayed_as_reference(data: bytes) -> None:
    """``replay`` of the parsed log (shared runs folded in one step) is ``replay`` record
    by record (a plain list of the same records)."""
    try:
        log = parse_eventlog(data)
    except ValueError:
        return
    assert replay(log) == replay(list(log))


def booted_log(host: str) -> bytes:
    tpm = make_tpm(host=host)
    tpm.power_on(0)
    tpm.startup_clear()
    measure_full_boot(tpm, FirmwareProfile.for_vendor("Dell Inc.", disk_id=host), IMAGE,
                      HostSpecific.for_host(host, IMAGE.build))
    return tpm.log.to_bytes()


def test_a_booted_hosts_log_uses_the_shared_runs_and_parses_the_same() -> None:
    data = booted_log("esx-01")
    assert len(eventlog._RUNS) == 2  # noqa: SLF001  (the firmware's own, the image's)
    log = parse_eventlog(data)
    same(list(log), reference(data))
    assert log.to_bytes() == data
    assert [len(b.events) for _, b in log.runs] == [17, 32]  # firmware's own, the image's
    assert replay(log) == replay(list(log))
    # The runs are taken whole: far fewer records are decoded than the log holds.
    other = booted_log("esx-02")
    calls: list[int] = []
    make = eventlog.Event.make

    def counting(*a: object) -> eventlog.Event:
        calls.append(1)
        return make(*a)  # type: ignore[arg-type]

    eventlog.Event.make = counting  # type: ignore[method-assign]
    try:
        again = parse_eventlog(other)
    finally:
        eventlog.Event.make = make  # type: ignore[method-assign]
    assert len(calls) == 3 + 4  # the boot disk's 3 images; imgdb, onetime, signer, cmdline
    same(list(again), reference(other))


def test_damage_inside_or_around_a_run_is_found_as_without_runs() -> None:
    data = booted_log("esx-01")
    header = len(eventlog._SPEC_ID_EVENT)  # noqa: SLF001
    for cut in (header + 1, header + 60, len(data) // 2, len(data) - 5, len(data) - 1):
        same(parsed(data[:cut]), reference(data[:cut]))
    for at in range(header, len(data), 97):  # one byte changed here and there
        bad = bytearray(data)
        bad[at] ^= 0x41
        same(parsed(bytes(bad)), reference(bytes(bad)))


def test_a_run_the_parser_would_refuse_is_not_kept() -> None:
    m = Measurements([eventlog.Event.make(0, EV_POST_CODE, bytes(32), b"x")])
    big = eventlog._MAX_EVENT_SIZE  # noqa: SLF001
    eventlog._MAX_EVENT_SIZE = 0  # noqa: SLF001  (now every record with data is too big)
    try:
        share_run(m)
        assert not eventlog._RUNS  # noqa: SLF001
    finally:
        eventlog._MAX_EVENT_SIZE = big  # noqa: SLF001
    share_run(m)
    share_run(m)  # once only
    assert sum(len(v) for v in eventlog._RUNS.values()) == 1  # noqa: SLF001
    share_run(Measurements([]))  # nothing to share
    assert sum(len(v) for v in eventlog._RUNS.values()) == 1  # noqa: SLF001


record_st = st.tuples(
    st.integers(0, eventlog.NUM_PCRS - 1),
    st.sampled_from([EV_POST_CODE, EV_NO_ACTION, EV_EFI_ACTION, 0xD]),
    st.binary(min_size=32, max_size=32),
    st.binary(max_size=20),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs=st.lists(st.lists(record_st, min_size=1, max_size=4), min_size=1, max_size=3),
       layout=st.lists(st.one_of(st.integers(0, 2), record_st), max_size=10),
       damage=st.one_of(st.none(), st.tuples(st.integers(0, 10_000), st.integers(1, 255))),
       cut=st.one_of(st.none(), st.integers(0, 10_000)))
def test_any_runs_in_any_log_parse_as_record_by_record(
        runs: list[list[tuple[int, int, bytes, bytes]]],
        layout: list[int | tuple[int, int, bytes, bytes]],
        damage: tuple[int, int] | None, cut: int | None) -> None:
    eventlog._RUNS.cache_clear()  # noqa: SLF001
    batches = [Measurements([eventlog.Event.make(*r) for r in run]) for run in runs]
    for b in batches:
        share_run(b)
    log = EventLog()
    for item in layout:
        if isinstance(item, int):
            log.extend(batches[item % len(batches)])
        else:
            log.append(eventlog.Event.make(*item))
    data = bytearray(log.to_bytes())
    if damage is not None:
        data[damage[0] % len(data)] ^= damage[1]
    if cut is not None:
        data = data[:cut % (len(data) + 1)]
    same(parsed(bytes(data)), reference(bytes(data)))
    replayed_as_reference(bytes(data))


def test_parse_of_a_shared_run_is_what_the_records_are() -> None:
    fw = FirmwareProfile.for_vendor("HPE", secure_boot=False, disk_id="esx-09")
    parts = firmware_measurements(fw) + esx_boot_measurements(
        IMAGE, HostSpecific.for_host("esx-09", IMAGE.build))
    log = EventLog()
    for p in parts:
        log.extend(p)
    events = [e for p in parts for e in p.events]
    same(list(parse_eventlog(log.to_bytes())), events)
    with pytest.raises(ValueError):
        parse_eventlog(log.to_bytes()[:-1])


def test_replay_of_a_log_changed_after_parsing_is_record_by_record() -> None:
    """A parsed log's runs are folded only while its records still are the run's: a
    record replaced, removed or appended anywhere is replayed as it now stands."""
    data = booted_log("esx-01")
    extra = eventlog.Event.make(13, EV_POST_CODE, bytes(range(32)), b"late")
    for change in ("none", "replace-in-run", "remove-in-run", "append", "insert-before"):
        log = parse_eventlog(data)
        first_run = log.runs[0][0]
        if change == "replace-in-run":
            log.events[first_run + 3] = extra
        elif change == "remove-in-run":
            del log.events[first_run + 1]
        elif change == "append":
            log.append(extra)
        elif change == "insert-before":
            log.events.insert(0, extra)
        assert replay(log) == replay(list(log.events)), change
    assert replay(parse_eventlog(data)) != replay(log)  # the change did change the PCRs


def test_a_run_with_a_startup_locality_record_is_replayed_record_by_record() -> None:
    locality = eventlog._STARTUP_LOCALITY_SIGNATURE + b"\x03"  # noqa: SLF001
    run = Measurements([eventlog.Event.make(0, EV_NO_ACTION, bytes(32), locality),
                        eventlog.Event.make(0, EV_POST_CODE, bytes(range(32)), b"crtm")])
    share_run(run)
    log = EventLog()
    log.extend(run)
    parsed_log = parse_eventlog(log.to_bytes())
    assert list(parsed_log) == list(run.events) and parsed_log.runs == ()
    assert replay(parsed_log)[0] == replay(list(run.events))[0] != run.after((bytes(32),))[0]
