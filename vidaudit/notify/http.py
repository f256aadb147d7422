"""POST one JSON document with aiohttp: bounded in time and in the reply read, redirects
not followed (a redirect would carry the URL's key elsewhere), failures sorted into
``SendError`` kinds with messages that never repeat the URL."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from vidaudit.notify.errors import SendError, garbled, not_allowed, refused, timed_out, unreachable

#: robot replies are a few dozen bytes; anything near this is not a robot's reply
MAX_REPLY_BYTES = 64 * 1024


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    payload: dict[str, Any],
    *,
    timeout_s: float,
    headers: dict[str, str] | None = None,
    what: str,
) -> Any:
    """The reply's JSON (None when the reply is not JSON); raises ``SendError``."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    try:
        async with session.post(
            url,
            data=body,
            headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            allow_redirects=False,
        ) as response:
            data = await response.content.read(MAX_REPLY_BYTES)
            status = response.status
    except TimeoutError:
        raise timed_out(f"{what}: no reply within {timeout_s:g} s") from None
    except aiohttp.ClientConnectorError as exc:
        # str(exc) names host and port only, but the OS error is all a person needs
        raise unreachable(
            f"{what}: cannot connect ({exc.os_error.strerror or 'refused'})"
        ) from None
    except (aiohttp.ClientError, asyncio.IncompleteReadError, OSError) as exc:
        raise unreachable(f"{what}: connection failed ({type(exc).__name__})") from None
    if status in (401, 403):
        raise not_allowed(f"{what}: HTTP {status}")
    if status == 429 or status >= 500:
        raise refused(f"{what}: HTTP {status}", retry=True)
    if status >= 300:
        raise refused(f"{what}: HTTP {status}")
    try:
        return json.loads(data) if data.strip() else None
    except ValueError:
        return None


def robot_reply(reply: Any, what: str, *, busy: frozenset[int], denied: frozenset[int]) -> None:
    """WeCom and DingTalk answer HTTP 200 with ``{"errcode": 0, "errmsg": "ok"}``; any
    other errcode is a refusal: ``busy`` ones (rate limits) pass with time, ``denied``
    ones (a wrong key or signature) need a person."""
    if not isinstance(reply, dict) or not isinstance(reply.get("errcode"), int):
        raise garbled(f"{what}: the reply is not a robot's answer")
    code: int = reply["errcode"]
    if code == 0:
        return
    text = str(reply.get("errmsg", ""))[:200]
    if code in busy:
        raise refused(f"{what}: errcode {code} {text} (rate limited)", retry=True)
    if code in denied:
        raise not_allowed(f"{what}: errcode {code} {text}")
    raise refused(f"{what}: errcode {code} {text}")


__all__ = ["SendError", "post_json", "robot_reply"]
