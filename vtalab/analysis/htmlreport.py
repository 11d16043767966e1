"""HTML reports of a run (``vtalab run --html FILE``) and of a check (``vtalab check
--html FILE``), in the training debrief's style.

One self-contained page (inline CSS and SVG; no script, no font, no image, no external
URL of any kind), readable on a 1280 px screen without horizontal scrolling and on paper:

* **swim lanes**, one per host: trusted hosts coloured by what the workload vCenter shows
  (attested, notAttested, unknown) unless the host is booting, powered off or in
  maintenance mode; Trust Authority hosts by power and maintenance (they do not attest);
  the steps marked on the time axis (hover for the command);
* the **steps** (numbered from 1, with their id), when they ran and how they ended;
* the **expectations** with their verdicts (PASS, FAIL, SKIP when --until stopped the run
  first), and the operator timeline;
* for a check: what was exercised, one verdict per invariant, and each **counterexample**
  with its culprit step marked, its lanes and its timeline.

Like the text reports, a page depends on the scenario (or plan), the seed and the options
only: the same input gives the same bytes.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vtalab.analysis.checker.report import (
    CULPRIT_ELSEWHERE,
    _violated_note,
    culprit_elsewhere,
    culprit_id,
)
from vtalab.core import htmlpage
from vtalab.core.kernel import format_time
from vtalab.invariants import INVARIANTS
from vtalab.scenario.run import step_text
from vtalab.scenario.timeline import _component

if TYPE_CHECKING:
    from vtalab.analysis.checker.search import CheckReport
    from vtalab.scenario.run import RunResult

__all__ = ["CSS", "LANE_COLOURS", "Lane", "check_html", "host_lanes", "lanes_svg",
           "run_html"]

#: Lane colours and legend labels (vSphere Client words where it has them).
LANE_COLOURS = {
    "attested": ("#2e7d32", "attested (Passed)"),
    "notAttested": ("#c62828", "notAttested (Failed)"),
    "unknown": ("#f9a825", "unknown"),
    "booting": ("#90a4ae", "booting / shutting down"),
    "maintenance": ("#6a1b9a", "maintenance mode"),
    "down": ("#455a64", "powered off"),
    "running": ("#1565c0", "running (TA host)"),
}

#: The stylesheet every vtalab HTML page shares (vtalab.core.htmlpage).
CSS = htmlpage.CSS


@dataclass(frozen=True)
class Lane:
    """A stretch of one host's lane."""

    host: str
    start: float
    end: float
    status: str
    detail: str = ""


def host_lanes(world: Any, end: float | None = None) -> dict[str, list[Lane]]:
    """Every host's lane from T=0 to ``end`` (default: now), from the trace alone."""
    trusted = [n for c in world.trusted_clusters.values() for n in c.hosts]
    ta = list(world.ta_cluster.hosts)
    end = float(world.kernel.now if end is None else end)
    power: dict[str, str] = {h: "up" for h in [*ta, *trusted]}
    attest: dict[str, tuple[str, str]] = {h: ("unknown", "") for h in trusted}
    maint: dict[str, bool] = {h: False for h in power}
    current: dict[str, tuple[float, str, str]] = {}
    lanes: dict[str, list[Lane]] = {h: [] for h in [*trusted, *ta]}

    def effective(h: str) -> tuple[str, str]:
        if power[h] == "booting":
            return "booting", "booting"
        if power[h] == "shutting":
            return "booting", "shutting down"
        if power[h] == "down":
            return "down", "powered off"
        if maint[h]:
            return "maintenance", "in maintenance mode"
        if h in attest:
            return attest[h]
        return "running", "running"

    def update(h: str, t: float) -> None:
        status, detail = effective(h)
        start, old, old_detail = current.get(h, (0.0, "", ""))
        if (old, old_detail) == (status, detail):
            return
        if old and t > start:
            lanes[h].append(Lane(h, start, t, old, old_detail))
        current[h] = (t if old else 0.0, status, detail)

    for h in power:
        update(h, 0.0)
    for ev in world.kernel.trace:
        if ev.time > end:
            break
        h = ev.fields.get("host")
        if h not in power:
            continue
        k = ev.kind
        if k == "attest.result" and h in attest:
            status = str(ev.fields.get("status"))
            attest[h] = (status, str(ev.fields.get("reason") or status))
        elif k == "attest.unreachable" and h in attest and attest[h][0] != "attested":
            attest[h] = ("unknown", "attestation service unreachable")
        elif k == "host.boot.start":
            power[h] = "booting"
        elif k in ("host.boot.complete", "host.initial"):
            power[h] = "up"
        elif k == "host.shutdown":
            power[h] = "shutting"
        elif k in ("host.power.lost", "host.power.off"):
            power[h] = "down"
        elif k == "host.maintenance":
            maint[h] = bool(ev.fields.get("entered"))
        else:
            continue
        update(h, ev.time)
    for h, (start, status, detail) in current.items():
        if end > start or not lanes[h]:
            lanes[h].append(Lane(h, start, max(end, start), status, detail))
    return lanes


