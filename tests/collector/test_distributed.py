"""The distributed collector with real ``vidaudit worker`` processes on PostgreSQL and the
simulated fleet in its own process (or thread, where the test watches the devices).

- two workers share a round, and the round equals truth.json (and `collect`'s verdicts);
- a worker killed with SIGKILL mid-round: every device is still reported, once;
- PostgreSQL restarted mid-round: the round completes after it returns (own cluster),
  within what the workers' settings promise (``recovery_bound_s``);
- a job whose retry did not reach the database is retried once it does;
- one device is never polled by two jobs at once, even across overlapping attempts;
- a worker whose cameras.yaml is stale judges by the round's policy and by the branch
  hours the database holds (the scheduler's file);
- finishing a round again changes nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import signal
import socket
import threading
import time
import types
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from tests.collector.distributed_kit import (
    Cluster,
    SimFleet,
    recovery_bound_s,
    sim_fleet,
    wait_until,
)
from tests.collector.pg_cluster import ThrowawayCluster
from tests.collector.test_identity import swapped
from vidaudit.cli import app
from vidaudit.cli import distributed as distributed_module
from vidaudit.collector.queue import cancel_late_jobs, make_app, utcnow
from vidaudit.collector.rounds import finish_round, queue_for
from vidaudit.db.models import CollectionRunRow
from vidaudit.inventory import inventory_digest, load_inventory
from vidaudit.settings import Settings
from vidaudit.sim import GenerateSpec, Scenario, running_fleet

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(300)]

FAULTY = ("--nvrs", "8", "--channels", "4", "--cameras", "3", "--seed", "11", "--with-faults")


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimFleet]:
    with sim_fleet(tmp_path_factory.mktemp("faulty"), *FAULTY) as fleet:
        yield fleet


@pytest.fixture
def cluster(pg_url: str, tmp_path: Path, faulty: SimFleet) -> Iterator[Cluster]:
    made = Cluster(pg_url, tmp_path, faulty.inventory)
    try:
        yield made
    finally:
        made.close()


def observations_per_device(cluster: Cluster, run_id: int) -> Counter[str]:
    return Counter(
        {
            device: count
            for device, count in cluster.rows(
                "SELECT device_id, count(*) FROM device_observations WHERE run_id = :r "
                "GROUP BY device_id",
                r=run_id,
            )
        }
    )


def assert_matches_truth(document: dict[str, Any], truth: dict[str, Any]) -> None:
    devices = {d["id"]: d for d in document["devices"]}
    assert devices.keys() == truth["devices"].keys()
    for device_id, expected in truth["devices"].items():
        seen = devices[device_id]
        kind = seen["error"]["kind"] if seen["error"] else None
        assert kind == expected["expected_error"], (device_id, expected["fault"], seen["error"])
        assert seen["online"] == (expected["expected_error"] is None), device_id
        if seen["online"]:
            assert abs(seen["clock_drift_s"] - expected["clock_drift_s"]) <= 1.5, device_id
    channels = {c["id"]: c for c in document["channels"]}
    assert channels.keys() == truth["channels"].keys()
    checked = 0
    for channel_id, expected in truth["channels"].items():
        device = truth["devices"][expected["device"]]
        seen = channels[channel_id]
        if device["expected_error"] is not None:
            assert [v["rule"] for v in seen["violations"]] == ["R6.offline"], channel_id
            continue
        if not device["search_supported"] or expected["search_earliest_bogus"]:
            assert seen["retention_days"] is None, channel_id
            continue
        assert seen["retention_days"] == pytest.approx(expected["retention_days"], abs=0.01)
        assert (seen["recording_state"] == "recording") == expected["recording"], channel_id
        checked += 1
    assert checked >= 4
    assert "late" not in document, document.get("late")


def test_two_workers_share_a_round_that_equals_truth(cluster: Cluster, faulty: SimFleet) -> None:
    for _ in range(2):
        cluster.worker("--concurrency", "4")
    cluster.wait_for_workers(2)
    done = cluster.cli("schedule", "--once", "--wait", "--format", "json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert_matches_truth(document, faulty.truth)

    run_id = cluster.scalar("SELECT max(id) FROM collection_runs WHERE kind = 'round'")
    assert cluster.round_status(run_id) == "completed"
    workers = cluster.rows(
        "SELECT worker, count(*) FROM round_devices WHERE run_id = :r GROUP BY worker", r=run_id
    )
    assert len(workers) == 2, f"both workers polled: {workers}"
    assert set(observations_per_device(cluster, run_id).values()) == {1}
    assert cluster.scalar(
        "SELECT count(*) FROM channel_observations WHERE run_id = :r", r=run_id
    ) == len(faulty.truth["channels"])
    # every worker line is one JSON object
    for line in cluster.log(0).splitlines():
        assert isinstance(json.loads(line), dict), line
    # The round is reported finished once, by whoever finished it (a worker's last batch,
    # a worker's keeper or the waiting scheduler), not by each that found it complete.
    said = f"round {run_id} finished"
    told = lambda: sum(t.count(said) for t in (cluster.log(0), cluster.log(1), done.stderr))  # noqa: E731
    wait_until(lambda: told() >= 1, 30, "the round's finished line")
    assert told() == 1, [cluster.log(0), cluster.log(1), done.stderr]

    # `vidaudit metrics`: Prometheus text, read back with prometheus_client's own parser
    shown = cluster.cli("metrics")
    assert shown.returncode == 0, shown.stderr
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(shown.stdout)
        for sample in family.samples
    }
    assert samples[("vidaudit_workers", ())] == 2
    assert samples[("vidaudit_round_devices_late", ())] == 0
    with cluster.sessions() as session:
        run = session.get(CollectionRunRow, run_id)
        assert run is not None and run.finished_at is not None
        took = (run.finished_at - run.started_at).total_seconds()
    assert samples[("vidaudit_round_duration_seconds", ())] == pytest.approx(took)
    assert not [key for key in samples if key[0] == "vidaudit_queue_jobs"], "nothing queued"
    assert not [key for key in samples if key[0] == "vidaudit_round_open_devices"]
    # every device's job ended done (some may have ended more than a minute ago)
    assert (
        1
        <= samples[("vidaudit_jobs_last_minute", (("outcome", "done"),))]
        <= len(document["devices"])
    )
    assert samples[("vidaudit_jobs_last_minute", (("outcome", "failed"),))] == 0

    # `collect` reaches the same verdicts through its own path, in the same document shape
    collected = cluster.cli("collect", "--format", "json")
    assert collected.returncode == 0, collected.stderr
    other = json.loads(collected.stdout)
    assert other.keys() == document.keys()
    assert [d.keys() for d in other["devices"]] == [d.keys() for d in document["devices"]]
    assert [c.keys() for c in other["channels"]] == [c.keys() for c in document["channels"]]
    verdicts = lambda doc: (  # noqa: E731
        [(d["id"], d["online"], d["error"] and d["error"]["kind"]) for d in doc["devices"]],
        [
            (c["id"], c["compliant"], sorted(v["rule"] for v in c["violations"]))
            for c in doc["channels"]
        ],
    )
    assert verdicts(other) == verdicts(document)

    # Finishing the round again (twice at once, as two keepers might) changes nothing.
    def snapshot() -> list[Any]:
        return [
            cluster.rows("SELECT * FROM collection_runs ORDER BY id"),
            cluster.rows("SELECT * FROM branch_results ORDER BY run_id, branch_id"),
            cluster.rows("SELECT * FROM fault_tickets ORDER BY id"),
        ]

    before = snapshot()
    answers: list[Any] = []

    def finish() -> None:
        with cluster.sessions.begin() as session:
            answers.append(finish_round(session, run_id, utcnow()))

    threads = [threading.Thread(target=finish) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(answers) == 2 and all(a is not None for a in answers)
    assert {a.changes for a in answers} == {type(answers[0].changes)(**document["tickets"])}
    assert snapshot() == before


def test_worker_killed_mid_round_loses_nothing(
    pg_url: str, tmp_path: Path, faulty: SimFleet
) -> None:
    # One try per device: any job tried twice here was a killed worker's.  The fleet's
    # hanging device holds its job until a call's timeout: 25 s here (within a 30 s
    # device deadline), time enough for the second worker to start on a loaded machine
    # while the first still holds it.
    cluster = Cluster(
        pg_url,
        tmp_path,
        faulty.inventory,
        VIDAUDIT_COLLECTOR_RETRY_ATTEMPTS="1",
        VIDAUDIT_COLLECTOR_CALL_TIMEOUT_S="25",
        VIDAUDIT_COLLECTOR_DEVICE_DEADLINE_S="30",
    )
    try:
        doomed = cluster.worker("--concurrency", "4")
        doomed_id = wait_until(
            lambda: cluster.scalar("SELECT max(id) FROM procrastinate_workers"),
            60,
            "the first worker to register",
        )
        opened = cluster.cli("schedule", "--once", "--format", "json")
        assert opened.returncode == 0, opened.stderr
        run_id = json.loads(opened.stdout)["run_id"]
        # The first worker alone takes the round's jobs, the hanging device's among them
        # (with two workers from the start, the other could take every job the first
        # would still hold when the test looked).
        wait_until(
            lambda: cluster.scalar(
                "SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing' AND worker_id = :w",
                w=doomed_id,
            ),
            60,
            "the doomed worker to hold a job",
        )
        cluster.worker("--concurrency", "4")
        cluster.wait_for_workers(2)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)
        # read after the kill: what the dead worker held stays "doing" under its id
        # until its silence shows (4 s)
        held = {
            job_id
            for (job_id,) in cluster.rows(
                "SELECT id FROM procrastinate_jobs WHERE status = 'doing' AND worker_id = :w",
                w=doomed_id,
            )
        }
        assert held
        wait_until(lambda: cluster.round_status(run_id) == "completed", 120, "the round to finish")
        # each job the dead worker held was tried again, by the only worker left, and
        # ended (procrastinate counts the try that ends a job: two tries, two attempts)
        ended = cluster.rows(
            "SELECT id, status::text, attempts FROM procrastinate_jobs WHERE id = ANY(:ids)",
            ids=list(held),
        )
        assert sorted(ended) == sorted((job_id, "succeeded", 2) for job_id in held), ended
    finally:
        cluster.close()
    per_device = observations_per_device(cluster, run_id)
    assert per_device.keys() == faulty.truth["devices"].keys()
    assert set(per_device.values()) == {1}
    assert cluster.scalar("SELECT devices_late FROM collection_runs WHERE id = :r", r=run_id) == 0
    assert cluster.scalar(
        "SELECT count(*) FROM channel_observations WHERE run_id = :r", r=run_id
    ) == len(faulty.truth["channels"])


def logged(cluster: Cluster, action: str, worker: int = 0) -> list[dict[str, Any]]:
    """The structured lines of a worker's log with this ``action``."""
    lines = [json.loads(line) for line in cluster.log(worker).splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("action") == action]


