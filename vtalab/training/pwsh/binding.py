"""How PowerShell parameters reach the registry's snake_case arguments.

The registry (``vtalab.world.verbs``, ``vtalab.world.faults``) defines each verb's arguments
once, as a pydantic model with snake_case names. The shell derives the PowerShell parameters from
that model instead of keeping a second list: ``vmhost`` is ``-VMHost``, ``vm`` is ``-VM``,
``require_certificate_validation`` is ``-RequireCertificateValidation``, a ``bool`` is a
switch (``-Remediate``, ``-Force``, or ``-Force:$false``), a ``Literal`` lists its choices
(matched case-insensitively, as PowerShell does). Where PowerCLI spells a parameter
differently from the argument, :data:`ALIASES` says so once: ``-FilePath`` is ``file``,
``-VMHostBaseImage`` is ``version``, ``-TrustedCluster`` is ``cluster``; and an argument
documented as the TA cluster answers to ``-TrustAuthorityCluster``. Every TA-side cmdlet
also accepts ``-TrustAuthorityCluster``, mandatory where the reference marks it (the lab
has one TA cluster, but the command line does not guess it): a missing mandatory
parameter is asked for in an interactive session (PowerShell's "Supply values for the
following parameters:") and refused in a scripted one. Every cmdlet that changes
something accepts ``-Confirm[:$false]`` and ``-WhatIf``. A TA cluster is named as
operators type it: exactly, in any case, or by a unique prefix
(``Get-TrustAuthorityCluster -Name vTA`` finds ``vTA Cluster``); anything else is an
``InputError`` with the nearest name.

Objects bind by property: a base-image object given to ``-VMHostBaseImage`` (or piped in)
is its ``VMHostVersion``, a host object its ``Name`` ... A PowerCLI cmdlet's parameters
are exactly the published ones (``PS`` metadata on its arguments gives their names,
positions, pipeline binding and types); anything else is refused in PowerShell's words.
A parameter given several values, or a pipeline of several objects, runs the verb once
per value, as PowerShell's process block does.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from vtalab.errors import InputError, nearest
from vtalab.scenario.expect import parse_time
from vtalab.training.pwsh import format as fmt
from vtalab.training.pwsh.filters import is_wildcard, matching, resolve_param_name
from vtalab.training.pwsh.parser import Command, Param, PSObject, VarRef
from vtalab.training.pwsh.servers import (
    check_servers,
    connected,
    owner,
    server_names,
    side_owns,
    side_vcenter,
)
from vtalab.world.objects import X509Certificate
from vtalab.world.registry import PS, Verb

if TYPE_CHECKING:
    from vtalab.training.commands import Run

__all__ = ["ALIASES", "ALL_SETS", "NO_PIPE", "ParamSet", "ParamSpec", "as_values", "bind",
           "changes", "not_found", "param_sets", "params_of", "pascal", "ta_cluster_name",
           "usage", "value_hint"]

_WORDS = {"vmhost": "VMHost", "vm": "VM", "id": "Id"}

#: PowerCLI spellings that are not the PascalCase of the argument (spelling -> argument)
ALIASES: tuple[tuple[str, str], ...] = (
    ("FilePath", "file"), ("Path", "file"),
    ("VMHostBaseImage", "version"), ("BaseImage", "version"),
    ("TrustedCluster", "cluster"),
    ("Host", "vmhost"),
)
TA_CLUSTER = "TrustAuthorityCluster"
_TRISTATE = "$true or $false; unchanged when not given."
CONFIRM = "Confirm"
#: properties an object is read by when bound to an argument (before ``Name``)
#: the parameter an object of a type binds to when piped (before any property match)
_BY_TYPE: dict[str, str] = {"VMHost": "vmhost", "VMHostSummary": "vmhost", "VM": "vm",
                            "VirtualMachine": "vm",
                            "TrustAuthorityVMHostBaseImage": "version",
                            "TrustedCluster": "cluster"}
_PROPS: dict[str, tuple[str, ...]] = {"vmhost": ("VMHost",), "vm": ("VM",),
                                      "version": ("Version",), "cluster": ("Cluster",),
                                      "file": ("FilePath", "File")}


def pascal(field: str) -> str:
    """``require_certificate_validation`` -> ``RequireCertificateValidation``."""
    return "".join(_WORDS.get(p, p.capitalize()) for p in field.split("_"))


@dataclass(frozen=True)
class ParamSpec:
    """One PowerShell parameter of a verb."""

    field: str  #: the registry argument ("" / "@server" for checked-and-dropped context)
    name: str  #: the spelling shown in help (PowerCLI's)
    spellings: tuple[str, ...]  #: every accepted spelling, ``name`` first
    switch: bool
    required: bool
    choices: tuple[str, ...] = ()
    kind: str = "string"  #: string | bool | seconds | number | list
    description: str = ""
    ta_cluster: bool = False  #: names the TA cluster (resolved by :func:`ta_cluster_name`)
    position: int | None = None  #: positional slot as the cmdlet declares it
    pipeline: bool = False  #: takes pipeline input (ValueFromPipeline)
    by: tuple[str, ...] = ()  #: properties an object is read by
    type_name: str = ""  #: the .NET type help shows
    #: a composite parameter: (argument, property) pairs it sets from one object
    composite: tuple[tuple[str, str], ...] = ()


def _unwrap(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(annotation) if a is not type(None)]
    return [annotation]


def _is_ta_cluster(info: Any) -> bool:
    return "TA cluster" in (info.description or "")


def _meta(info: Any) -> PS:
    return next((m for m in info.metadata if isinstance(m, PS)), PS())


SERVER = "@server"


@functools.cache
def params_of(entry: Verb) -> tuple[ParamSpec, ...]:
    """The PowerShell parameters of a registry verb or fault, in argument order.

    A PowerCLI cmdlet takes exactly its published spellings (PowerShell still accepts
    any case and an unambiguous prefix); a lab verb or fault also takes the lab's older
    spellings (``-Path`` for ``-FilePath``, ``-Host`` for ``-VMHost``).
    """
    noun = entry.name.split("-", 1)[-1]
    strict = entry.kind == "powercli"
    specs = []
    fields = entry.args.model_fields
    for field, info in fields.items():
        meta = _meta(info)
        if meta.hidden:
            continue
        kinds = _unwrap(info.annotation)
        choices: tuple[str, ...] = ()
        kind = "string"
        for k in kinds:
            if typing.get_origin(k) is Literal:
                choices = tuple(str(c) for c in typing.get_args(k))
            elif k is bool:
                kind = "bool"
            elif k in (float, int):
                kind = "seconds" if field in ("seconds", "duration") else "number"
            elif typing.get_origin(k) in (list, tuple):
                kind = "list"  # one parameter value that is a collection (X509Chain[])
        primary = meta.name or {"file": "FilePath", "version": "VMHostBaseImage",
                                 "cluster": "Cluster"}.get(field, pascal(field))
        if field == "name" and _is_ta_cluster(info) and noun != TA_CLUSTER and not meta.name:
            primary = TA_CLUSTER
        spellings = [primary]
        if not strict:
            spellings += [pascal(field), *(a for a, f in ALIASES if f == field)]
        if field == "name" and _is_ta_cluster(info) and not strict:
            spellings.append(TA_CLUSTER)
        description = info.description or ""
        if kind == "bool" and not info.is_required() and info.default is None:
            description = description or _TRISTATE
        required = info.is_required() if meta.mandatory is None else meta.mandatory
        specs.append(ParamSpec(field, primary, tuple(dict.fromkeys(spellings)),
                               kind == "bool", required, choices, kind,
                               description, _is_ta_cluster(info) or primary == TA_CLUSTER,
                               meta.position, meta.pipeline, meta.by,
                               meta.type or ("SwitchParameter" if kind == "bool" else
                                             "String")))
    for c in entry.args.ps_composites:
        specs.append(ParamSpec(c.name, c.name, (c.name,), False, c.mandatory,
                               type_name=c.type, position=c.position, pipeline=c.pipeline,
                               composite=c.fields))
    if (entry.side == "ta" and entry.args.ps_ta_context and noun != TA_CLUSTER
            and not any(TA_CLUSTER in s.spellings for s in specs)):
        specs.append(ParamSpec("", TA_CLUSTER, (TA_CLUSTER,), False, False,
                               description="The TA cluster (the lab has one).",
                               ta_cluster=True, type_name="TrustAuthorityCluster"))
    if (strict and entry.args.ps_server  # the page publishes -Server
            and not any("Server" in s.spellings for s in specs)):  # Get-View has its own
        specs.append(ParamSpec(SERVER, "Server", ("Server",), False, False,
                               description="The vCenter Server to run on (Connect-VIServer); "
                                           "default: the connected ones.",
                               type_name="VIServer[]"))
    return tuple(specs)


@dataclass(frozen=True)
class ParamSet:
    """One parameter set of a verb, in terms of its :class:`ParamSpec` fields."""

    name: str
    fields: frozenset[str]
    mandatory: frozenset[str]
    positions: tuple[tuple[str, int], ...]  #: (field, slot), by slot

    def position(self, field: str) -> int | None:
        return dict(self.positions).get(field)


ALL_SETS = "__AllParameterSets"
_SET_ERROR = ("Parameter set cannot be resolved using the specified named parameters. One "
              "or more parameters issued cannot be used together or an insufficient number "
              "of parameters were provided.")


@functools.cache
def param_sets(entry: Verb) -> tuple[ParamSet, ...]:
    """The verb's parameter sets, the default first (PowerShell's DefaultParameterSetName):
    the published ones its model declares (:class:`vtalab.world.registry.PSSet`), else one
    set of every parameter."""
    specs = params_of(entry)
    declared = entry.args.ps_sets
    in_sets = {f for st in declared for f in st.fields}
    common = [s for s in specs if s.field not in in_sets]

    def build(name: str, own: list[ParamSpec], mandatory: set[str],
              positions: dict[str, int]) -> ParamSet:
        every = [*own, *common]
        for s in every:
            if s.position is not None and s.field not in positions and s in common:
                positions[s.field] = s.position
        mandatory |= {s.field for s in common if s.required}
        return ParamSet(name, frozenset(s.field for s in every), frozenset(mandatory),
                        tuple(sorted(positions.items(), key=lambda fp: fp[1])))

    if not declared:
        return (build(ALL_SETS, [], set(), {}),)
    by_field = {s.field: s for s in specs}
    return tuple(build(st.name, [by_field[f] for f in st.fields], set(st.mandatory),
                       dict(st.positions)) for st in declared)


def usage(entry: Verb) -> str:
    """``Export-VMHostImageDb [-VMHost] <string> [-FilePath] <string>`` style synopsis, one
    line per parameter set (as ``Get-Help`` prints the syntax)."""
    lines = []
    for st in param_sets(entry):
        parts = [entry.name]
        for s in params_of(entry):
            if s.field not in st.fields:
                continue
            name = f"-{s.name}" if st.position(s.field) is None else f"[-{s.name}]"
            text = f"{name}{value_hint(s)}"
            parts.append(text if s.field in st.mandatory else f"[{text}]")
        if entry.run_async:
            parts.append(f"[-{RUN_ASYNC}]")
        lines.append(" ".join(parts))
    return "\n".join(lines)


def value_hint(spec: ParamSpec) -> str:
    """`` <string>``, `` <Enabled|Disabled>``; nothing for a plain switch (``-Remediate``);
    `` <bool>`` for a bool that is required or has no default (``-Enabled $false``)."""
    if spec.switch and not spec.required and spec.description != _TRISTATE:
        return ""
    if spec.composite or spec.kind == "list":
        return f" <{spec.type_name}>"
    return " <" + ("|".join(spec.choices) if spec.choices else spec.kind) + ">"


def _boolish(el: Any) -> bool:
    if isinstance(el, VarRef):
        return not el.path and el.name.lower() in ("true", "false")
    text = getattr(el, "text", None)
    return isinstance(text, str) and text.lower() in ("true", "false", "$true", "$false")


#: PowerShell's common parameters of a cmdlet that changes something (SupportsShouldProcess)
SHOULD_PROCESS = ("Confirm", "WhatIf")
#: PowerCLI's switch of the cmdlets that publish it (``Verb.run_async``): return the Task
RUN_ASYNC = "RunAsync"


def changes(entry: Verb) -> bool:
    """Whether ``entry`` changes something (PowerShell's SupportsShouldProcess: it takes
    ``-Confirm`` and ``-WhatIf``)."""
    return entry.kind != "fault" and not entry.name.lower().startswith("get-")


def _spec(entry: Verb, given: str) -> tuple[ParamSpec | None, str]:
    """The parameter ``given`` names, or ``None`` and the common parameter's name
    (``Confirm``, ``WhatIf``) for one of PowerShell's ShouldProcess parameters."""
    specs = params_of(entry)
    table: dict[str, ParamSpec | None] = {sp: s for s in specs for sp in s.spellings}
    if changes(entry):
        for common in SHOULD_PROCESS:
            table.setdefault(common, None)
    if entry.run_async:
        table.setdefault(RUN_ASYNC, None)
    name = resolve_param_name(entry.name, given, [*table])
    return table[name], name


