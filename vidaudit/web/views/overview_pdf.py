"""The overview as a PDF for the security department's file: the same numbers as the page.

It uses the weekly report's embedded CJK font and table style (``report_pdf``), and draws
the 12-week trend with reportlab's own vector graphics from the page's chart geometry,
so the PDF's charts and the page's agree point for point.
"""

from __future__ import annotations

import io
from pathlib import Path

from reportlab.graphics.shapes import Circle, Drawing, Line, PolyLine, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, SimpleDocTemplate, Spacer, Table, TableStyle

from vidaudit.overview.model import INDICATORS
from vidaudit.overview.report import Overview
from vidaudit.web.i18n import Translator, fmt_dt
from vidaudit.web.views.overview_page import (
    SERIES_CLASSES,
    TrendChart,
    cell,
    charted_series,
    pct,
    region_label,
    trend_chart,
)
from vidaudit.web.views.report_pdf import _p, _styles, _table, report_font

#: the page's series colours (overview.css s0..s5), in the same order
SERIES_COLOURS = ["#1f4e79", "#c0504d", "#4f8f3a", "#8064a2", "#d98c1a", "#2a9d9d"]
assert len(SERIES_COLOURS) == SERIES_CLASSES


def _drawing(chart: TrendChart, title: str, font: str, scale: float) -> Drawing:
    """The page's SVG geometry (y grows downwards) drawn in PDF space (y grows upwards)."""
    h = chart.height

    def pt(x: float, y: float) -> tuple[float, float]:
        return x * scale, (h - y) * scale

    grey = colors.HexColor("#9aa3ae")
    # initialFontName: else the drawing's state starts in Helvetica, which is not embedded
    drawing = Drawing(chart.width * scale, (h + 14) * scale, initialFontName=font)
    drawing.add(
        String(2, (h + 3) * scale, title, fontName=font, fontSize=8, fillColor=colors.black)
    )
    for tick in chart.y_ticks:
        drawing.add(
            Line(
                *pt(chart.left, tick.at),
                *pt(chart.right, tick.at),
                strokeColor=grey,
                strokeWidth=0.3,
            )
        )
        x, y = pt(chart.left - 4, tick.at + 3)
        drawing.add(String(x, y, tick.label, fontName=font, fontSize=6, textAnchor="end"))
    for tick in chart.x_ticks:
        x, y = pt(tick.at, chart.bottom + 14)
        drawing.add(String(x, y, tick.label, fontName=font, fontSize=6, textAnchor="middle"))
    for line in chart.lines:
        colour = colors.HexColor(SERIES_COLOURS[int(line.css[1:])])
        points = [
            v for pair in line.points.split() for v in pt(*(float(n) for n in pair.split(",")))
        ]
        drawing.add(PolyLine(points, strokeColor=colour, strokeWidth=1.2))
    for dot in chart.dots:
        colour = colors.HexColor(SERIES_COLOURS[int(dot.css[1:])])
        drawing.add(Circle(*pt(dot.x, dot.y), 1.6, fillColor=colour, strokeColor=colour))
    return drawing


def overview_pdf(
    overview: Overview, t: Translator, generated_by: str, font_file: Path | None = None
) -> bytes:
    font = report_font(font_file)
    styles = _styles(font, font)  # no register checkpoint here: no fixed-width face needed
    story: list[Flowable] = [
        _p(t("overview.title"), styles["title"]),
        _p(
            t(
                "overview.week_span",
                start=overview.this_monday.isoformat(),
                end=overview.this_sunday.isoformat(),
            ),
            styles["sub"],
        ),
        _p(
            t(
                "overview.generated",
                at=fmt_dt(overview.generated_at, overview.zone),
                name=generated_by,
            ),
            styles["sub"],
        ),
        Spacer(1, 3 * mm),
        _p(t("overview.this_week"), styles["h2"]),
    ]
    header: list[object] = [t("overview.group"), *(t(f"overview.ind.{i}") for i in INDICATORS)]
    groups = [(t("overview.bank"), overview.bank)] + [
        (region_label(r, t), r) for r in overview.regions
    ]
    rows: list[list[object]] = [header]
    for label, series in groups:
        rows.append([label, *(" ".join(cell(series.this_week, i)[:2]) for i in INDICATORS)])
    widths = [40 * mm] + [33 * mm] * len(INDICATORS)
    story.append(_table(rows, widths, styles))

    story.append(_p(t("overview.trend"), styles["h2"]))
    charted = charted_series(overview, t)
    legend = "  ".join(f"■ {label}" for label, _ in charted)
    story.append(_p(f"{t('overview.legend')}: {legend}", styles["sub"]))
    drawings = [
        _drawing(
            trend_chart(indicator, overview.mondays, charted),
            t(f"overview.ind.{indicator}"),
            font,
            0.52,
        )
        for indicator in INDICATORS
    ]
    grid: list[list[Drawing | str]] = [
        list(drawings[n : n + 4]) for n in range(0, len(drawings), 4)
    ]
    grid[-1] += [""] * (4 - len(grid[-1]))
    charts = Table(grid, hAlign="LEFT")
    # a table names a font even for cells holding drawings: ours, or Helvetica creeps in
    charts.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), font)]))
    story.append(charts)

    story.append(_p(t("overview.worst"), styles["h2"]))
    if overview.worst:
        rows = [[t("overview.branch"), t("overview.region"), *header[1:]]]
        for branch in overview.worst:
            rows.append(
                [
                    f"{branch.name} ({branch.key})",
                    branch.region or t("overview.no_region"),
                    *(pct(branch.rate(i)) for i in INDICATORS),
                ]
            )
        story.append(_table(rows, [40 * mm, 28 * mm] + [29 * mm] * len(INDICATORS), styles))
    else:
        story.append(_p(t("overview.no_worst"), styles["base"]))

    story.append(_p(t("overview.definitions"), styles["h2"]))
    for indicator in INDICATORS:
        story.append(_p(t(f"overview.def.{indicator}"), styles["base"]))
    story.append(_p(t("overview.def.common"), styles["sub"]))

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=landscape(A4),
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=t("overview.title"),
        author="vidaudit",
        initialFontName=font,
    )
    doc.build(story)
    return buffer.getvalue()
