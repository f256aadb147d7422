"""Vendor playback URLs: the recorded-video RTSP URLs that carry the time in the query.

* Hikvision: ``rtsp://host:554/Streaming/tracks/{channel}0{stream}?starttime=…Z&endtime=…Z``,
  times in UTC as ``YYYYMMDDTHHMMSSZ``; track ``101`` is channel 1 main stream, ``102`` its
  sub stream, ``1201`` channel 12 main stream.
* Dahua: ``rtsp://host:554/cam/playback?channel=N&subtype=0&starttime=YYYY_MM_DD_HH_MM_SS&…``,
  times in the DEVICE's local time, with no zone in the URL: the caller says which zone the
  device runs in (its ONVIF ``TimeZone``, or the branch's).

Credentials travel in the URL's userinfo, percent-encoded; ``redact`` removes them before a
URL is logged or stored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Literal
from urllib.parse import quote, urlsplit, urlunsplit

StreamKind = Literal["main", "sub"]

_HIK_STREAM_DIGIT: dict[StreamKind, int] = {"main": 1, "sub": 2}
_DAHUA_SUBTYPE: dict[StreamKind, int] = {"main": 0, "sub": 1}


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


def _check_range(start: datetime, end: datetime) -> None:
    _require_aware(start, "start")
    _require_aware(end, "end")
    if end <= start:
        raise ValueError(f"end {end.isoformat()} is not after start {start.isoformat()}")


def _netloc(host: str, port: int, username: str | None, password: str | None) -> str:
    if not host or any(c in host for c in "/@?#"):
        raise ValueError(f"not a host name: {host!r}")
    if not 0 < port < 65536:
        raise ValueError(f"port out of range: {port}")
    # An IPv6 literal needs brackets inside a URL.
    hostport = f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
    if username is None:
        if password is not None:
            raise ValueError("a password without a user name")
        return hostport
    # safe="" so that ':' '@' '/' in a password cannot break the URL apart.
    userinfo = quote(username, safe="")
    if password is not None:
        userinfo += ":" + quote(password, safe="")
    return f"{userinfo}@{hostport}"


def hikvision_playback_url(
    host: str,
    channel: int,
    start: datetime,
    end: datetime,
    *,
    stream: StreamKind = "main",
    port: int = 554,
    username: str | None = None,
    password: str | None = None,
) -> str:
    """Hikvision playback URL for ``channel`` (1-based) from ``start`` to ``end`` (aware)."""
    if channel < 1:
        raise ValueError(f"channel numbers start at 1, got {channel}")
    _check_range(start, end)
    track = f"{channel}0{_HIK_STREAM_DIGIT[stream]}"
    query = f"starttime={_hik_time(start)}&endtime={_hik_time(end)}"
    netloc = _netloc(host, port, username, password)
    return f"rtsp://{netloc}/Streaming/tracks/{track}?{query}"


def _hik_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def dahua_playback_url(
    host: str,
    channel: int,
    start: datetime,
    end: datetime,
    *,
    device_tz: tzinfo | timedelta,
    stream: StreamKind = "main",
    port: int = 554,
    username: str | None = None,
    password: str | None = None,
) -> str:
    """Dahua playback URL; ``start``/``end`` (aware) are written in ``device_tz``.

    ``device_tz`` is a ``tzinfo`` (e.g. ``ZoneInfo("Asia/Shanghai")``) or a fixed UTC offset.
    """
    if channel < 1:
        raise ValueError(f"channel numbers start at 1, got {channel}")
    _check_range(start, end)
    zone = timezone(device_tz) if isinstance(device_tz, timedelta) else device_tz
    query = (
        f"channel={channel}&subtype={_DAHUA_SUBTYPE[stream]}"
        f"&starttime={_dahua_time(start, zone)}&endtime={_dahua_time(end, zone)}"
    )
    netloc = _netloc(host, port, username, password)
    return f"rtsp://{netloc}/cam/playback?{query}"


def _dahua_time(value: datetime, zone: tzinfo) -> str:
    return value.astimezone(zone).strftime("%Y_%m_%d_%H_%M_%S")


def redact(url: str) -> str:
    """``url`` without its userinfo (user name and password), for logs and storage."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    hostport = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=hostport))
