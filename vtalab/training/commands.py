"""Running one line the operator typed against a world.

:func:`execute` parses the line (:mod:`.pwsh`), evaluates each statement's pipeline stage
by stage and returns a :class:`CommandResult`: the console text, whether everything
succeeded, the registry verbs and faults it performed and the reasons it was risky. A
stage is one of three kinds of command, looked up in this order:

* a **pipeline cmdlet** (``select``, ``where``, ``ft`` ...; :mod:`.filters`);
* a **shell command** for looking around and controlling time (``hosts``, ``tasks``,
  ``log``, ``advance``, ``wait-until``, ``help`` ...; :mod:`.lab`);
* an entry of the **registry**: a PowerCLI cmdlet, a lab verb or a fault, its PowerShell
  parameters bound onto the verb's arguments (:mod:`.binding`).

A verb runs the way PowerCLI runs a task: the world advances until the verb's process
ends (``world.perform``, then the SimPy environment runs until that process is
processed), so ``upgrade-host`` returns when the remediation is done and ``Start-VM``
when the VM is on or refused. A fault is injected and left to run (a ``-Duration`` heals
it later, while time moves on). A refusal by the simulated world is a value: an error
line and ``ok=False``; a request that cannot be made at all (unknown command, host,
parameter, syntax error) is an ``InputError`` turned into the same, with the nearest
valid spelling, and changes nothing. :func:`execute` never raises for bad input.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vtalab.core.kernel import EventLimitExceeded, format_time
from vtalab.errors import InputError, nearest
from vtalab.training import lab
from vtalab.training.esxi import run_line as esxi_line
from vtalab.training.pwsh import format as fmt
from vtalab.training.pwsh.binding import bind, changes, params_of
from vtalab.training.pwsh.filters import FILTERS
from vtalab.training.pwsh.operators import apply, number
from vtalab.training.pwsh.parser import (
    ArrayExpr,
    BinaryExpr,
    Command,
    Expr,
    HashLiteral,
    Number,
    Pipeline,
    PSObject,
    ScriptBlock,
    SubExpr,
    Value,
    VarRef,
    parse,
    property_of,
    subexpression_end,
)
from vtalab.training.pwsh.servers import NON_INTERACTIVE, connected, on_servers
from vtalab.training.risks import assess, forbidden_effects
from vtalab.world import registry
from vtalab.world.objects import make, object_type
from vtalab.world.verbs.tasks import task_id as task_id_of
from vtalab.world.verbs.tasks import task_object, vcenter_tasks

if TYPE_CHECKING:
    import simpy

    from vtalab.training.constraints import Forbid
    from vtalab.world.assembly import World
    from vtalab.world.registry import Outcome, Verb

__all__ = ["NON_INTERACTIVE", "AsyncTask", "CommandResult", "Run", "ShellState",
           "command_names",
           "confirm_question", "execute", "resolve"]

_CHOICES = ('[Y] Yes  [A] Yes to All  [N] No  [L] No to All  [S] Suspend  [?] Help '
            '(default is "Y"): ')


#: PowerShell's ConfirmImpact levels, lowest first ($ConfirmPreference takes the same names)
IMPACTS = ("None", "Low", "Medium", "High")
#: preference variables the shell honours, and the values PowerShell accepts for them
PREFERENCES: dict[str, tuple[str, ...]] = {"confirmpreference": IMPACTS,
                                           "whatifpreference": ("True", "False")}


def impact(entry: Verb, args: dict[str, Any]) -> str:
    """The ConfirmImpact ``entry`` runs with: the registry's (``High`` for destructive
    cmdlets, possibly only for one value: ``-State Disabled``); a PowerCLI cmdlet that
    changes something and declares nothing higher is ``Medium``, PowerShell's default for
    SupportsShouldProcess; lab verbs and Get- cmdlets never ask on their own."""
    if entry.confirms(args):
        return "High"
    if entry.kind == "powercli" and changes(entry):
        return "Medium"
    return "None"


def what_if(entry: Verb, target: str) -> str:
    """PowerShell's ShouldProcess line under ``-WhatIf``."""
    return f'What if: Performing the operation "{entry.name}" on target "{target}".'


