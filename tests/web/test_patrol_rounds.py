"""Off-site ATM patrol rounds (D9): recorded on the patrol view, registered, counted into a
daily duty (at least N rounds, spread over the day) on /duties and in the weekly report.

B1 gets an off-site ATM (B1-C3) and an ordinary in-branch ATM (B1-C4).  The clock is
Thursday 2026-11-19 (Beijing); rounds are recorded through the page as a person does,
with the app's clock moved to each round's instant."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from tests.web.conftest import WebEnv, csrf_from, inventory
from tests.web.test_duties import add_snapshot, at, evidence_in_tmp
from tests.web.test_reports import font_installed, poppler
from vidaudit.db.models import PatrolRoundRow, RegisterEntryRow
from vidaudit.inventory import parse_inventory
from vidaudit.inventory.schema import Policy
from vidaudit.inventory.sync import sync_inventory
from vidaudit.review.duties import counted_rounds, patrol_days
from vidaudit.review.register import verify
from vidaudit.sim.plan import Picture

__all__ = ["evidence_in_tmp", "font_installed"]

CST = dt.timezone(dt.timedelta(hours=8))
THURSDAY = dt.date(2026, 11, 19)
#: six rounds two hours apart on Thursday, Beijing time
ROUND_HOURS = (8, 10, 12, 14, 16, 18)


def with_atms() -> dict[str, object]:
    doc = inventory()
    channels = doc["branches"][0]["devices"][0]["channels"]  # type: ignore[index]
    channels.append(
        {"id": "B1-C3", "name": "火车站离行式ATM", "role": "atm", "ref": {"channel": 3},
         "offsite": True}
    )  # fmt: skip
    channels.append({"id": "B1-C4", "name": "大堂ATM", "role": "atm", "ref": {"channel": 4}})
    return doc


def add_atms(env: WebEnv, listed_at: dt.datetime) -> WebEnv:
    """B1 gains the two ATMs, first listed by ``inventory sync`` at ``listed_at``."""
    text = yaml.safe_dump(with_atms(), allow_unicode=True)
    with env.sessions.begin() as db:
        sync_inventory(db, parse_inventory(text), source="atm.yaml", now=listed_at)
        add_snapshot(db, env, "B1-C3", Picture.NORMAL, at(19, 7, 55))
    env.now = at(19, 7, 58)
    return env


@pytest.fixture
def atm_env(web: WebEnv) -> Iterator[WebEnv]:
    """The ATMs listed since Thursday 00:00: Thursday is their first day of duty."""
    yield add_atms(web, dt.datetime(2026, 11, 19, 0, 0, tzinfo=CST))


def record(env: WebEnv, username: str, when: dt.datetime, **form: str) -> object:
    env.now = when
    with env.client_as(username) as client:
        page = client.get("/patrol/rounds")
        if page.status_code == 403:  # may not see the board (an auditor): a token anyway
            page = client.get("/")
        snapshot = re.search(
            r'id="round-form-B1-C3".*?name="snapshot_id" value="(\d+)"', page.text, re.S
        )
        data = {"channel_id": "B1-C3", "outcome": "normal", "csrf_token": csrf_from(page.text)}
        if snapshot:
            data["snapshot_id"] = snapshot.group(1)
        data.update(form)
        return client.post("/patrol/rounds", data=data)


def d9_cell(html: str, branch: str = "B1") -> str:
    row = re.search(rf'<tr id="duty-{branch}".*?</tr>', html, re.S)
    assert row, html
    cell = re.search(r'<td class="d9">(.*?)</td>', row.group(0), re.S)
    assert cell
    return " ".join(re.sub(r"<[^>]+>", " ", cell.group(1)).split())


def duty_d9(report: str) -> str:
    """The weekly report's D9 line in the duty table, as text."""
    row = re.search(r'<tr id="duty-d9">(.*?)</tr>', report, re.S)
    assert row, report
    return " ".join(re.sub(r"<[^>]+>", " ", row.group(1)).split())


# --- the rule itself ------------------------------------------------------------------------


