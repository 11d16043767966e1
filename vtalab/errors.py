"""The exception tree, drawn once.

The *simulated world* never raises: a failed attestation, a refused key release or a VM
that will not power on is a value (a report with reason codes) recorded in the trace.
Exceptions are for the *simulator* and for bad input from a person::

    VtalabError                 anything vtalab raises on purpose
    ├── InputError              a person asked for something invalid; nothing was changed
    │   ├── ScenarioError       a scenario / plan / exercise file is invalid (file, line, column)
    │   └── OperationError      an operation is not possible in the world's current state
    │                           (unknown host, Quick Boot on a TXT host, export from a
    │                           powered-off host, ...)
    └── ReplayError             a recorded trace does not reproduce

Every ``InputError`` carries the bad value and the valid choices, and its message names
the nearest valid choice, so the command line can print it without a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

__all__ = [
    "InputError",
    "OperationError",
    "ReplayError",
    "ScenarioError",
    "VtalabError",
    "nearest",
    "resolve_name",
]


def _short(name: str) -> str:
    """A host name's short form: ``esx-a`` for ``esx-a.corp.local``."""
    return name.split(".", 1)[0]


def _ratio(low: str, form: str) -> float:
    """SequenceMatcher's ratio, skipped where it cannot reach 0.4 (the threshold of
    :func:`nearest`): a value over 4 times the choice's length scores at most
    2*len(form)/(len(low)+len(form)) < 0.4 -- and a 100 kB value (a pasted blob where a
    name goes) would otherwise cost seconds to minutes per choice."""
    if len(low) > 4 * len(form):
        return 0.0
    return difflib.SequenceMatcher(None, low, form).ratio()


def _similarity(value: str, choice: str) -> float:
    """How alike ``value`` is to ``choice`` (0..2): the better of the whole name and its
    short form, plus one when ``value`` begins either (so ``esx-a`` ranks
    ``esx-a.corp.local`` above ``ta-esx-01``)."""
    low, c = value.lower(), choice.lower()
    ratio = max(_ratio(low, form) for form in (c, _short(c)))
    return ratio + (1.0 if low and (c.startswith(low) or _short(c).startswith(low)) else 0.0)


def nearest(value: object, choices: Iterable[object], n: int = 1) -> list[str]:
    """The valid choices closest to ``value``, most similar first (possibly empty).

    Similarity is :func:`difflib.SequenceMatcher`'s ratio against the whole choice and
    its short form (before the first dot), case-insensitive; a choice that ``value``
    begins comes first. Choices less than 0.4 alike are not offered.
    """
    names = list(dict.fromkeys(str(c) for c in choices))
    text = str(value)
    scored = sorted(((_similarity(text, c), i, c) for i, c in enumerate(names)),
                    key=lambda t: (-t[0], t[1]))
    return [c for score, _, c in scored if score >= 0.4][:n]


def resolve_name(value: str, choices: Sequence[str], noun: str, *, option: str,
                 what: str | None = None) -> str:
    """The one name of ``choices`` that ``value`` means, or an :class:`InputError`.

    Tried in order: the exact name; the same name in another case; the short name
    (``esx-a`` for ``esx-a.corp.local``); a unique prefix. Two or more candidates at
    the first rule that finds any is an error that lists them.
    """
    if value in choices:
        return value
    low = value.lower()
    rules = (lambda c: c.lower() == low, lambda c: _short(c).lower() == low,
             lambda c: bool(low) and c.lower().startswith(low))
    for rule in rules:
        found = [c for c in choices if rule(c)]
        if len(found) == 1:
            return found[0]
        if found:
            raise InputError(f"{option}: {value!r} is ambiguous: it could be any of "
                             f"{', '.join(found)}; give more of the name",
                             what=what or f"{noun}s", value=value)
    raise InputError(f"{option}: unknown {noun} {value!r}", what=what or f"{noun}s",
                     value=value, choices=list(choices))


class VtalabError(Exception):
    """Base class of every exception vtalab raises on purpose."""


class InputError(VtalabError):
    """A person asked for something invalid. Nothing in the world was changed.

    ``what`` names the kind of thing (``host``, ``version``, ``verb`` ...), ``value`` is the
    offending value and ``choices`` the valid ones; the message suggests the nearest.
    """

    def __init__(
        self,
        message: str,
        *,
        what: str | None = None,
        value: object = None,
        choices: Sequence[object] = (),
        hint: str | None = None,
    ) -> None:
        self.reason = message
        self.what = what
        self.value = value
        self.choices = [str(c) for c in choices]
        close = nearest(value, self.choices) if self.choices and value is not None else []
        self.suggestion = close[0] if close else None
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [self.reason]
        if self.suggestion is not None:
            parts.append(f"did you mean {self.suggestion!r}?")
        if self.choices:
            shown = ", ".join(self.choices[:12]) + (", ..." if len(self.choices) > 12 else "")
            parts.append(f"valid {self.what or 'choices'}: {shown}")
        if self.hint:
            parts.append(self.hint)
        return "; ".join(parts)


class OperationError(InputError):
    """An operation that the world's current state does not allow (nothing was changed)."""


class ScenarioError(InputError):
    """A scenario, plan or exercise file is invalid.

    The message starts with ``file:line:column`` and names the path of the bad field.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        path: str | None = None,
        what: str | None = None,
        value: object = None,
        choices: Sequence[object] = (),
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        where = file or "<scenario>"
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        head = f"{where}: " + (f"{path}: " if path else "")
        super().__init__(head + message, what=what, value=value, choices=choices, hint=hint)


class ReplayError(VtalabError):
    """A recorded trace could not be reproduced (different digest or vtalab version)."""
