"""The weekly branch report: HTML and PDF carry the same numbers for the known week
(tests/web/test_duties.py's dataset)."""

from __future__ import annotations

import html as html_module
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import IN_CI
from tests.web.conftest import ARTIFACTS, WebEnv
from tests.web.test_duties import evidence_in_tmp, seed_week, text_of
from vidaudit.web.state import web_state
from vidaudit.web.views.report_pdf import DEFAULT_FONT_FILE, FALLBACK_FONT, report_font

__all__ = ["evidence_in_tmp"]  # the autouse fixture applies here too


@pytest.fixture
def seeded(web: WebEnv) -> Iterator[WebEnv]:
    seed_week(web)
    yield web


def poppler(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        message = f"{tool} is missing: apt-get install poppler-utils (Debian's package)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture
def font_installed() -> None:
    if not DEFAULT_FONT_FILE.is_file():
        message = f"{DEFAULT_FONT_FILE} is missing: apt-get install fonts-wqy-zenhei"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def pdf_fonts(path: Path) -> list[dict[str, str]]:
    """pdffonts' table: one dict per font (name, type, emb, sub, uni)."""
    out = subprocess.run(
        [poppler("pdffonts"), str(path)], capture_output=True, text=True, check=True, timeout=30
    ).stdout.splitlines()
    # name, type (one or more words), encoding, emb, sub, uni, object number, generation
    rows = [line.split() for line in out[2:] if line.strip()]
    return [
        {"name": r[0], "type": " ".join(r[1:-6]), "emb": r[-5], "sub": r[-4], "uni": r[-3]}
        for r in rows
    ]


def test_weekly_report_html_numbers(seeded: WebEnv) -> None:
    with seeded.client_as("head") as client:
        page = client.get("/reports/weekly?branch=B1&week=2026-11-18")
    assert page.status_code == 200
    html = page.text
    assert (
        "城关支行营业部 视频监控周报" in html
        and "2026-11-16 至 2026-11-22" in html
        and "待整改" in html
    )
    assert text_of(html, "channels-compliant") == "0 / 2"
    assert text_of(html, "retention-short") == "1"
    assert text_of(html, "hours-gaps") == "1"
    assert text_of(html, "clock-drift") == "1"
    assert text_of(html, "devices-down") == "0 / 1"
    assert text_of(html, "pictures-abnormal") == "1"
    assert text_of(html, "violations") == "4"
    assert text_of(html, "duty-d1").endswith("3 个营业日 2 未履行")
    assert text_of(html, "duty-d2").endswith("2 1 待完成")
    assert text_of(html, "duty-d3").endswith("1 1 已履行")
    assert "三、本周录像调阅(2 次)" in html
    assert "柜台双人临柜正常" in html and "金库双人值守" in html
    assert text_of(html, "findings-opened").endswith(": 1")
    assert text_of(html, "findings-closed").endswith(": 1")
    assert text_of(html, "findings-overdue").endswith(": 1")
    assert "后门未锁" in html and "临时离岗未锁屏" in html
    assert "五、未关闭的故障工单(1 个)" in html
    # another branch's report is not the head's to read; unknown branch: 404
    with seeded.client_as("head") as client:
        assert client.get("/reports/weekly?branch=B2").status_code == 403
        assert client.get("/reports/weekly.pdf?branch=B2").status_code == 403
        assert client.get("/reports/weekly?branch=NOPE").status_code == 404
        # no branch: a branch-bound user gets their own
        assert client.get("/reports/weekly").status_code == 200
    with seeded.client_as("sec") as client:
        assert client.get("/reports/weekly").headers["location"] == "/reports"
        index = client.get("/reports").text
        assert "/reports/weekly.pdf?branch=B2&amp;week=2026-11-16" in index


def test_weekly_report_pdf_is_a_pdf_with_the_same_numbers(
    seeded: WebEnv, tmp_path: Path, font_installed: None
) -> None:
    from vidaudit.review.checkpoints import checkpoint

    signer = web_state(seeded.app).signer.get()
    assert signer is not None  # a checkpoint to print, as the hourly checkpointer signs
    assert checkpoint(seeded.sessions, signer, None, seeded.now) is not None
    with seeded.client_as("head") as client:
        response = client.get("/reports/weekly.pdf?branch=B1&week=2026-W47")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    pdf = response.content
    assert pdf.startswith(b"%PDF-")
    path = tmp_path / "weekly.pdf"
    path.write_bytes(pdf)
    # Every font is a subset embedded in the file, with a ToUnicode map: readers need no
    # font of their own, and text extracts without poppler-data's CID maps.
    fonts = pdf_fonts(path)
    assert fonts, "pdffonts lists no font"
    # WenQuanYi Zen Hei, and its Mono face for the register checkpoint line
    # (reportlab names each subset of 256 glyphs PREFIX+FACE-N)
    faces = {re.sub(r"-\d+$", "", font["name"].split("+")[-1]) for font in fonts}
    assert faces == {"WenQuanYiZenHei", "WenQuanYiZenHeiMono"}, fonts
    for font in fonts:
        assert font["type"] == "TrueType", font
        assert (font["emb"], font["sub"], font["uni"]) == ("yes", "yes", "yes"), font
    assert len(pdf) < 400_000  # a subset, not the 16 MB font
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(path, ARTIFACTS / "report-weekly-B1.pdf")

    text = subprocess.run(
        [poppler("pdftotext"), "-layout", str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    flat = " ".join(text.split())
    # pdftotext joins a table cell's "0 / 2" into "0/2": compare those without spaces
    dense = "".join(text.split())
    assert "城关支行营业部 视频监控周报" in flat
    assert "2026-11-16 至 2026-11-22" in flat
    assert "合规通道0/2" in dense
    assert "录像保存天数不足的通道 1" in flat
    assert "营业时段录像缺失的通道 1" in flat
    assert "时钟偏差超限的设备 1" in flat
    assert "离线设备0/1" in dense
    assert "实时画面异常的通道 1" in flat
    assert "违规项合计 4" in flat
    assert "D2 管理员调阅 2 1 待完成" in flat
    assert "D3 负责人调阅 1 1 已履行" in flat
    assert "三、本周录像调阅(2 次)" in flat
    assert "本周新发现: 1" in flat and "本周整改完成: 1" in flat and "逾期未整改: 1" in flat
    assert "五、未关闭的故障工单(1 个)" in flat

    # A picture of the first page, to look at (test-artifacts/report-weekly-B1-1.png).
    subprocess.run(
        [poppler("pdftoppm"), "-png", "-r", "80", str(path), str(ARTIFACTS / "report-weekly-B1")],
        check=True,
        timeout=60,
    )
    assert (ARTIFACTS / "report-weekly-B1-1.png").stat().st_size > 10_000


def test_the_english_pdf_and_a_week_without_data(
    seeded: WebEnv, tmp_path: Path, font_installed: None
) -> None:
    with seeded.client_as("sec") as client:
        response = client.get("/reports/weekly.pdf?branch=B2&week=2026-10-05&lang=en")
    assert response.status_code == 200 and response.content.startswith(b"%PDF-")
    path = tmp_path / "empty.pdf"
    path.write_bytes(response.content)
    text = subprocess.run(
        [poppler("pdftotext"), str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(text.split())
    assert "河西分理处: weekly surveillance report" in flat
    assert "No collection result this week." in flat
    assert {f["emb"] for f in pdf_fonts(path)} == {"yes"}


def test_without_a_usable_font_the_pdf_falls_back_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "no-such-font.ttf"
    not_a_font = tmp_path / "garbage.ttf"
    not_a_font.write_bytes(b"\0" * 64)
    for path in (missing, not_a_font):
        with caplog.at_level("WARNING"):
            assert report_font(path) == FALLBACK_FONT
        assert str(path) in caplog.text and "fonts-wqy-zenhei" in caplog.text
        caplog.clear()


def _checkpoints(env: WebEnv) -> tuple[int, bytes]:
    """Checkpoint rows in the database, and the checkpoints file's bytes."""
    from sqlalchemy import func, select

    from vidaudit.db.models import RegisterCheckpointRow

    with env.sessions() as db:
        rows = db.scalar(select(func.count()).select_from(RegisterCheckpointRow)) or 0
    path = env.settings.checkpoints_file
    return rows, path.read_bytes() if path.exists() else b""


def _playbacks(env: WebEnv, n: int) -> None:
    from vidaudit.review.register import Entry, append

    with env.sessions.begin() as db:
        for k in range(n):
            append(db, Entry("admin", "administrator", "playback", f"回放 {k}", "B1"), env.now)


def test_opening_or_printing_a_report_signs_nothing_it_prints_the_newest_checkpoint(
    seeded: WebEnv,
) -> None:
    """A GET writes nothing (a prefetch, a reload, a crawler): the report prints the newest
    checkpoint, signed by the server's hourly checkpointer, and how many entries came
    after it, with a button to sign one now."""
    from vidaudit.review.checkpoints import checkpoint, coverage

    _playbacks(seeded, 3)
    before = _checkpoints(seeded)
    with seeded.client_as("head") as client:
        page = client.get("/reports/weekly?branch=B1&week=2026-W47").text
        assert client.get("/reports/weekly.pdf?branch=B1&week=2026-W47").status_code == 200
    assert _checkpoints(seeded) == before
    with seeded.sessions() as db:
        now = coverage(db)
    assert now.checkpoint is None and now.entries >= 3  # the seeded week's entries too
    assert 'id="register-checkpoint"' not in page and 'id="sign-checkpoint"' in page
    assert f"此后又有 {now.entries} 条登记尚未签入检查点" in text_of(page, "register-uncovered")

    # what the hourly checkpointer does (review.checkpoints.checkpoint_every)
    signer = web_state(seeded.app).signer.get()
    assert signer is not None
    made = checkpoint(seeded.sessions, signer, seeded.settings.checkpoints_file, seeded.now)
    assert made is not None
    _playbacks(seeded, 2)
    with seeded.client_as("head") as client:
        page = client.get("/reports/weekly?branch=B1&week=2026-W47").text
    assert made.line in html_module.unescape(page)
    assert "此后又有 2 条登记尚未签入检查点" in text_of(page, "register-uncovered")


def test_the_report_prints_a_register_checkpoint_that_catches_a_deleted_tail(
    seeded: WebEnv, tmp_path: Path
) -> None:
    """Signing a checkpoint for the report is a deliberate action (a POST); the paper copy
    then outlives the database: an insider who deletes the newest register entries, the
    database's checkpoints and the checkpoints file is still caught by the printed line."""
    from sqlalchemy import text

    from tests.review.test_register import drop_guards
    from tests.web.test_review_flow import post
    from vidaudit.review.checkpoints import parse_lines
    from vidaudit.review.register import verify

    env = seeded
    _playbacks(env, 4)
    with env.client_as("head") as client:
        signed = post(client, "/reports/weekly/checkpoint", {"branch": "B1", "week": "2026-W47"})
        assert signed.status_code == 303
        assert signed.headers["location"].startswith("/reports/weekly?branch=B1&week=2026-W47")
        page = client.get(signed.headers["location"]).text
        pdf = client.get("/reports/weekly.pdf?branch=B1&week=2026-W47").content
        # another branch's report is not the head's to return to
        assert post(client, "/reports/weekly/checkpoint", {"branch": "B2"}).status_code == 403
    assert "检查点已签署" in text_of(page, "checkpoint-outcome")
    assert 'id="register-uncovered"' not in page and 'id="sign-checkpoint"' not in page
    found = re.search(r'id="register-checkpoint">([^<]+)</code>', page)
    assert found, page[-2000:]
    line = html_module.unescape(found.group(1))
    [printed], bad = parse_lines([line], "weekly report")
    assert bad == [] and "查阅登记簿检查点" in page
    with env.sessions() as db:
        total = verify(db).entries
    assert printed.seq == total
    # the PDF carries the same line (wrapped at its spaces)
    path = tmp_path / "weekly.pdf"
    path.write_bytes(pdf)
    pdf_text = subprocess.run(
        [poppler("pdftotext"), str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert " ".join(line.split()) in " ".join(pdf_text.split())

    drop_guards(SimpleNamespace(engine=env.engine))  # type: ignore[arg-type]
    with env.engine.begin() as conn:
        conn.execute(text("DELETE FROM register_entries WHERE seq > 2"))
        conn.execute(
            text(
                "UPDATE register_head SET seq = 2, hash = "
                "(SELECT hash FROM register_entries WHERE seq = 2)"
            )
        )
        conn.execute(text("DELETE FROM register_checkpoints"))
    env.settings.checkpoints_file.unlink()
    keys = web_state(env.app).public_keys()
    with env.sessions() as db:
        assert verify(db, keys).ok  # nothing inside the database shows it
        report = verify(db, keys, [printed])
    assert [p.code for p in report.findings] == ["truncated"]


def test_a_checkpoint_is_refused_over_an_altered_entry(seeded: WebEnv) -> None:
    """The button never signs a chain that does not verify, and says so."""
    from sqlalchemy import text

    from tests.review.test_register import drop_guards
    from tests.web.test_review_flow import post

    _playbacks(seeded, 2)
    drop_guards(SimpleNamespace(engine=seeded.engine))  # type: ignore[arg-type]
    with seeded.engine.begin() as conn:
        conn.execute(text("UPDATE register_entries SET reason = '无' WHERE seq = 1"))
    before = _checkpoints(seeded)
    with seeded.client_as("sec") as client:
        refused = post(client, "/reports/weekly/checkpoint", {"branch": "B1"})
        page = client.get(refused.headers["location"]).text
    assert "checkpoint=broken" in refused.headers["location"]
    assert "未签署:查阅登记簿核验未通过" in text_of(page, "checkpoint-outcome")
    assert _checkpoints(seeded) == before
