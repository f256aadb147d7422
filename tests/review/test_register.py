"""The review register: append-only, hash-chained, signed, tamper-evident, safe under
concurrency.  The tamper suite plays an insider with write access to the database (who
can drop the triggers) but not the register's private key, nor the auditor's copy of the
checkpoints; every tampering must be named by ``verify``."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.migrate import upgrade
from vidaudit.db.models import RegisterEntryRow
from vidaudit.review.checkpoints import Checkpoint, checkpoint, parse_lines, read_file
from vidaudit.review.register import (
    GENESIS,
    Entry,
    append,
    chain_hash,
    register_info,
    verify,
)
from vidaudit.review.signing import PublicKeys, Signer, SignerSource
from vidaudit.settings import Settings

T0 = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)


def entry(n: int) -> Entry:
    return Entry(
        actor=f"reviewer{n}",
        actor_role="administrator",
        action="frame_pull",
        reason="每周调阅检查",
        branch_id="FY001",
        channel_id="FY001-C01",
        range_start=T0 + dt.timedelta(minutes=n),
        range_end=T0 + dt.timedelta(minutes=n + 1),
        details={"frames": n, "note": "柜台"},
    )


@dataclass
class Register:
    engine: Engine
    sessions: sessionmaker[Session]
    signer: Signer
    keys: PublicKeys
    #: the auditor's copy of the checkpoints file
    kept_file: Path

    def kept(self) -> list[Checkpoint]:
        return read_file(self.kept_file)[0] if self.kept_file.exists() else []

    def verify(self, kept: bool = True) -> list[str]:
        with self.sessions() as s:
            return [p.code for p in verify(s, self.keys, self.kept() if kept else []).findings]

    def sql(self, *statements: str, **params: object) -> None:
        with self.engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement), params)


def make_register(db_url: str, tmp_path: Path, count: int = 6) -> Register:
    engine = make_engine(Settings(), db_url)
    upgrade(engine)
    signer = Signer.of(Ed25519PrivateKey.generate(), "test")
    sessions = make_sessionmaker(engine, register_info(SignerSource.fixed(signer)))
    reg = Register(engine, sessions, signer, PublicKeys([signer.public]), tmp_path / "kept.txt")
    add(reg, range(count))
    return reg


def add(reg: Register, numbers: range, *, checkpointed: bool = True) -> None:
    for n in numbers:
        with reg.sessions.begin() as s:
            append(s, entry(n), T0 + dt.timedelta(seconds=n))
    if checkpointed and numbers:
        checkpoint(reg.sessions, reg.signer, reg.kept_file, T0 + dt.timedelta(hours=1))


@pytest.fixture
def reg(db_url: str, tmp_path: Path) -> Register:
    return make_register(db_url, tmp_path)


def drop_guards(reg: Register) -> None:
    """What someone with database access does first to get around the triggers."""
    with reg.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            names = conn.execute(text("SELECT name FROM sqlite_master WHERE type='trigger'"))
            for (name,) in list(names):
                conn.execute(text(f"DROP TRIGGER {name}"))
        else:
            for table in ("register_entries", "register_head", "register_checkpoints"):
                conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))


def rechain(reg: Register, first: int, signer: Signer | None = None) -> None:
    """Recompute every hash from entry ``first`` on (and the head), as an insider would
    after editing a row; with ``signer`` (an attacker's own key) re-sign them too."""
    with reg.sessions() as s:
        rows = list(s.scalars(select(RegisterEntryRow).order_by(RegisterEntryRow.seq)))
    prev = GENESIS
    with reg.engine.begin() as conn:
        for row in rows:
            if row.seq >= first:
                e = Entry(
                    row.actor,
                    row.actor_role,
                    row.action,
                    row.reason,
                    row.branch_id,
                    row.channel_id,
                    row.range_start,
                    row.range_end,
                    row.details,
                )
                digest = chain_hash(prev, row.seq, row.at, e)
                values = {"seq": row.seq, "prev": prev, "hash": digest, "sig": row.signature}
                values["key"] = row.key_id
                if signer is not None:
                    values["sig"], values["key"] = signer.sign_entry(digest), signer.key_id
                conn.execute(
                    text(
                        "UPDATE register_entries SET prev_hash = :prev, hash = :hash, "
                        "signature = :sig, key_id = :key WHERE seq = :seq"
                    ),
                    values,
                )
                row.hash = digest
            prev = row.hash
        conn.execute(
            text("UPDATE register_head SET seq = :seq, hash = :hash"),
            {"seq": rows[-1].seq if rows else 0, "hash": prev},
        )


def test_appended_chain_is_signed_and_verifies(reg: Register) -> None:
    assert reg.verify() == []
    with reg.sessions() as s:
        report = verify(s, reg.keys, reg.kept())
        rows = list(s.scalars(select(RegisterEntryRow)))
    assert report.ok and report.entries == 6 and report.signatures_checked
    assert report.checkpoints == 2  # the database's and the kept file's copy
    assert all(r.signature and r.key_id == reg.signer.key_id for r in rows)


def test_a_verify_with_only_the_public_key_works(reg: Register) -> None:
    public_only = PublicKeys([Ed25519PrivateKey.generate().public_key(), reg.signer.public])
    with reg.sessions() as s:
        assert verify(s, public_only, reg.kept()).ok
    other = PublicKeys([Ed25519PrivateKey.generate().public_key()])
    with reg.sessions() as s:
        codes = {p.code for p in verify(s, other, reg.kept()).findings}
    assert codes == {"unknown_key", "checkpoint_unknown_key"}


# -- what the database itself refuses, triggers in place -------------------------------


def _refusals(dialect: str) -> list[str]:
    upsert_entry = (
        "INSERT OR REPLACE INTO register_entries SELECT * FROM register_entries WHERE seq = 2"
        if dialect == "sqlite"
        else "INSERT INTO register_entries SELECT * FROM register_entries WHERE seq = 2 "
        "ON CONFLICT (seq) DO UPDATE SET reason = 'x'"
    )
    replace_head = (
        "INSERT OR REPLACE INTO register_head (id, seq, hash) VALUES (1, 0, '" + GENESIS + "')"
        if dialect == "sqlite"
        else "INSERT INTO register_head (id, seq, hash) VALUES (1, 0, '"
        + GENESIS
        + "') ON CONFLICT (id) DO UPDATE SET seq = 0"
    )
    refusals = [
        "UPDATE register_entries SET reason = 'x' WHERE seq = 1",
        "DELETE FROM register_entries WHERE seq = 6",
        "DELETE FROM register_entries",
        upsert_entry,
        # a new row whose hash collides with entry 3's: REPLACE would delete entry 3
        "INSERT OR REPLACE INTO register_entries (seq, at, actor, actor_role, action, reason, "
        "details, prev_hash, hash) SELECT 7, at, actor, actor_role, action, reason, details, "
        "(SELECT hash FROM register_entries WHERE seq = 6), hash FROM register_entries "
        "WHERE seq = 3"
        if dialect == "sqlite"
        else "SELECT 1 WHERE false",
        # an entry that does not continue the chain (a gap, or a wrong predecessor)
        "INSERT INTO register_entries (seq, at, actor, actor_role, action, reason, details, "
        "prev_hash, hash) SELECT 9, at, actor, actor_role, action, reason, details, "
        "prev_hash, 'f' || substr(hash, 2) FROM register_entries WHERE seq = 6",
        "INSERT INTO register_entries (seq, at, actor, actor_role, action, reason, details, "
        f"prev_hash, hash) SELECT 7, at, actor, actor_role, action, reason, details, "
        f"'{GENESIS}', 'e' || substr(hash, 2) FROM register_entries WHERE seq = 6",
        "UPDATE register_head SET seq = 3",
        f"UPDATE register_head SET seq = 0, hash = '{GENESIS}'",
        "UPDATE register_head SET hash = (SELECT hash FROM register_entries WHERE seq = 2)",
        "DELETE FROM register_head",
        replace_head,
        "UPDATE register_checkpoints SET seq = 1",
        "DELETE FROM register_checkpoints",
    ]
    if dialect == "sqlite":
        refusals.append(
            "INSERT OR REPLACE INTO register_checkpoints SELECT * FROM register_checkpoints"
        )
    else:
        refusals += [
            f"TRUNCATE {table} CASCADE"
            for table in ("register_entries", "register_head", "register_checkpoints")
        ]
    return [r for r in refusals if r != "SELECT 1 WHERE false"]


def test_database_refuses_update_delete_replace_and_rewinds(reg: Register) -> None:
    refusals = _refusals(reg.engine.dialect.name)
    assert len(refusals) >= 14
    for sql in refusals:
        with pytest.raises(DBAPIError, match="append-only"), reg.engine.begin() as conn:
            conn.execute(text(sql))
    assert reg.verify() == []


def test_sqlite_replace_is_refused_even_with_recursive_triggers_off(tmp_path: Path) -> None:
    """The pen test's case: REPLACE deletes the old row without firing delete triggers."""
    reg = make_register(f"sqlite:///{tmp_path / 'r.db'}", tmp_path)
    with reg.engine.begin() as conn:
        assert conn.execute(text("PRAGMA recursive_triggers")).scalar() == 0
        with pytest.raises(DBAPIError, match="append-only"):
            conn.execute(
                text(
                    "INSERT OR REPLACE INTO register_entries (seq, at, actor, actor_role, "
                    "action, reason, details, prev_hash, hash) SELECT seq, at, 'someone', "
                    "actor_role, action, '私人原因', details, prev_hash, hash "
                    "FROM register_entries WHERE seq = 3"
                )
            )


# -- the tamper suite: what an insider does around the triggers, and what verify says --

Tamper = Callable[[Register], None]


def alter_middle(reg: Register) -> None:
    reg.sql("UPDATE register_entries SET reason = '私人原因' WHERE seq = 3")


def alter_middle_and_recompute(reg: Register) -> None:
    alter_middle(reg)
    rechain(reg, 3)


def alter_time(reg: Register) -> None:
    reg.sql("UPDATE register_entries SET at = range_start WHERE seq = 2")


def alter_details_and_recompute(reg: Register) -> None:
    if reg.engine.dialect.name == "sqlite":
        reg.sql("UPDATE register_entries SET details = '{\"frames\": 99}' WHERE seq = 4")
    else:
        reg.sql("UPDATE register_entries SET details = '{\"frames\": 99}'::json WHERE seq = 4")
    rechain(reg, 4)


def delete_middle(reg: Register) -> None:
    reg.sql("DELETE FROM register_entries WHERE seq = 2")


def delete_middle_and_renumber(reg: Register) -> None:
    reg.sql("DELETE FROM register_entries WHERE seq = 2")
    for seq in range(3, 7):
        reg.sql("UPDATE register_entries SET seq = :new WHERE seq = :old", new=seq - 1, old=seq)
    rechain(reg, 2)


def delete_tail_move_head(reg: Register) -> None:
    reg.sql(
        "DELETE FROM register_entries WHERE seq >= 4",
        "UPDATE register_head SET seq = 3, hash = (SELECT hash FROM register_entries "
        "WHERE seq = 3)",
        "DELETE FROM register_checkpoints",
    )


def empty_table_zero_head(reg: Register) -> None:
    reg.sql(
        "DELETE FROM register_entries",
        f"UPDATE register_head SET seq = 0, hash = '{GENESIS}'",
        "DELETE FROM register_checkpoints",
    )


def delete_tail_only(reg: Register) -> None:
    reg.sql("DELETE FROM register_entries WHERE seq >= 5")


def forge_unsigned_entry(reg: Register) -> None:
    with reg.sessions() as s:
        last = s.get(RegisterEntryRow, 6)
        assert last is not None
        digest = chain_hash(last.hash, 7, T0, entry(7))
    reg.sql(
        "INSERT INTO register_entries (seq, at, actor, actor_role, action, reason, details, "
        "prev_hash, hash, branch_id, channel_id) SELECT 7, at, actor, actor_role, action, "
        "reason, details, hash, :digest, branch_id, channel_id FROM register_entries "
        "WHERE seq = 6",
        "UPDATE register_head SET seq = 7, hash = :digest",
        digest=digest,
    )
    rechain(reg, 7)  # make its hash honest: only the signature is missing


def forge_with_own_key(reg: Register) -> None:
    forge_unsigned_entry(reg)
    rechain(reg, 7, Signer.of(Ed25519PrivateKey.generate(), "attacker"))


def swap_signatures(reg: Register) -> None:
    with reg.sessions() as s:
        a, b = s.get(RegisterEntryRow, 2), s.get(RegisterEntryRow, 3)
        assert a is not None and b is not None
        sig_a, sig_b = a.signature, b.signature
    reg.sql("UPDATE register_entries SET signature = :s WHERE seq = 2", s=sig_b)
    reg.sql("UPDATE register_entries SET signature = :s WHERE seq = 3", s=sig_a)


def strip_signatures_after_rewrite(reg: Register) -> None:
    alter_middle(reg)
    rechain(reg, 3)
    reg.sql("UPDATE register_entries SET signature = NULL, key_id = NULL WHERE seq >= 3")


def rewrite_everything_with_own_key(reg: Register) -> None:
    """Re-sign the whole chain and a fresh checkpoint with the insider's own key."""
    attacker = Signer.of(Ed25519PrivateKey.generate(), "attacker")
    alter_middle(reg)
    reg.sql("DELETE FROM register_checkpoints")
    rechain(reg, 1, attacker)
    with reg.sessions() as s:
        last = s.get(RegisterEntryRow, 6)
        assert last is not None
        cp = Checkpoint(6, T0, last.hash, attacker.key_id, "")
        sig = attacker.sign(cp.message)
    reg.sql(
        "INSERT INTO register_checkpoints (seq, hash, at, key_id, signature) "
        "VALUES (6, :h, :at, :k, :s)",
        h=cp.head,
        at=T0.replace(tzinfo=None) if reg.engine.dialect.name == "sqlite" else T0,
        k=attacker.key_id,
        s=sig,
    )


def forge_database_checkpoint(reg: Register) -> None:
    reg.sql(
        "INSERT INTO register_checkpoints (seq, hash, at, key_id, signature) "
        "SELECT seq, hash, at, key_id, signature FROM register_checkpoints",
        "UPDATE register_checkpoints SET seq = 3, hash = (SELECT hash FROM register_entries "
        "WHERE seq = 3) WHERE id = 2",
    )


def edit_kept_checkpoint_file(reg: Register) -> None:
    lines = reg.kept_file.read_text().splitlines()
    cp = parse_lines(lines, "kept")[0][0]
    with reg.sessions() as s:
        third = s.get(RegisterEntryRow, 3)
        assert third is not None
    forged = Checkpoint(3, cp.at, third.hash, cp.key_id, cp.signature)
    reg.kept_file.write_text(forged.line + "\n")


def head_advanced_without_entry(reg: Register) -> None:
    reg.sql("UPDATE register_head SET seq = seq + 1")


TAMPERINGS: dict[str, tuple[Tamper, set[str]]] = {
    "alter a middle row": (alter_middle, {"altered"}),
    "alter a middle row, recompute the rest": (
        alter_middle_and_recompute,
        {"bad_signature", "checkpoint_rewritten"},
    ),
    "alter an entry's time": (alter_time, {"altered"}),
    "alter details, recompute the rest": (
        alter_details_and_recompute,
        {"bad_signature", "checkpoint_rewritten"},
    ),
    "delete a middle row": (delete_middle, {"missing", "broken_link"}),
    "delete a middle row, renumber, recompute": (
        delete_middle_and_renumber,
        {"bad_signature", "truncated"},
    ),
    "delete the tail, move the head back": (delete_tail_move_head, {"truncated"}),
    "empty the table, zero the head": (empty_table_zero_head, {"truncated"}),
    "delete the tail only": (delete_tail_only, {"head_mismatch", "truncated"}),
    "append an unsigned entry": (forge_unsigned_entry, {"unsigned"}),
    "append an entry signed with another key": (forge_with_own_key, {"unknown_key"}),
    "swap two signatures": (swap_signatures, {"bad_signature"}),
    "rewrite, strip the signatures": (
        strip_signatures_after_rewrite,
        {"unsigned", "checkpoint_rewritten"},
    ),
    "rewrite and re-sign everything with another key": (
        rewrite_everything_with_own_key,
        {"unknown_key", "checkpoint_unknown_key", "checkpoint_rewritten"},
    ),
    "forge a checkpoint in the database": (forge_database_checkpoint, {"checkpoint_bad_signature"}),
    "edit the kept checkpoint file": (edit_kept_checkpoint_file, {"checkpoint_bad_signature"}),
    "advance the head without an entry": (head_advanced_without_entry, {"head_mismatch"}),
}


@pytest.mark.parametrize("name", list(TAMPERINGS))
def test_every_tampering_is_detected(reg: Register, name: str) -> None:
    tamper, expected = TAMPERINGS[name]
    assert reg.verify() == []
    drop_guards(reg)
    tamper(reg)
    found = set(reg.verify())
    assert expected <= found, (name, found)


def test_tail_deletion_needs_the_kept_checkpoints_to_be_seen(reg: Register) -> None:
    """Why checkpoints live outside the database: with the database's own copy deleted,
    only the auditor's file shows that entries 4-6 ever existed."""
    drop_guards(reg)
    delete_tail_move_head(reg)
    assert reg.verify(kept=False) == []
    assert reg.verify(kept=True) == ["truncated"]


def test_checkpoint_is_not_signed_over_a_tampered_chain(reg: Register) -> None:
    from vidaudit.review.checkpoints import NotCheckpointed

    add(reg, range(6, 8), checkpointed=False)
    drop_guards(reg)
    reg.sql("UPDATE register_entries SET reason = '改' WHERE seq = 7")
    rechain(reg, 7)
    with pytest.raises(NotCheckpointed, match="signature does not match"):
        checkpoint(reg.sessions, reg.signer, reg.kept_file, T0 + dt.timedelta(hours=2))


def test_checkpoint_repeats_nothing_while_the_head_stands(reg: Register) -> None:
    before = reg.kept_file.read_text()
    again = checkpoint(reg.sessions, reg.signer, reg.kept_file, T0 + dt.timedelta(hours=3))
    assert again is not None and again.seq == 6
    assert reg.kept_file.read_text() == before
    add(reg, range(6, 7))
    assert len(reg.kept()) == 2 and reg.kept()[-1].seq == 7
    assert reg.kept_file.stat().st_mode & 0o777 == 0o600


def test_unsigned_entries_are_adopted_by_the_first_checkpoint_only(
    db_url: str, tmp_path: Path
) -> None:
    """Entries written before the bank made its key: the first checkpoint vouches for them
    (the chain links them); after it, an unsigned entry is refused a checkpoint."""
    reg = make_register(db_url, tmp_path, count=0)
    plain = make_sessionmaker(reg.engine)
    for n in range(3):
        with plain.begin() as s:
            append(s, entry(n), T0)
    assert reg.verify() == ["unsigned"]
    checkpoint(reg.sessions, reg.signer, reg.kept_file, T0)
    assert reg.verify() == []
    with plain.begin() as s:
        append(s, entry(4), T0)
    assert reg.verify() == ["unsigned"]
    from vidaudit.review.checkpoints import NotCheckpointed

    with pytest.raises(NotCheckpointed):
        checkpoint(reg.sessions, reg.signer, reg.kept_file, T0)


def test_twenty_concurrent_appends_lose_nothing(db_url: str, tmp_path: Path) -> None:
    reg = make_register(db_url, tmp_path, count=0)
    errors: list[BaseException] = []
    barrier = threading.Barrier(20)

    def worker(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            with reg.sessions.begin() as s:
                append(s, entry(n), dt.datetime.now(dt.UTC))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with reg.sessions() as s:
        report = verify(s, reg.keys)
    assert report.ok and report.entries == 20


def test_naive_time_refused(db_url: str, tmp_path: Path) -> None:
    reg = make_register(db_url, tmp_path, count=0)
    with reg.sessions.begin() as s, pytest.raises(ValueError, match="aware"):
        append(s, entry(1), dt.datetime(2026, 1, 1))