def round_beside_collect(
    cluster: Cluster, branch_id: str
) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """One round of a branch through the workers (``schedule --once --wait``), then
    one-process ``collect`` of it with the scheduler's file: the round's id and both
    printed documents."""
    done = cluster.cli("schedule", "--once", "--wait", "--branch", branch_id, "--format", "json")
    assert done.returncode == 0, done.stderr
    run_id = int(cluster.scalar("SELECT max(id) FROM collection_runs WHERE kind = 'round'"))
    collected = cluster.cli("collect", "--branch", branch_id, "--format", "json")
    assert collected.returncode == 0, collected.stderr
    return run_id, json.loads(done.stdout), json.loads(collected.stdout)


def regional_inventory(
    cluster: Cluster,
    queue: str,
    branch_changes: dict[str, dict[str, Any]] | None = None,
    channel_changes: dict[str, dict[str, Any] | None] | None = None,
) -> tuple[Path, dict[str, int]]:
    """A cameras.yaml for a machine serving ``queue`` only: the branches of that queue in
    a file it includes, and a policy of its own that disagrees with the scheduler's (a
    copy not kept up to date); ``branch_changes`` updates branches by id (their hours,
    say), ``channel_changes`` channels by id (their role, say; ``None``: left out).  Also
    what the scheduler's inventory requires per channel."""
    main = Path(cluster.env["VIDAUDIT_INVENTORY"])
    whole = load_inventory(main)
    data = yaml.safe_load(main.read_text(encoding="utf-8"))
    mine = {branch.id for branch, device in whole.devices() if queue_for(branch, device) == queue}
    folder = cluster.tmp / "regional"
    folder.mkdir()
    branches = [
        b | (branch_changes or {}).get(b["id"], {}) for b in data["branches"] if b["id"] in mine
    ]
    changes = channel_changes or {}
    for branch_data in branches:
        for device_data in branch_data["devices"]:
            device_data["channels"] = [
                c | (changes.get(c["id"]) or {})
                for c in device_data["channels"]
                if c["id"] not in changes or changes[c["id"]] is not None
            ]
    (folder / "branches.yaml").write_text(yaml.safe_dump({"branches": branches}), "utf-8")
    regional = {
        "timezone": data.get("timezone", "Asia/Shanghai"),
        "env_file": str((main.parent / data["env_file"]).resolve()),
        "policy": {"retention_days": 1000, "retention_days_by_role": {}},
        "include": ["branches.yaml"],
    }
    (folder / "cameras.yaml").write_text(yaml.safe_dump(regional), "utf-8")
    required = {
        channel.id: whole.required_days(channel)
        for branch, _device, channel in whole.channels()
        if branch.id in mine
    }
    return folder / "cameras.yaml", required


