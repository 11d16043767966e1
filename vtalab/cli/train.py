"""``vtalab train``: list the exercises, or run one in the training shell.

::

    vtalab train                                   # the exercises
    vtalab train upgrade-before-import             # the interactive shell
    vtalab train upgrade-before-import --commands fix.ps1   # a transcript, graded
    vtalab train --resume session.json             # carry on with a saved session

Exit codes as everywhere in vtalab: 0 the goal was reached with trust intact, 1 it was
not, 2 invalid input (unknown exercise, unreadable or invalid transcript or saved session).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, TextIO

from vtalab.cli.common import examples
from vtalab.errors import InputError
from vtalab.training.exercises import exercise, exercises
from vtalab.training.session import Session
from vtalab.training.shell import read_transcript, run_interactive, run_script

__all__ = ["register"]


def register(sub: Any) -> dict[str, Callable[[argparse.Namespace, TextIO], int]]:

    t = sub.add_parser(
        "train", help="operator training: list the exercises, or run one in the training "
                      "shell",
        description="List the break/fix exercises, or open one in a PowerCLI-style shell "
                    "(hints, grading, an HTML debrief, rewind, save and resume). Exit 0 "
                    "when the goal is reached with trust intact.",
        epilog=examples("vtalab train",
                        "vtalab train upgrade-before-import",
                        "vtalab train upgrade-before-import --commands fix.ps1",
                        "vtalab train --resume session.json"))
    t.add_argument("exercise", nargs="?", metavar="EXERCISE",
                   help="the exercise to run (omit to list them)")
    t.add_argument("--commands", metavar="FILE",
                   help="run this transcript non-interactively ('-' for stdin), graded")
    t.add_argument("--resume", metavar="FILE", help="resume a session saved with 'save'")
    t.add_argument("--seed", type=int, help="override the exercise's seed")
    return {"train": run}


def run(args: argparse.Namespace, out: TextIO) -> int:

    if args.resume is not None:
        if args.seed is not None:
            raise InputError("--seed cannot be combined with --resume: the saved session "
                             "has its seed", what="option", value="--seed")
        session = Session.load(args.resume)
        if args.exercise is not None and args.exercise != session.exercise.id:
            raise InputError(f"{args.resume} is a session of {session.exercise.id!r}, not "
                             f"{args.exercise!r}", what="exercise", value=args.exercise,
                             choices=[session.exercise.id])
    elif args.exercise is None:
        if args.commands is not None or args.seed is not None:
            raise InputError("--commands and --seed need an EXERCISE", what="exercises",
                             value="", choices=list(exercises()))
        out.write(listing(exercises()))
        return 0
    else:
        if args.seed is not None and args.seed < 0:
            raise InputError(f"--seed: expected a number >= 0, got {args.seed}",
                             what="seed", value=args.seed)
        session = Session.start(exercise(args.exercise), args.seed)
    if args.commands is not None:
        lines = read_transcript(args.commands)
        return run_script(session, lines, out, args.commands)
    return run_interactive(session, out)


def listing(table: dict[str, Any]) -> str:
    lines = ["Exercises (vtalab train EXERCISE):", ""]
    for ex in table.values():
        lines.append(f"{ex.id}  [{ex.difficulty}]")
        lines.append(f"    {ex.title}")
        lines.append(f"    teaches: {ex.one_line()}")
        lines.append(f"    source:  {ex.source}")
        lines.append("")
    return "\n".join(lines)
