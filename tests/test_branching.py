"""Runs forked where they part (vtalab.analysis.branching) are the runs themselves: the
same trace digest, verdicts and invariant results as a plain run from T=0, over every
bundled plan, many generated cases and several seeds; the checker's report is the same
with and without forking; a failing child is run again plainly; the fallback."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from vtalab.analysis import branching
from vtalab.analysis.branching import can_fork, plan_branches, run_all, run_one
from vtalab.analysis.checker import search
from vtalab.analysis.checker.cases import Case, draw_cases
from vtalab.analysis.checker.search import Checker, judge
from vtalab.cli.app import main as cli_main
from vtalab.scenario.model import load_scenario, load_scenario_text
from vtalab.scenario.run import RunResult, start_run

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from bench_checker import plan_text  # noqa: E402 - the benchmarks' 8-host plan

PLANS = Path(__file__).resolve().parent.parent / "scenarios" / "plans"

forking = pytest.mark.skipif(not can_fork(), reason="os.fork: Linux only")


@pytest.fixture
def everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fork at every branch point, however early (T=0 included), not only where it pays."""
    monkeypatch.setattr(branching, "MIN_SHARED_EVENTS", 0)


def _seen(result: RunResult) -> tuple[Any, ...]:
    """Everything a run showed, and the process that ran it."""
    return (result.digest, len(result.world.kernel.trace), result.end,
            [(v.ok, v.detail) for v in result.verdicts],
            [(r.index, r.id, r.start, r.end, r.ok, r.error) for r in result.steps],
            judge(result).data(), os.getpid())


def _scenarios(plan: Any, seed: int, count: int, intensity: str = "light") -> list[Any]:
    checker = Checker(plan, examples=count, faults=intensity, seed=seed)
    cases = draw_cases(plan, intensity, seed, count)
    # and the baselines (no plan step) and reductions the checker also runs
    extra = [cases[1].without_steps(), Case(steps=cases[0].steps[:3])]
    return [checker.scenario(c) for c in [*cases, *extra]]


def _compare(scenarios: list[Any], crypto: str = "simulated") -> int:
    """Branched and plain runs of ``scenarios`` agree; returns how many were forked."""
    forked = run_all(scenarios, crypto, _seen, fork=True)
    plain = [run_one(s, crypto, _seen) for s in scenarios]
    here = os.getpid()
    for k, (a, b) in enumerate(zip(forked, plain, strict=True)):
        assert a[:-1] == b[:-1], f"scenario {k} ({scenarios[k].name}) differs when forked"
    return sum(a[-1] != here for a in forked)


@forking
@pytest.mark.parametrize("seed", [0, 7, 31])
def test_forked_runs_equal_plain_runs_of_the_benchmark_plan(seed: int, everywhere: None
                                                            ) -> None:
    plan = load_scenario_text(plan_text(), file="<bench plan>")
    plan = plan.model_copy(update={"seed": 1 + seed})  # another world too
    scenarios = _scenarios(plan, seed, 24)
    branches = sum(len(m) for _t, b in plan_branches(scenarios) for m in b.values())
    assert branches >= 8
    assert _compare(scenarios) == branches  # every branch was forked, and compared


@forking
def test_only_branches_after_enough_work_fork_by_default() -> None:
    plan = load_scenario_text(plan_text(), file="<bench plan>")
    scenarios = _scenarios(plan, 0, 24)
    branches = sum(len(m) for _t, b in plan_branches(scenarios) for m in b.values())
    forked = _compare(scenarios)
    assert 1 <= forked < branches  # the early branch points ran plainly


@forking
@pytest.mark.parametrize("path", sorted(PLANS.glob("*.yaml")), ids=lambda p: p.stem)
def test_forked_runs_equal_plain_runs_of_every_bundled_plan(path: Path, everywhere: None
                                                            ) -> None:
    plan = load_scenario(str(path))
    _compare(_scenarios(plan, 3, 12, "heavy"))


@forking
def test_forked_runs_equal_plain_runs_with_real_crypto(everywhere: None) -> None:
    plan = load_scenario(str(PLANS / "unsafe-remove-old-image-after-quick-boot.yaml"))
    assert _compare(_scenarios(plan, 1, 6), crypto="real") >= 1


@forking
def test_the_checker_reports_the_same_with_and_without_forking(tmp_path: Path,
                                                               everywhere: None) -> None:
    plan = load_scenario(str(PLANS / "unsafe-upgrade-before-import.yaml"))

    def report(fork: bool) -> tuple[Any, ...]:
        checker = Checker(plan, path="plan.yaml", examples=16, seed=2, fork=fork,
                          out=str(tmp_path / str(fork)))
        r = checker.run()
        ex = r.exercised
        return (checker.tried, ex.runs, dict(ex.faults), sorted(ex.interleavings),
                dict(ex.at_risk), dict(ex.violated_runs), sorted(ex.fault_only),
                [(ce.invariant, ce.case, ce.culprit, ce.text, ce.reproduced)
                 for ce in r.counterexamples])

    forked = report(True)
    assert forked[-1], "an unsafe plan: counterexamples expected"
    assert forked == report(False)


