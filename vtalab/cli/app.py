"""The ``vtalab`` command: argument parsing, output and exit codes only.

Exit codes: **0** everything passed, **1** an expectation failed (or a replay diverged),
**2** invalid input (a scenario, trace or option a person got wrong: one message on
stderr, nothing written), **3** an internal error of vtalab (a bug: reported as
``internal error: ...``, never silently; ``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import errno
import functools
import importlib
import io
import json
import os
import re
import shlex
import signal
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import vtalab
from vtalab.analysis.htmlreport import run_html
from vtalab.cli import bundle, term
from vtalab.cli.common import (
    EXIT_FAIL,
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_OK,
    examples,
    time_arg,
    until_option,
)
from vtalab.cli.term import COLOR_CHOICES
from vtalab.core.files import safe_name, write_atomic
from vtalab.core.kernel import format_time
from vtalab.errors import InputError, OperationError, ScenarioError, VtalabError, nearest
from vtalab.forensics.bundle import is_bundle
from vtalab.scenario.expect import LOG_NAMES
from vtalab.scenario.model import check_name, load_scenario_text, run_scenario, scenario_json_schema
from vtalab.scenario.run import UntilTooFar
from vtalab.scenario.timeline import render_run
from vtalab.scenario.tracefile import (
    check_folder,
    check_writable,
    first_divergence,
    json_run,
    load_file,
    read_trace,
    run_streamed,
    write_text,
)
from vtalab.server.replay import replay_served
from vtalab.tpm.files import checkquote_command
from vtalab.world import registry
from vtalab.world.reference import registry_markdown

__all__ = ["main"]



class _UsageError(Exception):
    """argparse's complaint, turned into an exit code instead of SystemExit."""

    def __init__(self, message: str, code: int = EXIT_INPUT) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # '-5h' after --at is a (negative) value to complain about, not an unknown option
        # ("--at: expected one argument"): no option of vtalab's starts with a dash-digit.
        self._negative_number_matcher = re.compile(r"^-\.?\d")

    def error(self, message: str) -> Any:
        # argparse names the choices but not the nearest one: add it (--faults lite)
        bad = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)$", message)
        if bad:
            close = nearest(bad.group(1), re.findall(r"'([^']*)'", bad.group(2)))
            if close:
                message += f"; did you mean {close[0]!r}?"
        raise _UsageError(f"{self.prog}: {message}\n{self.format_usage().rstrip()}")

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        if message:
            sys.stderr.write(message)
        raise _UsageError("", status)


