"""The scaffolding every HTML page of vtalab shares: the run and check reports
(:mod:`vtalab.analysis.htmlreport`), the training debrief (:mod:`vtalab.training.debrief`)
and the campaign report (:mod:`vtalab.analysis.campaign_report`).

One self-contained page: inline CSS and SVG, no script, no font, no image, no external
URL of any kind; readable on a 1280 px screen without horizontal scrolling (long words
wrap, tables have fixed columns, charts scale with the page) and on paper. The charts:

* :func:`lanes_svg` — swim lanes over simulated time, one per host (or any subject),
  coloured by status, with marks (steps, commands) over them and a legend;
* :func:`line_chart_svg` — a value against the values of one axis, one line per series
  (a campaign's measure against its first grid axis, one line per value of the second).

Output depends only on the arguments: the same input gives the same bytes.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from vtalab.core.kernel import format_time

__all__ = ["CSS", "SERIES_COLOURS", "escape", "generator_meta", "lanes_svg", "line_chart_svg",
           "page"]

escape = html.escape

#: The stylesheet of every page: fits a 1280 px window without horizontal scrolling and
#: prints readably.
CSS = """
*{box-sizing:border-box}
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;
max-width:1200px;padding:0 16px;color:#212121;overflow-wrap:anywhere}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
h3{font-size:14px;margin:16px 0 6px}
.meta{color:#555}.goal{background:#f5f5f5;padding:8px 12px;border-left:4px solid #1565c0}
table{border-collapse:collapse;width:100%;table-layout:fixed;
font:12px/1.35 ui-monospace,Menlo,Consolas,monospace}
col.t{width:9em}col.w{width:13em}col.n{width:7%}col.s{width:10%}col.o{width:24%}
col.i{width:28%}col.id{width:15%}col.tt{width:11%}
th{text-align:left;padding:2px 8px;border-bottom:2px solid #bdbdbd;font-weight:600}
td{padding:2px 8px;vertical-align:top;border-bottom:1px solid #eee;overflow-wrap:anywhere}
td.t{white-space:nowrap;color:#555}
tr.command td{background:#e3f2fd;font-weight:bold}tr.hint td{background:#fff8e1}
tr.undone td{color:#757575;text-decoration:line-through}
tr.rewind td{background:#ede7f6;font-weight:bold}
tr.step td{background:#e3f2fd}tr.culprit td{background:#ffebee;font-weight:bold}
tr.log td{color:#616161}tr.bad td.x{color:#b71c1c}
.pass{color:#2e7d32;font-weight:600}.fail{color:#c62828;font-weight:600}
.skip{color:#8d6e00;font-weight:600}.warn{color:#8d6e00}
pre{background:#fafafa;padding:8px;white-space:pre-wrap;overflow-wrap:anywhere}
svg.lanes,svg.chart{width:100%;height:auto;display:block}
svg.chart{max-width:900px}
details{margin:8px 0}summary{cursor:pointer;color:#1565c0}
section.ce{border-left:4px solid #c62828;padding-left:12px;margin:16px 0}
@media print{body{margin:0;max-width:none;font-size:11px}
tr.command td,tr.rewind td,tr.step td,tr.culprit td{background:none;
border-bottom:1px solid #999}tr.culprit td{text-decoration:underline}
details>summary{color:#212121}section.ce{break-inside:avoid-page}}
"""

_SVG_TEXT = '<style>text{font:11px system-ui,sans-serif;fill:#212121}</style>'

#: Colours of a chart's series, in order (then again).
SERIES_COLOURS = ("#1565c0", "#c62828", "#2e7d32", "#f9a825", "#6a1b9a", "#00838f",
                  "#ef6c00", "#455a64")


def generator_meta(generator: str) -> str:
    """The ``<meta name="generator">`` line :func:`page` writes for ``generator``: how a
    tool recognises its own earlier page before replacing it."""
    return f'<meta name="generator" content="{escape(generator)}">'


def page(title: str, body: Sequence[str], *, generator: str | None = None) -> str:
    """A whole page: doctype, head (title, the generator when given, viewport, the
    stylesheet) and ``body``."""
    head = ([generator_meta(generator)] if generator is not None else [])
    return "\n".join(["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', *head,
                      '<meta name="viewport" content="width=device-width, initial-scale=1">',
                      f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
                      *body, "</body></html>"]) + "\n"


def lanes_svg(lanes: Mapping[str, Sequence[Any]], end: float,
              colours: Mapping[str, tuple[str, str]], *,
              marks: Sequence[tuple[float, str, bool]] = (), label: str = "",
              left: float = 150.0, lane_height: float = 24.0, top: float = 34.0,
              mark_class: str = "step", lane_class: str | None = None,
              overlay: Sequence[str] = (), legend_spacing: tuple[float, float] = (34, 6.6)
              ) -> str:
    """Swim lanes: one per key of ``lanes``; each segment (``start``, ``end``,
    ``status``, ``detail`` attributes) a rectangle coloured by ``colours[status]``
    (colour, legend label); ``marks`` (time, title, highlighted) as triangles above the
    lanes; ``overlay`` SVG elements drawn over the lanes (they may use the geometry:
    x = left + t / end * 760); the legend below."""
    end = max(end, 1.0)
    width = 760.0
    height = top + lane_height * len(lanes) + 64
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="lanes" '
           f'viewBox="0 0 {left + width + 40:.0f} {height:.0f}" '
           'preserveAspectRatio="xMinYMin meet" role="img" '
           f'aria-label="{escape(label)}">', _SVG_TEXT]

    def x(t: float) -> float:
        return left + (t / end) * width

    step = max(60.0, round(end / 8 / 60) * 60)  # about eight ticks on round minutes
    axis_y = top + lane_height * len(lanes) + 6
    t = 0.0
    while t <= end + 1e-9:
        out.append(f'<line x1="{x(t):.1f}" y1="{top - 6:.1f}" x2="{x(t):.1f}" '
                   f'y2="{axis_y:.1f}" stroke="#e0e0e0"/>')
        out.append(f'<text x="{x(t):.1f}" y="{axis_y + 12:.1f}" text-anchor="middle">'
                   f'{format_time(t)[2:]}</text>')
        t += step
    cls = f' class="{lane_class}"' if lane_class else ""
    for i, (name, segs) in enumerate(lanes.items()):
        y = top + i * lane_height
        out.append(f'<text x="{left - 8:.1f}" y="{y + lane_height / 2 + 4:.1f}" '
                   f'text-anchor="end"{cls}>{escape(name)}</text>')
        for s in segs:
            colour = colours.get(s.status, ("#bdbdbd", s.status))[0]
            title = (f"{name}: {s.status}" + (f" ({s.detail})" if s.detail else "")
                     + f", {format_time(s.start)} to {format_time(s.end)}")
            out.append(f'<rect x="{x(s.start):.1f}" y="{y + 3:.1f}" '
                       f'width="{max(x(s.end) - x(s.start), 0.5):.1f}" '
                       f'height="{lane_height - 6:.1f}" fill="{colour}" '
                       f'data-status="{s.status}"><title>{escape(title)}</title></rect>')
    out.extend(overlay)
    for t, title, hot in marks:
        colour = "#c62828" if hot else "#1565c0"
        out.append(f'<path d="M{x(t) - 4:.1f},{top - 14:.1f} L{x(t) + 4:.1f},{top - 14:.1f} '
                   f'L{x(t):.1f},{top - 6:.1f} Z" fill="{colour}" class="{mark_class}">'
                   f'<title>{escape(title)}</title></path>')
    lx, ly = left, axis_y + 32
    pad, per_char = legend_spacing
    for colour, text in colours.values():
        out.append(f'<rect x="{lx:.1f}" y="{ly - 9:.1f}" width="12" height="12" '
                   f'fill="{colour}"/><text x="{lx + 16:.1f}" y="{ly + 1:.1f}">'
                   f'{escape(text)}</text>')
        lx += pad + per_char * len(text)
        if lx > left + width - 120:
            lx, ly = left, ly + 16
    out.append("</svg>")
    return "\n".join(out)


def _nice(top: float) -> float:
    """The smallest round number (1, 1.5, 2, 2.5, 3, 5, 7.5 x 10^k, times 4) at or above
    ``top``: four round ticks."""
    magnitude = 10 ** math.floor(math.log10(top / 4)) if top > 0 else 1
    for f in (1, 1.5, 2, 2.5, 3, 5, 7.5, 10):
        if 4 * f * magnitude >= top:
            return 4 * f * magnitude
    return top


def _tick(v: float) -> str:
    return f"{v:.0f}" if float(v).is_integer() else f"{v:g}"


def line_chart_svg(x_labels: Sequence[str], series: Mapping[str, Sequence[float | None]],
                   *, title: str, x_title: str, y_title: str) -> str:
    """Lines over categorical x values (``x_labels``, evenly spaced), one per
    ``series`` (name -> one y per x; None leaves a gap), y from 0; legend on the right."""
    left, top, width, height = 64.0, 28.0, 560.0, 240.0
    legend_w = 240.0
    values = [v for ys in series.values() for v in ys if v is not None]
    y_max = _nice(max([*values, 1.0]))
    total_h = top + height + 52
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" '
           f'viewBox="0 0 {left + width + legend_w:.0f} {total_h:.0f}" '
           'preserveAspectRatio="xMinYMin meet" role="img" '
           f'aria-label="{escape(title)}">', _SVG_TEXT,
           f'<text x="{left:.1f}" y="14" font-weight="600">{escape(title)}</text>']
    n = max(len(x_labels), 1)

    def x(i: int) -> float:
        return left + (width * (i + 0.5) / n)

    def y(v: float) -> float:
        return top + height - (v / y_max) * height

    for k in range(5):  # horizontal grid lines and y ticks
        v = y_max * k / 4
        out.append(f'<line x1="{left:.1f}" y1="{y(v):.1f}" x2="{left + width:.1f}" '
                   f'y2="{y(v):.1f}" stroke="#e0e0e0"/>')
        out.append(f'<text x="{left - 6:.1f}" y="{y(v) + 4:.1f}" text-anchor="end">'
                   f'{_tick(v)}</text>')
    for i, lab in enumerate(x_labels):
        out.append(f'<text x="{x(i):.1f}" y="{top + height + 16:.1f}" '
                   f'text-anchor="middle">{escape(lab)}</text>')
    out.append(f'<text x="{left + width / 2:.1f}" y="{top + height + 38:.1f}" '
               f'text-anchor="middle">{escape(x_title)}</text>')
    out.append(f'<text x="14" y="{top + height / 2:.1f}" text-anchor="middle" '
               f'transform="rotate(-90 14 {top + height / 2:.1f})">{escape(y_title)}</text>')
    # Series that coincide (a grid's "never failed" row, equal counts) would hide one
    # another: a segment or point shared with series drawn after it is drawn wider
    # beneath them (a stripe of each colour), and a point's tooltip names every series
    # there.
    names, rows = list(series), [list(ys) for ys in series.values()]
    for k, (name, ys) in enumerate(zip(names, rows, strict=True)):
        colour = SERIES_COLOURS[k % len(SERIES_COLOURS)]
        later = rows[k + 1:]
        for i in range(len(ys) - 1):  # a None on either side breaks the line
            a, b = ys[i], ys[i + 1]
            if a is None or b is None:
                continue
            above = sum(1 for r in later if len(r) > i + 1 and r[i] == a and r[i + 1] == b)
            out.append(f'<line x1="{x(i):.1f}" y1="{y(a):.1f}" x2="{x(i + 1):.1f}" '
                       f'y2="{y(b):.1f}" stroke="{colour}" stroke-width="{2 + 2 * above}" '
                       'stroke-linecap="round"/>')
        for i, value in enumerate(ys):
            if value is None:
                continue
            above = sum(1 for r in later if len(r) > i and r[i] == value)
            here = [n for n, r in zip(names, rows, strict=True)
                    if len(r) > i and r[i] == value]
            label = (f"{escape(name)}: {_tick(value)}" if len(here) == 1 else
                     f"{_tick(value)}: {escape(', '.join(here))}")
            out.append(f'<circle cx="{x(i):.1f}" cy="{y(value):.1f}" r="{3.5 + 2 * above}" '
                       f'fill="{colour}"><title>{label}</title></circle>')
        ly = top + 8 + 18 * k
        out.append(f'<rect x="{left + width + 16:.1f}" y="{ly - 9:.1f}" width="12" '
                   f'height="12" fill="{colour}"/><text x="{left + width + 32:.1f}" '
                   f'y="{ly + 1:.1f}">{escape(name)}</text>')
    out.append(f'<line x1="{left:.1f}" y1="{top + height:.1f}" x2="{left + width:.1f}" '
               f'y2="{top + height:.1f}" stroke="#9e9e9e"/>')
    out.append("</svg>")
    return "\n".join(out)