def test_a_worker_given_queues_serves_only_those(cluster: Cluster) -> None:
    """``vidaudit worker --queues``: a collector placed in one region's network takes that
    region's jobs and no others; a worker on every queue takes the rest.  The regional
    worker holds only its region's branches (``include:``) and a stale policy: its devices
    are judged by the round's policy all the same."""
    opened = cluster.cli("schedule", "--once", "--format", "json")
    assert opened.returncode == 0, opened.stderr
    run_id = json.loads(opened.stdout)["run_id"]
    queues = sorted(
        queue
        for (queue,) in cluster.rows(
            "SELECT DISTINCT queue FROM round_devices WHERE run_id = :r", r=run_id
        )
    )
    assert len(queues) >= 2, queues
    served = queues[0]
    inventory, required = regional_inventory(cluster, served)
    regional = cluster.worker("--concurrency", "4", "--queues", served, "--config", str(inventory))

    def left(where: str) -> int:
        return int(
            cluster.scalar(
                f"SELECT count(*) FROM round_devices WHERE run_id = :r AND {where}",
                r=run_id,
                q=served,
            )
        )

    wait_until(lambda: left("queue = :q AND state = 'pending'") == 0, 240, "its queue served")
    # the other queues' jobs were never taken: still waiting, their devices still pending
    assert left("queue <> :q AND state <> 'pending'") == 0
    assert (
        cluster.scalar(
            "SELECT count(*) FROM procrastinate_jobs WHERE queue_name <> :q AND status <> 'todo'",
            q=served,
        )
        == 0
    )

    cluster.worker("--concurrency", "4")  # every queue
    wait_until(lambda: cluster.round_status(run_id) == "completed", 240, "the round to complete")
    by_queue: dict[str, set[str]] = {}
    for queue, worker in cluster.rows(
        "SELECT queue, worker FROM round_devices WHERE run_id = :r", r=run_id
    ):
        by_queue.setdefault(queue, set()).add(worker)
    assert by_queue[served] == {f"{socket.gethostname()}:{regional.pid}"}
    assert all(
        f"{socket.gethostname()}:{regional.pid}" not in workers
        for queue, workers in by_queue.items()
        if queue != served
    )
    assert left("state <> 'reported'") == 0
    judged = dict(
        cluster.rows(
            "SELECT channel_id, required_days FROM channel_observations WHERE run_id = :r "
            "AND device_id IN (SELECT device_id FROM round_devices WHERE run_id = :r "
            "AND queue = :q)",
            r=run_id,
            q=served,
        )
    )
    assert judged == required
    assert [line["run_id"] for line in logged(cluster, "policy_differs")] == [run_id]


def test_a_worker_judges_a_branch_by_the_hours_the_database_holds(
    cluster: Cluster, faulty: SimFleet
) -> None:
    """A regional worker whose cameras.yaml closes a branch on every day of the lookback
    window (a stale copy: the scheduler's has no such closures) judges that branch's
    devices by the scheduler's hours, synced into the database: the business days its
    recorders missed are found as one-process ``collect`` (the scheduler's file) finds
    them, where the stale file would have required no business day at all."""
    whole = load_inventory(Path(cluster.env["VIDAUDIT_INVENTORY"]))
    # a branch whose readable recorders miss some of their business hours (truth.json)
    missed = {
        channel["branch"]
        for channel in faulty.truth["channels"].values()
        if faulty.truth["devices"][channel["device"]]["expected_error"] is None
        and any(
            not day["covered"] and day["required"]["end"] > (channel["earliest"] or "")
            for day in channel["business_days"].values()
        )
    }
    branch = next(b for b in whole.branches if b.id in missed)
    (queue,) = {queue_for(branch, device) for device in branch.devices}
    today = dt.datetime.now(whole.branch_timezone(branch)).date()
    window = max(whole.required_days(c) for d in branch.devices for c in d.channels) + 2
    closed = [(today - dt.timedelta(days=n)).isoformat() for n in range(-1, window)]
    inventory, _required = regional_inventory(cluster, queue, {branch.id: {"closed_dates": closed}})
    cluster.worker("--concurrency", "4", "--queues", queue, "--config", str(inventory))
    cluster.wait_for_workers(1)

    run_id, document, collected = round_beside_collect(cluster, branch.id)

    def verdicts(doc: dict[str, Any]) -> list[tuple[str, bool, list[str]]]:
        return [
            (c["id"], c["compliant"], sorted(v["rule"] for v in c["violations"]))
            for c in doc["channels"]
        ]

    judged = verdicts(document)
    assert judged == verdicts(collected)
    assert {c["branch"] for c in document["channels"]} == {branch.id}
    # the stale file's verdict would differ: under it no day was a business day
    assert any({"R1.missing_days", "R2.business_hours"} & set(rules) for _, _, rules in judged)
    # and what was stored is what was printed
    stored = dict(
        cluster.rows(
            "SELECT channel_id, violations FROM channel_observations WHERE run_id = :r", r=run_id
        )
    )
    assert {c: sorted(v["rule"] for v in stored[c]) for c, _, _ in judged} == {
        c: rules for c, _, rules in judged
    }
    differ = logged(cluster, "hours_differ")
    assert [(d["run_id"], d["branches"], d["branch_ids"]) for d in differ] == [
        (run_id, 1, [branch.id])
    ]


