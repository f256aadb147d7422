"""One collection run at a time per data directory (an advisory file lock).

``fcntl.flock`` is released by the kernel when the process dies, so a crashed run never
leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from vidaudit.private_files import private_dir


class LockTimeout(RuntimeError):
    pass


@contextlib.contextmanager
def run_lock(
    path: Path, wait_s: float, on_wait: Callable[[], None] | None = None
) -> Iterator[None]:
    """Hold ``path`` exclusively; wait up to ``wait_s`` for a running holder to finish."""
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_s
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"another collection run still holds {path} after {wait_s:.0f} s"
                    ) from None
                if not told and on_wait is not None:
                    on_wait()
                    told = True
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
