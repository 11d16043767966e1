"""What the plan checker writes: counterexample files and the report on stdout.

A counterexample file is an ordinary scenario: a comment header (what was found, with
which seed and options, the culprit step, how to run it), then the case as YAML with one
expectation, ``invariant: NAME``, which fails. :func:`reproduce` reads the written text
back through the scenario loader and runs it, so a file that would not reproduce is
reported, not trusted. The report depends only on the plan, the options and the seed:
same input, same bytes (the progress bar goes to stderr, and only on a terminal).
"""

from __future__ import annotations

import copy
import io
import re
from typing import TYPE_CHECKING, Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from vtalab.analysis.checker.cases import BOOT_FACTORS, scenario_data, step_data
from vtalab.invariants import INVARIANTS
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
             f"a generated case (--seed {checker.seed}), shrunk")
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
    body = _as_the_user_wrote_it(checker, ce)
    if body is None:  # the plan is not a file, or the round trip would not reproduce it
        body = yaml.safe_dump(scenario_data(ce.scenario), sort_keys=False,
                              allow_unicode=True, width=88, default_flow_style=None)
    return "\n".join(lines) + "\n" + body


def _duration(seconds: float) -> str | int | float:
    """Seconds as a person writes them in a scenario: ``19m``, ``2h``, ``90s``."""
    s = float(seconds)
    for unit, size in (("h", 3600), ("m", 60)):
        if s >= size and s % size == 0:
            return f"{int(s // size)}{unit}"
    return int(s) if s == int(s) else s


def _as_the_user_wrote_it(checker: Checker, ce: Counterexample) -> str | None:
    """The counterexample as the plan file itself, edited: the plan's own comments,
    durations (``10m``), quoting and order are kept for every step the case keeps as it
    was; only what the checker changed is written anew. ``None`` when the plan is not a
    readable file or the edited text does not load back to exactly the counterexample
    (then the caller writes the plain form)."""



    try:
        with open(checker.path, encoding="utf-8") as fh:
            text = fh.read()
        rt = YAML()
        rt.width = 88
        rt.preserve_quotes = True
        rt.indent(mapping=2, sequence=4, offset=2)
        doc = rt.load(text)
    except Exception:  # noqa: BLE001 - any failure means: write the plain form instead
        return None
    plan, case, target = checker.plan, ce.case, ce.scenario
    if not isinstance(doc, CommentedMap) or not isinstance(doc.get("steps"), list) \
            or len(doc["steps"]) != len(plan.steps):
        return None

    def fresh(step: Any) -> CommentedMap:
        data = step_data(step)
        for key in ("at", "after"):
            if key in data:
                data[key] = _duration(data[key])
        out = CommentedMap(data)
        if "with" in data:
            w = CommentedMap(data["with"])
            w.fa.set_flow_style()
            out["with"] = w
        return out

    shifts, changed, kept = dict(case.shifts), dict(case.changed), set(case.steps)
    by_position: dict[int, list[Any]] = {}
    for f in case.faults:
        by_position.setdefault(f.position, []).append(f)
    nodes: list[CommentedMap] = []
    for i in range(len(plan.steps) + 1):
        for _ in by_position.get(i, []):
            nodes.append(fresh(target.steps[len(nodes)]))
        if i < len(plan.steps) and i in kept:
            want = target.steps[len(nodes)]
            if i in shifts or i in changed:
                nodes.append(fresh(want))
                continue
            node = copy.deepcopy(doc["steps"][i])
            if want.expect_error is None:
                node.pop("expect_error", None)
            else:
                node["expect_error"] = want.expect_error
            nodes.append(node)
    steps = CommentedSeq(nodes)
    doc["name"] = target.name
    doc["description"] = target.description
    if target.parameters != plan.parameters:
        doc["parameters"] = CommentedMap(sorted(target.parameters.items()))
    if "settle" in doc:
        doc["settle"] = _duration(target.settle)
    else:  # where a person would put it: after the seed
        keys = list(doc)
        at = keys.index("seed") + 1 if "seed" in keys else len(keys)
        doc.insert(at, "settle", _duration(target.settle))
    for cluster in (doc.get("topology") or {}).get("trusted_clusters") or []:
        if isinstance(cluster, dict) and cluster.get("name", "Trusted Cluster") in \
                case.quick_boot:
            cluster["quick_boot"] = True
    doc["steps"] = steps
    doc["expect"] = [CommentedMap(e.model_dump(mode="json", exclude_none=True,
                                               by_alias=True)) for e in target.expect]
    buf = io.StringIO()
    try:
        rt.dump(doc, buf)
        again = load_scenario_text(buf.getvalue(), file="<counterexample>")
    except Exception:  # noqa: BLE001 - see the docstring
        return None
    if scenario_data(again) != scenario_data(target):
        return None
    return buf.getvalue()


