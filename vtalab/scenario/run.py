"""Running a scenario: the steps as SimPy processes, the expectations at their times.

:func:`run_scenario` builds a :class:`~vtalab.world.assembly.World` from the scenario's topology,
seed and parameters, then runs one driver process: the steps one after another (a
``background`` step in its own process), every timed expectation in its own process
watching the clock from the start (an ``at`` may fall before the step before it ends),
then the scenario's ``settle`` time. End-of-run expectations are evaluated when the
driver finishes. Each step and verdict is recorded in the trace (``scenario`` source), so
the digest covers them.

A run stops at the lab's horizon (:data:`~vtalab.core.simtime.HORIZON_SECONDS`) or at an
explicit ``until``; steps and checks not reached by then are reported as "not reached":
a failure at the horizon, neither a pass nor a failure under ``until``. A step
refused without ``expect_error`` fails with a hint to add one. The result is a
:class:`RunResult`: the verdicts, the step results, the trace digest and the world as it
ended. The public names are re-exported by :mod:`vtalab.scenario.model`.
"""

from __future__ import annotations

import functools
import json
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

import simpy

from vtalab.core import crypto as _crypto
from vtalab.core.kernel import EventLimitExceeded, format_time, gc_nursery
from vtalab.core.parameters import Parameters
from vtalab.core.simtime import HORIZON_SECONDS
from vtalab.errors import InputError, ScenarioError
from vtalab.scenario.checks import _semantic_problems
from vtalab.scenario.expect import CheckContext, StepResult, Verdict, evaluate
from vtalab.scenario.yamlloc import LazyLocated, Located
from vtalab.world import registry
from vtalab.world.assembly import World
from vtalab.world.objects import object_type
from vtalab.world.psformat import PSObject, plain, render
from vtalab.world.registry import Outcome

if TYPE_CHECKING:
    from vtalab.scenario.model import Scenario, Step

__all__ = ["ANY_ERROR", "RunResult", "ScenarioRun", "UntilTooFar", "check_count",
           "remember_source", "run_scenario", "start_run", "step_text"]

#: ``expect_error: any``: the step must be refused, whatever the reason code.
ANY_ERROR = "any"

#: id(scenario) -> (a weak reference to it, the YAML it was loaded from): where a
#: run-time limit error points (a scenario model does not carry its marks).
_SOURCES: dict[int, tuple[weakref.ref[Any], Located]] = {}


def remember_source(scenario: Any, located: Located) -> None:
    """Keep where ``scenario`` was written, for errors found only when it runs."""
    key = id(scenario)
    _SOURCES[key] = (weakref.ref(scenario, lambda _: _SOURCES.pop(key, None)), located)


def _source(scenario: Any) -> Located:
    ref, located = _SOURCES.get(id(scenario), (None, None))
    if ref is not None and ref() is scenario and located is not None:
        return located
    return Located(scenario.model_dump(by_alias=True, mode="json"), "<scenario>", "")


class UntilTooFar(InputError):
    """A run asked to go on to ``until`` (``--until``, ``--at``, explain's ``--bound``)
    reached vtalab's event limit first, after the scenario itself had ended: the time asked
    for is the cause, not the scenario. ``reached`` is where the run stopped; a command
    names its own option with :meth:`for_option`."""

    def __init__(self, until: float, reached: float, limit: int) -> None:
        self.until = until
        self.reached = reached
        self.limit = limit
        super().__init__(self._text(f"running to {format_time(until)}"), what="until",
                         value=until)

    def _text(self, subject: str, fits: str | None = None) -> str:
        return (f"{subject} is more than this lab can simulate: the world stopped at "
                f"{format_time(self.reached)} after {self.limit:,} simulation events, "
                "vtalab's limit for one run (MAX_EVENTS_PER_RUN); "
                + (fits or f"a time of at most {format_time(self.reached)} fits"))

    def for_option(self, subject: str, fits: str | None = None) -> InputError:
        """The same error led by ``subject`` (``--at 20d``), with ``fits`` saying what
        value would do (default: a time of at most where the world stopped)."""
        return InputError(self._text(subject, fits), what="until", value=self.until)


