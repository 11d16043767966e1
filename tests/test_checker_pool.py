"""The checker's pool path without Dask: a pool that is not :class:`InProcess` (so the
checker batches runs, runs the search list ahead and speculates baselines, as it does on
Dask workers) but runs every task here, one after the other. Its results must be the
in-process checker's, to the byte; and it counts what the checker asks of a pool: the
round trips (maps) a check costs on workers, and which runs each one carries."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from vtalab.analysis.checker import search
from vtalab.analysis.checker.cases import Case, draw_cases
from vtalab.analysis.checker.search import Checker
from vtalab.analysis.pool import InProcess
from vtalab.scenario.model import load_scenario

PLANS = Path(__file__).resolve().parent.parent / "scenarios" / "plans"
UNSAFE = PLANS / "unsafe-remove-old-image-after-quick-boot.yaml"
SAFE = PLANS / "safe-rolling-upgrade.yaml"


class Here:
    """Runs each task in this process; records each map's tasks (lists of runs)."""

    workers = 2
    where = "here, as if on 2 workers"

    def __init__(self) -> None:
        self.maps: list[list[Any]] = []

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], *,
            done: Callable[[int], None] | None = None,
            weight: Callable[[Any], int] | None = None) -> list[Any]:
        self.maps.append(list(items))
        return InProcess().map(fn, items, done=done, weight=weight)

    def close(self) -> None:
        pass


def _maps_per_call(monkeypatch: pytest.MonkeyPatch, pool: Here, method: str) -> list[int]:
    """The maps ``pool`` gets during each call of ``Checker.<method>``, filled as the
    check runs."""
    counts: list[int] = []
    real = getattr(Checker, method)

    def counted(self: Checker, *a: Any, **kw: Any) -> Any:
        before = len(pool.maps)
        out = real(self, *a, **kw)
        counts.append(len(pool.maps) - before)
        return out

    monkeypatch.setattr(Checker, method, counted)
    return counts


def _result(checker: Checker) -> tuple[Any, ...]:
    report = checker.run()
    ex = report.exercised
    return (checker.tried, report.as_written.violations, report.advice, ex.runs,
            dict(ex.faults), sorted(ex.interleavings), dict(ex.boot_factors),
            ex.shifted_runs, ex.quick_boot_runs, dict(ex.verbs), dict(ex.at_risk),
            dict(ex.violated_runs), sorted(ex.fault_only),
            [(ce.invariant, ce.case, ce.shrunk, ce.culprit, [str(v) for v in ce.violations],
              ce.still_violated_without, ce.text, ce.reproduced, ce.timeline)
             for ce in report.counterexamples])


@pytest.mark.parametrize("plan, examples, seed", [(UNSAFE, 12, 5), (UNSAFE, 30, 1),
                                                  (SAFE, 20, 0)])
def test_pool_path_gives_the_in_process_result(plan: Path, examples: int,
                                               seed: int) -> None:
    scenario = load_scenario(str(plan))

    def run(pool: Any) -> tuple[Any, ...]:
        return _result(Checker(scenario, path="plan.yaml", examples=examples, seed=seed,
                               pool=pool))

    here = run(InProcess())
    pool = Here()
    assert run(pool) == here
    assert pool.maps, "the pool path was taken"
    if plan == UNSAFE:
        assert here[-1], "counterexamples expected: shrinking ran through the pool"


def test_the_plan_as_written_goes_with_the_search_list() -> None:
    """No map of the plan as written alone: the first map carries the whole search
    list, so no worker waits while one runs the plan as written."""
    plan = load_scenario(str(SAFE))
    pool = Here()
    checker = Checker(plan, examples=20, seed=0, pool=pool)
    checker.run()
    first = [run for task in pool.maps[0] for run in task]
    assert len(first) == 20 == len(draw_cases(plan, "light", 0, 20))
    written = checker._prepare(Case.as_written(plan))[1]  # noqa: SLF001
    assert (written, "simulated") in first


def test_each_blame_costs_one_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    """blamed_many on a pool sends the cases and the baselines their blame may need in
    one map (in-process it runs them in two steps): a shrinking window is one round
    trip to the workers, not two."""
    plan = load_scenario(str(UNSAFE))
    pool = Here()
    checker = Checker(plan, examples=30, seed=1, pool=pool)
    per_call = _maps_per_call(monkeypatch, pool, "blamed_many")
    assert checker.run().counterexamples
    assert per_call and max(per_call) == 1
    # and baselines did go with their cases: some map carries both
    ids = {s.id for s in plan.steps}
    assert None not in ids

    def baseline(data: dict[str, Any]) -> bool:  # no plan step: the faults alone
        return not ids & {s.get("id") for s in data["steps"]}

    assert any(len({baseline(d) for task in m for d, _c in task}) == 2
               for m in pool.maps[1:])


def test_batches_shrink_towards_the_end_and_cover_every_run() -> None:
    plan = load_scenario(str(SAFE))
    pool = Here()
    Checker(plan, examples=40, seed=0, pool=pool).run()
    sizes = [len(task) for task in pool.maps[0]]
    assert sum(sizes) == 40
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] == 1 and sizes[0] > 1
    assert max(sizes) <= search.MAX_BATCH


@pytest.mark.parametrize("examples, seed", [(30, 1), (60, 2)])
def test_the_search_asks_for_its_baselines_in_one_map(examples: int, seed: int,
                                                      monkeypatch: pytest.MonkeyPatch
                                                      ) -> None:
    """After the search list has run ahead, the baselines of the violating cases the
    search certainly reaches go in one map, not one per chunk of SEARCH_CHUNK."""
    plan = load_scenario(str(UNSAFE))
    pool = Here()
    checker = Checker(plan, examples=examples, seed=seed, pool=pool)
    maps = _maps_per_call(monkeypatch, pool, "_search")
    report = checker.run()
    assert report.counterexamples
    assert examples > search.SEARCH_CHUNK  # several chunks ...
    assert maps == [1]  # ... one round trip
    here = _result(Checker(plan, examples=examples, seed=seed))
    assert _result(Checker(plan, examples=examples, seed=seed, pool=Here())) == here


def test_batch_sizes_rounds_halve_what_is_left() -> None:
    for workers in (1, 2, 3, 8):
        for runs in range(0, 300, 7):
            sizes = search.batch_sizes(runs, workers)
            assert sum(sizes) == runs
            assert sizes == sorted(sizes, reverse=True)
            assert all(1 <= s <= search.MAX_BATCH for s in sizes)
            if runs:
                assert sizes[-1] == 1  # the tail is single runs
    assert search.batch_sizes(60, 2) == [15, 15, 8, 8, 4, 4, 2, 2, 1, 1]
