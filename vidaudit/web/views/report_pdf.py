"""The weekly branch report as a PDF (reportlab), with the same numbers as the HTML page.

The PDF embeds a subset of a TrueType CJK font (the glyphs the report uses, some tens of
KB), so it looks the same and its text extracts the same in every reader, including
those without Adobe's Asian font pack and poppler without poppler-data.  The font is
WenQuanYi Zen Hei from Debian's ``fonts-wqy-zenhei`` (scripts/debian-packages.txt): its
outlines are TrueType, which reportlab can embed (it cannot embed CFF outlines, so Noto
Sans CJK is out), it covers GB 18030 and Latin, and its licence (GPL with a font
embedding exception) allows embedding in documents.  ``VIDAUDIT_REPORT_FONT`` names
another TrueType file (.ttf, or .ttc with its first face).  Without any, the report falls
back to reportlab's CID font STSong-Light, named but not embedded (readers substitute a
face of their own), and says so in the log.
"""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from vidaudit.web.i18n import Translator, fmt_dt
from vidaudit.web.views.report_weekly import FINDING_STATUSES, FindingLine, WeeklyReport

log = logging.getLogger(__name__)

#: where Debian's fonts-wqy-zenhei puts the font
DEFAULT_FONT_FILE = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
FALLBACK_FONT = "STSong-Light"


@functools.cache
def report_font(font_file: Path | None = None) -> str:
    """Register the report's font once per file; return its reportlab name."""
    path = font_file or DEFAULT_FONT_FILE
    name = f"report-{path.stem}"
    try:
        # subfontIndex 0: in wqy-zenhei.ttc the proportional face (1 is the monospaced one)
        pdfmetrics.registerFont(TTFont(name, str(path), subfontIndex=0))
        return name
    except (OSError, TTFError) as exc:  # absent, unreadable, or CFF outlines
        problem = str(exc)
    log.warning(
        "report font %s unusable (%s): PDFs name %s without embedding it; install "
        "Debian's fonts-wqy-zenhei or set VIDAUDIT_REPORT_FONT to a TrueType CJK font",
        path,
        problem,
        FALLBACK_FONT,
    )
    pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK_FONT))
    return FALLBACK_FONT


@functools.cache
def code_font(font_file: Path | None, report: str) -> str:
    """The fixed-width face for the register checkpoint, which an auditor may type back
    (base64 tells ``l`` from ``I`` only in a fixed-width face): face 1 of a .ttc (in
    wqy-zenhei.ttc, WenQuanYi Zen Hei Mono), embedded like the report's font; else the
    report's font itself.  Courier would be neither embedded nor the same on every
    reader."""
    path = font_file or DEFAULT_FONT_FILE
    if report == FALLBACK_FONT or path.suffix.lower() != ".ttc":
        return report
    name = f"report-{path.stem}-mono"
    try:
        pdfmetrics.registerFont(TTFont(name, str(path), subfontIndex=1))
    except (OSError, TTFError, IndexError) as exc:  # a collection with one face
        log.info("report font %s has no second face (%s): the checkpoint uses its first", path, exc)
        return report
    return name


def _styles(font: str, code: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=font, fontSize=9.5, leading=13, wordWrap="CJK")
    return {
        "base": base,
        "title": ParagraphStyle("title", parent=base, fontSize=16, leading=21, spaceAfter=2),
        "sub": ParagraphStyle("sub", parent=base, textColor=colors.HexColor("#444444")),
        "h2": ParagraphStyle(
            "h2", parent=base, fontSize=12, leading=16, spaceBefore=9, spaceAfter=4
        ),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8.5, leading=11),
        "bad": ParagraphStyle("bad", parent=base, textColor=colors.HexColor("#b3261e")),
        # the checkpoint line, typed back by an auditor: wrapped at its spaces only
        "code": ParagraphStyle(
            "code", parent=base, fontName=code, fontSize=7, leading=9, wordWrap=None
        ),
    }


def _p(text: object, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(str(text)), style)


