"""RTSP ``Range`` (ONVIF ``clock=`` absolute times, ``npt=`` offsets) and ``RTP-Info``:
what a replay asks for and where the server says its answer starts (RFC 2326 12.29 and
12.33; ONVIF Streaming Specification 6.4 for clock ranges)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from vidaudit.media.rtsp_client import RtspResponse

CLOCK_RANGE = re.compile(r"clock\s*=\s*(\d{8}T\d{6}(?:\.\d+)?)Z", re.IGNORECASE)
NPT_RANGE = re.compile(r"npt\s*=\s*([0-9:.]+)\s*-", re.IGNORECASE)


def format_clock(instant: datetime) -> str:
    """``instant`` as an RTSP absolute time: ``20261120T020000.000Z`` (UTC, milliseconds)."""
    utc = instant.astimezone(UTC)
    return utc.strftime("%Y%m%dT%H%M%S") + f".{utc.microsecond // 1000:03d}Z"


def parse_clock(text: str) -> datetime:
    whole, _, fraction = text.partition(".")
    base = datetime.strptime(whole, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    micros = round(float(f"0.{fraction}") * 1_000_000) if fraction else 0
    return base + timedelta(microseconds=micros)


def parse_npt(text: str) -> timedelta:
    seconds = 0.0
    for part in text.split(":"):
        seconds = seconds * 60 + float(part)
    return timedelta(seconds=seconds)


def format_npt(offset: timedelta) -> str:
    return f"{offset.total_seconds():.3f}"


@dataclass(frozen=True, slots=True)
class RtpInfo:
    seq: int | None
    rtptime: int | None


def rtp_info(response: RtspResponse, control_url: str) -> RtpInfo:
    header = response.header("rtp-info")
    if not header:
        return RtpInfo(None, None)
    entries = [entry.strip() for entry in header.split(",") if entry.strip()]
    chosen = next((e for e in entries if control_url in e), entries[0] if entries else "")
    values: dict[str, str] = {}
    for item in chosen.split(";"):
        name, _, value = item.strip().partition("=")
        values[name.strip().lower()] = value.strip()
    seq, rtptime = values.get("seq", ""), values.get("rtptime", "")
    return RtpInfo(
        int(seq) & 0xFFFF if seq.isdigit() else None,
        int(rtptime) & 0xFFFFFFFF if rtptime.isdigit() else None,
    )
