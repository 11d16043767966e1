"""The pipeline cmdlets operators chain after a PowerCLI cmdlet, and how they bind.

``Select-Object`` (``select``), ``Where-Object`` (``where``, ``?``), ``Sort-Object``
(``sort``), ``Measure-Object`` (``measure``), ``Format-Table`` (``ft``), ``Format-List``
(``fl``) and ``ConvertTo-Json``, with the parameters runbooks use::

    ... | select *                      ... | select Name,Version      ... | select -First 1
    ... | select -ExpandProperty Version
    ... | where Status -eq OK           ... | Where-Object {$_.Health -ne 'OK' -or $_.X -like 'a*'}
    ... | sort Version -Descending      ... | ft Version,Health        ... | fl *
    ... | ConvertTo-Json

Comparisons follow PowerShell: case-insensitive, numeric when both sides are numbers,
``-like`` with wildcards, ``-match`` with a regular expression; a collection on the left
matches when one of its members does. :func:`bind_simple` is the small parameter binder
these cmdlets and the lab commands share: case-insensitive names, unambiguous prefixes
(``-Desc``), switches, and an ``InputError`` with the nearest name for anything else.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import regex

from vtalab.errors import InputError, nearest
from vtalab.training.pwsh import format as fmt
from vtalab.training.pwsh.parser import (
    ArrayExpr,
    Command,
    Comparison,
    Condition,
    Expr,
    Param,
    PSObject,
    ScriptBlock,
    Value,
    VarRef,
    property_of,
)

if TYPE_CHECKING:
    from vtalab.training.commands import Run

__all__ = ["FILTERS", "MATCH_TIMEOUT_SECONDS", "REPLAY_MATCH_SECONDS", "WILDCARD_CHARS",
           "Calculated", "Filter", "MatchOutcomes", "Wildcard", "bind_simple", "block_value",
           "compare", "is_wildcard", "match_outcomes", "matching", "regex_search",
           "resolve_param_name", "wildcard"]


def resolve_param_name(command: str, given: str, names: Sequence[str]) -> str:
    """The parameter ``-given`` names: exact (any case) or an unambiguous prefix; else
    ``InputError`` in PowerShell's own words (with the nearest name as a hint)."""
    low = given.lower()
    exact = [n for n in names if n.lower() == low]
    if exact:
        return exact[0]
    prefix = [n for n in names if n.lower().startswith(low)]
    if len(prefix) == 1:
        return prefix[0]
    if len(prefix) > 1:
        raise InputError(f"{command}: Parameter cannot be processed because the parameter "
                         f"name '{given}' is ambiguous. Possible matches include: "
                         + " ".join(f"-{n}" for n in prefix) + ".")
    near = nearest(given, names)
    hint = f"did you mean -{near[0]}?" if near else None
    shown = ", ".join(f"-{n}" for n in names) or "none"
    raise InputError(f"{command}: A parameter cannot be found that matches parameter name "
                     f"'{given}'. (parameters: {shown})", hint=hint)


def bind_simple(run: Run, cmd: Command, params: Sequence[str], switches: Sequence[str] = (),
                *, display: str | None = None) -> tuple[dict[str, Any], list[Expr]]:
    """Named values (evaluated, by canonical name) and the positional expressions."""
    name = display or cmd.name
    named: dict[str, Any] = {}
    positional: list[Expr] = []
    elements = list(cmd.elements)
    i = 0
    while i < len(elements):
        el = elements[i]
        i += 1
        if not isinstance(el, Param):
            positional.append(el)
            continue
        key = resolve_param_name(name, el.name, [*params, *switches])
        if key in switches:
            named[key] = True if el.attached is None else bool(run.eval(el.attached))
        elif el.attached is not None:
            named[key] = run.eval(el.attached)
        elif i < len(elements) and not isinstance(elements[i], Param):
            named[key] = run.eval(elements[i])  # type: ignore[arg-type]
            i += 1
        else:
            raise InputError(f"{name}: missing a value for -{key}")
    return named, positional


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


