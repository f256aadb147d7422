"""The one exporter: UTF-8 CSV with a BOM, XLSX, and no cell that runs as a formula."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped, unused-ignore]

from vidaudit.web.export import safe_cell, to_csv, to_xlsx


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"])
def test_text_that_starts_like_a_formula_is_quoted(text: str) -> None:
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["城关支行", "a=b", "", None, -3, 2.5])
def test_other_cells_are_left_alone(value: str | int | float | None) -> None:
    assert safe_cell(value) == value


def test_csv_has_a_bom_crlf_and_guarded_cells() -> None:
    data = to_csv(["名称", "数"], [["=cmd|' /C calc'!A0", -2], [None, 3]])
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert text.endswith("\r\n")
    assert list(csv.reader(io.StringIO(text))) == [
        ["名称", "数"],
        ["'=cmd|' /C calc'!A0", "-2"],
        ["", "3"],
    ]


def test_xlsx_keeps_numbers_and_writes_formulas_as_text() -> None:
    data = to_xlsx(["a", "b"], [["=1+1", 5], ["ok", -1.5]], "t", highlight=lambda r: r[1] == 5)
    sheet = load_workbook(io.BytesIO(data)).active
    assert [list(r) for r in sheet.iter_rows(values_only=True)] == [
        ["a", "b"],
        ["'=1+1", 5],
        ["ok", -1.5],
    ]
    assert sheet.cell(2, 1).fill.fgColor.rgb.endswith("FDECEA")
    assert sheet.cell(3, 1).fill.fgColor.rgb != sheet.cell(2, 1).fill.fgColor.rgb
