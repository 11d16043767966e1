"""Plan-checker throughput: examples per second on an 8-host rolling-upgrade plan.

    python benchmarks/bench_checker.py [--examples N] [--faults light|heavy] [--profile]
                                       [--fork | --no-fork] [--phases]

The plan: 2 Trust Authority hosts and 6 trusted hosts (a test host in its own cluster and
5 production hosts with encrypted VMs), upgraded from 8.0 U2 to 8.0 U3 the documented way
(TA hosts one at a time, test host, export + import, trusted hosts one at a time with full
boots, old image removed last). Prints examples per second (generated cases), distinct
runs per second, and where the time goes: the runs (building, running and judging the
worlds, forked children included), the invariant checks of the runs made in this process,
and the checker itself (drawing cases, building scenarios, caching). CPU time counts this
process and the children it forked (``vtalab.analysis.branching``; ``--no-fork`` runs
every case plainly, ``--fork`` forks wherever runs share a beginning). ``--phases``
splits the CPU time of the runs made in this process (not of forked children) by phase,
without a profiler's distortion: building the world, its T=0 bootstrap (boots measured,
the setup verbs), the rest of the time before the first plan step starts, the steps and
the settle, judging the invariants. Asserts nothing.
Wall-clock time is read here only (benchmarks stand outside the simulated world).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import sys
import time
from typing import Any

import vtalab
import vtalab.analysis.checker.search as checker_module
import vtalab.scenario.run as run_module
from vtalab.analysis.checker.search import Checker
from vtalab.core.kernel import Kernel
from vtalab.invariants import INVARIANTS
from vtalab.scenario.model import load_scenario_text

TRUSTED = ["esx-01", "esx-02", "esx-03", "esx-04", "esx-05"]


def plan_text() -> str:
    """The 8-host documented rolling upgrade, as a plan file would say it."""
    hosts = "\n".join(f"        - {{name: {h}, release: \"8.0 U2\"}}" for h in TRUSTED)
    vms = "\n".join(f"        - {{name: vm-{i:02d}, host: {h}, encrypted: true}}"
                    for i, h in enumerate(TRUSTED[:4], start=1))
    steps = [
        '  - {id: upgrade-ta-01, at: 10m, do: upgrade-host, with: {vmhost: ta-esx-01, '
        'release: "8.0 U3"}}',
        '  - {id: upgrade-ta-02, after: 5m, do: upgrade-host, with: {vmhost: ta-esx-02, '
        'release: "8.0 U3"}}',
        '  - {id: upgrade-test, after: 5m, do: upgrade-host, with: {vmhost: esx-test, '
        'release: "8.0 U3", reboot: full}}',
        '  - {id: export, do: Export-VMHostImageDb, with: {vmhost: esx-test, file: new.tgz}}',
        '  - {id: import, do: New-TrustAuthorityVMHostBaseImage, with: {file: new.tgz}}',
    ]
    steps += [f'  - {{id: upgrade-{h}, after: 5m, do: upgrade-host, with: {{vmhost: {h}, '
              f'release: "8.0 U3", reboot: full}}}}' for h in TRUSTED]
    steps.append('  - {id: remove-old, after: 10m, do: Remove-TrustAuthorityVMHostBaseImage, '
                 'with: {version: "8.0 U2"}}')
    return f"""name: bench-rolling-upgrade-8
seed: 1
topology:
  ta_cluster:
    hosts: [{{name: ta-esx-01, release: "8.0 U2"}}, {{name: ta-esx-02, release: "8.0 U2"}}]
  trusted_clusters:
    - name: Trusted Cluster
      hosts:
{hosts}
      vms:
{vms}
    - name: Test Cluster
      hosts: [{{name: esx-test, release: "8.0 U2"}}]
