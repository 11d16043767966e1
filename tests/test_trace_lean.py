"""The lean trace: lazy encoding and streaming change no byte of any trace.

The trace encodes and hashes its events in batches, long after ``Kernel.record`` handed
them over. Here a straightforward reference encoder -- ``json.dumps`` of each event at the
instant it is recorded, with its own conversion of values -- watches the same runs, and
the trace's digest, JSON Lines and events must equal the reference's, for every bundled
scenario and a few hundred generated plans under faults. A streamed trace (``--trace``)
keeps no events in memory, has the same bytes, and replays.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vtalab.analysis.pytest_plugin import Lab
from vtalab.analysis.strategies import fault_schedules, plans, topologies
from vtalab.cli.app import main
from vtalab.core import trace as trace_module
from vtalab.core.kernel import Kernel
from vtalab.core.trace import Trace, TraceEvent
from vtalab.scenario.model import load_scenario, run_scenario

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = sorted((ROOT / "scenarios").glob("*.yaml")) + sorted(
    (ROOT / "scenarios" / "bugs").glob("*.yaml"))


def _ref_value(value: Any) -> Any:
    """The JSON form of a trace value, written out plainly (independent of vtalab's)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, enum.Enum):
        return _ref_value(value.value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        r = round(value, 6)
        return int(r) if r == int(r) else r
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): _ref_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_ref_value(v) for v in value]
    if hasattr(value, "model_dump"):
        return _ref_value(value.model_dump(mode="json"))
    raise TypeError(type(value).__name__)


@pytest.fixture
def reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every trace's events, also encoded eagerly as they come in (``reference_lines`` of
    the trace), from the very values handed over: every way in (``Kernel.record``,
    ``Kernel.log``, ``Trace.append``) passes ``Trace._add``, before it converts anything."""
    add = Trace._add

    def eager(self: Trace, time: Any, source: str, kind: str, fields: dict[str, Any]) -> None:
        mine = self.__dict__.setdefault("reference_lines", [])
        mine.append(json.dumps(
            {"t": _ref_value(float(time)), "seq": len(mine), "src": source, "kind": kind,
             "f": _ref_value(fields)},
            sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n")
        add(self, time, source, kind, fields)

    monkeypatch.setattr(Trace, "_add", eager)


def _assert_same(kernel: Kernel) -> None:
    trace = kernel.trace
    lines = trace.__dict__["reference_lines"]
    want = "".join(lines)
    assert len(trace) == len(lines)
    assert trace.digest() == hashlib.sha256(want.encode("ascii")).hexdigest()
    assert trace.to_jsonl() == want
    assert [e.to_json() + "\n" for e in trace] == lines


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_bundled_scenarios_match_the_reference_encoder(path: Path,
                                                       reference: None) -> None:
    result = run_scenario(load_scenario(str(path)))
    _assert_same(result.world.kernel)


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_generated_plans_match_the_reference_encoder(data: st.DataObject,
                                                     reference: None) -> None:
    topology = data.draw(topologies(max_trusted=3))
    steps = data.draw(plans(topology))
    faults = data.draw(fault_schedules(topology, horizon=1800))
    run = Lab(topology).run_plan(steps, faults, settle=600)
    _assert_same(run.run.world.kernel)


def test_appends_are_copied_when_mutable_and_encoded_later() -> None:
    t = Trace()
    hosts = ["esx-01"]
    t.append(0, "s", "k", {"hosts": hosts, "n": 1.0, "b": b"\x00"})
    hosts.append("esx-02")  # the caller changes its list after recording it
    assert t[0].fields == {"hosts": ["esx-01"], "n": 1, "b": "00"}
    k = Kernel(0)
    k.record("s", "k", hosts=hosts)
    hosts.clear()
    assert k.trace[0].fields == {"hosts": ["esx-01", "esx-02"]}


def test_a_streamed_trace_keeps_no_events_and_has_the_same_bytes(tmp_path: Path) -> None:
    saved = Trace.BATCH

    def run(stream: bool) -> tuple[Kernel, str]:
        k = Kernel(3)
        Trace.BATCH = 7  # small batches: many partial writes
        path = tmp_path / "t.jsonl"
        fh = open(path, "w", encoding="ascii")  # noqa: SIM115 - closed below
        if stream:
            k.trace.stream_to(fh, str(path))

        def proc() -> Any:
            for i in range(50):
                k.record("p", "tick", i=i, at=float(i) / 3, data=[i])
                yield k.timeout(0.25)

        k.process(proc())
        k.record("p", "start")
        k.run()
        digest = k.trace.digest()
        fh.close()
        return k, digest

    try:
        kept, d1 = run(False)
        streamed, d2 = run(True)
    finally:
        Trace.BATCH = saved
    assert d1 == d2
    assert (tmp_path / "t.jsonl").read_text() == kept.trace.to_jsonl()
    assert streamed.trace.streamed and streamed.trace._events == [] and not streamed.trace._raw
    assert [e.to_json() for e in streamed.trace] == [e.to_json() for e in kept.trace]
    assert len(streamed.trace) == len(kept.trace) == 51
    with pytest.raises(RuntimeError, match="in order"):
        streamed.trace[0]


def test_a_listener_hears_every_event_once_in_order() -> None:
    k = Kernel(1)
    k.record("a", "one")
    heard: list[int] = []
    k.trace.subscribe(lambda e: heard.append(e.seq))
    for _ in range(3):
        k.record("a", "more")
    k.trace.deliver()
    k.trace.deliver()
    assert heard == [0, 1, 2, 3]


def test_a_streamed_trace_replays(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = ROOT / "scenarios" / "bugs" / "intermediate-images.yaml"
    out_file = tmp_path / "run.jsonl"
    assert main(["run", "--trace", str(out_file), str(path)]) in (0, 1)
    shown = capsys.readouterr().out
    text = out_file.read_text()
    lines = text.splitlines()
    assert json.loads(lines[0])["kind"] == "vtalab.trace"
    digest = json.loads(lines[-1])["sha256"]
    assert f"digest sha256:{digest}" in shown
    assert hashlib.sha256("".join(x + "\n" for x in lines[1:-1]).encode()).hexdigest() == digest
    assert main(["replay", str(out_file)]) == 0
    assert capsys.readouterr().out.startswith(f"replay identical: {len(lines) - 2} events")


def _plain_lines(trace: Trace) -> str:
    """The reference bytes of a trace's events: ``json.dumps`` of each, one per line."""
    return "".join(json.dumps({"t": e.time, "seq": e.seq, "src": e.source, "kind": e.kind,
                               "f": e.fields}, sort_keys=True, separators=(",", ":"),
                              ensure_ascii=True) + "\n" for e in trace)


