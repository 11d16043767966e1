"""The plan checker and scenario runs run with the worlds' young generation of the cyclic
garbage collector (``gc_nursery``): a run allocates far more young objects than CPython's
default threshold, so with it a check spent about a tenth of its time in collections,
two of them full ones over everything the process holds. The threshold is the process's
again once the run or the check is over, whatever happened in it."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest

from vtalab.analysis.checker import search
from vtalab.analysis.checker.cases import Case
from vtalab.analysis.checker.search import Checker
from vtalab.core.kernel import GC_YOUNG_THRESHOLD
from vtalab.scenario import run as scenario_run
from vtalab.scenario.model import load_scenario, run_scenario
from vtalab.world.assembly import World


def _worlds() -> int:
    """Worlds alive in this process (the checker must free each once it is judged)."""
    return sum(isinstance(o, World) for o in gc.get_objects())


PLAN = Path(__file__).resolve().parent.parent / "scenarios" / "plans" / \
    "safe-rolling-upgrade.yaml"


@pytest.fixture
def default_threshold() -> Any:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


def test_a_scenario_runs_in_the_nursery(default_threshold: None,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real = scenario_run.objects_of

    def spy(*args: Any) -> Any:  # at the end of each step, while the world runs
        seen.append(gc.get_threshold()[0])
        return real(*args)

    monkeypatch.setattr(scenario_run, "objects_of", spy)
    scenario = load_scenario(str(PLAN))
    run_scenario(scenario, crypto="simulated")
    assert len(seen) == len(scenario.steps)
    assert set(seen) == {GC_YOUNG_THRESHOLD}
    assert gc.get_threshold()[0] == 700


def test_a_check_runs_in_the_nursery(default_threshold: None,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    checker = Checker(load_scenario(str(PLAN)), examples=2, faults="light", seed=0)
    seen: list[int] = []
    real_judge = checker._judge
    real_scenario = checker.scenario

    def judge(result: Any) -> Any:  # between one run and the next
        seen.append(gc.get_threshold()[0])
        return real_judge(result)

    def scenario(case: Case, **kw: Any) -> Any:  # before any run
        seen.append(gc.get_threshold()[0])
        return real_scenario(case, **kw)

    monkeypatch.setattr(checker, "_judge", judge)
    monkeypatch.setattr(checker, "scenario", scenario)
    checker.run()
    assert seen and set(seen) == {GC_YOUNG_THRESHOLD}
    assert gc.get_threshold()[0] == 700


def test_a_worker_batch_runs_in_the_nursery(default_threshold: None,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    monkeypatch.setattr(search, "run_plain",
                        lambda item: seen.append(gc.get_threshold()[0]) or {})
    assert search.run_batch([({}, "simulated"), ({}, "simulated")]) == [{}, {}]
    assert seen == [GC_YOUNG_THRESHOLD] * 2
    assert gc.get_threshold()[0] == 700


def test_the_threshold_comes_back_when_a_check_fails(default_threshold: None,
                                                     monkeypatch: pytest.MonkeyPatch
                                                     ) -> None:
    checker = Checker(load_scenario(str(PLAN)), examples=2, faults="light", seed=0)

    def boom(result: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(checker, "_judge", boom)
    with pytest.raises(RuntimeError, match="boom"):
        checker.run()
    assert gc.get_threshold()[0] == 700


def test_each_world_is_freed_after_its_run_is_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    """A world is a web of cycles: the checker frees each one when its run is judged
    (``branching.free_world``: a young collection while it is still in cache), so while
    a run is judged the worlds of the runs before it are gone, not waiting for the
    collector to find them cold many runs later (nor kept)."""
    gc.collect()
    before = _worlds()
    checker = Checker(load_scenario(str(PLAN)), examples=4, faults="light", seed=0)
    alive: list[int] = []
    real_judge = checker._judge

    def judge(result: Any) -> Any:
        alive.append(_worlds() - before)
        return real_judge(result)

    monkeypatch.setattr(checker, "_judge", judge)
    checker.run()
    assert len(alive) >= 4 and set(alive) == {1}  # the world being judged, only


def test_a_worker_batch_frees_each_world(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker's runs (``run_plain``, as ``run_one`` in the checker's process) free each
    world when it is judged: while a run is judged, the worlds before it are gone."""
    from vtalab.analysis import branching
    from vtalab.analysis.checker.cases import scenario_data

    freed: list[int] = []
    free = branching.free_world

    def counted() -> None:
        freed.append(1)
        free()

    alive: list[int] = []
    real_judge = search.judge

    def judge(result: Any) -> Any:
        alive.append(_worlds() - before)
        return real_judge(result)

    monkeypatch.setattr(branching, "free_world", counted)
    monkeypatch.setattr(search, "judge", judge)
    data = scenario_data(load_scenario(str(PLAN)))
    gc.collect()
    before = _worlds()
    out = search.run_batch([(data, "simulated")] * 3)
    assert len(out) == 3 and out[0] == out[1] == out[2]
    assert freed == [1, 1, 1]
    assert alive == [1, 1, 1]  # the world being judged, only