def test_a_worker_judges_the_channels_the_database_holds(
    cluster: Cluster, faulty: SimFleet
) -> None:
    """A regional worker whose cameras.yaml is a stale copy -- every channel of a branch
    with an override of 1,000 days, one counter camera still a lobby camera, another with
    audio required, one camera missing -- judges the branch's channels as the scheduler's
    file lists them, synced into the database: its verdicts and stored required retention
    are one-process ``collect``'s, the missing camera included, where the stale file would
    have found every channel short of footage and left one unchecked."""
    whole = load_inventory(Path(cluster.env["VIDAUDIT_INVENTORY"]))
    readable = {
        channel["branch"]
        for channel in faulty.truth["channels"].values()
        if faulty.truth["devices"][channel["device"]]["expected_error"] is None
        and channel["retention_days"] is not None
    }
    branch = next(b for b in whole.branches if b.id in readable)
    (queue,) = {queue_for(branch, device) for device in branch.devices}
    channels = [c for d in branch.devices for c in d.channels]
    assert len(channels) >= 3
    changes: dict[str, dict[str, Any] | None] = {
        c.id: {"retention_days": 1000, **extra}
        for c, extra in zip(
            channels,
            [
                {"role": "lobby" if channels[0].role.value != "lobby" else "other"},
                {"audio": "required" if channels[1].audio.value != "required" else "optional"},
            ]
            + [{}] * len(channels),
            strict=False,
        )
    }
    # the camera the stale copy lacks: one of a recorder's several
    recorder = max(branch.devices, key=lambda d: len(d.channels))
    assert len(recorder.channels) >= 3
    changes[recorder.channels[-1].id] = None
    inventory, required = regional_inventory(cluster, queue, channel_changes=changes)
    cluster.worker("--concurrency", "4", "--queues", queue, "--config", str(inventory))
    cluster.wait_for_workers(1)

    run_id, document, collected = round_beside_collect(cluster, branch.id)

    def verdicts(doc: dict[str, Any]) -> list[tuple[str, str, bool, list[str]]]:
        return [
            (c["id"], c["role"], c["compliant"], sorted(v["rule"] for v in c["violations"]))
            for c in doc["channels"]
        ]

    judged = verdicts(document)
    assert judged == verdicts(collected)
    assert {c["branch"] for c in document["channels"]} == {branch.id}
    # the stale file's 1,000 days would have made every read channel short of footage
    assert not all("R1.retention" in rules for _, _, _, rules in judged), judged
    stored = dict(
        cluster.rows(
            "SELECT channel_id, required_days FROM channel_observations WHERE run_id = :r",
            r=run_id,
        )
    )
    assert stored == {c.id: required[c.id] for c in channels}
    differ = logged(cluster, "channels_differ")
    assert [(d["run_id"], d["changed"], d["added"], d["dropped"]) for d in differ] == [
        (run_id, len(channels) - 1, 1, 0)
    ]


def test_a_worker_follows_the_schedulers_inventory_from_round_to_round(
    cluster: Cluster, faulty: SimFleet
) -> None:
    """A worker reads the stored calendars and channels again only when a sync changed
    them: the security department gives a camera its own retention in the scheduler's
    cameras.yaml between two rounds, and the worker (its own file unchanged) judges the
    camera by it from the next round on, and keeps saying it differs."""
    main = Path(cluster.env["VIDAUDIT_INVENTORY"])
    whole = load_inventory(main)
    data = yaml.safe_load(main.read_text(encoding="utf-8"))
    data["env_file"] = str((main.parent / data["env_file"]).resolve())
    scheduler = cluster.tmp / "scheduler.yaml"
    scheduler.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    branch = whole.branches[0]
    (queue,) = {queue_for(branch, device) for device in branch.devices}
    camera = branch.devices[0].channels[0]
    before = whole.required_days(camera)
    inventory, _required = regional_inventory(cluster, queue)
    cluster.worker("--concurrency", "4", "--queues", queue, "--config", str(inventory))
    cluster.wait_for_workers(1)

    def round_required() -> tuple[int, int]:
        done = cluster.cli(
            "schedule", "--once", "--wait", "--branch", branch.id, "--config", str(scheduler)
        )
        assert done.returncode == 0, done.stderr
        run_id = int(cluster.scalar("SELECT max(id) FROM collection_runs WHERE kind = 'round'"))
        required = cluster.scalar(
            "SELECT required_days FROM channel_observations WHERE run_id = :r AND channel_id = :c",
            r=run_id,
            c=camera.id,
        )
        return run_id, int(required)

    first, required = round_required()
    assert required == before
    for entry in data["branches"][0]["devices"][0]["channels"]:
        if entry["id"] == camera.id:
            entry["retention_days"] = before + 15
    scheduler.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    second, required = round_required()
    assert required == before + 15
    third, required = round_required()
    assert required == before + 15

    differ = logged(cluster, "channels_differ")
    assert [(d["run_id"], d["changed"], d["channel_ids"]) for d in differ] == [
        (second, 1, [camera.id]),
        (third, 1, [camera.id]),
    ]
    assert first < second < third


