"""Campaigns: scenarios or plans x seeds x parameter grids, one table of measures.

A **campaign spec** (YAML, :class:`Spec`) names scenario or plan files, the seeds, a grid
of axes — a world parameter (``token_lifetime_seconds``) or an argument of one or more
steps by id (the ``duration`` of an attestd outage) — and what to measure in each run,
in the words of the operator's tools:

* ``failed_task: NAME`` — Recent Tasks of that name that failed (``Power On virtual
  machine``), and ``first_failed_task: NAME`` — when the first one failed;
* ``event: ID`` — vCenter events of that ID (from VMware's catalog);
* ``refused: REASON`` — steps the world refused with that reason code.

Every run also records whether the scenario's expectations held, how many steps were
refused and which invariants were violated. :func:`plan_runs` expands the spec into
plain-data runs (scenario as data, seed, grid values) in a fixed order — scenario, then
the grid (first axis outermost), then seed — and checks every one of them before any runs
(an error names the spec file, line and value that made it). :func:`run_campaign` runs
them through a :mod:`pool <vtalab.analysis.pool>` (in-process or Dask); a worker builds its
own world and returns a plain row, so the table is the same wherever the runs happen.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

import vtalab.invariants as inv
from vtalab.analysis.checker.cases import scenario_data
from vtalab.analysis.pool import InProcess, Pool
from vtalab.core import crypto as _crypto
from vtalab.core.kernel import format_time
from vtalab.core.limits import MAX_CAMPAIGN_RUNS
from vtalab.core.parameters import Parameters
from vtalab.core.resources import bundled_scenario
from vtalab.core.simtime import parse_time
from vtalab.domain.reasons import REASONS
from vtalab.domain.vcenter import EVENT_TEXT
from vtalab.errors import InputError, ScenarioError, nearest
from vtalab.scenario.checks import semantic_problems, validation_error
from vtalab.scenario.model import Scenario, load_scenario, run_scenario
from vtalab.scenario.yamlloc import Located, load_yaml, read_text
from vtalab.world import registry

__all__ = ["MEASURE_KINDS", "Axis", "Campaign", "Measure", "Spec", "load_campaign",
           "plan_runs", "run_campaign", "run_point", "unseen_tasks"]

#: The measures a spec may ask for: kind -> what the column holds.
MEASURE_KINDS = {
    "failed_task": "Recent Tasks of this name that failed (count)",
    "first_failed_task": "simulated time the first Recent Task of this name failed "
                         "(empty: none failed)",
    "event": "vCenter events of this ID (count)",
    "refused": "steps the world refused with this reason code (count)",
}
#: A row's key (taken off before the table) with the Recent Task names its run made.
TASKS_KEY = "_tasks"
#: Columns every run has, after the grid's.
BUILTIN_COLUMNS = ("passed", "steps_refused", "invariants_violated")


class Axis(BaseModel):
    """One dimension of the grid: a world parameter, or an argument of steps by id."""

    model_config = ConfigDict(extra="forbid")
    parameter: str | None = Field(None, description="A world parameter (docs/parameters.md).")
    steps: list[str] | None = Field(None, min_length=1, description=(
        "Ids of the steps whose argument `arg` takes each value (all of them at once)."))
    arg: str | None = Field(None, description="The steps' argument (`with:` key).")
    values: list[float | str] = Field(min_length=1, max_length=1000, description=(
        "The values, in order (durations may be written 10m, 2h)."))

    @field_validator("values", mode="before")
    @classmethod
    def _no_booleans(cls, values: Any) -> Any:
        # YAML's true/yes would be taken as the number 1.0 (a 1-second token lifetime)
        if isinstance(values, list):
            for v in values:
                if isinstance(v, bool):
                    raise ValueError(f"{str(v).lower()} is not a value of an axis: give a "
                                     "number, or a duration such as 10m or 2h (quote it "
                                     "to mean the word)")
        return values
    label: str | None = Field(None, description="Column name (default: the parameter or "
                                                "`STEP.ARG`).")

    @model_validator(mode="after")
    def _one_kind(self) -> Axis:
        if (self.parameter is None) == (self.steps is None):
            raise ValueError("an axis has either 'parameter' or 'steps' (with 'arg')")
        if self.steps is not None and self.arg is None:
            raise ValueError("a steps axis needs 'arg': the argument the values go to")
        if self.parameter is not None and self.arg is not None:
            raise ValueError("'arg' goes with 'steps', not with 'parameter'")
        return self

    @property
    def column(self) -> str:
        if self.label:
            return self.label
        if self.parameter is not None:
            return self.parameter
        return f"{(self.steps or ['?'])[0]}.{self.arg}"


class Measure(BaseModel):
    """One measured column: a name and exactly one of the :data:`MEASURE_KINDS`."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=80, description="Column name.")
    failed_task: str | None = None
    first_failed_task: str | None = None
    event: str | None = None
    refused: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Measure:
        given = [k for k in MEASURE_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a measure has a name and exactly one of "
                             f"{', '.join(MEASURE_KINDS)}; got {given or 'none'}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in MEASURE_KINDS if getattr(self, k) is not None)

    @property
    def target(self) -> str:
        return str(getattr(self, self.kind))


class Spec(BaseModel):
    """A campaign spec file (see docs/campaign.md)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=120)
    description: str = ""
    question: str | None = Field(None, description="The question the campaign answers.")
    scenarios: list[str] = Field(min_length=1, max_length=100, description=(
        "Scenario or plan files (relative to the spec), or bundled scenario names."))
    seeds: list[Annotated[int, Field(strict=True, ge=0)]] | None = Field(
        None, min_length=1, max_length=1000, description=(
            "World seeds, whole numbers >= 0 (default: each scenario's own)."))
    grid: list[Axis] = Field(default_factory=list, max_length=6)
    measure: list[Measure] = Field(default_factory=list, max_length=50)


@dataclass(frozen=True)
class Campaign:
    """A loaded spec: the model, where it came from, and its runs (plain data)."""

    spec: Spec
    file: str
    runs: list[dict[str, Any]]  #: one per table row, in the table's order

    @property
    def columns(self) -> list[str]:
        return (["scenario", "seed", *[a.column for a in self.spec.grid], *BUILTIN_COLUMNS,
                 *[m.name for m in self.spec.measure]])


def load_campaign(path: str) -> Campaign:
    """Read, validate and expand a campaign spec; a located :class:`ScenarioError` (exit 2)
    on any problem, before anything runs."""
    located = load_yaml(read_text(path), file=path)
    if not isinstance(located.data, dict):
        raise located.error((), "a campaign spec is a mapping (name, scenarios, seeds, "
                                "grid, measure)")
    try:
        spec = Spec.model_validate(located.data)
    except ValidationError as exc:
        raise validation_error(located, exc, Spec) from None
    return Campaign(spec, path, plan_runs(spec, located))


def _check_names(spec: Spec, located: Located) -> None:
    params = sorted(Parameters.model_fields)
    for i, axis in enumerate(spec.grid):
        if axis.parameter is not None and axis.parameter not in params:
            raise located.error(("grid", i, "parameter"), f"unknown parameter "
                                f"{axis.parameter!r}", what="parameters",
                                value=axis.parameter, choices=params)
    varied: dict[tuple[str, str], int] = {}  # (step id or "", parameter or arg) -> axis
    for i, axis in enumerate(spec.grid):
        targets = ([("", str(axis.parameter))] if axis.parameter is not None
                   else [(sid, str(axis.arg)) for sid in axis.steps or []])
        for target in targets:
            first = varied.setdefault(target, i)
            if first != i:
                sid, arg = target
                what = (f"argument {arg!r} of step {sid!r}" if sid
                        else f"parameter {arg!r}")
                line = located.mark(("grid", first)).line
                raise located.error(("grid", i), f"this axis sets the {what}, which axis "
                                    f"{first + 1} (line {line}) sets already: a run has one "
                                    "value of it, so one of the two columns would not be "
                                    "what ran; put all the values in one axis")
    columns = [a.column for a in spec.grid] + [m.name for m in spec.measure]
    for k, name in enumerate(columns):
        if name in ("scenario", "seed", *BUILTIN_COLUMNS) or name in columns[:k]:
            where = (("grid", k, "label") if k < len(spec.grid)
                     else ("measure", k - len(spec.grid), "name"))
            raise located.error(where, f"column {name!r} is used twice (or is a built-in "
                                       "column): give this one another name")
    for i, m in enumerate(spec.measure):
        if m.kind == "event" and m.target not in EVENT_TEXT:
            raise located.error(("measure", i, "event"), f"unknown vCenter event "
                                f"{m.target!r}", what="events", value=m.target,
                                choices=sorted(EVENT_TEXT))
        if m.kind == "refused" and m.target not in REASONS:
            raise located.error(("measure", i, "refused"), f"unknown reason code "
                                f"{m.target!r}", what="reason codes", value=m.target,
                                choices=sorted(REASONS))


def _scenario(spec_file: str, name: str, located: Located, i: int) -> Scenario:
    folder = os.path.dirname(os.path.abspath(spec_file)) if spec_file[:1] != "<" else "."
    path = os.path.join(folder, name)
    if not name.strip():
        raise located.error(("scenarios", i), "an empty scenario name: give a scenario or "
                                              "plan file, or a bundled scenario's name")
    if not os.path.exists(path):
        found = bundled_scenario(name)
        if found is None:
            raise located.error(("scenarios", i), f"no scenario file {name!r} (looked in "
                                                  f"{folder} and the bundled scenarios)")
        path = str(found)
    elif not os.path.isfile(path):
        raise located.error(("scenarios", i), f"{name!r} is not a file ({path} is a "
                                              "directory or a device): give a scenario or "
                                              "plan file")
    return load_scenario(path)


def _value(axis: Axis, value: float | str) -> float | str:
    """A grid value as the scenario takes it: a ``*_seconds`` parameter written ``2h``
    becomes 7200 (a step argument is given as written; its verb parses it)."""
    if axis.parameter is not None and axis.parameter.endswith("_seconds") \
            and isinstance(value, str):
        try:
            seconds = parse_time(value)
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        return int(seconds) if seconds.is_integer() else seconds
    return value


def _arguments(verb: str) -> list[str] | None:
    """The ``with:`` keys a step of ``verb`` takes (None: a verb this check does not know,
    left to the scenario's own validation)."""
    try:
        found = registry.lookup(verb)
    except InputError:
        return None
    names = [info.alias or name for name, info in found.args.model_fields.items()]
    return names + [n for n in found.args.model_fields if n not in names]


def plan_runs(spec: Spec, located: Located) -> list[dict[str, Any]]:
    """Every run of the campaign as plain data, checked; see the module docstring."""
    _check_names(spec, located)
    # Counted from the lengths, before any point is made: six axes of 1,000 values are
    # 10^18 points, which a list of the product would try to hold (it took 15 GB).
    total = (len(spec.scenarios) * math.prod(len(a.values) for a in spec.grid)
             * (len(spec.seeds) if spec.seeds else 1))
    if total > MAX_CAMPAIGN_RUNS:
        sizes = " x ".join(str(n) for n in (len(spec.scenarios),
                                             *(len(a.values) for a in spec.grid),
                                             len(spec.seeds) if spec.seeds else 1))
        raise located.error(("grid",) if spec.grid else ("seeds",),
                            f"the campaign asks for {total:,} runs (scenarios x values of "
                            f"each axis x seeds: {sizes}); at most {MAX_CAMPAIGN_RUNS:,} "
                            "(MAX_CAMPAIGN_RUNS): fewer values or seeds")
    scenarios = [(name, _scenario(located.file, name, located, i))
                 for i, name in enumerate(spec.scenarios)]
    points = list(itertools.product(*[range(len(a.values)) for a in spec.grid]))
    for s_index, (_name, scenario) in enumerate(scenarios):
        ids = [step.id for step in scenario.steps if step.id]
        for i, axis in enumerate(spec.grid):
            for j, sid in enumerate(axis.steps or []):
                if sid not in ids:
                    raise located.error(("grid", i, "steps", j),
                                        f"scenario {spec.scenarios[s_index]!r} has no step "
                                        f"with id {sid!r}", what="step ids", value=sid,
                                        choices=ids)
                step = next(st for st in scenario.steps if st.id == sid)
                valid = _arguments(step.do)
                if valid is not None and axis.arg not in valid:
                    raise located.error(("grid", i, "arg"), f"step {sid!r} ({step.do}) has "
                                        f"no argument {axis.arg!r}", what="arguments",
                                        value=axis.arg, choices=valid)
    measures = [m.model_dump(exclude_none=True) for m in spec.measure]
    runs: list[dict[str, Any]] = []
    for (name, base), point in itertools.product(scenarios, points):
        params = dict(base.parameters)
        steps = list(base.steps)
        grid: dict[str, Any] = {}
        for i, (axis, j) in enumerate(zip(spec.grid, point, strict=True)):
            raw = axis.values[j]
            try:
                value = _value(axis, raw)
            except ValueError as exc:
                raise located.error(("grid", i, "values", j), str(exc)) from None
            grid[axis.column] = raw
            if axis.parameter is not None:
                params[axis.parameter] = value
            else:
                steps = [s.model_copy(update={"with_": {**s.with_, str(axis.arg): value}})
                         if s.id in (axis.steps or []) else s for s in steps]
        for seed in spec.seeds or [base.seed]:
            data = scenario_data(base.model_copy(update={"steps": steps, "seed": seed}))
            data["parameters"] = params
            try:
                scenario = Scenario.model_validate(data)
            except ValidationError as exc:
                raise _point_error(located, spec, point, exc.errors()[0]["msg"]) from None
            problems = semantic_problems(scenario)
            if problems:
                raise _point_error(located, spec, point, problems[0].reason) from None
            runs.append({"scenario": name, "seed": seed, "grid": grid,
                         "data": scenario_data(scenario), "measures": measures})
    return runs


def _point_error(located: Located, spec: Spec, point: tuple[int, ...], why: str
                 ) -> ScenarioError:
    """The run a grid point makes is invalid: point at the last axis value in it (the
    message says which values together)."""
    values = ", ".join(f"{a.column}={a.values[j]}" for a, j in
                       zip(spec.grid, point, strict=True))
    where: tuple[Any, ...] = ("grid", len(point) - 1, "values", point[-1]) if point else ()
    return located.error(where, f"the run with {values or 'no grid'} is not a valid "
                                f"scenario: {why}")


def run_point(item: dict[str, Any]) -> dict[str, Any]:
    """One run (on a worker): plain data in, one plain table row out."""
    scenario = Scenario.model_validate(item["data"])
    crypto = item.get("crypto", "simulated")
    with _crypto.simulated(crypto == "simulated"):
        result = run_scenario(scenario, crypto=crypto)
    world = result.world
    tasks = [t for vc in (world.workload_vcenter, world.ta_vcenter) for t in vc.tasks]
    events = [e for vc in (world.workload_vcenter, world.ta_vcenter) for e in vc.events]
    refused = [str(r.error) for r in result.steps if r.ok is False]
    violated = sorted(i.name for i in inv.INVARIANTS.values()
                      if i.kind != "advice" and i.check(world))
    row: dict[str, Any] = {"scenario": item["scenario"], "seed": item["seed"],
                           **item["grid"], "passed": all(v.ok for v in result.verdicts),
                           "steps_refused": len(refused),
                           "invariants_violated": ";".join(violated)}
    if any("failed_task" in m or "first_failed_task" in m for m in item["measures"]):
        row[TASKS_KEY] = sorted({t.name for t in tasks})  # taken off by run_campaign
    for m in item["measures"]:
        kind = next(k for k in MEASURE_KINDS if k in m)
        target = m[kind]
        if kind == "failed_task":
            row[m["name"]] = sum(t.name == target and t.status == "error" for t in tasks)
        elif kind == "first_failed_task":
            times = [t.end if t.end is not None else t.start for t in tasks
                     if t.name == target and t.status == "error"]
            row[m["name"]] = format_time(min(times)) if times else ""
        elif kind == "event":
            row[m["name"]] = sum(e.event_id == target for e in events)
        else:
            row[m["name"]] = refused.count(target)
    return row


def run_campaign(campaign: Campaign, *, pool: Pool | None = None,
                 progress: Callable[[int, int, str], None] | None = None,
                 crypto: str = "simulated",
                 tasks_seen: set[str] | None = None) -> list[dict[str, Any]]:
    """Every run's row, in the campaign's order (the same in-process and on Dask).
    ``crypto``: simulated by default, as for ``vtalab check`` (same events and verdicts
    as real, faster); ``real`` for runs whose every signature is ECDSA. ``tasks_seen``
    gets the name of every Recent Task any run made (:func:`unseen_tasks`)."""
    if crypto not in ("real", "simulated"):
        raise InputError(f"unknown crypto mode {crypto!r}", what="crypto modes",
                         value=crypto, choices=["simulated", "real"])
    pool = pool if pool is not None else InProcess()
    total = len(campaign.runs)
    done = [0]

    def tick(k: int) -> None:
        done[0] += k
        if progress is not None:
            progress(done[0], total, "running")

    if progress is not None:
        progress(0, total, "running")
    rows = pool.map(run_point, [{**run, "crypto": crypto} for run in campaign.runs],
                    done=tick)
    for row in rows:
        names = row.pop(TASKS_KEY, ())
        if tasks_seen is not None:
            tasks_seen.update(names)
    return rows


def unseen_tasks(campaign: Campaign, tasks_seen: set[str]) -> list[str]:
    """A warning per task measure whose task no run made (a misspelt name measures
    nothing: its column is all 0 or empty), with the nearest task name that ran."""
    out = []
    for m in campaign.spec.measure:
        if m.kind in ("failed_task", "first_failed_task") and m.target not in tasks_seen:
            close = nearest(m.target, sorted(tasks_seen))
            out.append(f"measure {m.name!r}: no run made a Recent Task named "
                       f"{m.target!r}, so its column measures nothing"
                       + (f"; did you mean {close[0]!r}?" if close else ""))
    return out