class _Help(argparse.HelpFormatter):
    """Descriptions wrapped to the terminal; text with line breaks (the ``Examples:``
    epilog) kept as written, so commands stay one per line, ready to copy."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "\n".join(indent + line for line in text.splitlines())
        return super()._fill_text(text, width, indent)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="vtalab", description="A deterministic lab of VMware vSphere Trust "
                                           "Authority: replay scenarios, check upgrade "
                                           "plans, explain attestation failures, train "
                                           "operators.",
                formatter_class=_Help,
                epilog=examples(
                    "vtalab run scenarios/quick-boot-upgrade.yaml",
                    "vtalab check scenarios/plans/safe-rolling-upgrade.yaml --faults light",
                    "vtalab explain estate.yaml --host esx-01 --at 2h",
                    "vtalab train upgrade-before-import",
                    "vtalab COMMAND --help            # each command's options and examples")
                + "\n\nExit codes: 0 ok, 1 a verdict failed, 2 invalid input, 3 internal "
                  "error.\nShell completion (bash, zsh): pip install 'vtalab[completion]', "
                  "then\n  eval \"$(register-python-argcomplete vtalab)\"   "
                  "# in ~/.bashrc or ~/.zshrc")
    p.add_argument("--version", action="version", version=f"vtalab {vtalab.__version__}",
                   help="print the version and exit")
    p.add_argument("--debug", action="store_true",
                   help="show the Python traceback of an internal error")
    p.add_argument("--color", choices=COLOR_CHOICES, default="auto", metavar="WHEN",
                   help="colour in the terminal: auto (default: a terminal, unless NO_COLOR "
                        "is set), always, never; pipes and --json stay plain")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    r = sub.add_parser(
        "run", help="run scenarios: timeline and verdicts",
        description="Run scenarios (or a bug bundle) and print what the operator would have "
                    "seen, each expectation's verdict (PASS, FAIL, or SKIP when --until "
                    "stopped the run first) and the trace digest. Exit 1 when a verdict "
                    "failed.",
        epilog=examples("vtalab run scenarios/quick-boot-upgrade.yaml",
                        "vtalab run scenarios/upgrade-before-import.yaml --until 30m --logs",
                        "vtalab run scenarios/quick-boot-upgrade.yaml --html report.html",
                        "vtalab run plan.yaml --trace run.jsonl --seed 7",
                        "vtalab run BUG.tgz                       # does the bug reproduce?",
                        "vtalab run BUG.tgz --fix import-measured # ... and is it fixed?"))
    r.add_argument("files", nargs="+", metavar="FILE",
                   help="scenario YAML files, or one bug bundle (.tgz from vtalab bundle)")
    r.add_argument("--seed", type=int, help="override the scenario's seed")
    r.add_argument("--trace", metavar="FILE", help="write the trace as JSON Lines")
    r.add_argument("--json", action="store_true", help="print a JSON report instead")
    r.add_argument("--html", metavar="FILE",
                   help="also write an HTML report: host swim lanes, steps, expectations "
                        "with verdicts, timeline (one self-contained page)")
    r.add_argument("--until", type=time_arg, metavar="TIME", help="stop at this simulated time")
    r.add_argument("--logs", action="store_true", help="show simulated log lines too")
    r.add_argument("--reveal", action="store_true",
                   help="the lab's view: add what the operator's tools do not show (TPM "
                        "measurements, attestation verdicts), marked [lab]")
    r.add_argument("--force-version", action="store_true",
                   help="run a bug bundle recorded by another vtalab version anyway")
    r.add_argument("--fix", metavar="KEY[@HOST]",
                   help="bug bundles only: apply one of `vtalab explain`'s fixes "
                        "(import-measured, full-reboot, ...) at the bundle's time and judge "
                        "the result (exit 0 when the failure no longer reproduces)")

    rp = sub.add_parser(
        "replay", help="re-run a recorded trace and compare it",
        description="Re-run the scenario and seed recorded in a trace (vtalab run --trace) "
                    "and compare every event; exit 1 at the first divergence.",
        epilog=examples("vtalab run scenarios/quick-boot-upgrade.yaml --trace run.jsonl",
                        "vtalab replay run.jsonl"))
    rp.add_argument("trace", metavar="TRACE",
                    help="a trace file written by vtalab run --trace (JSON Lines)")

    e = sub.add_parser(
        "evidence", help="write a host's TPM evidence for tpm2-tools",
        description="Write a host's TPM quote, attestation key, PCRs and event log at a "
                    "simulated time, and print the tpm2_checkquote command that verifies "
                    "them.",
        epilog=examples("vtalab evidence scenarios/quick-boot-upgrade.yaml --host esx-01 "
                        "--out ev/",
                        "vtalab evidence estate.yaml --host esx-01 --at 20m --out ev/"))
    e.add_argument("file", metavar="FILE", help="the scenario YAML file to run")
    e.add_argument("--host", required=True,
                   help="the host (a unique prefix or the short name will do)")
    e.add_argument("--at", type=time_arg, metavar="TIME",
                   help="simulated time, e.g. 90s, 20m, 2h (default: the end of the run)")
    e.add_argument("--out", required=True, metavar="DIR",
                   help="directory to write the evidence files into (created if missing)")

    lg = sub.add_parser(
        "logs", help="print a simulated log file",
        description="Print a host's (or vCenter's) simulated log file as it reads at a "
                    "simulated time.",
        epilog=examples("vtalab logs scenarios/upgrade-before-import.yaml --host ta-esx-01 "
                        "--log attestd.log   # attestd runs on the TA hosts",
                        "vtalab logs scenarios/upgrade-before-import.yaml --host vcsa-wld "
                        "--log vpxd.log --at 30m"))
    lg.add_argument("file", metavar="FILE", help="the scenario YAML file to run")
    lg.add_argument("--host", required=True,
                    help="the host or vCenter (a unique prefix or the short name will do)")
    lg.add_argument("--log", required=True, metavar="NAME",
                    help="the log file: " + ", ".join(LOG_NAMES))
    lg.add_argument("--at", type=time_arg, metavar="TIME",
                    help="simulated time, e.g. 20m (default: the end of the run)")

    v = sub.add_parser(
        "verbs", help="list the verbs and faults",
        description="List every verb (PowerCLI cmdlets and lab verbs) and fault a scenario "
                    "step may use, with a one-line summary.",
        epilog=examples("vtalab verbs", "vtalab verbs --markdown > docs/verbs.md"))
    v.add_argument("--markdown", action="store_true",
                   help="print the generated Markdown reference (arguments and sources)")
    sub.add_parser(
        "schema", help="print the JSON Schema of the scenario language",
        description="Print the JSON Schema (draft 2020-12) of scenario files, for editors "
                    "and validators.",
        epilog=examples("vtalab schema > vtalab-scenario.schema.json"))
    for module in _extensions():
        _COMMANDS.update(module.register(sub))
    for name, parser in sub.choices.items():
        parser.formatter_class = _Help  # descriptions wrapped, Examples: as written
        if name not in _PLAIN:  # `vtalab run X --color never` works too
            parser.add_argument("--color", choices=COLOR_CHOICES, default=argparse.SUPPRESS,
                                metavar="WHEN", help="colour: auto (default), always, never")
        elif name in ("verbs", "schema"):  # taken as by every command; a format stays plain
            parser.add_argument("--color", choices=COLOR_CHOICES, default=argparse.SUPPRESS,
                                metavar="WHEN", help="accepted as by every command; this "
                                                     "output is always plain text")
    return p


#: Commands whose output is a format for tools, or an interactive shell of its own:
#: written as they are, never dressed (see vtalab.cli.term).
_PLAIN = {"verbs", "schema", "train"}


def _plain(args: argparse.Namespace) -> bool:
    return (args.command in _PLAIN or bool(getattr(args, "json", False))
            or bool(getattr(args, "markdown", False)))


#: Modules that add subcommands. Each defines ``register(sub)`` that adds its parsers to
#: the argparse sub-parsers and returns ``{command: run(args, out) -> exit code}``; their
#: errors follow the same rules (InputError → exit 2, no traceback).
EXTENSIONS = ("vtalab.cli.check", "vtalab.cli.campaign", "vtalab.cli.train",
              "vtalab.cli.explain", "vtalab.scenario.golden", "vtalab.cli.serve")


def _extensions() -> list[Any]:

    found = []
    for name in EXTENSIONS:
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real missing dependency inside it: say so
                raise
    return found


def _complete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's completion request, if this is one (argcomplete; bash and zsh:
    ``eval "$(register-python-argcomplete vtalab)"``). Without argcomplete, nothing."""
    if "_ARGCOMPLETE" not in os.environ:
        return
    try:
        import argcomplete  # optional ("vtalab[completion]"): only for completion
    except ImportError:
        return
    argcomplete.autocomplete(parser)


