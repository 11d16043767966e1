"""Training exercises: a lab broken on purpose, a goal in operator words, and the way out.

An exercise is one YAML file under ``vtalab/data/exercises/`` (the registry is the
directory: adding a file adds an exercise to ``vtalab train``, to the docs and to the
test that runs every reference fix)::

    id: upgrade-before-import
    title: Trusted host upgraded before its base image was imported
    difficulty: beginner              # beginner | intermediate | advanced
    teaches: ...                      # what the trainee should take away
    source: "seed: vTA administration page, ..."
    goal: >                           # what the trainee is told, in operator terms
      The encrypted VM db01 on esx-03 will not power on; make it run without weakening trust.
    scenario: {name: ..., seed: 11, topology: ..., steps: ..., expect: ...}
    check:                            # the goal: expectation checks (vtalab.scenario.expect kinds)
      - vm: {vm: db01, power_state: poweredOn, host: esx-03}
    forbid:                           # optional: what the goal says not to do on the way
      - {effect: host-restart, with: {host: esx-03}, reason: "without rebooting the host"}
    hints:                            # exactly three, escalating, each with its section
      - {text: ..., section: ...}
    solution:                         # shell lines that reach the goal (tested)
      - Export-VMHostImageDb -VMHost esx-03 -FilePath esx-03-imgdb.tgz

The **scenario** is written in the scenario language (:mod:`vtalab.scenario.model`): running it
builds the broken lab the way it broke, by topology and operator steps, never by poking
state; its ``expect`` list documents (and the tests check) that the lab really is broken
the intended way when the trainee takes over. The **check** reuses the expectation kinds
of :mod:`vtalab.scenario.expect`, so a goal reads like a scenario expectation and needs no code.
The **forbid** list states what the goal's words rule out on the way there ("without
rebooting the host", "while db01 keeps running"): actions or effects, each with the
reason the grade shows (:mod:`vtalab.training.constraints`).
The invariants every exercise must also keep (trust not weakened, no key to an
unattested host ...) are the grader's, not the exercise's: see :mod:`vtalab.training.grading`.

Loading is a boundary: a malformed exercise file is a :class:`~vtalab.errors.ScenarioError`
naming its file, line and field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vtalab.errors import InputError, ScenarioError
from vtalab.scenario import expect as _expect
from vtalab.scenario.expect import Expectation
from vtalab.scenario.model import Scenario, _from_validation, _semantic_problems
from vtalab.scenario.yamlloc import Located, load_yaml
from vtalab.training.constraints import Forbid

__all__ = ["DIFFICULTIES", "Exercise", "Hint", "exercise", "exercises", "load_exercise_text"]

DIFFICULTIES = ("beginner", "intermediate", "advanced")
_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class Hint(BaseModel):
    """One hint: what to look at or do, and the document section it comes from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(min_length=1)
    section: str = Field(min_length=1, description="Document, section or KB it comes from.")