def bind(run: Run, entry: Verb, cmd: Command, piped: list[Any] | None) -> list[dict[str, Any]]:
    """The argument dicts to run ``entry`` with, one per invocation (raises ``InputError``).

    ``-Confirm`` is returned as the key ``@confirm`` (``True``/``False``) when given,
    ``-WhatIf`` as ``@whatif``, ``-RunAsync`` as ``@runasync`` and ``-Server`` as
    ``@server``; the caller takes them out before running the verb. A PowerCLI cmdlet's
    ``-Server`` is checked here, once for the invocation (:class:`_Servers`), and
    ``@server`` holds the vCenter names it gave (``check_servers``'s result), which the
    caller uses as they are.
    """
    specs = params_of(entry)
    named: dict[str, Any] = {}
    given: dict[str, ParamSpec] = {}
    positional: list[Any] = []
    common: dict[str, bool] = {}  # "@confirm" / "@whatif" when given
    els = list(cmd.elements)
    i = 0
    while i < len(els):
        el = els[i]
        i += 1
        if not isinstance(el, Param):
            positional.append(run.eval(el))
            continue
        spec, name = _spec(entry, el.name)
        following = els[i] if i < len(els) else None
        nxt = None if isinstance(following, Param) else following  # a value after -Name
        if spec is None or spec.switch:  # -Confirm or a bool argument
            if el.attached is not None:
                value: Any = run.eval(el.attached)
            elif nxt is not None and _boolish(nxt) and (spec is None or entry.kind != "powercli"
                                                        or spec.description == _TRISTATE):
                value = run.eval(nxt)
                i += 1
            else:
                value = True
            if spec is None:
                common["@" + name.lower()] = bool(value)
                continue
        elif el.attached is not None:
            value = run.eval(el.attached)
        elif nxt is not None:
            value = run.eval(nxt)
            i += 1
        else:
            raise InputError(f"{entry.name}: Missing an argument for parameter '{spec.name}'. "
                             f"Specify a parameter of type '{spec.type_name}' and try again.",
                             hint=f"usage: {usage(entry)}")
        if spec.name in given:
            raise InputError(f"{entry.name}: Cannot bind parameter because parameter "
                             f"'{spec.name}' is specified more than once.")
        given[spec.name] = spec
        named[spec.field] = value
    sets = [st for st in param_sets(entry) if set(named) <= st.fields]
    if not sets:
        raise InputError(f"{entry.name}: {_SET_ERROR}", hint=f"usage: {usage(entry)}")
    sets = _bind_positional(entry, specs, sets, named, positional)
    servers = _Servers(run, entry, named.get(SERVER))
    if "" in named:
        _check_ta_cluster(run, entry, named.pop(""), servers.names())
    calls = [named]
    if piped is not None:
        target = _pipe_target(entry, named, piped, sets)
        sets = [st for st in sets if target.field in st.fields]
        calls = [{**named, target.field: item} for item in piped]
    out = []
    for call in calls:
        out += _expand(run, entry, call, sets, servers)
    return [{**c, **common} for c in out]


