"""The scenario language: a topology, timed operator steps and expectations, in YAML.

A scenario reproduces one situation from the documentation::

    name: upgrade-before-import
    description: "Seed doc: upgrading a trusted host before importing its base image"
    seed: 7
    parameters: {vcenter_poll_seconds: 30}
    topology:
      trusted_clusters:
        - hosts: [{name: esx-01}, {name: esx-02}]
          vms: [{name: vm-01, host: esx-01, encrypted: true}]
    steps:
      - id: upgrade
        do: upgrade-host
        with: {host: esx-01, release: "8.0 U3"}
      - after: 10m
        do: Start-VM
        with: {vm: vm-01}
        expect_error: untrusted_base_image
    expect:
      - after_step: upgrade
        delay: 5m
        attestation: {host: esx-01, status: notAttested}

**Steps** run one after another as a single SimPy process. A step starts at ``at``
(absolute simulated time) or ``after`` the previous step *finished* (default 0); ``do``
names a verb or fault of :mod:`vtalab.registry` and ``with`` its arguments, validated by
that verb's argument model. ``expect_error`` says the step is expected to be refused with
that reason code. A ``background: true`` step runs in its own process (its ``at``/``after``
counted as for any step): the steps after it go on without waiting, which is how a fault
strikes in the middle of an upgrade or two hosts are upgraded at once. **Expectations**
are described in :mod:`vtalab.expect`.

Loading is the boundary: :func:`load_scenario` validates everything a person wrote -- YAML
syntax, keys, types, verb names and arguments, host and VM names (and their role: an
attestation check names a trusted host), ESXi releases, vCenter event ids, parameter names
and ranges, step references, times that go backwards or beyond the lab's horizon
(:data:`~vtalab.simtime.HORIZON_SECONDS`) -- and raises **one**
:class:`~vtalab.errors.ScenarioError` naming the file, line, column, path, bad value and
the nearest valid choice, for the problem that comes first in the file. Nothing runs
before the whole file is valid.

:func:`run_scenario` builds a :class:`~vtalab.world.World`, runs the steps, evaluates the
expectations at their times and returns a :class:`RunResult` with the verdicts and the
trace digest.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import simpy
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from vtalab import registry
from vtalab.errors import InputError, ScenarioError
from vtalab.esxi import releases
from vtalab.expect import (
    EXPECTATIONS,
    CheckContext,
    Expectation,
    StepResult,
    Time,
    Verdict,
    evaluate,
    invariants,
)
from vtalab.kernel import format_time
from vtalab.parameters import Parameters, range_text
from vtalab.simtime import HORIZON_SECONDS
from vtalab.topology import Topology
from vtalab.yamlloc import Located, load_yaml, path_text, read_text

if TYPE_CHECKING:
    pass

__all__ = [
    "DEFAULT_SETTLE_SECONDS",
    "RunResult",
    "check_count",
    "Scenario",
    "Step",
    "load_scenario",
    "load_scenario_text",
    "run_scenario",
    "scenario_json_schema",
    "step_text",
]

#: Simulated time the world keeps running after the last step and timed expectation,
#: before the end-of-run expectations are checked (a scenario's ``settle`` overrides it).
DEFAULT_SETTLE_SECONDS = 600.0

#: Verb argument names that name an ESXi host / a VM / anything in the estate. A verb's
#: argument model may instead say so explicitly: ``Field(json_schema_extra={"refers_to":
#: "host"})`` ("host", "vm" or "any").
HOST_ARGS = frozenset({"host", "hosts", "vmhost", "vmhosts", "source_host", "target_host",
                       "destination_host", "from_host", "to_host", "destination"})
VM_ARGS = frozenset({"vm", "vms"})
ANY_ARGS = frozenset({"target"})
#: Verb argument names that name an ESXi release (or ``refers_to: "release"``): checked
#: against :mod:`vtalab.esxi.releases` when the scenario is loaded.
RELEASE_ARGS = frozenset({"release", "version"})


def _none_to_empty(value: Any) -> Any:
    return {} if value is None else value


class Step(BaseModel):
    """One operator action or fault, at a time."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    id: str | None = Field(None, description="A name expectations can refer to.")
    at: Time | None = Field(None, description="Absolute simulated time of the start.")
    after: Time | None = Field(
        None, description="Start this long after the previous step finished (default 0).")
    do: str = Field(description="A verb or fault name (see `vtalab verbs`).")
    with_: Annotated[dict[str, Any], BeforeValidator(_none_to_empty)] = Field(
        default_factory=dict, alias="with", description="The verb's arguments.")
    expect_error: str | None = Field(
        None, description="The reason code the step is expected to be refused with.")
    background: bool = Field(False, description=(
        "Run the step in its own process: the steps after it wait neither for its start "
        "time nor for its end (a fault that strikes in the middle of other steps, two "
        "upgrades at once). The run still waits for it before settling."))

    @model_validator(mode="after")
    def _one_time(self) -> Step:
        if self.at is not None and self.after is not None:
            raise ValueError("give either 'at' (absolute time) or 'after' (delay after the "
                             "previous step), not both")
        return self