#: The characters that make a name a PowerShell wildcard pattern.
WILDCARD_CHARS = "*?["


def is_wildcard(text: str) -> bool:
    """Whether ``text`` is a wildcard pattern rather than a plain name."""
    return any(c in text for c in WILDCARD_CHARS)


def matching(pattern: str, names: Sequence[str]) -> list[str]:
    """The ``names`` the PowerShell wildcard ``pattern`` matches (any case), in order."""
    match = wildcard(pattern).matches
    return [n for n in names if match(n)]


_STAR = ("*",)
_ONE = ("?",)


@dataclass(frozen=True)
class Wildcard:
    """A compiled PowerShell ``WildcardPattern``: its tokens, each ``*``, ``?``, a
    literal character (``("=", c)``) or a set of ranges (``("[", ((lo, hi), ...))``)."""

    pattern: str
    tokens: tuple[tuple[Any, ...], ...]

    def matches(self, text: str) -> bool:
        """Whether the whole of ``text`` matches (any case). No regular expression: the
        classic two-pointer glob match, which goes back only to the last ``*`` seen, so
        at most ``len(text) * len(pattern)`` steps whatever the pattern (a regex of
        ``*a*a*a*a*b`` backtracks polynomially, hostile text against hostile pattern)."""
        tokens, n = self.tokens, len(self.tokens)
        t = p = 0
        star, mark = -1, 0
        while t < len(text):
            if p < n and tokens[p] is _STAR:
                star, mark = p, t
                p += 1
            elif p < n and _one_char(tokens[p], text[t]):
                p += 1
                t += 1
            elif star >= 0:
                mark += 1
                p, t = star + 1, mark
            else:
                return False
        while p < n and tokens[p] is _STAR:
            p += 1
        return p == n


def _one_char(token: tuple[Any, ...], c: str) -> bool:
    if token is _ONE:
        return True
    if token[0] == "=":
        return bool(c == token[1] or c.lower() == token[1].lower())
    return any(lo <= x <= hi for x in {c, c.lower(), c.upper()} for lo, hi in token[1])


def _bad_wildcard(pattern: str) -> InputError:
    return InputError("The specified wildcard character pattern is not valid: "
                      f"{pattern}", what="wildcard pattern", value=pattern)


@functools.lru_cache(maxsize=256)
def wildcard(pattern: str) -> Wildcard:
    """PowerShell's ``WildcardPattern`` (``-like``, a cmdlet's ``-Name`` filter, an object
    given by name): ``*`` any run, ``?`` one character, ``[abc]``/``[a-c]`` one of a set
    (``!`` is no negation), a backtick escapes; case-insensitive. A ``[`` without its
    ``]``, or a reversed range (``[z-a]``), is refused in PowerShell's words. Matching is
    linear in the pattern times the text (:meth:`Wildcard.matches`), never a regex."""
    out: list[tuple[Any, ...]] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "`" and i + 1 < n:
            out.append(("=", pattern[i + 1]))
            i += 2
            continue
        if c == "*":
            if not out or out[-1] is not _STAR:
                out.append(_STAR)
        elif c == "?":
            out.append(_ONE)
        elif c == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                raise _bad_wildcard(pattern)
            body = pattern[i + 1:end]
            ranges: list[tuple[str, str]] = []
            k = 0
            while k < len(body):
                if k + 2 < len(body) and body[k + 1] == "-":
                    if body[k] > body[k + 2]:
                        raise _bad_wildcard(pattern)
                    ranges.append((body[k], body[k + 2]))
                    k += 3
                else:
                    ranges.append((body[k], body[k]))
                    k += 1
            out.append(("[", tuple(ranges)))
            i = end + 1
            continue
        else:
            out.append(("=", c))
        i += 1
    return Wildcard(pattern, tuple(out))


