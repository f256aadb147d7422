"""The review register (D4): who viewed which channel's footage, when, over what range, why.

Append-only, hash-chained and signed:

- each entry's hash covers its predecessor's hash, its sequence number and its canonical
  content, so altering, inserting or deleting an entry breaks the chain from there on;
- each entry's hash is signed with the register's Ed25519 key (``signing.py``), which
  lives outside the database: someone who can write to the database can still recompute
  the hashes after an edit, but cannot sign them;
- signed checkpoints of the head (``checkpoints.py``), also kept outside the database,
  catch the one thing signatures cannot: deleting the newest entries, or all of them;
- database triggers refuse UPDATE, DELETE and REPLACE of entries, checkpoints and the
  head, and any INSERT that does not continue the chain (migrations 0003 and 0008).

The signer comes from the session: ``make_sessionmaker(engine, info=register_info(...))``
puts a ``SignerSource`` in ``session.info``, so callers append without knowing about keys
(and a key made while a server runs is used from its next append on).  Without a
key, entries are stored unsigned and ``verify`` names them until a signed checkpoint
covers them.

Hand-written because it is a few lines of hashlib over our own rows; an audit-log
library would bring its own storage model.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from vidaudit.db.engine import make_sessionmaker
from vidaudit.db.models import RegisterCheckpointRow, RegisterEntryRow, RegisterHeadRow
from vidaudit.review.checkpoints import Checkpoint
from vidaudit.review.signing import PublicKeys, Signer, SignerSource
from vidaudit.settings import Settings

GENESIS = "0" * 64
#: ``session.info`` key of the register's ``SignerSource`` (absent: entries are unsigned)
SIGNER_INFO = "vidaudit.register_signer"


@dataclass(frozen=True)
class Entry:
    actor: str
    actor_role: str
    action: str
    reason: str
    branch_id: str | None = None
    channel_id: str | None = None
    range_start: dt.datetime | None = None
    range_end: dt.datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _utc(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def canonical(seq: int, at: dt.datetime, entry: Entry) -> bytes:
    """The exact bytes hashed for an entry: sorted-key JSON, UTC times to the microsecond."""
    document = {
        "seq": seq,
        "at": _utc(at),
        "actor": entry.actor,
        "actor_role": entry.actor_role,
        "action": entry.action,
        "reason": entry.reason,
        "branch_id": entry.branch_id,
        "channel_id": entry.channel_id,
        "range_start": _utc(entry.range_start),
        "range_end": _utc(entry.range_end),
        "details": entry.details,
    }
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def chain_hash(prev_hash: str, seq: int, at: dt.datetime, entry: Entry) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical(seq, at, entry)).hexdigest()


def register_info(source: SignerSource) -> dict[str, Any]:
    """``session.info`` for sessions that may append to the register."""
    return {SIGNER_INFO: source}


def append(session: Session, entry: Entry, at: dt.datetime) -> RegisterEntryRow:
    """Append in the caller's transaction; concurrent appends are serialised by the head."""
    if at.tzinfo is None:
        raise ValueError("register times must be aware")
    source = session.info.get(SIGNER_INFO)
    signer = source.get() if source is not None else None
    # Advance the head first: the UPDATE takes the write lock (SQLite) or the row lock
    # (PostgreSQL) before we read the predecessor, so no two appends share one.  The
    # head's trigger allows exactly this step and the seal below, nothing else.
    seq, prev_hash = session.execute(
        update(RegisterHeadRow)
        .where(RegisterHeadRow.id == 1)
        .values(seq=RegisterHeadRow.seq + 1)
        .returning(RegisterHeadRow.seq, RegisterHeadRow.hash)
    ).one()
    digest = chain_hash(prev_hash, seq, at, entry)
    row = RegisterEntryRow(
        seq=seq,
        at=at,
        actor=entry.actor,
        actor_role=entry.actor_role,
        action=entry.action,
        branch_id=entry.branch_id,
        channel_id=entry.channel_id,
        range_start=entry.range_start,
        range_end=entry.range_end,
        reason=entry.reason,
        details=entry.details,
        prev_hash=prev_hash,
        hash=digest,
        key_id=signer.key_id if signer is not None else None,
        signature=signer.sign_entry(digest) if signer is not None else None,
    )
    session.add(row)
    session.flush()
    session.execute(update(RegisterHeadRow).where(RegisterHeadRow.id == 1).values(hash=digest))
    return row