def _bind_positional(entry: Verb, specs: tuple[ParamSpec, ...], sets: list[ParamSet],
                     named: dict[str, Any], positional: list[Any]) -> list[ParamSet]:
    """Bind the positional values; the candidate sets that remain. As PowerShell does,
    the slots of the first candidate set (the default set first) that has room win."""
    if entry.kind != "powercli":  # lab verbs: every free argument, in order
        free = [s.field for s in specs if s.field and s.field not in named and not s.switch
                and not s.field.startswith("@")]
    else:  # only the slots the cmdlet declares in a set, in their order
        slots = [[f for f, _ in st.positions if f not in named] for st in sets]
        fit = next((i for i, fs in enumerate(slots) if len(fs) >= len(positional)), None)
        free = slots[0] if fit is None else slots[fit]
    bound = []
    for value in positional:
        if not free:
            raise InputError(f"{entry.name}: A positional parameter cannot be found that "
                             f"accepts argument '{fmt.cell(value)}'.",
                             hint=f"usage: {usage(entry)}")
        field = free.pop(0)
        named[field] = value
        bound.append(field)
    return [st for st in sets if set(bound) <= st.fields]


NO_PIPE = ("The input object cannot be bound to any parameters for the command either "
            "because the command does not take pipeline input or the input and its "
            "properties do not match any of the parameters that take pipeline input.")


