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
]


def nearest(value: object, choices: Iterable[object], n: int = 1) -> list[str]:
    """The valid choices closest in spelling to ``value`` (best first, possibly empty)."""
    names = [str(c) for c in choices]
    found = difflib.get_close_matches(str(value), names, n=n, cutoff=0.4)
    if not found and names:
        # Case-insensitive prefix match catches 'esx1' vs 'ESX-01'-style slips.
        low = str(value).lower()
        found = [c for c in names if c.lower().startswith(low[:3])][:n]
    return found


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