#: The most wall-clock seconds one ``-match``/``-notmatch`` may take: .NET's
#: ``Regex.MatchTimeout`` is infinite by default, which a served lab cannot afford (a
#: hostile pattern such as ``(a|aa)+$`` would hold the lab's lock for ever). Assumed; a
#: parameter here, well above what any sane pattern on a short property value needs.
MATCH_TIMEOUT_SECONDS = 1.0
#: .NET's RegexMatchTimeoutException message (what PowerShell prints for a timed-out match)
MATCH_TIMED_OUT = ("The RegEx engine has timed out while trying to match a pattern to an "
                   "input string. This can occur for many reasons, including very large "
                   "inputs or excessive backtracking caused by nested quantifiers, "
                   "back-references and other factors.")


#: The most wall-clock seconds a replayed ``-match`` that finished when it was recorded
#: may take (a slower machine): far more than :data:`MATCH_TIMEOUT_SECONDS`, so that a
#: replay reproduces the recorded outcome, and still bounded.
REPLAY_MATCH_SECONDS = 60.0


@dataclass
class MatchOutcomes:
    """Which ``-match`` evaluations of one shell line timed out, by their order in it.

    The timeout is wall-clock (as .NET's ``Regex.MatchTimeout``): a pattern near the limit
    can match on one machine and time out on another. So the outcome is part of the
    session's record, like the answers to a prompt: ``replay`` None is a live line (the
    evaluations that time out are listed in ``timed_out``); a replayed line is given the
    recorded list, and evaluation ``n`` times out again at once if it is in it (and is
    listed in ``timed_out`` again, so that the replayed line records the same), and
    otherwise runs to its end (it finished when recorded), bounded by
    :data:`REPLAY_MATCH_SECONDS`. Same record, same outcome, on any machine; a replayed
    evaluation that runs out even that bound is listed in ``overrun`` (the replay could
    not reproduce the record: the caller says so).
    """

    replay: frozenset[int] | None = None
    timed_out: list[int] = field(default_factory=list)
    overrun: list[int] = field(default_factory=list)
    count: int = 0


_OUTCOMES: ContextVar[MatchOutcomes | None] = ContextVar("vtalab_match_outcomes",
                                                         default=None)


@contextlib.contextmanager
def match_outcomes(replay: Iterable[int] | None = None) -> Iterator[MatchOutcomes]:
    """Record (or, given the recorded list, reproduce) the ``-match`` timeouts of the
    shell line run inside the block (:class:`MatchOutcomes`)."""
    outcomes = MatchOutcomes(None if replay is None else frozenset(replay))
    token = _OUTCOMES.set(outcomes)
    try:
        yield outcomes
    finally:
        _OUTCOMES.reset(token)


@functools.lru_cache(maxsize=256)
def _regex(pattern: str) -> Any:
    return regex.compile(pattern, regex.IGNORECASE)


def _timed_out(op: str, pattern: str, limit: float) -> InputError:
    return InputError(f"-{op}: {MATCH_TIMED_OUT}", what="regular expression", value=pattern,
                      hint=f"the match took over {limit:g} s (MATCH_TIMEOUT_SECONDS): "
                      "simplify the pattern (no nested quantifiers such as (a|aa)+)")


def regex_search(op: str, pattern: str, text: str) -> bool:
    """Whether the regular expression ``pattern`` is found in ``text`` (any case), for
    the operator ``-op``. The ``regex`` engine stops after :data:`MATCH_TIMEOUT_SECONDS`
    (Python's ``re`` cannot be stopped): then an ``InputError`` with .NET's words, as
    PowerShell's RegexMatchTimeoutException; a bad pattern is one too. Inside
    :func:`match_outcomes` the timeouts are recorded, or reproduced when replayed."""
    try:
        compiled = _regex(pattern)
    except (regex.error, ValueError, OverflowError) as exc:
        raise InputError(f"-{op}: invalid regular expression {pattern!r}: {exc}") from None
    outcomes = _OUTCOMES.get()
    n = 0
    if outcomes is not None:
        n, outcomes.count = outcomes.count, outcomes.count + 1
        if outcomes.replay is not None and n in outcomes.replay:
            outcomes.timed_out.append(n)  # as recorded (and recorded again)
            raise _timed_out(op, pattern, MATCH_TIMEOUT_SECONDS)
    replaying = outcomes is not None and outcomes.replay is not None
    limit = REPLAY_MATCH_SECONDS if replaying else MATCH_TIMEOUT_SECONDS
    try:
        return compiled.search(text, timeout=limit) is not None  # wall-clock ok
    except TimeoutError:
        if outcomes is not None:
            (outcomes.overrun if replaying else outcomes.timed_out).append(n)
        raise _timed_out(op, pattern, limit) from None