def _pipe_target(entry: Verb, named: dict[str, Any], piped: list[Any],
                 sets: list[ParamSet]) -> ParamSpec:
    sample = next((p for p in piped if isinstance(p, PSObject)), None)
    if entry.kind == "powercli":
        free = [s for s in params_of(entry) if s.pipeline and s.field not in named
                and any(s.field in st.fields for st in sets)]
        if sample is not None:
            own = _BY_TYPE.get(sample.type_name)
            typed = [s for s in free if s.field == own or s.type_name.rstrip("[]")
                     == sample.type_name or (s.ta_cluster and sample.type_name == TA_CLUSTER)]
            if typed:
                return typed[0]
            for s in free:
                if any(sample.key(p) is not None
                       for p in (*s.by, pascal(s.field), *_PROPS.get(s.field, ()))):
                    return s
        elif free:
            return free[0]
        raise InputError(f"{entry.name}: {NO_PIPE}", hint=f"usage: {usage(entry)}")
    free = [s for s in params_of(entry) if s.field and s.field not in named and not s.switch
            and not s.field.startswith("@")]
    if sample is not None:
        # An object of a known type binds to its own parameter first: a host piped from
        # Get-VMHost is -VMHost even when the cmdlet also has a parameter named after one
        # of its properties (its Version is not a -VMHostBaseImage).
        own = _BY_TYPE.get(sample.type_name)
        if own is not None and any(s.field == own for s in free):
            return next(s for s in free if s.field == own)
        for s in free:
            if any(sample.key(p) is not None for p in (pascal(s.field), *_PROPS.get(s.field, ()))):
                return s
        if sample.key("Name") is not None and free:
            return next((s for s in free if s.required), free[0])
    elif free:
        return next((s for s in free if s.required), free[0])
    kind = sample.type_name if sample is not None else "value"
    raise InputError(f"{entry.name} does not take a {kind} from the pipeline",
                     hint=f"usage: {usage(entry)}")