def test_round_completes_after_postgresql_restarts(tmp_path: Path, faulty: SimFleet) -> None:
    with ThrowawayCluster() as server:
        cluster = Cluster(server.url, tmp_path, faulty.inventory)
        try:
            for _ in range(2):
                cluster.worker("--concurrency", "4")
            cluster.wait_for_workers(2)
            opened = cluster.cli("schedule", "--once", "--format", "json")
            assert opened.returncode == 0, opened.stderr
            run_id = json.loads(opened.stdout)["run_id"]
            wait_until(
                lambda: cluster.scalar(
                    "SELECT count(*) FROM round_devices WHERE run_id = :r AND state = 'reported'",
                    r=run_id,
                ),
                60,
                "a first device reported",
            )
            cluster.engine.dispose()
            server.restart()
            # Bounded by what the workers' settings promise once PostgreSQL is back
            # (``recovery_bound_s``), not by a figure that happened to pass.  Under load
            # the restart outlasted the workers' pool waits and they reconnected: their
            # new app no longer knew the task (every job failed), and a job whose end was
            # lost stayed "doing" under a live worker.  Either way the round waited for
            # its deadline -- the 150 s this test allowed, and timed out at.
            wait_until(
                lambda: _status_or_none(cluster, run_id) == "completed",
                recovery_bound_s(len(faulty.truth["devices"]), workers=2, concurrency=4),
                "the round to finish after the restart",
            )
            per_device = observations_per_device(cluster, run_id)
            assert per_device.keys() == faulty.truth["devices"].keys()
            assert set(per_device.values()) == {1}
            late = cluster.scalar(
                "SELECT devices_late FROM collection_runs WHERE id = :r", r=run_id
            )
            assert late == 0
        finally:
            cluster.close()


#: procrastinate's function that writes a job's retry (``retry_job``) and its arguments.
RETRY_JOB = "procrastinate_retry_job_v2"
RETRY_JOB_ARGS = "(bigint, timestamp with time zone, integer, character varying, character varying)"
#: For a while, a stand-in refuses every retry; it counts its refusals in a sequence
#: (which, unlike a table, keeps counting when the refusal rolls back).
REFUSE_RETRIES = (
    "CREATE SEQUENCE vidaudit_test_refused",
    f"ALTER FUNCTION {RETRY_JOB}{RETRY_JOB_ARGS} RENAME TO vidaudit_test_retry_job",
    f"""CREATE FUNCTION {RETRY_JOB}{RETRY_JOB_ARGS} RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM nextval('vidaudit_test_refused');
        RAISE EXCEPTION 'the test refuses this retry';
    END;
    $$""",
)
TAKE_RETRIES = (
    f"DROP FUNCTION {RETRY_JOB}{RETRY_JOB_ARGS}",
    f"ALTER FUNCTION vidaudit_test_retry_job{RETRY_JOB_ARGS} RENAME TO {RETRY_JOB}",
)


def test_a_job_whose_retry_was_lost_is_retried_once_the_database_takes_it(
    pg_url: str, tmp_path: Path, faulty: SimFleet
) -> None:
    """A device that timed out is tried again later: its job writes that retry as its
    end.  If the write does not reach the database (in production: the connection breaks
    as it is written, in a restart; here, for it to happen every time, the database
    refuses it), the job stays "doing" under a worker that goes on beating, so no
    stalled-worker recovery ever retries it, and the device stayed pending until the
    round's deadline.  The worker must notice, register anew and have the job retried
    as soon as the database takes the write: the round then completes, every device
    reported once, well before its deadline."""
    cluster = Cluster(pg_url, tmp_path, faulty.inventory)
    try:
        cluster.worker("--concurrency", "4")
        cluster.wait_for_workers(1)
        with cluster.engine.begin() as conn:
            for statement in REFUSE_RETRIES:
                conn.exec_driver_sql(statement)
        opened = cluster.cli("schedule", "--once", "--format", "json")
        assert opened.returncode == 0, opened.stderr
        run_id = json.loads(opened.stdout)["run_id"]
        wait_until(
            lambda: cluster.scalar("SELECT is_called FROM vidaudit_test_refused"),
            60,
            "a job's retry to be refused",
        )
        with cluster.engine.begin() as conn:
            for statement in TAKE_RETRIES:
                conn.exec_driver_sql(statement)
        wait_until(
            lambda: cluster.round_status(run_id) == "completed",
            recovery_bound_s(len(faulty.truth["devices"]), workers=1, concurrency=4),
            "the round to finish once retries are written again",
        )
        per_device = observations_per_device(cluster, run_id)
        assert per_device.keys() == faulty.truth["devices"].keys()
        assert set(per_device.values()) == {1}
        late = cluster.scalar("SELECT devices_late FROM collection_runs WHERE id = :r", r=run_id)
        assert late == 0
    finally:
        cluster.close()


def _status_or_none(cluster: Cluster, run_id: int) -> str | None:
    try:
        return cluster.round_status(run_id)
    except Exception:  # noqa: BLE001 -- the server is still coming back
        cluster.engine.dispose()
        return None


SLOW_DEVICE = "FY001-NVR1"
#: Each of two calls of the slow device takes this long: its probe lasts ~2× this.
SLOW_REPLY_S = 2.0


