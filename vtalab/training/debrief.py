"""The debrief: what happened in a training session, in simulated time.

Two renderings of one timeline:

* :func:`debrief_text` for the terminal: the trainee's commands (``PS>``), the hints
  taken, and everything the world did meanwhile -- vCenter events and Recent Tasks,
  attestation results, boots, key releases -- and the simulated log lines
  (``attestd.log``, ``kmxa.log``, ``vpxd.log`` ...), interleaved in the order they
  happened (a command comes before the trace events it caused).
* :func:`debrief_html` for the trainer's files: one self-contained HTML page (inline CSS
  and SVG, no external assets, no script) with the same timeline as a table and a
  **swim-lane chart**: one lane per trusted host, coloured by attestation status over
  time (from ``host.*`` boot/power and ``attest.*`` trace events), with the trainee's
  commands marked on the time axis and the moment the trainee took over.

Both depend on the trace and the command log alone, so they are byte-stable: the same
session gives the same debrief in any process.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vtalab.core import htmlpage
from vtalab.core.htmlpage import CSS
from vtalab.core.kernel import format_time
from vtalab.scenario.timeline import timeline_line

if TYPE_CHECKING:
    from vtalab.training.session import Session

__all__ = ["CSS", "GENERATOR", "STATUS_COLOURS", "TABLE_HEAD", "Row", "Segment",
           "attestation_lanes",
           "debrief_html", "debrief_text", "history_rows", "rewind_rows", "table_rows",
           "timeline_rows"]

#: Lane colours and their legend labels (vSphere Client words where it has them).
STATUS_COLOURS = {
    "attested": ("#2e7d32", "attested (Passed)"),
    "notAttested": ("#c62828", "notAttested (Failed)"),
    "unknown": ("#f9a825", "unknown"),
    "booting": ("#90a4ae", "booting"),
    "down": ("#455a64", "powered off / down"),
}


@dataclass(frozen=True)
class Row:
    """One line of the debrief timeline."""

    time: float
    kind: str  #: command | hint | event | log
    who: str  #: "trainee", a host, a vCenter ...
    text: str
    ok: bool = True


@dataclass(frozen=True)
class Segment:
    """A stretch of one host's attestation lane."""

    host: str
    start: float
    end: float
    status: str
    detail: str = ""


def _component(source: str) -> str:
    return source.rstrip("/").rsplit("/", 1)[-1] or source


def _event_row(ev: Any) -> Row | None:
    """The row of one trace event (None for one the debrief does not show)."""
    if ev.kind == "log":
        level = ev.fields.get("level", "info")
        lvl = "" if level == "info" else f"{level}: "
        return Row(ev.time, "log", str(ev.fields.get("host", _component(ev.source))),
                   f"[{ev.fields.get('log', '?')}] {lvl}{ev.fields.get('message', '')}",
                   level not in ("error", "warning"))
    if not ev.fields.get("message"):
        return None
    bad = (ev.kind == "attest.result" and ev.fields.get("status") != "attested") or (
        ev.kind == "vc.task" and ev.fields.get("status") == "error") or (
        ev.kind == "vc.event" and "Fail" in str(ev.fields.get("event_id", ""))
        or "VMLocked" in str(ev.fields.get("event_id", "")))
    return Row(ev.time, "event", _component(ev.source), str(ev.fields["message"]), not bad)


def history_rows(session: Session, *, logs: bool = True) -> list[Row]:
    """What happened before the trainee took over: the exercise's own steps breaking the
    lab (the history the lesson is about), from T=0 to the hand-over."""
    events = session.world.kernel.trace.events[:session.start_seq]
    rows = [_event_row(ev) for ev in events if logs or ev.kind != "log"]
    return [r for r in rows if r is not None]


def rewind_rows(session: Session) -> list[Row]:
    """The rewinds and the commands they took back (kind ``rewind`` and ``undone``)."""
    return [row for rw in session.rewinds for row in _rewind_block(rw)]


def _rewind_block(rw: Any) -> list[Row]:
    rows: list[Row] = []
    if True:
        for e in rw.undone:
            if e.kind == "command":
                rows.append(Row(e.time, "undone", "trainee",
                                f"PS> {e.line}   (undone by {rw.line})", e.ok))
            elif e.kind == "hint":
                rows.append(Row(e.time, "undone", "trainee",
                                f"asked for a hint   (undone by {rw.line})"))
        n = sum(1 for e in rw.undone if e.kind == "command")
        rows.append(Row(rw.to, "rewind", "trainee",
                        f"{rw.line} (typed at {format_time(rw.typed_at)}): the lab was "
                        f"rebuilt as at {format_time(rw.to)}; {n} command"
                        f"{'' if n == 1 else 's'} undone"))
    return rows