def _color_choice(args: list[str]) -> str:
    """``--color`` as given (before parsing: errors of the parse are coloured too)."""
    choice = "auto"
    for i, a in enumerate(args):
        if a == "--color" and i + 1 < len(args):
            choice = args[i + 1]
        elif a.startswith("--color="):
            choice = a.partition("=")[2]
    return choice if choice in COLOR_CHOICES else "auto"


def _unrecognized(parser: argparse.ArgumentParser, command: str, extra: list[str]) -> None:
    """What argparse says of arguments no option takes, said by the command they were
    given to, with the nearest of its options (``--att`` -> ``--at``) and its usage."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    command_parser = sub.choices[command]
    message = f"{command_parser.prog}: unrecognized arguments: {' '.join(extra)}"
    options = [o for o in command_parser._option_string_actions
               if o.startswith("--") and o != "--help"]
    first = next((e.split("=", 1)[0] for e in extra if e.startswith("-")), None)
    close = nearest(first, options) if first else []
    if close:
        message += f"; did you mean {close[0]!r}?"
    raise _UsageError(f"{message}\n{command_parser.format_usage().rstrip()}")


def run() -> int:
    """What the ``vtalab`` command and ``python -m vtalab`` run once vtalab is imported.

    Until now a Ctrl-C ended the process at once with 130 (``vtalab_launcher``,
    ``vtalab._startup``); from here :func:`main` handles it (130, or 1 when ``vtalab
    check`` kept counterexamples), and an interrupt that slips past it is still quiet.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return main()
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: still quiet
        sys.stderr.write("interrupted\n")
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see the module docstring)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list
    for stream in (sys.stdout, sys.stderr):
        # A file name that is not UTF-8 reaches argv as lone surrogates (PEP 383): shown
        # as \udcff escapes, never a UnicodeEncodeError after the work was done.
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            stream.reconfigure(errors="backslashreplace")
    choice = _color_choice(args_list)
    err = term.output(sys.stderr, choice)
    try:
        parser = _parser()
        _complete(parser)
        args, extra = parser.parse_known_args(args_list)
        if extra:
            _unrecognized(parser, args.command, extra)
        out = term.output(sys.stdout, args.color, plain=_plain(args))
        # Long commands (check, golden, campaign) draw progress with this, on stderr.
        args.progress = functools.partial(term.progress, sys.stderr, choice=args.color)
        try:
            return _COMMANDS[args.command](args, out)  # type: ignore[arg-type]
        finally:
            out.flush()
    except _UsageError as exc:
        if str(exc):
            err.write(str(exc) + "\n")
            err.flush()
        return exc.code
    except InputError as exc:
        err.write(f"error: {exc}\n")
        err.flush()
        return EXIT_INPUT
    except VtalabError as exc:
        err.write(f"error: {exc}\n")
        err.flush()
        return EXIT_FAIL
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:
        if exc.errno not in _NO_ROOM:
            return _internal(exc, err, debug)
        # Output files are written by core.files (an InputError there); what is left is
        # standard output on a full disk or device (vtalab schema > /dev/full).
        _quiet_stdout()
        err.write(f"error: cannot write the output: {exc.strerror or exc}\n")
        err.flush()
        return EXIT_INPUT
    except Exception as exc:  # the top-level guard: a bug of vtalab, said out loud
        return _internal(exc, err, debug)