class Scenario(BaseModel):
    """A topology, timed steps and expectations."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = Field("", description="Which document section it reproduces.")
    source: str | None = Field(None, description="Document, section or KB it comes from.")
    seed: int = Field(0, ge=0, description="Seed of the world's random streams.")
    parameters: dict[str, float] = Field(
        default_factory=dict, description="Overrides of vtalab.parameters.Parameters.")
    settle: Time = Field(DEFAULT_SETTLE_SECONDS, description=(
        "How long the world runs after the last step and timed check before the "
        "end-of-run checks."))
    topology: Topology
    steps: list[Step] = Field(default_factory=list)
    expect: list[Expectation] = Field(default_factory=list)  # type: ignore[valid-type]


# -- the verb registry, read through the module so tests can swap it ---------------------

def _verb_table() -> dict[str, registry.Verb]:
    registry._load()
    return {**registry.VERBS, **registry.FAULTS}


# -- loading ---------------------------------------------------------------------------

def load_scenario(path: str) -> Scenario:
    """Read and validate a scenario file; :class:`ScenarioError` on any problem."""
    return load_scenario_text(read_text(path), file=path)


def load_scenario_text(text: str, file: str = "<scenario>") -> Scenario:
    """Validate scenario text; ``file`` names it in error messages."""
    located = load_yaml(text, file)
    if not isinstance(located.data, dict):
        raise located.error((), "a scenario is a mapping of keys (name, topology, steps, "
                                f"expect ...); got {_describe(located.data)}")
    try:
        scenario = Scenario.model_validate(located.data)
    except ValidationError as exc:
        raise _from_validation(located, exc, (), Scenario) from None
    problems = _semantic_problems(scenario, located)
    if problems:
        raise min(problems, key=lambda e: (e.line or 0, e.column or 0))
    return scenario


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_VALUE_ERROR = re.compile(r"^(Value error|Assertion failed), ")


def _from_validation(located: Located, exc: ValidationError, prefix: tuple[Any, ...],
                     model: type[BaseModel]) -> ScenarioError:
    """The pydantic error that comes first in the file, as one located ScenarioError."""
    found = []
    errors = exc.errors(include_url=False)
    # A misspelt key also makes the right one "missing": report the misspelling only.
    misspelt = {located.resolve((*prefix, *e["loc"][:-1])) for e in errors
                if e["type"] == "extra_forbidden"}
    for err in errors:
        loc = (*prefix, *err["loc"])
        if err["type"] == "missing" and located.resolve(loc[:-1]) in misspelt:
            continue
        typ = err["type"]
        value = err.get("input")
        clean = located.resolve(loc)
        path: tuple[Any, ...] = clean
        kw: dict[str, Any] = {}
        key = False
        if typ == "extra_forbidden":
            bad = str(loc[-1])
            path = (*located.resolve(loc[:-1]), loc[-1])
            message = f"unknown key {bad!r}"
            key = True
            kw = {"what": "keys", "value": bad,
                  "choices": _keys_at(model, [p for p in err["loc"][:-1]])}
        elif typ == "missing":
            path = (*clean, loc[-1])
            message = f"missing required key {loc[-1]!r}"
            key = True
        elif typ in ("literal_error", "enum"):
            choices = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
            message = f"{_describe(value)} is not a valid value"
            kw = {"what": "values", "value": value, "choices": choices}
        elif typ in ("value_error", "assertion_error"):
            message = _VALUE_ERROR.sub("", err["msg"])
            # Point at the named value when the message quotes one (duplicate host ...).
            for quoted in re.findall(r"'([^']*)'", message):
                hit = located.find_scalar(clean, quoted)
                if hit is not None:
                    path = hit
                    break
        elif typ in ("model_type", "dict_type", "model_attributes_type"):
            message = f"expected a mapping (key: value lines); got {_describe(value)}"
        elif typ == "list_type":
            message = f"expected a list (lines starting with '- '); got {_describe(value)}"
        else:
            msg = err["msg"]
            message = f"{msg[0].lower()}{msg[1:]}; got {_describe(value)}"
        mark = located.mark(path[:-1]) if typ == "missing" else located.mark(path, key=key)
        found.append((mark.line or 0, mark.column or 0,
                      ScenarioError(message, file=located.file, line=mark.line,
                                    column=mark.column, path=path_text(path), **kw)))
    found.sort(key=lambda t: (t[0], t[1]))
    return found[0][2]


def _keys_at(model: Any, loc: Sequence[Any]) -> list[str]:
    """The valid keys of the mapping at ``loc`` inside ``model`` (for suggestions)."""
    tp: Any = model
    for part in loc:
        tp = _descend(tp, part)
        if tp is None:
            return []
    for cand in _candidates(tp):
        if isinstance(cand, type) and issubclass(cand, BaseModel):
            return [info.alias or name for name, info in cand.model_fields.items()]
    return []


def _candidates(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _candidates(typing.get_args(tp)[0])
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        out = []
        for a in typing.get_args(tp):
            out += _candidates(a)
        return out
    return [tp]


def _descend(tp: Any, part: Any) -> Any:
    for cand in _candidates(tp):
        if isinstance(cand, type) and issubclass(cand, BaseModel):
            for name, info in cand.model_fields.items():
                if part in (name, info.alias):
                    return info.annotation
        origin = typing.get_origin(cand)
        if origin in (list, tuple, Sequence) and isinstance(part, int):
            return typing.get_args(cand)[0]
        if origin is dict:
            return typing.get_args(cand)[1]
    return None


def _event_ids() -> list[str]:
    """The vCenter event ids the lab posts (read through the module so tests can swap it)."""
    from vtalab.domain.vcenter import EVENT_TEXT

    return list(EVENT_TEXT)


def _names(topology: Topology) -> dict[str, list[str]]:
    ta_hosts = [h.name for h in topology.ta_cluster.hosts]
    trusted = [h.name for c in topology.trusted_clusters for h in c.hosts]
    hosts = ta_hosts + trusted
    vms = [vm.name for c in topology.trusted_clusters for vm in c.vms]
    vcenters = [topology.ta_vcenter, topology.workload_vcenter]
    clusters = [topology.ta_cluster.name, *(c.name for c in topology.trusted_clusters)]
    return {"host": hosts, "trusted_host": trusted, "vm": vms,
            "host_or_vcenter": hosts + vcenters,
            "any": hosts + vms + vcenters + clusters + list(topology.kms.servers)
            + [topology.kms.name, topology.kms.provider],
            "event": _event_ids()}


_WHAT = {"host": "hosts", "trusted_host": "trusted hosts", "vm": "VMs",
         "host_or_vcenter": "hosts and vCenters", "any": "names", "event": "event ids"}
_NOUN = {"trusted_host": "trusted host", "host_or_vcenter": "host or vCenter", "any": "object",
         "event": "vCenter event id"}
#: A release spelt as a version-build, a version or a build (else it is a name: "8.0 U2").
_RELEASE_KEY_LIKE = re.compile(r"[\d.\-]+")


def _semantic_problems(scenario: Scenario, located: Located) -> list[ScenarioError]:
    """Checks pydantic cannot make alone: names that must exist (in the right role), ESXi
    releases, parameter ranges, times that go backwards or beyond the horizon."""
    problems: list[ScenarioError] = []
    names = _names(scenario.topology)

    def ref(path: tuple[Any, ...], value: Any, kind: str) -> None:
        values = value if isinstance(value, list) else [value]
        for i, v in enumerate(values):
            if isinstance(v, str) and v not in names[kind]:
                p = (*path, i) if isinstance(value, list) else path
                noun = _NOUN.get(kind, kind)
                message = f"unknown {noun} {v!r}"
                if kind == "trusted_host" and v in names["host"]:
                    message = (f"{v!r} is a Trust Authority host; this check needs a host "
                               "of a Trusted cluster")
                problems.append(located.error(p, message, what=_WHAT[kind], value=v,
                                              choices=names[kind]))

    problems += _parameter_problems(scenario, located)
    problems += _topology_release_problems(scenario.topology, located)

    # steps
    table: dict[str, registry.Verb] | None = None
    ids: dict[str, int] = {}
    starts: list[float] = []  # the earliest each step can start (written times only)
    earliest = 0.0  # the earliest a step can start, given the steps before it
    for i, step in enumerate(scenario.steps):
        here = ("steps", i)
        if step.id is not None:
            if step.id in ids:
                problems.append(located.error((*here, "id"), f"step id {step.id!r} is used "
                                              f"twice (first by step {ids[step.id]})"))
            ids.setdefault(step.id, i)
        start = step.at if step.at is not None else earliest + (step.after or 0.0)
        starts.append(start)
        if start > HORIZON_SECONDS:
            problems.append(_beyond_horizon(
                located, (*here, "at" if step.at is not None else "after"),
                f"this step would start at {format_time(start)}", start))
        if step.at is not None:
            if step.at < earliest:
                problems.append(located.error(
                    (*here, "at"), f"a time in the past: at {format_time(step.at)} is before "
                    f"the previous step can start ({format_time(earliest)}); steps run in "
                    "order, so put this step earlier or use a later time",
                    value=step.at))
            if not step.background:  # a background step holds nothing up
                earliest = max(earliest, step.at)
        elif not step.background:
            earliest = start
        if table is None:
            table = _verb_table()
        try:
            verb = registry.lookup(step.do)
        except InputError as exc:
            problems.append(located.error((*here, "do"), f"unknown verb {step.do!r}",
                                          what="verbs", value=step.do, choices=exc.choices))
            continue
        try:
            args = verb.args.model_validate(step.with_)
        except ValidationError as exc:
            problems.append(_from_validation(located, exc, (*here, "with"), verb.args))
            continue
        for fname, info in verb.args.model_fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            kind = extra.get("refers_to") or (
                "host" if fname in HOST_ARGS else "vm" if fname in VM_ARGS
                else "any" if fname in ANY_ARGS else "release" if fname in RELEASE_ARGS
                else None)
            where = (*here, "with", info.alias or fname)
            value = getattr(args, fname)
            if kind in names:
                ref(where, value, str(kind))
            elif kind == "release" and isinstance(value, str):
                problems += _release_problems(located, where, value)
            if isinstance(value, float) and not abs(value) <= HORIZON_SECONDS:
                # A number of seconds (wait, clock skew ...): finite, within the horizon.
                problems.append(located.error(
                    where, f"{value!r} is not a number of seconds the lab can simulate: "
                    f"give a finite value within ±{HORIZON_SECONDS / 86400:g} days "
                    f"(±{HORIZON_SECONDS:.0f} s)", value=value))

    # expectations
    latest = max(starts, default=0.0)
    latest_path: tuple[Any, ...] = ()
    if scenario.steps:
        last = max(range(len(starts)), key=lambda k: starts[k])
        final = scenario.steps[last]
        latest_path = ("steps", last, "at" if final.at is not None
                       else "after" if final.after is not None else "do")
    for j, exp in enumerate(scenario.expect):
        here = ("expect", j)
        when: float | None = exp.at
        if exp.after_step is not None:
            _step_ref(problems, located, (*here, "after_step"), exp.after_step, scenario, ids)
            index = exp.after_step if isinstance(exp.after_step, int) else ids.get(
                exp.after_step)
            if index is not None and 0 <= index < len(starts):
                when = starts[index] + (exp.delay or 0.0)
        if when is not None:
            anchor = "at" if exp.at is not None else "delay" if exp.delay else "after_step"
            if when > HORIZON_SECONDS:
                problems.append(_beyond_horizon(located, (*here, anchor),
                                                f"this check would run at {format_time(when)}",
                                                when))
            elif when > latest:
                latest, latest_path = when, (*here, anchor)
        kind = exp.kind
        spec = exp.check_spec
        for fname, rkind in EXPECTATIONS[kind].refs.items():
            value = getattr(spec, fname, None)
            if value is None:
                continue
            if rkind == "step":
                _step_ref(problems, located, (*here, kind, fname), value, scenario, ids)
            else:
                ref((*here, kind, fname), value, rkind)
        if kind == "invariant":
            try:
                known = list(invariants())
            except ImportError:
                problems.append(located.error(
                    (*here, kind), "invariant checks need vtalab.invariants, which this "
                    "build of vtalab does not have", value=spec))
                continue
            if spec not in known:
                problems.append(located.error((*here, kind), f"unknown invariant {spec!r}",
                                              what="invariants", value=spec, choices=known))
    if latest <= HORIZON_SECONDS < latest + scenario.settle:
        path = ("settle",) if located.exists(("settle",)) else latest_path
        problems.append(_beyond_horizon(
            located, path, f"the run would last at least {format_time(latest)} plus "
            f"{format_time(scenario.settle)[2:]} of settling", latest + scenario.settle))
    return problems


def _beyond_horizon(located: Located, path: tuple[Any, ...], what: str,
                    when: float) -> ScenarioError:
    return located.error(path, f"{what}, beyond the lab's horizon of "
                               f"{HORIZON_SECONDS / 86400:g} days of simulated time "
                               f"({format_time(HORIZON_SECONDS)}); a lab never runs longer",
                         value=when)


def _parameter_problems(scenario: Scenario, located: Located) -> list[ScenarioError]:
    """Unknown parameter names, values out of range, and the rules between parameters."""
    fields = list(Parameters.model_fields)
    problems = [located.error(("parameters", pname), f"unknown parameter {pname!r}",
                              key=True, what="parameters", value=pname, choices=fields)
                for pname in scenario.parameters if pname not in fields]
    if problems:
        return problems
    try:
        Parameters(**scenario.parameters)
    except ValidationError as exc:
        rule = [e for e in exc.errors(include_url=False) if not e["loc"]]
        if not rule:
            err = _from_validation(located, exc, ("parameters",), Parameters)
            name = str(exc.errors(include_url=False)[0]["loc"][0])
            for e in exc.errors(include_url=False):  # the one reported: first in the file
                if err.path == path_text(("parameters", *e["loc"])):
                    name = str(e["loc"][0])
            err.hint = f"{name} ranges over {range_text(name)} (see docs/parameters.md)"
            err.args = (err._render(),)
            return [err]
        # A rule between parameters: point at one the scenario sets, first named first.
        message = _VALUE_ERROR.sub("", rule[0]["msg"])
        named = sorted((message.find(f), f) for f in scenario.parameters if f in message)
        path: tuple[Any, ...] = ("parameters", named[0][1]) if named else ("parameters",)
        return [located.error(path, message + " (see docs/parameters.md)",
                              value=scenario.parameters.get(path[-1]))]
    return []


def _topology_release_problems(topology: Topology, located: Located) -> list[ScenarioError]:
    """Every ESXi release the topology names, checked against the release catalogue."""
    found: list[ScenarioError] = []
    ta = ("topology", "ta_cluster")
    for i, h in enumerate(topology.ta_cluster.hosts):
        found += _release_problems(located, (*ta, "hosts", i, "release"), h.release)
    for i, item in enumerate(topology.ta_cluster.base_images or []):
        if isinstance(item, str):
            found += _release_problems(located, (*ta, "base_images", i), item)
        else:
            found += _release_problems(located, (*ta, "base_images", i, "release"),
                                       item.release)
    for c, cluster in enumerate(topology.trusted_clusters):
        for i, th in enumerate(cluster.hosts):
            here = ("topology", "trusted_clusters", c, "hosts", i)
            found += _release_problems(located, (*here, "release"), th.release)
            if th.last_full_boot is not None:
                found += _release_problems(located, (*here, "last_full_boot"),
                                           th.last_full_boot)
    return found


def _release_problems(located: Located, path: tuple[Any, ...],
                      value: str) -> list[ScenarioError]:
    """``[]`` if ``value`` names a known ESXi release, else one located error.

    The nearest releases are offered as the person spelt theirs: by name ("8.0 U3") for a
    name, by version-build for a version, build or version-build.
    """
    try:
        releases.lookup(value)
    except InputError as exc:
        near = [releases.lookup(key) for key in exc.choices]
        by_name = not _RELEASE_KEY_LIKE.fullmatch(value.strip())
        choices = [r.name if by_name else r.key for r in near]
        reason = exc.reason.partition("; nearest known:")[0]
        err = located.error(path, reason, what="ESXi releases (nearest known)", value=value,
                            choices=choices, hint="the known releases are in docs/releases.md")
        if choices:  # nearest by the catalogue's measure, not by InputError's spelling guess
            err.suggestion = choices[0]
            err.args = (err._render(),)
        return [err]
    return []


def _step_ref(problems: list[ScenarioError], located: Located, path: tuple[Any, ...],
              value: str | int, scenario: Scenario, ids: dict[str, int]) -> None:
    if isinstance(value, int):
        if not 0 <= value < len(scenario.steps):
            problems.append(located.error(
                path, f"there is no step {value} (steps are numbered from 0; this scenario "
                f"has {len(scenario.steps)})", value=value))
    elif value not in ids:
        problems.append(located.error(path, f"no step has id {value!r}", what="step ids",
                                      value=value, choices=list(ids)))


# -- running ---------------------------------------------------------------------------

@dataclass
class RunResult:
    """A finished run: the world as it ended, the verdicts and the trace digest."""

    scenario: Scenario
    world: Any
    verdicts: list[Verdict]
    digest: str
    steps: list[StepResult] = field(default_factory=list)
    seed: int = 0
    until: float | None = None
    end: float = 0.0

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.verdicts)


def check_count(scenario: Scenario) -> int:
    """How many verdicts ``vtalab run`` reports when every step is reached and succeeds or
    is refused as expected: one per expectation, one per step with ``expect_error``."""
    return len(scenario.expect) + sum(s.expect_error is not None for s in scenario.steps)


def step_text(step: Step) -> str:
    """The step as typed: ``upgrade-host host=esx-01 release='8.0 U3'``."""
    parts = [step.do]
    for k, v in step.with_.items():
        if isinstance(v, str) and v and re.fullmatch(r"[\w.:/@+-]+", v):
            parts.append(f"{k}={v}")
        else:
            parts.append(f"{k}={json.dumps(v, sort_keys=True, default=str)}")
    return " ".join(parts)


def _world_class() -> Callable[..., Any]:
    from vtalab.world import World

    return World


def run_scenario(scenario: Scenario, *, seed: int | None = None, until: float | None = None,
                 world_factory: Callable[..., Any] | None = None) -> RunResult:
    """Build the world, run the steps and evaluate the expectations.

    ``until`` stops the run at that simulated time (checks not reached by then fail as
    "not reached"); otherwise the run lasts until every step and timed check is done, plus
    the scenario's ``settle`` time.
    """
    unlocated = Located(scenario.model_dump(by_alias=True, mode="json"), "<scenario>", "")
    problems = _semantic_problems(scenario, unlocated)
    if problems:
        raise problems[0]
    factory = world_factory or _world_class()
    seed = scenario.seed if seed is None else seed
    world = factory(scenario.topology, seed=seed, params=Parameters(**scenario.parameters))
    kernel = world.kernel
    env = kernel.env
    results = [StepResult(i, s.id, s.do) for i, s in enumerate(scenario.steps)]
    finished = [env.event() for _ in scenario.steps]
    verdicts: dict[int, Verdict] = {}

    def run_steps() -> Any:
        prev_end = kernel.now
        background = []
        for i, step in enumerate(scenario.steps):
            start = step.at if step.at is not None else prev_end + (step.after or 0.0)
            if step.background:  # its own process; the next step does not wait for it
                background.append(env.process(run_step(i, step, start)))
                continue
            yield from run_step(i, step, start)  # inline: same event order as ever
            prev_end = kernel.now
        if background:
            yield env.all_of(background)

    def run_step(i: int, step: Step, start: float) -> Any:
        from vtalab.registry import Outcome

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

    def driver() -> Any:
        yield env.process(run_steps())
        if procs:
            yield env.all_of(list(procs.values()))
        yield kernel.timeout(scenario.settle)

    main = env.process(driver())
    if until is None:
        # The horizon holds whatever the steps take (a loaded scenario's written times are
        # within it, but a wait or a slow upgrade may go further): a stop scheduled there
        # ends the run. Until then it changes nothing -- nothing else looks at it.
        guard = env.timeout(max(HORIZON_SECONDS - kernel.now, 0.0))
        guard.callbacks.append(simpy.core.StopSimulation.callback)
        env.run(until=main)
    else:
        kernel.run(min(until, HORIZON_SECONDS))
    end = kernel.now
    cut = until is not None or not main.triggered  # stopped before the driver finished
    stopped = f"not reached: the run stopped at {format_time(end)}" + (
        " (the lab's horizon)" if end >= HORIZON_SECONDS else "")

    out: list[Verdict] = []
    for step, res in zip(scenario.steps, results, strict=True):
        if res.ok is None:
            if step.expect_error is not None or cut:
                out.append(Verdict(False, stopped, label=f"{res.name} ({step.do})"))
            continue
        if step.expect_error is not None:
            ok = res.ok is False and res.error == step.expect_error
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
        elif exp.at is None and exp.after_step is None:
            out.append(_evaluate(world, exp, results, kernel))
        else:
            out.append(Verdict(False, stopped, exp, exp.label(), None))
    return RunResult(scenario, world, out, kernel.trace.digest(), results, seed, until, end)


def _evaluate(world: Any, exp: Any, results: list[StepResult], kernel: Any) -> Verdict:
    verdict = evaluate(world, exp, CheckContext(kernel.now, results))
    kernel.record("scenario", "expect", label=verdict.label, ok=verdict.ok,
                  detail=verdict.detail)
    return verdict


# -- JSON Schema -----------------------------------------------------------------------

def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema of the scenario language; verb names and their arguments included."""
    schema = Scenario.model_json_schema(by_alias=True)
    defs = schema.setdefault("$defs", {})
    table = _verb_table()
    step = defs["Step"]
    step["properties"]["do"]["enum"] = sorted(table)
    rules = []
    for name in sorted(table):
        args = table[name].args.model_json_schema(by_alias=True,
                                                  ref_template="#/$defs/{model}")
        for dname, d in args.pop("$defs", {}).items():
            defs.setdefault(dname, d)
        rules.append({"if": {"properties": {"do": {"const": name}}, "required": ["do"]},
                      "then": {"properties": {"with": args}}})
    if rules:
        step["allOf"] = rules
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "vtalab scenario"
    return schema


def known_names(topology: Topology) -> dict[str, list[str]]:
    """Host, VM and vCenter names of a topology (for the CLI's own name checks)."""
    return _names(topology)


def check_name(topology: Topology, value: str, kind: str, *, option: str) -> None:
    """Raise ``InputError`` unless ``value`` names a ``kind`` ("host", "host_or_vcenter" ...)."""
    choices = _names(topology)[kind]
    if value not in choices:
        noun = {"host_or_vcenter": "host or vCenter", "any": "object"}.get(kind, kind)
        raise InputError(f"{option}: unknown {noun} {value!r}",
                         what=_WHAT[kind], value=value, choices=choices)


__all__ += ["check_name", "known_names"]
