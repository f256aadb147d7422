"""/tickets, one ticket's page and its actions, the exports and the search box, through
the real app (TestClient) on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped, unused-ignore]
from sqlalchemy import select

from tests.web.conftest import WebEnv, csrf_from
from vidaudit.db.models import (
    CollectionRunRow,
    FaultTicketRow,
    RegisterEntryRow,
    UserRow,
)


@pytest.fixture(autouse=True)
def evidence_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's settings come from the environment: keep evidence out of the checkout
    (autouse fixtures run before ``web`` builds them)."""
    monkeypatch.setenv("VIDAUDIT_DATA_DIR", str(tmp_path / "data"))


def open_ticket(
    env: WebEnv,
    *,
    branch: str = "B1",
    subject: str = "B1-NVR",
    kind: str = "device",
    rule: str = "R6.offline",
    age: dt.timedelta = dt.timedelta(hours=1),
) -> int:
    with env.sessions.begin() as db:
        run = CollectionRunRow(started_at=env.now, status="completed", policy={})
        db.add(run)
        db.flush()
        ticket = FaultTicketRow(
            branch_id=branch,
            subject_kind=kind,
            subject_id=subject,
            rule=rule,
            severity="critical",
            detail="device cannot be read: timeout",
            evidence={"error_kind": "timeout"},
            owner_role="administrator",
            notify_roles=["branch_head", "security"],
            opened_at=env.now - age,
            last_seen_at=env.now,
            closed_at=None,
            opened_run_id=run.id,
            closed_run_id=None,
            occurrences=1,
            state="open",
            version=1,
            reopened=0,
        )
        db.add(ticket)
        db.flush()
        return ticket.id


def user_id(env: WebEnv, username: str) -> int:
    with env.sessions() as db:
        found = db.scalar(select(UserRow.id).where(UserRow.username == username))
        assert found is not None
        return found


def post(client, path: str, **data: str):  # type: ignore[no-untyped-def]
    page = client.get(path)
    return client.post(path, data={"csrf_token": csrf_from(page.text), **data})


def test_list_filters_and_scope(web: WebEnv) -> None:
    mine = open_ticket(web)
    old = open_ticket(
        web, subject="B1-C1", kind="channel", rule="R1.retention", age=dt.timedelta(days=10)
    )
    other = open_ticket(web, branch="B2", subject="B2-NVR")
    with web.client_as("sec") as client:
        page = client.get("/tickets")
        assert page.status_code == 200
        assert all(f'id="ticket-row-{i}"' in page.text for i in (mine, old, other))
        only_old = client.get("/tickets", params={"age": "7"}).text
        assert f'ticket-row-{old}"' in only_old and f'ticket-row-{mine}"' not in only_old
        by_rule = client.get("/tickets", params={"rule": "R6.offline", "branch": "B2"}).text
        assert f'ticket-row-{other}"' in by_rule and f'ticket-row-{mine}"' not in by_rule
        # out-of-range filters are ignored, never an error
        odd = client.get(
            "/tickets", params={"age": "99999", "assignee": "x' OR 1=1", "state": "bogus" * 50}
        )
        assert odd.status_code == 200
    with web.client_as("admin") as client:  # B1's administrator sees B1 only
        page = client.get("/tickets").text
        assert f'ticket-row-{mine}"' in page and f'ticket-row-{other}"' not in page
        assert client.get(f"/tickets/{other}").status_code == 403
    with web.client_as("admin") as client:
        assert client.get("/tickets/999999").status_code == 404
        assert client.get("/tickets/99999999999999999999").status_code in (400, 404, 422)


