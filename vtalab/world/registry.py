"""One definition, many uses: the registries of verbs and faults.

A **verb** is an operator action: a PowerCLI cmdlet where one exists
(``New-TrustAuthorityVMHostBaseImage``) or a lab verb for what happens outside PowerCLI
(``upgrade-host``, ``restart-service``). A **fault** is something the world does to the
operator (``kms-outage``, ``power-loss``), with the same shape plus the real-world failure
it stands for. The CLI (``vtalab verbs``), the scenario language and its JSON Schema, the
plan checker, the training shell and the generated docs all read these registries.

Each entry has a pydantic model of its arguments (snake_case names, ``extra="forbid"``),
so arguments are validated at the boundary, before anything in the world changes.
``run(world, args)`` performs it: it returns an ``Outcome`` immediately, or a generator
(a SimPy process body) whose return value is the ``Outcome`` when the action takes
simulated time. The simulated world fails with values: a refused operation is an
``Outcome(ok=False, error=...)``, an impossible *request* raises ``InputError``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from vtalab.domain.outcome import Outcome
from vtalab.errors import InputError

__all__ = [
    "Args",
    "FAULTS",
    "Outcome",
    "PS",
    "PSComposite",
    "PSSet",
    "VERBS",
    "Verb",
    "fault",
    "lookup",
    "verb",
]


@dataclass(frozen=True)
class PS:
    """How a verb argument is a PowerShell parameter, when it is more than its PascalCase
    name: ``Annotated[str, PS(name="VMHostBaseImage", position=0, pipeline=True)]``.

    ``name`` is the published spelling; ``position`` the positional slot (``None``:
    named only, as the cmdlet declares); ``pipeline`` whether it takes pipeline input;
    ``by`` the properties an object given to it is read by (``VMHostVersion`` of a base
    image), before ``Name``; ``mandatory`` PowerShell's Mandatory when it differs from the
    model (an argument a scenario may leave out is mandatory on the command line);
    ``type`` the .NET type help shows; ``hidden`` keeps a field out of the PowerShell
    surface (it is set through a :class:`PSComposite`).
    """

    name: str | None = None
    position: int | None = None
    pipeline: bool = False
    by: tuple[str, ...] = ()
    mandatory: bool | None = None
    type: str | None = None
    hidden: bool = False


@dataclass(frozen=True)
class PSComposite:
    """One PowerShell parameter that sets several arguments from one object:
    ``-HostService`` (a HostService from Get-VMHostService) sets ``vmhost`` and
    ``service`` from its ``VMHost`` and ``Key``."""

    name: str
    fields: tuple[tuple[str, str], ...]  #: (argument, property of the bound object)
    type: str
    position: int | None = None
    pipeline: bool = False
    mandatory: bool = True


@dataclass(frozen=True)
class PSSet:
    """One published parameter set of a cmdlet (the first of a model's sets is its
    default): the arguments it takes, which of them are mandatory in it and the positional
    slots they have in it. An argument in no set of a model that declares sets is in every
    set with its own ``PS`` metadata (``-TrustAuthorityCluster``, ``-Force``).

    ``PSSet("ByName", ("name", "certificate_chain"), mandatory=("name",),
    positions=(("name", 0),))``
    """

    name: str
    fields: tuple[str, ...]
    mandatory: tuple[str, ...] = ()
    positions: tuple[tuple[str, int], ...] = ()


class Args(BaseModel):
    """Base of every verb's argument model."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    #: PowerShell parameters that set several arguments at once (see :class:`PSComposite`)
    ps_composites: ClassVar[tuple[PSComposite, ...]] = ()
    #: the cmdlet's parameter sets as published, default first; empty: one set of every
    #: parameter, as its ``PS`` metadata says (see :class:`PSSet`)
    ps_sets: ClassVar[tuple[PSSet, ...]] = ()
    #: a TA-side cmdlet takes -TrustAuthorityCluster unless it names its object directly
    #: (Remove-TrustAuthorityPrincipal -TrustAuthorityPrincipal has no cluster parameter)
    ps_ta_context: ClassVar[bool] = True
    #: a PowerCLI cmdlet takes -Server unless its page publishes none
    #: (Remove-TrustAuthorityKeyProviderServer names its object, which knows its server)
    ps_server: ClassVar[bool] = True


