"""What the distributed-collector tests share: a simulated fleet in its own process, real
``vidaudit worker`` processes, the CLI, and waits on conditions (bounded, never a sleep)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import REPO
from vidaudit.collector.queue import KEEP_EVERY_S, POOL_TIMEOUT_S, RECONNECT_EVERY_S
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.migrate import upgrade
from vidaudit.settings import Settings

#: The vidaudit command of this interpreter (no console script needed).
VIDAUDIT = (sys.executable, "-c", "from vidaudit.cli import main; main()")

#: Short limits so faulty devices (a hang, a slow one) settle in seconds.
WORKER_ENV = {
    "VIDAUDIT_COLLECTOR_CALL_TIMEOUT_S": "1.5",
    "VIDAUDIT_COLLECTOR_CONNECT_TIMEOUT_S": "1.0",
    "VIDAUDIT_COLLECTOR_DEVICE_DEADLINE_S": "8",
    "VIDAUDIT_COLLECTOR_RETRY_ATTEMPTS": "2",
    "VIDAUDIT_COLLECTOR_RETRY_WAIT_S": "0.5",
    "VIDAUDIT_COLLECTOR_ROUND_DEADLINE_S": "150",
    "VIDAUDIT_WORKER_HEARTBEAT_S": "1",
    "VIDAUDIT_WORKER_STALLED_AFTER_S": "4",
    "VIDAUDIT_LOG_LEVEL": "INFO",
}


def recovery_bound_s(devices: int, workers: int, concurrency: int) -> float:
    """The longest a round of ``devices`` may still take once the database is back, from
    the intervals the workers run with (``WORKER_ENV`` and the queue's own), not from a
    guess at the machine's speed (which is why it holds on a loaded one):

    - a worker's running jobs end (its graceful shutdown: two device deadlines + 5 s,
      as a worker holds up to twice its reading slots in jobs);
      a worker left waiting on its pool gives up after ``POOL_TIMEOUT_S``; it connects
      again within ``RECONNECT_EVERY_S`` of the database answering;
    - it then retries at once the jobs it had in hand, and a keeper finishes a complete
      round within ``KEEP_EVERY_S``;
    - a job whose write failed waits out its storage back-off (``DeviceRetry``: 2 s to
      the power of its tries so far, at most the tries a device gets plus one);
    - every device not reported yet is polled, ``workers * concurrency`` at a time: up
      to ``collector_retry_attempts`` tries of ``collector_device_deadline_s`` each,
      with the retry waits between (``collector_retry_wait_s``, doubling)."""
    deadline = float(WORKER_ENV["VIDAUDIT_COLLECTOR_DEVICE_DEADLINE_S"])
    tries = int(WORKER_ENV["VIDAUDIT_COLLECTOR_RETRY_ATTEMPTS"])
    retry_wait = float(WORKER_ENV["VIDAUDIT_COLLECTOR_RETRY_WAIT_S"])
    back = (2 * deadline + 5) + POOL_TIMEOUT_S + RECONNECT_EVERY_S + KEEP_EVERY_S
    storage = min(30.0, 2.0 ** (tries + 1))
    per_device = tries * deadline + sum(retry_wait * 2**k for k in range(tries - 1))
    waves = math.ceil(devices / (workers * concurrency))
    return back + storage + waves * per_device + KEEP_EVERY_S


def wait_until(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Poll ``condition`` until it returns something truthy, at most ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.2)


@dataclass
class SimFleet:
    inventory: Path
    truth: dict[str, Any]


@contextmanager
def sim_fleet(tmp: Path, *args: str) -> Iterator[SimFleet]:
    """``vidaudit sim`` in its own process, with its inventory and truth.json."""
    inventory, truth = tmp / "cameras.sim.yaml", tmp / "truth.json"
    process = subprocess.Popen(
        [*VIDAUDIT, "sim", *args, "--inventory-out", str(inventory), "--truth-out", str(truth)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    try:
        assert "ready" in line, line
        yield SimFleet(inventory, json.loads(truth.read_text(encoding="utf-8")))
    finally:
        process.terminate()
        process.wait(timeout=30)


class Cluster:
    """A database for one test, the environment its processes share, and its workers."""

    def __init__(self, url: str, tmp: Path, inventory: Path, **env: str) -> None:
        self.url = url
        self.tmp = tmp
        self.env = {
            **os.environ,
            **WORKER_ENV,
            "VIDAUDIT_DATABASE_URL": url,
            "VIDAUDIT_DATA_DIR": str(tmp / "data"),
            "VIDAUDIT_INVENTORY": str(inventory),
            **env,
        }
        self.settings = Settings(database_url=url, data_dir=tmp / "data")
        self.engine = make_engine(self.settings)
        upgrade(self.engine)
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        self.workers: list[subprocess.Popen[bytes]] = []

    def worker(self, *args: str) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"worker{len(self.workers)}.log").open("wb")
        process = subprocess.Popen(
            [*VIDAUDIT, "worker", *args], cwd=REPO, env=self.env, stdout=log, stderr=log
        )
        self.workers.append(process)
        return process

    def wait_for_workers(self, count: int) -> None:
        """Until ``count`` workers have registered with the queue (each has started)."""
        wait_until(
            lambda: self.scalar("SELECT count(*) FROM procrastinate_workers") >= count,
            60,
            f"{count} workers to register",
        )

    def cli(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*VIDAUDIT, *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())

    def round_status(self, run_id: int) -> str:
        return str(self.scalar("SELECT status FROM collection_runs WHERE id = :id", id=run_id))

    def close(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.workers:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.engine.dispose()

    def log(self, index: int) -> str:
        return (self.tmp / f"worker{index}.log").read_text(encoding="utf-8", errors="replace")
