"""The generated reference of the verb and fault registries (``docs/verbs.md``,
``docs/faults.md``, ``vtalab verbs --markdown``): one renderer, so the docs and the
command cannot disagree.
"""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any, Literal

from vtalab.core.simtime import parse_time
from vtalab.world.registry import FAULTS, VERBS, Verb

__all__ = ["registry_markdown"]


def _type_text(tp: Any) -> str:
    """A type as a reader wants it: ``time | None``, ``'auto' | 'full'``, ``list[str]``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is type(None):
        return "None"
    if origin is Annotated:  # a simulated time reads "time"; other metadata is noise
        validators = [getattr(m, "func", None) for m in args[1:]]
        return "time" if parse_time in validators else _type_text(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(sorted((_type_text(a) for a in args), key=lambda t: t == "None"))
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin is not None and args:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(_type_text(a) for a in args)}]"
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _args(entry: Verb) -> str:
    parts = []
    for name, field in entry.args.model_fields.items():
        ann = _type_text(field.annotation)
        req = "" if field.is_required() else f" = {field.default!r}"
        parts.append(f"`{name}: {ann}{req}`".replace("|", "\\|"))
    return ", ".join(parts) or "—"


def registry_markdown(kind: str) -> str:
    """The reference of every verb (``kind="verbs"``) or fault (``kind="faults"``)."""
    table = VERBS if kind == "verbs" else FAULTS
    title = "Verbs" if kind == "verbs" else "Faults"
    lines = [f"# {title}", "",
             "Generated from `vtalab/world/verbs/` and `vtalab/world/faults.py` by "
             "`python tools/docgen.py`; do not edit by hand.", ""]
    if kind == "verbs":
        lines += ["PowerCLI cmdlets keep VMware's spelling; lab verbs (lower case) stand for "
                  "what happens outside PowerCLI. Arguments are snake_case.", ""]
        lines += ["| verb | kind | arguments | what it does | source |", "|---|---|---|---|---|"]
        for entry in sorted(table.values(), key=lambda e: (e.kind != "powercli", e.name)):
            lines.append(f"| `{entry.name}` | {entry.kind} | {_args(entry)} | {entry.summary} "
                         f"| {entry.source} |")
    else:
        lines += ["| fault | stands for | arguments | what it does | source |",
                  "|---|---|---|---|---|"]
        for entry in sorted(table.values(), key=lambda e: e.name):
            lines.append(f"| `{entry.name}` | {entry.stands_for} | {_args(entry)} | "
                         f"{entry.summary} | {entry.source} |")
    return "\n".join(lines) + "\n"