def test_one_device_is_never_polled_twice_at_once(pg_url: str, tmp_path: Path) -> None:
    """Round 1 is finished by force while a slow device's job still runs; round 2 opens at
    once: its job for that device must wait for the first to end.  The simulator counts
    requests in flight per device; a probe sends one at a time, and each slow reply comes
    well within the call timeout (a request the client gave up on would stay in flight on
    the server and count twice without any second job)."""
    scenario = Scenario.model_validate(
        {
            "seed": 3,
            "generate": GenerateSpec(nvrs=3, channels=4).model_dump(),
            "devices": {
                SLOW_DEVICE: {
                    "fault": {
                        "kind": "slow",
                        "delay_s": SLOW_REPLY_S,
                        "operations": ["GetDeviceInformation", "GetServices"],
                    }
                }
            },
        }
    )
    in_flight: Counter[str] = Counter()
    most: Counter[str] = Counter()
    inventory = tmp_path / "cameras.sim.yaml"

    def count(fleet: Any) -> None:
        for device_id, device in fleet.devices.items():
            _count_in_flight(device, device_id, in_flight, most)

    with fleet_in_thread(scenario, inventory, count):
        cluster = Cluster(
            pg_url, tmp_path, inventory, VIDAUDIT_COLLECTOR_CALL_TIMEOUT_S=str(3 * SLOW_REPLY_S)
        )
        try:
            for _ in range(2):
                cluster.worker("--concurrency", "8")
            cluster.wait_for_workers(2)
            first = cluster.cli("schedule", "--once", "--format", "json", timeout=60)
            assert first.returncode == 0, first.stderr
            first_id = json.loads(first.stdout)["run_id"]
            wait_until(lambda: most[SLOW_DEVICE] >= 1, 60, "the slow device's first probe")
            # end round 1 now, its slow job still running: the device is late in it
            end_round_now(cluster, first_id)
            running = cluster.rows(
                "SELECT args->>'run_id' FROM procrastinate_jobs "
                "WHERE status = 'doing' AND lock = :lock",
                lock=f"device:{SLOW_DEVICE}",
            )
            assert running == [(str(first_id),)], "round 1's job is still polling the device"
            second = cluster.cli("schedule", "--once", "--wait", "--format", "json", timeout=120)
            assert second.returncode == 0, second.stderr
            document = json.loads(second.stdout)
        finally:
            cluster.close()
    assert SLOW_DEVICE in {d["id"] for d in document["devices"]}
    assert "late" not in document, document.get("late")
    assert most[SLOW_DEVICE] == 1, f"polled by two jobs at once: {dict(most)}"
    assert max(most.values()) == 1


@contextmanager
def fleet_in_thread(
    scenario: Scenario, inventory: Path, prepare: Callable[[Any], None] | None = None
) -> Iterator[None]:
    """The simulated fleet served from a thread of this process (so a test may watch or
    change its devices: ``prepare`` is given the fleet before it serves), its inventory
    written to ``inventory``; stopped on leaving."""
    ready = threading.Event()
    stop: dict[str, Any] = {}

    async def serve() -> None:
        async with running_fleet(scenario, inventory_out=inventory) as fleet:
            if prepare is not None:
                prepare(fleet)
            stop["event"] = asyncio.Event()
            stop["loop"] = asyncio.get_running_loop()
            ready.set()
            await stop["event"].wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(60)
    try:
        yield
    finally:
        stop["loop"].call_soon_threadsafe(stop["event"].set)
        thread.join(30)


def end_round_now(cluster: Cluster, run_id: int) -> None:
    """End a round before its deadline as a scheduler ends one at it: devices still
    pending become late and their jobs still waiting are cancelled (``schedule.py``)."""
    with cluster.sessions.begin() as session:
        finished = finish_round(session, run_id, utcnow(), force=True)
    assert finished is not None

    async def cancel() -> None:
        app = make_app(Settings(database_url=cluster.env["VIDAUDIT_DATABASE_URL"]))
        async with app.open_async():
            await cancel_late_jobs(app, finished.late_jobs)

    asyncio.run(cancel())


def test_a_try_whose_round_ended_meanwhile_is_not_retried(pg_url: str, tmp_path: Path) -> None:
    """A device that does not answer, whose round ends while its first try still waits:
    a retry could only be refused, and while it waited out its back-off it would hold the
    device's queueing lock, so the next round could not queue the device."""
    scenario = Scenario.model_validate(
        {
            "seed": 3,
            "generate": GenerateSpec(nvrs=2, channels=2).model_dump(),
            "devices": {SLOW_DEVICE: {"fault": {"kind": "hang"}}},
        }
    )
    inventory = tmp_path / "cameras.sim.yaml"
    with fleet_in_thread(scenario, inventory):
        # the hanging device's first call waits out a 10 s timeout: time to end its round
        cluster = Cluster(
            pg_url,
            tmp_path,
            inventory,
            VIDAUDIT_COLLECTOR_CALL_TIMEOUT_S="10",
            VIDAUDIT_COLLECTOR_DEVICE_DEADLINE_S="30",
            VIDAUDIT_COLLECTOR_RETRY_WAIT_S="1",
            VIDAUDIT_COLLECTOR_RETRY_ATTEMPTS="3",
        )
        lock = f"device:{SLOW_DEVICE}"
        try:
            cluster.worker("--concurrency", "4")
            cluster.wait_for_workers(1)
            first = cluster.cli("schedule", "--once", "--format", "json", timeout=60)
            assert first.returncode == 0, first.stderr
            first_id = json.loads(first.stdout)["run_id"]
            job_id = wait_until(
                lambda: cluster.scalar(
                    "SELECT id FROM procrastinate_jobs WHERE status = 'doing' AND lock = :lock",
                    lock=lock,
                ),
                60,
                "the hanging device's first try",
            )
            end_round_now(cluster, first_id)
            ended = wait_until(
                lambda: cluster.rows(
                    "SELECT status::text, attempts FROM procrastinate_jobs "
                    "WHERE id = :j AND status IN ('succeeded', 'failed', 'cancelled')",
                    j=job_id,
                ),
                60,
                "the hanging device's job to end",
            )
            # one try, ended: not sent back to wait (a retry would end with two attempts)
            assert ended == [("succeeded", 1)]
            second = cluster.cli("schedule", "--once", "--format", "json", timeout=60)
            assert second.returncode == 0, second.stderr
            second_id = json.loads(second.stdout)["run_id"]
        finally:
            cluster.close()
    # round 2 queued the device: it is not late before it was even tried
    states = dict(
        cluster.rows("SELECT device_id, state FROM round_devices WHERE run_id = :r", r=second_id)
    )
    assert states[SLOW_DEVICE] != "late", states