#: Write errors of a full or failing output (standard output to a full disk or device).
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}


def _quiet_stdout() -> None:
    """Point standard output at the null device: the buffered rest would fail again when
    Python flushes at exit ("Exception ignored ... OSError"), and end with status 120."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError, AttributeError):  # not a real file (a test's capture)
        pass


def _internal(exc: BaseException, err: Any, debug: bool) -> int:
    """The top-level guard: a bug of vtalab, said out loud (``--debug``: the traceback)."""
    if debug:
        raise exc
    err.write(f"internal error: {type(exc).__name__}: {exc}\n"
              "(this is a bug in vtalab; run again with --debug for the traceback)\n")
    err.flush()
    return EXIT_INTERNAL


# -- run -------------------------------------------------------------------------------

def _cmd_run(args: argparse.Namespace, out: TextIO) -> int:

    if any(is_bundle(path) for path in args.files):  # vtalab run BUG.tgz
        return bundle.run_bundle(args, out)
    if args.fix is not None:  # '' too: an option asked for is never silently dropped
        raise InputError("--fix applies to a bug bundle (vtalab run BUG.tgz --fix KEY); "
                         "to fix a scenario, add the fix's steps to it")
    if args.force_version:
        raise InputError("--force-version applies to a bug bundle (vtalab run BUG.tgz): a "
                         "scenario file has no recorded version to check")
    if args.seed is not None and args.seed < 0:  # a trace with it would not replay
        raise InputError(f"--seed must be 0 or more (a world seed, as a scenario's "
                         f"seed:); got {args.seed}", what="seed", value=args.seed)
    inputs = [("the scenario file", path) for path in args.files]
    if args.html is not None:  # "" too: an output asked for is never silently dropped
        check_writable(args.html, [*inputs, ("the --trace file", args.trace)])
    if args.trace is not None and len(args.files) != 1:
        raise InputError("--trace records one scenario: give exactly one FILE "
                         f"(got {len(args.files)})")
    loaded = [(path, *load_file(path)) for path in args.files]  # all valid before any runs
    if args.trace is not None:
        check_writable(args.trace, inputs)
    results = []
    with until_option("--until", args.until):
        if args.trace:  # streamed to the file as the run goes: memory stays bounded
            path, text, scenario = loaded[0]
            result = run_streamed(args.trace, path, text, scenario, args.seed, args.until)
            results.append((path, text, result))
        else:
            for path, text, scenario in loaded:
                result = run_scenario(scenario, seed=args.seed, until=args.until)
                results.append((path, text, result))
    if args.html:

        write_text(args.html, run_html([(path, r) for path, _, r in results]))
    if args.json:
        report = {"ok": all(r.ok for _, _, r in results),
                  "runs": [json_run(path, r) for path, _, r in results]}
        out.write(json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    else:
        for n, (path, _, result) in enumerate(results):
            if n:
                out.write("\n")
            out.write(render_run(result, logs=args.logs, file=path, reveal=args.reveal))
    return EXIT_OK if all(r.ok for _, _, r in results) else EXIT_FAIL


# -- replay ----------------------------------------------------------------------------

class _Replayed:
    """A replayed served session, shaped like a scenario run for the comparison."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self.digest = world.kernel.trace.digest()


