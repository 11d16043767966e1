"""The training shell: an interactive loop, and the same loop fed from a transcript.

Interactive (:func:`run_interactive`): a prompt in simulated time (``PS vTA
[T+00:12:00]>``), line editing and history from :mod:`readline` when the terminal has it,
and tab completion of cmdlets, parameters, hosts, VMs and the training's own commands
(:func:`vtalab.training.complete` plus :data:`~vtalab.training.session.META_COMMANDS`).
Every line goes to :meth:`Session.run`; ``rewind`` swaps in the rebuilt session; ``exit``
or end of input leaves.

Scripted (:func:`run_script`): the lines of a transcript file (blank lines and ``#``
comments skipped; meta commands allowed), echoed after the prompt with their output, then
the grade and the trace digest. Exit code **0** when the goal is reached with trust
intact, **1** otherwise, **2** when the transcript itself is invalid -- a syntax error, a
command the shell does not know, a meta command used wrongly -- reported as
``FILE:LINE: ...`` before anything runs, so a broken transcript never half-runs.
"""

from __future__ import annotations

import os
import re
import shutil
import textwrap
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from vtalab.core.files import read_text
from vtalab.core.text import visible
from vtalab.errors import InputError
from vtalab.training.assist import complete
from vtalab.training.commands import resolve
from vtalab.training.esxi import check_line
from vtalab.training.pwsh.parser import ArrayExpr, BinaryExpr, Command, SubExpr, parse
from vtalab.training.session import (
    _ALIASES,
    META_COMMANDS,
    Session,
    parse_command_number,
    parse_sim_time,
    words,
)

__all__ = ["EXIT_FAIL", "EXIT_INPUT", "EXIT_OK", "run_interactive", "run_script",
           "validate_line"]

EXIT_OK, EXIT_FAIL, EXIT_INPUT = 0, 1, 2
_DELIMS = " \t\n|;(){},="


# -- scripted -------------------------------------------------------------------------------

def validate_line(line: str, esxi: bool = False) -> None:
    """Raise ``InputError`` if ``line`` cannot be run at all (syntax, unknown command);
    ``esxi``: the line is typed in an ESXi shell (after ``ssh root@HOST``)."""

    text = line.strip()
    if not text or text.startswith("#"):
        return
    if esxi:
        check_line(text)
        return
    word, _, rest = text.partition(" ")
    meta = _ALIASES.get(word.lower(), word.lower())
    if meta in META_COMMANDS:
        rest = rest.strip()
        if meta in ("save", "debrief"):
            words(rest)  # an unterminated quote: refused before anything runs
        if meta == "rewind":
            if not rest:
                raise InputError("rewind needs a time or a command number, e.g. rewind "
                                 "T+00:30:00 or rewind #3")
            if rest.startswith("#"):
                parse_command_number(rest)  # its range is known only when it runs
            else:
                parse_sim_time(rest)
        elif meta == "save" and not rest:
            raise InputError("save needs a file name")
        elif meta == "debrief" and rest and (len(rest.split()) != 2
                                             or rest.split()[0] != "--html"):
            raise InputError("usage: debrief [--html FILE]")
        return

    def walk(stages: Sequence[Any]) -> None:
        for stage in stages:
            if isinstance(stage, Command):
                resolve(stage.name)
                for el in stage.elements:
                    walk(_subpipelines(el))
            else:
                walk(_subpipelines(stage))

    def _subpipelines(expr: Any) -> list[Any]:
        """The stages of the (sub)pipelines inside an expression: ``(...)`` and the
        operands of operators and lists."""
        if isinstance(expr, SubExpr):
            return list(expr.pipeline.stages)
        if isinstance(expr, BinaryExpr):
            return [*_subpipelines(expr.left), *_subpipelines(expr.right)]
        if isinstance(expr, ArrayExpr):
            return [s for item in expr.items for s in _subpipelines(item)]
        return []

    for statement in parse(text):
        walk(statement.pipeline.stages)


def read_transcript(path: str) -> list[tuple[int, str]]:
    """The numbered lines of a transcript file (``-`` reads standard input); bounded and
    only from a regular file (:func:`vtalab.core.files.read_text`)."""
    text = read_text(path, what="transcript")
    lines = []
    for no, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            lines.append((no, stripped))
    return lines


def run_script(session: Session, lines: list[tuple[int, str]], out: TextIO,
               file: str = "<commands>") -> int:
    """Run a transcript; print it with outputs, the grade and the digest; return the exit."""
    in_esxi = False
    for no, line in lines:
        try:
            validate_line(line, esxi=in_esxi)
        except InputError as exc:
            raise InputError(f"{file}:{no}: {exc}") from None
        first = line.split()[0].lower() if line.split() else ""
        if in_esxi and first in ("exit", "logout"):
            in_esxi = False
        elif not in_esxi and first == "ssh":
            in_esxi = True
    out.write(session.intro() + "\n\n")
    for _no, line in lines:
        out.write(session.prompt() + line + "\n")
        reply = session.run(line)
        if reply.text:
            out.write(reply.text.rstrip("\n") + "\n")
        if reply.session is not None:
            session = reply.session
        if reply.exit:
            break
    g = session.grade()
    out.write("\n" + g.text() + "\n")
    out.write(f"digest sha256:{session.world.kernel.trace.digest()}\n")
    return EXIT_OK if g.passed else EXIT_FAIL


