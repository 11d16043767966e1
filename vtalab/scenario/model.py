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
names a verb or fault of :mod:`vtalab.world.registry` and ``with`` its arguments, validated by
that verb's argument model. ``expect_error`` says the step is expected to be refused with
that reason code. A ``background: true`` step runs in its own process (its ``at``/``after``
counted as for any step): the steps after it go on without waiting, which is how a fault
strikes in the middle of an upgrade or two hosts are upgraded at once. **Expectations**
are described in :mod:`vtalab.scenario.expect`.

Loading is the boundary: :func:`load_scenario` validates everything a person wrote -- YAML
syntax, keys, types, verb names and arguments, host and VM names (and their role: an
attestation check names a trusted host), ESXi releases, vCenter event ids, parameter names
and ranges, step references, times that go backwards or beyond the lab's horizon
(:data:`~vtalab.core.simtime.HORIZON_SECONDS`) -- and raises **one**
:class:`~vtalab.errors.ScenarioError` naming the file, line, column, path, bad value and
the nearest valid choice, for the problem that comes first in the file. Nothing runs
before the whole file is valid.

:func:`run_scenario` builds a :class:`~vtalab.world.assembly.World`, runs the steps, evaluates the
expectations at their times and returns a :class:`RunResult` with the verdicts and the
trace digest.

This module is the language and its public API: the models, loading, the JSON Schema and
name checks for the CLI. The load-time checks live in :mod:`vtalab.scenario.checks`, the
runner in :mod:`vtalab.scenario.run`; their public names are re-exported here, and so
are ``_from_validation`` and ``_semantic_problems``, which the training exercises use to
validate their own YAML with the same located errors.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from vtalab.errors import resolve_name as _resolve
from vtalab.scenario.checks import (
    _WHAT,
    ANY_ARGS,
    HOST_ARGS,
    RELEASE_ARGS,
    VM_ARGS,
    _describe,
    _from_validation,
    _names,
    _semantic_problems,
    _verb_table,
)
from vtalab.scenario.expect import Expectation, Time
from vtalab.scenario.run import (
    RunResult,
    check_count,
    remember_source,
    run_scenario,
    step_text,
)
from vtalab.scenario.yamlloc import load_yaml, read_text
from vtalab.world.topology import Topology, size_problem

__all__ = [
    "ANY_ARGS",
    "DEFAULT_SETTLE_SECONDS",
    "HOST_ARGS",
    "RELEASE_ARGS",
    "RunResult",
    "VM_ARGS",
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
        None, description="The reason code the step is expected to be refused with, or "
        "`any` when any refusal will do.")
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
    parameters: dict[str, float | str] = Field(
        default_factory=dict, description="Overrides of vtalab.core.parameters.Parameters.")
    settle: Time = Field(DEFAULT_SETTLE_SECONDS, description=(
        "How long the world runs after the last step and timed check before the "
        "end-of-run checks."))
    topology: Topology
    steps: list[Step] = Field(default_factory=list)
    expect: list[Expectation] = Field(default_factory=list)


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
    size = size_problem(located.data.get("topology"))
    if size is not None:  # before the models: a huge topology is not even validated
        path, message = size
        raise located.error(("topology", *path), message)
    try:
        scenario = Scenario.model_validate(located.data)
    except ValidationError as exc:
        raise _from_validation(located, exc, (), Scenario) from None
    problems = _semantic_problems(scenario, located)
    if problems:
        raise min(problems, key=lambda e: (e.line or 0, e.column or 0))
    remember_source(scenario, located)
    return scenario


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


def check_name(topology: Topology, value: str, kind: str, *, option: str) -> str:
    """The name of a ``kind`` ("host", "host_or_vcenter" ...) that ``value`` means: itself,
    or the one name it is the short form or a unique prefix of
    (:func:`vtalab.errors.resolve_name`); an ``InputError`` otherwise."""
    choices = _names(topology)[kind]
    noun = {"host_or_vcenter": "host or vCenter", "any": "object"}.get(kind, kind)
    return _resolve(value, choices, noun, option=option, what=_WHAT[kind])


def resolve_name(choices: list[str], value: str, noun: str, *, option: str) -> str:
    """:func:`vtalab.errors.resolve_name` for a list of names (``--fix KEY@HOST``)."""
    return _resolve(value, choices, noun, option=option)


__all__ += ["check_name", "known_names", "resolve_name"]
