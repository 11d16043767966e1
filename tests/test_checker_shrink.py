"""Shrinking a counterexample (vtalab.analysis.checker.shrink): taking components away and
making single values simpler, in a fixed order, until nothing simpler still violates.

Run against a stand-in checker whose verdict is a predicate over the case, so what is
tested is the descent itself (the real checker's runs are tested in test_checker.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from vtalab.analysis.checker.cases import Case, Fault, simpler
from vtalab.analysis.checker.shrink import minimise, shrink

FAULT = Fault(position=0, delay=95, do="kms-outage", args=(("duration", 900),))
CASE = Case(steps=(0, 1), faults=(FAULT,), boot_factor=3.0, shifts=((1, 900),))


class _Checker:
    """What shrink and minimise ask of a Checker: its intensity and ``first``."""

    intensity = "light"

    def __init__(self, violates: Callable[[Case], bool]) -> None:
        self.violates = violates
        self.asked: list[Case] = []

    def first(self, candidates: Sequence[Case], name: str, *, violating: bool = True
              ) -> int | None:
        for k, case in enumerate(candidates):
            self.asked.append(case)
            if self.violates(case) == violating:
                return k
        return None


def test_simpler_makes_exactly_one_value_smaller_each_time() -> None:
    got = simpler(CASE, "light")
    f = FAULT
    want = [replace(CASE, boot_factor=b) for b in (1.0, 1.5, 2.0)]
    want += [replace(CASE, faults=(replace(f, delay=0),)),
             replace(CASE, faults=(replace(f, delay=30),)),  # half the delay, in 30 s
             replace(CASE, faults=(replace(f, args=(("duration", 60),)),)),
             replace(CASE, faults=(replace(f, args=(("duration", 300),)),)),
             replace(CASE, shifts=((1, 60),)), replace(CASE, shifts=((1, 300),))]
    assert got == want
    assert simpler(Case(steps=(0,)), "light") == []  # nothing left to simplify


def _needs(case: Case) -> bool:
    """Violates while boots are at least 1.5x slow and a fault lasts 300 s or more."""
    return case.boot_factor >= 1.5 and any(
        dict(f.args).get("duration", 0) >= 300 for f in case.faults)


def test_shrink_takes_away_what_is_not_needed_and_simplifies_the_rest() -> None:
    checker = _Checker(_needs)
    got = shrink(checker, CASE, "some-invariant")  # type: ignore[arg-type]
    assert got == Case(steps=(0, 1), boot_factor=1.5,
                       faults=(replace(FAULT, delay=0, args=(("duration", 300),)),))
    assert _needs(got)
    # a fixed point: no simpler candidate and no component away still violates
    assert not any(_needs(c) for c in simpler(got, "light"))
    assert not any(_needs(got.without(p)) for p in got.components() if p[0] != "step")


def test_shrink_keeps_the_plan_steps_and_minimise_may_take_them() -> None:
    checker = _Checker(lambda c: 1 in c.steps)
    shrunk = shrink(checker, CASE, "x")  # type: ignore[arg-type]
    assert shrunk.steps == (0, 1) and not shrunk.faults and shrunk.boot_factor == 1.0
    assert minimise(checker, shrunk, "x").steps == (1,)  # type: ignore[arg-type]


def test_a_case_that_no_longer_violates_is_returned_as_given() -> None:
    checker = _Checker(lambda c: False)
    assert shrink(checker, CASE, "x") == CASE  # type: ignore[arg-type]
