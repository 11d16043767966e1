"""Invariants fold over new events only: checking during a run changes no result.

Each invariant (and each ``at_risk`` count) is a fold fed every event of its kinds once
(:func:`vtalab.invariants.replay.folded`). Checked after every few simulated
minutes of a run, or on a streamed trace, the violations and counts at the end must be
exactly those of one check over the finished trace.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vtalab.invariants import INVARIANTS, check_all
from vtalab.scenario.model import load_scenario, run_scenario
from vtalab.world.assembly import World

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ["quick-boot-upgrade", "kms-outage-key-persistence", "ta-host-rebuilt-restore",
             "bugs/remove-original-before-full-reboot", "bugs/intermediate-images",
             "clock-skew-and-partition"]


def _judge(world: World) -> tuple[list[Any], dict[str, int]]:
    return (check_all(world, include_advice=True),
            {name: inv.at_risk(world) for name, inv in INVARIANTS.items()})


def _checking_every(seconds: float, seen: list[Any]) -> Any:
    def factory(*args: Any, **kwargs: Any) -> World:
        world = World(*args, **kwargs)

        def checker() -> Any:
            while True:
                yield world.kernel.timeout(seconds)
                seen.append(_judge(world))

        world.kernel.process(checker())
        return world

    return factory


@pytest.mark.parametrize("name", SCENARIOS)
def test_checking_during_the_run_gives_the_result_of_one_check_at_the_end(
        name: str, tmp_path: Path) -> None:
    scenario = load_scenario(str(ROOT / "scenarios" / f"{name}.yaml"))
    once = run_scenario(scenario)
    want = _judge(once.world)
    seen: list[Any] = []
    often = run_scenario(scenario, world_factory=_checking_every(180.0, seen))
    assert often.digest == once.digest  # the checks changed nothing in the world
    assert len(seen) > 3
    assert _judge(often.world) == want
    # ... the counts only grow, and what was found stays found
    for (_v1, r1), (_v2, r2) in zip(seen, seen[1:], strict=False):
        assert all(r2[k] >= r1[k] for k in r1)
    path = tmp_path / "t.jsonl"
    with open(path, "w", encoding="ascii") as fh:
        streamed = run_scenario(scenario, trace_to=(fh, str(path)))
        assert _judge(streamed.world) == want
        assert streamed.world.kernel.trace._events == []


STALE = (ROOT / "tests" / "data" / "stale-token.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["bugs/quick-boot-refused-txt", "vcenter-to-9-0", "stale"])
def test_after_the_first_check_no_invariant_reads_the_trace_again(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every invariant and count -- documented-upgrade-order, vta-gone-in-9-0 and the
    stale-token advice included -- is a fold: once checked, it is fed new events only."""
    from vtalab.core.trace import Trace, TraceEvent
    from vtalab.scenario.model import load_scenario_text

    def load() -> Any:
        if name == "stale":
            return load_scenario_text(STALE, file="<stale>")
        return load_scenario(str(ROOT / "scenarios" / f"{name}.yaml"))

    fresh = run_scenario(load()).world
    fresh.run(fresh.kernel.now + 3600)
    want = _judge(fresh)
    assert want[0], "the scenario must give some violation or advice to compare"
    if name == "stale":
        assert any(v.invariant == "no-release-on-stale-token" for v in want[0])
    else:
        assert any(v.invariant in ("documented-upgrade-order", "vta-gone-in-9-0")
                   for v in want[0])

    world = run_scenario(load()).world
    first = _judge(world)  # every fold made, caught up on the trace so far

    def untouchable(self: TraceEvent, name: str) -> Any:
        raise AssertionError(f"an invariant read event field {name!r} again")

    with monkeypatch.context() as m:  # no new event: checking again reads no event
        m.setattr(TraceEvent, "__getattribute__", untouchable)
        again = _judge(world)
    assert again == first

    def no_rereading(self: Trace) -> Any:
        raise AssertionError("an invariant read the whole trace again")

    monkeypatch.setattr(Trace, "__iter__", no_rereading)
    world.run(world.kernel.now + 3600)
    assert _judge(world) == want


