"""A small RTSP/1.0 client for ONVIF replay: requests, auth, interleaved RTP, SDP.

Why not aiortsp (1.4.0, the maintained asyncio RTSP client on PyPI; read in full before
writing this):

* Its RTP packets are dpkt ``RTP`` objects, which neither strip padding nor parse the header
  extension: the 0xABAC NTP timestamp and C/E/D/T bits would have to be re-parsed from
  ``data`` anyway, i.e. its RTP layer does nothing we can use.
* ``RTSPMediaSession.play()`` builds its own headers: no ``Require: onvif-replay``, no
  ``Rate-Control``, no range end. Only the lower ``RTSPConnection.send_request`` could send
  them, bypassing the session it is meant to be used with.
* It has no flow control: an ``asyncio.Protocol`` whose ``data_received`` hands every packet
  to an unbounded ``asyncio.Queue`` (``RTSPReader``). With ``Rate-Control: no`` the server
  sends as fast as TCP allows, so memory grows with the replayed window whenever decoding is
  slower than the network. Reading through ``asyncio.StreamReader`` instead stops reading
  when its small buffer is full, and TCP's window throttles the server.
* Malformed input is swallowed by ``except Exception`` + ``traceback.print_exc()`` and becomes
  a generic connection error; transport checks are ``assert`` statements (gone under
  ``python -O``); it is untyped (no ``py.typed``), so ``mypy --strict`` sees ``Any``.

What is here is the part of RTSP a replay client needs: DESCRIBE/SETUP/PLAY/PAUSE/
GET_PARAMETER/TEARDOWN with CSeq and Session, Basic and Digest auth (RFC 2617, as RTSP
servers implement it), ``$``-interleaved binary data, and the SDP of one video track. Every
read is bounded in size and in time.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urljoin, urlsplit, urlunsplit

from pydantic import SecretStr

from vidaudit.media.depacketize import VideoCodec
from vidaudit.media.errors import MediaError, MediaErrorKind
from vidaudit.media.vendor_urls import redact

USER_AGENT = "vidaudit"
_MAX_LINE = 8192
_MAX_HEADERS = 100
_MAX_BODY = 1024 * 1024
#: The StreamReader buffer: reading stops (and TCP throttles the server) beyond 2 × this.
_STREAM_LIMIT = 256 * 1024
_METHOD_LINE = re.compile(rb"^[A-Z_]+ \S+ RTSP/1\.0$")


@dataclass(frozen=True, slots=True)
class RtspResponse:
    status: int
    reason: str
    #: Header names lower-cased; a repeated header keeps every value.
    headers: Mapping[str, tuple[str, ...]]
    body: bytes
    cseq: int | None

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None


@dataclass(frozen=True, slots=True)
class Interleaved:
    """A ``$``-framed binary packet on the RTSP connection (RTP or RTCP)."""

    channel: int
    data: bytes


@dataclass(frozen=True, slots=True)
class VideoTrack:
    """The video media of an SDP description."""

    control_url: str
    payload_type: int
    codec: VideoCodec
    clock_rate: int
    #: SPS/PPS (and VPS for H.265) from the fmtp line, as NAL units without start codes.
    parameter_sets: tuple[bytes, ...]


class RtspStatusError(MediaError):
    """A non-2xx RTSP answer, sorted into a ``MediaError`` kind; ``status`` keeps the code."""

    def __init__(self, kind: MediaErrorKind, message: str, status: int) -> None:
        super().__init__(kind, message)
        self.status = status


def status_error(response: RtspResponse, method: str, what: str) -> RtspStatusError:
    """The error for a non-2xx answer to ``method``."""
    status, reason = response.status, response.reason
    detail = f"{what}: {method} answered {status} {reason}".rstrip()
    kind: MediaErrorKind
    if status in (401, 403):
        kind, detail = "auth", f"{detail} (check the user name and password)"
    elif status in (404, 454):
        kind = "not_found"
    elif status == 551:
        kind, detail = "unsupported", f"{detail} (the server lacks a required option)"
    elif status >= 500:
        # An NVR answers 503 when all its playback sessions are taken (errors.py).
        kind = "unreachable"
    else:
        kind = "unsupported"
    return RtspStatusError(kind, detail, status)


def split_credentials(uri: str) -> str:
    """``uri`` without user info (credentials are passed separately, never in the URI)."""
    parts = urlsplit(uri)
    if parts.scheme.lower() not in ("rtsp", "rtsps"):
        raise ValueError(f"not an RTSP URI: {redact(uri)}")
    if parts.scheme.lower() == "rtsps":
        raise MediaError("unsupported", f"{redact(uri)}: RTSP over TLS is not supported")
    hostport = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=hostport))


@dataclass
class _Challenge:
    scheme: Literal["basic", "digest"]
    params: dict[str, str] = field(default_factory=dict)
    nonce_count: int = 0


_AUTH_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def _parse_challenges(values: tuple[str, ...]) -> list[_Challenge]:
    found: list[_Challenge] = []
    for value in values:
        scheme, _, rest = value.strip().partition(" ")
        params = {
            m[1].lower(): m[2] if m[2] or not m[3] else m[3] for m in _AUTH_PARAM.finditer(rest)
        }
        if scheme.lower() == "digest" and "nonce" in params:
            found.append(_Challenge("digest", params))
        elif scheme.lower() == "basic":
            found.append(_Challenge("basic", params))
    return found


def _authorization(
    challenge: _Challenge, method: str, uri: str, username: str, password: SecretStr
) -> str:
    secret = password.get_secret_value()
    if challenge.scheme == "basic":
        token = base64.b64encode(f"{username}:{secret}".encode()).decode("ascii")
        return f"Basic {token}"
    params = challenge.params
    algorithm = params.get("algorithm", "MD5")
    if algorithm.upper() not in ("MD5", "MD5-SESS"):
        raise MediaError("auth", f"unsupported digest algorithm {algorithm}")

    def md5(text: str) -> str:
        # Digest auth is MD5 by definition (RFC 2617); it protects nothing we store.
        return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

    realm, nonce = params.get("realm", ""), params["nonce"]
    ha1 = md5(f"{username}:{realm}:{secret}")
    cnonce = os.urandom(8).hex()
    if algorithm.upper() == "MD5-SESS":
        ha1 = md5(f"{ha1}:{nonce}:{cnonce}")
    ha2 = md5(f"{method}:{uri}")
    fields = [
        f'username="{username}"',
        f'realm="{realm}"',
        f'nonce="{nonce}"',
        f'uri="{uri}"',
    ]
    qops = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
    if "auth" in qops:
        challenge.nonce_count += 1
        nc = f"{challenge.nonce_count:08x}"
        response = md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        fields += ["qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
    else:
        response = md5(f"{ha1}:{nonce}:{ha2}")
    fields.append(f'response="{response}"')
    if "opaque" in params:
        fields.append(f'opaque="{params["opaque"]}"')
    if "algorithm" in params:
        fields.append(f"algorithm={algorithm}")
    return "Digest " + ", ".join(fields)


class RtspConnection:
    """One RTSP control connection. Use ``open``; always ``close`` (it never raises)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        username: str,
        password: SecretStr,
        timeout_s: float,
        what: str,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._username = username
        self._password = password
        self.timeout_s = timeout_s
        self.what = what
        self._cseq = 0
        self._challenge: _Challenge | None = None
        self.session: str | None = None
        #: Seconds the server keeps an idle session (``Session: id;timeout=N``), default 60.
        self.session_timeout_s = 60.0
        #: Extra headers sent with every request (``Require: onvif-replay`` in replay mode).
        self.common_headers: dict[str, str] = {}

    @classmethod
    async def open(
        cls, uri: str, username: str, password: SecretStr, *, timeout_s: float, what: str
    ) -> RtspConnection:
        parts = urlsplit(uri)
        host, port = parts.hostname, parts.port or 554
        if not host:
            raise ValueError(f"no host in {redact(uri)}")
        try:
            async with asyncio.timeout(timeout_s):
                reader, writer = await asyncio.open_connection(host, port, limit=_STREAM_LIMIT)
        except TimeoutError:
            raise MediaError("timeout", f"{what}: no connection within {timeout_s:g} s") from None
        except OSError as exc:
            raise MediaError("unreachable", f"{what}: {exc.strerror or exc}") from exc
        return cls(
            reader, writer, username=username, password=password, timeout_s=timeout_s, what=what
        )

    def local_address(self) -> str:
        """The local IP of the control connection (where the server can reach us over UDP)."""
        sockname = self._writer.get_extra_info("sockname")
        return str(sockname[0]) if sockname else "0.0.0.0"  # noqa: S104

    @property
    def last_cseq(self) -> int:
        return self._cseq

    def send(self, method: str, url: str, headers: Mapping[str, str] | None = None) -> int:
        """Write a request without waiting for its answer; returns its CSeq."""
        self._cseq += 1
        lines = [f"{method} {url} RTSP/1.0", f"CSeq: {self._cseq}", f"User-Agent: {USER_AGENT}"]
        merged = {**self.common_headers, **(headers or {})}
        if self.session is not None:
            merged.setdefault("Session", self.session)
        if self._challenge is not None:
            merged["Authorization"] = _authorization(
                self._challenge, method, url, self._username, self._password
            )
        lines += [f"{name}: {value}" for name, value in merged.items()]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        return self._cseq

    async def request(
        self, method: str, url: str, headers: Mapping[str, str] | None = None
    ) -> RtspResponse:
        """Send ``method`` and return its 2xx answer; retries once after a 401 challenge.

        Interleaved data and answers to other requests that arrive first are dropped: they
        belong to what this request changes (e.g. RTP of the PLAY a PAUSE stops).
        """
        response = await self._exchange(method, url, headers)
        if response.status == 401:
            challenges = _parse_challenges(response.headers.get("www-authenticate", ()))
            stale = bool(
                self._challenge
                and self._challenge.scheme == "digest"
                and any(c.params.get("stale", "").lower() == "true" for c in challenges)
            )
            if challenges and (self._challenge is None or stale):
                # Prefer Digest: Basic sends the password in the clear.
                challenges.sort(key=lambda c: c.scheme != "digest")
                self._challenge = challenges[0]
                response = await self._exchange(method, url, headers)
        if not 200 <= response.status < 300:
            raise status_error(response, method, self.what)
        session = response.header("session")
        if session:
            sid, *options = (part.strip() for part in session.split(";"))
            self.session = sid
            for option in options:
                name, _, value = option.partition("=")
                if name.strip().lower() == "timeout":
                    # A broken timeout leaves the RFC's default of 60 s.
                    with contextlib.suppress(ValueError):
                        self.session_timeout_s = max(5.0, float(value))
        return response

    async def _exchange(
        self, method: str, url: str, headers: Mapping[str, str] | None
    ) -> RtspResponse:
        cseq = self.send(method, url, headers)
        await self.drain()
        while True:
            item = await self.read_item()
            if isinstance(item, RtspResponse) and item.cseq == cseq:
                return item

    async def drain(self) -> None:
        try:
            async with asyncio.timeout(self.timeout_s):
                await self._writer.drain()
        except TimeoutError:
            raise MediaError("timeout", f"{self.what}: the server stopped reading") from None
        except OSError as exc:
            raise MediaError("unreachable", f"{self.what}: {exc.strerror or exc}") from exc

    async def read_item(self) -> RtspResponse | Interleaved:
        """The next response or interleaved packet; server requests are read and skipped."""
        try:
            async with asyncio.timeout(self.timeout_s):
                while True:
                    item = await self._read_one()
                    if item is not None:
                        return item
        except TimeoutError:
            raise MediaError(
                "timeout", f"{self.what}: nothing received within {self.timeout_s:g} s"
            ) from None
        except asyncio.IncompleteReadError:
            raise MediaError(
                "unreachable", f"{self.what}: the server closed the connection"
            ) from None
        except asyncio.LimitOverrunError:
            raise MediaError("malformed", f"{self.what}: an RTSP line is too long") from None
        except OSError as exc:
            raise MediaError("unreachable", f"{self.what}: {exc.strerror or exc}") from exc

    async def _read_one(self) -> RtspResponse | Interleaved | None:
        first = await self._reader.readexactly(1)
        if first == b"$":
            channel, length = struct.unpack("!BH", await self._reader.readexactly(3))
            return Interleaved(channel, await self._reader.readexactly(length))
        if first in b"\r\n":
            return None  # blank lines between messages are allowed
        line = first + await self._reader.readuntil(b"\r\n")
        line = line[:-2]
        if len(line) > _MAX_LINE:
            raise MediaError("malformed", f"{self.what}: an RTSP line is too long")
        headers, body = await self._read_headers_and_body()
        if line.startswith(b"RTSP/1."):
            parts = line.split(b" ", 2)
            if len(parts) < 2 or not parts[1].isdigit() or len(parts[1]) != 3:
                raise MediaError("malformed", f"{self.what}: bad status line {line[:80]!r}")
            cseq_text = headers.get("cseq", ("",))[0]
            return RtspResponse(
                status=int(parts[1]),
                reason=parts[2].decode("latin-1") if len(parts) > 2 else "",
                headers=headers,
                body=body,
                cseq=int(cseq_text) if cseq_text.isdigit() else None,
            )
        if _METHOD_LINE.match(line):
            # A request from the server (ANNOUNCE, SET_PARAMETER…): nothing we act on.
            return None
        raise MediaError("malformed", f"{self.what}: not RTSP: {line[:40]!r}")

    async def _read_headers_and_body(self) -> tuple[dict[str, tuple[str, ...]], bytes]:
        headers: dict[str, tuple[str, ...]] = {}
        for _ in range(_MAX_HEADERS + 1):
            raw = (await self._reader.readuntil(b"\r\n"))[:-2]
            if not raw:
                break
            if len(raw) > _MAX_LINE:
                raise MediaError("malformed", f"{self.what}: an RTSP header is too long")
            name, sep, value = raw.decode("latin-1").partition(":")
            if not sep:
                raise MediaError("malformed", f"{self.what}: bad RTSP header {raw[:40]!r}")
            key = name.strip().lower()
            headers[key] = (*headers.get(key, ()), value.strip())
        else:
            raise MediaError("malformed", f"{self.what}: too many RTSP headers")
        length_text = headers.get("content-length", ("0",))[0]
        if not length_text.isdigit() or int(length_text) > _MAX_BODY:
            raise MediaError("malformed", f"{self.what}: bad Content-Length {length_text!r}")
        length = int(length_text)
        body = await self._reader.readexactly(length) if length else b""
        return headers, body

    async def close(self) -> None:
        self._writer.close()
        try:
            async with asyncio.timeout(1.0):
                await self._writer.wait_closed()
        except (TimeoutError, OSError):
            pass  # closing is best effort; the socket is gone either way