def _component(component: tuple[str, Any]) -> str:
    kind, value = component
    if kind == "fault":
        return f"the fault {value.text()}"
    if kind == "shift":
        return f"the {value[1]} s delay of plan step {value[0] + 1}"
    if kind == "quick_boot":
        return f"Quick Boot left on in {value}"
    if kind == "boot_factor":
        return f"boots x{value:g}"
    return f"plan step {value + 1}"


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
    return failed, render_timeline(events, reveal=True)


_CULPRIT = re.compile(r"step \d+ '([^']+)'")
#: Said when the culprit step is not in the minimal case (both are true: the culprit is
#: found on the shrunk case, which keeps every plan step; minimising may drop it).
CULPRIT_ELSEWHERE = ("the culprit is judged on the whole plan (every step kept); this "
                     "minimal case reaches the same violation without it")


def culprit_id(ce: Counterexample) -> str | None:
    """The id of the culprit step (None without one, or for a step without an id)."""
    m = _CULPRIT.match(ce.culprit or "")
    return m.group(1) if m else None


def culprit_elsewhere(ce: Counterexample) -> bool:
    """Whether the culprit step is not among the minimal case's steps."""
    cid = culprit_id(ce)
    return ce.complete and cid is not None and cid not in {s.id for s in ce.scenario.steps}


#: What the report says when no single plan step explains a counterexample.
_NO_CULPRIT = ("no single plan step: removing or changing any one of them alone leaves it "
               "violated (it takes the plan steps of the minimal case together)")


def _violated_note(report: CheckReport, name: str, found: set[str]) -> str:
    """``violated in N`` and where its counterexample is, or why none was written: one
    verdict per invariant, the same as the VIOLATED blocks below say."""
    ex = report.exercised
    n = ex.violated_runs[name]
    runs = f"violated in {n} run{'s' * (n != 1)}"
    if name in found:
        return f"{runs}: VIOLATED, counterexample below"
    if not n:
        return "violated in 0"
    if name in ex.fault_only:  # every violation also happens with no plan step at all
        return f"{runs}, by faults alone: not the plan's doing, no counterexample"
    if report.interrupted:
        return f"{runs}: interrupted, no counterexample"
    # seen only in runs made while minimising another invariant's counterexample
    return f"{runs} while minimising others: no counterexample (try more --examples)"


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
    if report.drawn is not None and report.drawn < report.examples:
        out.append(f"  the plan has only {report.drawn} distinct cases under faults "
                   f"{report.intensity} (of the {report.examples} examples asked for): "
                   "the search list holds them all")
    faults = ", ".join(f"{k} x{v}" for k, v in sorted(ex.faults.items())) or "none"
    out.append(f"  faults injected: {faults}")
    positions = sorted({p for _, p in ex.interleavings})
    last = len(report.plan.steps)
    where = [f"{p + 1}" if p < last else "after the last" for p in positions]
    out.append(f"  interleavings: {len(ex.interleavings)} distinct (fault, before step) pairs"
               + (f", before plan steps {', '.join(where)}" if positions else ""))
    boots = ", ".join(f"x{f:g} in {ex.boot_factors[f]}" for f in BOOT_FACTORS
                      if ex.boot_factors.get(f))
    out.append(f"  timing: boots {boots or 'none'}; steps started later in "
               f"{ex.shifted_runs} runs; Quick Boot left on in {ex.quick_boot_runs} runs")
    verbs = ", ".join(f"{k} x{v}" for k, v in sorted(ex.verbs.items())) or "none"
    out.append(f"  verbs run: {verbs}")
    out.append("  invariants (times at risk, summed over runs; runs violating):")

    width = max(len(n) for n in INVARIANTS)
    found = {ce.invariant for ce in report.counterexamples}
    for name, inv in INVARIANTS.items():
        note = "advice" if inv.kind == "advice" else _violated_note(report, name, found)
        out.append(f"    {name:<{width}}  at risk {ex.at_risk[name]:>6}  {note}")
    untested = [n for n, inv in INVARIANTS.items() if inv.kind != "advice" and not ex.at_risk[n]]
    if untested:
        out.append("  never at risk in these runs, so not tested: " + ", ".join(untested)
                   + (" (" + ("no faults were injected" if report.intensity == "none"
                             else "light faults never take a TA host down")
                      + ": see --faults heavy)"
                      if "ta-objects-consistent-at-end" in untested
                      and report.intensity != "heavy" else ""))
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
        out.append(f"  culprit: {ce.culprit or _NO_CULPRIT}"
                   if ce.complete else "  culprit: not searched (interrupted)")
        if culprit_elsewhere(ce):
            out.append(f"  note: {CULPRIT_ELSEWHERE}")
        if ce.invariant in ex.fault_only:
            out.append("  note: some generated cases violate it with their faults alone (no "
                       "plan step); those runs are not counted against the plan")
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

