"""Generated reference docs: one definition (the registries), many uses.

``python tools/docgen.py`` rewrites ``docs/verbs.md``, ``docs/faults.md``,
``docs/parameters.md``, ``docs/reasons.md`` and ``docs/powercli.md`` (every cmdlet's
parameters and output object, with the public page it follows or why it is assumed);
``tests/test_docs.py`` fails when a committed file differs from what the registries
produce, so the docs cannot drift.
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
from vtalab.training.pwsh.binding import SERVER, param_sets, params_of, usage
from vtalab.world.objects import OBJECT_TYPES
from vtalab.world.reference import registry_markdown
from vtalab.world.registry import VERBS, Verb

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
        "powercli.md": powercli_markdown(),
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


_PAGES = "https://developer.broadcom.com/powercli/latest/"
_CORE_NOUNS = ("VMHost", "VM", "VMHostService")


#: nouns of VMware.VimAutomation.Common (Get-Task, Wait-Task ...)
_COMMON_NOUNS = {"Task"}


def _command_page(entry: Verb) -> str:
    if entry.name.startswith("Invoke-"):
        return ("the VMware.Sdk.vSphere.vCenter.TrustedInfrastructure module "
                "(https://www.powershellgallery.com/packages/"
                "VMware.Sdk.vSphere.vCenter.TrustedInfrastructure)")
    noun = entry.name.split("-", 1)[1]
    module = ("vmware.vimautomation.core" if noun in _CORE_NOUNS
              else "vmware.vimautomation.common" if noun in _COMMON_NOUNS
              else "vmware.vimautomation.security")
    return f"{_PAGES}{module}/commands/{entry.name.lower()}"


def powercli_markdown() -> str:
    """docs/powercli.md: the lab's PowerCLI surface, generated from the registry."""
    lines = [
        "# The PowerCLI surface of the lab",
        "",
        "Generated from the registry by `python tools/docgen.py docs`; do not edit.",
        "",
        "Every cmdlet below takes the parameter names of `VMware.VimAutomation.Security` "
        "13.x / `VMware.VimAutomation.Core` and returns objects whose properties follow "
        "the published structure pages, in their order. A parameter not listed is "
        "rejected as PowerShell rejects it: `A parameter cannot be found that matches "
        "parameter name 'X'.` Names take any case and an unambiguous prefix. Every cmdlet "
        "also takes `-Server` (a connected vCenter, `$global:DefaultVIServers`); cmdlets "
        "that change something take `-Confirm` and `-WhatIf` (SupportsShouldProcess). "
        "`-WhatIf` binds and validates the parameters, prints PowerShell's `What if: "
        "Performing the operation \"Cmdlet\" on target \"Object\".` and changes nothing; "
        "`$WhatIfPreference = $true` does the same for every such cmdlet until set back. "
        "A cmdlet asks before it runs when its ConfirmImpact is at least "
        "`$ConfirmPreference` (default `High`; `None` never asks): in the interactive "
        "shell it prompts, in a scripted run (`vtalab train --commands`) it is refused "
        "unless given `-Confirm:$false`, as PowerShell does with `-NonInteractive`. "
        "ConfirmImpact is High where the table says so; a PowerCLI cmdlet that changes "
        "something is otherwise Medium, PowerShell's default (**assumed**: the reference "
        "pages do not publish ConfirmImpact).",
        "",
        "A cmdlet whose page publishes `-RunAsync` (its syntax line shows it) returns its "
        "Task object at once (`VMware.VimAutomation.Sdk.Types.V1.Task`: the vCenter "
        "Recent Task it started, or PowerCLI's client-side task when it starts none) while "
        "it runs on in simulated time; `Get-Task` lists the Recent Tasks of the connected "
        "vCenters and `Wait-Task -Task $task` (a shell command, as `Connect-VIServer`) "
        "lets time pass until the task ends and returns the cmdlet's result. An export "
        "whose page publishes `-Force` refuses to overwrite an existing file without it.",
        "",
        "`-Server` works as PowerCLI's Object-by-Name selection (VMware: \"Selecting "
        "Objects in PowerCLI\", docs.vmware.com/en/VMware-PowerCLI/latest/powercli/"
        "GUID-C876DC32-129C-4932-86C5-7B952A6FA881.html): a name or wildcard given to an "
        "object parameter or a Get- cmdlet's `-Name` is looked up on the vCenters "
        "`-Server` names only (the TA cluster and its hosts are on the TA vCenter; "
        "workload hosts, VMs and Trusted Clusters on the workload vCenter; a TA-side "
        "cmdlet's TrustAuthority* objects given by name, such as a base image or a key "
        "provider, on the TA vCenter; `Set-Cluster -Cluster` names either). A name that "
        "is not there is a non-terminating error and the cmdlet runs for the other names, "
        "as that page documents; the wording is **assumed** (PowerCLI's usual texts, not "
        "found on a public page): `Could not find VMHost with name 'esx-01'.`, and for a "
        "Get- filter `VMHost with name 'esx-01' was not found using the specified "
        "filter(s).`. A name that no vCenter has is the same OBN failure (with or without "
        "`-Server`: `Get-VMHost nosuch, esx-01` lists esx-01 and ends with the error; the "
        "lab adds the nearest name and the names there are in parentheses). An object "
        "given as an object (piped, a variable) keeps its own vCenter.",
        "",
        "In the pipeline, `-like` and a cmdlet's name filter take PowerShell's wildcards "
        "(`*`, `?`, `[a-c]`, a backtick escapes; any case), matched without a regular "
        "expression in at most pattern-length x name-length steps. `-match`/`-notmatch` "
        "take a regular expression (any case) that may run at most "
        "`MATCH_TIMEOUT_SECONDS` (1 s, **assumed**: PowerShell's own timeout is "
        "infinite); a pattern that backtracks longer, such as `(a|aa)+$`, ends the line "
        "with .NET's RegexMatchTimeoutException text (`The RegEx engine has timed out "
        "while trying to match a pattern to an input string. ...`) instead of holding "
        "the lab.",
        "",
        "A cmdlet with several published parameter sets shows one syntax line per set "
        "(the default set first) and a `Parameter set` column; parameters of two sets do "
        "not mix (`Parameter set cannot be resolved using the specified named "
        "parameters.`), and a positional value goes to the first set with a free slot, as "
        "PowerShell binds it.",
        "",
        "Where a public page was not found, the choice is marked **assumed** with the "
        "reason. A parameter marked mandatory must be given, as in PowerShell: in the "
        "interactive shell a command without it asks `Supply values for the following "
        "parameters:` (one line per value of an array parameter, `Name[0]:`, until an "
        "empty answer; an empty first answer aborts with `Cannot bind argument to "
        "parameter 'X' because it is an empty array.`), in a scripted run it is refused "
        "with `Cannot process command because of one or more missing mandatory "
        "parameters: X.` That includes `-TrustAuthorityCluster` wherever the reference "
        "marks it required (the lab has one TA cluster, but the command line does not "
        "guess it). Lab leniencies (documented, not invented surface): an object "
        "parameter also takes the object's name; scenario files reach the same verbs with "
        "snake_case arguments (the `argument` column; a scenario may leave the TA cluster "
        "out), including a few the command line does not offer (marked *scenario "
        "only*).",
        "",
        "## Contents",
        "",
    ]
    cmdlets = sorted((v for v in VERBS.values() if v.kind == "powercli"),
                     key=lambda v: (v.name.split("-", 1)[1], v.name))
    lines += [f"- [`{v.name}`](#{v.name.lower()})" for v in cmdlets]
    for v in cmdlets:
        source = v.source
        assumed = "assumed" in source.lower()
        lines += ["", f"## {v.name}", "", v.summary, "",
                  "```", usage(v), "```", ""]
        lines.append(f"- Follows: {_command_page(v)}"
                     + (f" — **assumed** in part: {source}" if assumed else f" ({source})"))
        if v.run_async:
            lines.append("- RunAsync: published; returns the Task at once")
        if v.confirm == "High":
            when = f" (when `{v.confirm_if}`)" if v.confirm_if else ""
            lines.append(f"- ConfirmImpact: High{when}: asks unless `-Confirm:$false`")
        sets = param_sets(v)
        several = len(sets) > 1
        lines += ["", "| Parameter | Type | Position | Pipeline | Mandatory | argument |"
                  + (" Parameter set |" if several else ""),
                  "|---|---|---|---|---|---|" + ("---|" if several else "")]
        for spec in params_of(v):
            if spec.field == SERVER:
                continue
            argument = (", ".join(f"`{f}` (from {p})" for f, p in spec.composite)
                        if spec.composite else (f"`{spec.field}`" if spec.field else
                                                "(context: the lab's TA cluster)"))
            mine = [st for st in sets if spec.field in st.fields]
            position = mine[0].position(spec.field) if mine else spec.position
            mandatory = bool(mine) and spec.field in mine[0].mandatory
            in_sets = ", ".join(st.name for st in mine) if len(mine) < len(sets) else "(all)"
            lines.append(f"| `-{spec.name}` | `{spec.type_name}` | "
                         f"{position if position is not None else 'named'} | "
                         f"{'yes' if spec.pipeline else ''} | "
                         f"{'yes' if mandatory else ''} | {argument} |"
                         + (f" {in_sets} |" if several else ""))
        shown = {s.field for s in params_of(v)}
        hidden = [f for f in v.args.model_fields if f not in shown
                  and not any(f == c for s in params_of(v) for c, _ in s.composite)]
        if hidden:
            lines.append("")
            lines.append("Scenario only: " + ", ".join(f"`{f}`" for f in hidden) + ".")
        if v.output is not None:
            t = OBJECT_TYPES[v.output]
            follows = t.source if t.source.startswith("assumed") else f"follows {t.source}"
            lines += ["", f"Output: `{t.name}` (`{t.full_name}`), {follows}.", "",
                      "| Property | Type | Shown by default |", "|---|---|---|"]
            lines += [f"| `{n}` | `{tp}` | {'yes' if n in t.display else ''} |"
                      for n, tp in t.properties]
            if t.omitted:
                lines += ["", "Left out (the lab has nothing meaningful for them): "
                          + ", ".join(f"`{o}`" for o in t.omitted) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    out = Path((argv or sys.argv[1:] or ["docs"])[0])
    for name, text in generate().items():
        (out / name).write_text(text, encoding="utf-8")
        print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
