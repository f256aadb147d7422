"""WeCom (企业微信) and DingTalk (钉钉) group robots, and generic JSON webhooks.

Hand-written over aiohttp because each is one documented POST: the SDKs on PyPI are
synchronous (requests) or wrap the whole corporate API for the sake of this one call.

* WeCom 群机器人: POST ``{"msgtype": "markdown", "markdown": {"content": …}}`` to the
  robot's webhook URL; content at most 4096 bytes of UTF-8; 20 messages a minute per
  robot (errcode 45009 beyond that).
* DingTalk 自定义机器人 with 加签: ``timestamp`` (ms since the epoch) and
  ``sign = urlencode(base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")))``
  appended to the webhook URL; DingTalk refuses a timestamp more than an hour off.
  POST ``{"msgtype": "markdown", "markdown": {"title": …, "text": …}}``; 20 a minute
  (errcode 130101 beyond that), 310000 for a wrong signature, keyword or address.
* Generic webhook: POST the message as JSON (``event``, ``title``, ``language``,
  ``text``, ``items`` with each line's text, link and what it is about).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.parse
from typing import Any

import aiohttp

from vidaudit.notify.http import post_json, robot_reply
from vidaudit.notify.message import Message

WECOM_MARKDOWN_BYTES = 4096
#: DingTalk takes 20,000 bytes; a phone screen takes far fewer
DINGTALK_MARKDOWN_BYTES = 8000
WECOM_BUSY = frozenset({45009})
#: 93000: the webhook URL (its key) is not valid
WECOM_DENIED = frozenset({93000})
DINGTALK_BUSY = frozenset({130101})
#: 310000: signature, keyword or IP list refused; 300001: no such token; 400101: robot off
DINGTALK_DENIED = frozenset({310000, 300001, 400101})


async def send_wecom(
    session: aiohttp.ClientSession, webhook: str, message: Message, timeout_s: float
) -> None:
    payload = {
        "msgtype": "markdown",
        "markdown": {"content": message.markdown(WECOM_MARKDOWN_BYTES)},
    }
    reply = await post_json(session, webhook, payload, timeout_s=timeout_s, what="WeCom robot")
    robot_reply(reply, "WeCom robot", busy=WECOM_BUSY, denied=WECOM_DENIED)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's 加签: base64 of HMAC-SHA256 over ``"{timestamp}\\n{secret}"`` keyed by
    the secret (UTF-8), not yet URL-encoded."""
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_url(webhook: str, secret: str, timestamp_ms: int) -> str:
    query = urllib.parse.urlencode(
        {"timestamp": str(timestamp_ms), "sign": dingtalk_sign(secret, timestamp_ms)}
    )
    return webhook + ("&" if "?" in webhook else "?") + query


async def send_dingtalk(
    session: aiohttp.ClientSession,
    webhook: str,
    secret: str | None,
    message: Message,
    timeout_s: float,
) -> None:
    url = webhook if secret is None else signed_url(webhook, secret, int(time.time() * 1000))
    payload = {
        "msgtype": "markdown",
        "markdown": {"title": message.title, "text": message.markdown(DINGTALK_MARKDOWN_BYTES)},
    }
    reply = await post_json(session, url, payload, timeout_s=timeout_s, what="DingTalk robot")
    robot_reply(reply, "DingTalk robot", busy=DINGTALK_BUSY, denied=DINGTALK_DENIED)


def webhook_document(message: Message) -> dict[str, Any]:
    return {
        "event": message.event,
        "title": message.title,
        "language": message.language,
        "text": message.plain(),
        "items": [{"text": line.text, "link": line.link, **line.about} for line in message.lines],
    }


async def send_webhook(
    session: aiohttp.ClientSession,
    url: str,
    token: str | None,
    message: Message,
    timeout_s: float,
) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    await post_json(
        session,
        url,
        webhook_document(message),
        timeout_s=timeout_s,
        headers=headers,
        what="webhook",
    )
