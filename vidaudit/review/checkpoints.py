"""Signed checkpoints of the review register's head, kept outside the database too.

A checkpoint says "entry N is the last one and its chain hash is H", signed with the
register key.  Entry signatures stop anyone without the key from altering or forging an
entry, but not from deleting the newest entries (or all of them): what is gone cannot
fail a check.  A checkpoint kept where the database's writer cannot reach it (the
append-only file below, the weekly report on paper, an auditor's own copy) proves the
chain once reached N entries ending in H.

Checkpoints are taken by the web server at least every
``VIDAUDIT_REGISTER_CHECKPOINT_MINUTES`` while the head moves, when someone asks for one
on the weekly report's page (a POST: merely opening or printing a report writes nothing),
by ``vidaudit register checkpoint`` (for cron) and when a key is created.  The weekly
report prints the newest checkpoint and how many entries came after it.  Each is stored
in ``register_checkpoints`` (append-only) and appended as one line to the checkpoints
file, the same line the weekly report prints (one line; wrapped here)::

    vidaudit-register-checkpoint v1 seq=12 at=2026-11-20T02:00:00Z head=<64 hex>
        key=<16 hex> sig=<base64>

The signature covers the line up to `` sig=``.  Before signing, the chain since the last
checkpoint is checked, so a checkpoint never vouches for an entry that was tampered with.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from vidaudit.db.models import RegisterCheckpointRow, RegisterEntryRow
from vidaudit.private_files import append_private
from vidaudit.review.signing import Signer, SignerSource

log = logging.getLogger(__name__)

PREFIX = "vidaudit-register-checkpoint v1"
_LINE = re.compile(
    r"^vidaudit-register-checkpoint v1 seq=(?P<seq>\d{1,18}) at=(?P<at>\S{1,40}) "
    r"head=(?P<head>[0-9a-f]{64}) key=(?P<key>[0-9a-f]{16}) sig=(?P<sig>[A-Za-z0-9+/=]{1,200})$"
)


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    at: dt.datetime
    head: str
    key_id: str
    signature: str
    #: where this copy came from: "database" or "FILE line N"
    source: str = "database"

    @property
    def unsigned_line(self) -> str:
        at = self.at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{PREFIX} seq={self.seq} at={at} head={self.head} key={self.key_id}"

    @property
    def message(self) -> bytes:
        return self.unsigned_line.encode("ascii")

    @property
    def line(self) -> str:
        return f"{self.unsigned_line} sig={self.signature}"

    @classmethod
    def of_row(cls, row: RegisterCheckpointRow) -> Checkpoint:
        return cls(row.seq, row.at, row.hash, row.key_id, row.signature)


@dataclass(frozen=True)
class BadLine:
    source: str


def parse_lines(lines: Iterable[str], name: str) -> tuple[list[Checkpoint], list[BadLine]]:
    """Checkpoint lines from a file or a report; blank lines and ``#`` comments are
    skipped, any other line that is not a checkpoint is reported (an edited file)."""
    found: list[Checkpoint] = []
    bad: list[BadLine] = []
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        match = _LINE.match(text)
        at = _parse_at(match.group("at")) if match else None
        if match is None or at is None:
            bad.append(BadLine(f"{name} line {number}"))
            continue
        found.append(
            Checkpoint(
                seq=int(match.group("seq")),
                at=at,
                head=match.group("head"),
                key_id=match.group("key"),
                signature=match.group("sig"),
                source=f"{name} line {number}",
            )
        )
    return found, bad


def _parse_at(text: str) -> dt.datetime | None:
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text):
        return None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def read_file(path: Path) -> tuple[list[Checkpoint], list[BadLine]]:
    with path.open(encoding="utf-8", errors="replace") as handle:
        return parse_lines(handle, str(path))


def latest(session: Session) -> Checkpoint | None:
    row = session.scalars(
        select(RegisterCheckpointRow).order_by(RegisterCheckpointRow.id.desc()).limit(1)
    ).first()
    return Checkpoint.of_row(row) if row is not None else None


@dataclass(frozen=True)
class Coverage:
    """How far the newest checkpoint reaches: what a report prints, read without signing."""

    checkpoint: Checkpoint | None
    #: entries in the register now
    entries: int

    @property
    def uncovered(self) -> int:
        """Entries after the newest checkpoint (all of them when there is none)."""
        return self.entries - (self.checkpoint.seq if self.checkpoint is not None else 0)


def coverage(session: Session) -> Coverage:
    entries = session.scalar(select(func.max(RegisterEntryRow.seq))) or 0
    return Coverage(latest(session), entries)


class NotCheckpointed(RuntimeError):
    """The chain since the last checkpoint does not verify: signing it would launder it."""


def checkpoint(
    sessions: sessionmaker[Session], signer: Signer, file: Path | None, now: dt.datetime
) -> Checkpoint | None:
    """Sign the committed head, unless the latest checkpoint already covers it; returns
    the checkpoint covering the head (None for an empty register)."""
    # Imported here: register imports this module for verification.
    from vidaudit.review.register import verify_since

    with sessions.begin() as session:
        last = session.scalars(
            select(RegisterEntryRow).order_by(RegisterEntryRow.seq.desc()).limit(1)
        ).first()
        if last is None:
            return None
        previous = latest(session)
        if previous is not None and previous.seq == last.seq and previous.head == last.hash:
            return previous
        problems = verify_since(session, previous, signer)
        if problems:
            raise NotCheckpointed("; ".join(str(p) for p in problems[:5]))
        new = Checkpoint(
            seq=last.seq,
            at=now.replace(microsecond=0),
            head=last.hash,
            key_id=signer.key_id,
            signature="",
        )
        new = Checkpoint(new.seq, new.at, new.head, new.key_id, signer.sign(new.message))
        session.add(
            RegisterCheckpointRow(
                seq=new.seq, at=new.at, hash=new.head, key_id=new.key_id, signature=new.signature
            )
        )
    # After the commit: a line for a checkpoint that was rolled back would be a false alarm.
    if file is not None:
        try:
            append_private(file, new.line)
        except OSError as exc:
            log.error("register checkpoint not written to %s: %s", file, exc)
    return new


class Outcome(StrEnum):
    """What asking for a checkpoint came to (the page says which)."""

    SIGNED = "signed"  # the head is covered: newly signed, or already
    EMPTY = "empty"  # nothing to sign yet
    NO_KEY = "no_key"  # no usable register key: nothing can be signed
    BROKEN = "broken"  # the chain since the last checkpoint does not verify: refused


def checkpoint_now(
    sessions: sessionmaker[Session], source: SignerSource, file: Path | None, now: dt.datetime
) -> Outcome:
    """A checkpoint a person asked for (the weekly report's button)."""
    signer = source.get()
    if signer is None:
        return Outcome.NO_KEY
    try:
        made = checkpoint(sessions, signer, file, now)
    except NotCheckpointed as exc:
        log.error("register checkpoint refused, the chain does not verify: %s", exc)
        return Outcome.BROKEN
    return Outcome.SIGNED if made is not None else Outcome.EMPTY


async def checkpoint_every(
    sessions: sessionmaker[Session],
    source: SignerSource,
    file: Path | None,
    minutes: float,
    clock: Callable[[], dt.datetime],
) -> None:
    """Run in the web server: sign a checkpoint every ``minutes`` while the head moves
    (an unmoved head needs none: the last checkpoint still covers it).  Problems are
    logged, never raised: the server keeps serving, and ``register verify`` names them."""
    while True:
        await asyncio.sleep(minutes * 60)
        signer = source.get()
        if signer is None:
            continue
        try:
            await asyncio.to_thread(checkpoint, sessions, signer, file, clock())
        except NotCheckpointed as exc:
            log.error("register checkpoint refused, the chain does not verify: %s", exc)
        except SQLAlchemyError as exc:
            log.error("register checkpoint failed: %s", exc)
