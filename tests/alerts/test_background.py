"""The drainer beside other work: in a thread for `collect --every`, and in the web app's
lifespan for `serve` (and `demo`).  Sending never holds a collection back: a receiver
that does not answer leaves the next run free to store its results."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.alerts.test_service import ONLY_IMMEDIATE, TEXTS, settings
from tests.collector.test_store import run, setup
from tests.notify.receivers import HttpReceiver
from vidaudit.alerts.outbox import SENT
from vidaudit.alerts.service import AlertService, BackgroundAlerts
from vidaudit.db.engine import make_engine
from vidaudit.db.models import AlertOutboxRow
from vidaudit.web.app import create_app


def test_background_thread_sends_when_woken(tmp_path: Path) -> None:
    sessions = setup(f"sqlite:///{tmp_path / 'v.db'}")
    with HttpReceiver() as http:
        service = AlertService(settings(http, rules=ONLY_IMMEDIATE), sessions, TEXTS)
        background = BackgroundAlerts(service).start()
        try:
            run(sessions, dt.datetime.now(dt.UTC), online=False)  # a run stores a fault
            background.wake()  # what `collect --every` does after each run
            got = http.wait_for("/security", 1)
            assert [r.json()["event"] for r in got] == ["device_offline"]
        finally:
            background.stop()
        assert not background.running


def test_a_receiver_that_hangs_never_holds_back_the_next_collection(tmp_path: Path) -> None:
    sessions = setup(f"sqlite:///{tmp_path / 'v.db'}")
    with HttpReceiver() as http:
        http.hold()  # every robot call waits, unanswered, until released
        service = AlertService(settings(http, rules=ONLY_IMMEDIATE), sessions, TEXTS)
        background = BackgroundAlerts(service).start()
        try:
            first = dt.datetime.now(dt.UTC)
            run(sessions, first, online=False)
            background.wake()
            # the sender is now inside a send that does not return ...
            assert http.wait_arrived(1) >= 1
            # ... and the next collection still stores its run (SQLite: one writer, so a
            # send made inside a transaction would make this wait and fail "locked")
            later = run(sessions, first + dt.timedelta(minutes=5), online=False)
            assert http.requests == []  # nothing has been answered yet: it truly overlapped
            assert later.opened == 0 and later.updated >= 1
            http.release()
            got = http.wait_for("/security", 1)
            assert [r.json()["event"] for r in got] == ["device_offline"]
        finally:
            http.release()
            background.stop()  # returns once the loop has recorded what it sent
        assert not background.running
        with sessions() as s:
            assert set(s.scalars(select(AlertOutboxRow.state))) == {SENT}
        assert len(http.on("/security")) == 1


def test_serve_sends_alerts_from_its_lifespan(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    sessions = setup(url)
    run(sessions, dt.datetime.now(dt.UTC), online=False)
    with HttpReceiver() as http:
        config = settings(http, rules=ONLY_IMMEDIATE).model_copy(
            update={"database_url": url, "inventory": tmp_path / "absent.yaml"}
        )
        app = create_app(config, make_engine(config), alerts=True)
        with TestClient(app) as client:  # the lifespan starts the alerts' loop
            assert client.get("/healthz").status_code == 200
            got = http.wait_for("/b1-admin", 1)
        assert got[0].json()["event"] == "device_offline"
