"""Generated reference docs: one definition (the registries), many uses.

``python tools/docgen.py`` rewrites ``docs/verbs.md``, ``docs/faults.md``,
``docs/parameters.md`` and ``docs/reasons.md``; ``tests/test_docs.py`` fails when a
committed file differs from what the registries produce, so the docs cannot drift.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from vtalab.analysis.strategies import strategies_markdown
from vtalab.core.parameters import parameters_markdown
from vtalab.domain.reasons import reasons_markdown
from vtalab.invariants import invariants_markdown
from vtalab.scenario.golden import library_markdown
from vtalab.world.reference import registry_markdown

__all__ = ["generate"]


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
        "logs.md": logs_markdown(),
    }


# -- docs/logs.md: the log texts, read from the code that writes them ----------------------

PACKAGE = Path(__file__).resolve().parent.parent / "vtalab"
#: ``self.log(...)`` / ``vc.log(...)`` helpers and the log file they write.
_LOG_HELPERS = {"Kmxa": "kmxa.log", "VCenter": "vpxd.log"}


def _text(node: ast.expr) -> str:
    """A message as written: literal text, ``{expr}`` for interpolations, ``<expr>`` for a
    text computed elsewhere."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(str(v.value) if isinstance(v, ast.Constant) else
                       "{" + ast.unparse(v.value) + "}"  # type: ignore[attr-defined]
                       for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _text(node.left) + _text(node.right)
    return f"<{ast.unparse(node)}>"


def _log_calls(path: Path) -> list[tuple[str, str, str, str]]:
    """(log file, level, text, where) for every log line ``path`` writes."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    rel = path.relative_to(PACKAGE.parent).as_posix()

    assigned: dict[str, ast.expr] = {}  # name -> the text last assigned to it (per function)

    def message(node: ast.expr) -> str:
        if isinstance(node, ast.Name) and node.id in assigned:
            return _text(assigned[node.id])
        return _text(node)

    def visit(node: ast.AST, cls: str, fn: str) -> None:
        for child in ast.iter_child_nodes(node):
            c, f = cls, fn
            if isinstance(child, ast.ClassDef):
                c = child.name
            elif isinstance(child, ast.FunctionDef):
                f = child.name
                assigned.clear()
            if (isinstance(child, ast.Assign) and len(child.targets) == 1
                    and isinstance(child.targets[0], ast.Name)
                    and isinstance(child.value, ast.JoinedStr | ast.Constant | ast.BinOp)):
                assigned[child.targets[0].id] = child.value
            if isinstance(child, ast.Call) and f != "log":
                func = child.func
                name = func.attr if isinstance(func, ast.Attribute) else (
                    func.id if isinstance(func, ast.Name) else "")
                owner = ast.unparse(func.value) if isinstance(func, ast.Attribute) else ""
                level = next((_text(k.value) for k in child.keywords if k.arg == "level"),
                             "info")
                level = level if level.isalpha() else "info/error"
                if name == "log" and len(child.args) >= 3:
                    out.append((_text(child.args[1]), level, message(child.args[2]),
                                f"{rel}:{f}"))
                elif name == "log" and child.args and (owner in ("self", "vc")):
                    log = _LOG_HELPERS.get(c, "vpxd.log" if owner == "vc" else "")
                    if log:
                        out.append((log, level, message(child.args[0]), f"{rel}:{f}"))
                elif name == "append" and owner == "log" and rel.endswith("key_provider.py"):
                    # kmxd's lines, collected in KeyRelease.log and written to kmxd.log
                    out.append(("kmxd.log", "info/error", message(child.args[0]),
                                f"{rel}:{f}"))
            visit(child, c, f)

    visit(tree, "", "")
    return out


def logs_markdown() -> str:
    """``docs/logs.md``: every line the simulated hosts and vCenters log, as the code
    writes it (``{...}`` is filled in at run time; ``<...>`` is a text built elsewhere,
    e.g. a reason code's message from docs/reasons.md)."""
    rows = sorted({r for p in sorted(PACKAGE.rglob("*.py")) for r in _log_calls(p)
                   if not (r[0] == "kmxd.log" and r[2].startswith("<"))})  # listed as built
    lines = ["# Log texts", "",
             "Generated by `python tools/docgen.py` from the code that writes each line; do "
             "not edit by hand. A line reads `<ISO time> <level> <daemon>: <text>`; `{...}` is "
             "filled in at run time, `<...>` is a text built elsewhere (a reason code's "
             "message is in [reasons.md](reasons.md)). Scenario log checks match a part of "
             "the line (`contains:`) and can address it by its simulated time "
             "(`logged_at:`, `between:`). None of these texts is VMware's: the real daemons' "
             "wording is not public.", ""]
    for log in sorted({r[0] for r in rows}):
        lines += [f"## {log}", "", "| level | text | written by |", "|---|---|---|"]
        for _, level, text, where in (r for r in rows if r[0] == log):
            shown = text.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {level} | `{shown}` | `{where}` |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    out = Path((argv or sys.argv[1:] or ["docs"])[0])
    for name, text in generate().items():
        (out / name).write_text(text, encoding="utf-8")
        print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
