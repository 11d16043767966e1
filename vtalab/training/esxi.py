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
* ``cat FILE``, ``tail [-n N] FILE``, ``grep PATTERN FILE`` for ``/var/log/*.log``;
  ``ls /var/log``;
* ``esxcli system version get``; ``hostname``; ``exit`` / ``logout``.
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


def check_line(line: str) -> None:
    """Raise ``InputError`` if ``line`` cannot be run on an ESXi shell at all."""
    words = _words(line)
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
    words = _words(line)
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
        if len(args) != 2:
            raise InputError("usage: grep PATTERN FILE")
        lines = world.log_lines(host, _log_name(run, host, args[1]))
        return [x for x in lines if args[0] in x]
    if cmd == "tail":
        n = 10
        rest = list(args)
        if rest and rest[0] == "-n" and len(rest) >= 2:
            n, rest = _count(rest[1]), rest[2:]
        elif rest and rest[0].startswith("-") and rest[0][1:].isdigit():
            n, rest = int(rest[0][1:]), rest[1:]
        if len(rest) != 1:
            raise InputError("usage: tail [-n N] FILE")
        lines = world.log_lines(host, _log_name(run, host, rest[0]))
        return lines[len(lines) - n:] if n else []
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
