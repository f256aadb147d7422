"""Send one message on one configured channel: resolve the channel's secrets, render for
its kind, deliver.  Raises ``SendError`` (``ConfigError`` for a secret that does not
resolve, which no retry fixes)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp

from vidaudit.notify import robots
from vidaudit.notify.config import (
    Channel,
    DingTalkChannel,
    EmailChannel,
    WebhookChannel,
    WeComChannel,
)
from vidaudit.notify.mail import send_mail
from vidaudit.notify.message import Message
from vidaudit.notify.secrets import maybe, resolve


async def send(
    http: aiohttp.ClientSession,
    channel: Channel,
    message: Message,
    recipient: str = "",
    environ: Mapping[str, str] | None = None,
) -> None:
    """``recipient``: the address for an e-mail channel; unused by group channels."""
    if isinstance(channel, WeComChannel):
        await robots.send_wecom(http, resolve(channel.webhook, environ), message, channel.timeout_s)
    elif isinstance(channel, DingTalkChannel):
        await robots.send_dingtalk(
            http,
            resolve(channel.webhook, environ),
            maybe(channel.secret, environ),
            message,
            channel.timeout_s,
        )
    elif isinstance(channel, WebhookChannel):
        url = channel.url if channel.url.startswith("http") else resolve(channel.url, environ)
        await robots.send_webhook(
            http, url, maybe(channel.token, environ), message, channel.timeout_s
        )
    elif isinstance(channel, EmailChannel):
        await asyncio.to_thread(
            send_mail,
            message,
            host=channel.host,
            port=channel.port,
            security=channel.security,
            username=channel.username,
            password=maybe(channel.password, environ),
            sender=channel.sender,
            recipient=recipient,
            timeout_s=channel.timeout_s,
            ca_file=channel.tls_ca_file,
        )
    else:  # pragma: no cover - the settings' discriminated union admits nothing else
        raise TypeError(f"unknown channel {channel!r}")


def new_http_session() -> aiohttp.ClientSession:
    # trust_env: a bank's outbound proxy (HTTPS_PROXY) is honoured, as curl would
    return aiohttp.ClientSession(trust_env=True)