class _ExerciseFile(BaseModel):
    """The exercise file as a person writes it (validated at load time)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    title: str = Field(min_length=1)
    difficulty: Literal["beginner", "intermediate", "advanced"]
    teaches: str = Field(min_length=1)
    source: str = Field(min_length=1)
    goal: str = Field(min_length=1)
    scenario: dict[str, Any]
    check: list[Expectation] = Field(min_length=1)
    forbid: list[Forbid] = Field(default_factory=list)
    hints: list[Hint] = Field(min_length=3, max_length=3)
    solution: list[str] = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _id_form(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError(f"an exercise id is lower-case words joined by '-'; got {value!r}")
        return value

    @field_validator("check")
    @classmethod
    def _untimed(cls, value: list[Any]) -> list[Any]:
        for exp in value:
            if exp.at is not None or exp.after_step is not None:
                raise ValueError("a goal check is evaluated when the trainee types 'check': "
                                 "give it no 'at' or 'after_step'")
        return value


# The expectation models' annotations name helpers of vtalab.scenario.expect; resolve them there.
_ExerciseFile.model_rebuild(_types_namespace=vars(_expect))


@dataclass(frozen=True)
class Exercise:
    """A loaded exercise: the validated file plus its scenario prefix."""

    id: str
    title: str
    difficulty: str
    teaches: str
    source: str
    goal: str
    scenario: Scenario
    check: tuple[Any, ...]
    hints: tuple[Hint, ...]
    solution: tuple[str, ...]
    file: str = ""
    forbid: tuple[Forbid, ...] = ()

    def one_line(self) -> str:
        return " ".join(self.teaches.split())


def load_exercise_text(text: str, file: str = "<exercise>") -> Exercise:
    """Validate one exercise file's text; :class:`ScenarioError` on any problem."""
    located = load_yaml(text, file)
    if not isinstance(located.data, dict):
        raise located.error((), "an exercise is a mapping of keys (id, title, goal, "
                                "scenario, check, hints, solution ...)")
    try:
        spec = _ExerciseFile.model_validate(located.data)
    except ValidationError as exc:
        raise _from_validation(located, exc, (), _ExerciseFile) from None
    sub = _sub_located(located, "scenario")
    try:
        scenario = Scenario.model_validate(sub.data)
    except ValidationError as exc:
        raise _in_scenario(_from_validation(sub, exc, (), Scenario)) from None
    problems = _semantic_problems(scenario, sub)
    if problems:
        raise _in_scenario(min(problems, key=lambda e: (e.line or 0, e.column or 0)))
    names = {h.name for h in scenario.topology.ta_cluster.hosts}
    names |= {h.name for c in scenario.topology.trusted_clusters for h in c.hosts}
    vms = {v.name for c in scenario.topology.trusted_clusters for v in c.vms}
    for i, exp in enumerate(spec.check):
        c = exp.check_spec
        for attr, pool, what in (("host", names, "host"), ("vm", vms, "VM")):
            value = getattr(c, attr, None)
            if isinstance(value, str) and value not in pool:
                raise located.error(("check", i, exp.kind, attr), f"unknown {what} {value!r}",
                                    what=f"{what}s", value=value, choices=sorted(pool))
    for i, rule in enumerate(spec.forbid):
        for attr, pool, what in (("host", names, "host"), ("vmhost", names, "host"),
                                 ("vm", vms, "VM")):
            value = rule.with_.get(attr)
            if isinstance(value, str) and value not in pool:
                raise located.error(("forbid", i, "with", attr), f"unknown {what} {value!r}",
                                    what=f"{what}s", value=value, choices=sorted(pool))
    return Exercise(spec.id, spec.title, spec.difficulty, spec.teaches, spec.source,
                    spec.goal, scenario, tuple(spec.check), tuple(spec.hints),
                    tuple(spec.solution), file, tuple(spec.forbid))


def _in_scenario(exc: ScenarioError) -> ScenarioError:
    """The same error with its path inside the exercise file (``scenario.steps.0.do``)."""
    where = (exc.file or "<scenario>") + (f":{exc.line}" if exc.line is not None else "") + (
        f":{exc.column}" if exc.line is not None and exc.column is not None else "")
    head = f"{where}: " + (f"{exc.path}: " if exc.path else "")
    message = exc.reason.removeprefix(head)
    path = "scenario" + (f".{exc.path}" if exc.path and exc.path != "(top level)" else "")
    return ScenarioError(message, file=exc.file, line=exc.line, column=exc.column, path=path,
                         what=exc.what, value=exc.value, choices=exc.choices, hint=exc.hint)


def _sub_located(located: Located, key: str) -> Located:
    """The part of a located document under ``key``, keeping its file positions."""
    n = 1

    def strip(marks: dict[Any, Any]) -> dict[Any, Any]:
        return {p[n:]: m for p, m in marks.items() if p[:n] == (key,)}

    return Located(located.data[key], located.file, located.text,
                   strip(located.value_marks), strip(located.key_marks))


@cache
def exercises() -> dict[str, Exercise]:
    """Every bundled exercise, by id, in a stable order (difficulty, then id)."""
    folder = resources.files("vtalab") / "data" / "exercises"
    found: dict[str, Exercise] = {}
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".yaml"):
            continue
        ex = load_exercise_text(entry.read_text(encoding="utf-8"),
                                file=f"vtalab/data/exercises/{entry.name}")
        if f"{ex.id}.yaml" != entry.name:
            raise ScenarioError(f"exercise id {ex.id!r} does not match its file name",
                                file=ex.file, path="id", value=ex.id)
        found[ex.id] = ex
    order = sorted(found.values(), key=lambda e: (DIFFICULTIES.index(e.difficulty), e.id))
    return {e.id: e for e in order}


def exercise(name: str) -> Exercise:
    """The exercise called ``name``; ``InputError`` naming the nearest one otherwise."""
    table = exercises()
    if name not in table:
        raise InputError(f"unknown exercise {name!r}", what="exercises", value=name,
                         choices=list(table), hint="`vtalab train` lists them")
    return table[name]