def _too_long(scenario: Any, exc: EventLimitExceeded, results: list[StepResult],
              settle_from: float | None) -> ScenarioError:
    """The event-limit error, pointing at what made the run long."""
    src = _source(scenario)
    stopped = (f"the run stopped at {format_time(exc.now)} after {exc.limit:,} simulation "
               "events, vtalab's limit for one run (MAX_EVENTS_PER_RUN)")
    periods = {k: v for k, v in scenario.parameters.items()
               if ("period" in k or "lifetime" in k) and v < 600}
    hint = ("; the parameters " + ", ".join(f"{k}: {v:g}" for k, v in sorted(periods.items()))
            + " make the world busy: give longer periods") if periods else ""
    for name in sorted(periods):
        if src.exists(("parameters", name)):
            return src.error(("parameters", name), f"{stopped}; a period of "
                             f"{periods[name]:g} s keeps the world too busy for this run: "
                             f"give a longer one (the default is "
                             f"{Parameters.model_fields[name].default:g} s)",
                             value=periods[name])
    if settle_from is not None:
        fits = max(exc.now - settle_from, 0.0)
        path: tuple[Any, ...] = ("settle",) if src.exists(("settle",)) else ()
        return src.error(path, f"{format_time(scenario.settle)[2:]} is more than this lab "
                               f"can simulate: {stopped}; a settle of at most "
                               f"{format_time(fits)[2:]} fits{hint}", value=scenario.settle)
    running = [r for r in results if r.start is not None and r.ok is None]
    index = running[-1].index if running else next(
        (r.index for r in results if r.start is None), len(results) - 1)
    return src.error(("steps", index) if index >= 0 else (),
                     f"{stopped}, in or before this step{hint}")

@dataclass
class RunResult:
    """A finished run: the world as it ended, the verdicts and the trace digest."""

    scenario: Scenario
    world: Any
    verdicts: list[Verdict]
    steps: list[StepResult] = field(default_factory=list)
    seed: int = 0
    until: float | None = None
    end: float = 0.0

    @property
    def digest(self) -> str:
        """SHA-256 of the run's trace (computed when first asked: encoding is lazy)."""
        return str(self.world.kernel.trace.digest())

    @property
    def ok(self) -> bool:
        """No verdict failed (those not reached under ``until`` are neither)."""
        return all(v.ok is not False for v in self.verdicts)


def objects_of(verb: str, outcome: Outcome) -> tuple[str, list[dict[str, Any]]] | None:
    """The PowerCLI objects a successful step returned (a cmdlet with an output type, such
    as ``Get-TrustAuthorityVMHostBaseImage``), as plain data, with their type; else None."""
    entry = registry.lookup(verb)
    rows = outcome.output
    if (not outcome.ok or entry.output is None or not isinstance(rows, list)
            or not all(isinstance(r, dict) for r in rows)):
        return None
    return entry.output, [plain(r) for r in rows]


def output_text(type_name: str, rows: list[dict[str, Any]]) -> str:
    """``rows`` as the PowerCLI console prints them (Format-Table, or Format-List for a
    type with more than four default properties), or a line saying there were none."""
    if not rows:
        return f"(no {type_name} objects)"
    display = object_type(type_name).display
    return render([PSObject(type_name, r, display=display) for r in rows])


def check_count(scenario: Scenario) -> int:
    """How many verdicts ``vtalab run`` reports when every step is reached and succeeds or
    is refused as expected: one per expectation, one per step with ``expect_error``."""
    return len(scenario.expect) + sum(s.expect_error is not None for s in scenario.steps)


#: A value written bare in :func:`step_text` (else as JSON).
_BARE = re.compile(r"[\w.:/@+-]+")
#: ``json.dumps(v, sort_keys=True, default=str)`` without making an encoder each time
#: (every step of every run is written to the trace this way).
_STEP_JSON = json.JSONEncoder(sort_keys=True, default=str)


