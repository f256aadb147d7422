"""What ``/overview`` and its XLSX show: rates as text, the trend charts' geometry, rows.

The numbers are the domain's (``vidaudit.overview``); this module only lays them out.
Charts are inline SVG drawn by the template from the geometry here (no script, no CDN;
colours are CSS classes because the content security policy forbids inline styles).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from vidaudit.overview.model import INDICATORS, Indicator, Tallies, Tally
from vidaudit.overview.report import Overview, Series
from vidaudit.web.export import Cell
from vidaudit.web.i18n import Translator

#: series classes in overview.css (the bank is s0, regions follow, colours repeat)
SERIES_CLASSES = 6


def pct(rate: float | None) -> str:
    """A rate as the page shows it: ``97.5%``, or an en dash when nothing was due."""
    return "–" if rate is None else f"{rate * 100:.1f}%"


def counts(tally: Tally | None) -> str:
    """``ok/due`` with minutes shown as hours for recording (one decimal)."""
    if tally is None or tally.due <= 0:
        return ""
    ok, due = tally.ok, tally.due
    if isinstance(due, float) and not due.is_integer():
        return f"{ok:.0f}/{due:.0f}"
    return f"{ok:g}/{due:g}"


def cell(tallies: Tallies, indicator: Indicator) -> tuple[str, str, str]:
    """(rate text, counts text, css class: good / fair / poor / none)."""
    tally = tallies.get(indicator)
    rate = tally.rate if tally is not None else None
    if rate is None:
        grade = "none"
    elif rate >= 0.95:
        grade = "good"
    elif rate >= 0.8:
        grade = "fair"
    else:
        grade = "poor"
    return pct(rate), counts(tally), grade


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Line:
    css: str
    points: str  # "x,y x,y ..." for a polyline


@dataclass(frozen=True)
class Dot:
    css: str
    x: float
    y: float
    title: str


@dataclass(frozen=True)
class TrendChart:
    indicator: Indicator
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    lines: list[Line]
    dots: list[Dot]


def trend_chart(
    indicator: Indicator,
    mondays: Sequence[dt.date],
    series: Sequence[tuple[str, Series]],
    *,
    width: int = 360,
    height: int = 170,
) -> TrendChart:
    """One indicator over the weeks, a line per series (``(label, series)``); a week with
    nothing due leaves a break in its line rather than a fall to zero."""
    left, right, top, bottom = 42, width - 10, 10, height - 26
    count = max(len(mondays) - 1, 1)

    def x(index: int) -> float:
        return round(left + (right - left) * index / count, 1)

    def y(rate: float) -> float:
        return round(bottom - (bottom - top) * rate, 1)

    y_ticks = [Tick(y(v / 100), f"{v}%") for v in (0, 25, 50, 75, 100)]
    x_ticks = [
        Tick(x(i), monday.strftime("%m-%d"))
        for i, monday in enumerate(mondays)
        if i % 3 == (len(mondays) - 1) % 3
    ]
    lines: list[Line] = []
    dots: list[Dot] = []
    for number, (label, found) in enumerate(series):
        css = f"s{number % SERIES_CLASSES}"
        run: list[str] = []
        for index, rate in enumerate(found.trend(indicator)):
            if rate is None:
                if len(run) > 1:
                    lines.append(Line(css, " ".join(run)))
                run = []
                continue
            run.append(f"{x(index)},{y(rate)}")
            dots.append(Dot(css, x(index), y(rate), f"{label} {mondays[index]}: {pct(rate)}"))
        if len(run) > 1:
            lines.append(Line(css, " ".join(run)))
    return TrendChart(
        indicator, width, height, left, right, top, bottom, y_ticks, x_ticks, lines, dots
    )


def charted_series(overview: Overview, t: Translator) -> list[tuple[str, Series]]:
    """The bank and each region; a scope of one region shows that region alone."""
    if len(overview.regions) <= 1:
        return [(t("overview.bank"), overview.bank)]
    return [(t("overview.bank"), overview.bank)] + [
        (region_label(r, t), r) for r in overview.regions
    ]


def region_label(series: Series, t: Translator) -> str:
    return series.name or t("overview.no_region")


def export_rows(overview: Overview, t: Translator) -> tuple[list[str], list[list[Cell]]]:
    """Every week of the bank, each region and each branch: rate (%) and ok/due per
    indicator, as numbers a spreadsheet can chart again."""
    headers = [
        t("overview.level"),
        t("overview.name"),
        t("overview.region"),
        t("overview.week"),
    ]
    for indicator in INDICATORS:
        headers += [f"{t(f'overview.ind.{indicator}')} (%)", t("overview.ok_of_due")]
    groups: list[tuple[str, str, str, Series]] = [
        (t("overview.level_bank"), t("overview.bank"), "", overview.bank)
    ]
    groups += [
        (t("overview.level_region"), region_label(r, t), region_label(r, t), r)
        for r in overview.regions
    ]
    groups += [
        (
            t("overview.level_branch"),
            f"{b.name} ({b.key})",
            b.region or t("overview.no_region"),
            b,
        )
        for b in overview.branches
    ]
    body: list[list[Cell]] = []
    for level, name, region, series in groups:
        for index, monday in enumerate(overview.mondays):
            line: list[Cell] = [level, name, region, monday.isoformat()]
            for indicator in INDICATORS:
                tally = series.weeks[index].get(indicator)
                rate = tally.rate if tally is not None else None
                line += [None if rate is None else round(rate * 100, 1), counts(tally) or None]
            body.append(line)
    return headers, body