#: The inventory objects PowerCLI names by name (its ObjectByName parameters, and a Get-
#: cmdlet's ``-Name`` filter of that type): where a name, a wildcard or a name in another
#: case is looked up.
_INVENTORY: dict[str, Callable[[Any], list[str]]] = {
    "VMHost": lambda world: list(world.hosts),
    "VirtualMachine": lambda world: list(world.vms),
    "TrustedCluster": lambda world: list(world.trusted_clusters),
    "TrustAuthorityCluster": lambda world: [world.ta_cluster.name],
    "Cluster": lambda world: [world.ta_cluster.name, *world.trusted_clusters]}
#: string parameters that name inventory objects (by the argument's name)
_INVENTORY_FIELDS = {"vmhost": "VMHost", "vm": "VirtualMachine", "cluster": "Cluster"}


def _inventory_type(entry: Verb, spec: ParamSpec) -> tuple[str | None, bool]:
    """The inventory type ``spec`` names objects of, and whether it is a Get- cmdlet's
    filter (no match is no output) rather than an object it acts on (no match is an
    error)."""
    base = spec.type_name.removesuffix("[]")
    if base in _INVENTORY:
        return base, False
    if (spec.name == "Name" and entry.name.startswith("Get-") and entry.output in _INVENTORY
            and base == "String"):
        return entry.output, True
    if base == "String" and spec.field in _INVENTORY_FIELDS:
        return _INVENTORY_FIELDS[spec.field], False
    return None, False


def _by_name(run: Run, entry: Verb, call: dict[str, Any],
             servers: list[str] | None) -> dict[str, Any] | None:
    """``call`` with inventory names resolved as PowerCLI does (Object-by-Name): a
    wildcard (``Get-VMHost esx*``, ``Restart-VMHost -VMHost *``) is every matching
    object, a name matches in any case. ``None``: nothing is left to run (a filter's
    patterns matched nothing: no output, no error). A plain name that matches nothing is
    PowerCLI's non-terminating error (:func:`_not_found`) and the other names run.

    Given ``-Server``, names are looked up on those vCenters only (PowerCLI asks the
    servers named): an object that is on another vCenter is an OBN failure, PowerCLI's
    non-terminating error (``Could not find VMHost with name 'esx-01'.``; a Get- filter:
    ``VMHost with name 'esx-01' was not found using the specified filter(s).``) and the
    cmdlet runs for the other names. An object given as an object (piped, a variable)
    keeps working: PowerCLI uses the object's own server. ``servers``: the vCenters
    ``-Server`` names (:meth:`_Servers.names`), ``None`` when it is not given."""
    out = dict(call)
    for spec in params_of(entry):
        if spec.field not in call:
            continue
        kind, is_filter = _inventory_type(entry, spec)
        if kind is None:
            kept = None if servers is None else _side_objects(run, entry, spec,
                                                              call[spec.field], servers)
            if kept is not None and not kept:
                return None  # every name failed: nothing runs
            if kept is not None:
                out[spec.field] = kept if len(kept) != 1 else kept[0]
            continue
        every = _INVENTORY[kind](run.world)
        names = every if servers is None else _on(run, kind, every, servers)
        values: list[Any] = []
        for value in as_values(call[spec.field]):
            if not isinstance(value, str):
                values.append(value)  # an object: bound by property later
            elif is_wildcard(value):
                hits = matching(value, names)
                if hits or is_filter:
                    values += hits
                elif servers is not None and matching(value, every):
                    _obn_failure(run, entry, kind, value, is_filter, names, servers)
                else:
                    values.append(value)
            else:
                same = [n for n in every if n.lower() == value.lower()]
                found = value if value in every or len(same) != 1 else same[0]
                canonical = _canonical(run, kind, found)
                if canonical is None and value:  # '': PowerShell's empty-string error
                    _not_found(run, entry, kind, value, is_filter, every)
                elif servers is not None and canonical not in names:
                    _obn_failure(run, entry, kind, value, is_filter, names, servers)
                else:
                    values.append(found)
        if not values and (is_filter or as_values(call[spec.field])):
            return None  # names given, none found (each said so): nothing runs
        # (an empty array given for an object stays one: PowerShell's binding error
        # "... because it is an empty array" follows; it used to run nothing, silently)
        out[spec.field] = values if len(values) != 1 else values[0]
    return out


