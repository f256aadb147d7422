"""``vidaudit notify check|test|send|status``: the alerts' channels and their outbox.

* ``check``: the settings' [notify] section as loaded, and whether each channel's secret
  references resolve on this machine (exit 2 when one does not).
* ``test CHANNEL [--to ADDRESS]``: send a test message now, bypassing the outbox.
* ``send``: one sweep and drain (for cron, when neither ``serve`` nor ``collect --every``
  runs).
* ``status``: the latest alerts: sent, waiting for a retry, or failed and why.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from vidaudit import aio
from vidaudit.alerts.service import AlertService
from vidaudit.cli.support import USAGE_ERROR, alert_texts, err, fail, sessions_or_exit
from vidaudit.db.models import AlertOutboxRow
from vidaudit.errors import ConfigError
from vidaudit.inventory import InventoryError, load_inventory
from vidaudit.inventory.schema import Inventory
from vidaudit.notify.config import Channel, DingTalkChannel, EmailChannel, WebhookChannel
from vidaudit.notify.errors import SendError
from vidaudit.notify.message import Line, Message
from vidaudit.notify.secrets import resolve
from vidaudit.notify.send import new_http_session, send
from vidaudit.settings import Settings

notify_app = typer.Typer(help="Alerts: channels, test messages, the outbox.", no_args_is_help=True)
console = Console()


def _references(channel: Channel) -> list[str]:
    refs: list[str | None] = []
    if isinstance(channel, EmailChannel):
        refs = [channel.password]
    elif isinstance(channel, DingTalkChannel):
        refs = [channel.webhook, channel.secret]
    elif isinstance(channel, WebhookChannel):
        refs = [None if channel.url.startswith("http") else channel.url, channel.token]
    else:
        refs = [channel.webhook]
    return [r for r in refs if r]


@notify_app.command("check")
def notify_check() -> None:
    """List the channels, who each reaches, and check their secrets resolve here."""
    notify = Settings().notify
    if not notify.enabled:
        console.print("no channels in [notify]: alerts are off (see the README)")
        return
    table = Table(title=f"alerts link to {notify.base_url}", title_justify="left")
    for column in ("channel", "kind", "reaches", "language", "secrets"):
        table.add_column(column)
    problems: list[str] = []
    for name, channel in sorted(notify.channels.items()):
        state = []
        for reference in _references(channel):
            try:
                resolve(reference)
                state.append(f"{reference} ok")
            except ConfigError as exc:
                problems.append(f"channel {name}: {exc.message}")
                state.append("not resolved")
        reaches = ", ".join(
            r.role + (f"@{','.join(r.branches)}" if r.branches else "") for r in channel.reaches
        )
        table.add_row(name, channel.kind, reaches, channel.language, "; ".join(state) or "—")
    console.print(table)
    for event in (
        "device_offline",
        "disk_failed",
        "ticket_escalated",
        "approval_waiting",
        "rectification_overdue",
        "daily_check_missing",
        "weekly_report",
    ):
        roles = notify.recipients(event)
        console.print(
            f"  {event:22} -> {', '.join(sorted(roles)) if roles else 'off'}", highlight=False
        )
    for problem in problems:
        err.print(problem, markup=False, highlight=False)
    if problems:
        raise typer.Exit(USAGE_ERROR)


@notify_app.command("test")
def notify_test(
    channel: Annotated[str, typer.Argument(help="a channel's name in [notify.channels]")],
    to: Annotated[str | None, typer.Option(help="the address, for an e-mail channel")] = None,
) -> None:
    """Send a test message on one channel now (not through the outbox)."""
    notify = Settings().notify
    chosen = notify.channels.get(channel)
    if chosen is None:
        raise fail(f"no channel {channel!r} in [notify.channels]")
    if isinstance(chosen, EmailChannel) and not (to or chosen.to):
        raise fail("give --to ADDRESS for an e-mail channel without fixed addresses")
    t = alert_texts()(chosen.language)
    message = Message(
        event="test",
        title=t("alerts.test_title"),
        lines=(Line(t("alerts.test_line", channel=channel), notify.link("/")),),
        language=chosen.language,
        link_label=t("alerts.open"),
    )

    async def go() -> None:
        async with new_http_session() as http:
            await send(
                http,
                chosen,
                message,
                to or (chosen.to[0] if isinstance(chosen, EmailChannel) else ""),
            )

    try:
        aio.run(go())
    except (SendError, ConfigError) as exc:
        err.print(f"not sent: {exc.kind}: {exc.message}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    console.print(f"sent a test message on {channel}", highlight=False)


def _inventory(settings: Settings) -> Inventory | None:
    try:
        return load_inventory(settings.inventory) if settings.inventory.is_file() else None
    except InventoryError as exc:
        raise fail(str(exc)) from None


@notify_app.command("send")
def notify_send() -> None:
    """Decide what is due and send it (and what waits for a retry) once."""
    settings = Settings()
    sessions = sessions_or_exit(settings)
    service = AlertService(settings, sessions, alert_texts(), inventory=_inventory(settings))
    queued = service.sweep()
    drained = aio.run(service.drain(settings.notify.send_budget_s or None))
    console.print(
        f"alerts: {queued} queued; {drained.sent} sent, {drained.retrying} to retry, "
        f"{drained.failed} failed",
        highlight=False,
    )
    for line in drained.errors:
        err.print(f"  {line}", markup=False, highlight=False)


@notify_app.command("status")
def notify_status(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="how many, newest first")] = 30,
) -> None:
    """The latest alerts: when, what, where, and whether they went out (and why not)."""
    sessions = sessions_or_exit(Settings())
    with sessions() as session:
        rows = session.scalars(
            select(AlertOutboxRow).order_by(AlertOutboxRow.id.desc()).limit(limit)
        ).all()
    table = Table(title=f"{len(rows)} latest alerts", title_justify="left")
    for column in ("#", "created", "event", "channel", "to", "state", "tries", "why"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            str(row.id),
            f"{row.created_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC",
            row.event,
            f"{row.channel} ({row.channel_kind})",
            row.recipient or "(group)",
            row.state,
            str(row.attempts),
            row.last_error or "",
        )
    console.print(table)
