"""A campaign's outputs: the table as CSV and JSON, and a self-contained HTML report.

The HTML page (:func:`campaign_html`) has the question, what varied, and per measure a
line chart (inline SVG: the measure against the first grid axis, one line per value of
the second; the mean over seeds and any further axes) and a grid table (first axis down,
second across, the same means), then the whole table. No script, no external URL; the
shared scaffolding of :mod:`vtalab.core.htmlpage`. Every output depends on the rows
only: the same campaign gives the same bytes in-process and on Dask.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from vtalab.analysis.campaign import BUILTIN_COLUMNS, MEASURE_KINDS, Campaign
from vtalab.core import htmlpage
from vtalab.core.htmlpage import escape

__all__ = ["campaign_csv", "campaign_html", "campaign_json"]


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def campaign_csv(campaign: Campaign, rows: Sequence[dict[str, Any]]) -> str:
    """The table as CSV (RFC 4180; a header row of the column names)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(campaign.columns)
    for row in rows:
        writer.writerow([_cell(row.get(c, "")) for c in campaign.columns])
    return out.getvalue()


def campaign_json(campaign: Campaign, rows: Sequence[dict[str, Any]]) -> str:
    """The spec's name and question, the columns, and one object per run."""
    spec = campaign.spec
    doc = {"campaign": spec.name, "question": spec.question, "spec": campaign.file,
           "columns": campaign.columns,
           "measures": {m.name: {m.kind: m.target} for m in spec.measure},
           "rows": [{c: row.get(c) for c in campaign.columns} for row in rows]}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _number(value: Any) -> float | None:
    """A measure's value as a number for a chart: counts as they are, a time
    ``T+HH:MM:SS`` in hours, a yes/no as 1/0; empty is None."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value.startswith("T+"):
        text = value[2:]
        days = 0
        if "d " in text:
            d, text = text.split("d ", 1)
            days = int(d)
        h, m, s = text.split(":")
        return days * 24 + int(h) + int(m) / 60 + float(s) / 3600
    return None


def _mean(values: list[float | None]) -> float | None:
    nums = [v for v in values if v is not None]
    return sum(nums) / len(nums) if nums else None


def _fmt(v: float | None) -> str:
    if v is None:
        return "–"
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.2f}"


def _measure_section(campaign: Campaign, rows: Sequence[dict[str, Any]], name: str,
                     kind: str) -> list[str]:
    spec = campaign.spec
    axes = spec.grid
    unit = " (hours)" if kind == "first_failed_task" else ""
    out = [f"<h3>{escape(name)}</h3>",
           f'<p class="meta">{escape(MEASURE_KINDS.get(kind, name))}'
           + (f"; mean over {len(rows) // max(1, _points(campaign))} runs per point"
              if len(rows) > _points(campaign) else "") + "</p>"]
    if not axes:
        return out
    first = axes[0]
    xs = [str(v) for v in first.values]
    second = axes[1] if len(axes) > 1 else None
    names = [str(v) for v in second.values] if second else [name]

    def cell(i: int, j: int | None) -> float | None:
        picked = [r for r in rows if str(r.get(first.column)) == xs[i]
                  and (second is None or str(r.get(second.column)) == names[j or 0])]
        return _mean([_number(r.get(name)) for r in picked])

    series = {(f"{second.column} = {n}" if second else n):
              [cell(i, j) for i in range(len(xs))] for j, n in enumerate(names)}
    out.append(htmlpage.line_chart_svg(xs, series, title=name + unit,
                                       x_title=first.column, y_title=name + unit))
    head = "".join(f"<th>{escape(n)}</th>" for n in names)
    out += ["<table>", f"<tr><th>{escape(first.column)} \\ "
            f"{escape(second.column if second else name)}</th>{head}</tr>"]
    for i, x in enumerate(xs):
        cells = "".join(f"<td>{_fmt(series[k][i])}</td>" for k in series)
        out.append(f"<tr><td>{escape(x)}</td>{cells}</tr>")
    out.append("</table>")
    return out


def _points(campaign: Campaign) -> int:
    n = 1
    for axis in campaign.spec.grid:
        n *= len(axis.values)
    return n


def campaign_html(campaign: Campaign, rows: Sequence[dict[str, Any]]) -> str:
    """The report page; see the module docstring."""
    spec = campaign.spec
    seeds = sorted({r["seed"] for r in rows})
    body = [f"<h1>Campaign: {escape(spec.name)}</h1>",
            f'<p class="meta">{len(rows)} runs &middot; scenarios: '
            f'{escape(", ".join(spec.scenarios))} &middot; seeds: '
            f'{escape(", ".join(map(str, seeds)))} &middot; spec: {escape(campaign.file)}</p>']
    if spec.question:
        body.append(f'<p class="goal">{escape(" ".join(spec.question.split()))}</p>')
    if spec.description:
        body.append(f"<p>{escape(' '.join(spec.description.split()))}</p>")
    if spec.grid:
        body += ["<h2>Grid</h2>", "<ul>"]
        for axis in spec.grid:
            what = (f"parameter {axis.parameter}" if axis.parameter else
                    f"argument {axis.arg} of step(s) {', '.join(axis.steps or [])}")
            body.append(f"<li><b>{escape(axis.column)}</b> ({escape(what)}): "
                        f"{escape(', '.join(map(str, axis.values)))}</li>")
        body.append("</ul>")
    body.append("<h2>Measures</h2>")
    measures = [(m.name, m.kind) for m in spec.measure]
    measures += [("steps_refused", "steps_refused")]
    for name, kind in measures:
        body += _measure_section(campaign, rows, name, kind)
    body += ["<h2>Every run</h2>", "<table>",
             "<tr>" + "".join(f"<th>{escape(c)}</th>" for c in campaign.columns) + "</tr>"]
    for row in rows:
        cells = []
        for c in campaign.columns:
            value = row.get(c, "")
            cls = ""
            if c == "passed":
                cls = ' class="pass"' if value else ' class="fail"'
            cells.append(f"<td{cls}>{escape(_cell(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    body.append("</table>")
    body.append(f'<p class="meta">Built-in columns: {", ".join(BUILTIN_COLUMNS)} '
                "(expectations held; steps refused; invariants violated). Generated by "
                "vtalab campaign.</p>")
    return htmlpage.page(f"vtalab campaign: {spec.name}", body)
