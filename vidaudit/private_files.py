"""Files only the service account may read: the database, evidence, keys, checkpoints.

Surveillance records and the register's signing key must not be world-readable on a
shared server, whatever the process's umask: directories are made 0700 and files 0600
(evidence files are then made read-only, 0400).  Directories that already exist are left
as the operator set them; only the ones created here get the private mode.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """``mkdir -p`` with 0700 for every directory it creates; returns ``path``."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # another process made it meanwhile
        # mkdir's mode is filtered by the umask; chmod is not.
        directory.chmod(DIR_MODE)
    return path


def touch_private(path: Path) -> Path:
    """Create ``path`` empty with 0600 if it does not exist (e.g. before SQLite opens it,
    which would create it with 0644 under the usual umask); its directory too."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return path
    os.close(fd)
    path.chmod(FILE_MODE)
    return path


def write_new_private(path: Path, data: bytes) -> None:
    """Write a new file with 0600; refuses to overwrite one that exists."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def append_private(path: Path, line: str) -> None:
    """Append one line with O_APPEND (one write, so concurrent writers do not interleave
    lines) to a file created 0600; fsynced, because the line is a record."""
    private_dir(path.parent)
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def readable_by_others(path: Path) -> bool:
    return bool(path.stat().st_mode & 0o077)