def _merged(rows: list[Row], extra: list[Row]) -> list[Row]:
    """``rows`` with ``extra`` placed by time (after the rows of the same instant)."""
    out: list[Row] = []
    extra = sorted(extra, key=lambda r: r.time)
    k = 0
    for r in rows:
        while k < len(extra) and extra[k].time < r.time:
            out.append(extra[k])
            k += 1
        out.append(r)
    return out + extra[k:]


def timeline_rows(session: Session) -> list[Row]:
    """The session's timeline: commands and hints interleaved with the trace, and each
    rewind, with the commands it took back, where it was typed: before the first line
    typed after it."""
    events = session.world.kernel.trace.events
    rows: list[Row] = []
    entries = sorted(session.entries, key=lambda e: e.seq)
    pending = list(session.rewinds)
    typed = 0  # commands and hints so far (what a rewind's `kept` counts)
    k = 0
    for i in range(session.start_seq, len(events) + 1):
        while k < len(entries) and entries[k].seq <= i:
            e = entries[k]
            k += 1
            if e.kind != "advance":
                for rw in [r for r in pending if r.kept <= typed]:
                    rows += _rewind_block(rw)
                    pending.remove(rw)
                typed += 1
            if e.kind == "command":
                rows.append(Row(e.time, "command", "trainee", f"PS> {e.line}", e.ok))
                if not e.ok and e.output:
                    rows.append(Row(e.time, "command", "trainee",
                                    "   " + e.output.strip().splitlines()[-1], False))
                for r in e.risky:
                    rows.append(Row(e.time, "command", "trainee", f"   risky: {r}", False))
            elif e.kind == "hint":
                rows.append(Row(e.time, "hint", "trainee", "asked for a hint"))
            else:
                rows.append(Row(e.time, "hint", "trainee",
                                f"rewound; time passes to {format_time(e.end)}"))
        if i == len(events):
            break
        row = _event_row(events[i])
        if row is not None:
            rows.append(row)
    # Nothing typed after these rewinds: they stand at the time they rebuilt the lab at.
    return _merged(rows, [row for rw in pending for row in _rewind_block(rw)])


def debrief_text(session: Session) -> str:
    """The debrief for the terminal."""
    ex = session.exercise
    g = session.grade()
    history = history_rows(session, logs=False)
    # The terminal gets the history's gist: the exercise's steps and what failed.
    gist = [r for r in history if r.who == "scenario" or not r.ok]
    lines = [f"Debrief: {ex.id} ({ex.title}), seed {session.seed}",
             f"The lab was broken by the exercise until {format_time(session.start_time)}; "
             f"the session ran to {format_time(session.now)}.", "",
             f"History: how the exercise broke the lab, T+00:00:00 to "
             f"{format_time(session.start_time)} (its steps and what failed; all "
             f"{len(history)} events and the logs are in the HTML debrief):"]
    lines += [timeline_line(r.time, r.who, r.text) for r in gist]
    lines += ["", "The session (the trainee's commands, and what the lab did):"]
    lines += [timeline_line(r.time, r.who, r.text) for r in timeline_rows(session)]
    lines += ["", *g.lines()]
    return "\n".join(lines) + "\n"


# -- the swim lanes ------------------------------------------------------------------------

def attestation_lanes(session: Session) -> dict[str, list[Segment]]:
    """Each trusted host's attestation status over the whole run (T=0 to now)."""
    world = session.world
    hosts = [n for c in world.trusted_clusters.values() for n in c.hosts]
    state: dict[str, tuple[float, str, str]] = {h: (0.0, "unknown", "") for h in hosts}
    lanes: dict[str, list[Segment]] = {h: [] for h in hosts}

    def switch(host: str, t: float, status: str, detail: str = "") -> None:
        start, old, old_detail = state[host]
        if (old, old_detail) == (status, detail):
            return
        if t > start:
            lanes[host].append(Segment(host, start, t, old, old_detail))
        state[host] = (t, status, detail)

    for ev in world.kernel.trace:
        host = ev.fields.get("host")
        if host not in state:
            continue
        if ev.kind == "attest.result":
            status = str(ev.fields.get("status"))
            switch(host, ev.time, status, str(ev.fields.get("reason") or ""))
        elif ev.kind == "attest.unreachable" and state[host][1] != "attested":
            switch(host, ev.time, "unknown", "attestation service unreachable")
        elif ev.kind == "host.boot.start":
            switch(host, ev.time, "booting", f"{ev.fields.get('mode')} boot")
        elif ev.kind in ("host.boot.complete", "host.initial"):
            if state[host][1] in ("booting", "down"):
                switch(host, ev.time, "unknown", "up, not attested yet")
        elif ev.kind in ("host.shutdown", "host.power.lost", "host.power.off"):
            switch(host, ev.time, "down" if ev.kind != "host.shutdown" else "booting",
                   "shutting down" if ev.kind == "host.shutdown" else "powered off")
    end = world.kernel.now
    for h in hosts:
        start, status, detail = state[h]
        if end > start or not lanes[h]:
            lanes[h].append(Segment(h, start, max(end, start), status, detail))
    return lanes


