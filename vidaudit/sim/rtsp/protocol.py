"""RTSP 1.0 wire format (RFC 2326) as the replay server needs it: requests, responses,
Range (``clock=`` and ``npt=``), Transport, the replay URL forms, and RTSP Digest auth.

URL forms served (any vendor's device answers all of them):

- ONVIF: ``/onvif/replay/<RecordingToken>`` (what GetReplayUri returns for generic devices);
- Axis: ``/onvif-media/record/play.amp?onvifreplayid=<RecordingToken>&...``;
- Hikvision: ``/Streaming/tracks/<N>01?starttime=YYYYMMDDTHHMMSSZ&endtime=...`` (UTC);
- Dahua: ``/cam/playback?channel=<N>&subtype=0&starttime=YYYY_MM_DD_HH_MM_SS&endtime=...``
  (device local wall time, the device's POSIX TZ offset).

Times in the Hikvision/Dahua URLs and in ``Range: clock=`` are on the device's own clock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

MAX_HEAD_BYTES = 16_384
MAX_BODY_BYTES = 65_536
#: Nonces older than this get a fresh challenge (``stale=true``).
NONCE_LIFETIME_S = 3600

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    454: "Session Not Found",
    455: "Method Not Valid in This State",
    457: "Invalid Range",
    459: "Aggregate Operation Not Allowed",
    461: "Unsupported Transport",
    501: "Not Implemented",
    505: "RTSP Version Not Supported",
    551: "Option not supported",
}


class RtspError(Exception):
    """A request refused with an RTSP status (and optional extra headers)."""

    def __init__(self, status: int, reason: str = "", headers: tuple[tuple[str, str], ...] = ()):
        super().__init__(reason or REASONS.get(status, ""))
        self.status = status
        self.headers = headers


@dataclass
class RtspRequest:
    method: str
    uri: str
    version: str
    headers: dict[str, str]
    body: bytes = b""

    @property
    def cseq(self) -> str:
        return self.headers.get("cseq", "0")


class ProtocolError(Exception):
    """The byte stream is not RTSP: the connection is dropped."""


async def read_request(reader: asyncio.StreamReader, idle_s: float) -> RtspRequest | None:
    """Next request on the connection, or None at EOF.

    Interleaved ``$``-framed data a client sends (RTCP receiver reports) is skipped.
    Raises TimeoutError when no whole request arrives within ``idle_s`` seconds.
    """
    async with asyncio.timeout(idle_s):
        while True:
            first = await reader.read(1)
            if not first:
                return None
            if first == b"$":
                frame_head = await reader.readexactly(3)
                await reader.readexactly(int.from_bytes(frame_head[1:], "big"))
                continue
            if first in b"\r\n":
                continue  # stray line ends between messages are tolerated
            try:
                head = first + await reader.readuntil(b"\r\n\r\n")
            except asyncio.LimitOverrunError:
                raise ProtocolError("request head too long") from None
            if len(head) > MAX_HEAD_BYTES:
                raise ProtocolError("request head too long")
            request = parse_head(head)
            length = int(request.headers.get("content-length", "0") or "0")
            if not 0 <= length <= MAX_BODY_BYTES:
                raise ProtocolError("bad Content-Length")
            if length:
                request.body = await reader.readexactly(length)
            return request


def parse_head(head: bytes) -> RtspRequest:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("request head is not UTF-8") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("RTSP/"):
        raise ProtocolError(f"not an RTSP request line: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ProtocolError(f"bad header line {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    return RtspRequest(parts[0].upper(), parts[1], parts[2], headers)


def response_bytes(
    status: int,
    cseq: str,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> bytes:
    lines = [f"RTSP/1.0 {status} {REASONS.get(status, 'Error')}", f"CSeq: {cseq}"]
    lines.append("Server: vidaudit-sim replay")
    lines.append(f"Date: {dt.datetime.now(dt.UTC):%a, %d %b %Y %H:%M:%S GMT}")
    lines.extend(f"{k}: {v}" for k, v in headers)
    if body:
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# ------------------------------------------------------------------------------ Range


@dataclass(frozen=True)
class PlayRange:
    """A Range header: absolute device-clock instants (``clock``) or seconds relative to the
    stream's origin (``npt``); ``start`` None means "from where it is" (resume)."""

    kind: str
    start: float | None
    end: float | None


_CLOCK_TIME = re.compile(r"^(\d{8})T(\d{6})(?:\.(\d{1,9}))?Z$", re.IGNORECASE)


