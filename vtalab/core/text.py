"""Text from inputs, made safe to show on a terminal.

Names come from files and people: a scenario's host or VM name, a plan's name, a line typed
at the training shell. Printed raw, a control character in one is obeyed by the terminal
(``ESC[2J`` clears the trainer's screen, a carriage return overwrites a ``FAIL`` with an
``ok``, a right-to-left override reorders what is read). :func:`visible` renders every such
character as a visible escape (``\\x1b``, ``\\r``, ``\\u202e``), as ``ls`` and PowerShell
show what they will not print. Only what goes to a terminal is rendered so: traces,
goldens, files and pipes keep the real characters.
"""

from __future__ import annotations

import re

__all__ = ["has_control", "visible"]

#: C0 controls but tab and newline, DEL, C1 controls (``\x9b`` is a CSI on some
#: terminals), and Unicode's bidirectional embeddings, overrides and isolates.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                      "\u2066-\u2069]")
#: Every C0 and C1 control character, DEL, tab and newline included: what a name from an
#: input (a scenario or cluster name) may not hold at all.
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NAMED = {"\r": "\\r", "\x0b": "\\v", "\x0c": "\\f", "\x08": "\\b", "\x00": "\\0"}


def _escape(m: re.Match[str]) -> str:
    c = m.group()
    return _NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def visible(text: str) -> str:
    """``text`` with control characters shown as escapes (``\\x1b``), tab and newline
    kept: what a terminal can print without obeying anything in it."""
    return _CONTROL.sub(_escape, text)


def has_control(text: str) -> bool:
    """Whether ``text`` holds a control character (tab and newline too): such a name is
    refused where it is read, not only shown escaped."""
    return _ANY_CONTROL.search(text) is not None