# -- interactive ----------------------------------------------------------------------------

def _readline() -> Any:
    try:
        import readline  # optional: the standard library lacks it on some platforms
    except ImportError:  # pragma: no cover - Windows without pyreadline
        return None
    return readline


def completions(session: Session, text: str, line: str) -> list[str]:
    """What tab offers for ``text`` (the word under the cursor) in ``line``."""

    found = list(complete(session.world, session.state, text, line))
    if not line[: len(line) - len(text)].strip():  # the first word: meta commands too
        found += [m for m in [*META_COMMANDS, "help"] if m.startswith(text.lower())
                  and m not in found]
    return sorted(dict.fromkeys(found), key=lambda s: (s.lower(), s))


#: Replies written as prose, wrapped to a terminal's width (tables are left as they are).
_PROSE = {"help", "goal", "hint"}
#: A row's text column: after its first word and ": " or two spaces (help's rows, "Goal: ").
_COLUMN = re.compile(r"(\s*\S+(?::\s|\s{2,})\s*)\S")


def fit(text: str, width: int) -> str:
    """``text`` with each line longer than ``width`` wrapped at spaces, never inside a
    word, its continuation indented under the line's text column."""
    lines = []
    for line in text.split("\n"):
        if len(line) <= width:
            lines.append(line)
            continue
        m = _COLUMN.match(line)
        indent = len(m.group(1)) if m and len(m.group(1)) <= width // 2 else \
            len(line) - len(line.lstrip())
        lines += textwrap.wrap(line, width=width, subsequent_indent=" " * indent,
                               break_long_words=False, break_on_hyphens=False) or [line]
    return "\n".join(lines)


def page(text: str, out: TextIO, read: Callable[[str], str], rows: int) -> None:
    """Show ``text`` a screen at a time (``help`` is about a hundred lines): Enter shows
    more, q stops, as ``more`` does."""
    lines = text.split("\n")
    step = max(rows - 2, 5)
    for start in range(0, len(lines), step):
        out.write("\n".join(lines[start:start + step]) + "\n")
        if start + step >= len(lines):
            return
        out.flush()
        try:
            answer = read(f"-- More -- ({start + step} of {len(lines)} lines; Enter: more, "
                          "q: stop) ")
        except (EOFError, KeyboardInterrupt):
            out.write("\n")
            return
        if answer.strip().lower().startswith("q"):
            return


def run_interactive(session: Session, out: TextIO,
                    read: Callable[[str], str] = input,
                    size: os.terminal_size | None = None) -> int:
    """The interactive loop; returns 0 if the last grade passed, else 1.

    On a terminal (or with ``size`` given) the intro, ``help``, ``goal`` and ``hint`` are
    wrapped to its width, and a ``help`` longer than the screen is paged."""
    if size is None and out.isatty():
        size = shutil.get_terminal_size()
    rl = _readline()
    holder = {"session": session}
    if rl is not None:
        def completer(text: str, state: int) -> str | None:
            try:
                found = completions(holder["session"], text, rl.get_line_buffer())
            except Exception:  # a completer must never kill the prompt
                return None
            return found[state] if state < len(found) else None

        rl.set_completer(completer)
        rl.set_completer_delims(_DELIMS)
        if "libedit" in (rl.__doc__ or ""):
            rl.parse_and_bind("bind ^I rl_complete")
        else:
            rl.parse_and_bind("tab: complete")
    intro = session.intro()
    out.write((fit(intro, size.columns) if size else intro) + "\n\n")
    out.flush()

    def ask(question: str) -> str:  # PowerShell's confirmation prompt, answered here
        text = question.rstrip("\n")
        head, _, last = text.rpartition("\n")
        if head:
            out.write(head + "\n")
            out.flush()
        try:
            return read(visible(last))  # input() writes the prompt itself
        except EOFError:
            return "N"

    session.ask = ask
    while True:
        try:
            line = read(visible(holder["session"].prompt()))  # a host's name in it
        except EOFError:
            out.write("\n")
            break
        except KeyboardInterrupt:
            out.write("^C\n")
            continue
        reply = holder["session"].run(line)
        if reply.text:
            text = reply.text.rstrip("\n")
            word = line.split()[0].lower() if line.split() else ""
            if size is not None and word in _PROSE:
                text = fit(text, size.columns)
            if size is not None and word == "help" and text.count("\n") + 1 > size.lines - 2:
                page(text, out, read, size.lines)
            else:
                out.write(text + "\n")
            out.flush()
        if reply.session is not None:
            holder["session"] = reply.session
            reply.session.ask = ask
        if reply.exit:
            break
    return EXIT_OK if holder["session"].grade().passed else EXIT_FAIL