def test_acknowledge_assign_comment_close_and_the_register(web: WebEnv) -> None:
    ticket = open_ticket(web)
    path = f"/tickets/{ticket}"
    with web.client_as("admin") as client:
        done = post(client, path, action="acknowledge", version="1", note="收到,今天处理")
        assert done.status_code == 303
        assert done.headers["location"] == f"{path}?done=acknowledge"
        # the administrator may not assign
        assert post(client, path, action="assign", version="2").status_code == 403
    due = (web.now + dt.timedelta(days=1)).astimezone(dt.timezone(dt.timedelta(hours=8)))
    with web.client_as("head") as client:
        assigned = post(
            client,
            path,
            action="assign",
            version="2",
            assignee_id=str(user_id(web, "admin")),
            due=due.strftime("%Y-%m-%dT%H:%M"),
        )
        assert assigned.status_code == 303
        assert (
            post(client, path, action="comment", version="3", note="已联系厂家").status_code == 303
        )
        # no reason: refused, what was typed stays
        empty = post(client, path, action="close", version="4", note="  ")
        assert empty.status_code == 400 and "请填写备注或关闭理由" in empty.text
        closed = post(client, path, action="close", version="4", note="已更换电源适配器")
        assert closed.status_code == 303
        page = client.get(path).text
        assert "已更换电源适配器" in page and "已关闭" in page
    with web.sessions() as db:
        row = db.get(FaultTicketRow, ticket)
        assert row is not None and (row.state, row.version) == ("closed", 5)
        entries = db.scalars(select(RegisterEntryRow).order_by(RegisterEntryRow.seq)).all()
        assert [(e.action, e.actor) for e in entries] == [
            ("ticket_acknowledge", "admin"),
            ("ticket_assign", "head"),
            ("ticket_comment", "head"),
            ("ticket_close", "head"),
        ]
    with web.client_as("audit") as client:
        register = client.get("/register").text
        assert register.count("工单") >= 4


def test_a_stale_form_is_refused_and_shows_what_changed(web: WebEnv) -> None:
    ticket = open_ticket(web)
    path = f"/tickets/{ticket}"
    with web.client_as("admin") as admin, web.client_as("head") as head:
        admin_form = csrf_from(admin.get(path).text)
        head_form = csrf_from(head.get(path).text)  # both read version 1
        ok = admin.post(
            path, data={"csrf_token": admin_form, "action": "acknowledge", "version": "1"}
        )
        assert ok.status_code == 303
        late = head.post(
            path,
            data={"csrf_token": head_form, "action": "close", "version": "1", "note": "我来关闭"},
        )
        assert late.status_code == 409
        assert "已被他人" in late.text and "我来关闭" in late.text  # the typed reason kept
        assert "已确认" in late.text


def test_auditors_read_but_never_act(web: WebEnv) -> None:
    ticket = open_ticket(web)
    with web.client_as("audit") as client:
        page = client.get(f"/tickets/{ticket}").text
        assert 'id="ticket-actions"' not in page
        refused = post(client, f"/tickets/{ticket}", action="acknowledge", version="1")
        assert refused.status_code == 403


def test_evidence_photo_is_kept_and_served_to_the_branch(web: WebEnv) -> None:
    from tests.web.test_review_flow import jpeg

    ticket = open_ticket(web)
    path = f"/tickets/{ticket}"
    with web.client_as("admin") as client:
        token = csrf_from(client.get(path).text)
        sent = client.post(
            path,
            data={"csrf_token": token, "action": "evidence", "version": "1", "note": "现场照片"},
            files={"evidence": ("photo.jpg", jpeg(1), "image/jpeg")},
        )
        assert sent.status_code == 303
        page = client.get(path).text
        (sha,) = set(re.findall(r"/review-evidence/([0-9a-f]{64})", page))
        assert client.get(f"/review-evidence/{sha}").status_code == 200
        bad = client.post(
            path,
            data={"csrf_token": token, "action": "evidence", "version": "2"},
            files={"evidence": ("x.jpg", b"not an image", "image/jpeg")},
        )
        assert bad.status_code == 400
    with web.client_as("head2") as client:  # another branch's head
        assert client.get(f"/review-evidence/{sha}").status_code == 404


def test_exports_follow_the_filters(web: WebEnv) -> None:
    open_ticket(web)
    open_ticket(web, branch="B2", subject="B2-NVR")
    with web.client_as("sec") as client:
        csv = client.get("/tickets.csv", params={"branch": "B1"})
        assert csv.status_code == 200 and csv.content.startswith("\ufeff".encode())
        text = csv.content.decode("utf-8-sig")
        assert "B1-NVR" in text and "B2-NVR" not in text and "工单号" in text
        xlsx = client.get("/tickets.xlsx")
        sheet = load_workbook(io.BytesIO(xlsx.content)).active
        assert sheet.max_row == 3  # header + two tickets


