"""The vtalab pytest plugin: run an upgrade plan in a fresh lab from your own tests.

Installed with vtalab and registered through the ``pytest11`` entry point, so any test
suite gets the ``vtalab_lab`` fixture without a ``conftest.py``::

    def test_our_runbook_is_safe(vtalab_lab):
        lab = vtalab_lab("estate.yaml", seed=3)        # a scenario file, or a Topology
        result = lab.run_plan(steps, faults=[{"at": 600, "do": "kms-outage",
                                              "with": {"duration": 300}}])
        result.assert_safe()                            # or: assert not result.violations

:class:`Lab` runs a plan through the scenario runner (:func:`vtalab.scenario.model.run_scenario`)
with the faults started at their absolute times, then long enough for every fault to
heal and for :data:`~vtalab.invariants.LIVENESS_SETTLE_SECONDS` more, and judges the run
with the invariant registry. :func:`assert_plan_safe` does the same in one call.

Importing this module is cheap and changes nothing: the lab, the scenario runner and
the invariants are imported when a test first uses them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from vtalab.core.parameters import Parameters
from vtalab.errors import InputError
from vtalab.invariants import INVARIANTS, check_all, liveness_bound
from vtalab.scenario.expect import parse_time
from vtalab.scenario.model import load_scenario, load_scenario_text, run_scenario
from vtalab.scenario.timeline import render_timeline
from vtalab.world.assembly import World
from vtalab.world.topology import Topology

if TYPE_CHECKING:
    from vtalab.invariants import Violation
    from vtalab.scenario.model import RunResult
    from vtalab.world.topology import Topology

__all__ = ["Lab", "PlanResult", "assert_plan_safe", "vtalab_lab"]


@dataclass
class PlanResult:
    """A plan run in a lab: the run, its violations (failures) and warnings (advice)."""

    run: RunResult
    violations: list[Violation]
    warnings: list[Violation]
    steps: list[dict[str, Any]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)

    @property
    def world(self) -> Any:
        return self.run.world

    @property
    def ok(self) -> bool:
        return not self.violations

    def timeline(self) -> str:
        """The run's timeline as ``vtalab run`` prints it."""

        return "\n".join(render_timeline(self.run.world.kernel.trace, reveal=True)) + "\n"

    def report(self) -> str:
        """The plan, the faults and every violation, for an assertion message."""
        lines = ["plan:"]
        lines += [f"  {i}. {_step_text(s)}" for i, s in enumerate(self.steps)] or ["  (none)"]
        lines.append("faults:")
        lines += [f"  at {f['at']} s: {_step_text(f)}" for f in self.faults] or ["  (none)"]
        lines.append(f"{len(self.violations)} violation(s):")
        lines += [f"  [{v.invariant}] {v}" for v in self.violations]
        if self.warnings:
            lines.append(f"{len(self.warnings)} warning(s):")
            lines += [f"  [{v.invariant}] {v}" for v in self.warnings]
        return "\n".join(lines)

    def assert_safe(self) -> None:
        """Fail the test with :meth:`report` if any invariant was violated."""
        if self.violations:
            raise AssertionError("the plan is not safe\n" + self.report())


def _step_text(step: Mapping[str, Any]) -> str:
    args = " ".join(f"{k}={v!r}" for k, v in (step.get("with") or {}).items())
    return f"{step.get('do')} {args}".strip()


