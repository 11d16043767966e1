"""The ``vtalab`` command: argument parsing, output and exit codes only.

Exit codes: **0** everything passed, **1** an expectation failed (or a replay diverged),
**2** invalid input (a scenario, trace or option a person got wrong: one message on
stderr, nothing written), **3** an internal error of vtalab (a bug: reported as
``internal error: ...``, never silently; ``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shlex
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import vtalab
from vtalab.cli import term
from vtalab.cli.term import COLOR_CHOICES
from vtalab.core.trace import TraceEvent, canonical
from vtalab.errors import InputError, ScenarioError, VtalabError
from vtalab.scenario.expect import LOG_NAMES, parse_time
from vtalab.world import registry

__all__ = ["main"]

EXIT_OK, EXIT_FAIL, EXIT_INPUT, EXIT_INTERNAL = 0, 1, 2, 3


class _UsageError(Exception):
    """argparse's complaint, turned into an exit code instead of SystemExit."""

    def __init__(self, message: str, code: int = EXIT_INPUT) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
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


def _time(text: str) -> float:
    try:
        return parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
    r.add_argument("--until", type=_time, metavar="TIME", help="stop at this simulated time")
    r.add_argument("--logs", action="store_true", help="show simulated log lines too")
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
    e.add_argument("--at", type=_time, metavar="TIME",
                   help="simulated time, e.g. 90s, 20m, 2h (default: the end of the run)")
    e.add_argument("--out", required=True, metavar="DIR",
                   help="directory to write the evidence files into (created if missing)")

    lg = sub.add_parser(
        "logs", help="print a simulated log file",
        description="Print a host's (or vCenter's) simulated log file as it reads at a "
                    "simulated time.",
        epilog=examples("vtalab logs scenarios/upgrade-before-import.yaml --host esx-01 "
                        "--log attestd.log",
                        "vtalab logs scenarios/upgrade-before-import.yaml --host vcsa-wld "
                        "--log vpxd.log --at 30m"))
    lg.add_argument("file", metavar="FILE", help="the scenario YAML file to run")
    lg.add_argument("--host", required=True,
                    help="the host or vCenter (a unique prefix or the short name will do)")
    lg.add_argument("--log", required=True, metavar="NAME",
                    help="the log file: " + ", ".join(LOG_NAMES))
    lg.add_argument("--at", type=_time, metavar="TIME",
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
    return p


def examples(*lines: str) -> str:
    """The ``Examples:`` section of a command's help."""
    return "Examples:\n" + "\n".join(f"  {line}" for line in lines)


#: Commands whose output is a format for tools, or an interactive shell of its own:
#: written as they are, never dressed (see vtalab.cli.term).
_PLAIN = {"verbs", "schema", "train"}


def _plain(args: argparse.Namespace) -> bool:
    return (args.command in _PLAIN or bool(getattr(args, "json", False))
            or bool(getattr(args, "markdown", False)))


#: Modules that add subcommands. Each defines ``register(sub)`` that adds its parsers to
#: the argparse sub-parsers and returns ``{command: run(args, out) -> exit code}``; their
#: errors follow the same rules (InputError → exit 2, no traceback).
EXTENSIONS = ("vtalab.cli.check", "vtalab.cli.train", "vtalab.cli.explain",
              "vtalab.scenario.golden", "vtalab.cli.serve")


def _extensions() -> list[Any]:
    import importlib

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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see the module docstring)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list
    choice = _color_choice(args_list)
    err = term.output(sys.stderr, choice)
    try:
        parser = _parser()
        _complete(parser)
        args = parser.parse_args(args_list)
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
    except Exception as exc:  # the top-level guard: a bug of vtalab, said out loud
        if debug:
            raise
        sys.stderr.write(f"internal error: {type(exc).__name__}: {exc}\n"
                         "(this is a bug in vtalab; run again with --debug for the "
                         "traceback)\n")
        return EXIT_INTERNAL


# -- run -------------------------------------------------------------------------------

def _load(path: str) -> tuple[str, Any]:
    from vtalab.scenario.model import load_scenario_text
    from vtalab.scenario.yamlloc import read_text

    text = read_text(path)
    return text, load_scenario_text(text, file=path)