def compare(left: Any, op: str, right: Any) -> bool:
    """PowerShell's comparison ``left -op right`` (case-insensitive)."""
    if isinstance(left, list) and op not in ("contains", "notcontains"):
        return any(compare(v, op, right) for v in left)
    if op in ("contains", "notcontains"):
        members = left if isinstance(left, list) else [left]
        found = any(compare(m, "eq", right) for m in members)
        return found if op == "contains" else not found
    a, b = fmt.cell(left).lower(), fmt.cell(right).lower()
    if op in ("like", "notlike"):
        hit = wildcard(b).matches(a)
        return hit if op == "like" else not hit
    if op in ("match", "notmatch"):
        hit = regex_search(op, fmt.cell(right), fmt.cell(left))
        return hit if op == "match" else not hit
    x: Any
    y: Any
    if isinstance(left, bool):  # PowerShell converts the right side to the left's type:
        x, y = left, _truth(right)  # $true -eq 1 and $true -eq 'False' are both true
    else:
        na, nb = _number(left), _number(right)
        x = na if na is not None and nb is not None else a
        y = nb if na is not None and nb is not None else b
    return {"eq": x == y, "ne": x != y, "gt": x > y, "ge": x >= y, "lt": x < y,
            "le": x <= y}[op]


def _truth(value: Any) -> bool:
    """PowerShell's ``[bool]`` of a value: ``$null``, 0, '' and an empty array are false,
    any other text (even 'False') and any other number true."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, list):
        return _truth(value[0]) if len(value) == 1 else bool(value)
    return fmt.cell(value) != ""


def _test(run: Run, cond: Condition, item: Any) -> bool:
    def one(c: Comparison) -> bool:
        left = run.eval(c.left, item=item)
        if c.op is None:
            return bool(left) and left != []
        right = run.eval(c.right, item=item) if c.right is not None else None
        return compare(left, c.op, right)

    result = one(cond.first)
    for joiner, comp in cond.rest:
        result = (result and one(comp)) if joiner == "and" else (result or one(comp))
    return result


# -- the cmdlets ---------------------------------------------------------------------------
def _where(run: Run, cmd: Command, items: list[Any]) -> list[Any]:
    els = cmd.elements
    if len(els) == 1 and isinstance(els[0], ScriptBlock):
        if els[0].condition is None:
            raise InputError("Where-Object: the script block must be a condition, e.g. "
                             "{$_.Health -ne 'Ok'}")
        cond = els[0].condition
    elif els and isinstance(els[0], Value) and (
            len(els) == 1 or (len(els) == 3 and isinstance(els[1], Param)
                              and els[1].attached is None and not isinstance(els[2], Param))):
        left = VarRef("_", (els[0].text,))  # `where Prop -eq X` means {$_.Prop -eq X}
        comp = Comparison(left, None, None)
        if len(els) == 3:
            op = resolve_param_name("Where-Object", els[1].name, _OPS)  # type: ignore[union-attr]
            comp = Comparison(left, op, els[2])  # type: ignore[arg-type]
        cond = Condition(comp)
    else:
        raise InputError("Where-Object: use a script block, e.g. where {$_.Status -eq 'OK'}, "
                         "or the simple form, e.g. where Status -eq OK")
    return [item for item in items if _test(run, cond, item)]


_OPS = ("eq", "ne", "like", "notlike", "match", "notmatch", "gt", "ge", "lt", "le", "contains",
        "notcontains")


def _select(run: Run, cmd: Command, items: list[Any]) -> list[Any]:
    named, pos = bind_simple(run, cmd, ["Property", "First", "Last", "Skip",
                                        "ExpandProperty"], ["Unique"],
                             display="Select-Object")
    props = _properties(run, "Select-Object", named, pos)
    out = list(items)
    if "Skip" in named:
        out = out[int(_count(named["Skip"], "Skip")):]
    if "First" in named:
        out = out[:int(_count(named["First"], "First"))]
    if "Last" in named:
        n = int(_count(named["Last"], "Last"))
        out = out[len(out) - n:] if n else []
    if "ExpandProperty" in named:
        name = fmt.cell(named["ExpandProperty"])
        expanded = []
        for item in out:
            value = property_of(item, name)
            if value is None and not (isinstance(item, PSObject) and item.key(name)):
                raise InputError(f"Select-Object: property {name!r} cannot be found",
                                 what="property", value=name,
                                 choices=list(item.props) if isinstance(item, PSObject) else [])
            expanded += value if isinstance(value, list) else [value]
        out = expanded
    elif props:
        out = [_selected(run, item, props) for item in out]
    if named.get("Unique"):
        unique: list[Any] = []
        for item in out:
            if item not in unique:
                unique.append(item)
        out = unique
    return out


def _count(value: Any, name: str) -> float:
    n = _number(value)
    if n is None or n < 0 or not float(n).is_integer():
        raise InputError(f"Select-Object: -{name} needs a whole number, not {fmt.cell(value)!r}")
    return n


@dataclass(frozen=True)
class Calculated:
    """A calculated property (``@{N='Host'; E={$_.VMHost}}``, or a bare script block):
    its name and how each object's value is had (a script block, or a property name)."""

    name: str
    expression: ScriptBlock | str


