"""The ESXi shell a trainee reaches with ``ssh root@HOST``, as the seed's procedures need it.

Operators find out on the host itself what vCenter and PowerCLI do not show: whether the
last boot was a Quick Boot (``vsish -e get /system/loadESX/isBootLoadESX``,
``/var/log/loadESX.log``), how the trusted-host daemon is doing (``/etc/init.d/kmxa
status``, ``/var/log/kmxa.log``) and which ESXi runs (``esxcli system version get``); and
restart kmxa there, the only place a trusted host's vTA service can be restarted (seed,
"starting and stopping vTA services"). ``exit`` returns to the PowerCLI prompt.

Commands (everything else answers ``-sh: CMD: not found``, as the ESXi busybox shell):

* ``vsish -e get /system/loadESX/isBootLoadESX`` -- ``1`` after a Quick Boot, else ``0``;
* ``/etc/init.d/SERVICE status|start|stop|restart`` -- the host's vTA daemons (kmxa on
  trusted hosts; attestd and kmxd on TA hosts); changes go through the registry's
  ``host-service`` verb, so they are logged, judged and replayed like any command;
* ``cat FILE``, ``tail [-n N] FILE``, ``grep [-i] [-v] PATTERN FILE`` for
  ``/var/log/*.log``; ``ls /var/log``;
* ``esxcli system version get``; ``hostname``; ``exit`` / ``logout``;
* pipes into ``grep``, ``tail`` and ``cat`` (``cat /var/log/kmxa.log | grep -i error |
  tail -n 5``): a ``|`` outside quotes ends a stage. grep matches a fixed string (as
  ``grep -F``): a log line is matched in linear time whatever the pattern.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from vtalab.errors import InputError
from vtalab.world import registry

if TYPE_CHECKING:
    from vtalab.training.commands import Run

__all__ = ["ISBOOTLOADESX", "LOG_DIR", "banner", "check_line", "prompt", "run_line"]

ISBOOTLOADESX = "/system/loadESX/isBootLoadESX"
LOG_DIR = "/var/log/"
#: logs an ESXi host keeps for this work (vpxd.log lives on vCenter, not here)
HOST_LOGS = ("attestd.log", "esxupdate.log", "kmxa.log", "kmxd.log", "loadESX.log")
_COMMANDS = ("vsish", "cat", "tail", "grep", "ls", "esxcli", "hostname", "exit", "logout")
_ACTIONS = ("status", "start", "stop", "restart")


def prompt(host: str) -> str:
    return f"[root@{host}:~] "


def banner(host: str) -> str:
    return ("The time and date of this login have been sent to the system logs.\n\n"
            "WARNING:\n   All commands run on the ESXi shell are logged and may be included "
            "in\n   support bundles. Do not provide passwords directly on the command "
            "line.\n   Most tools can prompt for secrets or accept them from standard "
            "input.\n\n(lab) 'exit' returns to the PowerCLI prompt.")


def _words(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise InputError(f"-sh: syntax error: {exc}") from None


def _stages(line: str) -> list[list[str]]:
    """The words of each stage of ``line`` (split at every ``|`` outside quotes)."""
    parts: list[str] = []
    start, quote = 0, ""
    for i, c in enumerate(line):
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "|":
            parts.append(line[start:i])
            start = i + 1
    parts.append(line[start:])
    stages = [_words(part) for part in parts]
    if len(stages) > 1 and not all(stages):
        raise InputError('-sh: syntax error: unexpected "|"')
    return stages


#: the commands that read a pipe (``... | grep X | tail -n 5``)
_FILTERS = ("grep", "tail", "cat")


def _grep_args(args: list[str]) -> tuple[str, set[str], list[str]]:
    """``grep [-i] [-v] PATTERN [FILE]``: the pattern, the flags and the rest."""
    flags: set[str] = set()
    rest = list(args)
    while rest and rest[0].startswith("-") and len(rest[0]) > 1:
        opt = rest.pop(0)
        if opt == "--":
            break
        for f in opt[1:]:
            if f not in "iv":
                raise InputError(f"grep: invalid option -- '{f}'",
                                 hint="usage: grep [-i] [-v] PATTERN [FILE]")
            flags.add(f)
    if not rest:
        raise InputError("usage: grep [-i] [-v] PATTERN [FILE]")
    return rest[0], flags, rest[1:]


def _grep(lines: list[Any], pattern: str, flags: set[str]) -> list[Any]:
    fold = "i" in flags
    needle = pattern.lower() if fold else pattern
    keep = "v" not in flags
    return [x for x in lines if (needle in (str(x).lower() if fold else str(x))) == keep]


def _tail_args(args: list[str]) -> tuple[int, list[str]]:
    n = 10
    rest = list(args)
    if rest and rest[0] == "-n" and len(rest) >= 2:
        n, rest = _count(rest[1]), rest[2:]
    elif rest and rest[0].startswith("-") and rest[0][1:].isdigit():
        n, rest = int(rest[0][1:]), rest[1:]
    return n, rest


def _tail(lines: list[Any], n: int) -> list[Any]:
    return lines[len(lines) - n:] if n else []


def _lines(out: list[Any]) -> list[Any]:
    """A stage's output as the lines the next stage reads."""
    return [line for item in out for line in str(item).split("\n")]


