"""Runs that share a beginning: many scenarios of one world, forked where they part.

The plan checker runs dozens of cases of one plan: the same world (seed, parameters,
topology) and steps that differ only from some step on -- a fault inserted before step
5, step 7 started later. Everything a run does before it reads its first differing step
is then the same work in every case: building the world, measuring every host's boot at
T=0, the documented setup verbs, the attestations that follow, the plan steps before
that point. A third of an 8-host case's time is spent at T=0 alone.

:func:`run_all` does that work once. Among scenarios with the same world and
expectations, one (the *trunk*) is run; when it is about to read the step where another
scenario parts from it (:func:`~vtalab.scenario.run.start_run`'s ``branch``), the
process forks (``os.fork``). The child switches to the other scenario, runs it to its
end, evaluates it and sends the plain result back over a pipe, then exits; the parent
waits for it and goes on. A fork copies the process as it is, so the child's run *is*
its scenario's run from T=0, event for event (``tests/test_branching.py`` compares
trace digests and results of branched and plain runs over many cases and seeds). The
results come back in the scenarios' order and are the same as plain runs, one by one.

Children run one at a time: this is one core's worth of work, made smaller. A child that
fails in any way (an error in the run, a crash) is run again plainly in this process, so
an error is raised here exactly as a plain run raises it. Where ``os.fork`` is missing
(Windows), and unless asked (``fork=True``, ``vtalab check --fork``: see
``FORK_DEFAULT``), every scenario runs plainly, one after another.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import pickle
import signal
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from vtalab.core import crypto as _crypto
from vtalab.scenario.model import Scenario
from vtalab.scenario.run import RunResult, start_run

__all__ = ["can_fork", "free_world", "plan_branches", "run_all", "run_one"]

T = TypeVar("T")

#: Branch only when at least this many steps are shared: a scenario that parts from the
#: trunk at its first step shares nothing but the building of the world (the T=0 work
#: runs after the first step is read), which is cheaper than a fork.
MIN_SHARED_STEPS = 1
#: ... and only once the trunk has recorded this many trace events (a measure of the work
#: a fork saves that does not depend on the machine's speed, so which runs fork is the
#: same on every machine and in every run). A fork costs the parent its page tables and
#: the child a copy of every page it writes: on a 2-core VM with nested paging about
#: 12 ms of CPU for a 70 MB checker process, the work of about 300 events of an 8-host
#: plan (the T=0 setup and attestations alone are about 140); on bare metal far less.
MIN_SHARED_EVENTS = 300
#: Whether ``vtalab check`` forks when not told (``--fork``). Off: measured on the 2-core
#: VMs this project runs on, forking gained nothing, loaded (33.7/41.7/35.5 vs
#: 35.3/38.7/38.7 examples per CPU second, load 5) or quiet (37.5/38.5/30.2 vs
#: 38.5/38.0/36.1, load 0.6, ``bench_checker.py --fork``/``--no-fork`` alternated):
#: a fork of the checker costs as much as the T=0 work it saves there. Where forks are
#: cheap, ``--fork`` may pay; measure with ``bench_checker.py`` before turning it on.
FORK_DEFAULT = False


def can_fork() -> bool:
    """Whether this platform forks cheaply and safely enough (Linux)."""
    return hasattr(os, "fork") and sys.platform.startswith("linux")


def run_one(scenario: Scenario, crypto: str, evaluate: Callable[[RunResult], T]) -> T:
    """One plain run of ``scenario``, evaluated; its world is freed before it returns."""
    with _crypto.simulated(crypto == "simulated"):  # evaluations verify tokens too
        out = evaluate(start_run(scenario, crypto=crypto).finish(None))
    free_world()
    return out


def free_world() -> None:
    """Free the world of the run just evaluated (dropped: its result is plain data).

    A world is a web of reference cycles (components, SimPy processes, the trace and the
    invariants' folds), so it is freed by the cyclic collector, not by reference counts.
    Under the checker's young generation (:func:`~vtalab.core.kernel.gc_nursery`, 100,000
    objects) a collection comes every ~30 runs and frees ~30 worlds whose memory has gone
    cold: measured on the bench plan, 60 examples, 0.11-0.12 CPU s in 2 collections
    against 0.04-0.05 s in 60 collections of the one world just dropped, still in cache
    (young generation only: everything older is not walked)."""
    gc.collect(0)


def _world_key(s: Scenario) -> str:
    return json.dumps([s.seed, s.parameters, s.topology.model_dump(mode="json"),
                       [e.model_dump(mode="json") for e in s.expect]],
                      sort_keys=True, default=str)


def _shared(a: list[str], b: list[str]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def plan_branches(scenarios: Sequence[Scenario]) -> list[tuple[int, dict[int, list[int]]]]:
    """How :func:`run_all` runs ``scenarios``: a list of ``(trunk, {step: [branches]})``,
    indices into ``scenarios``; each branch forks from its trunk when the trunk reads that
    step (the first step where they differ). Every scenario is a trunk or a branch once.

    Among scenarios of one world the trunk is the one sharing the most steps with the
    others (the first such); those sharing fewer than :data:`MIN_SHARED_STEPS` with it
    form groups of their own."""
    groups: dict[str, list[int]] = {}
    for k, s in enumerate(scenarios):
        groups.setdefault(_world_key(s), []).append(k)
    steps = [[json.dumps(st.model_dump(mode="json", by_alias=True), sort_keys=True,
                         default=str) for st in s.steps] for s in scenarios]
    out: list[tuple[int, dict[int, list[int]]]] = []
    for members in groups.values():
        rest = list(members)
        while rest:
            def score(t: int, rest: list[int] = rest) -> int:
                return sum(n for m in rest if m != t
                           for n in [_shared(steps[t], steps[m])] if n >= MIN_SHARED_STEPS)
            trunk = max(rest, key=score)  # max keeps the first of equals
            branches: dict[int, list[int]] = {}
            left = []
            for m in rest:
                if m == trunk:
                    continue
                n = _shared(steps[trunk], steps[m])
                if n >= MIN_SHARED_STEPS:
                    branches.setdefault(n, []).append(m)
                else:
                    left.append(m)
            out.append((trunk, branches))
            rest = left
    return sorted(out)


class _Trunk:
    """One trunk run and the branches forked from it."""

    def __init__(self, scenarios: Sequence[Scenario], crypto: str,
                 evaluate: Callable[[RunResult], Any], trunk: int,
                 branches: dict[int, list[int]], results: dict[int, Any],
                 done: Callable[[int], None] | None) -> None:
        self.scenarios = scenarios
        self.crypto = crypto
        self.evaluate = evaluate
        self.trunk = trunk
        self.branches = branches
        self.results = results
        self.done = done
        self.child: tuple[int, int] | None = None  # (scenario index, pipe) in a child
        self.world: Any = None

    def hook(self, i: int, switch: Callable[[Scenario], None]) -> None:
        if self.world is None or len(self.world.kernel.trace) < MIN_SHARED_EVENTS:
            return  # too little done yet for a fork to pay: those run plainly
        for m in self.branches.pop(i, ()):
            read, write = os.pipe()
            with warnings.catch_warnings():
                # Python 3.12+ warns about fork in a process with threads (a Dask worker):
                # the child only runs the simulation (no lock another thread could hold:
                # no logging, no I/O but its own pipe) and leaves by os._exit.
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
            if pid == 0:  # the child: become scenario m from here on
                os.close(read)
                self.child = (m, write)
                self.branches.clear()
                gc.freeze()  # the parent's objects: never walked (or copied) by collections
                try:
                    switch(self.scenarios[m])
                except BaseException:
                    os._exit(1)
                return
            os.close(write)
            try:
                payload = _read_all(read)
                _, status = os.waitpid(pid, 0)
            except BaseException:  # Ctrl-C: the child got it too; leave no process behind
                os.close(read)
                _reap(pid)
                raise
            os.close(read)
            if status == 0 and payload:
                self.results[m] = pickle.loads(payload)  # noqa: S301 - our own child's bytes
                if self.done is not None:
                    self.done(1)
            # else: left out of results; run_all runs it plainly

    def run(self) -> None:
        scenario = self.scenarios[self.trunk]
        try:
            with _crypto.simulated(self.crypto == "simulated"):
                run = start_run(scenario, crypto=self.crypto, branch=self.hook)
                self.world = run.world
                result = self.evaluate(run.finish(None))
        except BaseException:
            if self.child is not None:
                os._exit(1)  # the parent runs this scenario plainly and sees the error
            raise
        if self.child is not None:  # a child: its scenario's result to the parent, then out
            _, write = self.child
            try:
                data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
                view = memoryview(data)
                while view:
                    view = view[os.write(write, view):]
            finally:
                os._exit(0)
        self.results[self.trunk] = result
        if self.done is not None:
            self.done(1)


def _read_all(fd: int) -> bytes:
    parts: list[bytes] = []
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)


def _reap(pid: int) -> None:
    """End our own child ``pid`` (interrupted while waiting for it) and collect it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def run_all(scenarios: Sequence[Scenario], crypto: str, evaluate: Callable[[RunResult], T],
            *, fork: bool | None = None, done: Callable[[int], None] | None = None
            ) -> list[T]:
    """``evaluate`` of the run of each of ``scenarios`` (with ``crypto``), in their order:
    the same as :func:`run_one` of each, sharing common beginnings by forking (see the
    module docstring). ``evaluate``'s results must pickle. ``fork``: fork where runs share
    a beginning, on a platform that can (:func:`can_fork`); off unless asked, because on
    the machines measured so far it saved nothing (``FORK_DEFAULT``). ``done(1)`` after
    each result."""
    results: dict[int, Any] = {}
    if fork is None:
        fork = FORK_DEFAULT
    if fork and can_fork() and len(scenarios) > 1:
        for trunk, branches in plan_branches(scenarios):
            if not branches:
                continue  # nothing to share: a plain run below
            _Trunk(scenarios, crypto, evaluate, trunk, branches, results, done).run()
    for k, scenario in enumerate(scenarios):
        if k not in results:  # no branch, fork not used, or a child that failed
            results[k] = run_one(scenario, crypto, evaluate)
            if done is not None:
                done(1)
    return [results[k] for k in range(len(scenarios))]
