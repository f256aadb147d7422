"""Verified retention (R1): auditors trust footage they can see, not a summary field.

For each channel a frame is pulled from ``now − required days`` (plus a little slack so a
recorder that keeps exactly the required days passes) and kept as evidence.  A frame at
that instant proves the channel held its required days at check time; no footage there
(the replay server answers with no footage or a frame hours away) proves it did not.
The collector turns the latest proof into ``verified_earliest``
(``vidaudit.collector.verified.verified_for``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from vidaudit.db.models import RetentionCheckRow
from vidaudit.evidence.store import EvidenceStore
from vidaudit.inventory.load import SecretResolver
from vidaudit.inventory.schema import Branch, Channel, Device, Inventory
from vidaudit.onvif.settings import OnvifSettings
from vidaudit.sampler.gb_settings import GbPullSettings
from vidaudit.sampler.pull import PullError, PullRequest, pull_frames

#: Asked this much later than exactly ``required days`` ago: a recorder keeping exactly
#: the required days overwrites its oldest minutes continuously.
SLACK = dt.timedelta(minutes=30)


@dataclass(frozen=True)
class RetentionCheck:
    channel_id: str
    required_days: int
    requested: dt.datetime
    actual: dt.datetime | None
    ok: bool
    error: str | None


async def verify_channels(
    targets: Iterable[tuple[Branch, Device, Channel]],
    inventory: Inventory,
    *,
    sessions: sessionmaker[Session],
    store: EvidenceStore,
    resolver: SecretResolver,
    onvif_settings: OnvifSettings,
    now: dt.datetime,
    actor: str = "vidaudit",
    gb: GbPullSettings | None = None,
) -> list[RetentionCheck]:
    checks = []
    for branch, device, channel in targets:
        required = inventory.required_days(channel)
        instant = now - dt.timedelta(days=required) + SLACK
        request = PullRequest(
            branch,
            device,
            channel,
            [instant],
            reason=f"留存核验 retention check: {required} days (R1)",
            actor=actor,
            actor_role="system",
        )
        try:
            outcome = await pull_frames(
                request,
                sessions=sessions,
                store=store,
                resolver=resolver,
                onvif_settings=onvif_settings,
                now=now,
                gb=gb,
            )
        except PullError as exc:
            check = RetentionCheck(channel.id, required, instant, None, False, str(exc))
            _save(sessions, check, now, None, None)
        else:
            frame = outcome.frames[0]
            check = RetentionCheck(channel.id, required, instant, frame.actual, True, None)
            _save(sessions, check, now, frame.sha256, outcome.register_seq)
        checks.append(check)
    return checks


def _save(
    sessions: sessionmaker[Session],
    check: RetentionCheck,
    now: dt.datetime,
    sha256: str | None,
    register_seq: int | None,
) -> None:
    with sessions.begin() as session:
        session.add(
            RetentionCheckRow(
                channel_id=check.channel_id,
                checked_at=now,
                required_days=check.required_days,
                requested=check.requested,
                actual=check.actual,
                ok=check.ok,
                evidence_sha256=sha256,
                register_seq=register_seq,
                error=check.error,
            )
        )