def _side_objects(run: Run, entry: Verb, spec: ParamSpec, given: Any,
                  servers: list[str]) -> list[Any] | None:
    """A TA-side cmdlet's TrustAuthority* object given by name (a base image, a key
    provider ...; a workload-side cmdlet's service info), with ``-Server`` naming only
    vCenters such objects are not on: each name is an OBN failure. The values kept
    (objects keep their own vCenter); ``None`` when the rule does not apply."""
    base = spec.type_name.removesuffix("[]")
    home = side_vcenter(run.world, entry.side)
    if home is None or not side_owns(entry.side, base) or home.lower() in {
            s.lower() for s in servers}:
        return None
    kept = []
    for value in as_values(given):
        if isinstance(value, str):
            _obn_failure(run, entry, base, value, False, [], servers)
        else:
            kept.append(value)
    return kept


class _Servers:
    """A cmdlet invocation's ``-Server``, checked once (``check_servers``) when first
    needed: by the TA cluster check, the names resolved on those vCenters, or the
    arguments handed to the caller, whichever comes first (the order errors show in)."""

    def __init__(self, run: Run, entry: Verb, server: Any) -> None:
        self.run, self.entry, self.server = run, entry, server
        self._names: list[str] | None = None
        self._checked = False

    def names(self) -> list[str] | None:
        """The vCenters ``-Server`` names (each one connected, else PowerCLI's error), or
        ``None`` when it is not given."""
        if not self._checked:
            known = connected(self.run.world, self.run.state)
            if self.server is not None and self.entry.kind == "powercli" and known:
                self._names = check_servers(self.entry.name, self.server, known)
            # else None (not given, or not connected at all: the cmdlet says so when run)
            self._checked = True
        return self._names

    def argument(self, value: Any) -> Any:
        """What ``@server`` holds for one invocation's ``value`` (one of several servers
        runs the cmdlet once per server): the names it gives, checked with the rest, or
        the value as given when there is nothing to check it against (not connected: the
        cmdlet refuses to run; a lab verb: not used)."""
        return value if self.names() is None else server_names(value)


def _on(run: Run, kind: str, names: list[str], servers: list[str]) -> list[str]:
    """The ``names`` of ``kind`` that are on one of ``servers``."""
    wanted = {s.lower() for s in servers}
    return [n for n in names if (owner(run.world, kind, n) or "").lower() in wanted]


def _canonical(run: Run, kind: str, name: str) -> str | None:
    """The name of the object of ``kind`` that ``name`` names, ``None`` if none does."""
    if kind == "TrustAuthorityCluster":  # named as operators type it (a unique prefix)
        try:
            return ta_cluster_name(run.world, name)
        except InputError:
            return None
    return name if owner(run.world, kind, name) is not None else None


#: The noun a Get- cmdlet's filter error uses where it is not the type's name (Get-VM)
_FILTER_NOUN = {"VirtualMachine": "VM"}


def _obn_text(kind: str, value: str, is_filter: bool) -> str:
    """PowerCLI's words for a name that names no object: a Get- cmdlet's filter
    (``VMHost with name 'x' was not found using the specified filter(s).``) or an object
    given by name (Object-by-Name: ``Could not find VMHost with name 'x'.``)."""
    if is_filter:
        return (f"{_FILTER_NOUN.get(kind, kind)} with name '{value}' was not found using the "
                "specified filter(s).")
    return f"Could not find {kind} with name '{value}'."


def _shown(names: list[str]) -> str:
    return ", ".join(names[:12]) + (", ..." if len(names) > 12 else "") or "none"


def _obn_failure(run: Run, entry: Verb, kind: str, value: str, is_filter: bool,
                 names: list[str], servers: list[str]) -> None:
    """PowerCLI's non-terminating error for a name not found on the ``-Server`` given:
    the line goes on (the other names run) and ends not ok."""
    run.errors.append(f"{entry.name}: {_obn_text(kind, value, is_filter)} "
                      f"({kind} on {', '.join(servers)}: {_shown(names)})")


def _not_found(run: Run, entry: Verb, kind: str, value: str, is_filter: bool,
               every: list[str]) -> None:
    """PowerCLI's non-terminating error for a name that names no object on any vCenter
    (``Get-VMHost nosuch, esx-01`` still lists esx-01): :func:`not_found`."""
    run.errors.append(not_found(entry.name, kind, value, is_filter, every))


def not_found(command: str, kind: str, value: str, is_filter: bool, every: list[str],
              noun: str | None = None) -> str:
    """The error line of ``command`` for a name that names no object of ``kind``:
    PowerCLI's words (:func:`_obn_text`), then the lab's nearest name and (at most 12 of)
    the names there are, as a person at a lab wants them (``noun``: what they are,
    default ``kind``)."""
    close = nearest(value, every)
    near = f"did you mean '{close[0]}'? " if close else ""
    return (f"{command}: {_obn_text(kind, value, is_filter)} "
            f"({near}{noun or kind}: {_shown(every)})")


