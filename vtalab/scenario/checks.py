"""Load-time checks of a scenario: every problem a person wrote, located in their file.

:func:`~vtalab.scenario.model.load_scenario_text` validates the YAML against the pydantic models
of :mod:`vtalab.scenario.model`; this module turns what pydantic reports into **one**
:class:`~vtalab.errors.ScenarioError` (:func:`_from_validation`: the problem that comes
first in the file, with its line, column, path, bad value and the nearest valid key or
value), then runs the checks pydantic cannot make alone (:func:`_semantic_problems`):

* names that must exist, in the right role -- hosts, VMs, vCenters, trusted hosts for
  attestation checks, vCenter event ids -- in verb arguments and expectations;
* ESXi releases, against :mod:`vtalab.esxi.releases`, offered back as the person spelt
  theirs (by name or by version-build);
* parameter names, ranges and the rules between parameters
  (:class:`~vtalab.core.parameters.Parameters`);
* step ids and step references, times that go backwards, and anything that would run
  beyond the lab's horizon (:data:`~vtalab.core.simtime.HORIZON_SECONDS`).

:func:`~vtalab.scenario.run.run_scenario` re-runs the semantic checks on scenarios built
in Python, so an invalid one fails the same way before anything runs. The training
exercises reuse both functions for their own YAML.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ValidationError

from vtalab.core.kernel import format_time
from vtalab.core.parameters import Parameters, range_text
from vtalab.core.simtime import HORIZON_SECONDS
from vtalab.domain.vcenter import EVENT_TEXT
from vtalab.domain.vcenter_releases import vcenter_release
from vtalab.errors import InputError, ScenarioError
from vtalab.esxi import releases
from vtalab.scenario.expect import EXPECTATIONS, invariants
from vtalab.scenario.yamlloc import Located, path_text
from vtalab.world import registry
from vtalab.world.topology import Topology

if TYPE_CHECKING:
    from vtalab.scenario.model import Scenario

__all__ = ["ANY_ARGS", "HOST_ARGS", "RELEASE_ARGS", "VM_ARGS", "semantic_problems",
           "validation_error"]

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


# -- the verb registry, read through the module so tests can swap it ---------------------

def _verb_table() -> dict[str, registry.Verb]:
    return {**registry.VERBS, **registry.FAULTS}


# -- pydantic errors, located ---------------------------------------------------------

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


def validation_error(located: Located, exc: ValidationError,
                     model: type[BaseModel]) -> ScenarioError:
    """A pydantic error of ``model`` validated from ``located`` (any YAML file of vtalab,
    not only scenarios), as one ScenarioError at the file's line and column."""
    return _from_validation(located, exc, (), model)


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


# -- semantic checks -------------------------------------------------------------------

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
            "event": list(EVENT_TEXT)}


_WHAT = {"host": "hosts", "trusted_host": "trusted hosts", "vm": "VMs",
         "host_or_vcenter": "hosts and vCenters", "any": "names", "event": "event ids"}
_NOUN = {"trusted_host": "trusted host", "host_or_vcenter": "host or vCenter", "any": "object",
         "event": "vCenter event id"}
#: A release spelt as a version-build, a version or a build (else it is a name: "8.0 U2").
_RELEASE_KEY_LIKE = re.compile(r"[\d.\-]+")


def semantic_problems(scenario: Scenario) -> list[ScenarioError]:
    """What :func:`~vtalab.scenario.run.run_scenario` would refuse in a scenario built in
    code (no file: the problems are located in ``<scenario>``)."""
    return _semantic_problems(
        scenario, Located(scenario.model_dump(by_alias=True, mode="json"), "<scenario>", ""))


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
            args = verb.validated(step.with_)
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
            elif kind == "vcenter_release" and isinstance(value, str):
                try:
                    vcenter_release(value)
                except InputError as exc:
                    problems.append(located.error(where, exc.reason, value=value,
                                                  choices=exc.choices))
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
        if kind == "output":
            _output_step(problems, located, (*here, kind, "step"), spec.step, scenario, ids)
        if kind == "invariant":
            known = list(invariants())
            if spec not in known:
                problems.append(located.error((*here, kind), f"unknown invariant {spec!r}",
                                              what="invariants", value=spec, choices=known))
    if latest <= HORIZON_SECONDS < latest + scenario.settle:
        path = ("settle",) if located.exists(("settle",)) else latest_path
        problems.append(_beyond_horizon(
            located, path, f"the run would last at least {format_time(latest)} plus "
            f"{format_time(scenario.settle)[2:]} of settling", latest + scenario.settle))
    return problems


def _output_step(problems: list[ScenarioError], located: Located, path: tuple[Any, ...],
                 ref: str | int, scenario: Scenario, ids: dict[str, int]) -> None:
    """An ``output`` check reads a step that returns PowerCLI objects (a ``Get-…`` cmdlet)."""
    index = ref if isinstance(ref, int) else ids.get(ref)
    if index is None or not 0 <= index < len(scenario.steps):
        return  # reported by the step reference check
    verb = scenario.steps[index].do
    try:
        entry = registry.lookup(verb)
    except InputError:
        return  # reported with the step
    if entry.output is None:
        shown = [s.id or str(i) for i, s in enumerate(scenario.steps)
                 if _has_output(s.do)]
        problems.append(located.error(path, f"step {ref!r} ({verb}) returns no PowerCLI "
                                            "objects; an output check reads a Get-… step",
                                      what="steps with output", value=ref, choices=shown))


def _has_output(verb: str) -> bool:
    try:
        return registry.lookup(verb).output is not None
    except InputError:
        return False


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