class Lab:
    """A fresh simulated estate (topology, seed, parameters) to run plans in."""

    def __init__(self, topology: Topology, *, seed: int = 0,
                 parameters: Mapping[str, float | str] | None = None) -> None:
        self.topology = topology
        self.seed = int(seed)
        self.parameters = dict(parameters or {})

    @classmethod
    def from_source(cls, source: Topology | str | Path, *, seed: int = 0) -> Lab:
        """A lab from a :class:`~vtalab.world.topology.Topology` or a scenario file's topology."""

        if isinstance(source, Topology):
            return cls(source, seed=seed)
        if isinstance(source, str | Path):

            scenario = load_scenario(str(source))
            return cls(scenario.topology, seed=seed, parameters=scenario.parameters)
        raise TypeError(f"vtalab_lab() takes a Topology or a scenario file path; got "
                        f"{type(source).__name__}")

    def settle_for(self, faults: Sequence[Mapping[str, Any]]) -> float:
        """Simulated seconds to run after the last step: every fault healed, then the
        liveness bound (see :func:`vtalab.invariants.liveness_bound`)."""

        last = 0.0
        for f in faults:
            end = parse_time(f.get("at", 0)) + float((f.get("with") or {}).get("duration") or 0)
            last = max(last, end)
        return last + liveness_bound(Parameters(**self.parameters))

    def run_plan(self, steps: Iterable[Mapping[str, Any]],
                 faults: Iterable[Mapping[str, Any]] = (), *, settle: float | None = None,
                 invariants: Iterable[str] | None = None) -> PlanResult:
        """Run ``steps`` (scenario steps) with ``faults`` (``{"at", "do", "with"}``).

        Invalid steps or faults raise :class:`~vtalab.errors.ScenarioError` naming the
        bad field. ``settle`` overrides :meth:`settle_for`; ``invariants`` restricts the
        check to those names (default: every non-advice invariant; advice always goes
        to ``warnings``).
        """

        # Copies as plain dicts (the caller keeps its mappings; PlanResult records these).
        step_list: list[dict[str, Any]] = [dict(s) for s in steps]
        fault_list: list[dict[str, Any]] = [dict(f) for f in faults]
        for f in fault_list:
            if not isinstance(f.get("do"), str):
                raise TypeError(f"a fault is {{'at': seconds, 'do': fault, 'with': {{...}}}}; "
                                f"got {f!r}")
        settle = self.settle_for(fault_list) if settle is None else float(settle)
        text = _scenario_text(self, step_list, settle)
        scenario = load_scenario_text(text, file="<plan>")
        _validate_faults(fault_list, scenario)
        run = run_scenario(scenario, world_factory=_with_faults(fault_list))
        names = list(invariants) if invariants is not None else None
        found = check_all(run.world, names)
        advice = [n for n, inv in INVARIANTS.items() if inv.kind == "advice"]
        warnings = check_all(run.world, advice)
        violations = [v for v in found if INVARIANTS[v.invariant].kind != "advice"]
        return PlanResult(run, violations, warnings, step_list, fault_list)


def _scenario_text(lab: Lab, steps: list[dict[str, Any]], settle: float) -> str:

    doc = {"name": "plan", "seed": lab.seed, "settle": settle,
           "parameters": lab.parameters,
           "topology": lab.topology.model_dump(mode="json", exclude_defaults=True),
           "steps": steps}
    return json.dumps(doc, sort_keys=True)  # JSON is YAML: the loader names bad fields


def _validate_faults(faults: list[dict[str, Any]], scenario: Any) -> None:
    """Faults as scenario steps, validated by the same loader (names, arguments)."""


    if not faults:
        return
    doc = {"name": "faults", "topology": scenario.topology.model_dump(mode="json"),
           "steps": [{"at": f.get("at", 0), "do": f["do"], "with": f.get("with") or {}}
                     for f in sorted(faults, key=lambda f: float(f.get("at", 0)))]}
    load_scenario_text(json.dumps(doc, sort_keys=True), file="<faults>")


def _with_faults(faults: list[dict[str, Any]]) -> Callable[..., Any]:
    """A world factory that starts each fault at its absolute time, beside the steps."""

    def factory(topology: Topology, *, seed: int, params: Any) -> World:
        world = World(topology, seed=seed, params=params)
        for f in faults:
            world.kernel.process(_fault_at(world, parse_time(f.get("at", 0)), f["do"],
                                           dict(f.get("with") or {})))
        return world

    return factory


def _fault_at(world: Any, at: float, name: str, args: dict[str, Any]) -> Any:

    if at > world.kernel.now:
        yield world.kernel.timeout(at - world.kernel.now)
    try:
        proc = world.perform(name, args)
    except InputError as exc:  # impossible now (host already down ...): the world says so
        world.kernel.record("faults", "fault.skipped", fault=name, error=str(exc),
                            message=f"fault {name} not injected: {exc}")
        return
    yield proc


def assert_plan_safe(topology_or_path: Topology | str | Path,
                     steps: Iterable[Mapping[str, Any]],
                     faults: Iterable[Mapping[str, Any]] = (), *, seed: int = 0,
                     invariants: Iterable[str] | None = None) -> PlanResult:
    """Run the plan in a fresh lab and fail (AssertionError with the report) if unsafe."""
    result = Lab.from_source(topology_or_path, seed=seed).run_plan(
        steps, faults, invariants=invariants)
    result.assert_safe()
    return result


@pytest.fixture(scope="session")
def vtalab_lab() -> Callable[..., Lab]:
    """A factory: ``vtalab_lab(topology_or_scenario_path, seed=0) -> Lab``.

    Session-scoped because it holds nothing: every call builds a fresh lab, and every
    ``run_plan`` a fresh world, so it is safe in ``@given`` tests.
    """

    def make(source: Topology | str | Path, seed: int = 0) -> Lab:
        return Lab.from_source(source, seed=seed)

    return make


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "vtalab: a test that runs vtalab plans (registered by the vtalab plugin)")