def _expand(run: Run, entry: Verb, call: dict[str, Any], sets: list[ParamSet],
            servers: _Servers) -> list[dict[str, Any]]:
    specs = {s.field: s for s in params_of(entry) if s.field}
    resolved = _by_name(run, entry, call, servers.names())
    if resolved is None:
        return []
    call = resolved
    multi = [f for f, v in call.items() if isinstance(v, list) and len(v) != 1
             and specs[f].kind != "list"]
    for f in multi:
        if not call[f]:
            raise InputError(f"{entry.name}: Cannot bind argument to parameter "
                             f"'{specs[f].name}' because it is an empty array.")
    for f in multi:
        spec = specs[f]
        if spec.choices and not spec.type_name.endswith("[]"):
            # One value of a set (-State): PowerShell does not run the cmdlet per value.
            joined = " ".join(fmt.cell(v) for v in call[f])
            if spec.type_name == "String":  # a [ValidateSet()] string: the array is joined
                raise InputError(
                    f"{entry.name}: Cannot validate argument on parameter '{spec.name}'. "
                    f"The argument \"{joined}\" does not belong to the set "
                    f"\"{','.join(spec.choices)}\" specified by the ValidateSet attribute. "
                    "Supply an argument that is in the set and then try the command again.")
            raise InputError(
                f"{entry.name}: Cannot bind parameter '{spec.name}'. Cannot convert the "
                f"\"System.Object[]\" value of type \"System.Object[]\" to type "
                f"\"{spec.type_name}\".", hint=f"give one of {', '.join(spec.choices)}")
    if len(multi) > 1:
        raise InputError(f"{entry.name}: only one parameter may take several values, not "
                         + " and ".join(f"-{specs[f].name}" for f in multi))
    variants = [call] if not multi else [{**call, multi[0]: [v]} for v in call[multi[0]]]
    out = []
    for variant in variants:
        args: dict[str, Any] = {}
        for f, v in variant.items():
            spec = specs[f]
            value = v[0] if isinstance(v, list) and spec.kind != "list" else v
            if spec.composite:
                args.update(_composite(entry, spec, value))
            elif f == SERVER:
                args[f] = servers.argument(value)
            else:
                args[f] = _convert(run, entry, spec, value)
                if spec.required and not spec.switch and args[f] in (None, ""):
                    # PowerShell's words for $null or '' given to a mandatory parameter
                    what = "null" if args[f] is None else "an empty string"
                    raise InputError(f"{entry.name}: Cannot bind argument to parameter "
                                     f"'{spec.name}' because it is {what}.",
                                     hint=f"usage: {usage(entry)}")
        chosen = next((st for st in sets if st.mandatory <= set(variant)), None)
        missing = [] if chosen is not None else [
            specs[f].name for f in specs if f in sets[0].mandatory and f not in variant]
        if chosen is None and not missing:  # pragma: no cover - a set needs a mandatory one
            raise InputError(f"{entry.name}: {_SET_ERROR}", hint=f"usage: {usage(entry)}")
        if missing and run.state.prompt is not None:
            # PowerShell asks for each missing mandatory parameter of the set it binds
            # (the default set), then binds the answers as typed values.
            answered = _supply(run, entry, [specs[f] for f in specs
                                            if f in sets[0].mandatory and f not in variant])
            out += _expand(run, entry, {**variant, **answered}, sets[:1], servers)
            continue
        if missing:
            raise InputError(f"{entry.name}: Cannot process command because of one or more "
                             "missing mandatory parameters: " + " ".join(missing) + ".",
                             hint=f"usage: {usage(entry)}")
        out.append(args)
    return out


#: the most values PowerShell's prompt takes for one array parameter here (a bound on the
#: loop; an empty answer ends the list long before)
MAX_PROMPTED_VALUES = 64


def _supply(run: Run, entry: Verb, missing: list[ParamSpec]) -> dict[str, Any]:
    """PowerShell's prompt for missing mandatory parameters in an interactive session:

        cmdlet Get-TrustAuthorityVMHostBaseImage at command pipeline position 1
        Supply values for the following parameters:
        TrustAuthorityCluster[0]:

    An array parameter (``TrustAuthorityCluster[]``) is asked value by value (``[0]``,
    ``[1]`` ...) until an empty answer; an empty answer to a parameter that has no value
    yet aborts the command with PowerShell's binding error, and nothing runs."""
    assert run.state.prompt is not None
    head = (f"cmdlet {entry.name} at command pipeline position 1\n"
            "Supply values for the following parameters:\n")
    answers: dict[str, Any] = {}
    for spec in missing:
        many = spec.type_name.endswith("[]")
        values: list[str] = []
        while len(values) < (MAX_PROMPTED_VALUES if many else 1):
            label = f"{spec.name}[{len(values)}]: " if many else f"{spec.name}: "
            answer = run.state.prompt(head + label).strip()
            head = ""
            if not answer:
                break
            values.append(answer)
        if not values:
            kind = "an empty array" if many else "an empty string"
            raise InputError(f"{entry.name}: Cannot bind argument to parameter '{spec.name}' "
                             f"because it is {kind}.", hint=f"usage: {usage(entry)}")
        answers[spec.field] = values if many and len(values) > 1 else values[0]
    return answers


