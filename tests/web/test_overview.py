"""``/overview``, its PDF and its XLSX over hand-placed device polls: the same numbers on
each, every branch for the security department, her own branch for a branch head.

The web test inventory's B1 keeps Beijing time and B2 Urumqi time; neither has a region,
so both sit under "未分片区".  Polls (from the domain test's fixture, worked out there):
B1 this week 4 of 5 online, B2 2 of 2 (its Sunday-night failure is last week in Urumqi),
so the bank 6 of 7 = 85.7 %, B1 80.0 %.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped, unused-ignore]
from sqlalchemy import update

from tests.overview.test_overview_numbers import NOW, SYNCED, Facts, write_polls
from tests.web.conftest import ARTIFACTS, WebEnv
from tests.web.test_reports import font_installed, pdf_fonts, poppler
from vidaudit.db.models import BranchRow
from vidaudit.overview.model import INDICATORS

__all__ = ["font_installed"]  # a fixture this module uses


def seed_polls(env: WebEnv) -> None:
    with env.sessions.begin() as session:
        # the branches were listed before the weeks the polls fall in
        session.execute(update(BranchRow).values(first_seen_at=SYNCED))
        write_polls(Facts(session))
    env.now = NOW


@pytest.fixture
def seeded(web: WebEnv) -> Iterator[WebEnv]:
    seed_polls(web)
    yield web


def cell_text(html: str, row: str, indicator: str) -> str:
    found = re.search(
        rf'<tr id="{row}"[^>]*>.*?<td class="num [a-z]+" data-indicator="{indicator}">(.*?)</td>',
        html,
        re.S,
    )
    assert found, f"no {indicator} cell in row {row}"
    return re.sub(r"<[^>]+>", " ", found.group(1)).split()[0]


def test_security_sees_the_bank_with_trend_and_definitions(seeded: WebEnv) -> None:
    with seeded.client_as("sec") as client:
        page = client.get("/overview")
    assert page.status_code == 200
    html = page.text
    assert "运维指标总览" in html and "本周:2026-11-16 至 2026-11-22" in html
    assert cell_text(html, "row-bank", "online") == "85.7%"
    assert "6/7" in html
    assert cell_text(html, "row-region-1", "online") == "85.7%"  # 未分片区: B1 + B2
    assert "未分片区" in html
    # one trend chart per indicator, the bank's online line through last week and this
    for indicator in INDICATORS:
        assert f'id="trend-{indicator}"' in html
    online_chart = html.split('id="trend-online"')[1].split("</svg>")[0]
    assert online_chart.count("<circle") == 2 and "<polyline" in online_chart
    # nothing was ever due for recording here: the chart says so rather than stay blank
    assert "12 周内无应达事项" in html.split('id="trend-recording"')[1].split("</svg>")[0]
    # the definitions are on the page, in the users' language
    assert "在线率:对设备的巡检中" in html and "录像完整率:要求录像的通道时长" in html


def test_branch_head_sees_her_own_branch_only(seeded: WebEnv) -> None:
    with seeded.client_as("head") as client:
        page = client.get("/overview")
        sheet = client.get("/overview.xlsx")
    assert page.status_code == 200
    assert cell_text(page.text, "row-bank", "online") == "80.0%"  # B1 4 of 5
    assert "河西分理处" not in page.text
    book = load_workbook(io.BytesIO(sheet.content))
    names = {row[1] for row in book.worksheets[0].iter_rows(min_row=2, values_only=True)}
    assert "城关支行营业部 (B1)" in names and not any("B2" in str(n) for n in names)


def test_administrator_and_anonymous_are_refused(seeded: WebEnv) -> None:
    with seeded.client_as("admin") as client:
        assert client.get("/overview").status_code == 403
        assert client.get("/overview.pdf").status_code == 403
    with seeded.client() as client:
        assert client.get("/overview.xlsx").status_code == 303


def test_xlsx_holds_every_week_of_every_level(seeded: WebEnv) -> None:
    with seeded.client_as("audit") as client:
        response = client.get("/overview.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    assert header[:4] == ("层级", "名称", "片区", "周(星期一)")
    online = header.index("在线率 (%)")
    by_key = {(r[1], r[3]): r for r in rows[1:]}
    # 12 weeks x (bank + 1 region + 2 branches)
    assert len(rows) - 1 == 12 * 4
    assert by_key[("全行", "2026-11-16")][online] == 85.7
    assert by_key[("全行", "2026-11-16")][online + 1] == "6/7"
    assert by_key[("全行", "2026-11-09")][online] == 0.0  # B2's Sunday night, 0 of 1
    assert by_key[("全行", "2026-11-02")][online] is None  # nothing polled


def test_pdf_embeds_its_font_and_says_the_same(
    seeded: WebEnv, tmp_path: Path, font_installed: None
) -> None:
    with seeded.client_as("sec") as client:
        response = client.get("/overview.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    path = tmp_path / "overview.pdf"
    path.write_bytes(response.content)
    for font in pdf_fonts(path):
        assert font["name"].endswith("WenQuanYiZenHei-0"), font
        assert (font["emb"], font["sub"], font["uni"]) == ("yes", "yes", "yes"), font
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(path, ARTIFACTS / "overview.pdf")
    text = subprocess.run(
        [poppler("pdftotext"), "-layout", str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    dense = "".join(text.split())
    assert "运维指标总览" in dense
    assert "85.7%6/7" in dense
    assert "在线率:对设备的巡检中" in dense