def step_text(step: Step) -> str:
    """The step as typed: ``upgrade-host host=esx-01 release='8.0 U3'``."""
    parts = [step.do]
    for k, v in step.with_.items():
        if isinstance(v, str) and v and _BARE.fullmatch(v):
            parts.append(f"{k}={v}")
        else:
            parts.append(f"{k}={_STEP_JSON.encode(v)}")
    return " ".join(parts)


def run_scenario(scenario: Scenario, *, seed: int | None = None, until: float | None = None,
                 world_factory: Callable[..., Any] | None = None,
                 trace_to: tuple[TextIO, str] | None = None,
                 crypto: str = "real") -> RunResult:
    """Build the world, run the steps and evaluate the expectations.

    ``until`` stops the run at that simulated time (checks not reached by then are "not
    reached", ``Verdict.ok is None``, and do not fail the run); otherwise the run lasts
    until every step and timed check is done, plus the scenario's ``settle`` time.
    ``trace_to`` = ``(file, path)`` streams the trace's JSON Lines into that open file as
    the run goes (:meth:`~vtalab.core.trace.Trace.stream_to`) instead of keeping the
    events in memory. ``crypto="simulated"`` runs the world with simulated crypto (for
    search only: :func:`vtalab.core.crypto.simulated`); every other use is real.
    """
    with _crypto.simulated(crypto == "simulated"):
        return start_run(scenario, seed=seed, world_factory=world_factory,
                         trace_to=trace_to, crypto=crypto).finish(until)


@dataclass
class ScenarioRun:
    """A scenario whose world is built and whose steps and checks are scheduled as SimPy
    processes, but not yet run: ``finish`` runs it (as :func:`run_scenario` does); a caller
    that drives the clock itself (``vtalab serve``) advances ``world.kernel`` instead."""

    world: Any
    finish: Callable[[float | None], RunResult]


#: ``branch(i, switch)``: see :func:`start_run`.
Branch = Callable[[int, Callable[["Scenario"], None]], None]