def test_the_first_check_reads_the_trace_once_and_makes_only_the_events_it_reads(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every invariant and count (the liveness fold with the world's bound included)
    starts on one subscription to the kinds they read: no fold iterates the trace, and
    an event of a kind no invariant reads (a log line, a vCenter task) is never made."""
    from vtalab.core import trace as trace_module
    from vtalab.core.trace import Trace, TraceEvent

    world = run_scenario(load_scenario(str(ROOT / "scenarios" / "quick-boot-upgrade.yaml"))).world
    want = _judge(run_scenario(load_scenario(
        str(ROOT / "scenarios" / "quick-boot-upgrade.yaml"))).world)
    made: list[str] = []
    make, make_fast = TraceEvent.__init__, trace_module._event

    def counted(self: TraceEvent, *args: Any) -> None:
        make(self, *args)
        made.append(self.kind)

    def counted_fast(*args: Any) -> TraceEvent:  # how the trace's own loops make them
        event = make_fast(*args)
        made.append(event.kind)
        return event

    def no_reading(self: Trace) -> Any:
        raise AssertionError("an invariant iterated the whole trace")

    monkeypatch.setattr(TraceEvent, "__init__", counted)
    monkeypatch.setattr(trace_module, "_event", counted_fast)
    monkeypatch.setattr(Trace, "__iter__", no_reading)
    assert _judge(world) == want
    assert made and "log" not in made and "vc.task" not in made
    assert len(made) < len(world.kernel.trace) / 2


@pytest.mark.parametrize("mode", ["real", "simulated"])
def test_the_folds_verify_tokens_in_the_worlds_crypto_whatever_the_callers(mode: str) -> None:
    """A fold re-verifies kmxd's tokens in the world's crypto mode, entered only when the
    caller is in the other one: a release recorded after the first check and judged from
    inside the other mode is still a valid one."""
    from vtalab.core import crypto
    from vtalab.scenario.model import load_scenario_text

    world = run_scenario(load_scenario_text(STALE, file="<stale>"), crypto=mode).world
    other = mode != "simulated"
    with crypto.simulated(other):
        first = _judge(world)  # every fold made and fed the trace so far
    release = next(e for e in world.kernel.trace.select("key.release", prefix=False)
                   if e.fields.get("ok"))
    world.kernel.record(release.source, "key.release", **release.fields)  # valid again
    with crypto.simulated(other):
        violations, at_risk = _judge(world)
        assert crypto.is_simulated() is other
    assert at_risk["no-key-without-token"] == first[1]["no-key-without-token"] + 1
    assert not [v for v in violations if v.invariant in ("no-key-without-token",
                                                         "key-only-after-attestation")]


def test_a_judged_world_is_freed_with_its_folds() -> None:
    """The folds of a trace are found by the trace (a weak key) and see the world through
    a weak proxy: once judged, a world is freed like any other when it is dropped (every
    world a checker judged used to stay in memory until the process ended)."""
    import gc
    import weakref

    world = run_scenario(load_scenario(str(ROOT / "scenarios" / "quick-boot-upgrade.yaml"))).world
    want = _judge(world)
    assert want[1]["no-key-without-token"] > 0  # the folds ran and read the trace
    gone = weakref.ref(world), weakref.ref(world.kernel.trace)
    del world
    gc.collect()
    assert [ref() for ref in gone] == [None, None]


def test_many_pending_events_are_read_before_the_result_is_asked_for(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Events wait for a fold until its result is asked for, but at most PENDING_LIMIT
    of them (a long streamed run checked rarely): past that every fold reads them, and
    the results are those of one check at the end."""
    from vtalab.invariants import replay

    scenario = load_scenario(str(ROOT / "scenarios" / "quick-boot-upgrade.yaml"))
    want = _judge(run_scenario(scenario).world)
    read: list[int] = []
    catch_up = replay._Folds.catch_up

    def counted(self: Any, folds: Any) -> None:
        read.append(len(list(folds)))
        catch_up(self, folds)

    monkeypatch.setattr(replay, "PENDING_LIMIT", 5)
    monkeypatch.setattr(replay._Folds, "catch_up", counted)
    seen: list[Any] = []
    often = run_scenario(scenario, world_factory=_checking_every(3600.0, seen))
    assert len(seen) >= 1
    assert read.count(len(replay._REGISTERED) + len(replay._STARTING)) > 10  # all at once
    assert _judge(often.world) == want