def _cmd_replay(args: argparse.Namespace, out: TextIO) -> int:

    path = args.trace
    header, recorded, digest = read_trace(path)
    try:
        if isinstance(header.get("serve"), dict):  # a `vtalab serve --trace` session
            result: Any = _Replayed(replay_served(header, recorded, file=path).world)
        else:
            scenario = load_scenario_text(header["scenario_text"],
                                          file=f"{path}:scenario_text")
            result = run_scenario(scenario, seed=int(header["seed"]),
                                  until=header.get("until"))
    except UntilTooFar as exc:  # an edited until: no run of vtalab's could have recorded it
        until = format_time(exc.until)
        raise ScenarioError(exc.for_option(f"the trace header's until ({until})").reason,
                            file=path, line=1, column=1) from None
    got = [e.to_json() for e in result.world.kernel.trace]
    want = [e.to_json() for e in recorded]
    version_note = ""
    if header.get("version") != vtalab.__version__:
        version_note = (f" (the trace was recorded by vtalab {header.get('version')}, "
                        f"this is {vtalab.__version__})")
    divergence = first_divergence(want, got, version_note, file=path)
    if divergence is not None:
        out.write(divergence)
        return EXIT_FAIL
    if digest != result.digest:
        out.write(f"replay reproduces every event, but the trace's digest line "
                  f"({digest}) does not match them ({result.digest})\n")
        return EXIT_FAIL
    out.write(f"replay identical: {len(got)} events, digest sha256:{result.digest}\n")
    return EXIT_OK


# -- evidence and logs -----------------------------------------------------------------

def _run_to(file: str, at: float | None) -> Any:

    _, scenario = load_file(file)
    with until_option("--at", at):
        return scenario, run_scenario(scenario, until=at)


def _cmd_evidence(args: argparse.Namespace, out: TextIO) -> int:

    _, scenario = load_file(args.file)
    args.host = check_name(scenario.topology, args.host, "host", option="--host")
    check_folder(args.out)  # a file, a dangling link, '' ... refused before the run
    _, result = _run_to(args.file, args.at)
    try:
        evidence = result.world.evidence(args.host)
    except OperationError as exc:  # not up at that moment (or a TA host: no evidence)
        when = format_time(result.end)
        at = (f"--at {when.removeprefix('T+')}" if args.at is not None
              else f"at the end of the run ({when})")
        raise InputError(f"--host {args.host} {at}: {exc.reason}"
                         + (" then" if exc.choices else " then, nor has any host: give a "
                            "later --at (the hosts boot at the start of the run)"),
                         what=f"hosts with TPM evidence at {when}", value=args.host,
                         choices=exc.choices) from None
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as exc:  # made between the check and now, or a read-only file system
        raise InputError(f"--out {args.out}: cannot create the folder: "
                         f"{exc.strerror or exc}") from None
    targets = {name: os.path.join(args.out, safe_name(name)) for name in sorted(evidence)}
    for target in targets.values():  # --out . next to a scenario called quote.msg
        check_writable(target, [("the scenario file", args.file)])
    for name, target in targets.items():
        write_atomic(target, evidence[name])
    out.write(f"wrote {len(evidence)} files to {args.out}: {', '.join(sorted(evidence))}\n")
    out.write(f"evidence of {args.host} at T={result.end:g}s; check it with tpm2-tools:\n")
    out.write(f"  cd {shlex.quote(args.out)} && {checkquote_command(args.out)}\n")
    return EXIT_OK