def check_line(line: str) -> None:
    """Raise ``InputError`` if ``line`` cannot be run on an ESXi shell at all."""
    stages = _stages(line)
    for words in stages[1:]:
        if words[0] not in _FILTERS:
            if words[0] in _COMMANDS:
                raise InputError(f"-sh: {words[0]} does not read a pipe in the lab",
                                 what="command", value=words[0], choices=_FILTERS)
            raise InputError(f"-sh: {words[0]}: not found", what="command",
                             value=words[0], choices=_FILTERS)
    words = stages[0]
    if not words:
        return
    cmd = words[0]
    if cmd.startswith("/etc/init.d/"):
        if len(words) != 2 or words[1] not in _ACTIONS:
            raise InputError(f"usage: {cmd} {{{'|'.join(_ACTIONS)}}}")
        return
    if cmd not in _COMMANDS:
        raise InputError(f"-sh: {cmd}: not found", what="command", value=cmd,
                         choices=[*_COMMANDS, "/etc/init.d/kmxa"])


def _log_name(run: Run, host: str, path: str) -> str:
    name = path[len(LOG_DIR):] if path.startswith(LOG_DIR) else path
    if name not in HOST_LOGS or "/" in name:
        raise InputError(f"{path}: No such file or directory", what="file", value=path,
                         choices=[LOG_DIR + n for n in HOST_LOGS])
    return name


def run_line(run: Run, host: str, line: str) -> list[Any]:
    """Run one ESXi shell line on ``host``; its output lines (``InputError`` for errors)."""
    check_line(line)
    stages = _stages(line)
    out = _run_words(run, host, stages[0])
    for words in stages[1:]:
        lines = _lines(out)
        cmd, args = words[0], words[1:]
        if cmd == "grep":
            pattern, flags, files = _grep_args(args)
            if files:  # grep reads its FILE, not the pipe
                out = _run_words(run, host, words)
                continue
            out = _grep(lines, pattern, flags)
        elif cmd == "tail":
            n, files = _tail_args(args)
            if len(files) > 1:
                raise InputError("usage: tail [-n N] [FILE]")
            out = _run_words(run, host, words) if files else _tail(lines, n)
        else:  # cat
            out = _run_words(run, host, words) if args else lines
    return out


def _run_words(run: Run, host: str, words: list[str]) -> list[Any]:
    """Run one command (a pipeline's stage, or the whole line) on ``host``."""
    if not words:
        return []
    world = run.world
    h = world.host(host)
    cmd, args = words[0], words[1:]
    if cmd in ("exit", "logout"):
        run.state.esxi = None
        return [f"Connection to {host} closed."]
    if cmd == "hostname":
        return [host]
    if cmd == "vsish":
        if args[:2] != ["-e", "get"] or len(args) != 3:
            raise InputError("usage: vsish -e get NODE (e.g. vsish -e get "
                             f"{ISBOOTLOADESX})")
        if args[2] != ISBOOTLOADESX:
            raise InputError(f"VSISHCmdGetInfo():Get failed: Not found ({args[2]})",
                             what="vsish node", value=args[2], choices=[ISBOOTLOADESX])
        return ["1" if h.last_boot_quick else "0"]
    if cmd == "esxcli":
        if args != ["system", "version", "get"]:
            raise InputError(f"esxcli: unsupported in the lab: {' '.join(args)!r}",
                             what="esxcli namespace", value=" ".join(args),
                             choices=["system version get"])
        image = h.running_image
        update = image.release_name.split(" U")[-1] if " U" in image.release_name else "0"
        return [f"   Product: VMware ESXi\n   Version: {image.version}\n"
                f"   Build: Releasebuild-{image.build}\n   Update: {update}\n"
                f"   Patch: {image.build % 100}"]
    if cmd == "ls":
        if args not in ([LOG_DIR.rstrip("/")], [LOG_DIR]):
            raise InputError("ls: only /var/log is browsable in the lab")
        return ["  ".join(n for n in HOST_LOGS if world.log_lines(host, n)
                          or n in ("kmxa.log", "loadESX.log"))]
    if cmd == "cat":
        if len(args) != 1:
            raise InputError("usage: cat FILE")
        return world.log_lines(host, _log_name(run, host, args[0]))
    if cmd == "grep":
        pattern, flags, files = _grep_args(args)
        if len(files) != 1:
            raise InputError("usage: grep [-i] [-v] PATTERN FILE")
        return _grep(world.log_lines(host, _log_name(run, host, files[0])), pattern, flags)
    if cmd == "tail":
        n, rest = _tail_args(args)
        if len(rest) != 1:
            raise InputError("usage: tail [-n N] FILE")
        return _tail(world.log_lines(host, _log_name(run, host, rest[0])), n)
    return _init_d(run, host, cmd[len("/etc/init.d/"):], args[0])


def _count(text: str) -> int:
    if not text.isdigit():
        raise InputError(f"tail: invalid number of lines: {text!r}")
    return int(text)


def _init_d(run: Run, host: str, service: str, action: str) -> list[Any]:
    h = run.world.host(host)
    if service not in h.services:
        raise InputError(f"-sh: /etc/init.d/{service}: not found", what="service",
                         value=service, choices=[f"/etc/init.d/{s}" for s in h.services])
    if action == "status":
        running = h.services[service] and h.is_up
        return [f"{service} is {'running' if running else 'not running'}"]
    before = len(run.errors)
    run.perform(registry.lookup("host-service"),
                {"vmhost": host, "service": service, "action": action})
    run.console[:] = [c for c in run.console if not c.startswith(f"{service} ")]
    if len(run.errors) > before:
        return []
    return {"start": [f"{service} started"], "stop": [f"{service} stopped"],
            "restart": [f"{service} stopped", f"{service} started"]}[action]