def _count_in_flight(
    device: Any, device_id: str, in_flight: Counter[str], most: Counter[str]
) -> None:
    respond = device.respond

    async def counted(request: Any, writer: Any) -> bool:
        in_flight[device_id] += 1
        most[device_id] = max(most[device_id], in_flight[device_id])
        try:
            return bool(await respond(request, writer))
        finally:
            in_flight[device_id] -= 1

    device.respond = counted


def test_a_round_pins_identities_and_judges_a_swapped_recorder_as_collect_does(
    pg_url: str, tmp_path: Path, faulty: SimFleet
) -> None:
    """Issue 12's R6.identity on the distributed path: a round pins each device it reads
    on first contact, once; after two recorders swap addresses the next round reports
    R6.identity for both, judges none of their channels, and agrees with ``collect``."""
    cluster = Cluster(pg_url, tmp_path, faulty.inventory)
    try:
        cluster.worker("--concurrency", "4")
        cluster.wait_for_workers(1)
        first = cluster.cli("schedule", "--once", "--wait", "--format", "json")
        assert first.returncode == 0, first.stderr
        online = sorted(d["id"] for d in json.loads(first.stdout)["devices"] if d["online"])
        assert len(online) >= 2
        pins = dict(cluster.rows("SELECT device_id, serial FROM device_identities"))
        assert pins == {d: faulty.truth["devices"][d]["serial"] for d in online}
        assert {by for (by,) in cluster.rows("SELECT pinned_by FROM device_identities")} == {
            "first contact"
        }

        a, b = online[:2]
        crossed = tmp_path / "cameras.swapped.yaml"
        swapped(faulty.inventory, crossed, a, b)
        # the sim's passwords file is named relative to its inventory: point at it from here
        data = yaml.safe_load(crossed.read_text(encoding="utf-8"))
        data["env_file"] = str(faulty.inventory.parent / data["env_file"])
        crossed.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        cluster.workers[0].send_signal(signal.SIGTERM)
        assert cluster.workers[0].wait(60) == 0
        cluster.env["VIDAUDIT_INVENTORY"] = str(crossed)
        cluster.worker("--concurrency", "4")
        second = cluster.cli("schedule", "--once", "--wait", "--format", "json")
        assert second.returncode == 0, second.stderr
        document = json.loads(second.stdout)
        run_id = cluster.scalar("SELECT max(id) FROM collection_runs WHERE kind = 'round'")
        assert set(observations_per_device(cluster, run_id).values()) == {1}
        devices = {d["id"]: d for d in document["devices"]}
        for device_id in (a, b):
            assert [v["rule"] for v in devices[device_id]["violations"]] == ["R6.identity"]
            judged = [c for c in document["channels"] if c["device"] == device_id]
            assert judged
            assert all(
                [v["rule"] for v in c["violations"]] == ["R6.identity"] and not c["compliant"]
                for c in judged
            ), judged
        # the pins stay; the stranger each address now answers with is noted once
        assert dict(cluster.rows("SELECT device_id, serial FROM device_identities")) == pins
        seen = dict(
            cluster.rows(
                "SELECT device_id, seen_serial FROM device_identities WHERE seen_at IS NOT NULL"
            )
        )
        assert seen == {a: pins[b], b: pins[a]}

        collected = cluster.cli("collect", "--format", "json")
        assert collected.returncode == 0, collected.stderr
        verdicts = lambda doc: sorted(  # noqa: E731
            (c["id"], c["compliant"], sorted(v["rule"] for v in c["violations"]))
            for c in doc["channels"]
            if c["device"] in (a, b)
        )
        assert verdicts(json.loads(collected.stdout)) == verdicts(document)
    finally:
        cluster.close()


def round_of_branch_without(cluster: Cluster, branch_id: str, missing: str) -> int:
    """A round of one branch whose device ``missing`` the worker cannot serve: once its
    job failed (``DeviceNotHere``, never retried) and every other device is reported,
    the round is ended as its deadline would end it.  The round's id."""
    opened = cluster.cli("schedule", "--once", "--branch", branch_id, "--format", "json")
    assert opened.returncode == 0, opened.stderr
    run_id = int(json.loads(opened.stdout)["run_id"])

    def settled() -> bool:
        failed = cluster.scalar(
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'failed' "
            "AND (args->>'run_id')::bigint = :r AND args->>'device_id' = :d",
            r=run_id,
            d=missing,
        )
        pending = cluster.scalar(
            "SELECT count(*) FROM round_devices WHERE run_id = :r AND state = 'pending' "
            "AND device_id <> :d",
            r=run_id,
            d=missing,
        )
        return bool(failed == 1 and pending == 0)

    wait_until(settled, 120, f"round {run_id}: every device but {missing} reported")
    end_round_now(cluster, run_id)
    return run_id