#: The log of a vCenter (vpxd); every other log of LOG_NAMES is an ESXi host's.
_VCENTER_LOGS = ("vpxd.log",)


def _check_log_place(topology: Any, host: str, log: str) -> None:
    """``--log`` where that log is written: vpxd.log on a vCenter, the others on an ESXi
    host (an empty output would say the log is empty, not that it is elsewhere)."""
    ta = [h.name for h in topology.ta_cluster.hosts]
    vcenters = {topology.ta_vcenter: ta, topology.workload_vcenter: []}
    if host in vcenters and log not in _VCENTER_LOGS:
        raise InputError(f"--log {log}: {host} is a vCenter; {log} is an ESXi host's log "
                         f"(give --host with a host name); a vCenter's log is "
                         f"{', '.join(_VCENTER_LOGS)}", what="logs of a vCenter", value=log,
                         choices=_VCENTER_LOGS)
    if host not in vcenters and log in _VCENTER_LOGS:
        manager = topology.ta_vcenter if host in ta else topology.workload_vcenter
        raise InputError(f"--log {log}: {host} is an ESXi host; {log} is written by vCenter: "
                         f"--host {manager} (which manages {host})",
                         what="logs of an ESXi host", value=None,
                         choices=[n for n in LOG_NAMES if n not in _VCENTER_LOGS])


def _cmd_logs(args: argparse.Namespace, out: TextIO) -> int:

    if args.log not in LOG_NAMES:
        raise InputError(f"--log: unknown log {args.log!r}", what="logs", value=args.log,
                         choices=LOG_NAMES)
    _, scenario = load_file(args.file)
    args.host = check_name(scenario.topology, args.host, "host_or_vcenter", option="--host")
    _check_log_place(scenario.topology, args.host, args.log)
    _, result = _run_to(args.file, args.at)
    lines = result.world.kernel.log_lines(args.host, args.log)
    for line in lines:
        out.write(line + "\n")
    if not lines:  # said on stderr: standard output stays the log itself (empty)
        sys.stderr.write(f"({args.log} of {args.host} has no lines by "
                         f"{format_time(result.end)})\n")
    return EXIT_OK


# -- references --------------------------------------------------------------------------

def verbs_text(markdown: bool = False) -> str:
    """The verbs and faults, as a plain list or as the generated Markdown reference."""
    entries = [*registry.VERBS.values(), *registry.FAULTS.values()]
    if markdown:
        return registry_markdown("verbs") + "\n" + registry_markdown("faults")
    width = max((len(v.name) for v in entries), default=0)
    lines = [f"{v.name:<{width}}  {v.kind:<8}  {v.summary}" for v in
             sorted(entries, key=lambda v: (v.kind == "fault", v.name.lower()))]
    return "\n".join(lines) + "\n"


def _cmd_verbs(args: argparse.Namespace, out: TextIO) -> int:
    out.write(verbs_text(args.markdown))
    return EXIT_OK


def _cmd_schema(args: argparse.Namespace, out: TextIO) -> int:

    out.write(json.dumps(scenario_json_schema(), indent=2, sort_keys=True) + "\n")
    return EXIT_OK


_COMMANDS = {"run": _cmd_run, "replay": _cmd_replay, "evidence": _cmd_evidence,
             "logs": _cmd_logs, "verbs": _cmd_verbs, "schema": _cmd_schema}