#: The keys of a calculated property's hash table (any case, a unique prefix), and the
#: Format-* ones that only shape a column (accepted there, not by Select-Object)
_NAME_KEYS = ("Name", "Label")
_EXPRESSION_KEY = "Expression"
_FORMAT_KEYS = ("Width", "Alignment", "FormatString")


def _properties(run: Run, command: str, named: dict[str, Any],
                pos: Sequence[Expr]) -> list[str | Calculated]:
    """The -Property values of Select-Object, Sort-Object and Format-*: names, and
    calculated properties (hash tables, script blocks)."""
    given: list[Any] = []
    if "Property" in named:
        given += named["Property"] if isinstance(named["Property"], list) \
            else [named["Property"]]
    for expr in pos:
        for one in expr.items if isinstance(expr, ArrayExpr) else (expr,):
            if isinstance(one, ScriptBlock):  # a block is a calculated property itself
                given.append(one)
                continue
            value = run.eval(one)
            given += value if isinstance(value, list) else [value]
    out: list[str | Calculated] = []
    for value in given:
        if isinstance(value, ScriptBlock):
            out.append(Calculated(_written(value), value))
        elif isinstance(value, dict):
            out.append(_calculated(command, value))
        else:
            out.append(fmt.cell(value))
    return out


def _calculated(command: str, table: dict[str, Any]) -> Calculated:
    keys = [*_NAME_KEYS, _EXPRESSION_KEY] + (list(_FORMAT_KEYS) if command.startswith(
        "Format-") else [])
    name: str | None = None
    expression: ScriptBlock | str | None = None
    for key, value in table.items():
        hits = [k for k in keys if k.lower().startswith(str(key).lower())] if key else []
        if len(hits) != 1:
            raise InputError(f'{command}: The "{key}" key is not valid.',
                             what="key", value=key, choices=keys)
        if hits[0] in _NAME_KEYS:
            name = fmt.cell(value)
        elif hits[0] == _EXPRESSION_KEY:
            expression = value if isinstance(value, ScriptBlock) else fmt.cell(value)
    if expression is None:
        raise InputError(f"{command}: a calculated property needs an Expression key",
                         hint="e.g. @{Name='Host'; Expression={$_.VMHost}}")
    if name is None:  # PowerShell names it by the expression as written
        name = expression if isinstance(expression, str) else _written(expression)
    return Calculated(name, expression)


