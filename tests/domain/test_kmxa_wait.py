"""kmxa waits for "the re-attestation delay or a wake-up, whichever comes first" with
``trusted._first_of`` instead of SimPy's ``env.any_of``: the same instants, the same order
among the events of an instant and the same number of steps, whoever triggers first."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from vtalab.domain.trusted import _first_of

Log = list[tuple[float, str, int, int]]


def run(use_first_of: bool, waits: list[list[int]], wakes: list[tuple[int, int]]
        ) -> tuple[Log, int]:
    """Waiters wait in turn for each of their delays or a wake-up; wakers wake one waiter
    at a time (and then do more work at the same instant); everything is logged."""
    env = simpy.Environment()
    log: Log = []
    current: dict[int, simpy.Event] = {}

    def waiter(i: int, delays: list[int]) -> Generator[Any, Any, None]:
        for k, delay in enumerate(delays):
            wake = current[i] = env.event()
            if use_first_of:
                yield _first_of(env, env.timeout(delay), wake)
            else:
                yield env.any_of([env.timeout(delay), wake])
            log.append((env.now, "resumed", i, k))

    def waker(n: int, at: int, i: int) -> Generator[Any, Any, None]:
        yield env.timeout(at)
        wake = current.get(i)
        log.append((env.now, "wake", i, n))
        if wake is not None and not wake.triggered:
            wake.succeed()
        yield env.timeout(0)  # more work at the same instant, between the two hops
        log.append((env.now, "after", i, n))

    for i, delays in enumerate(waits):
        env.process(waiter(i, delays))
    for n, (at, i) in enumerate(wakes):
        env.process(waker(n, at, i % len(waits)))
    steps = 0
    while env.peek() != float("inf"):
        env.step()
        steps += 1
        assert steps < 10_000
    return log, steps


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.integers(0, 6), min_size=1, max_size=4), min_size=1, max_size=4),
       st.lists(st.tuples(st.integers(0, 15), st.integers(0, 3)), max_size=8))
def test_first_of_orders_and_counts_like_any_of(waits: list[list[int]],
                                                wakes: list[tuple[int, int]]) -> None:
    assert run(True, waits, wakes) == run(False, waits, wakes)


def test_woken_and_timed_out_waits_both_happen() -> None:
    # the property above is not vacuous: both ways of ending a wait occur, and a wake-up
    # of a waiter not waiting any more does nothing
    log, steps = run(True, [[5, 5], [2]], [(1, 0), (1, 0), (3, 1), (20, 0)])
    resumed = [(t, i, k) for t, what, i, k in log if what == "resumed"]
    assert resumed == [(1, 0, 0), (2, 1, 0), (6, 0, 1)]
    assert (steps, log) == run(False, [[5, 5], [2]], [(1, 0), (1, 0), (3, 1), (20, 0)])[::-1]
