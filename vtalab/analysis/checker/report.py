"""What the plan checker writes: counterexample files and the report on stdout.

A counterexample file is an ordinary scenario: a comment header (what was found, with
which seed and options, the culprit step, how to run it), then the case as YAML with one
expectation, ``invariant: NAME``, which fails. :func:`reproduce` reads the written text
back through the scenario loader and runs it, so a file that would not reproduce is
reported, not trusted. The report depends only on the plan, the options and the seed:
same input, same bytes (the progress bar goes to stderr, and only on a terminal).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

from vtalab.analysis.checker.cases import BOOT_FACTORS, scenario_data
from vtalab.scenario.model import load_scenario_text, run_scenario
from vtalab.scenario.timeline import render_timeline

if TYPE_CHECKING:
    from vtalab.analysis.checker.search import Checker, CheckReport, Counterexample

__all__ = ["counterexample_text", "render_report", "reproduce"]


def _parts(case: Any) -> str:
    bits = [f"{len(case.steps)} plan step{'s' * (len(case.steps) != 1)}",
            f"{len(case.faults)} fault{'s' * (len(case.faults) != 1)}"]
    if case.boot_factor != 1.0:
        bits.append(f"boots x{case.boot_factor:g}")
    if case.shifts:
        bits.append(f"{len(case.shifts)} step(s) started later")
    if case.quick_boot:
        bits.append(f"Quick Boot left on in {', '.join(case.quick_boot)}")
    return ", ".join(bits)


def counterexample_text(checker: Checker, ce: Counterexample) -> str:
    """The counterexample file: comment header + runnable scenario YAML."""
    first = ce.violations[0] if ce.violations else None
    where = ("the plan as written" if ce.as_written else
             f"a generated case (Hypothesis, --seed {checker.seed}), shrunk")
    header = [
        f"vtalab check: invariant {ce.invariant} is violated.",
        f"Plan: {checker.path} (world seed {checker.plan.seed})",
        f"Found by: vtalab check {checker.path} --faults {checker.intensity} "
        f"--seed {checker.seed} --examples {checker.examples}",
        f"Found in: {where}.",
    ]
    if ce.complete and not ce.still_violated_without:
        header.append(f"Minimal: {_parts(ce.case)}; taking away any one of them makes the "
                      "invariant hold: `vtalab run` of the reduced scenario (with "
                      "expect_error regenerated for the steps it refuses) exits 0.")
    elif ce.complete:
        left = ", ".join(_component(c) for c in ce.still_violated_without)
        header.append(f"Minimal: {_parts(ce.case)}; taking away any one plan step makes "
                      f"the invariant hold, but without {left} the remaining faults "
                      "violate it on their own (with no plan step too), so that is not "
                      "the plan's doing.")
    else:
        header.append(f"NOT minimal (the check was interrupted): {_parts(ce.case)}.")
    if ce.culprit:
        header.append(f"Culprit: {ce.culprit}.")
    if first is not None:
        header.append(f"Violation: {first}")
    refused = [s for s in ce.scenario.steps if s.expect_error is not None]
    if refused:
        header.append(f"Refused steps: {len(refused)} step(s) the world refuses in this run "
                      "carry expect_error: REASON, so only the invariant fails.")
    header.append("Run it: vtalab run THIS_FILE  (exit 1: only the invariant expectation "
                  "fails)")
    lines = []
    for text in header:  # the command stays on one line, to be copied
        lines += [f"# {text}"] if text.startswith("Found by:") else _wrap(text)
    body = yaml.safe_dump(scenario_data(ce.scenario), sort_keys=False, allow_unicode=True,
                          width=88, default_flow_style=None)
    return "\n".join(lines) + "\n" + body


def _component(component: tuple[str, Any]) -> str:
    kind, value = component
    if kind == "fault":
        return f"the fault {value.text()}"
    if kind == "shift":
        return f"the {value[1]} s delay of plan step {value[0]}"
    if kind == "quick_boot":
        return f"Quick Boot left on in {value}"
    if kind == "boot_factor":
        return f"boots x{value:g}"
    return f"plan step {value}"


def _wrap(text: str, width: int = 88) -> list[str]:
    words = text.split()
    lines, cur = [], "#"
    for w in words:
        if len(cur) + 1 + len(w) > width and cur != "#":
            lines.append(cur)
            cur = "#  "
        cur += " " + w
    lines.append(cur)
    return lines


def reproduce(ce: Counterexample) -> tuple[bool, list[str]]:
    """Read the written text back, run it: (it fails on its invariant expectation and on
    nothing else, timeline)."""
    scenario = load_scenario_text(ce.text, file=ce.path or "<counterexample>")
    result = run_scenario(scenario)
    invariant = [v.ok for v in result.verdicts if v.label.startswith("invariant ")]
    others = [v.ok for v in result.verdicts if not v.label.startswith("invariant ")]
    failed = invariant == [False] and all(others)
    events = [e for e in result.world.kernel.trace if e.time > 0 or e.source == "scenario"]
    return failed, render_timeline(events)


def render_report(report: CheckReport, *, timelines: bool = True) -> str:
    """The checker's stdout: what was run, exercised and found."""
    ex = report.exercised
    out = [f"== vtalab check {report.path}: plan {report.plan.name!r}, faults "
           f"{report.intensity}, seed {report.seed}, {report.examples} examples", ""]
    bad = sorted(report.as_written.violations)
    out.append("as written: " + ("no invariant violated" if not bad else
                                 "violates " + ", ".join(bad)))
    out.append("")
    out.append(f"exercised: {ex.runs} distinct runs (the plan as written, generated cases, "
               "shrinking and minimising)")
    faults = ", ".join(f"{k} x{v}" for k, v in sorted(ex.faults.items())) or "none"
    out.append(f"  faults injected: {faults}")
    positions = sorted({p for _, p in ex.interleavings})
    out.append(f"  interleavings: {len(ex.interleavings)} distinct (fault, before step) pairs"
               + (f" at step positions {', '.join(map(str, positions))}" if positions else ""))
    boots = ", ".join(f"x{f:g} in {ex.boot_factors[f]}" for f in BOOT_FACTORS
                      if ex.boot_factors.get(f))
    out.append(f"  timing: boots {boots or 'none'}; steps started later in "
               f"{ex.shifted_runs} runs; Quick Boot left on in {ex.quick_boot_runs} runs")
    verbs = ", ".join(f"{k} x{v}" for k, v in sorted(ex.verbs.items())) or "none"
    out.append(f"  verbs run: {verbs}")
    out.append("  invariants (times at risk, summed over runs; runs violating):")
    from vtalab.analysis.invariants import INVARIANTS

    width = max(len(n) for n in INVARIANTS)
    for name, inv in INVARIANTS.items():
        note = "advice" if inv.kind == "advice" else f"violated in {ex.violated_runs[name]}"
        out.append(f"    {name:<{width}}  at risk {ex.at_risk[name]:>6}  {note}")
    untested = [n for n, inv in INVARIANTS.items() if inv.kind != "advice" and not ex.at_risk[n]]
    if untested:
        out.append("  never at risk in these runs, so not tested: " + ", ".join(untested)
                   + (" (light faults never take a TA host down: see --faults heavy)"
                      if "ta-objects-consistent-at-end" in untested
                      and report.intensity != "heavy" else ""))
    if ex.fault_only:
        out.append("  violated by the injected faults alone, with no plan step (not counted "
                   "against the plan): " + ", ".join(sorted(ex.fault_only)))
    if report.advice:
        out += ["", "advice (warnings, never failures) on the plan as written:"]
        for v in report.advice:
            out += [f"  WARNING {v.invariant}: {line}" for line in [str(v)]]
    for ce in report.counterexamples:
        out += ["", f"VIOLATED {ce.invariant}"]
        out.append(f"  counterexample: {ce.path or '(not written)'}"
                   + ("" if ce.complete else "  (interrupted: not minimised)"))
        out.append(f"  found in: {'the plan as written' if ce.as_written else 'a generated case'}"
                   f"; minimal: {_parts(ce.case)}")
        out.append(f"  culprit: {ce.culprit or 'no single plan step (the faults alone)'}"
                   if ce.complete else "  culprit: not searched (interrupted)")
        for v in ce.violations[:3]:
            out.append(f"  violation: {v}")
        if ce.reproduced is not None:
            out.append("  reproduces with vtalab run: " + ("yes" if ce.reproduced else
                                                          "NO (a bug of vtalab check)"))
        if timelines and ce.timeline:
            out.append("  timeline:")
            out += [f"    {line}" for line in ce.timeline]
    out.append("")
    if report.interrupted:
        out.append(f"interrupted: {len(report.counterexamples)} counterexample(s) kept")
    n = len(report.counterexamples)
    out.append(f"result: {n} invariant{'s' * (n != 1)} violated" if n else
               f"result: no invariant violated under what was tried "
               f"({ex.runs} runs, faults {report.intensity})")
    return "\n".join(out) + "\n"

