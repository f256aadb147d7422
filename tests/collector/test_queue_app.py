"""The job queue app a process makes, as often as it makes one (a worker makes a new one
each time it reconnects to the database; ``schedule --every`` one per round)."""

from __future__ import annotations

from vidaudit.collector.queue import TASK_NAME, device_job, make_app
from vidaudit.settings import Settings


def test_every_app_of_a_process_knows_the_task_its_jobs_name() -> None:
    # make_app connects to nothing: the URL only has to be PostgreSQL's
    settings = Settings(database_url="postgresql+psycopg://vidaudit@127.0.0.1:9/vidaudit")
    job = device_job(1, "FY001-NVR1", "branch.FY001")
    for _ in range(3):
        app = make_app(settings)
        assert job.task_name == TASK_NAME
        assert set(app.tasks) >= {TASK_NAME}, sorted(app.tasks)
        assert app.tasks[TASK_NAME].name == TASK_NAME