def lanes_svg(lanes: dict[str, list[Lane]], end: float,
              marks: Sequence[tuple[float, str, bool]] = ()) -> str:
    """The swim-lane chart: one lane per host, ``marks`` (time, title, highlighted) as
    triangles over the lanes (the steps; a highlighted one is the culprit)."""
    return htmlpage.lanes_svg(lanes, end, LANE_COLOURS, marks=marks,
                              label="status per host over simulated time")


# -- pieces --------------------------------------------------------------------------------

_E = html.escape


def _page(title: str, body: list[str]) -> str:
    return htmlpage.page(title, body)


def _status(ok: bool | None) -> str:
    word = "SKIP" if ok is None else "PASS" if ok else "FAIL"
    return f'<span class="{word.lower()}">{word}</span>'


def _timeline(world: Any, *, culprit: str | None = None, since: float = 0.0) -> list[str]:
    """The operator timeline as a table; ``culprit``: the id of the step to mark."""

    rows = ['<table><colgroup><col class="t"><col class="w"><col></colgroup>']
    for e in world.kernel.trace:
        message = e.fields.get("message")
        if e.kind == "log" or not message or (e.time < since and e.source != "scenario"):
            continue
        cls = "step" if e.kind == "step.start" else ""
        if culprit is not None and e.kind == "step.start" and e.fields.get("id") == culprit:
            cls = "culprit"
        bad = (e.kind == "attest.result" and e.fields.get("status") != "attested") or (
            e.kind == "step.end" and e.fields.get("ok") is False)
        rows.append(f'<tr class="{cls}{" bad" if bad else ""}"><td class="t">'
                    f'{format_time(e.time)}</td><td class="w">{_E(_component(e))}</td>'
                    f'<td class="x">{_E(str(message))}</td></tr>')
    rows.append("</table>")
    return rows


def _steps_table(result: RunResult, culprit: str | None = None, plan: Any = None
                 ) -> list[str]:
    """The steps, numbered from 1; for a counterexample (``plan`` given) numbered as in
    the plan, the culprit's number the same as in its sentence, and injected faults
    marked as such."""
    out = ['<table><colgroup><col class="n"><col class="id"><col><col class="tt">'
           '<col class="tt"><col class="o"></colgroup>',
           f"<tr><th>{'plan #' if plan is not None else '#'}</th><th>id</th><th>step</th>"
           "<th>start</th><th>end</th><th>outcome</th></tr>"]
    numbers = {s.id: i + 1 for i, s in enumerate(plan.steps) if s.id} if plan else {}

    def number(step: Any, res: Any) -> str:
        if plan is None:
            return str(res.index + 1)
        return str(numbers[step.id]) if step.id in numbers else "fault" \
            if step.background and step.id is None else "&ndash;"
    for step, res in zip(result.scenario.steps, result.steps, strict=True):
        if res.ok is None:
            outcome = "not reached" if res.start is None else "not finished"
        elif res.ok:
            outcome = "ok"
        else:
            outcome = f"refused ({res.error})"
        if step.expect_error is not None:
            outcome += f"; expected refusal {step.expect_error}"
        cls = "culprit" if culprit is not None and step.id == culprit else ""
        bad = res.ok is False and step.expect_error is None
        out.append(
            f'<tr class="{cls}{" bad" if bad else ""}"><td>{number(step, res)}</td>'
            f"<td>{_E(step.id or '')}</td><td class=\"x\">{_E(step_text(step))}"
            + (" (background)" if step.background else "") + "</td>"
            f"<td class=\"t\">{'' if res.start is None else format_time(res.start)}</td>"
            f"<td class=\"t\">{'' if res.end is None else format_time(res.end)}</td>"
            f'<td class="x">{_E(outcome)}</td></tr>')
    out.append("</table>")
    return out


def _marks(result: RunResult, culprit: str | None = None) -> list[tuple[float, str, bool]]:
    marks = []
    for step, res in zip(result.scenario.steps, result.steps, strict=True):
        if res.start is not None:
            label = f"step {res.index + 1}" + (f" {step.id!r}" if step.id else "")
            marks.append((res.start, f"{format_time(res.start)} {label}: {step_text(step)}",
                          culprit is not None and step.id == culprit))
    return marks


def _run_section(result: RunResult, file: str | None) -> list[str]:
    s = result.scenario
    counts = {k: sum(1 for v in result.verdicts if v.status == k)
              for k in ("PASS", "FAIL", "SKIP")}
    verdict = (f'<span class="{"pass" if result.ok else "fail"}">'
               f'{"passed" if result.ok else "FAILED"}</span>: {counts["PASS"]} passed, '
               f'{counts["FAIL"]} failed' + (f', {counts["SKIP"]} not reached'
                                              if counts["SKIP"] else ""))
    out = [f"<h1>{_E(s.name)}</h1>",
           f'<p class="meta">{_E(file or "")} &middot; seed {result.seed} &middot; ran to '
           f"{format_time(result.end)}" + (f" (--until {format_time(result.until)})"
                                           if result.until is not None else "")
           + f" &middot; trace digest sha256:{result.digest}</p>",
           f"<p>{verdict}</p>"]
    if s.description:
        out.append(f'<p class="goal">{_E(" ".join(s.description.split()))}</p>')
    out += ["<h2>Hosts over time</h2>",
            lanes_svg(host_lanes(result.world, result.end), result.end, _marks(result)),
            "<h2>Steps</h2>", *_steps_table(result),
            "<h2>Expectations</h2>",
            '<table><colgroup><col class="s"><col><col></colgroup>'
            "<tr><th>verdict</th><th>expectation</th><th>detail</th></tr>"]
    for v in result.verdicts:
        out.append(f"<tr><td>{_status(v.ok)}</td><td class=\"x\">{_E(v.label)}</td>"
                   f'<td class="x">{_E(v.detail)}</td></tr>')
    out += ["</table>", "<h2>Timeline</h2>", *_timeline(result.world)]
    return out


