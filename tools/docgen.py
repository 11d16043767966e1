"""Generated reference docs: one definition (the registries), many uses.

``python tools/docgen.py`` rewrites ``docs/verbs.md``, ``docs/faults.md``,
``docs/parameters.md`` and ``docs/reasons.md``; ``tests/test_docs.py`` fails when a
committed file differs from what the registries produce, so the docs cannot drift.
"""

from __future__ import annotations

import sys
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from vtalab.analysis.invariants import invariants_markdown
from vtalab.analysis.strategies import strategies_markdown
from vtalab.core.parameters import parameters_markdown
from vtalab.core.simtime import parse_time
from vtalab.domain.reasons import reasons_markdown
from vtalab.scenario.golden import library_markdown
from vtalab.world.registry import FAULTS, VERBS, Verb, _load

__all__ = ["generate", "registry_markdown"]


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
    _load()
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


def generate() -> dict[str, str]:
    """File name (under ``docs/``) → generated text."""
    return {
        "verbs.md": registry_markdown("verbs"),
        "faults.md": registry_markdown("faults"),
        "parameters.md": parameters_markdown(),
        "reasons.md": reasons_markdown(),
        "scenarios.md": library_markdown(),
        "invariants.md": invariants_markdown(),
        "strategies.md": strategies_markdown(),
    }


def main(argv: list[str] | None = None) -> int:
    out = Path((argv or sys.argv[1:] or ["docs"])[0])
    for name, text in generate().items():
        (out / name).write_text(text, encoding="utf-8")
        print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
