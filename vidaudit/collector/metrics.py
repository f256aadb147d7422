"""The distributed collector's figures in Prometheus' text format (``vidaudit metrics``):
queue depth, jobs done/failed/retried in the last minute, live workers, the open round's
progress and the last finished round's duration and late devices.

Read from the database (procrastinate's tables and ours), so any machine can answer for
the whole fleet of workers: a node_exporter textfile collector or a cron job scrapes it.
Formatted by prometheus_client (its own registry, nothing process-global).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from vidaudit.collector.rounds import open_round_id, round_progress
from vidaudit.db.models import CollectionRunRow

_QUEUE = text(
    "SELECT queue_name, status::text, count(*) FROM procrastinate_jobs "
    "WHERE status IN ('todo', 'doing') GROUP BY 1, 2"
)
_LAST_MINUTE = text(
    "SELECT type::text, count(*) FROM procrastinate_events "
    "WHERE at > now() - interval '1 minute' "
    "AND type IN ('succeeded', 'failed', 'deferred_for_retry') GROUP BY 1"
)
_WORKERS = text(
    "SELECT count(*) FROM procrastinate_workers "
    "WHERE last_heartbeat > now() - make_interval(secs => :silent)"
)
_OUTCOME = {"succeeded": "done", "failed": "failed", "deferred_for_retry": "retried"}


def render_metrics(sessions: sessionmaker[Session], silent_after_s: float = 30.0) -> str:
    registry = CollectorRegistry()
    depth = Gauge(
        "vidaudit_queue_jobs",
        "Jobs waiting (todo) or running (doing), per queue",
        ["queue", "status"],
        registry=registry,
    )
    per_minute = Gauge(
        "vidaudit_jobs_last_minute",
        "Jobs that ended in the last minute: done, failed, or deferred for a retry",
        ["outcome"],
        registry=registry,
    )
    workers = Gauge("vidaudit_workers", "Workers whose heartbeat is recent", registry=registry)
    open_round = Gauge(
        "vidaudit_round_open_devices",
        "The open round's devices by state (none when no round is open)",
        ["run_id", "state"],
        registry=registry,
    )
    duration = Gauge(
        "vidaudit_round_duration_seconds",
        "The last finished round: from opening to finishing",
        registry=registry,
    )
    late = Gauge(
        "vidaudit_round_devices_late",
        "The last finished round: devices not reported by its deadline",
        registry=registry,
    )
    with sessions() as session:
        for queue, status, count in session.execute(_QUEUE):
            depth.labels(queue=queue, status=status).set(count)
        for outcome in _OUTCOME.values():
            per_minute.labels(outcome=outcome).set(0)
        for kind, count in session.execute(_LAST_MINUTE):
            per_minute.labels(outcome=_OUTCOME[kind]).set(count)
        workers.set(session.scalar(_WORKERS, {"silent": silent_after_s}) or 0)
        current = open_round_id(session)
        if current is not None:
            progress = round_progress(session, current)
            for state in ("pending", "reported", "late"):
                open_round.labels(run_id=str(current), state=state).set(getattr(progress, state))
        last = session.execute(
            select(
                CollectionRunRow.started_at,
                CollectionRunRow.finished_at,
                CollectionRunRow.devices_late,
            )
            .where(CollectionRunRow.kind == "round", CollectionRunRow.status == "completed")
            .order_by(CollectionRunRow.id.desc())
            .limit(1)
        ).first()
        if last is not None and last[1] is not None:
            duration.set((last[1] - last[0]).total_seconds())
            late.set(last[2])
    return generate_latest(registry).decode()
