"""PowerShell's expression operators, as far as runbooks use them.

``+ - * / %`` (numbers; ``+`` also joins strings and arrays, ``*`` repeats a string),
``-f`` (.NET composite formatting: ``"{0} runs {1}" -f $h.Name, $h.Version``, with
``{i,width}`` alignment and the common numeric formats ``N``, ``D``, ``F``, ``X``) and
``-join``. Precedence as PowerShell's (about_Operator_Precedence): ``-f`` binds tighter
than ``* / %``, which bind tighter than ``+ -``, then ``-join``; the comma tighter than
all of them (``-f``'s right side is a list).

Pure functions over run-time values (text, numbers, lists, objects); a wrong operand is
PowerShell's error as an :class:`InputError`. Results are bounded: a string or array
longer than :data:`MAX_LENGTH` is refused (``'x' * 1e9`` would otherwise take the lab's
memory).
"""

from __future__ import annotations

import re
from typing import Any

from vtalab.errors import InputError
from vtalab.world.psformat import cell

__all__ = ["BINARY", "MAX_LENGTH", "apply", "format_string", "number"]

#: The longest string or array an operator may make (characters or items).
MAX_LENGTH = 1_000_000

#: Binary operators by precedence level, tightest first (the parser climbs them).
BINARY: tuple[tuple[str, ...], ...] = (("-f",), ("*", "/", "%"), ("+", "-"), ("-join",))

_NUMERIC = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*")


def number(value: Any) -> int | float | None:
    """``value`` as a PowerShell number (an int when it is whole text), else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str) and _NUMERIC.fullmatch(value):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            return float(text)
    return None


def _bounded(result: Any, op: str) -> Any:
    size = len(result) if isinstance(result, str | list) else 0
    if size > MAX_LENGTH:
        unit = "characters" if isinstance(result, str) else "items"
        raise InputError(f"'{op}' would make {size:,} {unit}; the lab allows at most "
                         f"{MAX_LENGTH:,}")
    return result


def _items(value: Any) -> list[Any]:
    return [] if value is None else list(value) if isinstance(value, list) else [value]


def apply(op: str, left: Any, right: Any) -> Any:
    """``left op right`` as PowerShell evaluates it."""
    if op == "-f":
        return format_string(cell(left), _items(right))
    if op == "-join":
        return _bounded(cell(right).join(cell(v) for v in _items(left)), op)
    if op == "+":
        if isinstance(left, list):
            return _bounded(left + _items(right), op)
        if left is None:
            return right
        if isinstance(left, str):
            return _bounded(left + cell(right), op)
    if op == "*" and isinstance(left, str | list):
        times = number(right)
        if not isinstance(times, int) or times < 0:
            raise InputError(f"Cannot convert value \"{cell(right)}\" to type "
                             "\"System.Int32\" (a string or array repeats a whole number "
                             "of times)")
        if len(left) * times > MAX_LENGTH:  # refused before it is made
            unit = "characters" if isinstance(left, str) else "items"
            raise InputError(f"'*' would make {len(left) * times:,} {unit}; the lab allows "
                             f"at most {MAX_LENGTH:,}")
        return left * times
    a, b = number(left), number(right)
    if a is None or b is None:
        bad = left if a is None else right
        raise InputError(f"Cannot convert value \"{cell(bad)}\" to a number for '{op}'",
                         hint="arithmetic takes numbers; '+' also joins text and arrays")
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        raise InputError("Attempted to divide by zero.")
    if op == "%":
        return a % b
    quotient = a / b
    return int(quotient) if isinstance(a, int) and isinstance(b, int) and a % b == 0 \
        else quotient


_ITEM = re.compile(r"\{(\d+)(?:\s*,\s*(-?\d+))?(?::([^{}]*))?\}")


def format_string(pattern: str, args: list[Any]) -> str:
    """.NET's ``String.Format`` for ``-f``: ``{index[,alignment][:format]}``, ``{{`` and
    ``}}`` for braces; numeric formats ``N``/``F`` (decimals), ``D`` (digits), ``X``
    (hex), others give the value as text."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("{{", i) or pattern.startswith("}}", i):
            out.append(c)
            i += 2
            continue
        if c == "{":
            found = _ITEM.match(pattern, i)
            if found is None:
                raise InputError(f"Error formatting a string: Input string was not in a "
                                 f"correct format.: {pattern!r}")
            index = int(found.group(1))
            if index >= len(args):
                raise InputError("Error formatting a string: Index (zero based) must be "
                                 "greater than or equal to zero and less than the size of "
                                 f"the argument list.: {pattern!r}",
                                 hint=f"{len(args)} value(s) given after -f")
            text = _formatted(args[index], found.group(3))
            width = int(found.group(2) or 0)
            if abs(width) > 10_000:
                raise InputError(f"Error formatting a string: alignment {width} is too wide")
            out.append(text.ljust(-width) if width < 0 else text.rjust(width))
            i = found.end()
            continue
        if c == "}":
            raise InputError("Error formatting a string: Input string was not in a correct "
                             f"format.: {pattern!r}")
        out.append(c)
        i += 1
    return _bounded("".join(out), "-f")


def _formatted(value: Any, spec: str | None) -> str:
    n = number(value) if spec else None
    if not spec or n is None:
        return cell(value)
    kind, digits = spec[0].upper(), spec[1:]
    places = int(digits) if digits.isdigit() and len(digits) <= 3 else None
    if kind == "N":
        return f"{n:,.{2 if places is None else places}f}"
    if kind == "F":
        return f"{n:.{2 if places is None else places}f}"
    if kind == "D" and isinstance(n, int):
        return f"{n:0{places or 0}d}"
    if kind == "X" and isinstance(n, int):
        text = f"{n:0{places or 0}x}"
        return text.upper() if spec[0] == "X" else text
    return cell(value)