def test_rounds_count_only_when_spread_over_the_day() -> None:
    t0 = dt.datetime(2026, 11, 19, 0, 0, tzinfo=dt.UTC)
    times = [t0 + dt.timedelta(minutes=m) for m in (0, 5, 59, 60, 130, 131, 200)]
    assert counted_rounds(times, dt.timedelta(minutes=60)) == [
        times[0],
        times[3],
        times[4],
        times[6],
    ]
    assert len(counted_rounds(times, dt.timedelta(0))) == 7
    policy = Policy()
    tz = dt.timezone(dt.timedelta(hours=8))
    five = [dt.datetime(2026, 11, 18, h, tzinfo=tz) for h in (8, 10, 12, 14, 16)]
    days = patrol_days(
        "A", [dt.date(2026, 11, 18), THURSDAY, dt.date(2026, 11, 20)], five, policy,
        tz, THURSDAY  # type: ignore[arg-type]
    )  # fmt: skip
    # the day before with five rounds is missed; today (none yet) is still due; tomorrow
    # is not judged yet
    assert [(d.day, d.counted, d.status) for d in days] == [
        (dt.date(2026, 11, 18), 5, "missed"),
        (THURSDAY, 0, "due"),
    ]


# --- through the pages ----------------------------------------------------------------------


def test_six_rounds_meet_d9_and_five_leave_it_open(atm_env: WebEnv) -> None:
    env = atm_env
    for hour in ROUND_HOURS[:5]:
        response = record(env, "admin", dt.datetime(2026, 11, 19, hour, 5, tzinfo=CST))
        assert response.status_code == 303, getattr(response, "text", "")
    env.now = dt.datetime(2026, 11, 19, 18, 0, tzinfo=CST)
    with env.client_as("sec") as client:
        duties = client.get("/duties?week=2026-W47").text
        board = client.get("/patrol/rounds").text
        report = client.get("/reports/weekly?branch=B1&week=2026-W47").text
    assert "D9 离行式ATM巡查" in duties
    # Thursday is the ATM's first day (listed that morning): five rounds leave it open
    assert d9_cell(duties) == "待完成 0/1 机·天"
    assert 'id="count-B1-C3">今日 5/6 次' in board
    assert "火车站离行式ATM:今天已巡查 5/6 次" in duties
    assert duty_d9(report) == "D9 离行式ATM巡查 1 台 × 每天 6 次 0/1 机·天 待完成"
    d9_row = re.search(r'<tr id="d9-B1-C3">(.*?)</tr>', report, re.S)
    assert d9_row is not None
    assert "5/6" in d9_row.group(1)

    # the sixth round, two hours after the fifth: met today
    assert record(env, "sec", dt.datetime(2026, 11, 19, 18, 5, tzinfo=CST)).status_code == 303
    env.now = dt.datetime(2026, 11, 19, 20, 0, tzinfo=CST)
    with env.client_as("head") as client:
        board = client.get("/patrol/rounds").text
        duties = client.get("/duties?week=2026-W47").text
        report = client.get("/reports/weekly?branch=B1&week=2026-W47").text
    assert 'id="count-B1-C3">今日 6/6 次' in board
    assert d9_cell(duties) == "已履行 1/1 机·天"
    assert "今天已巡查" not in duties
    assert duty_d9(report) == "D9 离行式ATM巡查 1 台 × 每天 6 次 1/1 机·天 已履行"
    d9_row = re.search(r'<tr id="d9-B1-C3">(.*?)</tr>', report, re.S)
    assert d9_row is not None
    assert '<span class="badge met">6/6</span>' in d9_row.group(1)
    # the ordinary ATM has no D9 duty and no row
    assert 'id="d9-B1-C4"' not in report

    # every round is in the register with what was seen and said, and the chain holds
    with env.sessions() as db:
        entries = db.scalars(
            select(RegisterEntryRow).where(RegisterEntryRow.action == "patrol_round")
        ).all()
        rounds = db.scalars(select(PatrolRoundRow).order_by(PatrolRoundRow.at)).all()
        assert len(entries) == len(rounds) == 6
        assert {e.channel_id for e in entries} == {"B1-C3"}
        assert all(e.reason == "离行式自助设备巡查" for e in entries)
        assert all(e.details["picture"] == "pass" for e in entries)
        assert [r.register_seq for r in rounds] == [e.seq for e in entries]
        assert rounds[0].evidence_sha256 is not None
        assert verify(db).ok


