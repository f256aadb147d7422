"""The evidence store: content-addressed files (sha256) under the data directory.

A file's name is its digest, so the same frame pulled twice is stored once and nothing is
ever overwritten with different bytes; files are written atomically (temp file, fsync,
rename) and made read-only for the service account alone (0400, in 0700 directories:
surveillance frames are not for every account on the server).  ``verify`` finds files
that went missing or were altered.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidaudit.db.models import (
    EvidenceRow,
    FindingEventRow,
    FindingRow,
    RetentionCheckRow,
    ReviewRow,
    SnapshotRow,
    TaskFrameRow,
)
from vidaudit.private_files import private_dir

_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "video/mp4": ".mp4"}


class EvidenceCorrupt(RuntimeError):
    """A stored file no longer has the digest it is named after."""


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


@dataclass(frozen=True)
class EvidenceProblem:
    """``code`` names the catalogue key ``evidence.problem.<code>``; ``values`` fill it."""

    code: str
    values: dict[str, Any]

    def __str__(self) -> str:
        return EVIDENCE_PROBLEMS[self.code].format_map(self.values)


#: English wording for the CLI and logs; people read the catalogues' (zh and en).
EVIDENCE_PROBLEMS = {
    "file_missing": "{sha}: file {path} is missing",
    "file_altered": "{sha}: file {path} was altered",
    "no_record": "{what} {id} points at evidence {sha}, which has no record (deleted)",
    "no_file": "{what} {id} points at evidence {sha}, whose file is missing or altered",
}


@dataclass
class EvidenceCheck:
    files: int = 0
    #: references to evidence followed (frames, snapshots, proofs, findings, reviews)
    references: int = 0
    findings: list[EvidenceProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def problems(self) -> list[str]:
        return [str(p) for p in self.findings]

    def add(self, code: str, **values: Any) -> None:
        self.findings.append(EvidenceProblem(code, values))


_REFERENCING_COLUMNS: tuple[
    tuple[str, type[TaskFrameRow | SnapshotRow | RetentionCheckRow | FindingEventRow]], ...
] = (
    ("task_frame", TaskFrameRow),
    ("snapshot", SnapshotRow),
    ("retention_check", RetentionCheckRow),
    ("finding_event", FindingEventRow),
)
#: every kind of record ``evidence_references`` names
EVIDENCE_REFERENCES = (*(what for what, _model in _REFERENCING_COLUMNS), "finding", "review")


def evidence_references(session: Session) -> Iterator[tuple[str, int, str]]:
    """Every place a record points at evidence: (what, its id, sha256).

    Kept here, beside the store, so a table that starts pointing at evidence is added in
    one place; columns are foreign keys (which an insider can switch off), frames named
    inside findings and reviews are JSON."""
    for what, model in _REFERENCING_COLUMNS:
        column = model.evidence_sha256
        for row_id, sha in session.execute(select(model.id, column).where(column.is_not(None))):
            if sha is not None:
                yield what, row_id, sha
    for finding_id, frames in session.execute(select(FindingRow.id, FindingRow.frames)):
        for sha in frames or []:
            if isinstance(sha, str):
                yield "finding", finding_id, sha
    for review_id, items in session.execute(select(ReviewRow.id, ReviewRow.items)):
        for item in (items or {}).values():
            for sha in item.get("frames", []) if isinstance(item, dict) else []:
                if isinstance(sha, str):
                    yield "review", review_id, sha


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
            private_dir(target.parent)
            # mkstemp creates the file 0600 whatever the umask
            fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                Path(temp).chmod(0o400)
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
        """Every evidence file against its digest, then every reference to evidence: a
        record whose evidence row was deleted (with its file, so the file check alone
        sees nothing) or whose file is gone is named."""
        check = EvidenceCheck()
        bad: set[str] = set()
        known: set[str] = set()
        for row in session.scalars(select(EvidenceRow).order_by(EvidenceRow.created_at)):
            check.files += 1
            known.add(row.sha256)
            path = self.path_of(row)
            if not path.is_file():
                check.add("file_missing", sha=row.sha256, path=str(path))
                bad.add(row.sha256)
            elif path.stat().st_size != row.size or _digest(path) != row.sha256:
                check.add("file_altered", sha=row.sha256, path=str(path))
                bad.add(row.sha256)
        for what, row_id, sha in evidence_references(session):
            check.references += 1
            if sha not in known:
                check.add("no_record", what=what, id=row_id, sha=sha[:16])
            elif sha in bad:
                check.add("no_file", what=what, id=row_id, sha=sha[:16])
        return check
