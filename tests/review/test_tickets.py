"""Fault tickets handled by people: acknowledge, assign, comment, evidence, close with a
reason; the check closes and reopens them; overdue ones escalate; every person's step is
on the register and a stale form never overwrites someone else's change."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.collector.test_store import SHORT, T0, run, setup
from vidaudit.db.models import (
    EvidenceRow,
    FaultTicketRow,
    RegisterEntryRow,
    TicketEventRow,
    UserRow,
)
from vidaudit.review.register import verify
from vidaudit.review.tickets import (
    Action,
    StaleTicket,
    TicketChange,
    TicketError,
    apply_change,
    escalate_overdue,
    is_overdue,
    may,
)

NOW = T0 + dt.timedelta(minutes=10)
PEOPLE = (
    ("admin", "administrator", "B1"),
    ("head", "branch_head", "B1"),
    ("sec", "security", None),
    ("aud", "auditor", None),
    ("insp", "inspector", None),
)


def with_people(db_url: str) -> sessionmaker[Session]:
    sessions = setup(db_url)
    with sessions.begin() as s:
        for name, role, branch in PEOPLE:
            s.add(
                UserRow(
                    username=name,
                    display_name=name,
                    password_hash="x",
                    role=role,
                    branch_id=branch,
                    locale="zh",
                    created_at=T0,
                    disabled_at=None,
                )
            )
    run(sessions, T0, c1=[SHORT])  # opens one ticket: B1-C1 R1.retention
    return sessions


def person(s: Session, name: str) -> UserRow:
    found = s.scalar(select(UserRow).where(UserRow.username == name))
    assert found is not None
    return found


def the_ticket(s: Session) -> FaultTicketRow:
    return s.scalars(select(FaultTicketRow)).one()


def act(
    sessions: sessionmaker[Session], who: str, change: TicketChange, at: dt.datetime = NOW
) -> FaultTicketRow:
    with sessions.begin() as s:
        return apply_change(s, the_ticket(s).id, person(s, who), change, at)


def test_a_ticket_handled_to_the_end_with_every_step_registered(db_url: str) -> None:
    sessions = with_people(db_url)
    t = act(sessions, "admin", TicketChange(Action.ACKNOWLEDGE, 1, note="已知悉,今天去看"))
    assert (t.state, t.version) == ("acknowledged", 2)
    with sessions() as s:
        admin_id, head_id = person(s, "admin").id, person(s, "head").id
    due = NOW + dt.timedelta(days=2)
    t = act(sessions, "head", TicketChange(Action.ASSIGN, 2, assignee_id=admin_id, due_at=due))
    assert (t.state, t.assignee_id, t.due_at) == ("assigned", admin_id, due)
    assert t.acknowledged_by == admin_id  # the first acknowledgement stands
    t = act(sessions, "admin", TicketChange(Action.COMMENT, 3, note="硬盘需更换,已报修"))
    with sessions.begin() as s:
        s.add(
            EvidenceRow(
                sha256="a" * 64,
                size=1,
                media_type="image/jpeg",
                path="a",
                created_at=NOW,
                origin={},
            )
        )
    t = act(sessions, "admin", TicketChange(Action.EVIDENCE, 4, evidence_sha256="a" * 64))
    t = act(sessions, "head", TicketChange(Action.CLOSE, 5, note="已更换硬盘,录像恢复"))
    assert (t.state, t.closed_by, t.close_reason) == ("closed", head_id, "已更换硬盘,录像恢复")
    assert t.closed_at == NOW and t.version == 6
    with sessions() as s:
        entries = s.scalars(select(RegisterEntryRow).order_by(RegisterEntryRow.seq)).all()
        assert [e.action for e in entries] == [
            "ticket_acknowledge",
            "ticket_assign",
            "ticket_comment",
            "ticket_evidence",
            "ticket_close",
        ]
        assert [e.actor for e in entries] == ["admin", "head", "admin", "admin", "head"]
        assert entries[1].details["assignee"] == "admin"
        assert entries[3].details["evidence"] == "a" * 64
        assert entries[4].reason == "已更换硬盘,录像恢复"
        assert all(e.channel_id == "B1-C1" and e.branch_id == "B1" for e in entries)
        assert verify(s).ok
        events = s.scalars(select(TicketEventRow).order_by(TicketEventRow.id)).all()
        assert [e.action for e in events] == [
            "acknowledge",
            "assign",
            "comment",
            "evidence",
            "close",
        ]
        assert [e.register_seq for e in events] == [e.seq for e in entries]


def test_closing_needs_a_reason_and_a_comment_needs_words(db_url: str) -> None:
    sessions = with_people(db_url)
    for action in (Action.CLOSE, Action.COMMENT):
        with pytest.raises(TicketError) as info:
            act(sessions, "admin", TicketChange(action, 1, note="   "))
        assert info.value.code == "note"
    with pytest.raises(TicketError) as info:
        act(sessions, "admin", TicketChange(Action.EVIDENCE, 1))
    assert info.value.code == "evidence"
    with sessions() as s:
        assert the_ticket(s).version == 1  # nothing was written
        assert verify(s).entries == 0


def test_who_may_do_what(db_url: str) -> None:
    sessions = with_people(db_url)
    with sessions() as s:
        ticket = the_ticket(s)
        assert may(person(s, "admin"), ticket, Action.ACKNOWLEDGE)
        assert not may(person(s, "admin"), ticket, Action.ASSIGN)  # heads and 保卫部 assign
        assert may(person(s, "head"), ticket, Action.ASSIGN)
        assert may(person(s, "sec"), ticket, Action.CLOSE)
        assert not may(person(s, "aud"), ticket, Action.COMMENT)  # read-only
        assert not may(person(s, "insp"), ticket, Action.ACKNOWLEDGE)
        insp_id, aud_id = person(s, "insp").id, person(s, "aud").id
    for who, change, code in (
        ("aud", TicketChange(Action.ACKNOWLEDGE, 1), "role"),
        ("admin", TicketChange(Action.ASSIGN, 1, assignee_id=1, due_at=NOW), "role"),
        # only people who handle tickets of this branch can be given one
        (
            "head",
            TicketChange(Action.ASSIGN, 1, assignee_id=aud_id, due_at=NOW + dt.timedelta(days=1)),
            "assignee",
        ),
        (
            "head",
            TicketChange(Action.ASSIGN, 1, assignee_id=insp_id, due_at=NOW + dt.timedelta(days=1)),
            "assignee",
        ),
    ):
        with pytest.raises(TicketError) as info:
            act(sessions, who, change)
        assert info.value.code == code, (who, change)
    with sessions() as s:
        sec_id = person(s, "sec").id
    with pytest.raises(TicketError) as info:  # a due time in the past
        act(sessions, "head", TicketChange(Action.ASSIGN, 1, assignee_id=sec_id, due_at=NOW))
    assert info.value.code == "due"


def test_another_branchs_people_cannot_touch_it(db_url: str) -> None:
    sessions = with_people(db_url)
    with sessions.begin() as s:
        s.add(
            UserRow(
                username="admin2",
                display_name="admin2",
                password_hash="x",
                role="administrator",
                branch_id=None,  # a branch-bound role without a branch sees nothing
                locale="zh",
                created_at=T0,
                disabled_at=None,
            )
        )
    with pytest.raises(TicketError) as info:
        act(sessions, "admin2", TicketChange(Action.ACKNOWLEDGE, 1))
    assert info.value.code == "branch"


def test_a_stale_form_is_refused_never_applied(db_url: str) -> None:
    sessions = with_people(db_url)
    act(sessions, "admin", TicketChange(Action.ACKNOWLEDGE, 1, note="我来处理"))
    # the head's page still shows version 1
    with pytest.raises(StaleTicket):
        act(sessions, "head", TicketChange(Action.CLOSE, 1, note="已修复"))
    with sessions() as s:
        t = the_ticket(s)
        assert (t.state, t.version, t.closed_at) == ("acknowledged", 2, None)


def test_a_run_that_sees_the_fault_again_keeps_forms_valid(db_url: str) -> None:
    sessions = with_people(db_url)
    run(sessions, T0 + dt.timedelta(minutes=5), c1=[SHORT])
    with sessions() as s:
        assert (the_ticket(s).occurrences, the_ticket(s).version) == (2, 1)
    act(sessions, "admin", TicketChange(Action.ACKNOWLEDGE, 1))


def test_concurrent_closes_one_wins_one_is_told(db_url: str) -> None:
    sessions = with_people(db_url)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def close(who: str) -> None:
        with sessions() as s:
            ticket_id, actor = the_ticket(s).id, person(s, who)
            barrier.wait(timeout=10)
            try:
                apply_change(s, ticket_id, actor, TicketChange(Action.CLOSE, 1, note=who), NOW)
                s.commit()
                outcomes.append("closed")
            except TicketError:
                s.rollback()
                outcomes.append("refused")

    threads = [threading.Thread(target=close, args=(w,)) for w in ("admin", "head")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["closed", "refused"]
    with sessions() as s:
        assert the_ticket(s).version == 2
        assert [e.action for e in s.scalars(select(RegisterEntryRow))] == ["ticket_close"]


def test_closed_by_hand_reopens_when_the_check_fails_again(db_url: str) -> None:
    sessions = with_people(db_url)
    act(sessions, "admin", TicketChange(Action.CLOSE, 1, note="已调整录像计划"))
    changes = run(sessions, NOW + dt.timedelta(minutes=5), c1=[SHORT])
    assert (changes.opened, changes.reopened) == (0, 1)
    with sessions() as s:
        t = the_ticket(s)  # the same ticket, not a second one
        assert (t.state, t.reopened, t.closed_at, t.close_reason) == ("reopened", 1, None, None)
        assert t.version == 3 and t.occurrences == 2
        events = s.scalars(select(TicketEventRow).order_by(TicketEventRow.id)).all()
        assert [(e.action, e.actor_id) for e in events][-1] == ("reopened", None)
        assert events[-1].note == "已调整录像计划"  # the contradicted reason is kept
    # a reopened ticket is acknowledged again like a new one
    act(sessions, "admin", TicketChange(Action.ACKNOWLEDGE, 3))


def test_the_check_closes_it_and_a_much_later_failure_is_a_new_ticket(db_url: str) -> None:
    sessions = with_people(db_url)
    act(sessions, "admin", TicketChange(Action.ACKNOWLEDGE, 1))
    assert run(sessions, NOW + dt.timedelta(hours=1)).closed == 1
    with sessions() as s:
        t = the_ticket(s)
        assert (t.state, t.closed_by, t.version) == ("closed", None, 3)
        assert s.scalars(select(TicketEventRow.action)).all()[-1] == "auto_closed"
    # a failure the next day reopens it; one weeks later is a new fault
    assert run(sessions, NOW + dt.timedelta(days=1), c1=[SHORT]).reopened == 1
    assert run(sessions, NOW + dt.timedelta(days=1, hours=1)).closed == 1
    later = run(sessions, NOW + dt.timedelta(days=9), c1=[SHORT])
    assert (later.opened, later.reopened) == (1, 0)
    with sessions() as s:
        assert len(s.scalars(select(FaultTicketRow)).all()) == 2


def test_overdue_tickets_escalate_once_per_due_time(db_url: str) -> None:
    sessions = with_people(db_url)
    with sessions() as s:
        admin_id = person(s, "admin").id
    due = NOW + dt.timedelta(hours=4)
    act(sessions, "head", TicketChange(Action.ASSIGN, 1, assignee_id=admin_id, due_at=due))
    with sessions.begin() as s:
        assert escalate_overdue(s, due - dt.timedelta(minutes=1)) == []
        assert not is_overdue(the_ticket(s), due)
        assert is_overdue(the_ticket(s), due + dt.timedelta(seconds=1))
    with sessions.begin() as s:
        assert [t.id for t in escalate_overdue(s, due + dt.timedelta(minutes=1))] == [1]
    with sessions.begin() as s:
        assert escalate_overdue(s, due + dt.timedelta(hours=1)) == []
    # a new due time can be missed again
    later = due + dt.timedelta(days=1)
    act(
        sessions,
        "head",
        TicketChange(Action.ASSIGN, 2, assignee_id=admin_id, due_at=later),
        at=due + dt.timedelta(hours=2),
    )
    with sessions.begin() as s:
        assert the_ticket(s).escalated_at is None
        assert len(escalate_overdue(s, later + dt.timedelta(minutes=1))) == 1
        actions = s.scalars(select(TicketEventRow.action).order_by(TicketEventRow.id)).all()
        assert actions == ["assign", "escalated", "assign", "escalated"]