class NoArgs(Args):
    pass


Kind = Literal["powercli", "lab", "fault"]
# The first argument is the :class:`vtalab.world.assembly.World` (typed ``Any`` here: the
# registry sits below the world that performs its entries, and imports nothing above it).
RunFn = Callable[[Any, Any], "Outcome | Generator[Any, Any, Outcome]"]
# The decorators hand back the function unchanged, so its own (narrower) signature stays
# visible to callers such as ``ta_host_down`` calling ``power_loss``.
RunFnT = TypeVar("RunFnT", bound=RunFn)


@dataclass(frozen=True)
class Verb:
    name: str
    kind: Kind
    summary: str
    args: type[Args]
    run: RunFn
    source: str = ""  #: document section / KB / cmdlet reference
    stands_for: str = ""  #: faults: the real-world failure
    task: str | None = None  #: vCenter Recent Tasks name, when the verb creates a task
    side: Literal["ta", "workload", "host", "kms", "lab"] = "lab"
    aliases: tuple[str, ...] = field(default=())
    #: the PowerCLI object type its output rows are (``vtalab.world.objects``), if any
    output: str | None = None
    #: PowerShell's ConfirmImpact: "High" prompts under the default $ConfirmPreference
    confirm: Literal["None", "Low", "Medium", "High"] = "None"
    #: only when an argument has this value (``state=Disabled``); "" = always
    confirm_if: str = ""
    #: the cmdlet publishes ``-RunAsync``: it returns its Task at once instead of waiting
    run_async: bool = False

    def confirms(self, args: dict[str, Any]) -> bool:
        """Whether PowerShell asks before running it with ``args`` (ConfirmImpact High
        against the default ``$ConfirmPreference = High``)."""
        if self.confirm != "High":
            return False
        if not self.confirm_if:
            return True
        field_, _, value = self.confirm_if.partition("=")
        return str(args.get(field_)) == value

    def parse(self, raw: dict[str, Any] | None) -> Args:
        """Validate raw arguments; raise ``InputError`` naming the bad field."""
        try:
            return self.validated(raw or {})
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                raise InputError(f"{self.name}: unknown argument {loc!r}", what="argument",
                                 value=loc, choices=list(self.args.model_fields)) from None
            raise InputError(f"{self.name}: argument {loc!r}: {err['msg']}",
                             what="argument", value=err.get("input")) from None

    def validated(self, raw: dict[str, Any]) -> Args:
        """``self.args.model_validate(raw)``, remembered for scalar values (as
        :meth:`parse`, which the scenario checks share: they validate every step of every
        run the checker makes); pydantic's ``ValidationError`` if ``raw`` is invalid."""
        key = _scalar_key(self.args, raw)
        if key is not None:
            parsed = _PARSED.memo.get(key)
            if parsed is not None:
                return parsed
        parsed = self.args.model_validate(raw)
        if key is not None:
            _PARSED.keep(key, parsed)
        return parsed


#: The types of argument values (given and parsed) whose parsed models are remembered.
_SCALARS = frozenset({str, int, float, bool, type(None)})


def _scalar_key(model: type[Args], raw: dict[str, Any]) -> tuple[Any, ...] | None:
    """The memo key of ``raw`` for ``model`` when every value is a scalar (else None:
    parsed each time). A value's type is part of the key: ``True``, ``1`` and ``1.0``
    are equal and hash alike, but need not parse alike; a float is keyed by its repr
    (``-0.0`` is not ``0.0``, and a NaN is found again)."""
    if not all(type(v) in _SCALARS for v in raw.values()):
        return None
    return (model, *[(k, type(v), repr(v) if type(v) is float else v)
                     for k, v in raw.items()])


