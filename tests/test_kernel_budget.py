"""The kernel's event budget (``Kernel.bounded``): ``run`` counts events in its own loop
around SimPy's ``step``, and must stop exactly where counting each ``step`` one by one
(the reference below: how the kernel counted before) stops -- the same events
processed, the same time, the same error or value -- for any budget, any ``until`` and
direct steps in between."""

from __future__ import annotations

from typing import Any

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st
from simpy.events import URGENT

from vtalab.core.kernel import EventLimitExceeded, Kernel, _BoundedEnvironment


class _OneByOne(simpy.Environment):
    """The reference: every ``step`` checks and counts (the kernel's earlier
    ``_BoundedEnvironment``, word for word)."""

    def __init__(self) -> None:
        super().__init__()
        self.steps = 0
        self.stop_at: int | None = None
        self.limit = 0

    def step(self) -> None:
        if self.stop_at is not None and self.steps >= self.stop_at:
            raise EventLimitExceeded(float(self.now), self.limit)
        self.steps += 1
        super().step()

    def run(self, until: Any = None) -> Any:
        if until is not None and not isinstance(until, simpy.Event):
            at = until if isinstance(until, int) else float(until)
            if at <= self.now:
                raise ValueError(f"until ({at}) must be greater than the current simulation "
                                 "time")
            until = simpy.Event(self)
            until._ok = True
            until._value = None
            self.schedule(until, URGENT, at - self.now)
        try:
            return super().run(until)
        except EventLimitExceeded:
            callbacks = until.callbacks if until is not None else None
            if callbacks and simpy.core.StopSimulation.callback in callbacks:
                callbacks.remove(simpy.core.StopSimulation.callback)
            raise


def _world(env: simpy.Environment, delays: list[list[float]], log: list[Any]) -> None:
    """Processes waiting the given delays in turn, logging each wake-up; the last one
    ends with a value another process waits for."""
    def waiter(name: int, ds: list[float]) -> Any:
        for d in ds:
            yield env.timeout(d)
            log.append((env.now, name))
        return name

    procs = [env.process(waiter(i, ds)) for i, ds in enumerate(delays)]

    def joiner() -> Any:
        value = yield procs[-1]
        log.append((env.now, "joined", value))

    env.process(joiner())


def _drive(env: Any, actions: list[tuple[str, Any]], delays: list[list[float]]) -> list[Any]:
    """Run ``actions`` (budgeted runs, runs to a time, direct steps) on ``env``; what
    happened, in order."""
    log: list[Any] = []
    _world(env, delays, log)
    out: list[Any] = []
    for what, arg in actions:
        budget, until = arg
        env.stop_at = None if budget is None else env.steps + budget
        env.limit = budget or 0
        try:
            if what == "step":
                env.step()
                result: Any = "stepped"
            else:
                result = env.run(None if until is None else env.now + until)
        except EventLimitExceeded as exc:
            result = ("limit", exc.now, exc.limit)
        except simpy.core.EmptySchedule:
            result = "empty"
        except (RuntimeError, ValueError) as exc:
            result = (type(exc).__name__, str(exc)[:40])
        finally:
            env.stop_at = None
        out.append((result, env.now, env.steps, len(env._queue), list(log)))
    return out


_delays = st.lists(st.lists(st.sampled_from([0, 0.5, 1, 2, 3]), min_size=0, max_size=6),
                   min_size=1, max_size=4)
_actions = st.lists(st.tuples(st.sampled_from(["run", "step"]),
                              st.tuples(st.none() | st.integers(0, 12),
                                        st.none() | st.sampled_from([0.5, 1, 2.5, 4, 10]))),
                    min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(_delays, _actions)
def test_counting_in_the_loop_stops_where_counting_each_step_stops(
        delays: list[list[float]], actions: list[tuple[str, Any]]) -> None:
    assert _drive(_BoundedEnvironment(), actions, delays) == _drive(_OneByOne(), actions,
                                                                    delays)


def test_a_budget_processes_exactly_that_many_events_and_refuses_the_next() -> None:
    k = Kernel(1)
    woke: list[float] = []

    def ticker() -> Any:
        while True:
            yield k.timeout(1)
            woke.append(k.now)

    k.process(ticker())
    with pytest.raises(EventLimitExceeded) as exc, k.bounded(5):
        k.run(100)
    # the process's start, then four timeouts: five events, the fifth timeout refused
    assert woke == [1.0, 2.0, 3.0, 4.0] and exc.value.now == 4.0 and k.env.steps == 5
    # the stop scheduled at 100 was taken back: an unbounded run goes on past it (and
    # counts it as an event: 145 timeouts from 5 to 149, the stops at 100 and 150)
    k.run(150)
    assert woke[-1] == 149.0 and k.env.steps == 5 + 147


def test_an_event_that_crashes_is_counted_and_its_error_passes_through() -> None:
    k = Kernel(1)

    def crash() -> Any:
        yield k.timeout(1)
        raise KeyError("boom")

    k.process(crash())
    with pytest.raises(KeyError), k.bounded(10):
        k.run()
    # the process's start, its timeout, and its failed end, whose processing raised
    assert k.env.steps == 3