def confirm_question(entry: Verb, target: str) -> str:
    """PowerShell's ShouldProcess prompt for ``entry`` on ``target``."""
    return ("\nConfirm\nAre you sure you want to perform this action?\n"
            f'Performing the operation "{entry.name}" on target "{target}".\n' + _CHOICES)

#: A verb still running after this much simulated time is left running (PowerCLI's
#: ``-RunAsync``); no verb of the registry takes anywhere near this long.
MAX_VERB_SECONDS = 30 * 86400.0
_NO_ITEM = object()
_EXPAND = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass
class ShellState:
    """What a shell session remembers between lines: ``$variables`` and the history; and
    what the exercise's goal forbids (judged as risky, see :mod:`.risks`)."""

    variables: dict[str, Any] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    forbid: tuple[Forbid, ...] = ()
    #: the host whose ESXi shell the session is in (``ssh root@HOST``), else ``None``
    esxi: str | None = None
    #: asks the operator a question and returns the answer (an interactive console);
    #: ``None``: non-interactive, so a cmdlet that must confirm is refused as PowerShell
    #: refuses it with ``-NonInteractive``
    prompt: Callable[[str], str] | None = None
    #: the vCenter Servers connected (``Connect-VIServer``; ``$global:DefaultVIServers``);
    #: ``None``: both of the lab's, as a session starts
    servers: list[str] | None = None
    #: the cmdlets started with ``-RunAsync``, by their Task's Id: the verb's process
    #: (``Wait-Task`` runs the world until it ends and returns its output)
    async_tasks: dict[str, AsyncTask] = field(default_factory=dict)


@dataclass
class AsyncTask:
    """A cmdlet started with ``-RunAsync``: its verb, its process, and the vCenter task it
    started (``None``: it started none; its Task is PowerCLI's client-side one)."""

    entry: Verb
    proc: simpy.Process
    vcenter: str | None
    key: str
    start: float


@dataclass(frozen=True)
class CommandResult:
    """What one line did.

    ``text`` is the console output (tables, messages, warnings); ``error`` the error
    lines (a refusal by the simulated world, or bad input with the nearest valid
    spelling), not repeated in ``text``: print ``text`` then ``error``. ``actions``
    names the registry verbs and faults performed (once per invocation, in order) and
    ``calls`` the same with their arguments; ``risky`` gives the reasons the line weakened
    trust, put VMs at risk or did what the goal forbids.
    """

    text: str
    ok: bool
    error: str | None = None
    actions: tuple[str, ...] = ()
    risky: tuple[str, ...] = ()
    calls: tuple[tuple[str, dict[str, Any]], ...] = ()


def _lab() -> Any:

    return lab


def command_names() -> list[str]:
    """Every command the shell knows (registry verbs and faults, shell commands,
    pipeline cmdlets), sorted case-insensitively; aliases not included."""
    names = [*registry.VERBS, *registry.FAULTS, *FILTERS, *_lab().SHELL]
    return sorted(dict.fromkeys(names), key=lambda n: (n.lower(), n))


def _aliases() -> dict[str, str]:
    out = {}
    for f in FILTERS.values():
        out.update({a.lower(): f.name for a in (f.name, *f.aliases)})
    for c in _lab().SHELL.values():
        out.update({a.lower(): c.name for a in (c.name, *c.aliases)})
    return out