class _ParsedArgs:
    """Verb arguments parsed once per (argument model, scalar values) (:meth:`Verb.parse`).

    A parsed model is frozen (``Args``) and is kept only when its own values are scalars
    too, so it is plain data that every world may share: the checker runs the same setup
    verbs and plan steps in every one of its runs, and validating them was about 2 % of
    a check. Bounded (emptied when full); ``cache_clear`` as an lru_cache."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.memo: dict[tuple[Any, ...], Args] = {}

    def keep(self, key: tuple[Any, ...], parsed: Args) -> None:
        if all(type(v) in _SCALARS for v in vars(parsed).values()):
            if len(self.memo) >= self.limit:
                self.memo.clear()
            self.memo[key] = parsed

    def cache_clear(self) -> None:
        self.memo.clear()


_PARSED = _ParsedArgs(4096)


VERBS: dict[str, Verb] = {}
FAULTS: dict[str, Verb] = {}


def _register(table: dict[str, Verb], entry: Verb) -> None:
    for key in (entry.name, *entry.aliases):
        if key in VERBS or key in FAULTS:
            raise RuntimeError(f"{key} registered twice")
    table[entry.name] = entry


def verb(name: str, *, kind: Kind = "powercli", summary: str, args: type[Args] = NoArgs,
         source: str = "", task: str | None = None, side: str = "lab",
         aliases: tuple[str, ...] = (), output: str | None = None,
         confirm: str = "None", confirm_if: str = "",
         run_async: bool = False) -> Callable[[RunFnT], RunFnT]:
    def deco(fn: RunFnT) -> RunFnT:
        _register(VERBS, Verb(name, kind, summary, args, fn, source, "", task,
                              side, aliases, output, confirm,  # type: ignore[arg-type]
                              confirm_if, run_async))
        return fn

    return deco


def fault(name: str, *, summary: str, stands_for: str, args: type[Args] = NoArgs,
          source: str = "") -> Callable[[RunFnT], RunFnT]:
    def deco(fn: RunFnT) -> RunFnT:
        _register(FAULTS, Verb(name, "fault", summary, args, fn, source, stands_for))
        return fn

    return deco


#: Per table: its entries by lower-cased name and alias (the first entry in the table's
#: order wins, as a scan would find it), and the table's size when it was made.
_FOLDED: dict[int, tuple[int, dict[str, Verb]]] = {}


def _folded(table: dict[str, Verb], *, fresh: bool = False) -> dict[str, Verb]:
    """``table``'s case-insensitive index, made again when the table has grown (or
    ``fresh``)."""
    made = _FOLDED.get(id(table))
    if not fresh and made is not None and made[0] == len(table):
        return made[1]
    index: dict[str, Verb] = {}
    for entry in table.values():
        for key in (entry.name, *entry.aliases):
            index.setdefault(key.lower(), entry)
    _FOLDED[id(table)] = (len(table), index)
    return index


def _find(name: str, fresh: bool) -> Verb | None:
    for table in (VERBS, FAULTS):
        entry = table.get(name)
        if entry is not None:
            return entry
        entry = _folded(table, fresh=fresh).get(name.lower())
        if entry is not None:
            if fresh or table.get(entry.name) is entry:
                return entry
            return _find(name, True)  # an entry replaced since: the index made again
    return None


def lookup(name: str) -> Verb:
    """The verb or fault called ``name`` (case-insensitive; aliases accepted).

    Verbs before faults, and in each table the exact name before any case-insensitive
    match, the first in the table's order (the checker looks up every step and fault of
    every run: an index, not a scan of the table; tests/world/test_registry_lookup.py
    compares it with the scan).
    """
    entry = _find(name, False)
    if entry is None:  # (a table changed in place without growing: look once more)
        entry = _find(name, True)
    if entry is not None:
        return entry
    raise InputError(f"unknown verb {name!r}", what="verb", value=name,
                     choices=sorted([*VERBS, *FAULTS]))
