"""A trace as the operator would have seen it: one line per thing worth seeing.

::

    T+00:00:00      scenario          > upgrade-host host=esx-01 release='8.0 U3'
    T+00:05:00      esx-01            Upgrade staged: ESXi 8.0.3-...
    T+00:14:00      vcsa-wld          Trusted Host attestation failed.

Columns: simulated time (:func:`vtalab.core.kernel.format_time`), the component (the last
part of the event's source path: a host name, a vCenter, ``scenario``) and the text.
Shown are the scenario's step starts and ends and the trace events an operator's tools
show (:data:`OPERATOR_KINDS`: vCenter events and Recent Tasks, VM power and migration,
cmdlet output, service starts and stops); simulated log lines (kind ``log``) only on
request. Everything else the world records with a ``message`` -- TPM measurements, what a
host's TPM measured after an upgrade, attestd's verdicts, a base image "removed while still
measured by" -- is what the lab knows and the operator does not: it is shown only with
``reveal=True`` (``vtalab run --reveal``), every such line marked ``[lab]``. The text
depends on the trace alone, so it is byte-stable: same scenario and seed, same timeline.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from vtalab.core.kernel import format_time
from vtalab.core.trace import TraceEvent

__all__ = ["LAB_MARK", "OPERATOR_KINDS", "render_run", "render_timeline", "render_verdicts",
           "timeline_line"]

#: Trace kinds whose message is what an operator sees in vCenter (events, Recent Tasks,
#: VM power and vMotion), in a cmdlet's output or on a host console; the scenario's own
#: step lines; and the lab's notes about the run itself (expectations, interruptions).
OPERATOR_KINDS = frozenset({
    "step.start", "step.end", "expect", "verb.interrupted", "fault.skipped",
    "vc.event", "vc.task", "vm.power", "vm.power_on.failed", "vm.migrated",
    "vm.migrate.failed", "vm.encrypted", "imagedb.exported", "service.started",
    "service.stopped", "cluster.quick_boot", "trusted.remediate", "ta.object",
    "ta.host.added", "ta.host.removed", "vcenter.restored", "get.output",
    "host.upgrade.staged",
})
#: prefix of a line only ``--reveal`` shows
LAB_MARK = "[lab] "

TIME_WIDTH = 15
COMPONENT_WIDTH = 19


def _component(event: TraceEvent) -> str:
    return event.source.rstrip("/").rsplit("/", 1)[-1] or event.source


def timeline_line(time: float, component: str, text: str) -> str:
    """One aligned line; continuation lines of a multi-line text are indented."""
    pad = " " * (TIME_WIDTH + COMPONENT_WIDTH + 2)
    body = str(text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    first = f"{format_time(time):<{TIME_WIDTH}} {component:<{COMPONENT_WIDTH}} {body[0]}"
    return "\n".join([first.rstrip(), *(f"{pad}{line}".rstrip() for line in body[1:])])


def render_timeline(events: Iterable[TraceEvent], *, logs: bool = False,
                    reveal: bool = False) -> list[str]:
    """The timeline lines of a trace as the operator saw it (``logs=True`` adds the
    simulated log lines; ``reveal=True`` adds what only the lab knows, marked ``[lab]``)."""
    out = []
    for e in events:
        if e.kind == "log":
            if not logs:
                continue
            level = e.fields.get("level", "info")
            lvl = "" if level == "info" else f"{level}: "
            out.append(timeline_line(e.time, str(e.fields.get("host", _component(e))),
                                     f"[{e.fields.get('log', '?')}] {lvl}"
                                     f"{e.fields.get('message', '')}"))
            continue
        message = e.fields.get("message")
        if message is None or message == "":
            continue
        if e.kind in OPERATOR_KINDS:
            out.append(timeline_line(e.time, _component(e), str(message)))
        elif reveal:
            out.append(timeline_line(e.time, _component(e), LAB_MARK + str(message)))
    return out


def render_verdicts(verdicts: Iterable[Any]) -> list[str]:
    """``PASS``/``FAIL``/``SKIP`` lines, one per verdict, then a count (``SKIP``: not
    reached, the run was stopped by ``--until``; neither a pass nor a failure)."""
    lines = []
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    for v in verdicts:
        status = "SKIP" if v.ok is None else "PASS" if v.ok else "FAIL"
        counts[status] += 1
        label = f"{v.label}: " if v.label else ""
        lines.append(f"{status}  {label}{v.detail}")
    lines.append(f"{counts['PASS']} passed, {counts['FAIL']} failed"
                 + (f", {counts['SKIP']} not reached" if counts["SKIP"] else ""))
    return lines


def render_run(result: Any, *, logs: bool = False, file: str | None = None,
               reveal: bool = False) -> str:
    """The whole report of a run: heading, timeline, verdicts and digest
    (``reveal=True``: the lab's view, see :func:`render_timeline`)."""
    s = result.scenario
    head = f"== {s.name}" + (f" ({file})" if file else "") + f"  seed {result.seed}"
    lines = [head]
    if s.description:
        lines.append(f"   {s.description}")
    if reveal:
        lines.append("   lab view (--reveal): lines marked [lab] are facts the operator's "
                     "tools do not show")
    lines.append("")
    lines += render_timeline(result.world.kernel.trace, logs=logs, reveal=reveal)
    lines.append("")
    lines += render_verdicts(result.verdicts)
    lines.append(f"digest sha256:{result.digest}")
    return "\n".join(lines) + "\n"