def resolve(name: str) -> tuple[str, Any]:
    """``("filter"|"shell"|"verb", definition)`` for a command name or alias (any case).

    Order: pipeline cmdlets, shell command names, the registry, then shell aliases, so a
    registry cmdlet (``Get-VMHost``) wins over a shell alias of the same spelling.
    """
    low = name.lower()
    canonical = _aliases().get(low)
    if canonical in FILTERS:
        return "filter", FILTERS[canonical]
    shell = _lab().SHELL
    if canonical is not None and canonical.lower() == low:
        return "shell", shell[canonical]
    try:
        return "verb", registry.lookup(name)
    except InputError:
        pass
    if canonical is not None:
        return "shell", shell[canonical]
    choices = [*command_names(), *(a for a in _aliases() if a.isalpha() and len(a) > 2)]
    near = nearest(name, choices)
    raise InputError(f"the term {name!r} is not recognized as a cmdlet, lab command or "
                     "fault", hint=(f"did you mean {near[0]!r}? " if near else "")
                     + "('help' lists every command)")


class Run:
    """The evaluation of one line: the world, the session and what the line did."""

    def __init__(self, world: World, state: ShellState) -> None:
        self.world = world
        self.state = state
        self.actions: list[str] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.risky: list[str] = []
        self.console: list[str] = []
        self.errors: list[str] = []
        self.confirm_all: bool | None = None  #: [A] Yes to All / [L] No to All
        self.items: list[Any] = []  #: the ``$_`` of the script blocks being run

    def block(self, body: tuple[Any, ...], item: Any) -> list[Any]:
        """A script block's statements with ``$_`` = ``item``; their output."""
        self.items.append(item)
        try:
            return self.statements(body)
        finally:
            self.items.pop()

    def statements(self, body: Sequence[Any]) -> list[Any]:
        """Statements run in order: an assignment stores its value, the others' output is
        the result."""
        out: list[Any] = []
        for statement in body:
            items = self.pipeline(statement.pipeline)
            if statement.assign is not None:
                _assign(self.state, statement.assign, unwrap(items))
            else:
                out += items
        return out

    # -- values ------------------------------------------------------------------------------
    def variable(self, name: str) -> Any:
        low = name.lower().removeprefix("global:")
        if low in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[low]
        if low in ("defaultviservers", "defaultviserver"):
            servers = [PSObject("VIServer", {"Name": n, "Port": 443,
                                             "User": "administrator@vsphere.local"})
                       for n in connected(self.world, self.state)]
            return servers if low.endswith("s") else (servers[0] if servers else None)
        for key, value in self.state.variables.items():
            if key.lower() == low:
                return value
        names: list[str] = sorted(self.state.variables, key=str.lower)
        raise InputError(f"variable ${name} is not set", what="variable", value=name,
                         choices=names)

    def eval(self, expr: Expr, item: Any = _NO_ITEM) -> Any:
        if isinstance(expr, Value):
            return self.expand(expr.text, item) if expr.expand else expr.text
        if isinstance(expr, VarRef):
            if expr.name == "_":
                if item is _NO_ITEM and self.items:
                    item = self.items[-1]
                if item is _NO_ITEM:
                    raise InputError("$_ is only set inside Where-Object or ForEach-Object")
                value = item
            else:
                value = self.variable(expr.name)
            return _member(value, expr.path)
        if isinstance(expr, SubExpr):
            items = self.pipeline(expr.pipeline)
            return _member(items if expr.array else unwrap(items), expr.path)
        if isinstance(expr, ArrayExpr):
            return [self.eval(e, item) for e in expr.items]
        if isinstance(expr, Number):
            return number(expr.text)
        if isinstance(expr, BinaryExpr):
            return apply(expr.op, self.eval(expr.left, item), self.eval(expr.right, item))
        if isinstance(expr, HashLiteral):  # a script block value stays a block (a
            return {key: value if isinstance(value, ScriptBlock)  # calculated property's
                    else self.eval(value, item)  # Expression runs per object)
                    for key, value in expr.entries}
        if isinstance(expr, ScriptBlock):
            raise InputError("a script block { ... } is only understood by Where-Object")
        raise TypeError(f"not an expression: {expr!r}")  # pragma: no cover - parser bug

    def expand(self, text: str, item: Any = _NO_ITEM) -> str:
        """A double-quoted string's text with ``$var`` and ``$( ... )`` expanded, as
        PowerShell expands them: a variable's value (``"$h.Name"`` is the host and then
        ``.Name``: member access needs a subexpression), a subexpression's output (its
        statements run; several values joined by a space)."""
        out: list[str] = []
        i = 0
        while i < len(text):
            if text.startswith("$(", i):
                end = subexpression_end(text, i + 1)
                statements = parse(text[i + 2:end - 1])
                values = (self.statements(statements) if item is _NO_ITEM  # else $_ is item
                          else self.block(tuple(statements), item))
                out.append(" ".join(fmt.cell(v) for v in values))
                i = end
                continue
            found = _EXPAND.match(text, i)
            if found is not None:
                out.append(fmt.cell(self.eval(VarRef(found.group(1)), item)))
                i = found.end()
                continue
            out.append(text[i])
            i += 1
        return "".join(out)

    # -- pipelines -----------------------------------------------------------------------------
    def pipeline(self, pipe: Pipeline) -> list[Any]:
        items: list[Any] | None = None
        for stage in pipe.stages:
            if isinstance(stage, Command):
                items = self.command(stage, items)
            else:
                items = as_list(self.eval(stage))
        return items or []

    def command(self, cmd: Command, piped: list[Any] | None) -> list[Any]:
        kind, definition = resolve(cmd.name)
        if kind == "filter":
            return list(definition.run(self, cmd, piped or []))
        if kind == "shell":
            if piped is not None and not piped:
                # after a stage that output nothing, a cmdlet never processes a record
                # (Get-VMHost typo | Get-VM lists no VM, not every VM)
                return []
            return list(definition.run(self, cmd, piped))
        out: list[Any] = []
        for args in bind(self, definition, cmd, piped):
            out += self.perform(definition, args)
        return out

    # -- verbs -----------------------------------------------------------------------------------
    def perform(self, entry: Verb, args: dict[str, Any]) -> list[Any]:
        """Run one verb or fault (validated first); its output objects."""
        args = dict(args)
        confirm = args.pop("@confirm", None)
        whatif = args.pop("@whatif", None)
        server = args.pop("@server", None)
        run_async = bool(args.pop("@runasync", False))
        named_servers = self._check_server(entry, server) if entry.kind == "powercli" else None
        if whatif is None and entry.kind == "powercli" and changes(entry):
            whatif = self._preference("WhatIfPreference", "False") == "True"
        if whatif:
            # ShouldProcess under -WhatIf: the parameters bind and validate, the line says
            # what would happen, nothing runs (no task, no event, no risk).
            entry.parse(args)
            self.console.append(what_if(entry, self._target(entry, args)))
            return []
        level = self._preference("ConfirmPreference", "High")
        ask = confirm is True or (confirm is None and level != "None"
                                  and IMPACTS.index(impact(entry, args)) >= IMPACTS.index(level)
                                  and impact(entry, args) != "None")
        if ask and not self._should_process(entry, args):
            return []
        world = self.world
        risky = assess(world, entry.name, args, self.state.forbid)
        started = {vc.name: len(vc.tasks) for vc in (world.ta_vcenter, world.workload_vcenter)}
        proc = world.perform(entry.name, args)  # InputError here: nothing changed
        self.actions.append(entry.name)
        self.calls.append((entry.name, dict(args)))
        self.risky += [r for r in risky if r not in self.risky]
        env = world.kernel.env
        while not proc.processed and env.peek() <= env.now:
            env.step()  # the instant the verb started: its immediate effects
        if run_async:  # PowerCLI's -RunAsync: the Task at once, the verb runs on
            return [self._async_task(entry, proc, started)]
        if not proc.processed and entry.kind == "fault":
            self.console.append(f"{entry.name}: injected"
                                + (f"; heals after {fmt.cell(args['duration'])} s"
                                   if args.get("duration") is not None else ""))
            return []
        if not proc.processed:
            _run_until(world, proc)
        if not proc.processed:
            self.console.append(f"{entry.name}: still running after "
                                f"{MAX_VERB_SECONDS / 86400:g} days of simulated time")
            return []
        outcome = proc.value
        if not isinstance(outcome, registry.Outcome):  # as the scenario runner: a bare
            outcome = registry.Outcome(ok=True, output=outcome)  # value is a success
        shown = self._show(entry, outcome)
        if named_servers is not None and entry.name.startswith("Get-"):
            shown = on_servers(shown, named_servers)
        return shown

    def _async_task(self, entry: Verb, proc: simpy.Process,
                    started: dict[str, int]) -> PSObject:
        """The Task ``-RunAsync`` returns: the vCenter task the cmdlet started (visible in
        Recent Tasks and ``Get-Task``), as it is now; a cmdlet that starts no vCenter task
        gets PowerCLI's client-side task (assumed Id ``ClientSideTask-N``)."""
        world = self.world
        for vc in (world.ta_vcenter, world.workload_vcenter):
            if len(vc.tasks) > started[vc.name]:
                task = vc.tasks[started[vc.name]]
                obj = task_object(world, vc, task)
                self.state.async_tasks[obj["Uid"]] = AsyncTask(entry, proc, vc.name,
                                                               task.key, task.start)
                return PSObject("Task", obj, display=object_type("Task").display)
        clients = sum(1 for t in self.state.async_tasks.values() if t.vcenter is None)
        key = f"ClientSideTask-{clients + 1}"
        record = AsyncTask(entry, proc, None, key, world.kernel.now)
        obj = client_task(world, record)
        self.state.async_tasks[obj["Uid"]] = record
        return PSObject("Task", obj, display=object_type("Task").display)

    def wait_task(self, task_id: str, uid: str | None = None) -> list[Any]:
        """``Wait-Task``: run the world until the task (by its Uid, else its Id) ends; its
        result (the cmdlet's output), or its error as the cmdlet's error."""
        record = self.state.async_tasks.get(uid or "") or next(
            (r for u, r in self.state.async_tasks.items()
             if r.vcenter is None and r.key == task_id), None)
        world = self.world
        if record is None:  # a vCenter task this session did not start: wait for its end
            found = [(vc, t) for vc, t in vcenter_tasks(world)
                     if (uid is None and task_id_of(t) == task_id)
                     or task_object(world, vc, t)["Uid"] == uid]
            if not found:
                raise InputError(f"Wait-Task: no task with Id {task_id!r} (Get-Task lists "
                                 "them)", what="Task", value=task_id)
            vc, task = found[0]
            env = world.kernel.env
            deadline = env.now + MAX_VERB_SECONDS
            while task.status == "running" and env.peek() <= deadline:
                env.step()
            if task.status == "error":
                self.errors.append(f"Wait-Task: {task.name} on {task.target}: {task.error}")
            return []
        if not record.proc.processed:
            _run_until(world, record.proc)
        if not record.proc.processed:
            self.errors.append(f"Wait-Task: {record.entry.name} still running after "
                               f"{MAX_VERB_SECONDS / 86400:g} days of simulated time")
            return []
        outcome = record.proc.value
        if not isinstance(outcome, registry.Outcome):
            outcome = registry.Outcome(ok=True, output=outcome)
        return self._show(record.entry, outcome)

    def _check_server(self, entry: Verb, server: list[str] | None) -> list[str] | None:
        """The cmdlet runs on a connected vCenter: the ones ``-Server`` names (returned;
        the binder checked them), else the one that owns what it manages (the TA vCenter
        for TA objects ...)."""
        names = connected(self.world, self.state)
        if not names:
            raise InputError(f"{entry.name}: You are not currently connected to any servers. "
                             "Please connect first using a Connect cmdlet.",
                             hint="Connect-VIServer -Server " + self.world.ta_vcenter.name)
        if server is not None:  # checked by the binder, once for the cmdlet (check_servers)
            return list(server)
        need = {"ta": self.world.ta_vcenter.name,
                "workload": self.world.workload_vcenter.name}.get(entry.side)
        if need is not None and need not in names:
            raise InputError(f"{entry.name}: not connected to {need}, the vCenter Server "
                             "this cmdlet runs on", hint=f"Connect-VIServer -Server {need}")
        return None

    def _preference(self, name: str, default: str) -> str:
        """A preference variable (``$ConfirmPreference``, ``$WhatIfPreference``) as set in
        the session (validated when assigned), else PowerShell's default."""
        for key, value in self.state.variables.items():
            if key.lower() == name.lower():
                return _preference_value(name, value)
        return default

    @staticmethod
    def _target(entry: Verb, args: dict[str, Any]) -> str:
        """The object ShouldProcess names: the value of the cmdlet's object parameter (the
        one it takes from the pipeline or first by position), else the first value."""
        order = sorted(params_of(entry), key=lambda s: (not s.pipeline, s.position is None))
        fields = [s.field for s in order if s.field in args] + list(args)
        return next((fmt.cell(args[f]) for f in fields if args[f] is not None
                     and not isinstance(args[f], bool)), entry.name)

    def _should_process(self, entry: Verb, args: dict[str, Any]) -> bool:
        """PowerShell's confirmation: ask (interactive) or refuse (non-interactive)."""
        if self.confirm_all is not None:
            return self.confirm_all
        target = self._target(entry, args)
        if self.state.prompt is None:
            raise InputError(f"{entry.name}: {NON_INTERACTIVE}")
        while True:
            answer = (self.state.prompt(confirm_question(entry, target)) or "Y").strip()
            key = answer[:1].upper()
            if key in ("Y", "A", "N", "L"):
                break
            if key == "S":
                raise InputError(f"{entry.name}: Suspend is not available in the lab; "
                                 "answer Y or N")
            self.console.append("Y - Continue with only the next step of the operation. "
                                "A - Continue with all the steps of the operation. N - Skip "
                                "this operation and proceed with the next operation. L - Skip "
                                "this operation and all subsequent operations.")
        if key in ("A", "L"):
            self.confirm_all = key == "A"
        return key in ("Y", "A")

    def _show(self, entry: Verb, outcome: Outcome) -> list[Any]:
        if not outcome.ok:
            text = f"{entry.name}: {outcome.message or outcome.error}"
            if outcome.error and outcome.error not in text:
                text += f" ({outcome.error})"
            self.errors.append(text)
            return []
        rows = outcome.output
        if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
            if entry.output is not None:
                display = object_type(entry.output).display
                return [PSObject(entry.output, r, display=display) for r in rows]
            noun = entry.name.split("-", 1)[-1]
            return [PSObject(noun, r) for r in rows]
        if outcome.message:  # a console line (Write-Host), not a pipeline object
            self.console.append(outcome.message)
        return []


