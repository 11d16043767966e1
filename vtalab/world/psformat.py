"""PowerShell's output objects and how a console prints them: tables, lists and JSON.

This sits in the world layer because more than the training shell prints PowerCLI objects:
``vtalab run`` shows a ``Get-…`` step's objects in its timeline exactly as the shell does
(``vtalab.training.pwsh.format`` re-exports this module for the shell).

What the shell prints is what an operator knows from a PowerCLI console::

    VMHostVersion  Name                         Health
    -------------  ----                         ------
    8.0.1-21495797 ESXi 8.0.1-21495797 (8.0 U1) Ok

Rules taken from PowerShell's formatter: a column is as wide as its widest cell or header,
columns are separated by one space, the dashes under a header are as long as the header,
numbers are right-aligned, a collection in a cell shows as ``{a, b}``, ``$null`` as
nothing, booleans as ``True``/``False``; trailing blanks are dropped. The list view
(``Format-List``) pads property names to the longest one and separates objects by a blank
line. A new table starts whenever the object type changes. Nothing here depends on the
terminal width, so the same session prints the same bytes everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

__all__ = ["Formatted", "PSObject", "cell", "json_text", "listing", "plain", "render",
           "table"]


class PSObject:
    """One output object: a type name and ordered properties (case-insensitive reads).

    ``view`` is how PowerShell shows it by default: objects of a cmdlet's own type have a
    table view; objects made by ``Select-Object`` follow PowerShell's rule (a table up to
    four properties, a list beyond). ``display`` is the type's default display property
    set (what ``Get-VMHost`` prints without ``select``); ``None`` shows every property.
    """

    __slots__ = ("type_name", "props", "view", "display")

    def __init__(self, type_name: str, props: dict[str, Any], view: str = "table",
                 display: tuple[str, ...] | None = None) -> None:
        self.type_name = type_name
        self.props = dict(props)
        self.view = view
        self.display = display

    def key(self, name: str) -> str | None:
        """The property's own spelling for ``name`` (any case), or ``None``."""
        low = name.lower()
        return next((k for k in self.props if k.lower() == low), None)

    def get(self, name: str) -> Any:
        k = self.key(name)
        return None if k is None else self.props[k]

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, PSObject) and other.type_name == self.type_name
                and other.props == self.props)

    def __repr__(self) -> str:
        return f"PSObject({self.type_name!r}, {self.props!r})"

    __hash__ = None  # type: ignore[assignment]


class Formatted(str):
    """Text already formatted by ``Format-Table``/``Format-List``/``ConvertTo-Json``."""

    __slots__ = ()


def cell(value: Any) -> str:
    """One value as PowerShell shows it inside a table or list."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:g}"
    if isinstance(value, list | tuple):
        return "{" + ", ".join(cell(v) for v in value) + "}"
    if isinstance(value, dict):  # a nested object (ServiceStatus): PowerShell's @{...}
        return "@{" + "; ".join(f"{k}={cell(v)}" for k, v in value.items()) + "}"
    if isinstance(value, PSObject):
        if value.type_name.startswith("VMware.Vim."):  # a vSphere API data object: its
            return value.type_name  # .NET type name, as PowerShell prints one in a cell
        name = value.get("Name") or value.get("Version")
        return cell(name) if name is not None else value.type_name
    return str(value)


def _columns(objects: Sequence[PSObject], props: Sequence[str] | None) -> list[str]:
    if props:
        cols: list[str] = []
        for p in props:
            if p == "*":
                cols += [c for c in _all_props(objects) if c not in cols]
            else:
                own = next((o.key(p) for o in objects if o.key(p) is not None), None)
                cols.append(own or p)
        return cols
    return _default_props(objects)


def _all_props(objects: Sequence[PSObject]) -> list[str]:
    cols: list[str] = []
    for o in objects:
        cols += [k for k in o.props if k not in cols]
    return cols


def _default_props(objects: Sequence[PSObject]) -> list[str]:
    """The columns shown without ``select``: the type's default display set if it has one
    (PowerShell's DefaultDisplayPropertySet), else every property."""
    shown = objects[0].display if objects else None
    return list(shown) if shown else _all_props(objects)


def _numeric(values: Sequence[Any]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(isinstance(v, int | float) and not isinstance(v, bool)
                                 for v in present)


def table(objects: Sequence[PSObject], props: Sequence[str] | None = None) -> str:
    """The objects as a PowerShell table (``Format-Table``)."""
    if not objects:
        return ""
    cols = _columns(objects, props)
    raw = [[o.get(c) for c in cols] for o in objects]
    cells = [[cell(v) for v in row] for row in raw]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(cols)]
    right = [_numeric([r[i] for r in raw]) for i in range(len(cols))]

    def line(parts: Sequence[str]) -> str:
        out = [p.rjust(w) if r else p.ljust(w) for p, w, r in zip(parts, widths, right,
                                                                  strict=True)]
        return " ".join(out).rstrip()

    head = [c.rjust(w) if r else c for c, w, r in zip(cols, widths, right, strict=True)]
    dash = [("-" * len(c)).rjust(w) if r else "-" * len(c)
            for c, w, r in zip(cols, widths, right, strict=True)]
    return "\n".join([line(head), line(dash), *(line(r) for r in cells)])


def listing(objects: Sequence[PSObject], props: Sequence[str] | None = None) -> str:
    """The objects as a PowerShell list (``Format-List``), one blank line between objects."""
    blocks = []
    for o in objects:
        cols = _columns([o], props)
        width = max((len(c) for c in cols), default=0)
        blocks.append("\n".join(f"{c:<{width}} : {cell(o.get(c))}".rstrip() for c in cols))
    return "\n\n".join(blocks)


def plain(value: Any) -> Any:
    """``value`` as plain JSON data (objects as dicts, tuples as lists, ``str`` subclasses
    such as a certificate as their text, whole floats as ints)."""
    if isinstance(value, PSObject):
        return {k: plain(v) for k, v in value.props.items()}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and type(value) is not str:
        return str.__str__(value)
    return value


def json_text(items: Sequence[Any]) -> str:
    """``ConvertTo-Json``: one object as an object, several as an array (2-space indent)."""
    value = plain(items[0]) if len(items) == 1 else plain(list(items))
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def render(items: Sequence[Any]) -> str:
    """What the console prints for a pipeline's output (the implicit ``Out-Default``).

    Consecutive objects of one type share a table; tables, lists and formatted text are
    set apart by a blank line, plain values print one per line.
    """
    chunks: list[tuple[str, bool]] = []  # (text, is a block)
    i = 0
    while i < len(items):
        item = items[i]
        if isinstance(item, PSObject):
            j = i
            while (j < len(items) and isinstance(items[j], PSObject)
                   and items[j].type_name == item.type_name):
                j += 1
            group = list(items[i:j])
            wide = item.view == "list" or (item.view == "auto"
                                           and len(_default_props(group)) > 4)
            chunks.append((listing(group) if wide else table(group), True))
            i = j
            continue
        if isinstance(item, Formatted):
            chunks.append((str(item), True))
        elif item is not None:
            chunks.append((cell(item), False))
        i += 1
    out = ""
    for n, (text, block) in enumerate(chunks):
        if n:
            out += "\n\n" if block or chunks[n - 1][1] else "\n"
        out += text
    return out