def test_a_worker_takes_up_its_edited_cameras_yaml_at_the_next_round(
    cluster: Cluster, faulty: SimFleet
) -> None:
    """A regional worker whose cameras.yaml lacks a recorder the scheduler's has: the
    recorder is late in its rounds.  A broken edit of the worker's file keeps its last
    good inventory (the branch's other devices are still served) and is logged once,
    however many rounds it lasts; once the file is fixed and lists the recorder, the
    worker serves it from the next round, without a restart."""
    whole = load_inventory(Path(cluster.env["VIDAUDIT_INVENTORY"]))
    # a branch with a readable recorder and other devices that answer without retries
    branch = next(
        b
        for b in whole.branches
        if len(b.devices) >= 2
        and all(faulty.truth["devices"][d.id]["expected_error"] != "timeout" for d in b.devices)
        and faulty.truth["devices"][b.devices[0].id]["expected_error"] is None
    )
    recorder = branch.devices[0].id
    (queue,) = {queue_for(branch, device) for device in branch.devices}
    inventory, _required = regional_inventory(cluster, queue)
    region = inventory.parent / "branches.yaml"
    complete = yaml.safe_load(region.read_text(encoding="utf-8"))
    lacking = {
        "branches": [
            b | {"devices": [d for d in b["devices"] if d["id"] != recorder]}
            for b in complete["branches"]
        ]
    }
    region.write_text(yaml.safe_dump(lacking, allow_unicode=True), "utf-8")
    worker = cluster.worker("--concurrency", "4", "--queues", queue, "--config", str(inventory))
    cluster.wait_for_workers(1)
    first = round_of_branch_without(cluster, branch.id, recorder)

    region.write_text("branches: [\n", "utf-8")  # saved half-way through an edit
    second = round_of_branch_without(cluster, branch.id, recorder)
    third = round_of_branch_without(cluster, branch.id, recorder)

    region.write_text(yaml.safe_dump(complete, allow_unicode=True), "utf-8")
    done = cluster.cli("schedule", "--once", "--wait", "--branch", branch.id, "--format", "json")
    assert done.returncode == 0, done.stderr
    fourth = int(cluster.scalar("SELECT max(id) FROM collection_runs WHERE kind = 'round'"))
    document = json.loads(done.stdout)
    assert "late" not in document, document.get("late")
    assert recorder in {d["id"] for d in document["devices"]}

    states = {
        run_id: dict(
            cluster.rows("SELECT device_id, state FROM round_devices WHERE run_id = :r", r=run_id)
        )
        for run_id in (first, second, third, fourth)
    }
    for run_id in (first, second, third):
        assert states[run_id].pop(recorder) == "late", (run_id, states[run_id])
        assert set(states[run_id].values()) == {"reported"}, (run_id, states[run_id])
    assert set(states[fourth].values()) == {"reported"}
    served_by = cluster.scalar(
        "SELECT worker FROM round_devices WHERE run_id = :r AND device_id = :d",
        r=fourth,
        d=recorder,
    )
    assert served_by == f"{socket.gethostname()}:{worker.pid}"
    assert worker.poll() is None, "the worker was not restarted"

    rejected = logged(cluster, "inventory_rejected")
    assert len(rejected) == 1, rejected
    # the loader's own message: the included file and where in it
    problems = rejected[0]["problems"]
    assert any(p.startswith("branches.yaml: line ") for p in problems), problems
    reloaded = logged(cluster, "inventory_reloaded")
    assert len(reloaded) == 1, reloaded
    digest = inventory_digest(load_inventory(inventory))
    assert reloaded[0]["digest"] == digest[:12]


def test_schedule_every_takes_up_edits_between_rounds(
    pg_url: str, tmp_path: Path, faulty: SimFleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``schedule --every`` reads its edited cameras.yaml before the next round: a
    recorder added is queued in it; a broken edit keeps the last good inventory, said
    once.  The real command in this process; the wait between rounds is where the test
    ends the round (no worker here) and edits the file."""
    cluster = Cluster(pg_url, tmp_path, faulty.inventory)
    data = yaml.safe_load(faulty.inventory.read_text(encoding="utf-8"))
    data["env_file"] = str((faulty.inventory.parent / data["env_file"]).resolve())
    everything = [d["id"] for b in data["branches"] for d in b["devices"]]
    added = everything[-1]
    lacking = {
        **data,
        "branches": [
            b | {"devices": [d for d in b["devices"] if d["id"] != added]} for b in data["branches"]
        ],
    }
    lacking["branches"] = [b for b in lacking["branches"] if b["devices"]]
    config = tmp_path / "cameras.yaml"
    config.write_text(yaml.safe_dump(lacking, allow_unicode=True), "utf-8")
    complete = yaml.safe_dump(data, allow_unicode=True)
    rounds: list[int] = []

    def end_round() -> None:
        run_id = int(cluster.scalar("SELECT max(id) FROM collection_runs WHERE kind = 'round'"))
        rounds.append(run_id)
        end_round_now(cluster, run_id)

    class Stop(Exception):
        pass

    steps: list[Callable[[], None]] = [
        lambda: config.write_text(complete, "utf-8"),
        lambda: config.write_text(complete.replace("branches:", "branches: [", 1), "utf-8"),
        lambda: None,  # still broken
    ]

    def between_rounds(_seconds: float) -> None:
        end_round()
        if not steps:
            raise Stop
        steps.pop(0)()

    monkeypatch.setattr(
        distributed_module,
        "time",
        types.SimpleNamespace(monotonic=time.monotonic, sleep=between_rounds),
    )
    for name in ("VIDAUDIT_DATABASE_URL", "VIDAUDIT_DATA_DIR"):
        monkeypatch.setenv(name, cluster.env[name])
    monkeypatch.setenv("VIDAUDIT_SETTINGS_FILE", str(tmp_path / "none.toml"))
    try:
        result = CliRunner().invoke(app, ["schedule", "--every", "10s", "-c", str(config)])
        queued = {
            run_id: {
                d
                for (d,) in cluster.rows(
                    "SELECT device_id FROM round_devices WHERE run_id = :r", r=run_id
                )
            }
            for run_id in rounds
        }
    finally:
        cluster.close()
    assert isinstance(result.exception, Stop), result.output
    assert len(rounds) == 4
    assert queued[rounds[0]] == set(everything) - {added}
    assert queued[rounds[1]] == set(everything)  # the recorder added, queued next round
    assert queued[rounds[2]] == queued[rounds[3]] == set(everything)  # the last good one
    assert len([line for line in result.output.splitlines() if "cannot be used" in line]) == 1
    assert f"{config}: line " in result.output
    assert len([line for line in result.output.splitlines() if "using it from now on" in line]) == 1