def client_task(world: World, record: AsyncTask) -> dict[str, Any]:
    """PowerCLI's Task object of a ``-RunAsync`` cmdlet that started no vCenter task."""
    done = record.proc.processed
    outcome = record.proc.value if done else None
    failed = isinstance(outcome, registry.Outcome) and not outcome.ok
    return make("Task", Description=record.entry.name,
                FinishTime=world.kernel.utc(record.start).isoformat() if done else None,
                Id=record.key,
                IsCancelable=False, Name=record.entry.name, ObjectId=None,
                PercentComplete=100 if done else 0, Result=None,
                StartTime=world.kernel.utc(record.start).isoformat(),
                State="Error" if failed else "Success" if done else "Running",
                Uid=f"/Task={record.key}/")


def _run_until(world: World, proc: simpy.Process) -> None:
    env = world.kernel.env
    deadline = env.timeout(MAX_VERB_SECONDS)
    env.run(until=env.any_of([proc, deadline]))


def _member(value: Any, path: tuple[str | int, ...]) -> Any:
    """PowerShell's member access on a value: ``.Prop`` (with member enumeration over an
    array) and ``[index]``, left to right."""
    for step in path:
        value = property_of(value, step) if isinstance(step, str) else _index(value, step)
    return value


def _index(value: Any, index: int) -> Any:
    items = value if isinstance(value, list) else [value]
    try:
        return items[index]
    except IndexError:
        return None