@pytest.mark.parametrize("nested", [
    [1.0, float("nan"), 2],  # the batch encoder's marker inside a list: event by event
    [float("nan")],  # NaN, but never between two items: the batch stays whole
    ["},NaN,{", ",NaN,"],  # the marker's text inside strings is escaped-free but quoted
    [{"f": 1}, {"f": 2}],  # a list of dicts, as the events' own list would look
])
def test_batched_encoding_is_the_per_event_encoding(nested: list[Any]) -> None:
    k = Kernel(0)

    def proc() -> Any:
        for i in range(Trace.BATCH + 50):  # across a batch boundary
            yield k.timeout(1 if i % 3 else 0.1)  # int, then float simulated times
            k.record(f"src/{i % 5}", "tick" if i % 2 else "tock", i=i,
                     **({"v": nested} if i % 7 == 3 else {}))
            if i % 11 == 0:
                k.record("src/empty", "none")  # empty fields

    k.process(proc())
    k.run()
    want = _plain_lines(k.trace)
    assert k.trace.to_jsonl() == want
    assert k.trace.digest() == hashlib.sha256(want.encode("ascii")).hexdigest()
    assert "".join(e.to_json() + "\n" for e in k.trace) == want


@pytest.mark.parametrize("time", [0, 7, 2**53 - 1, 2**53, 2**53 + 1, -(2**53) - 1,
                                  10**20 + 1, 1.5, 3.0, 2.9999996, -0.0, True])
def test_times_print_as_the_reference_does(time: Any) -> None:
    t = Trace()
    t._add(time, "s", "k", {})
    t._add(time, "s", "k", {"a": 1})
    ref = _ref_value(float(time))
    want = "".join(json.dumps({"t": ref, "seq": i, "src": "s", "kind": "k", "f": f},
                              sort_keys=True, separators=(",", ":")) + "\n"
                   for i, f in enumerate(({}, {"a": 1})))
    assert t.to_jsonl() == want


