"""The language sweep (issue 15, problem 2): every page, export and the weekly PDF in
Chinese, with collected violations, tickets, a review with a finding being rectified, an
approval and the register behind them, holds no English word outside an allow-list (ids,
units, product names, account names) and no raw catalogue key.

A word here is a run of ASCII letters standing alone: ids such as ``B1-C1``, ``FY001`` or
a hash mix in digits and are not words; ``R3`` is a rule number.  What the allow-list lets
through is named, with why.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped, unused-ignore]
from sqlalchemy import select

from tests.conftest import REPO
from tests.web.conftest import WebEnv
from tests.web.test_dashboard import seed
from tests.web.test_reports import poppler
from tests.web.test_review_flow import insert_frames, plan_task, post, review_env, review_form
from vidaudit.db.models import (
    FindingEventRow,
    FindingRow,
    RegisterEntryRow,
    ReviewRow,
    SpotCheckTaskRow,
    UserRow,
)

#: ASCII words a Chinese reader meets on purpose
ALLOWED = {
    # product and protocol names, formats, units
    "vidaudit", "ONVIF", "RTSP", "NVR", "IPC", "DVR", "PDF", "CSV", "XLSX", "Excel",
    "UTC", "JPEG", "ms", "KB", "MB", "GB", "TB", "IP", "HTTP", "HTML", "English",
    # what Chinese banks call the machine too (离行式ATM, ATM巡查; D9 in the rules)
    "ATM",
    # vendors: a product name, and the inventory's own spelling of it (a config value)
    "Hikvision", "hikvision", "Dahua", "dahua",
    # the targeted CSV's column names, which the file must use (shown as its example)
    "branch", "channel", "instant", "kind", "note",
}  # fmt: skip

#: account names are ids the bank chose (users log in with them)
WORD = re.compile(r"(?<![A-Za-z0-9_\-./:#@])[A-Za-z]{2,}(?![A-Za-z0-9_\-./:@])")
KEY = re.compile(r"\b[a-z]+(?:\.[a-z0-9_]+){1,3}\b")


@pytest.fixture
def full(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebEnv]:
    """Collected observations (violations, tickets, snapshots), a spot-check reviewed with
    a failed item, its finding fixed, an approval decided, and the register of it all."""
    env = review_env(db_url, tmp_path, monkeypatch)
    seed(env)
    task_id = plan_task(env)
    shas = insert_frames(env, task_id)
    with env.client_as("admin") as admin:
        assert (
            post(admin, f"/spot-checks/{task_id}/review", review_form(frames=shas[:1])).status_code
            == 303
        )
    with env.sessions() as db:
        finding = db.scalars(select(FindingRow).order_by(FindingRow.id.desc())).first()
        assert finding is not None
    with env.client_as("head") as head:
        fixed = post(
            head, f"/findings/{finding.id}", {"action": "fixed", "version": "1", "note": "已整改"}
        )
        assert fixed.status_code == 303
    other = plan_task(env)
    with env.client_as("admin2") as outsider:
        post(outsider, f"/spot-checks/{other}/access", {"reason": "协查客户投诉"})
    yield env
    env.engine.dispose()


def visible_text(page: str) -> str:
    """What a reader sees: text and the attributes a browser shows (title, placeholder,
    alt, aria-label), without scripts, styles and the language switch's own name."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    shown = re.findall(r'\s(?:title|placeholder|alt|aria-label)="([^"]*)"', page)
    text = re.sub(r"<[^>]+>", " ", page)
    return html.unescape(" ".join([text, *shown]))


def english_words(text: str, names: set[str], typed: list[str]) -> set[str]:
    """English words we wrote: ``names`` (accounts) and what people ``typed`` (notes,
    reasons: their words, in whatever language they chose) are left out."""
    for words in typed:
        text = text.replace(words, " ")
    return {w for w in WORD.findall(text) if w not in ALLOWED and w not in names}


def raw_keys(text: str, keys: set[str]) -> set[str]:
    return {k for k in KEY.findall(text) if k in keys}


def test_no_english_and_no_raw_key_in_chinese_output(full: WebEnv) -> None:
    env = full
    catalogue = json.loads((REPO / "web" / "locales" / "zh.json").read_text(encoding="utf-8"))
    keys = set(catalogue)
    for extra in (REPO / "web" / "locales").glob("zh.*.json"):
        keys |= set(json.loads(extra.read_text(encoding="utf-8")))
    with env.sessions() as db:
        review_id = db.scalars(select(ReviewRow.id)).first()
        finding_id = db.scalars(select(FindingRow.id)).first()
        task_id = db.scalars(select(SpotCheckTaskRow.id)).first()
        names = set(db.scalars(select(UserRow.username)))
        typed = sorted(
            {t for t in db.scalars(select(RegisterEntryRow.reason)) if t}
            | {t for t in db.scalars(select(FindingEventRow.note)) if t}
            | {t for t in db.scalars(select(FindingRow.note)) if t},
            key=len,
            reverse=True,
        )
    pages = [
        "/", "/branches/B1", "/branches/B2", "/devices/B1-NVR", "/channels/B1-C1",
        "/channels/B1-C2", "/duties", "/findings",
        f"/findings/{finding_id}", "/register", "/reports", "/reports/weekly?branch=B1",
        f"/reviews/{review_id}", "/spot-checks", "/spot-checks?status=all",
        f"/spot-checks/{task_id}", "/approvals", "/patrol", "/users", "/nowhere",
    ]  # fmt: skip
    exports = ["/dashboard.csv", "/findings.csv", "/register.csv"]
    workbooks = ["/dashboard.xlsx", "/findings.xlsx", "/register.xlsx"]
    found: dict[str, set[str]] = {}
    with env.client_as("admin") as admin:  # the daily check is the administrator's
        for path in ("/duties/check/B1",):
            response = admin.get(path)
            assert response.status_code == 200, (path, response.status_code)
            text = visible_text(response.text)
            if problems := english_words(text, names, typed) | raw_keys(text, keys):
                found[path] = problems
    with env.client_as("sec") as sec:
        for path in pages:
            response = sec.get(path)
            assert response.status_code in (200, 404), (path, response.status_code)
            text = visible_text(response.text)
            problems = english_words(text, names, typed) | raw_keys(text, keys)
            if problems:
                found[path] = problems
        for path in exports:
            response = sec.get(path)
            assert response.status_code == 200, path
            cells = " ".join(
                " ".join(row)
                for row in csv.reader(io.StringIO(response.content.decode("utf-8-sig")))
            )
            problems = english_words(cells, names, typed) | raw_keys(cells, keys)
            if problems:
                found[path] = problems
        for path in workbooks:
            response = sec.get(path)
            assert response.status_code == 200, path
            sheet = load_workbook(io.BytesIO(response.content)).active
            assert sheet is not None
            cells = " ".join(str(c) for row in sheet.iter_rows(values_only=True) for c in row if c)
            problems = english_words(cells, names, typed) | raw_keys(cells, keys)
            if problems:
                found[path] = problems
        pdf = sec.get("/reports/weekly.pdf?branch=B1")
        assert pdf.status_code == 200
    path = env.settings.data_dir / "weekly.pdf"
    path.write_bytes(pdf.content)
    text = subprocess.run(
        [poppler("pdftotext"), "-layout", str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    problems = english_words(text, names, typed) | raw_keys(text, keys)
    if problems:
        found["/reports/weekly.pdf"] = problems
    assert not found, found