def start_run(scenario: Scenario, *, seed: int | None = None,
              world_factory: Callable[..., Any] | None = None,
              trace_to: tuple[TextIO, str] | None = None,
              crypto: str = "real", branch: Branch | None = None) -> ScenarioRun:
    """Build the world and schedule the steps and timed checks; nothing runs yet
    (``trace_to``, ``crypto``: as :func:`run_scenario`).

    ``branch``, if given, is called as ``branch(i, switch)`` each time the run is about
    to read step ``i`` (every step before it has started; ``i == len(steps)`` once the
    last has). Calling ``switch(other)`` there makes the rest of the run that of
    ``other``: a scenario with the same seed, parameters, topology and expectations and
    the same first ``i`` steps, so that nothing before this point depended on what
    differs (the later steps, ``settle``, the name). The run then is ``other``'s run,
    event for event, as if it had been started from the beginning: the plan checker
    forks a run here to share the common prefix of many cases
    (:mod:`vtalab.analysis.branching`; ``tests/test_branching.py`` compares digests).
    ``branch`` must not touch the world.
    """
    unlocated = LazyLocated(functools.partial(scenario.model_dump, by_alias=True,
                                              mode="json"), "<scenario>")
    problems = _semantic_problems(scenario, unlocated)
    if problems:
        raise problems[0]
    factory = world_factory or World
    seed = scenario.seed if seed is None else seed
    extra = {} if crypto == "real" else {"crypto": crypto}
    world = factory(scenario.topology, seed=seed, params=Parameters(**scenario.parameters),
                    **extra)
    kernel = world.kernel
    if trace_to is not None:
        kernel.trace.stream_to(*trace_to)
    env = kernel.env
    results = [StepResult(i, s.id, s.do) for i, s in enumerate(scenario.steps)]
    finished = [env.event() for _ in scenario.steps]
    verdicts: dict[int, Verdict] = {}

    def switch(other: Scenario) -> None:
        nonlocal scenario, results, finished
        i = reading[0]
        same = (other.seed == scenario.seed and other.parameters == scenario.parameters
                and other.topology == scenario.topology and other.expect == scenario.expect
                and len(other.steps) >= i and other.steps[:i] == scenario.steps[:i])
        if not same:
            raise ValueError(f"cannot switch to scenario {other.name!r} at step {i}: "
                             "it differs before that step or in its world")
        results = results[:i] + [StepResult(k, s.id, s.do)
                                 for k, s in enumerate(other.steps) if k >= i]
        finished = finished[:i] + [env.event() for _ in other.steps[i:]]
        scenario = other

    reading = [0]  # the step the run reads next (for switch)

    def run_steps() -> Any:
        prev_end = kernel.now
        background = []
        i = 0
        while True:
            if branch is not None:
                reading[0] = i
                branch(i, switch)
            if i >= len(scenario.steps):
                break
            step = scenario.steps[i]
            i += 1
            start = step.at if step.at is not None else prev_end + (step.after or 0.0)
            if step.background:  # its own process; the next step does not wait for it
                background.append(env.process(run_step(i - 1, step, start)))
                continue
            yield from run_step(i - 1, step, start)  # inline: same event order as ever
            prev_end = kernel.now
        if background:
            yield env.all_of(background)

    def run_step(i: int, step: Step, start: float) -> Any:

        if start > kernel.now:
            yield kernel.timeout(start - kernel.now)
        res = results[i]
        res.start = kernel.now
        late = {"late_by": kernel.now - step.at} if step.at is not None \
            and kernel.now > step.at else {}
        kernel.record("scenario", "step.start", index=i, id=step.id, verb=step.do,
                      args=dict(step.with_), message=f"> {step_text(step)}", **late)
        try:
            proc = world.perform(step.do, dict(step.with_))
        except InputError as exc:  # the request is impossible in the current state
            outcome = Outcome(ok=False, error="invalid_request", message=str(exc))
        else:
            outcome = proc if isinstance(proc, Outcome) else (yield proc)
        if not isinstance(outcome, Outcome):
            outcome = Outcome(ok=True, output=outcome)
        res.end, res.ok, res.error, res.message = (kernel.now, outcome.ok, outcome.error,
                                                   outcome.message)
        if outcome.ok:
            text = "  ok" + (f": {outcome.message}" if outcome.message else "")
        else:
            text = f"  refused ({outcome.error})" + (
                f": {outcome.message}" if outcome.message else "")
        kernel.record("scenario", "step.end", index=i, id=step.id, verb=step.do,
                      ok=outcome.ok, error=outcome.error, message=text)
        shown = objects_of(step.do, outcome)
        if shown is not None:
            type_name, rows = shown
            res.output, res.output_type = rows, type_name
            # What the PowerCLI console prints for the cmdlet (the shell's formatter): the
            # objects are the operator's view, so the timeline shows them.
            kernel.record("scenario", "get.output", index=i, id=step.id, verb=step.do,
                          type=type_name, objects=rows, message=output_text(type_name, rows))
        finished[i].succeed()

    def check(j: int, exp: Any) -> Any:
        if exp.at is not None:
            if exp.at > kernel.now:
                yield kernel.timeout(exp.at - kernel.now)
        else:
            ref = exp.after_step
            index = ref if isinstance(ref, int) else next(
                r.index for r in results if r.id == ref)
            yield finished[index]
            if exp.delay:
                yield kernel.timeout(exp.delay)
        verdicts[j] = _evaluate(world, exp, results, kernel)

    # Timed checks must watch the clock from the start (an `at` may precede a step end).
    timed_early = [j for j, e in enumerate(scenario.expect)
                   if e.at is not None or e.after_step is not None]
    procs = {j: env.process(check(j, scenario.expect[j])) for j in timed_early}

    # End-of-run checks bounded by a window (`between`, `logged_at`) wait for its end.
    windows = [w for e in scenario.expect if e.at is None and e.after_step is None
               for w in [_window_end(e.check_spec)] if w is not None]
    settle_from: list[float] = []

    def driver() -> Any:
        yield env.process(run_steps())
        if procs:
            yield env.all_of(list(procs.values()))
        if windows and max(windows) > kernel.now:
            yield kernel.timeout(max(windows) - kernel.now)
        settle_from.append(kernel.now)
        yield kernel.timeout(scenario.settle)

    main = env.process(driver())

    def finish(until: float | None) -> RunResult:
        # the scenario and its step results as they are when the run ends (a run that
        # switched on the way, see ``branch``, ends as the other scenario's run)
        return _finish(lambda: (scenario, results), world, until, main, verdicts, seed,
                       settle_from)

    return ScenarioRun(world, finish)