steps:
""" + "\n".join(steps) + "\n"


def _cpu() -> float:
    """CPU seconds of this process and of its children that have ended (forked runs)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class _Timer:
    """Wraps a function and adds up the wall-clock time spent in it."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, fn: Any) -> Any:
        def timed(*args: Any, **kw: Any) -> Any:
            start = time.perf_counter()  # wall-clock ok: benchmark
            try:
                return fn(*args, **kw)
            finally:
                self.seconds += time.perf_counter() - start  # wall-clock ok: benchmark

        return timed


class _Phases:
    """CPU seconds (``time.process_time``) of each phase of the runs made in this process:
    wraps the world's constructor and bootstrap, ``Kernel.record`` (to see the first
    ``step.start``) and the checker's ``judge``; ``undo()`` puts them back."""

    NAMES = ("world built (World())", "T=0 bootstrap: boots measured, setup verbs",
             "rest of T=0 until the first step starts", "plan steps and settle",
             "judging the invariants")

    def __init__(self) -> None:
        self.cpu = dict.fromkeys(self.NAMES, 0.0)
        self.runs = 0
        self._mark = 0.0  # CPU time at the last phase boundary of the run in progress
        self._stepping = False
        world_cls = run_module.World
        bootstrap = world_cls._bootstrap
        record = Kernel.record
        judge = checker_module.judge
        phases = self

        class World(world_cls):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kw: Any) -> None:
                start = time.process_time()
                super().__init__(*args, **kw)
                phases.add(0, start)
                phases._stepping = False

        def timed_bootstrap(world: Any) -> Any:
            gen = bootstrap(world)
            start = time.process_time()
            event = next(gen)  # everything at T=0 before the bootstrap's first wait
            phases.add(1, start)
            while True:
                try:
                    value = yield event
                except StopIteration:
                    return
                try:
                    event = gen.send(value)
                except StopIteration:
                    return

        def timed_record(kernel: Any, source: str, kind: str, **fields: Any) -> None:
            if kind == "step.start" and not phases._stepping:
                phases._stepping = True
                phases.add(2, phases._mark)
            record(kernel, source, kind, **fields)

        def timed_judge(result: Any) -> Any:
            if not phases._stepping:  # a run without steps: it was all before them
                phases.add(2, phases._mark)
            phases.add(3, phases._mark)
            phases.runs += 1
            start = time.process_time()
            try:
                return judge(result)
            finally:
                phases.add(4, start)

        self._undo = [(run_module, "World", world_cls),
                      (world_cls, "_bootstrap", bootstrap), (Kernel, "record", record),
                      (checker_module, "judge", judge)]
        run_module.World = World  # type: ignore[misc]
        world_cls._bootstrap = timed_bootstrap  # type: ignore[method-assign]
        Kernel.record = timed_record  # type: ignore[method-assign]
        checker_module.judge = timed_judge

    def add(self, phase: int, start: float) -> None:
        now = time.process_time()
        self.cpu[self.NAMES[phase]] += now - start
        self._mark = now

    def undo(self) -> None:
        for owner, name, value in self._undo:
            setattr(owner, name, value)

    def print(self, total_cpu: float) -> None:
        print(f"CPU by phase, {self.runs} runs in this process (process_time; not forked "
              "children):")
        runs = max(self.runs, 1)
        for name, secs in self.cpu.items():
            print(f"  {name:<44} {secs:7.2f} s  {1000 * secs / runs:6.2f} ms/run  "
                  f"{100 * secs / total_cpu:5.1f} %")
        rest = total_cpu - sum(self.cpu.values())
        print(f"  {'the rest (checker, scenarios, collector)':<44} {rest:7.2f} s  "
              f"{1000 * rest / runs:6.2f} ms/run  {100 * rest / total_cpu:5.1f} %")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--examples", type=int, default=60)
    p.add_argument("--faults", choices=("none", "light", "heavy"), default="light")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--profile", action="store_true", help="print the 25 costliest functions")
    p.add_argument("--fork", action=argparse.BooleanOptionalAction, default=None,
                   help="share runs' common beginnings by forking (default: as vtalab "
                        "check does without --fork: off)")
    p.add_argument("--phases", action="store_true",
                   help="CPU time of the runs made in this process, by phase")
    args = p.parse_args(argv)

    plan = load_scenario_text(plan_text(), file="<bench plan>")
    hosts = len(plan.topology.ta_cluster.hosts) + sum(
        len(c.hosts) for c in plan.topology.trusted_clusters)
    world_t, inv_t = _Timer(), _Timer()
    real_run = checker_module.run_all
    checker_module.run_all = world_t.wrap(real_run)  # type: ignore[assignment]
    saved = {name: inv for name, inv in INVARIANTS.items()}
    for name, inv in saved.items():
        INVARIANTS[name] = type(inv)(inv.name, inv.statement, inv.source, inv.kind,
                                     inv_t.wrap(inv.check), inv_t.wrap(inv.at_risk))
    checker = Checker(plan, examples=args.examples, faults=args.faults, seed=args.seed,
                      fork=args.fork)
    profile = cProfile.Profile() if args.profile else None
    phases = _Phases() if args.phases else None
    try:
        start = time.perf_counter()  # wall-clock ok: benchmark
        cpu_start = _cpu()  # CPU time: honest on a shared machine
        # this process alone, at the phases' own resolution: os.times() (in _cpu) counts
        # in clock ticks of 10 ms, which in a short check is more than a phase
        own_start = time.process_time()
        if profile:
            profile.enable()
        report = checker.run()
        if profile:
            profile.disable()
        total = time.perf_counter() - start  # wall-clock ok: benchmark
        cpu = _cpu() - cpu_start
        own = time.process_time() - own_start
    finally:
        checker_module.run_all = real_run  # type: ignore[assignment]
        INVARIANTS.update(saved)
        if phases:
            phases.undo()

    generated = checker.tried
    runs = report.exercised.runs
    print(f"vtalab {vtalab.__version__}, Python {platform.python_version()}, "
          f"{platform.machine()}")
    print(f"plan: {hosts} hosts ({len(plan.steps)} steps), faults {args.faults}, "
          f"seed {args.seed}, {args.examples} examples asked, "
          f"fork {'auto' if args.fork is None else args.fork}, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"result: {len(report.counterexamples)} invariant(s) violated")
    print(f"examples generated: {generated} in {total:.2f} s = "
          f"{generated / total:.1f} examples/s")
    print(f"CPU time: {cpu:.2f} s = {generated / cpu:.1f} examples per CPU second "
          "(this process and its forked children; wall-clock time suffers when other "
          "work shares the machine)")
    print(f"distinct runs: {runs} ({runs / total:.1f} runs/s, {1000 * total / runs:.0f} ms "
          "each; repeated cases are cached)")
    other = total - world_t.seconds
    for label, secs in (("runs: build, run, judge (forks included)", world_t.seconds),
                        ("  of which invariant checks + at_risk", inv_t.seconds),
                        ("checker (cases, scenarios, cache)", other)):
        print(f"  {label:<40} {secs:7.2f} s  {100 * secs / total:5.1f} %")
    if phases:
        phases.print(own)
    if profile:
        pstats.Stats(profile, stream=sys.stdout).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
