"""What people read in a terminal: colour, wrapping with a hanging indent, progress bars.

Every command renders **plain text** first (the text golden transcripts, ``--json`` and
pipes get, byte for byte). When, and only when, the text goes to a terminal, it is
dressed on its way out, line by line:

* **wrapping** to the terminal's width (``COLUMNS`` when set), at spaces only — a word is
  never split; a word longer than the line stays whole on its own line — with a
  **hanging indent**: continuation lines start under the message column of a timeline
  line (after time and component), after ``PASS``/``FAIL``/``WARNING``/``VIOLATED``
  markers, after a ``key:`` or a ``key    value`` column, or under the line's own
  indentation. When the message column leaves fewer than :data:`MIN_TEXT` columns, the
  continuation is indented :data:`NARROW_INDENT` columns instead.
* **colour** (with :mod:`rich`): ``PASS``/``attested``/``[WORKS]`` green, ``FAIL``/
  ``notAttested``/``FAILED``/``VIOLATED``/``error:`` red, ``SKIP``/``WARNING``/refusals
  yellow, times dim, components cyan.

``--color auto`` (the default) colours a terminal unless ``NO_COLOR`` is set (to anything
but the empty string) or ``TERM`` is ``dumb``; ``--color always`` colours even a pipe
(and overrides ``NO_COLOR``, as its convention allows a command-line flag to), but a pipe
is never wrapped; ``--color never`` never colours. Control characters in the text (a
host name from a scenario file with ``ESC[2J`` in it) are shown as escapes
(:func:`vtalab.core.text.visible`) on the way to a terminal, never obeyed; a pipe gets
the text as it is. Progress bars (:func:`progress`) go to
stderr, only when stderr is a terminal, with elapsed time and an estimate of the time left.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from vtalab.core.text import visible

__all__ = ["COLOR_CHOICES", "MIN_TEXT", "NARROW_INDENT", "Styled", "Visible", "colour_on",
           "hang", "output", "progress", "style_line", "wrap_line", "wrap_text"]

COLOR_CHOICES = ("auto", "always", "never")

#: Fewest columns a continuation line should have for its text.
MIN_TEXT = 20
#: The indent of a continuation line when the hanging indent leaves too little room.
NARROW_INDENT = 4

_TIMELINE = re.compile(r"(\s*T[+-](?:\d+d )?\d\d:\d\d:\d\d(?:\.\d+)?\s+\S+\s+)(?=\S)")
_MARKER = re.compile(r"(\s*(?:PASS|FAIL|SKIP|WARNING|VIOLATED|DIFF|same|without the fix: "
                     r"(?:PASS|FAIL|SKIP))\s+)(?=\S)")
_NUMBERED = re.compile(r"(\s*\d+\.\s+(?:\[[A-Z]+\]\s+)?)(?=\S)")
_COLUMN = re.compile(r"(\s*[a-z][a-z ]{0,14}?\s{2,})(?=\S)")  # "status      notAttested"
_KEYCOL = re.compile(r"([a-z][a-z ]{10} )(?=\S)")  # explain's 12-column keys: "quick boots "
_KEY = re.compile(r"(\s*[\w' ()/.-]{1,32}?: )(?=\S)")  # "  culprit: step 5 ..."
_BULLET = re.compile(r"(\s*(?:[-*>]|#|==)\s+)(?=\S)")


_GAP = re.compile(r"(?<=\S) {2,}(?=\S)")  # a column gap inside a table row


def hang(line: str, width: int | None = None) -> int:
    """The column continuation lines of ``line`` start at (its hanging indent): after a
    timeline's time and component, a PASS/FAIL/... marker, a number, a ``key:``; in a
    table row, under its last column (the last gap of two or more spaces that leaves
    :data:`MIN_TEXT` columns of room when ``width`` is given); else under the line's own
    indentation."""
    for pattern in (_TIMELINE, _MARKER, _NUMBERED):
        m = pattern.match(line)
        if m:
            return len(m.group(1))
    gaps = [m.end() for m in _GAP.finditer(line)
            if width is None or m.end() <= width - MIN_TEXT]
    if gaps:
        return gaps[-1]
    for pattern in (_COLUMN, _KEYCOL, _KEY, _BULLET):
        m = pattern.match(line)
        if m:
            return len(m.group(1))
    return len(line) - len(line.lstrip(" "))


def wrap_line(line: str, width: int) -> list[str]:
    """``line`` wrapped to ``width`` columns at spaces, with its hanging indent.

    No word is ever split. A word too long for any continuation line (a digest, a path)
    stays on the line it starts on, which then runs past ``width``: moving it would only
    add a line. Spacing inside the first line (the aligned columns) is kept as it is.
    """
    if len(line) <= width or not line.strip():
        return [line]
    indent = hang(line, width)
    if width - indent < MIN_TEXT:
        indent = min(NARROW_INDENT, len(line) - len(line.lstrip(" ")) + NARROW_INDENT)
    room = width - indent
    parts = re.split(r"( +)", line[indent:])
    out: list[str] = []
    cur = line[:indent] + parts[0]
    for space, word in zip(parts[1::2], parts[2::2], strict=False):
        if not word:  # trailing spaces
            continue
        if len(cur) + len(space) + len(word) <= width or (
                len(word) > room and cur.strip()):
            cur += space + word
        else:
            out.append(cur.rstrip(" "))
            cur = " " * indent + word
    out.append(cur.rstrip(" "))
    return out


def wrap_text(text: str, width: int) -> str:
    """Every line of ``text`` wrapped (:func:`wrap_line`); line ends kept."""
    lines = text.split("\n")
    return "\n".join("\n".join(wrap_line(line, width)) for line in lines)


# -- colour ---------------------------------------------------------------------------

#: (pattern, rich style): the words people scan for.
STYLES: tuple[tuple[str, str], ...] = (
    (r"^\s*T[+-](?:\d+d )?\d\d:\d\d:\d\d(?:\.\d+)?", "dim"),
    (r"(?<=^T\+\d\d:\d\d:\d\d {6})\S+", "cyan"),
    (r"\b(?:PASS|WORKS|attested|reproduced)\b|^same\b|(?<=: )(?:passed|completed)\b",
     "bold green"),
    (r"\b(?:FAIL|FAILED|FAILS|VIOLATED|NOT reproduced|notAttested|DIFF)\b|(?<=: )failed\b",
     "bold red"),
    (r"^\s*error:", "bold red"),
    (r"^internal error:", "bold red"),
    (r"\b(?:SKIP|WARNING|warning|refused|not reached|advice)\b", "yellow"),
    (r"^== .*", "bold"),
)
_STYLE_RES = [(re.compile(p), s) for p, s in STYLES]


def style_line(line: str) -> Any:
    """``line`` as a :class:`rich.text.Text` with :data:`STYLES` applied."""

    text = Text(line, no_wrap=True, end="")
    for pattern, style in _STYLE_RES:
        text.highlight_regex(pattern, style)
    return text


def colour_on(stream: Any, choice: str = "auto", environ: Any = None) -> bool:
    """Whether output to ``stream`` is coloured under ``--color choice``."""
    env = os.environ if environ is None else environ
    if choice == "never":
        return False
    if choice == "always":
        return True
    return _is_tty(stream) and env.get("NO_COLOR", "") == "" and env.get("TERM") != "dumb"


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class _Wrapper:
    """What a stream wrapping another answers from it: whether it is a terminal, its file
    descriptor and its encoding."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def isatty(self) -> bool:
        return _is_tty(self.stream)

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", "utf-8") or "utf-8"


