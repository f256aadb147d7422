"""A PostgreSQL server of a test's own, which the test may stop and start (the suite's
shared server must not be restarted under the other tests).  Debian's binaries, as
scripts/postgres.sh uses; run as the ``postgres`` user when the tests run as root.

It listens on a Unix socket in its own directory only, not on a TCP port: a port found
free and bound by the server later (at every start, a restart included) may be taken
in between by anything on the machine."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import pytest


def _bin() -> Path:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    pytest.skip(
        "PostgreSQL's server binaries are not installed (scripts/postgres.sh installs them)"
    )


class ThrowawayCluster:
    """Under a directory of its own in the system's temp dir, not the test's ``tmp_path``:
    pytest's base temp dir is private to the user running the tests, and the server runs
    as ``postgres`` when they run as root."""

    def __init__(self) -> None:
        self.bin = _bin()
        self.dir = Path(tempfile.mkdtemp(prefix="vidaudit-pg-"))
        self.data = self.dir / "data"
        # the number only names the socket file (.s.PGSQL.5432), in a directory of its own
        self.port = 5432
        self.url = f"postgresql+psycopg://vidaudit@/vidaudit?host={self.dir}&port={self.port}"

    def _as_pg(self, *args: str) -> None:
        command = list(args)
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def _ctl(self, action: str) -> None:
        options = f"-c listen_addresses='' -p {self.port} -k {self.dir} -c fsync=off"
        self._as_pg(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.dir / "server.log"),
            "-w",
            "-t",
            "60",
            "-m",
            "fast",
            "-o",
            options,
            action,
        )

    def __enter__(self) -> ThrowawayCluster:
        try:
            return self._start()
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def _start(self) -> ThrowawayCluster:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self._as_pg(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
        )
        self._ctl("start")
        psql = [
            str(self.bin / "psql"),
            "-h",
            str(self.dir),
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-q",
        ]
        subprocess.run([*psql, "-c", "create role vidaudit login"], check=True, timeout=60)
        subprocess.run(
            [*psql, "-c", "create database vidaudit owner vidaudit"], check=True, timeout=60
        )
        return self

    def restart(self) -> None:
        self._ctl("restart")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # already stopped (a test that stopped it, or a failed start) is fine
        with contextlib.suppress(subprocess.CalledProcessError):
            self._ctl("stop")
        shutil.rmtree(self.dir, ignore_errors=True)
