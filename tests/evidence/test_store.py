"""Evidence files: content-addressed, stored once, never overwritten, checked for tampering."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.migrate import upgrade
from vidaudit.evidence.store import EvidenceCorrupt, EvidenceStore
from vidaudit.settings import Settings

NOW = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)


def test_put_verify_and_tamper(tmp_path: Path) -> None:
    engine = make_engine(Settings(), f"sqlite:///{tmp_path}/e.db")
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    store = EvidenceStore(tmp_path / "evidence")
    with sessions.begin() as s:
        first = store.put(s, b"\xff\xd8frame-1", "image/jpeg", {"channel": "C1"}, NOW)
        again = store.put(s, b"\xff\xd8frame-1", "image/jpeg", {"channel": "C1"}, NOW)
        other = store.put(s, b"\xff\xd8frame-2", "image/jpeg", {"channel": "C2"}, NOW)
    assert first.sha256 == again.sha256 != other.sha256
    path = store.path_of(first)
    assert path.read_bytes() == b"\xff\xd8frame-1" and path.name == f"{first.sha256}.jpg"
    assert not os.access(path, os.W_OK) or os.geteuid() == 0  # read-only (root ignores modes)
    # for the service account alone, whatever the umask (pen test item 8)
    assert path.stat().st_mode & 0o777 == 0o400
    for directory in (path.parent, path.parent.parent, store.root):
        assert directory.stat().st_mode & 0o777 == 0o700, directory
    assert (tmp_path / "e.db").stat().st_mode & 0o777 == 0o600
    with sessions() as s:
        assert store.verify(s).ok and store.verify(s).files == 2
    path.chmod(0o644)
    path.write_bytes(b"\xff\xd8edited")
    store.path_of(other).unlink()
    with sessions() as s:
        problems = store.verify(s).problems
    assert problems == [
        f"{first.sha256}: file {path} was altered",
        f"{other.sha256}: file {store.path_of(other)} is missing",
    ]
    with sessions.begin() as s, pytest.raises(EvidenceCorrupt):
        store.put(s, b"\xff\xd8frame-1", "image/jpeg", {}, NOW)