def _written(block: ScriptBlock) -> str:
    """A script block's text without its braces: a calculated property's default name."""
    return block.text.strip("{} ")


def block_value(run: Run, block: ScriptBlock, item: Any) -> Any:
    """A script block's value for ``item`` (``$_``): an expression's value, a condition's
    truth, a statement block's output ($null, one value, or an array)."""
    if block.condition is not None:
        cond = block.condition
        if cond.first.op is None and not cond.rest:
            return run.eval(cond.first.left, item=item)
        return _test(run, cond, item)
    out = run.block(block.body, item)
    return None if not out else out[0] if len(out) == 1 else out


def _value(run: Run, item: Any, prop: str | Calculated) -> Any:
    if isinstance(prop, str):
        return property_of(item, prop)
    if isinstance(prop.expression, str):
        return property_of(item, prop.expression)
    return block_value(run, prop.expression, item)


def _selected(run: Run, item: Any, props: list[str | Calculated]) -> Any:
    if not isinstance(item, PSObject):
        return PSObject("Selected", {
            (p.name if isinstance(p, Calculated) else p):
                (_value(run, item, p) if isinstance(p, Calculated) else None)
            for p in props if p != "*"}, view="auto")
    chosen: dict[str, Any] = {}
    for p in props:
        if isinstance(p, Calculated):
            chosen[p.name] = _value(run, item, p)
        elif p == "*":
            chosen.update({k: v for k, v in item.props.items() if k not in chosen})
        else:
            chosen[item.key(p) or p] = item.get(p)
    return PSObject(f"Selected.{item.type_name}", chosen, view="auto")


def _sort(run: Run, cmd: Command, items: list[Any]) -> list[Any]:
    named, pos = bind_simple(run, cmd, ["Property"], ["Descending", "Unique"],
                             display="Sort-Object")
    props = _properties(run, "Sort-Object", named, pos)

    # each object's key once (a calculated property's script block runs once per object)
    keyed = sorted(((_sort_key([_value(run, item, p) for p in props] if props else [item]),
                     item) for item in items),
                   key=lambda pair: pair[0], reverse=bool(named.get("Descending")))
    if not named.get("Unique"):
        return [item for _, item in keyed]
    # one object per value of the sort properties (any case), the first of each, as
    # PowerShell's `sort Version -Unique`; without properties, per object
    seen: set[tuple[Any, ...]] = set()
    unique = []
    for k, item in keyed:
        if k not in seen:
            seen.add(k)
            unique.append(item)
    return unique


def _sort_key(values: list[Any]) -> tuple[Any, ...]:
    """How Sort-Object (and Group-Object's groups) order values: numbers by value before
    text, text in any case."""
    nums = [_number(v) for v in values]
    return tuple((0, n, "") if n is not None else (1, 0.0, fmt.cell(v).lower())
                 for v, n in zip(values, nums, strict=True))


def _measure(run: Run, cmd: Command, items: list[Any]) -> list[Any]:
    bind_simple(run, cmd, [], display="Measure-Object")
    return [PSObject("GenericMeasureInfo", {"Count": len(items)})]