def _table(
    rows: Sequence[Sequence[object]], widths: Sequence[float], styles: dict[str, ParagraphStyle]
) -> Table:
    cells = [[_p(value, styles["cell"]) for value in row] for row in rows]
    table = Table(cells, colWidths=list(widths), repeatRows=1, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                # a table names its cells' font even when they hold paragraphs
                ("FONTNAME", (0, 0), (-1, -1), styles["cell"].fontName),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8ecf2")),
                ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#9aa3ae")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


def _findings(
    title: str, lines: list[FindingLine], t: Translator, styles: dict[str, ParagraphStyle]
) -> list[Flowable]:
    out: list[Flowable] = [_p(f"{title}: {len(lines)}", styles["base"])]
    if lines:
        header = [
            "#",
            t("report.channel"),
            t("report.item"),
            t("report.note"),
            t("report.deadline"),
            t("report.status"),
            t("report.owner"),
        ]
        rows = [
            [
                f.id,
                f.channel,
                f.item_code,
                f.note,
                f.deadline.isoformat(),
                t(f"report.finding_{f.status}") if f.status in FINDING_STATUSES else f.status,
                f.owner,
            ]
            for f in lines
        ]
        out += [
            _table(
                [header, *rows],
                [10 * mm, 28 * mm, 22 * mm, 50 * mm, 22 * mm, 18 * mm, 30 * mm],
                styles,
            ),
            Spacer(1, 3 * mm),
        ]
    return out


def weekly_pdf(
    report: WeeklyReport, t: Translator, generated_by: str, font_file: Path | None = None
) -> bytes:
    """The report as PDF bytes; ``font_file`` overrides the default TrueType CJK font."""
    font = report_font(font_file)
    styles = _styles(font, code_font(font_file, font))
    header: list[object]
    rows: list[list[object]]
    tz = report.tz
    branch = report.branch
    story: list[Flowable] = [
        _p(t("report.title_for", name=branch.name), styles["title"]),
        _p(
            t(
                "report.subtitle",
                branch=branch.id,
                start=report.monday.isoformat(),
                end=report.sunday.isoformat(),
            ),
            styles["sub"],
        ),
        _p(
            t("report.generated", at=fmt_dt(report.as_of, tz), name=generated_by),
            styles["sub"],
        ),
        Spacer(1, 4 * mm),
        _p(t("report.compliance"), styles["h2"]),
    ]
    c = report.compliance
    if c is None:
        story.append(_p(t("report.no_run"), styles["bad"]))
    else:
        story.append(_p(t("report.as_of_run", at=fmt_dt(c.run_at, tz)), styles["sub"]))
        rows = [
            [t("report.measure"), t("report.value")],
            [t("report.channels_compliant"), f"{c.channels_compliant} / {c.channels}"],
            [t("report.retention_short"), c.retention_short],
            [t("report.hours_gaps"), c.hours_gaps],
            [t("report.clock_drift"), c.clock_drift],
            [t("report.devices_down"), f"{c.devices_down} / {c.devices}"],
            [t("report.pictures_abnormal"), c.pictures_abnormal],
            [t("report.violations"), c.violations],
        ]
        story.append(_table(rows, [70 * mm, 40 * mm], styles))
        if c.listed:
            story.append(Spacer(1, 2 * mm))
            header = [t("report.subject"), t("report.rule"), t("report.detail")]
            listed = [
                [f"{name} {sid}".strip(), rule, detail] for sid, name, rule, detail in c.listed
            ]
            story.append(_table([header, *listed], [45 * mm, 28 * mm, 107 * mm], styles))

    d = report.duties
    w = d.duties
    story += [
        _p(t("report.duties"), styles["h2"]),
        _table(
            [
                [t("report.duty"), t("report.required"), t("report.done"), t("report.status")],
                [
                    t("duties.d1"),
                    t("report.days", n=len(w.check_days)),
                    d.checks_done,
                    t(f"duties.status_{d.status('D1')}"),
                ],
                [
                    t("duties.d2"),
                    w.admin_required,
                    w.admin_reviews,
                    t(f"duties.status_{d.status('D2')}"),
                ],
                [
                    t("duties.d3"),
                    w.head_required,
                    w.head_reviews,
                    t(f"duties.status_{d.status('D3')}"),
                ],
            ],
            [60 * mm, 30 * mm, 25 * mm, 30 * mm],
            styles,
        ),
    ]
    if w.missing_checks:
        days = ", ".join(day.isoformat() for day in w.missing_checks)
        story.append(_p(f"{t('duties.missing_checks')} {days}", styles["bad"]))

    story.append(_p(t("report.reviews", n=len(report.reviews)), styles["h2"]))
    if report.reviews:
        header = [
            t("report.time"),
            t("report.reviewer"),
            t("report.channel"),
            t("report.summary"),
        ]
        rows = [
            [fmt_dt(r.at, tz), f"{r.reviewer} ({t('role.' + r.role)})", r.channel, r.summary]
            for r in report.reviews
        ]
        story.append(_table([header, *rows], [30 * mm, 42 * mm, 30 * mm, 78 * mm], styles))
    else:
        story.append(_p(t("report.none"), styles["base"]))

    story.append(_p(t("report.findings"), styles["h2"]))
    story += _findings(t("report.findings_opened"), report.findings_opened, t, styles)
    story += _findings(t("report.findings_closed"), report.findings_closed, t, styles)
    story += _findings(t("report.findings_overdue"), report.findings_overdue, t, styles)

    story.append(_p(t("report.tickets", n=len(report.tickets)), styles["h2"]))
    if report.tickets:
        header = [t("report.subject"), t("report.rule"), t("report.detail"), t("report.opened")]
        rows = [
            [tk.subject_id, tk.rule, tk.detail, fmt_dt(tk.opened_at, tz)] for tk in report.tickets
        ]
        story.append(_table([header, *rows], [35 * mm, 28 * mm, 85 * mm, 32 * mm], styles))
    else:
        story.append(_p(t("report.none"), styles["base"]))

    story.append(_p(t("report.register_checkpoint"), styles["h2"]))
    cov = report.register
    if cov.checkpoint is not None:
        hint = t(
            "report.register_checkpoint_hint",
            n=cov.checkpoint.seq,
            at=fmt_dt(cov.checkpoint.at, tz),
        )
        story += [_p(hint, styles["sub"]), _p(cov.checkpoint.line, styles["code"])]
    if cov.entries == 0:
        story.append(_p(t("report.register_empty"), styles["sub"]))
    elif cov.uncovered:
        story.append(_p(t("report.register_uncovered", n=cov.uncovered), styles["bad"]))
    story += [
        Spacer(1, 10 * mm),
        _p(t("report.signatures"), styles["base"]),
    ]

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=t("report.title_for", name=branch.name),
        author="vidaudit",
        # else every page also names Helvetica, which is never used and never embedded
        initialFontName=font,
    )
    doc.build(story)
    return buffer.getvalue()
