"""The evidence store: content-addressed files (sha256) under the data directory.

A file's name is its digest, so the same frame pulled twice is stored once and nothing is
ever overwritten with different bytes; files are written atomically (temp file, fsync,
rename) and made read-only.  ``verify`` finds files that went missing or were altered.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidaudit.db.models import EvidenceRow
from vidaudit.errors import Problem

_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "video/mp4": ".mp4"}


class EvidenceCorrupt(RuntimeError):
    """A stored file no longer has the digest it is named after."""


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


@dataclass
class EvidenceCheck:
    files: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class EvidenceStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, row: EvidenceRow) -> Path:
        return self.root / row.path

    def put(
        self,
        session: Session,
        data: bytes,
        media_type: str,
        origin: dict[str, Any],
        now: dt.datetime,
    ) -> EvidenceRow:
        sha = hashlib.sha256(data).hexdigest()
        relative = f"{sha[:2]}/{sha[2:4]}/{sha}{_EXTENSIONS.get(media_type, '.bin')}"
        target = self.root / relative
        if target.exists():
            if _digest(target) != sha:
                raise EvidenceCorrupt(f"{target} exists but no longer matches its digest")
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                Path(temp).chmod(0o444)
                Path(temp).replace(target)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
        row = session.get(EvidenceRow, sha)
        if row is None:
            row = EvidenceRow(
                sha256=sha,
                size=len(data),
                media_type=media_type,
                path=relative,
                created_at=now,
                origin=origin,
            )
            session.add(row)
            session.flush()
        return row

    def verify(self, session: Session) -> EvidenceCheck:
        check = EvidenceCheck()
        for row in session.scalars(select(EvidenceRow).order_by(EvidenceRow.created_at)):
            check.files += 1
            path = self.path_of(row)
            values: dict[str, str | int] = {
                "sha256": row.sha256,
                "created": row.created_at.isoformat(),
            }
            if not path.is_file():
                text = f"{row.sha256}: file {path} is missing"
                check.problems.append(Problem("evidence_missing", text, values))
            elif path.stat().st_size != row.size or _digest(path) != row.sha256:
                text = f"{row.sha256}: file {path} was altered"
                check.problems.append(Problem("evidence_altered", text, values))
        return check