def _entry_of(row: RegisterEntryRow) -> Entry:
    return Entry(
        actor=row.actor,
        actor_role=row.actor_role,
        action=row.action,
        reason=row.reason,
        branch_id=row.branch_id,
        channel_id=row.channel_id,
        range_start=row.range_start,
        range_end=row.range_end,
        details=row.details,
    )


@dataclass(frozen=True)
class Problem:
    """One thing verification found: ``code`` is the catalogue key's last part
    (``register.problem.<code>``), ``values`` its placeholders."""

    code: str
    values: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return PROBLEM_TEXT[self.code].format_map(self.values)


#: English wording for logs and tests; people read the catalogues' (zh and en).
PROBLEM_TEXT = {
    "missing": "entries {first}..{last} are missing (deleted)",
    "duplicate": "entry {seq} appears twice",
    "broken_link": "entry {seq}: does not follow its predecessor's hash",
    "altered": "entry {seq}: content does not match its hash (altered)",
    "bad_signature": "entry {seq}: its signature does not match (altered or forged)",
    "unknown_key": "entry {seq}: signed by key {key_id}, which is not among the public keys given",
    "unsigned": "entries {first}..{last} are not signed and no signed checkpoint covers them",
    "head_missing": "the register head is missing",
    "head_mismatch": "the head says {head_seq} entries ending {head_hash}…, the table ends "
    "at {seq} ({hash}…): entries were deleted from the end",
    "checkpoint_bad_signature": "checkpoint of entry {seq} ({at}, {source}): its signature "
    "does not match (forged or altered)",
    "checkpoint_unknown_key": "checkpoint of entry {seq} ({at}, {source}): signed by key "
    "{key_id}, which is not among the public keys given",
    "checkpoint_rewritten": "checkpoint of {at} ({source}) vouches for entry {seq} ending "
    "{expected}…, the register has {actual}…: entries up to it were rewritten",
    "checkpoint_gone": "checkpoint of {at} ({source}) vouches for entry {seq}, which is no "
    "longer in the register",
    "truncated": "checkpoint of {at} ({source}) vouches for {seq} entries, the register ends "
    "at {last}: entries were deleted from the end",
    "bad_line": "{source}: not a checkpoint line (the file was edited)",
    "no_public_key": "no public key to check signatures with: give --public-key FILE",
}


@dataclass
class Verification:
    entries: int = 0
    head_hash: str = GENESIS
    findings: list[Problem] = field(default_factory=list)
    #: checkpoints compared against the chain (database and kept files)
    checkpoints: int = 0
    #: whether signatures were checked (a public key was given)
    signatures_checked: bool = False

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def problems(self) -> list[str]:
        return [str(p) for p in self.findings]

    def add(self, code: str, **values: Any) -> None:
        self.findings.append(Problem(code, values))