def as_list(value: Any) -> list[Any]:
    """A value as pipeline items (``$null`` is no item, an array its members)."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def unwrap(items: list[Any]) -> Any:
    """Pipeline output as PowerShell stores it: ``$null``, one object, or an array."""
    if not items:
        return None
    return items[0] if len(items) == 1 else list(items)


def execute(world: World, line: str, state: ShellState) -> CommandResult:
    """Run one line; never raises for bad input (see the module docstring)."""
    if line.strip():
        state.history.append(line)
    run = Run(world, state)
    since = len(world.kernel.trace)
    try:
        with world.kernel.bounded():  # one line: at most MAX_EVENTS_PER_RUN events
            if state.esxi is not None:  # an ESXi shell line, not PowerShell
                run.console += [str(x) for x in esxi_line(run, state.esxi, line)]
                raise _Done
            for statement in parse(line):
                items = run.pipeline(statement.pipeline)
                if statement.assign is not None:
                    _assign(state, statement.assign, unwrap(items))
                else:
                    run.console.append(fmt.render(items))
    except EventLimitExceeded as exc:
        run.errors.append(f"stopped at {format_time(exc.now)}: one command may process at "
                          f"most {exc.limit:,} simulation events (MAX_EVENTS_PER_RUN); the "
                          "world stays where it stopped. Let time pass in shorter steps")
    except InputError as exc:
        run.errors.append(str(exc))
    except _Done:
        pass
    if state.forbid:  # what the line caused, whatever way it took (a reboot, a power loss)
        trace = world.kernel.trace
        caused = forbidden_effects(world, state.forbid,
                                   (trace[i] for i in range(since, len(trace))))
        run.risky += [r for r in caused if r not in run.risky]
    text = "\n".join(t for t in run.console if t)
    return CommandResult(text, not run.errors, "\n".join(run.errors) or None,
                         tuple(run.actions), tuple(run.risky), tuple(run.calls))


class _Done(Exception):
    """The line was handled (an ESXi shell line)."""


def _preference_value(name: str, value: Any) -> str:
    """``value`` as the preference variable ``name`` holds it (``High``, ``True``), or
    PowerShell's conversion error naming the valid values."""
    choices = PREFERENCES[name.lower()]
    text = "True" if value is True else "False" if value is False else fmt.cell(value)
    match = next((c for c in choices if c.lower() == text.strip().lower()), None)
    if match is None:
        if choices is IMPACTS:
            raise InputError(f'Cannot convert value "{text}" to type "System.Management.'
                             'Automation.ConfirmImpact". Error: "Unable to match the '
                             f'identifier name {text} to a valid enumerator name. Specify one '
                             'of the following enumerator names and try again: '
                             + ", ".join(IMPACTS) + '"', what=f"${name}", value=text)
        raise InputError(f'Cannot convert the "{text}" value of type "System.String" to type '
                         '"System.Management.Automation.SwitchParameter".',
                         what=f"${name}", value=text, hint="$true or $false")
    return match


def _assign(state: ShellState, name: str, value: Any) -> None:
    name = name.split(":", 1)[1] if name.lower().startswith(("global:", "script:")) else name
    if name == "_" or name.lower() in ("true", "false", "null", "defaultviservers",
                                       "defaultviserver"):
        raise InputError(f"${name} is a built-in variable and cannot be assigned")
    if name.lower() in PREFERENCES:
        _preference_value(name, value)  # refused as PowerShell refuses it: nothing set
    for key in list(state.variables):
        if key.lower() == name.lower():
            del state.variables[key]
    state.variables[name] = value
