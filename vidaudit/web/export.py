"""The one exporter: a table (headers and rows) as CSV or XLSX, for every export.

* CSV is UTF-8 with a byte-order mark and CRLF line ends: without the mark Excel on a
  Chinese Windows reads the file as GBK and shows mojibake.
* Formula injection: a cell a person typed (a note, a reason, a name) that starts with
  ``= + - @`` (or a tab or carriage return, which Excel skips before them) would run as a
  formula when the file is opened in Excel or WPS.  Every text cell passes ``safe_cell``,
  which puts an apostrophe in front; numbers stay numbers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Sequence
from typing import Literal

from fastapi.responses import Response

# openpyxl ships no type information and the project does not install types-openpyxl
# (yet); "unused-ignore" keeps this line clean once it does.
from openpyxl import Workbook  # type: ignore[import-untyped, unused-ignore]
from openpyxl.styles import Font, PatternFill  # type: ignore[import-untyped, unused-ignore]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped, unused-ignore]

Cell = str | int | float | None
Rows = Sequence[Sequence[Cell]]

#: what a spreadsheet may take for the start of a formula (OWASP "CSV injection")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_HEADER_FILL = PatternFill("solid", fgColor="EEF2F7")


def safe_cell(value: Cell) -> Cell:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(headers: Sequence[str], body: Rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in headers])
    for line in body:
        writer.writerow(["" if v is None else safe_cell(v) for v in line])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(
    headers: Sequence[str],
    body: Rows,
    title: str,
    *,
    freeze: str = "A2",
    highlight: Callable[[Sequence[Cell]], bool] | None = None,
    highlight_colour: str = "FDECEA",
) -> bytes:
    """One sheet: a bold header row, columns sized to their content, rows for which
    ``highlight`` says so filled (e.g. overdue findings)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title[:31]  # Excel's limit on sheet names
    sheet.append([safe_cell(h) for h in headers])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = _HEADER_FILL
    fill = PatternFill("solid", fgColor=highlight_colour)
    for line in body:
        sheet.append([safe_cell(v) for v in line])
        if highlight is not None and highlight(line):
            for cell in sheet[sheet.max_row]:
                cell.fill = fill
    sheet.freeze_panes = freeze
    for index, header in enumerate(headers, start=1):
        widest = max([len(header) * 2, *(len(str(line[index - 1] or "")) for line in body)])
        sheet.column_dimensions[get_column_letter(index)].width = min(max(widest + 2, 8), 40)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def download(data: bytes, name: str) -> Response:
    """``data`` as an attachment named ``name`` (.csv or .xlsx)."""
    media_type = CSV_TYPE if name.endswith(".csv") else XLSX_TYPE
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(data, media_type=media_type, headers=headers)


def dated_export(
    kind: Literal["csv", "xlsx"],
    name: str,
    headers: Sequence[str],
    body: Rows,
    now: dt.datetime,
    *,
    highlight: Callable[[Sequence[Cell]], bool] | None = None,
) -> Response:
    """A list page's export: ``name-YYYYMMDD.csv`` or ``.xlsx`` (a sheet called ``name``),
    so the CSV and XLSX routes of a list differ only in ``kind``."""
    data = (
        to_csv(headers, body)
        if kind == "csv"
        else to_xlsx(headers, body, name, highlight=highlight)
    )
    return download(data, f"{name}-{now.strftime('%Y%m%d')}.{kind}")