def _group(run: Run, cmd: Command, items: list[Any]) -> list[Any]:
    """``Group-Object``: PowerShell's GroupInfo objects (Count, Name, Group), one per
    distinct value of the properties given (compared in any case unless
    ``-CaseSensitive``; several properties give ``"a, b"`` names), sorted by those values
    as PowerShell 7 sorts them (Windows PowerShell 5.1 kept the order first seen; the
    shell is PowerShell 7 throughout); ``-NoElement`` leaves Group out."""
    named, pos = bind_simple(run, cmd, ["Property"], ["NoElement", "CaseSensitive"],
                             display="Group-Object")
    props = _properties(run, "Group-Object", named, pos)
    groups: dict[tuple[str, ...], tuple[list[Any], list[Any]]] = {}
    for item in items:
        values = [_value(run, item, p) for p in props] if props else [item]
        key = tuple(fmt.cell(v) if named.get("CaseSensitive") else fmt.cell(v).lower()
                    for v in values)
        groups.setdefault(key, (values, []))[1].append(item)
    out = []
    for values, members in sorted(groups.values(), key=lambda g: _sort_key(g[0])):
        row: dict[str, Any] = {"Count": len(members),
                               "Name": ", ".join(fmt.cell(v) for v in values)}
        if not named.get("NoElement"):
            row["Group"] = members
        out.append(PSObject("GroupInfo", row))
    return out


def _format(run: Run, cmd: Command, items: list[Any], *, wide: bool) -> list[Any]:
    display = "Format-List" if wide else "Format-Table"
    named, pos = bind_simple(run, cmd, ["Property"], ["AutoSize", "Wrap", "HideTableHeaders"],
                             display=display)
    specs = _properties(run, display, named, pos)
    objects = [i for i in items if isinstance(i, PSObject)]
    if any(isinstance(p, Calculated) for p in specs):  # the columns, computed per object
        objects = [_selected(run, o, specs) for o in objects]
    props = [p.name if isinstance(p, Calculated) else p for p in specs]
    others = [i for i in items if not isinstance(i, PSObject)]
    parts = []
    if objects:
        text = (fmt.listing if wide else fmt.table)(objects, props or None)
        if named.get("HideTableHeaders") and not wide:
            text = "\n".join(text.split("\n")[2:])
        parts.append(text)
    if others:
        parts.append(fmt.render(others))
    return [fmt.Formatted("\n".join(parts))] if parts else []


def _json(run: Run, cmd: Command, items: list[Any]) -> list[Any]:
    named, _ = bind_simple(run, cmd, ["Depth"], ["Compress"], display="ConvertTo-Json")
    if not items:
        return []
    text = fmt.json_text(items)
    if named.get("Compress"):

        text = json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    return [fmt.Formatted(text)]


def _foreach(run: Run, cmd: Command, items: list[Any]) -> list[Any]:
    """``ForEach-Object {...}`` / ``% {...}`` / ``foreach ($x in ...) {...}``: the block's
    statements once per item, with ``$_`` (or the loop variable) set to it."""
    els = cmd.elements
    if len(els) == 1 and isinstance(els[0], ScriptBlock) and els[0].condition is not None:
        # An expression block, { $_.Name } or { $_.Health -eq 'Ok' }: its value per item
        # (an array's members, nothing for $null), as PowerShell outputs it.
        cond = els[0].condition
        values: list[Any] = []
        for item in items:
            if cond.first.op is None and not cond.rest:
                value = run.eval(cond.first.left, item=item)
                values += [] if value is None else value if isinstance(value, list) \
                    else [value]
            else:
                values.append(_test(run, cond, item))
        return values
    if len(els) != 1 or not isinstance(els[0], ScriptBlock):
        if len(els) == 1 and isinstance(els[0], Value):  # % Name: the member, as PowerShell
            return [property_of(i, els[0].text) for i in items]
        raise InputError("ForEach-Object: give a script block, e.g. % { $_.Name }")
    block = els[0]
    out: list[Any] = []
    for item in items:
        if block.var is not None:
            run.state.variables[block.var] = item
        out += run.block(block.body, item)
    return out


def _write_host(run: Run, cmd: Command, items: list[Any]) -> list[Any]:
    named, pos = bind_simple(run, cmd, ("Object", "ForegroundColor", "BackgroundColor",
                                        "Separator"), ("NoNewline",), display="Write-Host")
    values = [run.eval(p) for p in pos] + ([named["Object"]] if "Object" in named else [])
    sep = fmt.cell(named.get("Separator", " "))
    run.console.append(sep.join(fmt.cell(v) for v in values))  # the host, not the pipeline
    return []