def test_a_listener_of_some_kinds_hears_only_those_and_no_other_event_is_made() -> None:
    k = Kernel(1)
    k.record("a", "attest.nonce", n=0)
    k.record("a", "log", message="x")
    heard: list[tuple[int, str]] = []
    everything: list[int] = []
    k.trace.subscribe(lambda e: heard.append((e.seq, e.kind)), ["attest.*", "step.start"])
    k.trace.subscribe(lambda e: everything.append(e.seq))
    for kind in ("log", "attest.result", "step.start", "step.startled", "attest", "log"):
        k.record("a", kind)
    k.trace.deliver()
    assert heard == [(0, "attest.nonce"), (3, "attest.result"), (4, "step.start")]
    assert everything == list(range(8))
    assert k.trace._events == []  # delivering made only the events heard, and kept none
    k.record("a", "attest.result")
    assert [e.seq for e in k.trace][-1] == 8  # reading delivers: the new event is heard
    assert heard[-1] == (8, "attest.result") and everything[-1] == 8


def test_a_listener_hears_each_event_once_when_the_trace_starts_streaming(
        tmp_path: Path) -> None:
    k = Kernel(1)
    heard: list[int] = []
    k.trace.subscribe(lambda e: heard.append(e.seq))
    k.record("a", "one")
    k.trace.digest()  # hashed before streaming starts ...
    k.record("a", "two")  # ... and not
    with open(tmp_path / "t.jsonl", "w", encoding="ascii") as fh:
        k.trace.stream_to(fh, str(tmp_path / "t.jsonl"))
        k.record("a", "three")
        k.trace.deliver()
    assert heard == [0, 1, 2]


@pytest.mark.parametrize("made", [False, True])
def test_select_on_raw_records_is_the_plain_filter(made: bool) -> None:
    """``select`` of a kept trace compares raw records and makes only what it returns;
    it must give exactly what filtering the events one by one gives."""
    path = ROOT / "scenarios" / "quick-boot-upgrade.yaml"
    trace = run_scenario(load_scenario(str(path))).world.kernel.trace
    reference = Trace.read_events(trace.to_jsonl().splitlines())  # makes no event
    if made:
        list(trace)  # events made already: select lends them
    assert (trace._events == []) is not made
    hosts = sorted({e.fields["host"] for e in reference if "host" in e.fields})
    queries: list[tuple[Any, Any, bool, dict[str, Any]]] = [
        ("log", None, False, {}), ("log", None, True, {}), ("attest.", None, True, {}),
        ("attest.result", None, False, {"status": "attested"}),
        ("log", None, False, {"host": hosts[0], "log": "kmxa.log"}),
        (None, "trusted/", True, {}), (None, None, True, {"host": hosts[-1]}),
        ("host.boot", hosts[0], True, {"mode": "quick"}), ("no.such.kind", None, True, {}),
        (None, None, True, {}), ("", None, False, {})]
    for kind, source, prefix, fields in queries:
        want = [e for e in reference
                if (kind is None or (e.kind.startswith(kind) if prefix else e.kind == kind))
                and (source is None or e.source.startswith(source))
                and all(e.fields.get(key) == v for key, v in fields.items())]
        got = trace.select(kind, source, prefix, **fields)
        assert got == want, (kind, source, prefix, fields)
    assert any(trace.select("log", prefix=False, host=hosts[0]))
    assert (trace._events == []) is not made  # selecting keeps no event


@given(st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False)),
       st.integers(0, 10**9), st.text(max_size=8), st.text(max_size=8),
       st.dictionaries(st.text(max_size=4), st.integers(), max_size=3))
def test_the_trace_makes_its_events_as_the_dataclass_does(time: Any, seq: int, source: str,
                                                          kind: str, fields: dict[str, Any]
                                                          ) -> None:
    """The trace's own loops make events by setting the slots (``trace._event``): the very
    object ``TraceEvent(...)`` makes -- equal, same repr and JSON, frozen, no other state."""
    made = trace_module._event(time, seq, source, kind, fields)
    plain = TraceEvent(time, seq, source, kind, fields)
    assert type(made) is TraceEvent
    assert made == plain and repr(made) == repr(plain)
    assert made.to_json() == plain.to_json()
    assert made.fields is fields
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.seq = seq + 1  # type: ignore[misc]
    assert not hasattr(made, "__dict__")