def _at(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _ranges(seqs: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for seq in seqs:
        if out and out[-1][1] == seq - 1:
            out[-1] = (out[-1][0], seq)
        else:
            out.append((seq, seq))
    return out


def database_checkpoints(session: Session) -> list[Checkpoint]:
    rows = session.scalars(select(RegisterCheckpointRow).order_by(RegisterCheckpointRow.id))
    return [Checkpoint.of_row(row) for row in rows]


def verify(
    session: Session,
    keys: PublicKeys | None = None,
    kept: Iterable[Checkpoint] = (),
    *,
    batch: int = 1000,
) -> Verification:
    """Recompute the whole chain; with ``keys`` check every signature; compare it with
    every checkpoint (the database's and ``kept``, the copies an auditor holds).

    Names the first entry of every break.  Without keys the signatures are not checked
    (the result says so: ``signatures_checked``)."""
    result = Verification(signatures_checked=bool(keys))
    checkpoints = _checked_checkpoints([*database_checkpoints(session), *kept], keys, result)
    wanted: dict[int, list[Checkpoint]] = {}
    for cp in checkpoints:
        wanted.setdefault(cp.seq, []).append(cp)
    result.checkpoints = len(checkpoints)
    expected_seq, prev = 1, GENESIS
    unsigned: list[int] = []
    rows = session.scalars(
        select(RegisterEntryRow).order_by(RegisterEntryRow.seq).execution_options(yield_per=batch)
    )
    for row in rows:
        _check_row(row, expected_seq, prev, keys, unsigned, result)
        for cp in wanted.pop(row.seq, []):
            if cp.head != row.hash:
                result.add(
                    "checkpoint_rewritten",
                    at=_at(cp.at),
                    source=cp.source,
                    seq=cp.seq,
                    expected=cp.head[:12],
                    actual=row.hash[:12],
                )
            else:
                # a valid checkpoint vouches for every entry up to it, signed or not
                unsigned.clear()
        result.entries += 1
        expected_seq, prev = row.seq + 1, row.hash
    last = expected_seq - 1
    for seq, cps in sorted(wanted.items()):
        for cp in cps:
            if seq > last:
                result.add("truncated", at=_at(cp.at), source=cp.source, seq=seq, last=last)
            else:
                result.add("checkpoint_gone", at=_at(cp.at), source=cp.source, seq=seq)
    if keys:
        for first, end in _ranges(unsigned):
            result.add("unsigned", first=first, last=end)
    head = session.get(RegisterHeadRow, 1)
    if head is None:
        result.add("head_missing")
    elif head.seq != last or head.hash != prev:
        result.add(
            "head_mismatch", head_seq=head.seq, head_hash=head.hash[:12], seq=last, hash=prev[:12]
        )
    result.head_hash = prev
    return result


def _checked_checkpoints(
    checkpoints: list[Checkpoint], keys: PublicKeys | None, result: Verification
) -> list[Checkpoint]:
    """The checkpoints whose signature holds (all of them when no key is given: they
    still show truncation, though not who made them)."""
    if not keys:
        return checkpoints
    valid = []
    for cp in checkpoints:
        why = keys.check(cp.key_id, cp.signature, cp.message)
        if why is None:
            valid.append(cp)
        elif why == "unknown_key":
            result.add(
                "checkpoint_unknown_key",
                seq=cp.seq,
                at=_at(cp.at),
                source=cp.source,
                key_id=cp.key_id,
            )
        else:
            result.add("checkpoint_bad_signature", seq=cp.seq, at=_at(cp.at), source=cp.source)
    return valid


def _check_row(
    row: RegisterEntryRow,
    expected_seq: int,
    prev: str,
    keys: PublicKeys | None,
    unsigned: list[int],
    result: Verification,
) -> None:
    if row.seq > expected_seq:
        result.add("missing", first=expected_seq, last=row.seq - 1)
    elif row.seq < expected_seq:
        result.add("duplicate", seq=row.seq)
    if row.prev_hash != prev:
        result.add("broken_link", seq=row.seq)
    if chain_hash(row.prev_hash, row.seq, row.at, _entry_of(row)) != row.hash:
        result.add("altered", seq=row.seq)
    if keys:
        why = keys.check_entry(row.key_id, row.signature, row.hash)
        if why == "unsigned":
            unsigned.append(row.seq)
        elif why == "unknown_key":
            result.add("unknown_key", seq=row.seq, key_id=row.key_id)
        elif why is not None:
            result.add("bad_signature", seq=row.seq)


def verify_since(session: Session, previous: Checkpoint | None, signer: Signer) -> list[Problem]:
    """Before signing a new checkpoint: the chain from the previous checkpoint on must
    hold (hashes, links, and signatures by this key); entries before it are vouched for
    by that checkpoint.  Without a previous checkpoint the whole chain is checked."""
    result = Verification()
    keys = PublicKeys([signer.public])
    expected_seq, prev = 1, GENESIS
    query = select(RegisterEntryRow).order_by(RegisterEntryRow.seq)
    if previous is not None:
        anchor = session.get(RegisterEntryRow, previous.seq)
        if anchor is None or anchor.hash != previous.head:
            result.add("checkpoint_gone", at=_at(previous.at), source="database", seq=previous.seq)
            return result.findings
        expected_seq, prev = previous.seq + 1, previous.head
        query = query.where(RegisterEntryRow.seq > previous.seq)
    unsigned: list[int] = []
    for row in session.scalars(query.execution_options(yield_per=1000)):
        # Entries written before a key existed are unsigned: the first checkpoint adopts
        # them (the chain links them); after that every entry must carry a signature.
        _check_row(row, expected_seq, prev, keys, unsigned, result)
        expected_seq, prev = row.seq + 1, row.hash
    if previous is not None:
        for first, end in _ranges(unsigned):
            result.add("unsigned", first=first, last=end)
    return result.findings


def signed_sessions(settings: Settings, engine: Engine) -> sessionmaker[Session]:
    """Sessions whose register appends are signed with the settings' key."""
    return make_sessionmaker(engine, register_info(SignerSource(settings)))