def _fmtp(lines: list[str], payload_type: int) -> dict[str, str]:
    params: dict[str, str] = {}
    prefix = f"a=fmtp:{payload_type} "
    for line in lines:
        if line.startswith(prefix):
            for item in line[len(prefix) :].split(";"):
                name, _, value = item.strip().partition("=")
                if name:
                    params[name.strip().lower()] = value.strip()
    return params


def _b64_list(value: str) -> list[bytes]:
    out: list[bytes] = []
    for item in value.split(","):
        item = item.strip()
        if item:
            out.append(base64.b64decode(item + "=" * (-len(item) % 4)))
    return out


def parse_sdp(text: str, base_url: str, what: str) -> VideoTrack:
    """The first H.264 or H.265 video media in an SDP description."""
    session_lines: list[str] = []
    medias: list[list[str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            medias.append([line])
        elif medias:
            medias[-1].append(line)
        else:
            session_lines.append(line)
    session_control = next(
        (line[len("a=control:") :] for line in session_lines if line.startswith("a=control:")),
        None,
    )
    if session_control and session_control != "*":
        base_url = _join_control(base_url, session_control)
    for media in medias:
        fields = media[0][2:].split()
        if len(fields) < 4 or fields[0] != "video":
            continue
        for pt_text in fields[3:]:
            if not pt_text.isdigit():
                continue
            payload_type = int(pt_text)
            rtpmap = next((x for x in media if x.startswith(f"a=rtpmap:{payload_type} ")), None)
            if rtpmap is None:
                continue
            encoding = rtpmap.split(" ", 1)[1].split("/")
            name = encoding[0].upper()
            clock_rate = int(encoding[1]) if len(encoding) > 1 and encoding[1].isdigit() else 0
            if name not in ("H264", "H265") or clock_rate <= 0:
                continue
            fmtp = _fmtp(media, payload_type)
            try:
                if name == "H264":
                    codec: VideoCodec = "h264"
                    if fmtp.get("packetization-mode", "0") not in ("0", "1"):
                        raise MediaError("unsupported", f"{what}: H.264 interleaved mode")
                    sets = _b64_list(fmtp.get("sprop-parameter-sets", ""))
                else:
                    codec = "hevc"
                    if fmtp.get("sprop-max-don-diff", "0") not in ("", "0"):
                        raise MediaError("unsupported", f"{what}: H.265 with DONL fields")
                    sets = [
                        ps
                        for key in ("sprop-vps", "sprop-sps", "sprop-pps")
                        for ps in _b64_list(fmtp.get(key, ""))
                    ]
            except ValueError as exc:  # binascii.Error is a ValueError
                raise MediaError("malformed", f"{what}: bad parameter sets in SDP") from exc
            control = next(
                (x[len("a=control:") :] for x in media if x.startswith("a=control:")), "*"
            )
            control_url = base_url if control == "*" else _join_control(base_url, control)
            return VideoTrack(control_url, payload_type, codec, clock_rate, tuple(sets))
    raise MediaError("unsupported", f"{what}: the SDP has no H.264 or H.265 video")


def _join_control(base_url: str, control: str) -> str:
    """A control attribute resolved against the base URL."""
    if urlsplit(control).scheme:
        return control
    if urlsplit(base_url).query:
        # A playback URL's time range is in its query (Hikvision starttime=…, Dahua …);
        # RFC 3986 joining would drop it. Devices expect what FFmpeg sends: the control
        # appended after the query.
        return base_url.rstrip("/") + "/" + control
    return urljoin(base_url if base_url.endswith("/") else base_url + "/", control)


def content_base(response: RtspResponse, request_url: str) -> str:
    """The base URL relative controls resolve against (RFC 2326 C.1.1)."""
    return response.header("content-base") or response.header("content-location") or request_url
