"""``help`` and tab completion, both read from the same definitions the shell runs.

Help for a registry verb is its summary, a synopsis with the PowerShell parameters
derived from its argument model (:mod:`.binding`), each argument's description, and the
document it comes from; for shell commands and pipeline cmdlets their own usage lines.
Nothing is written twice, so help cannot drift from what the shell accepts.

Completion (:func:`complete`) works on the text before the cursor: the first word of a
pipeline stage completes to command names (and ``$variables``), ``-`` to the parameters
of the current command, ``$`` to the session's variables, and a value to what fits the
parameter before it: ``-VMHost`` host names, ``-VM`` VM names, ``-FilePath`` exported
files, ``-VMHostBaseImage`` trusted base-image versions, ``-Release`` ESXi releases,
choices of a ``Literal``, ``$true``/``$false`` for a switch; positional values of shell
commands likewise (``log HOST LOG``, ``wait-until CONDITION TARGET STATE``). Names with
blanks are offered quoted (``'8.0 U2'``). Candidates are sorted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vtalab.esxi.releases import RELEASES
from vtalab.scenario.expect import LOG_NAMES
from vtalab.training.commands import ShellState, command_names, resolve
from vtalab.training.lab import CONDITIONS, SHELL, install_help
from vtalab.training.pwsh.binding import params_of, usage, value_hint
from vtalab.training.pwsh.filters import FILTERS
from vtalab.world import registry

if TYPE_CHECKING:
    from vtalab.world.assembly import World

__all__ = ["complete", "help_text"]

_KIND_TITLE = {"powercli": "PowerCLI cmdlets", "lab": "Lab verbs (what happens outside "
               "PowerCLI: vLCM, SSH/DCUI, the hardware)", "fault": "Faults (what the world "
               "does to the estate; the trainer's tools)"}


def _rows(pairs: list[tuple[str, str]]) -> list[str]:
    width = max((len(n) for n, _ in pairs), default=0)
    return [f"  {n:<{width}}  {s}" for n, s in pairs]


def help_text(command: str | None = None) -> str:
    """The list of every command, or the help of one (``InputError`` if unknown)."""
    if command is None:
        return _overview()
    kind, d = resolve(command)
    if kind == "verb":
        return _verb_help(d)
    aliases = f"   (alias: {', '.join(d.aliases)})" if d.aliases else ""
    lines = [f"{d.name}{aliases}", f"  {d.summary}", "", f"Usage: {d.usage}"]
    if kind == "shell" and d.name == "wait-until":
        lines += ["", "Conditions:"] + _rows([
            (c, f"{target.upper()}" + (" " + "|".join(states) if states else ""))
            for c, (_, target, states) in CONDITIONS.items()])
    if kind == "shell" and d.name == "log":
        lines += ["", "Logs: " + ", ".join(LOG_NAMES)]
    if kind == "filter" and d.params:
        lines += ["", "Parameters: " + " ".join(f"-{p}" for p in d.params)]
    return "\n".join(lines)


install_help(help_text)


def _overview() -> str:
    lines = []
    for kind, table in (("powercli", registry.VERBS), ("lab", registry.VERBS),
                        ("fault", registry.FAULTS)):
        entries = sorted((e for e in table.values() if e.kind == kind),
                         key=lambda e: e.name.lower())
        lines += [_KIND_TITLE[kind]] + _rows([(e.name, e.summary) for e in entries]) + [""]
    lines += ["Looking around and controlling time"]
    lines += _rows([(c.name + (f" ({', '.join(c.aliases)})" if c.aliases else ""), c.summary)
                    for c in SHELL.values()]) + [""]
    lines += ["Pipeline cmdlets"]
    lines += _rows([(f.name + (f" ({', '.join(f.aliases)})" if f.aliases else ""), f.summary)
                    for f in FILTERS.values()]) + [""]
    lines += ["PowerShell as in a runbook: $vTA = Get-TrustAuthorityCluster; "
              "Get-TrustAuthorityVMHostBaseImage $vTA | select *;",
              "$bm | where Version -eq '8.0.1-21495797'; -Param:$false; ( ) around a "
              "sub-pipeline.",
              "'help COMMAND' shows a command's parameters; Tab completes commands, "
              "-parameters, names and $variables."]
    return "\n".join(lines)


def _verb_help(entry: registry.Verb) -> str:
    kind = {"powercli": "PowerCLI cmdlet", "lab": "lab verb", "fault": "fault"}[entry.kind]
    lines = [f"{entry.name}   ({kind})", f"  {entry.summary}"]
    if entry.stands_for:
        lines.append(f"  Stands for: {entry.stands_for}")
    lines += ["", f"Usage: {usage(entry)}"]
    specs = params_of(entry)
    if specs:
        lines += ["", "Parameters:"]
        rows = []
        for s in specs:
            value = value_hint(s)
            notes = ["required" if s.required else "optional"]
            if s.description:
                notes.append(s.description.rstrip("."))
            others = [sp for sp in s.spellings if sp != s.name]
            if others:
                notes.append("also " + ", ".join(f"-{o}" for o in others))
            rows.append((f"-{s.name}{value}", "; ".join(notes)))
        if entry.run_async:
            rows.append(("-RunAsync", "optional; return the Task at once instead of waiting "
                         "for the cmdlet to finish (Get-Task, Wait-Task)"))
        lines += _rows(rows)
    if entry.task:
        lines += ["", f"Recent Tasks: {entry.task}"]
    if entry.source:
        lines += ["", f"Source: {entry.source}"]
    return "\n".join(lines)


# -- completion --------------------------------------------------------------------------------
def _split(prefix: str) -> list[str]:
    """Words of the current pipeline stage (quotes respected, a quote left open kept)."""
    words: list[str] = []
    cur = ""
    quote = None
    for c in prefix:
        if quote:
            cur += c
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
            cur += c
        elif c in "|;(){}":
            words, cur = [], ""
        elif c in " \t":
            if cur:
                words.append(cur)
            cur = ""
        else:
            cur += c
    if cur:
        words.append(cur)
    return words


def _quoted(name: str) -> str:
    return f"'{name}'" if any(c in name for c in " \t,;|(){}") else name


def _values(world: World, kind: str, state: ShellState) -> list[str]:
    if kind in ("vmhost", "host", "destination"):
        return list(world.hosts)
    if kind == "vm":
        return list(world.vms)
    if kind == "file":
        return [f for f in world.files if not f.startswith("__")]
    if kind == "version":
        return [b["version"] for b in world.base_images()]
    if kind == "release":
        return [r.name for r in RELEASES]
    if kind == "cluster":
        return list(world.trusted_clusters)
    if kind == "ta_cluster":
        return [world.ta_cluster.name]
    if kind == "service":
        return ["attestd", "kmxa", "kmxd"]
    if kind == "log":
        return list(LOG_NAMES)
    if kind == "log_host":
        return [*world.hosts, world.ta_vcenter.name, world.workload_vcenter.name]
    if kind == "condition":
        return list(CONDITIONS)
    if kind == "command":
        return command_names()
    if kind == "bool":
        return ["$true", "$false"]
    if kind.startswith("choices:"):
        return kind[len("choices:"):].split("|")
    return []


def _verb_value_kind(entry: registry.Verb, words: list[str]) -> str | None:
    specs = params_of(entry)
    prev = words[-1] if len(words) > 1 else ""
    spec = None
    if prev.startswith("-"):
        low = prev[1:].split(":")[0].lower()
        spec = next((s for s in specs if any(sp.lower() == low for sp in s.spellings)), None)
        if spec is None:
            return None
    else:
        used = {s.field for s in specs for w in words[1:] if w.startswith("-")
                and any(sp.lower() == w[1:].lower() for sp in s.spellings)}
        count = sum(1 for i, w in enumerate(words[1:], 1)
                    if not w.startswith("-") and not words[i - 1].startswith("-"))
        free = [s for s in specs if s.field and s.field not in used and not s.switch]
        if count >= len(free):
            return None
        spec = free[count]
    if spec.choices:
        return "choices:" + "|".join(spec.choices)
    if spec.switch:
        return "bool"
    if spec.field in ("", "name") and "TrustAuthorityCluster" in spec.spellings:
        return "ta_cluster"
    return spec.field


def _shell_value_kind(cmd: Any, words: list[str]) -> str | None:
    positional = [w for i, w in enumerate(words[1:], 1)
                  if not w.startswith("-") and not words[i - 1].startswith("-")]
    if words[-1].startswith("-") and len(words) > 1:
        return None
    n = len(positional)
    if n >= len(cmd.positional):
        return None
    kind = cmd.positional[n]
    if cmd.name == "log" and kind == "host":
        return "log_host"
    if cmd.name == "wait-until" and n >= 1:
        cond = next((c for c in CONDITIONS if c.lower() == positional[0].lower()), None)
        if cond is None:
            return None
        _, target, states = CONDITIONS[cond]
        return target if kind == "target" else ("choices:" + "|".join(states) if states
                                                else None)
    return kind


def complete(world: World, state: ShellState, text: str, line: str) -> list[str]:
    """Completions of ``text``, the word ending ``line`` (the buffer up to the cursor)."""
    prefix = line[:len(line) - len(text)] if line.endswith(text) else line
    words = _split(prefix)
    if words and words[0].startswith("$") and len(words) >= 2 and words[1] == "=":
        words = words[2:]
    if text.startswith("$"):
        candidates = [f"${v}" for v in state.variables] + ["$true", "$false", "$null"]
        return _match(candidates, text)
    if not words:
        aliases = [a for a in [*(a for c in SHELL.values() for a in c.aliases),
                               *(a for c in FILTERS.values() for a in c.aliases)]
                   if len(a) > 1]
        return _match([*command_names(), *aliases], text)
    try:
        kind, d = resolve(words[0])
    except Exception:  # noqa: BLE001 - an unknown command completes to nothing
        return []
    if text.startswith("-"):
        if kind == "verb":
            names = [s.name for s in params_of(d)] + (["RunAsync"] if d.run_async else [])
        elif kind == "filter":
            names = list(d.params)
        else:
            names = [*d.params, *d.switches]
        return _match([f"-{n}" for n in names], text)
    value_kind = (_verb_value_kind(d, [*words]) if kind == "verb"
                  else _shell_value_kind(d, words) if kind == "shell" else None)
    if value_kind is None:
        return []
    return _match([_quoted(v) for v in _values(world, value_kind, state)], text)


def _match(candidates: list[str], text: str) -> list[str]:
    bare = text.lstrip("'\"").lower()
    out = dict.fromkeys(c for c in candidates if c.lstrip("'\"").lower().startswith(bare))
    return sorted(out, key=lambda c: (c.lower(), c))