def run_html(runs: list[tuple[str, RunResult]]) -> str:
    """The page of ``vtalab run --html``: one section per (file, result)."""
    body: list[str] = []
    for n, (file, result) in enumerate(runs):
        if n:
            body.append("<hr>")
        body += _run_section(result, file)
    title = "vtalab run: " + ", ".join(r.scenario.name for _, r in runs)
    return _page(title, body)





def check_html(report: CheckReport, as_written: RunResult,
               counterexamples: list[RunResult]) -> str:
    """The page of ``vtalab check --html``: the plan as written (lanes, steps), what was
    exercised, one verdict per invariant, and each counterexample with its culprit step.
    ``as_written`` and ``counterexamples`` are runs of the plan and of each written case."""
    ex = report.exercised
    n = len(report.counterexamples)
    verdict = (f'<span class="fail">{n} invariant{"s" * (n != 1)} violated</span>' if n
               else f'<span class="pass">no invariant violated</span> under what was tried '
                    f"({ex.runs} runs, faults {_E(report.intensity)})")
    body = [f"<h1>Plan check: {_E(report.plan.name)}</h1>",
            f'<p class="meta">{_E(report.path)} &middot; faults {_E(report.intensity)} '
            f"&middot; seed {report.seed} &middot; {report.examples} examples &middot; "
            f"{ex.runs} distinct runs</p>", f"<p>{verdict}</p>"]
    if report.plan.description:
        body.append(f'<p class="goal">{_E(" ".join(report.plan.description.split()))}</p>')
    body += ["<h2>The plan as written</h2>",
             lanes_svg(host_lanes(as_written.world, as_written.end), as_written.end,
                       _marks(as_written)),
             *_steps_table(as_written),
             "<h2>Invariants</h2>",
             '<table><colgroup><col class="i"><col class="s"><col class="s"><col>'
             "</colgroup><tr><th>invariant</th><th>kind</th><th>at risk</th>"
             "<th>verdict</th></tr>"]
    found = {ce.invariant for ce in report.counterexamples}
    for name, inv in INVARIANTS.items():
        note = "advice (warnings only)" if inv.kind == "advice" else \
            _violated_note(report, name, found)
        cls = "fail" if name in found else "warn" if inv.kind == "advice" else ""
        body.append(f"<tr><td>{_E(name)}</td><td>{_E(inv.kind)}</td>"
                    f"<td>{ex.at_risk[name]}</td><td class=\"x {cls}\">{_E(note)}</td></tr>")
    body.append("</table>")
    if report.advice:
        body += ["<h3>Advice on the plan as written (warnings, never failures)</h3>", "<ul>"]
        body += [f'<li class="warn">{_E(str(v))}</li>' for v in report.advice]
        body.append("</ul>")
    if report.counterexamples:
        body.append("<h2>Counterexamples</h2>")
    for ce, run in zip(report.counterexamples, counterexamples, strict=True):
        culprit = culprit_id(ce)
        body += [f'<section class="ce"><h3><span class="fail">VIOLATED</span> '
                 f"{_E(ce.invariant)}</h3>", "<ul>",
                 f"<li>counterexample: {_E(ce.path or '(not written)')} &mdash; "
                 f"<code>vtalab run {_E(ce.path or 'FILE')}</code></li>",
                 f"<li>found in: {'the plan as written' if ce.as_written else 'a generated case'}"
                 "</li>",
                 f"<li><b>culprit: {_E(ce.culprit or 'no single plan step')}</b></li>"]
        if culprit_elsewhere(ce):
            body.append(f"<li>{_E(CULPRIT_ELSEWHERE)}</li>")
        body += [f"<li>violation: {_E(str(v))}</li>" for v in ce.violations[:3]]
        if ce.reproduced is not None:
            body.append(f"<li>reproduces with vtalab run: "
                        f"{'yes' if ce.reproduced else 'NO (a bug of vtalab check)'}</li>")
        body += ["</ul>",
                 lanes_svg(host_lanes(run.world, run.end), run.end, _marks(run, culprit)),
                 *_steps_table(run, culprit, report.plan),
                 "<details><summary>Timeline of the counterexample</summary>",
                 *_timeline(run.world, culprit=culprit), "</details></section>"]
    return _page(f"vtalab check: {report.plan.name}", body)