def test_search_finds_within_scope(web: WebEnv) -> None:
    ticket = open_ticket(web, branch="B2", subject="B2-NVR")
    with web.client_as("sec") as client:
        page = client.get("/search", params={"q": "B2"}).text
        assert 'href="/branches/B2"' in page and 'href="/devices/B2-NVR"' in page
        assert f'href="/tickets/{ticket}"' in page
        assert f'href="/tickets/{ticket}"' in client.get("/search", params={"q": str(ticket)}).text
        names = client.get("/search", params={"q": "金库"}).text
        assert 'href="/channels/B1-C2"' in names and 'href="/channels/B2-C2"' in names
        wild = client.get("/search", params={"q": "%_%"}).text  # LIKE wildcards are literal
        assert 'id="search-none"' in wild
        assert client.get("/search", params={"q": "x" * 201}).status_code in (400, 422)
    with web.client_as("admin") as client:  # B1's administrator
        page = client.get("/search", params={"q": "B2"}).text
        assert "B2-NVR" not in page and 'id="search-none"' in page
        assert 'id="nav-search"' in page


def test_out_of_range_input_is_refused_and_keeps_what_was_typed(web: WebEnv) -> None:
    ticket = open_ticket(web)
    path = f"/tickets/{ticket}"
    later = (web.now + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    with web.client_as("head") as client:
        for fields, status, message in (
            # a version or a person's id beyond the database's integers, or digits
            # Python's isdigit takes but int refuses
            ({"action": "comment", "version": "9" * 12, "note": "x"}, 400, "无法识别的操作"),
            ({"action": "comment", "version": "²", "note": "x"}, 400, "无法识别的操作"),
            (
                {"action": "assign", "version": "1", "assignee_id": "9" * 12, "due": later},
                400,
                "请选择负责本网点工单的人员",
            ),
            # year 1 in UTC+8 would not convert to UTC
            (
                {
                    "action": "assign",
                    "version": "1",
                    "assignee_id": str(user_id(web, "admin")),
                    "due": "0001-01-01T00:00",
                },
                400,
                "处理期限须晚于现在",
            ),
        ):
            answer = post(client, path, **fields)
            assert answer.status_code == status, (fields, answer.text[:300])
            assert message in answer.text
        # a note longer than the form allows is refused with the note kept, not shortened
        long_note = "长" * 2500
        answer = post(client, path, action="comment", version="1", note=long_note)
        assert answer.status_code == 400 and "内容过长" in answer.text
        assert long_note in answer.text
        # the list's filters take only what they know
        for query in ({"assignee": "²"}, {"assignee": "9" * 40}, {"age": "²"}, {"age": "9" * 40}):
            assert client.get("/tickets", params=query).status_code == 200
        assert client.get("/search", params={"q": "#²"}).status_code == 200
        assert client.get("/search", params={"q": "9" * 30}).status_code == 200
    with web.sessions() as db:
        row = db.get(FaultTicketRow, ticket)
        assert row is not None and row.version == 1  # nothing was applied


def test_search_finds_findings_and_register_entries_with_their_state_in_words(
    web: WebEnv,
) -> None:
    from tests.web.test_duties import add_finding, add_review

    with web.sessions.begin() as db:
        review = add_review(db, "sec", "security", "B2-C1", web.now)
        finding = add_finding(
            db, review, web.now, web.now.date() + dt.timedelta(days=7), "营业时间柜台无人"
        ).id
        seq = review.register_seq
    with web.client_as("sec") as client:
        page = client.get("/search", params={"q": f"#{finding}"}).text
        (row,) = re.findall(r'<tr class="hit-finding">(.*?)</tr>', page, re.S)
        assert f'href="/findings/{finding}"' in row and "待整改" in row
        register = client.get("/search", params={"q": f"#{seq}"}).text
        (row,) = re.findall(r'<tr class="hit-register">(.*?)</tr>', register, re.S)
        assert f"#{seq} sec" in row and '<td class="rv-nowrap">检查</td>' in row
        assert "register.action" not in register and "findings.status" not in page
    with web.client_as("admin") as client:  # B1's administrator: B2's finding is not hers
        page = client.get("/search", params={"q": f"#{finding}"}).text
        assert f'href="/findings/{finding}"' not in page