def parse_clock(value: str) -> int:
    """``20261120T020000.440Z`` -> ms since the epoch."""
    match = _CLOCK_TIME.match(value.strip())
    if not match:
        raise RtspError(457, f"bad clock time {value!r}")
    date, clock, fraction = match.groups()
    try:
        when = dt.datetime.strptime(date + clock, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
    except ValueError:
        raise RtspError(457, f"bad clock time {value!r}") from None
    ms = int(when.timestamp()) * 1000
    if fraction:
        ms += int((fraction + "00")[:3])
    return ms


def format_clock(ms: int) -> str:
    when = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return f"{when:%Y%m%dT%H%M%S}.{ms % 1000:03d}Z"


def parse_range(value: str) -> PlayRange:
    kind, sep, spec = value.strip().partition("=")
    kind = kind.strip().lower()
    spec = spec.split(";")[0].strip()  # drop ";time=..." (when to start, ignored)
    if not sep or "-" not in spec:
        raise RtspError(457, f"unsupported Range {value!r}")
    if kind == "clock":
        start, _, end = spec.partition("-")
        return PlayRange(
            "clock",
            parse_clock(start) if start else None,
            parse_clock(end) if end else None,
        )
    if kind == "npt":
        start, _, end = spec.partition("-")

        def seconds(text: str) -> float | None:
            text = text.strip()
            if not text or text == "now":
                return None
            try:
                if ":" in text:
                    h, m, s = text.split(":")
                    return int(h) * 3600 + int(m) * 60 + float(s)
                return float(text)
            except ValueError:
                raise RtspError(457, f"bad npt time {text!r}") from None

        return PlayRange("npt", seconds(start), seconds(end))
    raise RtspError(457, f"unsupported Range unit {kind!r}")


# ------------------------------------------------------------------------------ Transport


@dataclass(frozen=True)
class Transport:
    tcp: bool
    interleaved: tuple[int, int] | None = None
    client_port: tuple[int, int] | None = None


def parse_transport(value: str) -> Transport:
    """First acceptable transport spec: RTP/AVP/TCP interleaved, or RTP/AVP[/UDP] unicast."""
    for spec in value.split(","):
        fields = [f.strip() for f in spec.split(";")]
        proto = fields[0].upper()
        params = dict(f.partition("=")[::2] for f in fields[1:])
        if "multicast" in params:
            continue
        if proto == "RTP/AVP/TCP":
            channels = _pair(params.get("interleaved", "0-1"))
            return Transport(True, interleaved=channels)
        if proto in ("RTP/AVP", "RTP/AVP/UDP") and "client_port" in params:
            return Transport(False, client_port=_pair(params["client_port"]))
    raise RtspError(461, f"no supported transport in {value!r}")


def _pair(text: str) -> tuple[int, int]:
    first, _, second = text.partition("-")
    try:
        a = int(first)
        b = int(second) if second else a + 1
    except ValueError:
        raise RtspError(461, f"bad port/channel pair {text!r}") from None
    if not (0 <= a <= 65535 and 0 <= b <= 65535):
        raise RtspError(461, f"bad port/channel pair {text!r}")
    return a, b


# ------------------------------------------------------------------------------ URLs


@dataclass(frozen=True)
class Target:
    """What a URL asks for: a recording (by token or channel number) and the URL's times.

    ``start_ms``/``end_ms`` are device-clock UTC; ``local`` says the URL's times were
    device local wall time (Dahua) and have still to be shifted by the device's offset.
    """

    form: str
    recording: str | None = None
    number: int | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    local: bool = False
    live: bool = False
    path: str = field(default="", compare=False)


_TRACK_SUFFIX = re.compile(r"/trackID=\d+/?|/track\d+/?")


def _vendor_time(text: str, fmt: str) -> int:
    # FFmpeg sends PLAY for the aggregate URL with a "/" appended, which lands at the end
    # of the query: "...&endtime=20261122T062319Z/". Devices take it; so do we.
    try:
        when = dt.datetime.strptime(text.strip().rstrip("/"), fmt).replace(tzinfo=dt.UTC)
    except ValueError:
        raise RtspError(400, f"bad time {text!r} in URL") from None
    return int(when.timestamp()) * 1000


def route(uri: str) -> Target:
    """Parse an RTSP URL (aggregate or per-track) into a ``Target``; 404 if not ours."""
    # Per-track control URLs (base + "/trackID=1") may land inside the query string.
    parts = urlsplit(_TRACK_SUFFIX.sub("", uri))
    path = parts.path.rstrip("/") or "/"
    query = {k.lower(): v[0] for k, v in parse_qs(parts.query).items()}
    if path.startswith("/onvif/replay/"):
        return Target("onvif", recording=unquote(path[len("/onvif/replay/") :]), path=path)
    if path == "/onvif-media/record/play.amp" and "onvifreplayid" in query:
        return Target("axis", recording=query["onvifreplayid"], path=path)
    hik = re.fullmatch(r"/Streaming/tracks/(\d+)", path, re.IGNORECASE)
    if hik:
        track = int(hik.group(1))
        start = query.get("starttime")
        end = query.get("endtime")
        return Target(
            "hikvision",
            number=track // 100,
            start_ms=_vendor_time(start.upper(), "%Y%m%dT%H%M%SZ") if start else None,
            end_ms=_vendor_time(end.upper(), "%Y%m%dT%H%M%SZ") if end else None,
            path=path,
        )
    if path == "/cam/playback":
        try:
            number = int(query.get("channel", "1"))
        except ValueError:
            raise RtspError(400, "bad channel") from None
        start = query.get("starttime")
        end = query.get("endtime")
        return Target(
            "dahua",
            number=number,
            start_ms=_vendor_time(start, "%Y_%m_%d_%H_%M_%S") if start else None,
            end_ms=_vendor_time(end, "%Y_%m_%d_%H_%M_%S") if end else None,
            local=True,
            path=path,
        )
    # Live stream URLs (GetStreamUri forms): known, but not a replay (and not simulated).
    if re.fullmatch(r"/Streaming/Channels/\d+", path, re.IGNORECASE) or path in (
        "/cam/realmonitor",
        "/onvif-media/media.amp",
    ):
        return Target("live", live=True, path=path)
    if path.startswith("/onvif/live/"):
        return Target("live", live=True, path=path)
    raise RtspError(404, f"no stream at {path}")


# ------------------------------------------------------------------------------ Digest


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - RTSP Digest is MD5


_DIGEST_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


class RtspDigest:
    """RTSP Digest (RFC 2617, MD5) as NVRs do it: challenge with realm + nonce (no qop, so
    RFC 2069-style clients work); answers with or without ``qop=auth`` are accepted.

    Nonces are stateless (issue time + HMAC), reusable for the session's requests like
    real devices allow, and go stale after ``NONCE_LIFETIME_S``.
    """

    def __init__(self, username: str, password: str, realm: str, secret: bytes) -> None:
        self.username = username
        self.password = password
        self.realm = realm
        self._secret = secret

    def _mac(self, stamp: str) -> str:
        return hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]

    def challenge(self, stale: bool = False) -> str:
        stamp = f"{int(time.time()):x}"
        value = f'Digest realm="{self.realm}", nonce="{stamp}{self._mac(stamp)}", algorithm=MD5'
        return value + (", stale=TRUE" if stale else "")

    def check(self, method: str, header: str | None) -> None:
        """Raise ``RtspError(401)`` with a fresh challenge unless ``header`` authenticates."""
        if not header:
            raise self._refuse("authentication required")
        scheme, _, rest = header.strip().partition(" ")
        if scheme.lower() != "digest":
            raise self._refuse("only Digest is accepted")
        params = {
            m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
            for m in _DIGEST_PARAM.finditer(rest)
        }
        nonce = params.get("nonce", "")
        stamp, mac = nonce[:-24], nonce[-24:]
        if not stamp or not hmac.compare_digest(mac, self._mac(stamp)):
            raise self._refuse("unknown nonce")
        try:
            issued = int(stamp, 16)
        except ValueError:
            raise self._refuse("unknown nonce") from None
        if abs(time.time() - issued) > NONCE_LIFETIME_S:
            raise self._refuse("stale nonce", stale=True)
        if params.get("algorithm", "MD5").upper() != "MD5" or params.get("realm") != self.realm:
            raise self._refuse("digest needs algorithm=MD5 and this realm")
        ha1 = _md5(f"{params.get('username', '')}:{self.realm}:{self.password}")
        ha2 = _md5(f"{method}:{params.get('uri', '')}")
        qop = params.get("qop")
        if qop == "auth":
            expected = _md5(
                f"{ha1}:{nonce}:{params.get('nc', '')}:{params.get('cnonce', '')}:auth:{ha2}"
            )
        elif qop is None:
            expected = _md5(f"{ha1}:{nonce}:{ha2}")
        else:
            raise self._refuse(f"unsupported qop {qop!r}")
        if params.get("username") != self.username or not hmac.compare_digest(
            params.get("response", ""), expected
        ):
            raise self._refuse("wrong user name or password")

    def _refuse(self, reason: str, stale: bool = False) -> RtspError:
        return RtspError(401, reason, (("WWW-Authenticate", self.challenge(stale)),))


__all__ = [
    "PlayRange",
    "ProtocolError",
    "RtspDigest",
    "RtspError",
    "RtspRequest",
    "Target",
    "Transport",
    "format_clock",
    "parse_clock",
    "parse_range",
    "parse_transport",
    "read_request",
    "response_bytes",
    "route",
]