class Styled(_Wrapper):
    """A text stream that wraps and colours complete lines on their way to ``stream``."""

    def __init__(self, stream: TextIO, *, color: bool, width: int | None) -> None:
        super().__init__(stream)
        self.color = color
        self.width = width
        self._buffer = ""
        self._console = Console(
            file=stream, force_terminal=color, no_color=not color,
            color_system="standard" if color else None, width=max(width or 0, 10_000),
            highlight=False, markup=False, emoji=False, soft_wrap=True, legacy_windows=False)

    def write(self, text: str) -> int:
        self._buffer += visible(text)  # a name's ESC[2J is shown, not obeyed
        *done, self._buffer = self._buffer.split("\n")
        for line in done:
            self._emit(line)
        return len(text)

    def _emit(self, line: str) -> None:
        parts = wrap_line(line, self.width) if self.width else [line]
        for part in parts:
            if self.color:
                self._console.print(style_line(part), end="\n")
            else:
                self.stream.write(part + "\n")

    def flush(self) -> None:
        if self._buffer:
            line, self._buffer = self._buffer, ""
            parts = wrap_line(line, self.width) if self.width else [line]
            text = "\n".join(parts)
            if self.color:
                self._console.print(style_line(text), end="")
            else:
                self.stream.write(text)
        self.stream.flush()


class Visible(_Wrapper):
    """A text stream to a terminal that shows control characters instead of sending them
    (:func:`vtalab.core.text.visible`): plain output (the training shell, ``--json``)
    written to a terminal, not dressed otherwise."""

    def write(self, text: str) -> int:
        self.stream.write(visible(text))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def output(stream: TextIO, choice: str = "auto", *,
           plain: bool = False) -> TextIO | Styled | Visible:
    """``stream`` as a command should write to it: itself, untouched, on a pipe without
    ``--color always`` or with ``--color never``; plain output (``plain=True`` for
    ``--json``, generated references, the training shell) to a terminal only with its
    control characters shown (:class:`Visible`); else a :class:`Styled` stream."""
    if plain:
        return Visible(stream) if _is_tty(stream) else stream
    tty = _is_tty(stream)
    color = colour_on(stream, choice)
    width = shutil.get_terminal_size((80, 24)).columns if tty else None
    if not color and width is None:
        return stream
    return Styled(stream, color=color, width=width)


# -- progress -------------------------------------------------------------------------

@contextmanager
def progress(stream: TextIO, description: str, *, choice: str = "auto"
             ) -> Iterator[Callable[[int, int, str], None]]:
    """A progress callback ``(done, total, what)``: a bar with counts, elapsed time and
    the estimated time left on ``stream`` when it is a terminal; nothing otherwise."""
    if not _is_tty(stream):
        yield lambda done, total, what: None
        return

    color = colour_on(stream, choice)
    console = Console(file=stream, force_terminal=True, no_color=not color,
                      highlight=False, markup=False)
    # Wall-clock time of the person waiting, outside the simulated world.  # wall-clock ok
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("left"),
                   TimeRemainingColumn(), TextColumn("{task.fields[what]}"),
                   console=console, transient=True)
    task = bar.add_task(description, total=None, what="")
    with bar:
        def update(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=max(total, 1), what=what)

        yield update
