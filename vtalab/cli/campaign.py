"""``vtalab campaign SPEC.yaml``: scenarios or plans x seeds x parameter grids, one table.

Arguments and exit codes only; the work is :mod:`vtalab.analysis.campaign` and
:mod:`vtalab.analysis.campaign_report`. The spec is checked whole before anything runs
(exit **2** with the spec's file, line and value on any problem; nothing written). The
runs go in-process, or on Dask with ``--workers N`` / ``--scheduler tcp://HOST:PORT``
(the same table). Then ``NAME.csv``, ``NAME.json`` and ``NAME.html`` are written in
``--out`` (atomically; NAME made safe from the spec's name) and a summary printed: exit
**0**. Ctrl-C: nothing written, exit **130**.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any, TextIO

from vtalab.analysis.campaign import load_campaign, run_campaign, unseen_tasks
from vtalab.analysis.campaign_report import campaign_csv, campaign_html, campaign_json
from vtalab.analysis.pool import check_pool_options, open_pool
from vtalab.cli.common import add_pool_options, examples
from vtalab.core.files import safe_name, write_atomic
from vtalab.core.resources import bundled
from vtalab.errors import InputError
from vtalab.scenario.tracefile import check_folder, check_writable

__all__ = ["register"]

Command = Callable[[argparse.Namespace, TextIO], int]


def register(sub: argparse._SubParsersAction) -> dict[str, Command]:
    c = sub.add_parser(
        "campaign", help="run scenarios or plans over seeds and parameter grids; "
                         "write a table and an HTML report",
        description="Run every scenario (or plan) of a campaign spec for every seed and "
                    "every point of its parameter grid, measure what the operator's "
                    "tools show (failed tasks, vCenter events, refused steps) and the "
                    "invariants, and write the table (CSV, JSON) and an HTML report with "
                    "charts into --out. A bundled spec can be named without its path. "
                    "See docs/campaign.md.",
        epilog=examples(
            "vtalab campaign token-lifetime-vs-outage --out campaign/   # bundled example",
            "vtalab campaign my-campaign.yaml --out results/ --workers 2",
            "vtalab campaign my-campaign.yaml --scheduler tcp://10.0.0.5:8786",
            "vtalab campaign my-campaign.yaml --check   # validate the spec, run nothing"))
    c.add_argument("spec", metavar="SPEC.yaml",
                   help="the campaign spec (or the name of a bundled one)")
    c.add_argument("--out", default="campaign", metavar="DIR",
                   help="where NAME.csv, NAME.json and NAME.html go (default ./campaign)")
    c.add_argument("--crypto", choices=("simulated", "real"), default="simulated",
                   help="crypto of the runs (default simulated: keyed-hash stand-ins with "
                        "the same events and verdicts, faster)")
    c.add_argument("--check", action="store_true",
                   help="only validate the spec and count its runs")
    add_pool_options(c)
    return {"campaign": run}


def _spec_path(name: str) -> str:
    if os.path.exists(name):
        return name
    stem = name.removesuffix(".yaml")
    if stem and "/" not in stem and "\\" not in stem and not stem.startswith("."):
        found = bundled("campaigns", f"{stem}.yaml")
        if found.is_file():
            return str(found)
    return name  # read_text says it does not exist


#: The files a campaign writes in --out: NAME.csv, NAME.json, NAME.html.
OUTPUTS = ("csv", "json", "html")


def _quiet(done: int, total: int, what: str) -> None:
    """No progress bar."""


def run(args: argparse.Namespace, out: TextIO) -> int:
    workers, scheduler = getattr(args, "workers", None), getattr(args, "scheduler", None)
    check_pool_options(workers, scheduler)  # --check opens no pool, but checks them too
    check_folder(args.out)  # before the runs, not after them
    campaign = load_campaign(_spec_path(args.spec))
    spec = campaign.spec
    base = os.path.join(args.out, safe_name(spec.name))
    if os.path.isdir(args.out):  # a folder in the way of NAME.csv is found now, too
        for ext in OUTPUTS:
            check_writable(f"{base}.{ext}", [("the campaign spec", campaign.file)])
    if args.check:
        out.write(f"campaign {spec.name}: {len(campaign.runs)} runs "
                  f"({len(spec.scenarios)} scenario(s) x "
                  f"{len(campaign.runs) // max(1, len(spec.scenarios))} grid points and "
                  f"seeds); columns: {', '.join(campaign.columns)}\n")
        return 0
    factory = getattr(args, "progress", None)
    with open_pool(workers, scheduler) as pool, \
            factory("campaign") if factory else nullcontext(_quiet) as bar:
        seen: set[str] = set()
        rows = run_campaign(campaign, pool=pool, progress=bar, crypto=args.crypto,
                            tasks_seen=seen)
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {args.out}: cannot create the folder: "
                         f"{exc.strerror or exc}") from None
    written = []
    for ext, text in (("csv", campaign_csv(campaign, rows)),
                      ("json", campaign_json(campaign, rows)),
                      ("html", campaign_html(campaign, rows))):
        write_atomic(f"{base}.{ext}", text)
        written.append(f"{base}.{ext}")
    out.write(_summary(campaign, rows))
    for warning in unseen_tasks(campaign, seen):
        out.write(f"WARNING {warning}\n")
    out.write("written: " + ", ".join(written) + "\n")
    return 0


def _summary(campaign: Any, rows: list[dict[str, Any]]) -> str:
    spec = campaign.spec
    lines = [f"== vtalab campaign {spec.name}: {len(rows)} runs"]
    if spec.question:
        lines.append(" ".join(spec.question.split()))
    failed = sum(not r["passed"] for r in rows)
    lines.append(f"expectations failed in {failed} of {len(rows)} runs; invariants "
                 f"violated in {sum(bool(r['invariants_violated']) for r in rows)}")
    for m in spec.measure:
        values = [r[m.name] for r in rows]
        if m.kind == "first_failed_task":
            hit = sorted(v for v in values if v)
            lines.append(f"{m.name}: in {len(hit)} runs" + (f", earliest {hit[0]}"
                                                            if hit else ""))
        else:
            nonzero = sum(1 for v in values if v)
            lines.append(f"{m.name}: total {sum(values)}, in {nonzero} of {len(rows)} runs")
    return "\n".join(lines) + "\n"