@forking
def test_a_failing_child_is_run_again_here_and_raises_here(tmp_path: Path,
                                                           everywhere: None) -> None:
    plan = load_scenario_text(plan_text(), file="<bench plan>")
    scenarios = _scenarios(plan, 0, 8)
    branched = [m for _t, b in plan_branches(scenarios) for ms in b.values() for m in ms]
    bad = "bad"
    scenarios[branched[0]] = scenarios[branched[0]].model_copy(update={"name": bad})
    here = os.getpid()

    def evaluate(result: RunResult) -> str:
        if result.scenario.name == bad:
            if os.getpid() != here:  # the child's attempt, seen from here
                (tmp_path / "child").write_text("failed in the child")
            raise LookupError(f"evaluated in {'a child' if os.getpid() != here else 'here'}")
        return result.digest

    with pytest.raises(LookupError, match="evaluated in here"):
        run_all(scenarios, "simulated", evaluate, fork=True)
    assert (tmp_path / "child").exists()  # it was a branch, and its child failed first


def test_without_fork_every_scenario_runs_plainly_here() -> None:
    plan = load_scenario_text(plan_text(), file="<bench plan>")
    scenarios = _scenarios(plan, 0, 4)
    seen = run_all(scenarios, "simulated", _seen, fork=False)
    assert {s[-1] for s in seen} == {os.getpid()}
    assert [s[:-1] for s in seen] == [run_one(s, "simulated", _seen)[:-1] for s in scenarios]


def test_forking_is_off_unless_asked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                     everywhere: None) -> None:
    """Measured on this project's machines, forking saved nothing (branching.FORK_DEFAULT),
    so run_all, the checker and `vtalab check` fork only when told (`--fork`)."""
    def no_fork() -> int:
        raise AssertionError("forked although not asked to")

    monkeypatch.setattr(branching.os, "fork", no_fork)
    plan = load_scenario_text(plan_text(), file="<bench plan>")
    scenarios = _scenarios(plan, 0, 6)
    assert any(b for _t, b in plan_branches(scenarios))  # there was something to share
    seen = run_all(scenarios, "simulated", _seen)
    assert {s[-1] for s in seen} == {os.getpid()}
    assert Checker(plan, examples=2, seed=1).fork is None  # None: FORK_DEFAULT

    asked: list[bool | None] = []

    def recording(*args: Any, fork: bool | None = None, **kw: Any) -> Any:
        asked.append(fork)
        return run_all(*args, fork=False, **kw)

    monkeypatch.setattr(search, "run_all", recording)
    path = tmp_path / "plan.yaml"
    path.write_text(plan_text())
    assert cli_main(["check", str(path), "--examples", "2", "--out", str(tmp_path / "a")]) in (0, 1)
    assert asked and set(asked) == {None}
    asked.clear()
    assert cli_main(["check", str(path), "--examples", "2", "--fork",
                     "--out", str(tmp_path / "b")]) in (0, 1)
    assert asked and set(asked) == {True}


def test_switch_refuses_a_scenario_that_differs_before_the_step() -> None:
    plan = load_scenario_text(plan_text(), file="<bench plan>")
    checker = Checker(plan, examples=1)
    written = checker.scenario(Case.as_written(plan))
    other_world = written.model_copy(update={"seed": written.seed + 1})
    fewer = checker.scenario(Case(steps=(1, 2, 3)))
    errors: list[str] = []

    def branch(i: int, switch: Any) -> None:
        if i == 2:
            for other in (other_world, fewer):
                try:
                    switch(other)
                except ValueError as exc:
                    errors.append(str(exc))

    start_run(written, crypto="simulated", branch=branch).finish(None)
    assert len(errors) == 2 and all("differs before that step" in e for e in errors)


def test_plan_branches_shares_within_one_world_only() -> None:
    plan = load_scenario_text(plan_text(), file="<bench plan>")
    checker = Checker(plan, examples=1)
    written = Case.as_written(plan)
    slower = Case(steps=written.steps, boot_factor=2.0)
    shifted = Case(steps=written.steps, shifts=((4, 300),))
    scenarios = [checker.scenario(c) for c in (written, slower, shifted)]
    # the shifted case shares steps 0-3 with the plan; the slower one is another world
    assert plan_branches(scenarios) == [(0, {4: [2]}), (1, {})]
