"""The plan checker: is an upgrade plan safe, not only as written but when the world
misbehaves? Either "safe under what we tried, and here is what we tried", or the smallest
sequence that breaks it, as a scenario file to run and read.

A **plan** is a scenario file (topology + steps; its ``expect`` block is not used here).
:class:`Checker` does, in order:

1. **as written** — run the plan once and check every invariant of
   :mod:`vtalab.invariants` (the run goes on for the liveness bound after the last step);
2. **search** — a list of ``--examples`` :class:`~vtalab.analysis.checker.cases.Case` s
   (fault schedules and timing perturbations; the first is the plan as written) drawn
   from the seed alone (:func:`~vtalab.analysis.checker.cases.draw_cases`), run in chunks
   of :data:`SEARCH_CHUNK` until every invariant has a case that violates it or the list
   is spent; each violated invariant's case is the *first in the list* that violates it,
   then **shrunk** (faults and perturbations taken away, values made simpler, the first
   candidate in a fixed order that still violates it, every time);
3. **minimise** — :mod:`vtalab.analysis.checker.shrink` makes each shrunk case 1-minimal (taking
   away any one remaining step, fault or perturbation makes the violation disappear) and
   names the **culprit**: the earliest plan step whose removal (or change: a full boot
   instead of Quick Boot, one host at a time instead of at once) makes it disappear;
4. **counterexamples** — each is written as a runnable scenario whose
   ``expect: [invariant: NAME]`` fails, and fails alone: every step the world refused in
   that run carries ``expect_error: REASON`` (:func:`~vtalab.analysis.checker.cases.with_refusals`),
   so the exit code of ``vtalab run`` means the invariant. It is read back and re-run to
   confirm it reproduces.

Runs go through a :mod:`pool <vtalab.analysis.pool>`: in this process (the default), or
on Dask workers (``--workers N``, ``--scheduler``) that get the scenario as plain data and
return a plain :class:`RunSummary`. Every decision is made here, from results in the
order of the candidates, in windows of a fixed size (:data:`SHRINK_WINDOW`), never from
the order runs finish in: the examples tried, the violations and the minimised
counterexamples are the same for any number of workers, in-process included.

Every run is a plain :func:`~vtalab.scenario.model.run_scenario` of the scenario
:func:`~vtalab.analysis.checker.cases.build_scenario` makes, so what the checker saw is what
``vtalab run COUNTEREXAMPLE`` shows. Runs are cached by their scenario text's digest. Advice
invariants (``documented-upgrade-order``) are reported as warnings, never failures.

What was exercised is counted (:class:`Exercised`): faults, interleavings, timing
perturbations, verbs run, and how often each invariant was actually at risk, so "no
violation" means something.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import vtalab.invariants as inv
from vtalab.analysis.branching import run_all, run_one
from vtalab.analysis.checker.cases import (
    Case,
    _parameters,
    build_scenario,
    draw_cases,
    scenario_data,
    with_refusals,
)
from vtalab.analysis.checker.report import counterexample_text, reproduce
from vtalab.analysis.checker.shrink import culprit, minimise, shrink
from vtalab.analysis.pool import InProcess, Pool
from vtalab.core import crypto as _crypto
from vtalab.core.files import safe_name, write_atomic
from vtalab.core.kernel import gc_nursery
from vtalab.core.limits import MAX_CHECK_EXAMPLES
from vtalab.core.parameters import Parameters
from vtalab.errors import InputError
from vtalab.invariants.replay import folded
from vtalab.scenario.model import Scenario, run_scenario
from vtalab.world import registry

__all__ = ["NO_STEPS", "SEARCH_CHUNK", "SHRINK_WINDOW", "CheckReport", "Checker", "Counterexample",
           "Exercised", "RunSummary", "batch_sizes", "judge", "run_batch", "run_cost",
           "run_plain"]

#: Why a plan without steps cannot be checked: a violation is blamed on the plan only
#: when the same faults without its steps do not violate it, so it would always pass.
NO_STEPS = ("the plan has no steps: vtalab check tries a plan's steps under faults and "
            "blames a violation on them; list the upgrade's steps under steps:")
#: Search cases run per chunk; the search stops after the chunk in which every invariant
#: has a violating case (fixed: the same cases are tried with any number of workers).
SEARCH_CHUNK = 16
#: Shrinking and culprit candidates run per window; the first in order that qualifies wins.
SHRINK_WINDOW = 4
#: On a pool: at most this many runs in one task (see ``Checker._on_pool``).
MAX_BATCH = 16
#: Cases whose scenario and cache key the checker remembers (:meth:`Checker._prepare`);
#: past this it forgets them all and starts again (a bound, never a different answer).
PREPARED_LIMIT = 4096
#: Runs made ahead and not yet taken (:meth:`Checker._prefetch`) kept at most.
READY_LIMIT = 4096


def _fault_names() -> set[str]:
    return set(registry.FAULTS)


def _invariants() -> Any:

    return inv


@dataclass(frozen=True)
class RunSummary:
    """What one run of one case showed."""

    violations: dict[str, list[Any]]  #: failing invariant -> its violations
    advice: list[Any]  #: advice-kind violations (warnings)
    at_risk: dict[str, int]
    verbs: tuple[str, ...]  #: verbs of the steps that ran
    #: (index in the run's scenario, reason code) of every step the world refused
    refused: tuple[tuple[int, str], ...] = ()

    @property
    def violated(self) -> frozenset[str]:
        return frozenset(self.violations)

    def data(self) -> dict[str, Any]:
        """As plain data (what a Dask worker sends back)."""
        return {"violations": {k: [_violation_data(v) for v in vs]
                               for k, vs in self.violations.items()},
                "advice": [_violation_data(v) for v in self.advice],
                "at_risk": dict(self.at_risk), "verbs": list(self.verbs),
                "refused": [list(r) for r in self.refused]}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> RunSummary:
        return cls({k: [inv.Violation(**v) for v in vs]
                    for k, vs in data["violations"].items()},
                   [inv.Violation(**v) for v in data["advice"]],
                   dict(data["at_risk"]), tuple(data["verbs"]),
                   tuple((int(i), str(r)) for i, r in data["refused"]))


def _violation_data(v: Any) -> dict[str, Any]:
    return {"invariant": v.invariant, "time": v.time, "subject": v.subject,
            "detail": v.detail}


def judge(result: Any) -> RunSummary:
    """What one run showed: every invariant checked on its world."""
    world = result.world
    refused = tuple((r.index, str(r.error)) for r in result.steps if r.ok is False)
    violations: dict[str, list[Any]] = {}
    advice: list[Any] = []
    at_risk: dict[str, int] = {}
    for item in inv.INVARIANTS.values():
        found = item.check(world)
        at_risk[item.name] = int(item.at_risk(world))
        if item.kind == "advice":
            advice += found
        elif found:
            violations[item.name] = found
    return RunSummary(violations, advice, at_risk, tuple(_step_verbs(world)), refused)


@folded("step.start")
def _step_verbs(world: Any) -> Generator[list[str], list[Any], None]:
    """The verbs of the steps that started, in order: a fold read with the invariants'
    (their one pass over the trace), not a scan of the whole trace of its own."""
    verbs: list[str] = []
    while True:
        for e in (yield verbs):
            verbs.append(str(e.fields.get("verb")))


def run_plain(item: tuple[dict[str, Any], str]) -> dict[str, Any]:
    """One run on a worker: (scenario as plain data, crypto mode) -> plain summary. The
    world is built, run, judged and freed here (:func:`run_one`) and never leaves the
    process."""
    data, crypto = item
    return run_one(Scenario.model_validate(data), crypto, lambda run: judge(run).data())


def _liveness_bound(plan: Scenario, boot_factor: float) -> float:
    """The liveness bound of ``plan``'s world with boots ``boot_factor`` times slower: the
    parameters :func:`build_scenario` gives a case's scenario (only the factor changes
    them), without building the scenario."""
    return float(_invariants().liveness_bound(Parameters(**_parameters(plan, boot_factor))))


def run_batch(items: list[tuple[dict[str, Any], str]]) -> list[dict[str, Any]]:
    """:func:`run_plain` of several runs in one task (one task's overhead for all), with
    the worlds' young generation throughout (as :meth:`Checker.run`)."""
    with gc_nursery():
        return [run_plain(item) for item in items]


def batch_sizes(runs: int, workers: int) -> list[int]:
    """How many runs each task of a map carries (in order; the sum is ``runs``): rounds
    of one batch per worker, each batch 1/(2 x workers) of the runs left (rounded up, at
    most :data:`MAX_BATCH`), so each round hands out about half of what is left and the
    last round is single runs. For 60 runs on 2 workers 15, 15, 8, 8, 4, 4, 2, 2, 1, 1:
    10 tasks, where a batch recomputed after every task made 13 with the same single-run
    tail (a task costs a few ms of CPU between client, scheduler and worker, taken from
    the runs on a machine with as many cores as workers)."""
    workers = max(int(workers), 1)
    sizes: list[int] = []
    left = runs
    while left > 0:
        size = min(MAX_BATCH, -(-left // (2 * workers)))
        for _ in range(workers):
            take = min(size, left)
            if take:
                sizes.append(take)
                left -= take
    return sizes


def run_cost(case: Case) -> float:
    """A rough guess of how long ``case`` takes to run, relative to the plan as written
    (slower boots make the whole run longer; later steps and faults a little): only used
    to hand the costliest runs to the workers first."""
    return (1.0 + 0.65 * (case.boot_factor - 1.0) + sum(s for _i, s in case.shifts) / 12000
            + 0.05 * len(case.faults) + 0.5 * bool(case.steps))


@dataclass
class Exercised:
    """What the search tried (distinct runs, shrinking and minimising included)."""

    runs: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    interleavings: set[tuple[str, int]] = field(default_factory=set)
    boot_factors: Counter[float] = field(default_factory=Counter)
    shifted_runs: int = 0
    quick_boot_runs: int = 0
    verbs: Counter[str] = field(default_factory=Counter)
    at_risk: Counter[str] = field(default_factory=Counter)
    violated_runs: Counter[str] = field(default_factory=Counter)
    #: invariants the injected faults violated with no plan step at all (not counted)
    fault_only: set[str] = field(default_factory=set)

    def add(self, case: Case, summary: RunSummary) -> None:
        self.runs += 1
        for f in case.faults:
            self.faults[f.do] += 1
            self.interleavings.add((f.do, f.position))
        self.boot_factors[case.boot_factor] += 1
        self.shifted_runs += bool(case.shifts)
        self.quick_boot_runs += bool(case.quick_boot)
        self.verbs.update(v for v in summary.verbs if v not in _fault_names())
        self.at_risk.update(summary.at_risk)
        self.violated_runs.update(summary.violated)


@dataclass
class Counterexample:
    """A minimal failing case of one invariant, and where it was written."""

    invariant: str
    case: Case  #: 1-minimal
    shrunk: Case  #: as Hypothesis left it (every plan step kept)
    as_written: bool  #: found in the plan as written
    culprit: str | None
    violations: list[Any]
    scenario: Scenario  #: as written: refused steps carry ``expect_error``
    #: components of ``case`` whose removal still leaves the invariant violated, by the
    #: remaining faults alone (not the plan's doing); normally empty, and then removing
    #: any one component makes ``vtalab run`` of the reduced scenario pass
    still_violated_without: list[tuple[str, Any]] = field(default_factory=list)
    text: str = ""
    path: str | None = None
    reproduced: bool | None = None
    timeline: list[str] = field(default_factory=list)
    complete: bool = True  #: False when Ctrl-C stopped its minimisation


@dataclass
class CheckReport:
    plan: Scenario
    path: str
    intensity: str
    seed: int
    examples: int
    as_written: RunSummary
    exercised: Exercised
    counterexamples: list[Counterexample]
    advice: list[Any]
    interrupted: bool = False
    #: distinct cases the search list holds (fewer than ``examples`` when that is all)
    drawn: int | None = None

    @property
    def exit_code(self) -> int:
        if self.counterexamples:
            return 1
        return 130 if self.interrupted else 0


class Checker:
    """Check one plan; see the module docstring. ``run()`` returns a :class:`CheckReport`."""

    def __init__(self, plan: Scenario, *, path: str = "<plan>", examples: int = 50,
                 faults: str = "light", seed: int = 0, out: str | None = None,
                 progress: Callable[[int, int, str], None] | None = None,
                 crypto: str = "simulated", pool: Pool | None = None,
                 fork: bool | None = None) -> None:
        if not 1 <= examples <= MAX_CHECK_EXAMPLES:
            raise InputError(f"--examples must be between 1 and {MAX_CHECK_EXAMPLES:,} "
                             f"(MAX_CHECK_EXAMPLES); got {examples:,}", what="examples",
                             value=examples)
        if not plan.steps:
            raise InputError(f"plan {plan.name!r}: {NO_STEPS}", what="steps")
        if faults not in ("none", "light", "heavy"):
            raise InputError(f"unknown fault intensity {faults!r}", what="fault intensities",
                             value=faults, choices=["none", "light", "heavy"])
        if crypto not in ("real", "simulated"):
            raise InputError(f"unknown crypto mode {crypto!r}", what="crypto modes",
                             value=crypto, choices=["simulated", "real"])
        self.plan = plan
        self.path = path
        #: the crypto of the search; counterexamples are always confirmed with real crypto
        self.crypto = crypto
        self.examples = int(examples)
        #: cases in the search list: ``examples``, or fewer when the plan has fewer
        self.total = self.examples
        self.intensity = faults
        self.seed = int(seed)
        self.out = out
        self.progress = progress or (lambda done, total, what: None)
        #: where the runs happen (results are the same wherever)
        self.pool: Pool = pool if pool is not None else InProcess()
        #: in-process runs share their common beginnings by forking
        #: (:mod:`~vtalab.analysis.branching`; None: its ``FORK_DEFAULT``, off)
        self.fork = fork
        self.exercised = Exercised()
        self._cache: dict[str, RunSummary] = {}
        self._ready: dict[str, RunSummary] = {}  # run ahead, not yet taken (_prefetch)
        #: case -> (its scenario, as plain data, cache key): on a pool each search case is
        #: prepared for the prefetch and again when the search takes its result
        self._prepared: dict[Case, tuple[Scenario, dict[str, Any], str]] = {}
        #: search cases tried (the plan as written is the first)
        self.tried = 0
        inv = _invariants()
        self.failing = [i.name for i in inv.INVARIANTS.values() if i.kind != "advice"]
        self.counterexamples: list[Counterexample] = []

    # -- running one case ---------------------------------------------------------------
    def settle_for(self, case: Case) -> float:
        """Long enough after the last step for the liveness bound (slower boots included)
        to run out after every injected fault has healed.

        A fault strikes ``delay`` seconds after the step before it finished, so it heals
        at most ``delay + duration`` after the last step ends; the liveness invariant
        promises re-attestation only *after* a fault heals, so a run that stopped while a
        partition was still on would blame the plan for the fault (a checker bug that
        ``vtalab check`` of the seed's plan under heavy faults reported as a liveness
        counterexample)."""
        bound = _liveness_bound(self.plan, case.boot_factor)
        tail = max((f.delay + float(f.with_.get("duration", 0) or 0) for f in case.faults),
                   default=0.0)
        return bound + tail

    def scenario(self, case: Case, **kw: Any) -> Scenario:
        if not kw:
            return self._prepare(case)[0]
        return build_scenario(self.plan, case, settle=self.settle_for(case), **kw)

    def _prepare(self, case: Case) -> tuple[Scenario, dict[str, Any], str]:
        """``case``'s scenario, that as plain data (what a worker gets) and its cache key
        (remembered: pure functions of the case and the plan; a case with changed steps,
        which only the culprit search makes, holds unhashable steps and is not)."""
        got = None if case.changed else self._prepared.get(case)
        if got is None:
            scenario = build_scenario(self.plan, case, settle=self.settle_for(case))
            data = scenario_data(scenario)
            # the key is the digest of the scenario's text, not the text: the cache keeps
            # one key per distinct run after _prepared forgets the case, and the text
            # (2.4 kB for safe-rolling-upgrade) would be 240 MB at MAX_CHECK_EXAMPLES
            text = json.dumps(data, sort_keys=True, default=str)
            got = (scenario, data, hashlib.sha256(text.encode()).hexdigest())
            if not case.changed:
                if len(self._prepared) >= PREPARED_LIMIT:
                    self._prepared.clear()
                self._prepared[case] = got
        return got

    def summary(self, case: Case) -> RunSummary:
        """Run ``case`` (cached by its scenario) and check every invariant."""
        return self.summaries([case])[0]

    def summaries(self, cases: Sequence[Case], *, done: Callable[[int], None] | None = None
                  ) -> list[RunSummary]:
        """Each of ``cases`` run (through the pool; cached by scenario) and judged."""
        keyed = []
        todo: dict[str, tuple[Case, Scenario]] = {}
        for case in cases:
            scenario, _data, key = self._prepare(case)
            keyed.append(key)
            if key not in self._cache and key not in todo:
                todo[key] = (case, scenario)
        if todo:
            now = [(c, sc) for key, (c, sc) in todo.items() if key not in self._ready]
            if not now:
                results = []
            elif isinstance(self.pool, InProcess):
                results = run_all([sc for _c, sc in now], self.crypto,
                                  self._judge, fork=self.fork, done=done)
            else:
                results = self._on_pool(now, done)
            fresh = iter(results)
            # taken in the cases' order, whether run now or ahead (_prefetch)
            for key, (case, _scenario) in todo.items():
                result = self._ready.pop(key) if key in self._ready else next(fresh)
                self._cache[key] = result
                self.exercised.add(case, result)
        return [self._cache[key] for key in keyed]

    def _prefetch(self, cases: Sequence[Case], done: Callable[[int], None] | None) -> None:
        """Run ``cases`` ahead, all at once, on the pool: :meth:`summaries` then takes
        their results as if it had run them itself, in the same order (so ``exercised``
        and every decision are unchanged). The search list is run in chunks that each wait
        for their slowest run; ahead of time the workers never wait. A case the search
        never reaches (it stops once every invariant is violated) was run for nothing and
        is forgotten."""
        todo: dict[str, tuple[Case, Scenario]] = {}
        for case in cases:
            scenario, _data, key = self._prepare(case)
            if key not in self._cache and key not in self._ready and key not in todo:
                todo[key] = (case, scenario)
        if not todo:
            return
        if len(self._ready) > READY_LIMIT:  # speculated runs never taken: a bound
            self._ready.clear()
        self._ready.update(zip(todo, self._on_pool(list(todo.values()), done), strict=True))

    def _known(self, case: Case) -> RunSummary | None:
        """``case``'s summary if it has run (taken or ahead), else None."""
        key = self._prepare(case)[2]
        return self._cache.get(key) or self._ready.get(key)

    def _speculate(self, cases: Sequence[Case]) -> None:
        """On a pool: ``cases`` and, in the same map, the baselines (same faults, no plan
        step) that :meth:`blamed_many` may ask for next: of every case that violated
        something, or has not run yet. In-process :meth:`blamed_many` runs the cases, then
        the baselines of those that violated: two waits for the slowest run, which on
        workers are two round trips with workers idle in between, per shrinking window
        and per search chunk. A baseline nobody asks for stays in ``_ready`` unseen:
        ``exercised`` and every decision are the same as without it."""
        more = []
        for case in cases:
            if case.steps:
                known = self._known(case)
                if known is None or known.violated:
                    more.append(case.without_steps())
        self._prefetch([*cases, *more], None)

    def _on_pool(self, todo: list[tuple[Case, Scenario]],
                 done: Callable[[int], None] | None) -> list[RunSummary]:
        """The runs of ``todo`` on the pool's workers, in batches (a task's overhead is
        paid once per batch), the costliest first (the workers take tasks in that order
        as they free up: longest first balances them), results back in ``todo``'s
        order. Batches shrink as the list goes (:func:`batch_sizes`), so the last tasks
        are single runs and no worker is left with a long batch while the others idle.
        Where each run happens changes nothing in its result."""
        order = sorted(range(len(todo)), key=lambda k: -run_cost(todo[k][0]))
        batches: list[list[int]] = []
        j = 0
        for size in batch_sizes(len(order), self.pool.workers):
            batches.append(order[j:j + size])
            j += size
        items = [[(self._prepare(todo[k][0])[1], self.crypto) for k in batch]
                 for batch in batches]
        out: list[RunSummary | None] = [None] * len(todo)
        for batch, data in zip(batches, self.pool.map(run_batch, items, done=done,
                                                      weight=len), strict=True):
            for k, d in zip(batch, data, strict=True):
                out[k] = RunSummary.from_data(d)
        return [s for s in out if s is not None]

    def expected_scenario(self, case: Case, invariant: str, **kw: Any) -> Scenario:
        """``case`` as a runnable scenario that fails only on ``invariant:`` if violated:
        every step its run refused carries ``expect_error`` with the reason it was refused."""
        refused = dict(self.summary(case).refused)
        return with_refusals(self.scenario(case, expect=[{"invariant": invariant}], **kw),
                             refused)

    def _run_in(self, scenario: Scenario, crypto: str) -> RunSummary:
        with _crypto.simulated(crypto == "simulated"):  # the checks verify tokens too
            return self._judge(run_scenario(scenario, crypto=crypto))

    def _judge(self, result: Any) -> RunSummary:
        return judge(result)

    def violates(self, case: Case, name: str) -> bool:
        """``case`` violates ``name`` *because of the plan*: the same faults and timing
        without any plan step do not (a KMS outage while VMs power on at T=0 is not the
        plan's doing; it is counted apart, in ``Exercised.fault_only``)."""
        return name in self.blamed(case)

    def blamed(self, case: Case) -> frozenset[str]:
        return self.blamed_many([case])[0]

    def blamed_many(self, cases: Sequence[Case], *,
                    done: Callable[[int], None] | None = None) -> list[frozenset[str]]:
        """:meth:`blamed` of each case: the cases run together, then together the
        baselines (same faults, no plan step) of those that violated something (on a
        pool, speculatively together: :meth:`_speculate`)."""
        if not isinstance(self.pool, InProcess):
            self._speculate(cases)
        violated = [s.violated for s in self.summaries(cases, done=done)]
        need = [k for k, (c, v) in enumerate(zip(cases, violated, strict=True))
                if v and c.steps]
        alone = dict(zip(need, self.summaries([cases[k].without_steps() for k in need]),
                         strict=True))
        out: list[frozenset[str]] = []
        for k, (case, v) in enumerate(zip(cases, violated, strict=True)):
            if not case.steps:
                out.append(frozenset())
            elif not v:
                out.append(v)
            else:
                base = alone[k].violated
                self.exercised.fault_only.update(base & v)
                out.append(v - base)
        return out

    def first(self, candidates: Sequence[Case], name: str, *, violating: bool = True
              ) -> int | None:
        """Index of the first of ``candidates`` that violates ``name`` because of the plan
        (or, ``violating=False``, that does not), run :data:`SHRINK_WINDOW` at a time."""
        for start in range(0, len(candidates), SHRINK_WINDOW):
            window = candidates[start:start + SHRINK_WINDOW]
            for k, blamed in enumerate(self.blamed_many(window)):
                if (name in blamed) == violating:
                    return start + k
        return None

    # -- the whole check ----------------------------------------------------------------
    def run(self) -> CheckReport:
        # The whole check with the worlds' young generation (gc_nursery): between runs
        # the default threshold would start a collection every few hundred objects
        # (judging, building scenarios, worlds built and freed), and now and then a full
        # one over everything the process holds.
        with gc_nursery():
            return self._run()

    def _run(self) -> CheckReport:
        plan = self.plan
        written = Case.as_written(plan)
        report = CheckReport(plan, self.path, self.intensity, self.seed, self.examples,
                             RunSummary({}, [], {}, ()), self.exercised,
                             self.counterexamples, [])
        pending: list[Any] = []  # (name, best case so far, shrunk case) while minimising
        todo = draw_cases(self.plan, self.intensity, self.seed, self.examples)
        # a small case space holds fewer than asked: the bar counts what exists
        self.total = report.drawn = len(todo)
        try:
            self.progress(0, self.total, "plan as written")
            if not isinstance(self.pool, InProcess):
                # On workers the whole search list goes at once, the plan as written (its
                # first case) with it: no worker waits while one runs it alone.
                def ahead(k: int) -> None:
                    self.tried = min(self.tried + k, self.total)
                    self.progress(self.tried, self.total, "searching")

                self._prefetch(todo, ahead)
                self.tried = 0
            report.as_written = self.summary(written)
            report.advice = list(report.as_written.advice)
            for name, found in self._search(todo, set(self.failing)):
                pending[:] = [name, found, found]

                def keep(best: Case) -> None:
                    pending[1] = best

                self.progress(self.total, self.total, f"shrinking {name}")
                shrunk = shrink(self, found, name, on_progress=keep)
                pending[2] = shrunk
                self.progress(self.total, self.total, f"minimising {name}")
                minimal = minimise(self, shrunk, name, on_progress=keep)
                why = culprit(self, shrunk, name)
                self._finish(name, minimal, shrunk, found == written, why)
                pending.clear()
        except KeyboardInterrupt:
            report.interrupted = True
            if pending:
                name, best, shrunk = pending
                self._finish(name, best, shrunk, shrunk == written, None, complete=False)
        self.progress(self.total, self.total, "done")
        return report

    def _search(self, todo: list[Case], targets: set[str]) -> list[tuple[str, Case]]:
        """Each invariant of ``targets`` some case of the search list ``todo`` violates,
        with the first such case (in the list's order, then by name)."""
        found: dict[str, Case] = {}
        order: list[str] = []
        if not isinstance(self.pool, InProcess):
            self._speculate(todo[:self._reached(todo, targets)])
        for start in range(0, len(todo), SEARCH_CHUNK):
            chunk = todo[start:start + SEARCH_CHUNK]
            base = start

            def done(k: int, base: int = base) -> None:
                self.tried = min(self.tried + k, self.total)
                self.progress(self.tried, self.total, "searching")

            blamed = self.blamed_many(chunk, done=done)
            self.tried = base + len(chunk)
            for case, names in zip(chunk, blamed, strict=True):
                for name in sorted(names & targets - found.keys()):
                    found[name] = case
                    order.append(name)
            if targets <= found.keys():
                break
        self._ready.clear()
        return [(name, found[name]) for name in order]

    def _reached(self, todo: list[Case], targets: set[str]) -> int:
        """How many cases of the search list :meth:`_search` certainly gets to, from the
        runs made ahead: every case up to the end of the chunk in which the invariants
        some case violated first cover ``targets`` (the search stops only once each
        target is *blamed* on the plan, and blame is a part of violation), or the whole
        list. So the baselines of those cases' violations are all asked for, and go out
        in one map instead of one per chunk."""
        seen: set[str] = set()
        for k, case in enumerate(todo):
            known = self._known(case)
            if known is None:  # not run ahead: nothing to speculate from
                return k
            seen |= known.violated
            if targets <= seen:
                return (k // SEARCH_CHUNK + 1) * SEARCH_CHUNK
        return len(todo)

    def _confirmed(self, case: Case, name: str, simulated: RunSummary) -> RunSummary:
        """``case`` run again with real crypto: it must violate ``name`` the same way
        (simulated crypto is a stand-in for search; a difference is a simulator bug)."""
        real = self._run_in(self.scenario(case), "real")
        if [str(v) for v in real.violations.get(name, [])] != [
                str(v) for v in simulated.violations.get(name, [])]:
            raise RuntimeError(
                f"simulated and real crypto disagree on {name} for the minimal case: "
                f"simulated {[str(v) for v in simulated.violations.get(name, [])]}, "
                f"real {[str(v) for v in real.violations.get(name, [])]}")
        return real

    def _finish(self, name: str, minimal: Case, shrunk: Case, as_written: bool,
                why: str | None, *, complete: bool = True) -> Counterexample:

        summary = self.summary(minimal)
        if self.crypto != "real":  # found with simulated crypto: confirmed with real
            summary = self._confirmed(minimal, name, summary)
        inv = _invariants().INVARIANTS[name]
        scenario = self.expected_scenario(
            minimal, name, name=f"{self.plan.name}--{name}",
            description=f"Counterexample to plan {self.plan.name!r}: {inv.statement}")
        # 1-minimal for the plan's blame; say so if a removal leaves the faults alone
        # violating it (then `vtalab run` of that reduced case would still fail).
        parts = minimal.components() if complete else []
        smaller = self.summaries([minimal.without(c) for c in parts])
        still = [c for c, s in zip(parts, smaller, strict=True) if name in s.violated]
        ce = Counterexample(name, minimal, shrunk, as_written, why,
                            summary.violations.get(name, []), scenario,
                            still_violated_without=still, complete=complete)
        ce.text = counterexample_text(self, ce)
        if self.out is not None:
            # The plan's name is the person's text: made a file name that stays in --out.
            try:
                os.makedirs(self.out, exist_ok=True)
            except OSError as exc:
                raise InputError(f"--out {self.out}: cannot create the folder: "
                                 f"{exc.strerror or exc}") from None
            ce.path = os.path.join(self.out, safe_name(f"{self.plan.name}--{name}") + ".yaml")
            write_atomic(ce.path, ce.text)
        if complete:
            ce.reproduced, ce.timeline = reproduce(ce)
        self.counterexamples.append(ce)
        return ce