def _composite(entry: Verb, spec: ParamSpec, value: Any) -> dict[str, Any]:
    if not isinstance(value, PSObject) or any(value.key(p) is None for _, p in spec.composite):
        shown = value.type_name if isinstance(value, PSObject) else repr(fmt.cell(value))
        raise InputError(f"{entry.name}: Cannot bind parameter '{spec.name}'. Cannot convert "
                         f"{shown} to type \"{spec.type_name}\".",
                         hint="get one with Get-VMHostService -VMHost HOST")
    return {f: fmt.cell(value.get(p)) for f, p in spec.composite}


def _scalar(entry: Verb, spec: ParamSpec, value: Any) -> Any:
    if isinstance(value, PSObject):
        for prop in (*spec.by, pascal(spec.field), *_PROPS.get(spec.field, ()), "Name"):
            if value.key(prop) is not None:
                return value.get(prop)
        raise InputError(f"{entry.name}: cannot bind a {value.type_name} object to "
                         f"-{spec.name}", what="property", value=spec.name,
                         choices=list(value.props))
    return value


def _convert(run: Run, entry: Verb, spec: ParamSpec, value: Any) -> Any:
    value = _scalar(entry, spec, value)
    if value is None:
        return None
    if spec.choices:
        text = fmt.cell(value)
        match = next((c for c in spec.choices if c.lower() == text.lower()), None)
        if match is None:
            raise InputError(f"{entry.name}: -{spec.name} must be one of "
                             f"{', '.join(spec.choices)}, not {text!r}", what=spec.name,
                             value=text, choices=spec.choices)
        return match
    if spec.ta_cluster:
        return ta_cluster_name(run.world, fmt.cell(value))
    if spec.kind == "seconds" and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            try:
                return parse_time(value)
            except ValueError as exc:
                raise InputError(f"{entry.name}: -{spec.name}: {exc}") from None
    if spec.kind == "list":
        return tuple(_text(v) for v in as_values(value))
    if isinstance(value, X509Certificate):
        return value.pem  # the certificate itself, not the subject it shows
    if spec.kind == "string" and not isinstance(value, str):
        return fmt.cell(value)
    return value


def _text(value: Any) -> str:
    if isinstance(value, X509Certificate):
        return value.pem
    return value if isinstance(value, str) else fmt.cell(value)


def as_values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _check_ta_cluster(run: Run, entry: Verb, value: Any, servers: list[str] | None) -> None:
    """The TA cluster a TA-side cmdlet's ``-TrustAuthorityCluster`` names exists (and,
    given ``-Server``, is on one of those vCenters: the TA vCenter)."""
    value = value[0] if isinstance(value, list) and len(value) == 1 else value
    named = isinstance(value, str)
    if isinstance(value, PSObject):
        value = value.get("Name")
    try:
        ta_cluster_name(run.world, fmt.cell(value))
    except InputError as exc:
        raise InputError(f"{entry.name}: {exc}") from None
    kind = "TrustAuthorityCluster"
    if named and servers is not None and not _on(run, kind, _INVENTORY[kind](run.world),
                                                 servers):
        raise InputError(f"{entry.name}: Could not find {kind} with name '{value}'.",
                         hint=f"it is on {run.world.ta_vcenter.name}, not on "
                              f"{', '.join(servers)} (-Server)")


def ta_cluster_name(world: Any, text: str) -> str:
    """The TA cluster ``text`` names: its exact name, the name in any case, or a unique
    case-insensitive prefix of it (``vTA`` and ``vta`` for ``vTA Cluster``), as operators
    type it, or a wildcard that matches it (``vTA*``, ``*``); otherwise ``InputError``
    with the nearest name."""
    names = [world.ta_cluster.name]
    low = text.strip().lower()
    hits = matching(text, names) if is_wildcard(text) else []  # PowerCLI's names take them
    if hits:
        return hits[0]
    for found in ([n for n in names if n == text], [n for n in names if n.lower() == low],
                  [n for n in names if low and n.lower().startswith(low)]):
        if len(found) == 1:
            return found[0]
    raise InputError(f"unknown Trust Authority cluster {text!r}", what="TA cluster",
                     value=text, choices=names)