def _lanes_svg(session: Session) -> str:
    """Attestation status per host (the shared lanes chart), each command marked, and a
    dashed line where the trainee took over."""
    end = max(session.now, 1.0)
    left, width, lane_h, top = 110.0, 760.0, 26.0, 40.0
    lanes = attestation_lanes(session)
    axis_y = top + lane_h * len(lanes) + 6
    xs = left + (session.start_time / end) * width
    late = xs > left + width / 2  # the label goes left of the line, inside the chart
    overlay = [f'<line x1="{xs:.1f}" y1="{top - 18:.1f}" x2="{xs:.1f}" y2="{axis_y:.1f}" '
               'stroke="#1565c0" stroke-dasharray="4 3"/>',
               f'<text x="{xs - 4 if late else xs + 4:.1f}" y="{top - 22:.1f}"'
               + (' text-anchor="end"' if late else "") + '>trainee takes over</text>']
    marks = [(e.time, format_time(e.time) + " PS> " + e.line, False)
             for e in session.entries if e.kind == "command"]
    return htmlpage.lanes_svg(lanes, end, STATUS_COLOURS, marks=marks,
                              label="attestation status per host", left=left,
                              lane_height=lane_h, top=top, mark_class="cmd",
                              lane_class="lane", overlay=overlay, legend_spacing=(30, 7))


#: The generator a debrief page names in its head: ``debrief --html`` replaces only a page
#: that carries it (its own earlier output), never any other HTML file.
GENERATOR = "vtalab debrief"


def debrief_html(session: Session) -> str:
    """The debrief as one self-contained HTML page."""
    ex = session.exercise
    g = session.grade()
    esc = html.escape
    rows = table_rows(timeline_rows(session))
    history = history_rows(session)
    verdict = ('<p class="pass">Goal reached, trust intact.</p>' if g.passed else
               '<p class="fail">' + esc(g.lines()[-1]) + "</p>")
    parts: list[Any] = [
        f"<h1>Debrief: {esc(ex.title)}</h1>",
        f'<p class="meta">exercise {esc(ex.id)} &middot; {esc(ex.difficulty)} &middot; seed '
        f"{session.seed} &middot; trainee took over at {format_time(session.start_time)}, "
        f"session ran to {format_time(session.now)} &middot; source: {esc(ex.source)}</p>",
        f'<p class="goal">{esc(" ".join(ex.goal.split()))}</p>',
        "<h2>Attestation status per host</h2>", _lanes_svg(session),
        "<h2>Grade</h2>", verdict, f"<pre>{esc(g.text())}</pre>",
        "<h2>Timeline</h2>",
        f"<details><summary>History: how the exercise broke the lab ({len(history)} "
        f"events and log lines, T+00:00:00 to {format_time(session.start_time)})</summary>",
        TABLE_HEAD, *table_rows(history), "</table></details>",
        TABLE_HEAD, *rows, "</table>"]
    return htmlpage.page(f"Debrief: {ex.id}", parts, generator=GENERATOR)


#: The head of a timeline table (fixed columns: time, who, what).
TABLE_HEAD = '<table><colgroup><col class="t"><col class="w"><col></colgroup>'


def table_rows(rows: list[Row]) -> list[str]:
    """``<tr>`` lines of timeline rows (class = kind, plus ``bad``)."""
    esc = html.escape
    return [f'<tr class="{r.kind}{"" if r.ok else " bad"}"><td class="t">'
            f'{format_time(r.time)}</td><td class="w">{esc(r.who)}</td>'
            f'<td class="x">{esc(r.text)}</td></tr>' for r in rows]
