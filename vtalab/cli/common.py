"""What every command shares: exit codes and argument types.

Exit codes: 0 the run or check passed, 1 a verdict failed, 2 invalid input (with the file,
line and nearest valid choice), 3 an internal error (a bug in vtalab; never bad input).
"""

from __future__ import annotations

import argparse

from vtalab.core.simtime import parse_time

__all__ = ["EXIT_FAIL", "EXIT_INPUT", "EXIT_INTERNAL", "EXIT_OK", "examples", "time_arg"]

EXIT_OK, EXIT_FAIL, EXIT_INPUT, EXIT_INTERNAL = 0, 1, 2, 3


def time_arg(text: str) -> float:
    """A simulated time or duration on the command line (``90``, ``10m``, ``2h30m``)."""
    try:
        return parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def examples(*lines: str) -> str:
    """The ``Examples:`` section of a command's help."""
    return "Examples:\n" + "\n".join(f"  {line}" for line in lines)
