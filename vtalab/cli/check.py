"""``vtalab check PLAN.yaml``: the plan checker on the command line.

Arguments and exit codes only; the work is :mod:`vtalab.analysis.checker.search`. Exit **0** when no
invariant was violated under what was tried (advice is printed as warnings, never a
failure), **1** when one was (its counterexample files are in ``--out``), **2** for invalid
input (nothing written), **130** when interrupted before any counterexample was found
(Ctrl-C keeps every counterexample found so far, and exits 1 then).

``--workers N`` runs the cases on a local Dask cluster of N processes (closed at the end,
Ctrl-C included), ``--scheduler tcp://HOST:PORT`` on an existing one; the report and the
counterexample files are the same as in-process (:mod:`vtalab.analysis.pool`).

Files are written only in ``--out`` (counterexample names are made safe from the plan's
name). Hypothesis keeps no example database for the search, and its cache (constants it
collects from source files) goes to a temporary folder removed at the end, or to the
folder named by ``HYPOTHESIS_STORAGE_DIRECTORY``: no ``.hypothesis/`` in the current folder.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from typing import Any, TextIO

from hypothesis.configuration import set_hypothesis_home_dir

from vtalab.analysis.checker.cases import Case
from vtalab.analysis.checker.report import render_report
from vtalab.analysis.checker.search import NO_STEPS, Checker
from vtalab.analysis.htmlreport import check_html
from vtalab.analysis.pool import open_pool
from vtalab.cli.common import add_pool_options, examples
from vtalab.core.limits import MAX_CHECK_EXAMPLES
from vtalab.errors import InputError
from vtalab.scenario.model import load_scenario, run_scenario
from vtalab.scenario.tracefile import check_folder, check_writable, write_text
from vtalab.scenario.yamlloc import load_yaml_file

__all__ = ["register"]


Command = Callable[[argparse.Namespace, TextIO], int]


def register(sub: argparse._SubParsersAction) -> dict[str, Command]:

    c = sub.add_parser(
        "check", help="check an upgrade plan under faults; write the smallest "
                      "counterexamples",
        description="Run an upgrade plan as written and under generated fault schedules "
                    "and timings, check every invariant, and write each violation's "
                    "smallest counterexample as a runnable scenario (your plan file, "
                    "edited). Exit 1 when an invariant is violated.",
        epilog=examples(
            "vtalab check scenarios/plans/safe-rolling-upgrade.yaml",
            "vtalab check my-plan.yaml --faults heavy --examples 200 --out ce/",
            "vtalab check my-plan.yaml --html check.html",
            "vtalab check my-plan.yaml --examples 500 --workers 2   # on 2 Dask processes",
            "vtalab check my-plan.yaml --scheduler tcp://10.0.0.5:8786",
            "vtalab run ce/my-plan--liveness-reattested.yaml   # replay a counterexample"))
    c.add_argument("plan", metavar="PLAN.yaml",
                   help="the plan: a scenario file (its expect block is not used)")
    c.add_argument("--examples", type=int, default=50, metavar="N",
                   help="generated cases to try (default 50)")
    c.add_argument("--faults", choices=("none", "light", "heavy"), default="light",
                   help="fault intensity (default light)")
    c.add_argument("--seed", type=int, default=0, metavar="N",
                   help="seed of the search (default 0)")
    c.add_argument("--html", metavar="FILE",
                   help="also write an HTML report: the plan's host swim lanes and steps, "
                        "one verdict per invariant, each counterexample with its culprit")
    c.add_argument("--out", default="counterexamples", metavar="DIR",
                   help="where counterexample files go (default ./counterexamples)")
    c.add_argument("--crypto", choices=("simulated", "real"), default="simulated",
                   help="crypto of the search (default simulated: keyed-hash stand-ins, "
                        "faster; every counterexample is confirmed with real crypto before "
                        "it is reported)")
    c.add_argument("--fork", action="store_true",
                   help="in-process, fork where cases share their beginning instead of "
                        "running it again (same results; saves time only where a fork is "
                        "cheap: measure first, docs/checker.md)")
    add_pool_options(c)
    return {"check": run}


def _quiet(done: int, total: int, what: str) -> None:
    """No progress bar (the checker used as a library, or no terminal)."""


@contextlib.contextmanager
def _hypothesis_storage() -> Iterator[None]:
    """Hypothesis's storage folder: the user's (``HYPOTHESIS_STORAGE_DIRECTORY``) or a
    temporary one, never ``./.hypothesis``."""
    if os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="vtalab-hypothesis-") as home:
        set_hypothesis_home_dir(home)
        try:
            yield
        finally:
            set_hypothesis_home_dir(None)


def run(args: argparse.Namespace, out: TextIO) -> int:

    if not 1 <= args.examples <= MAX_CHECK_EXAMPLES:
        raise InputError(f"--examples must be between 1 and {MAX_CHECK_EXAMPLES:,} "
                         f"(MAX_CHECK_EXAMPLES); got {args.examples:,}", what="examples",
                         value=args.examples)
    check_folder(args.out)
    if getattr(args, "fork", False) and (getattr(args, "workers", None) is not None
                                         or getattr(args, "scheduler", None)):
        raise InputError("--fork shares the beginnings of runs in this process; it does "
                         "not go with --workers or --scheduler (their runs are on Dask "
                         "workers): give one or the other", what="options")
    if args.html is not None:
        check_writable(args.html, [("the plan", args.plan)])
    plan = load_scenario(args.plan)
    if not plan.steps:  # nothing of the plan's to blame: it would always pass
        raise load_yaml_file(args.plan).error(("steps",), NO_STEPS, key=True)
    factory = getattr(args, "progress", None)  # set by vtalab.cli.app: a bar on stderr
    workers, scheduler = getattr(args, "workers", None), getattr(args, "scheduler", None)
    with open_pool(workers, scheduler) as pool, \
            factory("check") if factory else nullcontext(_quiet) as bar, \
            _hypothesis_storage():
        checker = Checker(plan, path=args.plan, examples=args.examples, faults=args.faults,
                          seed=args.seed, out=args.out, progress=bar, crypto=args.crypto,
                          pool=pool, fork=getattr(args, "fork", False) or None)
        report = checker.run()
    out.write(render_report(report))
    if args.html:
        _write_html(args.html, checker, report)
    return report.exit_code


def _write_html(path: str, checker: Any, report: Any) -> None:
    """The HTML report: the plan as written and each counterexample, run once more for
    their lanes and timelines (deterministic: the runs the checker saw)."""

    written = run_scenario(checker.scenario(Case.as_written(checker.plan)))
    runs = [run_scenario(ce.scenario) for ce in report.counterexamples]
    write_text(path, check_html(report, written, runs))