def test_a_day_of_five_rounds_is_missed_and_six_met_in_duties_and_the_pdf(
    web: WebEnv, tmp_path: Path, font_installed: None
) -> None:
    # listed since Monday: Monday and Tuesday without rounds are missed too
    env = add_atms(web, dt.datetime(2026, 11, 16, 0, 0, tzinfo=CST))
    # Wednesday: five rounds (missed); Thursday: six (met)
    for hour in ROUND_HOURS[:5]:
        assert record(env, "admin", dt.datetime(2026, 11, 18, hour, tzinfo=CST)).status_code == 303
    for hour in ROUND_HOURS:
        assert record(env, "admin", dt.datetime(2026, 11, 19, hour, tzinfo=CST)).status_code == 303
    env.now = dt.datetime(2026, 11, 19, 21, 0, tzinfo=CST)
    with env.client_as("admin") as client:
        duties = client.get("/duties?week=2026-W47").text
        pdf = client.get("/reports/weekly.pdf?branch=B1&week=2026-W47")
    # Mon, Tue (no rounds) and Wed (five) missed; Thu met
    assert d9_cell(duties) == "未履行 1/4 机·天"
    assert "火车站离行式ATM:11-18 仅巡查 5/6 次" in duties
    assert pdf.status_code == 200
    path = tmp_path / "d9.pdf"
    path.write_bytes(pdf.content)
    text = subprocess.run(
        [poppler("pdftotext"), "-layout", str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    dense = "".join(text.split())
    assert "离行式ATM逐日巡查(D9)" in dense
    assert "5/6未履行" in dense and "6/6已履行" in dense
    assert "1/4机·天" in dense


def test_rounds_too_close_together_do_not_count(atm_env: WebEnv) -> None:
    env = atm_env
    for minute in (0, 10, 20, 30, 40, 50):
        assert (
            record(env, "admin", dt.datetime(2026, 11, 19, 9, minute, tzinfo=CST)).status_code
            == 303
        )
    with env.client_as("admin") as client:
        board = client.get("/patrol/rounds").text
    assert 'id="count-B1-C3">今日 1/6 次' in board
    assert board.count("(间隔不足,不计次)") == 5


def test_bad_rounds_are_refused_and_nothing_is_written(atm_env: WebEnv) -> None:
    env = atm_env
    when = dt.datetime(2026, 11, 19, 9, 0, tzinfo=CST)
    # abnormal needs a note
    response = record(env, "admin", when, outcome="abnormal", note="  ")
    assert response.status_code == 400 and "巡查结论为异常时,请说明情况" in response.text  # type: ignore[attr-defined]
    # only ATM channels
    response = record(env, "admin", when, channel_id="B1-C2")
    assert response.status_code == 400 and "只有自助设备(ATM)通道可以记录巡查" in response.text  # type: ignore[attr-defined]
    # another branch's head may not patrol B1's ATM
    response = record(env, "head2", when)
    assert response.status_code == 403  # type: ignore[attr-defined]
    # an auditor reads the board but records nothing
    response = record(env, "audit", when)
    assert response.status_code == 403  # type: ignore[attr-defined]
    # an unknown outcome is a bounded-input error, not a 500
    response = record(env, "admin", when, outcome="fine")
    assert response.status_code in (400, 422)  # type: ignore[attr-defined]
    with env.sessions() as db:
        assert db.scalars(select(PatrolRoundRow)).all() == []
        assert verify(db).entries == 0
    # an abnormal round with its note is kept with the note
    assert record(env, "admin", when, outcome="abnormal", note="加钞间门未关").status_code == 303  # type: ignore[attr-defined]
    with env.sessions() as db:
        (row,) = db.scalars(select(PatrolRoundRow)).all()
        assert (row.outcome, row.note) == ("abnormal", "加钞间门未关")
