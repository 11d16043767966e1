"""The campaign report's line chart (``htmlpage.line_chart_svg``): series that coincide
stay visible -- a shared point or segment is drawn wider beneath the series drawn after
it, and a shared point's tooltip names every series there."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from vtalab.core.htmlpage import SERIES_COLOURS, line_chart_svg

_SVG = "{http://www.w3.org/2000/svg}"


def _chart(series: dict[str, list[float | None]]) -> ET.Element:
    return ET.fromstring(line_chart_svg(["1h", "2h", "4h"], series, title="t",
                                        x_title="x", y_title="y"))


def _marks(svg: ET.Element, colour: str) -> tuple[list[float], list[float], list[str]]:
    """Radii of the colour's points, widths of its segments, its points' tooltips."""
    radii = [float(c.get("r", "0")) for c in svg.iter(_SVG + "circle")
             if c.get("fill") == colour]
    widths = [float(line.get("stroke-width", "0")) for line in svg.iter(_SVG + "line")
              if line.get("stroke") == colour]
    tips = [(c.findtext(_SVG + "title") or "") for c in svg.iter(_SVG + "circle")
            if c.get("fill") == colour]
    return radii, widths, tips


def test_series_that_coincide_are_drawn_beneath_one_another_and_named_together() -> None:
    a, b, c = SERIES_COLOURS[:3]
    svg = _chart({"outage 1h": [1, 2, None], "outage 2h": [1, 2, 4], "outage 4h": [0, 2, 4]})
    radii_a, widths_a, tips_a = _marks(svg, a)
    radii_b, widths_b, tips_b = _marks(svg, b)
    radii_c, widths_c, tips_c = _marks(svg, c)
    # 1h at 1 is shared by the first two, 2h at 2 by all three, 4h at 4 by the last two
    assert radii_a == [5.5, 7.5] and radii_b == [3.5, 5.5, 5.5] and radii_c == [3.5] * 3
    # the first's only segment is the second's first; the second's last is the third's
    assert widths_a == [4] and widths_b == [2, 4] and widths_c == [2, 2]
    assert tips_b[1] == "2: outage 1h, outage 2h, outage 4h"
    assert tips_c[0] == "outage 4h: 0"  # alone there: named as before


def test_series_apart_are_drawn_alike() -> None:
    svg = _chart({"one": [1, 2, 3], "two": [3, 2.5, 1]})
    for colour in SERIES_COLOURS[:2]:
        radii, widths, tips = _marks(svg, colour)
        assert radii == [3.5] * 3 and widths == [2, 2]
        assert all(re.fullmatch(r"(one|two): [0-9.]+", t) for t in tips), tips


def test_a_gap_breaks_the_line() -> None:
    radii, widths, _ = _marks(_chart({"gappy": [1, None, 3]}), SERIES_COLOURS[0])
    assert radii == [3.5, 3.5] and widths == []
