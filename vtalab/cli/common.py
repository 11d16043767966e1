"""What every command shares: exit codes and argument types.

Exit codes: 0 the run or check passed, 1 a verdict failed, 2 invalid input (with the file,
line and nearest valid choice), 3 an internal error (a bug in vtalab; never bad input).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

from vtalab.core.kernel import format_time
from vtalab.core.simtime import parse_time
from vtalab.scenario.run import UntilTooFar

__all__ = ["EXIT_FAIL", "EXIT_INPUT", "EXIT_INTERNAL", "EXIT_OK", "add_pool_options",
           "examples", "time_arg", "until_option"]

EXIT_OK, EXIT_FAIL, EXIT_INPUT, EXIT_INTERNAL = 0, 1, 2, 3


def time_arg(text: str) -> float:
    """A simulated time or duration on the command line (``90``, ``10m``, ``2h30m``)."""
    try:
        return parse_time(text)
    except ValueError as exc:
        if text.strip().startswith("-"):
            raise argparse.ArgumentTypeError(f"{text!r}: a simulated time is not negative "
                                             "(T+0 is the start of the run); "
                                             f"{exc}") from None
        raise argparse.ArgumentTypeError(str(exc)) from None


@contextlib.contextmanager
def until_option(option: str, value: float | None) -> Iterator[None]:
    """A run to ``value`` that the event limit stops after the scenario ended is this
    option's fault: say so, with the time that fits (``--at 20d is more than ...``)."""
    try:
        yield
    except UntilTooFar as exc:
        shown = format_time(value if value is not None else exc.until).removeprefix("T+")
        raise exc.for_option(f"{option} {shown}") from None


def examples(*lines: str) -> str:
    """The ``Examples:`` section of a command's help."""
    return "Examples:\n" + "\n".join(f"  {line}" for line in lines)


def add_pool_options(parser: argparse.ArgumentParser) -> None:
    """``--workers N`` / ``--scheduler ADDRESS``: run on Dask (the ``vtalab[dask]`` extra);
    the results are the same as in-process (vtalab.analysis.pool)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--workers", type=int, metavar="N",
                       help="run on a local Dask cluster of N worker processes, closed at "
                            "the end (needs: pip install 'vtalab[dask]'); same results as "
                            "in-process")
    group.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       help="run on an existing Dask cluster, through its scheduler (needs "
                            "vtalab[dask] here and on the workers); same results")