def _window_end(spec: Any) -> float | None:
    """The end of the time window a check looks at (``between``, ``logged_at``), if any."""
    inner = getattr(spec, "inner", None)
    if inner is not None:  # not: {...}
        return _window_end(inner)
    between = getattr(spec, "between", None)
    if between is not None:
        return float(between[1])
    logged_at = getattr(spec, "logged_at", None)
    return float(logged_at) if logged_at is not None else None


def _finish(current: Callable[[], tuple[Scenario, list[StepResult]]], world: Any,
            until: float | None, main: Any, verdicts: dict[int, Verdict], seed: int,
            settle_from: list[float]) -> RunResult:
    kernel = world.kernel
    env = kernel.env
    try:
        # gc_nursery: as World.run -- a run allocates far more young objects than the
        # default threshold, and each collection of them walks the world in vain.
        with kernel.bounded(), gc_nursery():
            if until is None:
                # The horizon holds whatever the steps take (a loaded scenario's written
                # times are within it, but a wait or a slow upgrade may go further): a stop
                # scheduled there ends the run. Until then it changes nothing -- nothing
                # else looks at it.
                guard = env.timeout(max(HORIZON_SECONDS - kernel.now, 0.0))
                guard.callbacks.append(simpy.core.StopSimulation.callback)
                env.run(until=main)
            else:
                kernel.run(min(until, HORIZON_SECONDS))
    except EventLimitExceeded as exc:
        if until is not None and main.triggered:  # the scenario was done: `until` is why
            raise UntilTooFar(until, exc.now, exc.limit) from None
        scenario, results = current()
        raise _too_long(scenario, exc, results,
                        settle_from[0] if settle_from else None) from None
    scenario, results = current()
    end = kernel.now
    cut = not main.triggered  # stopped before the driver finished
    horizon = end >= HORIZON_SECONDS
    stopped = f"not reached: the run stopped at {format_time(end)}" + (
        " (the lab's horizon)" if horizon else " (--until)" if until is not None else "")
    # Stopped on purpose (--until): what was not reached is neither passed nor failed. At
    # the horizon the scenario could not finish: that is a failure.
    reached_ok: bool | None = None if until is not None and not horizon else False

    out: list[Verdict] = []
    for step, res in zip(scenario.steps, results, strict=True):
        if res.ok is None:
            if step.expect_error is not None or cut:
                out.append(Verdict(reached_ok, stopped, label=f"{res.name} ({step.do})"))
            continue
        if step.expect_error is not None:
            ok = res.ok is False and step.expect_error in (res.error, ANY_ERROR)
            got = "succeeded" if res.ok else f"was refused ({res.error})"
            out.append(Verdict(ok, f"{got}; expected refusal {step.expect_error}",
                               label=f"{res.name} ({step.do})", at=res.end))
        elif not res.ok:
            out.append(Verdict(False, f"was refused ({res.error})"
                                      + (f": {res.message}" if res.message else "")
                                      + f"; if that is expected, add 'expect_error: "
                                        f"{res.error}' to the step",
                               label=f"{res.name} ({step.do})", at=res.end))
    for j, exp in enumerate(scenario.expect):
        if j in verdicts:
            out.append(verdicts[j])
        elif exp.at is None and exp.after_step is None and (reached_ok is False or not cut):
            out.append(_evaluate(world, exp, results, kernel))
        else:
            out.append(Verdict(reached_ok, stopped, exp, exp.label(), None))
    return RunResult(scenario, world, out, results, seed, until, end)


def _evaluate(world: Any, exp: Any, results: list[StepResult], kernel: Any) -> Verdict:
    verdict = evaluate(world, exp, CheckContext(kernel.now, results))
    kernel.record("scenario", "expect", label=verdict.label, ok=verdict.ok,
                  detail=verdict.detail)
    return verdict