def _get_date(run: Run, cmd: Command, items: list[Any]) -> list[Any]:
    named, _ = bind_simple(run, cmd, ("Format",), ("UFormat",), display="Get-Date")
    now = run.world.kernel.utc()  # simulated time: the lab's clock, not the wall clock
    if "Format" in named:
        pattern = fmt.cell(named["Format"])
        py = (pattern.replace("yyyy", "%Y").replace("MM", "%m").replace("dd", "%d")
              .replace("HH", "%H").replace("mm", "%M").replace("ss", "%S"))
        return [now.strftime(py)]
    return [now.strftime("%A, %B %d, %Y %I:%M:%S %p").replace(" 0", " ")]


def _clear(run: Run, cmd: Command, items: list[Any]) -> list[Any]:
    bind_simple(run, cmd, (), (), display="Clear-Host")
    return [fmt.Formatted("\x1b[H\x1b[2J")]


@dataclass(frozen=True)
class Filter:
    name: str
    aliases: tuple[str, ...]
    summary: str
    usage: str
    params: tuple[str, ...]
    run: Callable[[Run, Command, list[Any]], list[Any]]


FILTERS: dict[str, Filter] = {f.name: f for f in (
    Filter("Select-Object", ("select",), "Pick properties (* for all; a calculated "
           "property is @{Name=...; Expression={...}}) or the first/last objects; "
           "-ExpandProperty gives the bare values.",
           "... | select *   |   select Name,Version   |   select -First 1   |   "
           "select Name, @{N='Host';E={$_.VMHost}}   |   select -ExpandProperty Version",
           ("Property", "First", "Last", "Skip", "ExpandProperty", "Unique"), _select),
    Filter("Where-Object", ("where", "?"), "Keep the objects that match a condition.",
           "... | where Status -eq OK   |   Where-Object {$_.Health -ne 'OK' -and "
           "$_.Version -like '8.0.2*'}", tuple(_OPS), _where),
    Filter("Sort-Object", ("sort",), "Sort objects by properties (or script blocks).",
           "... | sort Version -Descending   |   sort {$_.Name}",
           ("Property", "Descending", "Unique"), _sort),
    Filter("Measure-Object", ("measure",), "Count the objects.", "... | measure", (),
           _measure),
    Filter("Group-Object", ("group",), "Group objects by the values of properties "
           "(Count, Name, Group).", "... | group Version   |   group Version -NoElement",
           ("Property", "NoElement", "CaseSensitive"), _group),
    Filter("Format-Table", ("ft",), "Show objects as a table (optionally only some "
           "properties, calculated ones too).", "... | ft   |   ft Version,Health   |   "
           "ft Name, @{N='Ver';E={$_.Version}}",
           ("Property", "AutoSize", "Wrap", "HideTableHeaders"),
           lambda r, c, i: _format(r, c, i, wide=False)),
    Filter("Format-List", ("fl",), "Show each object as a list of properties.",
           "... | fl   |   fl *", ("Property",), lambda r, c, i: _format(r, c, i, wide=True)),
    Filter("ConvertTo-Json", (), "Show objects as JSON.", "... | ConvertTo-Json",
           ("Depth", "Compress"), _json),
    Filter("ForEach-Object", ("%", "foreach"), "Run a script block once per object ($_ is "
           "the object); also foreach ($x in $list) { ... }.",
           "... | % { Write-Host $_.Name }   |   foreach ($b in $bm) { $b.VMHostVersion }",
           (), _foreach),
    Filter("Write-Host", (), "Write text to the console.", "Write-Host \"text $var\"",
           ("Object", "ForegroundColor", "BackgroundColor", "Separator", "NoNewline"),
           _write_host),
    Filter("Get-Date", (), "The current (simulated) date and time.",
           "Get-Date   |   Get-Date -Format 'yyyy-MM-dd HH:mm:ss'", ("Format",), _get_date),
    Filter("Clear-Host", ("cls", "clear"), "Clear the console.", "cls", (), _clear),
)}