def _cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    from vtalab.forensics import bundle
    from vtalab.scenario.model import run_scenario
    from vtalab.scenario.timeline import render_run

    if any(bundle.is_bundle(path) for path in args.files):  # vtalab run BUG.tgz
        return bundle.run_bundle(args, out)
    if args.fix:
        raise InputError("--fix applies to a bug bundle (vtalab run BUG.tgz --fix KEY); "
                         "to fix a scenario, add the fix's steps to it")
    if args.html:
        _check_writable(args.html)
    if args.trace and len(args.files) != 1:
        raise InputError("--trace records one scenario: give exactly one FILE "
                         f"(got {len(args.files)})")
    loaded = [(path, *_load(path)) for path in args.files]  # all valid before any runs
    if args.trace:
        _check_writable(args.trace)
    results = []
    if args.trace:  # streamed to the file as the run goes: memory stays bounded
        path, text, scenario = loaded[0]
        result = _run_streamed(args.trace, path, text, scenario, args.seed, args.until)
        results.append((path, text, result))
    else:
        for path, text, scenario in loaded:
            result = run_scenario(scenario, seed=args.seed, until=args.until)
            results.append((path, text, result))
    if args.html:
        from vtalab.analysis.htmlreport import run_html

        write_text(args.html, run_html([(path, r) for path, _, r in results]))
    if args.json:
        report = {"ok": all(r.ok for _, _, r in results),
                  "runs": [_json_run(path, r) for path, _, r in results]}
        out.write(json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    else:
        for n, (path, _, result) in enumerate(results):
            if n:
                out.write("\n")
            out.write(render_run(result, logs=args.logs, file=path))
    return EXIT_OK if all(r.ok for _, _, r in results) else EXIT_FAIL


def _json_run(path: str, r: Any) -> dict[str, Any]:
    return {
        "file": path, "scenario": r.scenario.name, "seed": r.seed, "until": r.until,
        "end": r.end, "ok": r.ok, "digest": r.digest,
        "steps": [{"index": s.index, "id": s.id, "verb": s.verb, "start": s.start,
                   "end": s.end, "ok": s.ok, "error": s.error, "message": s.message}
                  for s in r.steps],
        "verdicts": [{"label": v.label, "ok": v.ok, "status": v.status, "detail": v.detail,
                      "at": v.at}
                     for v in r.verdicts],
    }


def _check_writable(path: str) -> None:
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise InputError(f"cannot write {path}: directory {parent} does not exist")
    if os.path.isdir(path):
        raise InputError(f"cannot write {path}: it is a directory")


def _trace_header(file: str, text: str, seed: int, until: float | None) -> str:
    return canonical({"kind": "vtalab.trace", "version": vtalab.__version__, "file": file,
                      "scenario_text": text, "seed": seed, "until": until}) + "\n"


def _trace_footer(digest: str) -> str:
    return canonical({"kind": "vtalab.digest", "sha256": digest}) + "\n"


def trace_text(file: str, text: str, result: Any) -> str:
    """The ``--trace`` JSON Lines of a run: header, events, digest (also in bug bundles)."""
    return (_trace_header(file, text, result.seed, result.until)
            + result.world.kernel.trace.to_jsonl() + _trace_footer(result.digest))


def _run_streamed(target: str, file: str, text: str, scenario: Any, seed: int | None,
                  until: float | None) -> Any:
    """Run ``scenario`` writing its ``--trace`` file as it goes (the same bytes as
    :func:`trace_text`); the events stay in the file, not in memory."""
    from vtalab.scenario.model import run_scenario

    seed = scenario.seed if seed is None else seed
    tmp = target + ".tmp"  # whole or not at all, as write_text: renamed when complete
    try:
        with open(tmp, "w", encoding="ascii", newline="\n") as fh:
            fh.write(_trace_header(file, text, seed, until))
            result = run_scenario(scenario, seed=seed, until=until, trace_to=(fh, tmp))
            fh.write(_trace_footer(result.digest))
        os.replace(tmp, target)
    except OSError as exc:  # opening or writing the file (disk full ...)
        if os.path.exists(tmp):
            os.remove(tmp)
        raise InputError(f"cannot write {target}: {exc.strerror or exc}") from None
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    result.world.kernel.trace.moved_to(target)
    return result


def write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (a temporary file, then a rename)."""
    tmp = path + ".tmp"
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None


def _write_trace(path: str, file: str, text: str, result: Any) -> None:
    body = trace_text(file, text, result)
    try:
        with open(path, "w", encoding="ascii", newline="\n") as fh:
            fh.write(body)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None


# -- replay ----------------------------------------------------------------------------

def _cmd_replay(args: argparse.Namespace, out: TextIO) -> int:
    from vtalab.scenario.model import load_scenario_text, run_scenario

    path = args.trace
    header, recorded, digest = _read_trace(path)
    if isinstance(header.get("serve"), dict):  # a `vtalab serve --trace` session
        from vtalab.server.replay import replay_served

        result: Any = _Replayed(replay_served(header, recorded, file=path).world)
    else:
        scenario = load_scenario_text(header["scenario_text"], file=str(header.get("file")))
        until = header.get("until")
        result = run_scenario(scenario, seed=int(header["seed"]),
                              until=None if until is None else float(until))
    got = [e.to_json() for e in result.world.kernel.trace]
    want = [e.to_json() for e in recorded]
    version_note = ""
    if header.get("version") != vtalab.__version__:
        version_note = (f" (the trace was recorded by vtalab {header.get('version')}, "
                        f"this is {vtalab.__version__})")
    divergence = first_divergence(want, got, version_note)
    if divergence is not None:
        out.write(divergence)
        return EXIT_FAIL
    if digest != result.digest:
        out.write(f"replay reproduces every event, but the trace's digest line "
                  f"({digest}) does not match them ({result.digest})\n")
        return EXIT_FAIL
    out.write(f"replay identical: {len(got)} events, digest sha256:{result.digest}\n")
    return EXIT_OK


class _Replayed:
    """A replayed served session, shaped like a scenario run for the comparison."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self.digest = world.kernel.trace.digest()


def first_divergence(want: list[Any], got: list[Any], version_note: str = "") -> str | None:
    """The report of the first event where a re-run differs from the recording, or None."""
    for i, (w, g) in enumerate(zip(want, got, strict=False)):
        if w != g:
            return (f"replay diverges at event {i}{version_note}:\n"
                    f"  expected: {w}\n  got:      {g}\n")
    if len(want) != len(got):
        i = min(len(want), len(got))
        extra = (f"  expected: {want[i]}\n  got:      (nothing)\n" if len(want) > len(got)
                 else f"  expected: (nothing)\n  got:      {got[i]}\n")
        return (f"replay diverges at event {i}: recorded {len(want)} events, replay made "
                f"{len(got)}{version_note}\n{extra}")
    return None


def _read_trace(path: str) -> tuple[dict[str, Any], list[TraceEvent], str | None]:
    from vtalab.scenario.yamlloc import read_text

    return parse_trace(read_text(path), path)


def parse_trace(text: str, path: str) -> tuple[dict[str, Any], list[TraceEvent], str | None]:
    """Header, events and digest of trace JSON Lines; errors name ``path`` and the line."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise ScenarioError("empty trace file", file=path, line=1, column=1)

    def bad(n: int, message: str) -> ScenarioError:
        return ScenarioError(message, file=path, line=n, column=1)

    try:
        header = json.loads(lines[0])
    except ValueError as exc:
        raise bad(1, f"not a vtalab trace (first line is not JSON: {exc})") from None
    if not isinstance(header, dict) or header.get("kind") != "vtalab.trace":
        raise bad(1, "not a vtalab trace: the first line must be the "
                     '{"kind":"vtalab.trace",...} header')
    for key in ("scenario_text", "seed"):
        if key not in header:
            raise bad(1, f"the trace header has no {key!r}")
    if not isinstance(header["scenario_text"], str) or not isinstance(header["seed"], int):
        raise bad(1, "the trace header's scenario_text must be text and seed an integer")
    digest = None
    events = []
    for n, line in enumerate(lines[1:], start=2):
        try:
            d = json.loads(line)
        except ValueError as exc:
            raise bad(n, f"not JSON: {exc}") from None
        if isinstance(d, dict) and d.get("kind") == "vtalab.digest" and "t" not in d:
            if n != len(lines):
                raise bad(n, "the digest line must be the last line")
            digest = str(d.get("sha256"))
            continue
        try:
            events.append(TraceEvent.from_json(line))
        except (KeyError, TypeError) as exc:
            raise bad(n, f"not a trace event (missing {exc})") from None
    return header, events, digest


# -- evidence and logs -----------------------------------------------------------------

def _run_to(file: str, at: float | None) -> Any:
    from vtalab.scenario.model import run_scenario

    _, scenario = _load(file)
    return scenario, run_scenario(scenario, until=at)


def _cmd_evidence(args: argparse.Namespace, out: TextIO) -> int:
    from vtalab.scenario.model import check_name

    _, scenario = _load(args.file)
    args.host = check_name(scenario.topology, args.host, "host", option="--host")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise InputError(f"--out {args.out}: exists and is not a directory")
    _, result = _run_to(args.file, args.at)
    files = result.world.evidence(args.host)
    os.makedirs(args.out, exist_ok=True)
    for name in sorted(files):
        with open(os.path.join(args.out, name), "wb") as fh:
            fh.write(files[name])
    out.write(f"wrote {len(files)} files to {args.out}: {', '.join(sorted(files))}\n")
    out.write(f"evidence of {args.host} at T={result.end:g}s; check it with tpm2-tools:\n")
    try:
        from vtalab.tpm.files import checkquote_command as tpm_command

        command = tpm_command(args.out)
    except ImportError:  # pragma: no cover - older trees without vtalab.tpm.files
        command = checkquote_command(files)
    out.write(f"  cd {shlex.quote(args.out)} && {command}\n")
    return EXIT_OK


def checkquote_command(files: dict[str, bytes]) -> str:
    """The ``tpm2_checkquote`` command line that verifies these evidence files."""
    parts = ["tpm2_checkquote", "-u ak.pub.pem", "-m quote.msg", "-s quote.sig"]
    if "pcrs.out" in files:  # tpm2_quote -o layout: works for any number of PCRs
        parts.append("-f pcrs.out")
    elif "pcrs.bin" in files:
        parts.append("-f pcrs.bin")
        pcrs = _pcr_indexes(files.get("pcrs.json", b""))
        if pcrs:
            parts.append(f"-l sha256:{','.join(str(i) for i in pcrs)}")
    parts += ["-g sha256", "-q $(cat nonce.hex)"]
    if "eventlog.bin" in files:
        parts.append("-e eventlog.bin")
    return " ".join(parts)


def _pcr_indexes(raw: bytes) -> list[int]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return []
    if isinstance(data, dict):
        data = data.get("sha256", data)
    keys = data.keys() if isinstance(data, dict) else []
    return sorted(int(k) for k in keys if str(k).isdigit())


def _cmd_logs(args: argparse.Namespace, out: TextIO) -> int:
    from vtalab.scenario.model import check_name

    if args.log not in LOG_NAMES:
        raise InputError(f"--log: unknown log {args.log!r}", what="logs", value=args.log,
                         choices=LOG_NAMES)
    _, scenario = _load(args.file)
    args.host = check_name(scenario.topology, args.host, "host_or_vcenter", option="--host")
    _, result = _run_to(args.file, args.at)
    for line in result.world.kernel.log_lines(args.host, args.log):
        out.write(line + "\n")
    return EXIT_OK


# -- references --------------------------------------------------------------------------

def verbs_text(markdown: bool = False) -> str:
    """The verbs and faults, as a plain list or as the generated Markdown reference."""
    registry._load()
    entries = [*registry.VERBS.values(), *registry.FAULTS.values()]
    if not markdown:
        width = max((len(v.name) for v in entries), default=0)
        lines = [f"{v.name:<{width}}  {v.kind:<8}  {v.summary}" for v in
                 sorted(entries, key=lambda v: (v.kind == "fault", v.name.lower()))]
        return "\n".join(lines) + "\n"
    lines = ["# Verbs and faults", "",
             "Generated from the registry (`vtalab verbs --markdown`); do not edit by hand.",
             ""]
    for title, table in (("Verbs", registry.VERBS), ("Faults", registry.FAULTS)):
        lines += [f"## {title}", ""]
        for name in sorted(table, key=str.lower):
            v = table[name]
            lines += [f"### `{name}`", "", f"*{v.kind}*: {v.summary}", ""]
            if v.stands_for:
                lines += [f"Stands for: {v.stands_for}", ""]
            if v.source:
                lines += [f"Source: {v.source}", ""]
            if v.aliases:
                lines += [f"Aliases: {', '.join(f'`{a}`' for a in v.aliases)}", ""]
            if v.args.model_fields:
                lines += ["| argument | type | default | meaning |", "|---|---|---|---|"]
                for fname, info in v.args.model_fields.items():
                    default = "required" if info.is_required() else repr(info.default) \
                        if info.default_factory is None else "(computed)"
                    tp = getattr(info.annotation, "__name__", str(info.annotation))
                    tp = tp.replace("|", "\\|")
                    lines.append(f"| `{info.alias or fname}` | {tp} | {default} | "
                                 f"{(info.description or '').replace('|', '/')} |")
                lines.append("")
    return "\n".join(lines)


def _cmd_verbs(args: argparse.Namespace, out: TextIO) -> int:
    out.write(verbs_text(args.markdown))
    return EXIT_OK


def _cmd_schema(args: argparse.Namespace, out: TextIO) -> int:
    from vtalab.scenario.model import scenario_json_schema

    out.write(json.dumps(scenario_json_schema(), indent=2, sort_keys=True) + "\n")
    return EXIT_OK


_COMMANDS = {"run": _cmd_run, "replay": _cmd_replay, "evidence": _cmd_evidence,
             "logs": _cmd_logs, "verbs": _cmd_verbs, "schema": _cmd_schema}

__all__ += ["checkquote_command", "examples", "first_divergence", "parse_trace",
            "trace_text", "verbs_text", "write_text"]
